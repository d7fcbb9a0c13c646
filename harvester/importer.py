"""``trials import``: files, folders and bulk zips into the catalogue, as one audited run.

Payloads stream from :class:`harvester.inputs.Inputs` and are handled in batches: the batch's
raw hashes are looked up first, so a payload imported before is counted unchanged without
being parsed; the rest are parsed and stored in one transaction per batch, together with the
run's counts.  A run killed at any moment leaves every committed batch whole and the rest
absent; running it again stores what is missing and nothing twice.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harvester.catalogue import Catalogue, Incoming
from harvester.catalogue.lock import writer_lock
from harvester.errors import ParseError
from harvester.inputs import InputProblem, Inputs, Payload
from harvester.records import SourceKind
from parsers import MAX_PAYLOAD_BYTES, iter_studies


@dataclass
class ImportSummary:
    run_id: int
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "ok" if not self.failed else "partial"

    def to_json(self) -> dict[str, object]:
        return {"run": self.run_id, "status": self.status, "new": self.new,
                "changed": self.changed, "unchanged": self.unchanged, "failed": self.failed,
                "seconds": round(self.seconds, 3)}


@dataclass
class _Pending:
    """One batch in the making."""

    payloads: list[tuple[Payload, str]] = field(default_factory=list)
    size: int = 0


class Importer:
    """Imports paths into a catalogue; reports problems and progress through callbacks."""

    def __init__(self, catalogue: Catalogue, *, source: SourceKind | None = None,
                 batch_size: int = 500, batch_bytes: int = 64 * 2**20,
                 max_payload_bytes: int = MAX_PAYLOAD_BYTES,
                 on_problem: Callable[[str], None] = lambda message: None,
                 on_progress: Callable[[int], None] = lambda done: None) -> None:
        self.catalogue = catalogue
        self.source = source
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.max_payload_bytes = max_payload_bytes
        self.on_problem = on_problem
        self.on_progress = on_progress

    def run(self, paths: Sequence[str | Path], *, inputs: Inputs | None = None,
            wait: float = 0.0) -> ImportSummary:
        """Import ``paths`` as one run, holding the catalogue's writer lock (waiting up to
        ``wait`` seconds for it)."""
        inputs = inputs or Inputs(paths, max_payload_bytes=self.max_payload_bytes)
        with writer_lock(self.catalogue.engine, wait=wait):
            # We hold the lock, so a run still marked running has died.
            self.catalogue.mark_interrupted(self.catalogue.clock())
            return self._run(paths, inputs)

    def _run(self, paths: Sequence[str | Path], inputs: Inputs) -> ImportSummary:
        catalogue = self.catalogue
        run_id = catalogue.start_run("import", {"paths": [str(p) for p in paths],
                                                "source": self.source})
        summary = ImportSummary(run_id)
        started = time.perf_counter()
        try:
            pending = _Pending()
            for item in inputs:
                if isinstance(item, InputProblem):
                    self._problem(summary, f"{item.name}: {item.message}")
                    catalogue.add([], run_id=run_id, failed=1)
                    continue
                pending.payloads.append((item, hashlib.sha256(item.data).hexdigest()))
                pending.size += len(item.data)
                if len(pending.payloads) >= self.batch_size or pending.size >= self.batch_bytes:
                    self._flush(pending, summary)
                    pending = _Pending()
            self._flush(pending, summary)
        except BaseException as exc:
            catalogue.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
        summary.seconds = time.perf_counter() - started
        catalogue.finish_run(run_id, summary.status,
                             f"{summary.failed} input(s) failed" if summary.failed else None)
        return summary

    def _problem(self, summary: ImportSummary, message: str) -> None:
        summary.failed += 1
        summary.problems.append(message)
        self.on_problem(message)

    def _flush(self, pending: _Pending, summary: ImportSummary) -> None:
        if not pending.payloads:
            return
        known = self.catalogue.known_payloads(sha for _, sha in pending.payloads)
        incoming: list[Incoming] = []
        failed_before = summary.failed
        for payload, sha in pending.payloads:
            if sha in known:
                summary.unchanged += 1
                continue
            incoming += self._parse(payload, sha, summary)
        outcomes = self.catalogue.add(
            incoming, run_id=summary.run_id,
            already_known=sum(1 for _, sha in pending.payloads if sha in known),
            failed=summary.failed - failed_before)
        for outcome in outcomes:
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        self.on_progress(len(pending.payloads))

    def _parse(self, payload: Payload, sha: str, summary: ImportSummary) -> list[Incoming]:
        out = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = list(iter_studies(payload.data, self.source,
                                        max_bytes=self.max_payload_bytes))
        for warning in caught:
            self.on_problem(f"warning: {payload.name}: {warning.message}")
        for raw, result in results:
            if isinstance(result, ParseError):
                self._problem(summary, str(result.located(payload.name)))
                continue
            raw_sha = sha if raw is payload.data else hashlib.sha256(raw).hexdigest()
            out.append(Incoming(result, raw, raw_sha, payload.name))
        return out
