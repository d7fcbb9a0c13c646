"""Single studies, mirror pages and record histories, fetched into the catalogue."""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harvester.catalogue import Catalogue, Incoming
from harvester.errors import FetchError, HttpStatusError, ParseError, UsageError
from harvester.fetch.ctgov import CtgovApi
from parsers import ctgov_json, iter_studies

_NCT = re.compile(r"^NCT\d{8}$", re.IGNORECASE)


@dataclass
class FetchSummary:
    run_id: int
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    missing: int = 0  # of the failed: no such study or page (404)
    history_versions: int = 0

    def to_json(self) -> dict[str, object]:
        return {"run": self.run_id, "new": self.new, "changed": self.changed,
                "unchanged": self.unchanged, "failed": self.failed, "missing": self.missing,
                "history_versions": self.history_versions}


class _Missing(FetchError):
    """The registry or site has no such study or page."""


def is_missing(exc: BaseException) -> bool:
    return isinstance(exc, _Missing) or (isinstance(exc, HttpStatusError)
                                         and exc.status in (404, 410))


def fetch(catalogue: Catalogue, api: CtgovApi, targets: Sequence[str], *, run_id: int,
          with_history: bool = False,
          on_problem: Callable[[str], None] = lambda m: None) -> FetchSummary:
    """Fetch NCT ids from the API and mirror pages by URL; store each as a version."""
    bad = [t for t in targets if not (_NCT.match(t) or t.startswith(("http://", "https://")))]
    if bad:
        raise UsageError(f"not an NCT id or a URL: {', '.join(bad)}")
    summary = FetchSummary(run_id)
    for target in targets:
        try:
            item = _one(api, target)
        except (FetchError, ParseError) as exc:
            summary.failed += 1
            summary.missing += is_missing(exc)
            on_problem(f"{target}: {exc}")
            catalogue.add([], run_id=run_id, failed=1)
            continue
        (outcome,) = catalogue.add([item], run_id=run_id)
        setattr(summary, outcome, getattr(summary, outcome) + 1)
    if with_history:
        ids = [t.upper() for t in targets if _NCT.match(t)]
        summary.history_versions = backfill(catalogue, api, ids, run_id=run_id,
                                            on_problem=on_problem)
    return summary


def _one(api: CtgovApi, target: str) -> Incoming:
    if _NCT.match(target):
        data = api.study(target.upper())
        if data is None:
            raise _Missing(f"NCT number {target.upper()} not found")
        source = "ctgov-json"
    else:
        if not api.client.robots_allows(target):
            raise FetchError("the site's robots.txt does not allow fetching this page")
        data = api.client.get(target, accept="text/html,*/*;q=0.8").content
        source = None  # a mirror page: recognised from its content
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ((raw, result),) = list(iter_studies(data, source))  # type: ignore[arg-type]
    if isinstance(result, ParseError):
        raise result
    return Incoming(result, raw, hashlib.sha256(raw).hexdigest(), target)


def backfill(catalogue: Catalogue, api: CtgovApi, nct_ids: Sequence[str], *, run_id: int,
             on_problem: Callable[[str], None] = lambda m: None) -> int:
    """Store every past version of these trials from the registry's record history, with its
    version number and date; versions already held (same registry date) are not fetched."""
    added = 0
    for nct_id in nct_ids:
        try:
            entries = api.history(nct_id)
        except FetchError as exc:
            on_problem(f"{nct_id}: no record history: {exc}")
            continue
        held = {v.registry_date for v in catalogue.versions(nct_id)
                if v.source == "ctgov-json"}
        items = []
        for entry in entries:
            if entry.date and entry.date in held:
                continue
            try:
                raw = api.history_version(nct_id, entry.version)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    record = ctgov_json.parse(raw)
            except (FetchError, ParseError) as exc:
                on_problem(f"{nct_id} version {entry.version}: {exc}")
                continue
            items.append(Incoming(record, raw, hashlib.sha256(raw).hexdigest(),
                                  f"{nct_id} history version {entry.version}",
                                  registry_version=str(entry.version)))
        outcomes = catalogue.add(items, run_id=run_id)
        added += sum(1 for o in outcomes if o != "unchanged")
    return added


@dataclass
class QueueSummary:
    run_id: int
    trials: int = 0
    versions: int = 0
    failed: int = 0  # trials some of whose history could not be fetched

    def to_json(self) -> dict[str, object]:
        return {"run": self.run_id, "trials": self.trials, "versions": self.versions,
                "failed": self.failed}


def work_queue(catalogue: Catalogue, api: CtgovApi, *, run_id: int, worker: str,
               on_problem: Callable[[str], None] = lambda m: None,
               on_trial: Callable[[str], None] = lambda nct_id: None) -> QueueSummary:
    """Backfill the trials of the catalogue's shared queue, one at a time, until none is
    pending (see :mod:`harvester.catalogue.workqueue`): several workers, on several
    machines, share one queue without overlap."""
    from harvester.catalogue import workqueue

    summary = QueueSummary(run_id)
    while True:
        with workqueue.claim(catalogue.engine, run_id=run_id, worker=worker,
                             now=catalogue.clock()) as taken:
            if taken is None:
                return summary
            problems: list[str] = []

            def problem(message: str, into: list[str] = problems) -> None:
                into.append(message)
                on_problem(message)

            taken.versions = backfill(catalogue, api, [taken.nct_id], run_id=run_id,
                                      on_problem=problem)
            if problems:
                taken.state, taken.message = "failed", "; ".join(problems)[:2000]
            summary.trials += 1
            summary.versions += taken.versions
            summary.failed += bool(problems)
        on_trial(taken.nct_id)
