"""``changes_since``: what the catalogue learned since a moment, on SQLite and PostgreSQL.

The catalogue runs on a clock the tests move, so "since" falls exactly between two stores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from harvester.catalogue import Catalogue, Incoming
from harvester.catalogue.changes import ChangeReport, changes_since
from harvester.commands.views import change_report
from harvester.records import Enrollment, TrialRecord
from parsers import parse_bytes
from tests.conftest import FIXTURES, trials

SNAPSHOTS = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT06203210__vh*.json"))
LEGACY = FIXTURES / "ctgov-history/legacy-xml-redownloads"
ENROLLING = [LEGACY / "NCT00513591__dl2017-01-18__aact.xml",  # 500 anticipated
             LEGACY / "NCT00513591__dl2017-08-08__aact.xml"]  # 1000 anticipated
WITH_RESULTS = LEGACY / "NCT01642004__dl2018-05-11__aact.xml"
VEEVA = FIXTURES / "mirror-veeva/NCT00557986.txt"
CTGOV_PARTIAL = FIXTURES / "constructed/NCT00557986__ctgov-partial.json"
KEYS = ["since", "until", "new", "status_changes", "enrollment_changes",
        "outcome_changes", "results_first_posted", "other_changes", "disappeared", "covers",
        "query"]


def record(path: Path) -> TrialRecord:
    (parsed,) = parse_bytes(path.read_bytes())
    return parsed


def incoming(rec: TrialRecord) -> Incoming:
    payload = msgspec.json.encode(rec.to_json_dict())  # a payload of its own for each record
    return Incoming(rec, payload, hashlib.sha256(payload).hexdigest())


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self) -> datetime:
        """Move on an hour; the new time."""
        self.now += timedelta(hours=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def catalogue(db_url: str, clock: Clock) -> Iterator[Catalogue]:
    with Catalogue.open(db_url, clock=clock) as cat:
        yield cat


def store(catalogue: Catalogue, *records: TrialRecord) -> None:
    assert catalogue.add([incoming(r) for r in records]) != ["unchanged"] * len(records)


def report_json(report: ChangeReport) -> dict[str, Any]:
    """The report as a mail job would read it: through JSON."""
    data: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(report.to_json()))
    return data


def test_new_trials_and_the_report_shape(catalogue: Catalogue, clock: Clock) -> None:
    store(catalogue, record(SNAPSHOTS[0]))
    since = clock.tick()
    store(catalogue, record(ENROLLING[0]), record(WITH_RESULTS))
    clock.tick()
    report = changes_since(catalogue, since)
    assert (report.since, report.until) == (since, clock.now)
    assert [(t.nct_id, t.kind, t.summary) for t in report.trials] == [
        ("NCT00513591", "new", "new trial"), ("NCT01642004", "new", "new trial")]
    assert report.trials[0].title == "Duke Autoimmunity in Pregnancy Registry"
    data = report_json(report)
    assert list(data) == KEYS
    assert data["since"] == "2026-11-01T13:00:00Z"
    assert data["until"] == "2026-11-01T14:00:00Z"
    assert data["new"] == [t.to_json() for t in report.trials]
    assert data["new"][0] == {
        "nct_id": "NCT00513591", "title": "Duke Autoimmunity in Pregnancy Registry",
        "kind": "new", "status": None, "enrollment": None, "results_first_posted": False,
        "outcomes": [], "summary": "new trial", "changes": []}
    assert all(data[key] == [] for key in KEYS[3:-2])
    # since the very start, the first trial is new too; since now, nothing is
    assert [t.nct_id for t in changes_since(catalogue, since - timedelta(hours=1)).trials] == [
        "NCT00513591", "NCT01642004", "NCT06203210"]
    assert changes_since(catalogue, clock.now).trials == []


def test_a_status_change_is_old_and_new_status(catalogue: Catalogue, clock: Clock) -> None:
    store(catalogue, record(SNAPSHOTS[0]))
    since = clock.tick()
    store(catalogue, record(SNAPSHOTS[1]))
    (change,) = changes_since(catalogue, since).trials
    assert (change.nct_id, change.kind) == ("NCT06203210", "changed")
    assert change.status == ("ACTIVE_NOT_RECRUITING", "RECRUITING")
    assert change.enrollment is None and not change.results_first_posted
    assert change.summary.startswith(
        "status ACTIVE_NOT_RECRUITING → RECRUITING; eligibility text changed; ")
    assert {"overall_status", "eligibility.criteria", "locations"} <= {
        c.field for c in change.changes}
    data = report_json(changes_since(catalogue, since))
    (entry,) = data["status_changes"]
    assert entry["status"] == ["ACTIVE_NOT_RECRUITING", "RECRUITING"]
    assert entry["changes"][0] == {"field": "overall_status", "kind": "changed", "key": None,
                                   "old": "ACTIVE_NOT_RECRUITING", "new": "RECRUITING"}
    assert data["other_changes"] == data["enrollment_changes"] == data["new"] == []


def test_an_enrollment_change(catalogue: Catalogue, clock: Clock) -> None:
    store(catalogue, record(ENROLLING[0]))
    since = clock.tick()
    store(catalogue, record(ENROLLING[1]))
    (change,) = changes_since(catalogue, since).trials
    assert change.enrollment == ({"count": 500, "type": "ESTIMATED"},
                                 {"count": 1000, "type": "ESTIMATED"})
    assert change.status is None
    data = report_json(changes_since(catalogue, since))
    assert [e["nct_id"] for e in data["enrollment_changes"]] == ["NCT00513591"]
    assert data["other_changes"] == data["status_changes"] == []


def test_results_first_posted(catalogue: Catalogue, clock: Clock) -> None:
    # No fixture holds a trial before and after its results: make the "before" from the
    # real record with results by taking them away.
    after = record(WITH_RESULTS)
    assert after.has_results and after.results_first_posted == "2016-03-17"
    before = after.model_copy(update={"has_results": False, "results_first_posted": None})
    store(catalogue, before)
    since = clock.tick()
    store(catalogue, after)
    (change,) = changes_since(catalogue, since).trials
    assert change.results_first_posted and change.kind == "changed"
    assert change.status is None and change.enrollment is None
    data = report_json(changes_since(catalogue, since))
    assert [e["nct_id"] for e in data["results_first_posted"]] == ["NCT01642004"]
    assert data["other_changes"] == []
    # a later change to a trial with results, or results taken down, is not "first posted"
    for later in (after.model_copy(update={"brief_title": "retitled"}),
                  before.model_copy(update={"brief_title": "results withdrawn"})):
        since = clock.tick()
        store(catalogue, later)
        (change,) = changes_since(catalogue, since).trials
        assert not change.results_first_posted
        data = report_json(changes_since(catalogue, since))
        assert data["results_first_posted"] == []
        assert [e["nct_id"] for e in data["other_changes"]] == ["NCT01642004"]


def test_status_and_enrollment_at_once_are_listed_under_both(catalogue: Catalogue,
                                                              clock: Clock) -> None:
    old = record(ENROLLING[1])
    store(catalogue, old)
    since = clock.tick()
    store(catalogue, old.model_copy(update={
        "overall_status": "COMPLETED", "enrollment": Enrollment(count=1012, type="ACTUAL")}))
    (change,) = changes_since(catalogue, since).trials
    assert change.status == ("RECRUITING", "COMPLETED")
    assert change.enrollment == ({"count": 1000, "type": "ESTIMATED"},
                                 {"count": 1012, "type": "ACTUAL"})
    data = report_json(changes_since(catalogue, since))
    for key in ("status_changes", "enrollment_changes"):
        assert [e["nct_id"] for e in data[key]] == ["NCT00513591"]
    assert data["other_changes"] == []


def test_other_changes_carry_a_summary(catalogue: Catalogue, clock: Clock) -> None:
    store(catalogue, record(SNAPSHOTS[1]))
    since = clock.tick()
    store(catalogue, record(SNAPSHOTS[2]))
    data = report_json(changes_since(catalogue, since))
    (entry,) = data["other_changes"]
    assert entry["nct_id"] == "NCT06203210" and entry["kind"] == "changed"
    assert entry["status"] is None and entry["enrollment"] is None
    assert "last_update_submitted moved 2026-02-05 → 2026-02-27" in entry["summary"]
    assert data["status_changes"] == data["enrollment_changes"] == []


def test_an_outcome_switch_is_its_own_kind(catalogue: Catalogue, clock: Clock) -> None:
    # No fixture holds a real outcome switch: make one from the real record by retitling
    # its second primary outcome ("Overall Survival") and dropping its last secondary one.
    before = record(SNAPSHOTS[2])
    primary = [o for o in before.outcomes if o.kind == "PRIMARY"]
    assert primary[1].title == "Overall Survival"
    switched = tuple(o.model_copy(update={"title": "Progression-free Survival"})
                     if o is primary[1] else o for o in before.outcomes[:-1])
    store(catalogue, before)
    since = clock.tick()
    store(catalogue, before.model_copy(update={"outcomes": switched}))
    (change,) = changes_since(catalogue, since).trials
    assert change.status is None and change.enrollment is None
    assert change.outcomes[0] == "primary outcome removed: Overall Survival"
    assert change.outcomes[1].startswith("secondary outcome removed: Pharmacokinetic")
    assert change.outcomes[2] == "primary outcome added: Progression-free Survival"
    data = report_json(changes_since(catalogue, since))
    assert [e["nct_id"] for e in data["outcome_changes"]] == ["NCT06203210"]
    assert data["outcome_changes"][0]["outcomes"] == change.outcomes
    assert data["other_changes"] == data["status_changes"] == []
    digest = change_report(changes_since(catalogue, since))
    block = digest.split("Outcome changes (1)\n", 1)[1].split("\n\n", 1)[0]
    assert block.startswith("  NCT06203210  primary outcome removed: Overall Survival;")
    assert "Other changes (0)" in digest


def test_the_trial_is_compared_as_it_stood_at_the_moment(catalogue: Catalogue,
                                                         clock: Clock) -> None:
    first, second, third = (record(p) for p in SNAPSHOTS)
    store(catalogue, first)
    after_first = clock.tick()
    store(catalogue, second)
    after_second = clock.tick()
    store(catalogue, third)
    (change,) = changes_since(catalogue, after_first).trials
    assert change.status == ("ACTIVE_NOT_RECRUITING", "RECRUITING")  # version 1 → 3
    posted = [(c.old, c.new) for c in change.changes if c.field == "last_update_posted"]
    assert posted == [("2026-01-20", "2026-03-02")]
    (change,) = changes_since(catalogue, after_second).trials
    assert change.status is None  # version 2 → 3
    # "since" is inclusive: a version stored at that very moment is news
    assert [t.nct_id for t in changes_since(catalogue, after_second).trials] == [
        "NCT06203210"]
    assert changes_since(catalogue, after_second + timedelta(microseconds=1)).trials == []


def test_versions_that_do_not_change_what_is_shown_are_not_news(catalogue: Catalogue,
                                                                clock: Clock) -> None:
    store(catalogue, record(CTGOV_PARTIAL), record(SNAPSHOTS[2]))
    since = clock.tick()
    # the mirror's copy (the registry's is preferred) and an older snapshot imported late
    store(catalogue, record(VEEVA), record(SNAPSHOTS[0]))
    assert changes_since(catalogue, since).trials == []
    assert len(catalogue.versions("NCT06203210")) == 2
    # the same content again stores nothing
    assert catalogue.add([incoming(record(SNAPSHOTS[2]))]) == ["unchanged"]


def test_disappeared_trials(catalogue: Catalogue, clock: Clock) -> None:
    store(catalogue, record(SNAPSHOTS[2]), record(ENROLLING[1]))
    catalogue.add_event("NCT00513591", "disappeared", detail="gone before the moment")
    since = clock.tick()
    catalogue.add_event("NCT06203210", "disappeared", detail="not in the query results")
    catalogue.add_event("NCT00513591", "reappeared")
    clock.tick()
    catalogue.add_event("NCT00513591", "disappeared")
    report = changes_since(catalogue, since)
    assert report.trials == []
    assert report_json(report)["disappeared"] == [
        {"nct_id": "NCT06203210", "at": "2026-11-01T13:00:00Z",
         "detail": "not in the query results"},
        {"nct_id": "NCT00513591", "at": "2026-11-01T14:00:00Z", "detail": None}]
    assert [d["at"] for d in report.disappeared] == [since, clock.now]


def test_until_is_the_report_as_it_stood_then(catalogue: Catalogue, clock: Clock) -> None:
    first, second, third = (record(p) for p in SNAPSHOTS)
    store(catalogue, first)
    since = clock.tick()
    store(catalogue, second)
    catalogue.add_event("NCT06203210", "disappeared", detail="before the cut")
    until = clock.tick()
    store(catalogue, third, record(ENROLLING[0]))
    catalogue.add_event("NCT06203210", "disappeared", detail="after the cut")
    then = changes_since(catalogue, since, until=until)
    assert (then.since, then.until) == (since, until)
    # version 1 → 2 (version 3 and the new trial came later); now: version 1 → 3, and new
    (change,) = then.trials
    posted = [(c.old, c.new) for c in change.changes if c.field == "last_update_posted"]
    assert posted == [(first.last_update_posted, second.last_update_posted)]
    now = changes_since(catalogue, since)
    assert [t.nct_id for t in now.trials] == ["NCT00513591", "NCT06203210"]
    assert [(c.old, c.new) for c in now.trials[1].changes
            if c.field == "last_update_posted"] == [(first.last_update_posted,
                                                      third.last_update_posted)]
    assert [d["detail"] for d in then.disappeared] == ["before the cut"]
    assert [d["detail"] for d in now.disappeared] == ["before the cut", "after the cut"]


def test_the_command_takes_as_of(catalogue: Catalogue, clock: Clock, db_url: str) -> None:
    store(catalogue, record(SNAPSHOTS[0]))
    clock.now += timedelta(days=1)  # 2026-11-02 12:00
    store(catalogue, record(SNAPSHOTS[1]), record(ENROLLING[0]))
    since = ["changes", "--since", "2026-10-31", "--format", "json"]
    then = json.loads(trials(db_url, *since, "--as-of", "2026-11-01").stdout)
    assert (then["until"], [t["nct_id"] for t in then["new"]]) == (
        "2026-11-02T00:00:00Z", ["NCT06203210"])
    now = json.loads(trials(db_url, *since).stdout)
    assert [t["nct_id"] for t in now["new"]] == ["NCT00513591", "NCT06203210"]
    early = trials(db_url, *since, "--as-of", "2026-10-30")
    assert early.exit_code == 2 and "before the start of the report" in early.stderr
