"""``trials import``: files, folders and bulk zips into the catalogue, as one audited run.

Payloads stream from :class:`harvester.ingest.inputs.Inputs` and are handled in batches.  What was
imported before is counted unchanged without being parsed: a zip entry by its quick identity
(not even inflated), anything else by its hash.  The rest is read, parsed and prepared — in
worker processes for a large import — and stored in one transaction per batch, together with
the run's counts, in input order.  A run killed at any moment leaves every committed batch
whole and the rest absent; running it again stores what is missing and nothing twice.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harvester.catalogue import Catalogue
from harvester.catalogue.lock import writer_lock
from harvester.ingest.inputs import InputProblem, Inputs, Known, Skipped, ZipEntry
from harvester.ingest.jsonstream import Piece, pieces
from harvester.ingest.preparing import Entry, PreparedBatch, prepare_payloads
from harvester.ingest.workers import process_pool, relaxed_gc
from harvester.records import SourceKind
from parsers import MAX_PAYLOAD_BYTES


@dataclass
class ImportSummary:
    run_id: int
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0  # zip entries that are not studies (folders, metadata, links)
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return "ok" if not self.failed else "partial"

    def to_json(self) -> dict[str, object]:
        return {"run": self.run_id, "status": self.status, "new": self.new,
                "changed": self.changed, "unchanged": self.unchanged, "failed": self.failed,
                "skipped": self.skipped,
                "seconds": round(self.seconds, 3)}


def _sha(entry: Entry) -> str | None:
    """The payload hash of an entry read here (None for a zip entry: not read yet)."""
    if isinstance(entry, ZipEntry):
        return None
    return entry.sha256 if isinstance(entry, Piece) else entry[2]


@dataclass
class _InFlight:
    """A batch handed to preparation, and what is already known of it."""

    result: Future[PreparedBatch] | PreparedBatch
    known: int
    size: int


class Importer:
    """Imports paths into a catalogue; reports problems and progress through callbacks.

    Batches are read and hashed here; parsing and preparing them runs in ``workers``
    processes (None: one per core for an import of at least ``PARALLEL_FROM`` payloads,
    else in this process), while this process writes the batches before them, in order.
    """

    PARALLEL_FROM = 1000

    def __init__(self, catalogue: Catalogue, *, source: SourceKind | None = None,
                 batch_size: int = 500, batch_bytes: int = 64 * 2**20,
                 max_payload_bytes: int = MAX_PAYLOAD_BYTES, workers: int | None = None,
                 verify: bool = False,
                 on_problem: Callable[[str], None] = lambda message: None,
                 on_progress: Callable[[int], None] = lambda done: None) -> None:
        self.catalogue = catalogue
        self.source = source
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.max_payload_bytes = max_payload_bytes
        self.workers = workers
        self.verify = verify
        self.on_problem = on_problem
        self.on_progress = on_progress

    def run(self, paths: Sequence[str | Path], *, inputs: Inputs | None = None,
            wait: float = 0.0) -> ImportSummary:
        """Import ``paths`` as one run, holding the catalogue's writer lock (waiting up to
        ``wait`` seconds for it)."""
        inputs = inputs or self.inputs(paths)
        with writer_lock(self.catalogue.engine, wait=wait, shared=True):
            # SQLite: we hold the lock, so a run still marked running has died (PostgreSQL:
            # one no live process holds, see harvester.catalogue.writers).
            self.catalogue.mark_interrupted(self.catalogue.clock())
            return self._run(paths, inputs)

    def inputs(self, paths: Sequence[str | Path]) -> Inputs:
        """The payloads of ``paths``; zip entries imported before are not even read, unless
        ``verify`` is set (see :func:`harvester.ingest.inputs.quick_identity`)."""
        known = None if self.verify else self.catalogue.known_quick
        return Inputs(paths, max_payload_bytes=self.max_payload_bytes, known=known, defer=True)

    def _worker_count(self, inputs: Inputs) -> int:
        if self.workers is not None:
            return max(self.workers, 1)
        if (inputs.count() or 0) < self.PARALLEL_FROM:
            return 1
        return os.cpu_count() or 1

    @contextmanager
    def _pool(self, workers: int) -> Iterator[ProcessPoolExecutor | None]:
        if workers <= 1:
            yield None
            return
        # Spawned workers that end with this process, however it ends (kill -9 included).
        with process_pool(workers) as pool:
            yield pool

    def _run(self, paths: Sequence[str | Path], inputs: Inputs) -> ImportSummary:
        catalogue = self.catalogue
        run_id = catalogue.start_run("import", {"paths": [str(p) for p in paths],
                                                "source": self.source})
        summary = ImportSummary(run_id)
        started = time.perf_counter()
        workers = self._worker_count(inputs)
        try:
            with self._pool(workers) as pool, relaxed_gc():
                queue: deque[_InFlight] = deque()
                batch: list[Entry] = []
                size = skipped = 0
                # reason -> the zip entries skipped (the first five named)
                not_studies: dict[str, list[str]] = {}
                for item in inputs:
                    if isinstance(item, Skipped):
                        summary.skipped += 1
                        seen = not_studies.setdefault(item.reason, [])
                        seen.append(item.name if len(seen) < 5 else "")
                        self.on_progress(1)
                        continue
                    if isinstance(item, InputProblem):
                        self._problem(summary, f"{item.name}: {item.message}")
                        catalogue.add([], run_id=run_id, failed=1)
                        continue
                    if isinstance(item, Known):
                        skipped += 1
                        if skipped >= self.batch_size * 10:
                            self._skipped(skipped, summary)
                            skipped = 0
                        continue
                    if isinstance(item, ZipEntry):  # read and hashed where it is parsed
                        batch.append(item)
                        size += item.file_size
                    elif (studies := pieces(item.name, item.data)) is not None:
                        # A file of many studies: handed out study by study, in batches.
                        for piece in studies:
                            batch.append(piece)
                            size += len(piece.data)
                            if len(batch) >= self.batch_size or size >= self.batch_bytes:
                                self._submit(batch, pool, queue, summary,
                                             in_flight=workers + 1)
                                batch, size = [], 0
                        continue
                    else:
                        sha = hashlib.sha256(item.data).hexdigest()
                        batch.append((item.name, item.data, sha, item.quick, item.deflated))
                        size += len(item.data)
                    if len(batch) >= self.batch_size or size >= self.batch_bytes:
                        self._submit(batch, pool, queue, summary, in_flight=workers + 1)
                        batch, size = [], 0
                self._submit(batch, pool, queue, summary, in_flight=0)
                self._skipped(skipped, summary)
                self._not_studies(not_studies)
        except BaseException as exc:
            catalogue.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
        summary.seconds = time.perf_counter() - started
        catalogue.finish_run(run_id, summary.status,
                             f"{summary.failed} input(s) failed" if summary.failed else None)
        return summary

    def _problem(self, summary: ImportSummary, message: str) -> None:
        summary.failed += 1
        self.on_problem(message)

    def _not_studies(self, skipped: dict[str, list[str]]) -> None:
        """Name the zip entries skipped as not studies, in one warning per reason."""
        for reason, names in skipped.items():
            shown = ", ".join(names[:5]) + (f" (+{len(names) - 5:,} more)"
                                            if len(names) > 5 else "")
            entries = "entry" if len(names) == 1 else "entries"
            self.on_problem(f"warning: {len(names)} zip {entries} skipped ({reason}): {shown}")

    def _skipped(self, count: int, summary: ImportSummary) -> None:
        """Count zip entries known by their quick identity as unchanged, in the run too."""
        if count:
            self.catalogue.add([], run_id=summary.run_id, already_known=count)
            summary.unchanged += count
            self.on_progress(count)

    def _submit(self, batch: list[Entry], pool: ProcessPoolExecutor | None,
                queue: deque[_InFlight], summary: ImportSummary, *, in_flight: int) -> None:
        """Hand a batch to preparation (payloads seen before are not parsed at all), then
        store finished batches in order until at most ``in_flight`` remain."""
        if batch:
            # Zip entries were checked by their quick identity; the rest by their hash.
            known = self.catalogue.known_payloads(
                sha for entry in batch if (sha := _sha(entry)) is not None)
            todo = [e for e in batch if (sha := _sha(e)) is None or sha not in known]
            args = (todo, self.source, self.max_payload_bytes)
            result = (pool.submit(prepare_payloads, *args) if pool and todo
                      else prepare_payloads(*args))
            queue.append(_InFlight(result, len(batch) - len(todo), len(batch)))
        while len(queue) > in_flight:
            self._store(queue.popleft(), summary)

    def _store(self, done: _InFlight, summary: ImportSummary) -> None:
        result = done.result.result() if isinstance(done.result, Future) else done.result
        for note in result.warnings:
            self.on_problem(f"warning: {note}")
        for problem in result.problems:
            self._problem(summary, problem)
        outcomes = self.catalogue.add(result.versions, run_id=summary.run_id,
                                      already_known=done.known, failed=len(result.problems))
        summary.unchanged += done.known
        for outcome in outcomes:
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        self.on_progress(done.size)
