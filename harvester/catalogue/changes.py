"""What changed in the catalogue since a moment: the digest a scheduled job mails out.

"Since" is our own clock (when versions were stored), not the registry's: the question is
what this catalogue learned since the last look.  Each trial that gained a version since then
is compared as it stood before (its preferred version among those stored earlier) with how
it stands now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from harvester.catalogue.diff import Change, diff_records, summarise
from harvester.catalogue.store import Catalogue, E, V
from harvester.catalogue.versioninfo import preference as _preference

if TYPE_CHECKING:
    from harvester.catalogue.batches import LastRun


@dataclass
class TrialChange:
    nct_id: str
    title: str | None
    kind: str  # new, changed
    status: tuple[Any, Any] | None = None
    enrollment: tuple[Any, Any] | None = None
    results_first_posted: bool = False
    # each change to the outcome measures, described ("primary outcome added: …")
    outcomes: list[str] = field(default_factory=list)
    summary: str = ""
    changes: list[Change] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"nct_id": self.nct_id, "title": self.title, "kind": self.kind,
                "status": list(self.status) if self.status else None,
                "enrollment": list(self.enrollment) if self.enrollment else None,
                "results_first_posted": self.results_first_posted,
                "outcomes": self.outcomes, "summary": self.summary,
                "changes": [c.to_json() for c in self.changes]}


@dataclass
class ChangeReport:
    since: datetime
    until: datetime
    trials: list[TrialChange] = field(default_factory=list)
    disappeared: list[dict[str, Any]] = field(default_factory=list)
    covers: LastRun | None = None  # the sync batch or run looked back to
    query: str | None = None  # narrowed to this saved query's trials

    def of_kind(self, kind: str) -> list[TrialChange]:
        return [t for t in self.trials if t.kind == kind]

    def others(self) -> list[TrialChange]:
        """Changed trials with no change of a kind the digest lists on its own."""
        return [t for t in self.of_kind("changed")
                if not (t.status or t.enrollment or t.outcomes or t.results_first_posted)]

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since, "until": self.until,
            "new": [t.to_json() for t in self.of_kind("new")],
            "status_changes": [t.to_json() for t in self.trials if t.status],
            "enrollment_changes": [t.to_json() for t in self.trials if t.enrollment],
            "outcome_changes": [t.to_json() for t in self.trials if t.outcomes],
            "results_first_posted": [t.to_json() for t in self.trials
                                     if t.results_first_posted],
            "other_changes": [t.to_json() for t in self.others()],
            "disappeared": self.disappeared,
            "covers": self.covers.to_json() if self.covers else None, "query": self.query,
        }


def changes_since(catalogue: Catalogue, since: datetime, *, only: set[str] | None = None,
                  until: datetime | None = None) -> ChangeReport:
    """What the catalogue learned since ``since`` (until ``until``: as the report stood
    then, from the versions stored before it); ``only``: these trials (a saved query's)."""
    report = ChangeReport(since=since, until=until or catalogue.clock())
    stored = [V.c.seen_at >= since] + ([V.c.seen_at < until] if until else [])
    noted = [E.c.at >= since] + ([E.c.at < until] if until else [])
    with catalogue.engine.connect() as conn:
        touched = [n for n in conn.execute(sa.select(V.c.nct_id).where(*stored)
                                           .distinct().order_by(V.c.nct_id)).scalars()
                   if only is None or n in only]
        events = [e for e in conn.execute(sa.select(E.c.nct_id, E.c.at, E.c.detail).where(
            E.c.kind == "disappeared", *noted).order_by(E.c.at)).mappings()
            if only is None or e["nct_id"] in only]
    report.disappeared = [{"nct_id": e["nct_id"], "at": e["at"],
                           "detail": e["detail"]} for e in events]
    for nct_id in touched:
        change = _trial_change(catalogue, nct_id, since, until)
        if change is not None:
            report.trials.append(change)
    return report


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _trial_change(catalogue: Catalogue, nct_id: str, since: datetime,
                  until: datetime | None = None) -> TrialChange | None:
    versions = [v for v in catalogue.versions(nct_id)
                if until is None or _utc(v.seen_at) < _utc(until)]
    before = [v for v in versions if v.seen_at < since]
    now = max(versions, key=_preference)
    after = catalogue.record(now.id)
    if not before:
        return TrialChange(nct_id, after.brief_title, "new", summary="new trial")
    then = max(before, key=_preference)
    if then.id == now.id:
        return None  # only versions that do not change the preferred view arrived
    old = catalogue.record(then.id)
    changes = diff_records(old, after)
    if not changes:
        return None
    change = TrialChange(nct_id, after.brief_title, "changed", summary=summarise(changes),
                         changes=changes)
    if old.overall_status != after.overall_status:
        change.status = (old.overall_status, after.overall_status)
    if old.enrollment != after.enrollment:
        change.enrollment = (_enrollment(old.enrollment), _enrollment(after.enrollment))
    change.outcomes = [c.describe() for c in changes if c.field == "outcomes"]
    change.results_first_posted = after.has_results and not old.has_results
    return change


def _enrollment(value: Any) -> dict[str, Any] | None:
    return None if value is None else value.model_dump(mode="json")
