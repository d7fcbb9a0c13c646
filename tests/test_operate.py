"""`trials queries` (saved queries as managed objects) and `trials status` (health for a
person or a monitoring check), against the loopback replica."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.catalogue.health import parse_age
from harvester.catalogue.lock import set_command, writer_lock
from harvester.catalogue.store import R
from harvester.catalogue.syncstate import M, Q, S
from harvester.errors import UsageError
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import FIXTURES, trials
from tests.corpus import condition_hits

STUDIES = FIXTURES / "ctgov-v2-json/studies"
TIMESTAMP = "2026-08-14T09:00:05"


@pytest.fixture(scope="module")
def srv() -> Iterator[ReplicaServer]:
    with ReplicaServer(StudyStore.from_folder(STUDIES, data_timestamp=TIMESTAMP)) as server:
        yield server


@pytest.fixture
def synced(srv: ReplicaServer, db_url: str) -> str:
    for args in (("--cond", "allergy", "--save", "allergy"),
                 ("--status", "RECRUITING", "--save", "recruiting")):
        result = trials(db_url, "sync", "--base-url", srv.base_url, "--min-interval", "0",
                        "--quiet", *args)
        assert result.exit_code == 0, result.stderr
    return db_url


def test_queries_lists_shows_renames_and_deletes(synced: str) -> None:
    listed = json.loads(trials(synced, "queries", "--format", "json").stdout)
    assert [(q["name"], q["params"], q["trials"], q["last_run"]["status"]) for q in listed] == [
        ("allergy", {"query.cond": "allergy"}, len(condition_hits("allergy")), "ok"),
        ("recruiting", {"filter.overallStatus": "RECRUITING"}, 2, "ok")]
    assert all(q["last_success_at"] and q["age_seconds"] >= 0 for q in listed)
    table = trials(synced, "queries").stdout.splitlines()
    assert table[0].split()[:4] == ["name", "last", "good", "sync"]
    assert table[1].startswith("allergy ") and "ok (run 1)" in table[1]
    shown = trials(synced, "queries", "show", "allergy").stdout
    assert "parameters:     query.cond=allergy\n" in shown
    renamed = trials(synced, "queries", "rename", "allergy", "allergies")
    assert renamed.exit_code == 0
    runs = json.loads(trials(synced, "runs", "--format", "json").stdout)
    assert runs[-1]["query"] == "allergies"  # its runs follow the name
    clash = trials(synced, "queries", "rename", "allergies", "recruiting")
    assert clash.exit_code == 2 and "exists already" in clash.stderr
    gone = trials(synced, "queries", "delete", "allergies")
    assert gone.exit_code == 0
    assert gone.stdout == (f"deleted the saved query 'allergies'; its "
                           f"{len(condition_hits('allergy'))} trials stay in the catalogue\n")
    with Catalogue.open(synced) as catalogue:
        assert condition_hits("allergy") <= set(catalogue.trial_ids())
    unknown = trials(synced, "queries", "show", "allergies")
    assert unknown.exit_code == 4 and "(saved: recruiting)" in unknown.stderr
    assert trials(synced, "queries", "show").exit_code == 2



def test_queries_as_of_a_day_are_the_queries_as_they_stood(synced: str) -> None:
    """Move the allergy query's save and sync back to 2026-01-01, then watch one of its
    trials leave its results today: as of that day the query held them all."""
    ran = datetime(2026, 1, 1, 10, tzinfo=UTC)
    with Catalogue.open(synced) as catalogue, catalogue.engine.begin() as conn:
        key = conn.execute(sa.select(S.c.query_key).where(S.c.params.contains("allergy"))
                           ).scalar_one()
        conn.execute(sa.update(Q).where(Q.c.name == "allergy").values(created_at=ran))
        conn.execute(sa.update(R).where(R.c.query_name == "allergy").values(
            started_at=ran, finished_at=ran + timedelta(minutes=5)))
        conn.execute(sa.update(M).where(M.c.query_key == key).values(changed_at=ran))
        left = min(condition_hits("allergy"))
        conn.execute(sa.update(M).where(M.c.query_key == key, M.c.nct_id == left).values(
            present=False, changed_at=datetime.now(UTC)))
    now = {q["name"]: q for q in json.loads(trials(synced, "queries", "--format",
                                                   "json").stdout)}
    assert now["allergy"]["trials"] == len(condition_hits("allergy")) - 1
    then = json.loads(trials(synced, "queries", "--as-of", "2026-01", "--format",
                             "json").stdout)
    assert [(q["name"], q["trials"], q["last_run"]["status"]) for q in then] == [
        ("allergy", len(condition_hits("allergy")), "ok")]
    assert then[0]["last_success_at"] == "2026-01-01T10:05:00Z"
    assert then[0]["last_success_run"] == now["allergy"]["last_success_run"]
    assert then[0]["age_seconds"] == 14 * 3600 - 5 * 60 + 30 * 86400  # from 2026-01-31's end
    shown = trials(synced, "queries", "show", "recruiting", "--as-of", "2026-01")
    assert shown.exit_code == 2 and "saved after 2026-01-31" in shown.stderr
    # on the day itself the sync was still running at the end of an earlier moment's day
    with Catalogue.open(synced) as catalogue, catalogue.engine.begin() as conn:
        conn.execute(sa.update(R).where(R.c.query_name == "allergy").values(
            finished_at=ran + timedelta(days=1)))
    (day,) = json.loads(trials(synced, "queries", "--as-of", "2026-01-01", "--format",
                               "json").stdout)
    assert day["last_run"]["status"] == "running" and day["last_success_at"] is None
    assert trials(synced, "queries", "--as-of", "2025").stdout.startswith(
        "no saved queries on 2025-12-31")
    wrong = trials(synced, "queries", "delete", "allergy", "--as-of", "2025")
    assert wrong.exit_code == 2 and "--as-of goes with queries list or show" in wrong.stderr

def test_status_for_a_person_and_for_a_monitoring_check(synced: str) -> None:
    text = trials(synced, "status")
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[1] == f"holds:           {len(set(_stored(synced))):,} trials, " \
                       f"{len(_stored(synced)):,} versions"
    assert lines[2].startswith(f"registry data:   {TIMESTAMP} (checked ")
    assert "writer lock:     free" in lines
    assert any(line.startswith("allergy ") and "ok (run 1)" in line for line in lines)
    data = json.loads(trials(synced, "status", "--format", "json", "--max-age", "1d").stdout)
    assert data["healthy"] and data["stale"] == []
    assert data["registry"]["data_version"] == TIMESTAMP
    assert [q["name"] for q in data["queries"]] == ["allergy", "recruiting"]
    assert data["indexes"]["similarity_pending"] > 0
    stale = trials(synced, "status", "--max-age", "0s", "--format", "json")
    assert stale.exit_code == 1
    assert not json.loads(stale.stdout)["healthy"]
    assert "trials: error: stale: allergy: last good sync " in stale.stderr
    assert trials(synced, "index").exit_code == 0
    data = json.loads(trials(synced, "status", "--format", "json").stdout)
    assert data["indexes"]["similarity_pending"] == 0


def test_status_names_the_lock_holder(synced: str) -> None:
    set_command(["sync", "--all"])
    with Catalogue.open(synced) as catalogue, writer_lock(catalogue.engine):
        data = json.loads(trials(synced, "status", "--format", "json").stdout)
        assert (data["lock"]["pid"], data["lock"]["command"]) == (os.getpid(),
                                                                  "trials sync --all")
        assert "writer lock:     held by PID " in trials(synced, "status").stdout


def test_status_of_no_catalogue_is_exit_3(tmp_path: Path) -> None:
    result = trials(str(tmp_path / "none.sqlite"), "status")
    assert result.exit_code == 3 and not (tmp_path / "none.sqlite").exists()


def test_ages() -> None:
    assert parse_age("36h").total_seconds() == 36 * 3600
    assert parse_age("90m").total_seconds() == 5400
    assert parse_age("2d").total_seconds() == 172800
    with pytest.raises(UsageError, match="not a duration"):
        parse_age("soon")


def _stored(db: str) -> list[str]:
    with Catalogue.open(db) as catalogue:
        return [v.nct_id for n in catalogue.trial_ids() for v in catalogue.versions(n)]
