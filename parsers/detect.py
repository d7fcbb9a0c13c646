"""Recognise a payload's source and parse it into records, one study at a time."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TypeVar

import msgspec
from pydantic import ValidationError

from harvester.errors import InputTooLargeError, ParseError, UnknownSourceError
from harvester.records import SOURCE_KINDS, SourceKind, TrialRecord
from parsers import ctgov_json

# The XML and HTML parsers (lxml, BeautifulSoup) are imported where a payload needs them, so
# a JSON-only harvest does not pay for them at start-up.
from parsers._validation import validation_error

#: Payloads above this size are refused unread (the largest real study is ~1.5 MB;
#: a /studies page of 1,000 full studies is ~60 MB).
MAX_PAYLOAD_BYTES = 128 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
T = TypeVar("T")
#: Our own record JSON (`trials show --format json`, `trials export --format jsonl`, `trials
#: parse`): an object whose first key is ``nct_id``.
_RECORD_JSON = re.compile(rb"\A\s*\[?\s*\{\s*\"nct_id\"\s*:")
_ONE_VALUE = msgspec.json.Decoder(msgspec.Raw)
_RECORD_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])


def detect_source(data: bytes) -> SourceKind:
    """Which of the supported formats ``data`` is, from its content alone."""
    head = data[:4096].removeprefix(_BOM).lstrip()
    if head[:1] in (b"{", b"["):
        return "ctgov-json"
    if b"<clinical_study" in head:
        return "ctgov-xml"
    from parsers import veeva

    if veeva.looks_like_veeva(data):
        return "veeva"
    if head[:1] == b"<":
        raise UnknownSourceError(
            "markup that is neither a <clinical_study> record nor a ClinicalTrials.Veeva page"
        )
    if not head:
        raise UnknownSourceError("empty input")
    raise UnknownSourceError("not JSON, XML or HTML of a supported registry")


def iter_studies(
    data: bytes, source: SourceKind | None = None, *, max_bytes: int = MAX_PAYLOAD_BYTES
) -> Iterator[tuple[bytes, TrialRecord | ParseError]]:
    """Each study in ``data`` with its own raw bytes, as a record or as the
    :class:`ParseError` that stopped it.

    A payload of one study is its own raw bytes; the studies of a JSON list page or export
    are cut out of it verbatim, so that a catalogue can keep one payload per version.  A
    payload-level problem (not JSON, unknown format, too large) yields one error and ends; a
    bad study inside a list page yields its error and the next studies still parse.
    """
    if len(data) > max_bytes:
        yield data, InputTooLargeError(
            f"input is {len(data):,} bytes, above the {max_bytes:,} limit")
        return
    try:
        yield from _studies(data, source)
    except ParseError as exc:  # only from the payload level: nothing was yielded
        yield data, exc


def _studies(data: bytes, source: SourceKind | None
             ) -> Iterator[tuple[bytes, TrialRecord | ParseError]]:
    if _RECORD_JSON.match(data[:4096].removeprefix(_BOM)):
        # Records carry their own source; a forced one (as `trials reparse` passes) is moot.
        yield from _record_json(data.removeprefix(_BOM))
        return
    try:
        kind = source or detect_source(data)
        if kind not in SOURCE_KINDS:
            raise UnknownSourceError(f"unknown source {kind!r}")
        if kind == "ctgov-xml":
            from parsers import ctgov_xml

            yield data, _guarded(ctgov_xml.parse, data)
            return
        if kind == "veeva":
            from parsers import veeva

            yield data, _guarded(veeva.parse, data)
            return
    except ParseError as exc:
        yield data, exc
        return
    try:  # one study (a zip entry, a study cut out of a page): parsed without splitting
        whole = _guarded(ctgov_json.parse_whole, data)
    except ParseError as exc:  # as the loop below tells a study's error
        exc.record = exc.record or None
        yield data, exc
        return
    if whole is not None:
        yield data, whole
        return
    try:
        studies = _guarded(ctgov_json.split, data)
    except ParseError as exc:
        yield data, exc
        return
    for locator, raw in studies:
        try:
            yield raw, _guarded(ctgov_json.parse, raw)
        except ParseError as exc:
            exc.record = ", ".join(p for p in (locator, exc.record) if p) or None
            yield raw, exc


def _guarded(parse: Callable[[bytes], T], data: bytes) -> T:
    """The one boundary: whatever a parser or a library under it raises on hostile input
    (a RecursionError on deep nesting, a library's own error) ends as a ParseError.
    Warnings turned into errors by the caller's filters pass through."""
    try:
        return parse(data)
    except ParseError as exc:
        exc.message = " ".join(exc.message.split())  # one line, whatever a library wrote
        raise
    except Warning:
        raise
    except RecursionError:
        raise ParseError("input nested too deeply") from None
    except Exception as exc:
        raise ParseError(f"unreadable input ({type(exc).__name__}: {exc})") from None


def _record_json(data: bytes) -> Iterator[tuple[bytes, TrialRecord | ParseError]]:
    """Records as this project writes them: one object, an array of them, or JSON Lines (one
    per line); each keeps its own source and content."""
    parts: list[tuple[str | None, bytes]]
    try:
        if data.lstrip()[:1] == b"[":
            parts = [(f"[{i}]", bytes(raw)) for i, raw in enumerate(_RECORD_ARRAY.decode(data))]
        else:
            _ONE_VALUE.decode(data)  # one record, whole: its own payload
            parts = [(None, data)]
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        # JSON Lines, or broken JSON
        parts = [(f"line {n}", line) for n, line in enumerate(data.split(b"\n"), 1)
                 if line.strip()]
    for locator, raw in parts:
        try:
            yield raw, TrialRecord.model_validate_json(raw)
        except ValidationError as exc:
            yield raw, validation_error(exc, record=locator)
        except RecursionError:
            yield raw, ParseError("JSON nested too deeply", record=locator)


def iter_records(
    data: bytes, source: SourceKind | None = None, *, max_bytes: int = MAX_PAYLOAD_BYTES
) -> Iterator[TrialRecord | ParseError]:
    """Like :func:`iter_studies`, without the raw bytes."""
    for _, item in iter_studies(data, source, max_bytes=max_bytes):
        yield item


def parse_bytes(data: bytes, source: SourceKind | None = None) -> list[TrialRecord]:
    """All records of ``data``; the first problem raises its :class:`ParseError`."""
    records = []
    for item in iter_records(data, source):
        if isinstance(item, ParseError):
            raise item
        records.append(item)
    return records
