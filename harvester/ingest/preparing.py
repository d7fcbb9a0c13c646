"""The CPU work of an import or a sync — read, parse and prepare payloads — as functions that
run in worker processes.

A spawned worker imports the module of the function it runs: this one imports no more than
that work needs (the parsers, the record, :mod:`harvester.catalogue.prepared`), not the
catalogue's tables, SQLAlchemy's engine or the HTTP stack — each worker of every import
and sync used to spend most of a second importing those.

A batch goes back to the main process as one MessagePack string of its prepared versions
(:meth:`PreparedBatch.__reduce__`), not as pickle's graph of dataclasses, tuples and dicts:
a quarter of pickle's time to write in the worker, less to read in the main process, and
the same :class:`Prepared` values on arrival (tests/test_preparing.py).
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass, fields
from typing import Any

import msgspec

from harvester.catalogue.prepared import Incoming, Prepared, prepare
from harvester.errors import ParseError
from harvester.ingest.inputs import InputProblem, OpenFiles, ZipEntry
from harvester.ingest.jsonstream import Piece
from harvester.records import SourceKind
from parsers import MAX_PAYLOAD_BYTES, iter_studies


@dataclass(frozen=True)
class PreparedBatch:
    """What preparing one batch of payloads gave: versions ready to store, and messages."""

    versions: list[Prepared]
    problems: list[str]  # inputs that could not be parsed (counted as failed)
    warnings: list[str]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (on its way from a worker) as its versions' MessagePack without the
        fields in :data:`_AS_THEY_ARE`, those pickled as they are, and its messages."""
        kept = [(v.record_stored, v.payload_stored, v.facet, v.places) for v in self.versions]
        light = [{name: getattr(v, name) for name in _LIGHT} | _EMPTY for v in self.versions]
        return _unpack_batch, (_PACK.encode(light), kept, self.problems, self.warnings)


#: Fields pickled as they are: the compressed columns (pickle copies bytes once, MessagePack
#: would copy them again, and the main process's peak would grow by a batch), and the facet
#: and place values (tuples shared by every site of a place, from the place cache: pickle
#: keeps them shared, MessagePack would make a tuple per site — ten times the memory).
_AS_THEY_ARE = ("record_stored", "payload_stored", "facet", "places")
_EMPTY: dict[str, Any] = {"record_stored": b"", "payload_stored": b"", "facet": (),
                          "places": []}
_LIGHT = tuple(f.name for f in fields(Prepared) if f.name not in _AS_THEY_ARE)
_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder(list[Prepared])


def _unpack_batch(light: bytes, kept: list[tuple[Any, ...]], problems: list[str],
                  notes: list[str]) -> PreparedBatch:
    versions = _UNPACK.decode(light)
    for version, values in zip(versions, kept, strict=True):
        for name, value in zip(_AS_THEY_ARE, values, strict=True):
            object.__setattr__(version, name, value)  # frozen: set as its __init__ does
    return PreparedBatch(versions, problems, notes)


# A payload read here (name, data, sha256, quick identity, raw deflate stream), a zip
# entry to read there, or one study cut out of a file of many.
Entry = tuple[str, bytes, str, str | None, bytes | None] | ZipEntry | Piece


def prepare_payloads(payloads: list[Entry], source: SourceKind | None,
                     max_bytes: int) -> PreparedBatch:
    """Read zip entries, then parse and prepare every payload: the CPU work of an import,
    run in worker processes when the import is large.  Warnings are caught for the whole
    batch at once and told per payload (setting the filters up costs as much as a zip
    entry's read)."""
    with OpenFiles() as files, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        return _prepare_all(payloads, source, max_bytes, files, caught)


def _prepare_all(payloads: list[Entry], source: SourceKind | None, max_bytes: int,
                 files: OpenFiles, caught: list[warnings.WarningMessage]) -> PreparedBatch:
    versions: list[Prepared] = []
    problems: list[str] = []
    notes: list[str] = []
    for entry in payloads:
        if isinstance(entry, Piece):
            _prepare_piece(entry, source, max_bytes, versions, problems)
            notes += _told(entry.name, caught)
            continue
        if isinstance(entry, ZipEntry):
            read = entry.read(max_bytes, files)
            if isinstance(read, InputProblem):
                problems.append(f"{read.name}: {read.message}")
                continue
            entry = (read.name, read.data, hashlib.sha256(read.data).hexdigest(), read.quick,
                     read.deflated)
        name, data, sha, quick, deflated = entry
        for raw, result in list(iter_studies(data, source, max_bytes=max_bytes)):
            if isinstance(result, ParseError):
                problems.append(str(result.located(name)))
                continue
            raw_sha = sha if raw is data else hashlib.sha256(raw).hexdigest()
            whole = raw is data  # not one study cut out of a page
            versions.append(prepare(Incoming(
                result, raw, raw_sha, name, quick=quick if whole else None,
                deflated=deflated if whole else None)))
        notes += _told(name, caught)
    return PreparedBatch(versions, problems, notes)


def _told(name: str, caught: list[warnings.WarningMessage]) -> list[str]:
    """The warnings caught while payload ``name`` was read, parsed and prepared (then
    forgotten).  A ResourceWarning is the garbage collector finding something unclosed
    elsewhere meanwhile: not the payload's doing."""
    told = [f"{name}: {w.message}" for w in caught
            if not issubclass(w.category, ResourceWarning)]
    caught.clear()
    return told


_WHOLE_PIECE = {"line 1", "[0]", "studies[0]"}


def _prepare_piece(piece: Piece, source: SourceKind | None, max_bytes: int,
                   versions: list[Prepared], problems: list[str]) -> None:
    """One study cut out of a larger file: parsed on its own, named by file and place."""
    for raw, result in iter_studies(piece.data, source, max_bytes=max_bytes):
        if isinstance(result, ParseError):
            # A piece is one study: the parser's own "line 1" of it says nothing more.
            inner = None if result.record in _WHOLE_PIECE else result.record
            result.record = ", ".join(p for p in (piece.locator, inner) if p)
            problems.append(str(result.located(piece.name)))
            continue
        sha = piece.sha256 if raw is piece.data else hashlib.sha256(raw).hexdigest()
        versions.append(prepare(Incoming(result, raw, sha, piece.name)))


def prepare_page(base: str, number: int,
                 studies: list[tuple[int, bytes, str]]) -> tuple[PreparedBatch, float]:
    """Parse and prepare studies of one page (their place on it, bytes and hash) — in a
    worker process for a multi-page sync; with the seconds it took."""
    started = time.perf_counter()
    batch = prepare_payloads(
        [(f"{base} page {number} study {i}", raw, sha, None, None)
         for i, raw, sha in studies], "ctgov-json", MAX_PAYLOAD_BYTES)
    return batch, time.perf_counter() - started
