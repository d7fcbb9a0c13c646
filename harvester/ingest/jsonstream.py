"""One JSON input of many studies, handed out study by study.

An API list page (``{"studies": [...]}``), a JSON array export and a JSON Lines file can hold
hundreds of thousands of studies in one file (up to the 128 MiB input limit).  Parsing such a
file as one payload builds every record of it at once (862 MB for a page of 100k studies).
:func:`pieces` cuts the file into its studies' own bytes instead — msgspec finds the
boundaries at C speed and keeps views, not copies — so an import parses and stores them in
batches like separate files, and its memory does not grow with the number of studies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec

_BOM = b"\xef\xbb\xbf"


class _Container(msgspec.Struct):
    studies: list[msgspec.Raw] | msgspec.UnsetType = msgspec.UNSET


_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
_CONTAINER = msgspec.json.Decoder(_Container)
_ONE = msgspec.json.Decoder(msgspec.Raw)


@dataclass(frozen=True)
class Piece:
    """One study cut out of a larger input: ``name`` is the input, ``locator`` where in it
    (``studies[3]``, ``[3]``, ``line 4``), ``data`` the study's own bytes."""

    name: str
    locator: str
    data: bytes
    sha256: str


def split(data: bytes) -> tuple[str, list[msgspec.Raw] | list[bytes]] | None:
    """(locator pattern, the studies) of a file of many studies, or None for anything else
    (one study, one record, broken JSON: those are parsed whole, as before)."""
    body = data.removeprefix(_BOM)
    head = body.lstrip()[:1]
    try:
        if head == b"[":
            return "[{}]", _ARRAY.decode(body)
        if head == b"{":
            page = _CONTAINER.decode(body)
            if isinstance(page.studies, list):
                return "studies[{}]", page.studies
            return None
    except (msgspec.DecodeError, msgspec.ValidationError):
        if head == b"{":  # perhaps JSON Lines: one object a line
            lines = body.split(b"\n")
            filled = [line for line in lines[:1000] if line.strip()]
            # JSON Lines, not a broken document: the first line is a whole object.
            if len(filled) > 1 and _whole_object(filled[0]):
                return "line {}", lines
    return None


def _whole_object(line: bytes) -> bool:
    try:
        return line.lstrip()[:1] == b"{" and bool(_ONE.decode(line))
    except msgspec.DecodeError:
        return False


def pieces(name: str, data: bytes) -> Iterator[Piece] | None:
    """The studies of ``data`` one at a time (see :func:`split`), or None when it is one."""
    found = split(data)
    if found is None:
        return None
    pattern, studies = found

    def each() -> Iterator[Piece]:
        lines = pattern == "line {}"
        for index, raw in enumerate(studies):
            piece = bytes(raw)
            if lines and not piece.strip():
                continue
            yield Piece(name, pattern.format(index + 1 if lines else index), piece,
                        hashlib.sha256(piece).hexdigest())

    return each()
