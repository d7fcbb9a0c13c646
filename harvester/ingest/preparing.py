"""The CPU work of an import or a sync — read, parse and prepare payloads — as functions that
run in worker processes.

A spawned worker imports the module of the function it runs: this one imports no more than
that work needs (the parsers, the record, :mod:`harvester.catalogue.prepared`), not the
catalogue's tables, SQLAlchemy's engine or the HTTP stack — each worker of every import
and sync used to spend most of a second importing those.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass

from harvester.catalogue.prepared import Incoming, Prepared, prepare
from harvester.errors import ParseError
from harvester.ingest.inputs import InputProblem, ZipEntry
from harvester.ingest.jsonstream import Piece
from harvester.records import SourceKind
from parsers import MAX_PAYLOAD_BYTES, iter_studies


@dataclass(frozen=True)
class PreparedBatch:
    """What preparing one batch of payloads gave: versions ready to store, and messages."""

    versions: list[Prepared]
    problems: list[str]  # inputs that could not be parsed (counted as failed)
    warnings: list[str]


# A payload read here (name, data, sha256, quick identity, raw deflate stream), a zip
# entry to read there, or one study cut out of a file of many.
Entry = tuple[str, bytes, str, str | None, bytes | None] | ZipEntry | Piece


def prepare_payloads(payloads: list[Entry], source: SourceKind | None,
                     max_bytes: int) -> PreparedBatch:
    """Read zip entries, then parse and prepare every payload: the CPU work of an import,
    run in worker processes when the import is large."""
    versions: list[Prepared] = []
    problems: list[str] = []
    notes: list[str] = []
    for entry in payloads:
        if isinstance(entry, Piece):
            _prepare_piece(entry, source, max_bytes, versions, problems, notes)
            continue
        if isinstance(entry, ZipEntry):
            read = entry.read(max_bytes)
            if isinstance(read, InputProblem):
                problems.append(f"{read.name}: {read.message}")
                continue
            entry = (read.name, read.data, hashlib.sha256(read.data).hexdigest(), read.quick,
                     read.deflated)
        name, data, sha, quick, deflated = entry
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = list(iter_studies(data, source, max_bytes=max_bytes))
            for raw, result in results:
                if isinstance(result, ParseError):
                    problems.append(str(result.located(name)))
                    continue
                raw_sha = sha if raw is data else hashlib.sha256(raw).hexdigest()
                whole = raw is data  # not one study cut out of a page
                versions.append(prepare(Incoming(
                    result, raw, raw_sha, name, quick=quick if whole else None,
                    deflated=deflated if whole else None)))
        # A ResourceWarning is the garbage collector finding something unclosed elsewhere
        # while this payload was parsed: not the payload's doing.
        notes += [f"{name}: {w.message}" for w in caught
                  if not issubclass(w.category, ResourceWarning)]
    return PreparedBatch(versions, problems, notes)


_WHOLE_PIECE = {"line 1", "[0]", "studies[0]"}


def _prepare_piece(piece: Piece, source: SourceKind | None, max_bytes: int,
                   versions: list[Prepared], problems: list[str], notes: list[str]) -> None:
    """One study cut out of a larger file: parsed on its own, named by file and place."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for raw, result in iter_studies(piece.data, source, max_bytes=max_bytes):
            if isinstance(result, ParseError):
                # A piece is one study: the parser's own "line 1" of it says nothing more.
                inner = None if result.record in _WHOLE_PIECE else result.record
                result.record = ", ".join(p for p in (piece.locator, inner) if p)
                problems.append(str(result.located(piece.name)))
                continue
            sha = piece.sha256 if raw is piece.data else hashlib.sha256(raw).hexdigest()
            versions.append(prepare(Incoming(result, raw, sha, piece.name)))
    notes += [f"{piece.name}: {w.message}" for w in caught
              if not issubclass(w.category, ResourceWarning)]


def prepare_page(base: str, number: int,
                 studies: list[tuple[int, bytes, str]]) -> tuple[PreparedBatch, float]:
    """Parse and prepare studies of one page (their place on it, bytes and hash) — in a
    worker process for a multi-page sync; with the seconds it took."""
    started = time.perf_counter()
    batch = prepare_payloads(
        [(f"{base} page {number} study {i}", raw, sha, None, None)
         for i, raw, sha in studies], "ctgov-json", MAX_PAYLOAD_BYTES)
    return batch, time.perf_counter() - started
