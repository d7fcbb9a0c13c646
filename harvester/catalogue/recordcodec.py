"""How a version's record JSON is kept in ``version.record``: compressed, read either way.

The record JSON is three quarters of a catalogue's bytes; zlib at level 1 keeps about a sixth
of it (a 27 kB record in ~140 µs; reading it back costs ~70 µs, half of decoding the JSON).
Every writer stores :func:`pack`'s bytes and every reader goes through :func:`unpack`, which
also reads the plain JSON that catalogues written before schema version 11 hold: a record's
JSON always begins with ``{``, a zlib stream never does (its first byte is 0x78), so the first
byte tells them apart without a flag column.  Records are inflated by ISA-L
(``isal.isal_zlib``, the same zlib format, in about half of zlib's time: an export reads every
record), else by the standard library's zlib; no database stack: ``trials show`` reads records
through :mod:`harvester.catalogue.quick` without it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

#: zlib level: 1 is a third of level 6's time for a few per cent more bytes.
LEVEL = 1


def pack(record_json: str | bytes) -> bytes:
    """What ``version.record`` stores for ``record_json`` (compact JSON, as
    :func:`harvester.catalogue.canonical.fingerprint` makes it)."""
    data = record_json.encode() if isinstance(record_json, str) else record_json
    try:  # the same zlib stream, made by ISA-L in a quarter of the time (writers only)
        from isal.isal_zlib import compress
    except ImportError:  # pragma: no cover
        return zlib.compress(data, LEVEL)
    return compress(data, LEVEL)


def unpack(stored: str | bytes | memoryview) -> str | bytes:
    """The record JSON from what ``version.record`` holds: compressed bytes (this release),
    or the plain JSON of an older one (text on SQLite, bytes once PostgreSQL's column became
    ``bytea``).  Both kinds decode with msgspec and pydantic as they are."""
    if isinstance(stored, str):
        return stored
    if stored[:1] == b"{":
        return bytes(stored)
    return (_inflate or _inflater())(stored)


_inflate: Callable[[bytes | memoryview], bytes] | None = None


def _inflater() -> Callable[[bytes | memoryview], bytes]:
    """ISA-L's inflate of zlib streams, else zlib's (imported on the first record read)."""
    global _inflate
    try:
        from isal.isal_zlib import decompress
    except ImportError:  # pragma: no cover
        decompress = zlib.decompress
    _inflate = decompress
    return decompress


def contains(stored: str | bytes | memoryview, text: str) -> bool:
    """Whether the stored record's JSON contains ``text`` (as SQL's LIKE did on plain JSON)."""
    found = unpack(stored)
    return (text in found) if isinstance(found, str) else (text.encode() in found)
