"""Record history: every past version of a trial, from the registry's internal history
endpoints (served by the loopback replica from the three real snapshots of NCT06203210)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from harvester.catalogue import Catalogue
from harvester.fetch.backfill import backfill
from harvester.fetch.ctgov import CtgovApi
from harvester.fetch.http import HttpClient
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import FIXTURES, trials

SNAPSHOTS = FIXTURES / "ctgov-history/api-v2-snapshots"
NCT = "NCT06203210"
# (registry date, overall status) of the record's three versions, oldest first.
HISTORY = [("2026-01-20", "ACTIVE_NOT_RECRUITING"), ("2026-02-09", "RECRUITING"),
           ("2026-03-02", "RECRUITING")]


@pytest.fixture
def srv() -> Iterator[ReplicaServer]:
    """A replica of the snapshot folder (its own: some tests post new versions)."""
    with ReplicaServer(StudyStore.from_folder(SNAPSHOTS)) as server:
        yield server


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'catalogue.sqlite'}"


def sync(db: str, server: ReplicaServer, *args: str) -> Result:
    return trials(db, "sync", "--base-url", server.base_url, "--min-interval", "0", *args)


def history(db: str, server: ReplicaServer, *args: str) -> Result:
    return trials(db, "history", NCT, "--base-url", server.base_url, "--min-interval", "0",
                  *args)


def held(db: str) -> list[tuple[int, str | None, str | None, str | None]]:
    """(number, registry date, registry version, overall status) of each stored version."""
    with Catalogue.open(db) as catalogue:
        return [(v.number, v.registry_date, v.registry_version,
                 catalogue.record(v.id).overall_status) for v in catalogue.versions(NCT)]


def history_requests(server: ReplicaServer) -> list[str]:
    return [path for path, _ in server.faults.log if path.startswith("/api/int/")]


def test_the_replica_numbers_the_snapshots_as_three_versions(srv: ReplicaServer) -> None:
    versions = srv.store.history(NCT)
    assert [(v.date, v.study["protocolSection"]["statusModule"]["overallStatus"])
            for v in versions] == HISTORY


def test_sync_with_history_stores_every_past_version(srv: ReplicaServer, db_url: str) -> None:
    result = sync(db_url, srv, "--ids", NCT, "--with-history", "--format", "json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["new"], summary["history_versions"]) == (1, 2)
    # The current version came with the page (its registry version is the data version,
    # versionHolder); the two before it from the record history, numbered 0 and 1.  The
    # current one's date is held, so version 2 is not fetched again.
    assert held(db_url) == [(1, "2026-01-20", "0", "ACTIVE_NOT_RECRUITING"),
                            (2, "2026-02-09", "1", "RECRUITING"),
                            (3, "2026-03-02", "2026-03-09", "RECRUITING")]
    assert history_requests(srv) == [f"/api/int/studies/{NCT}/history",
                                     f"/api/int/studies/{NCT}/history/0",
                                     f"/api/int/studies/{NCT}/history/1"]

    srv.faults.reset_counts()
    listed = history(db_url, srv, "--backfill", "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["version"], r["registry_date"], r["registry_version"]) for r in rows] == [
        (1, "2026-01-20", "0"), (2, "2026-02-09", "1"), (3, "2026-03-02", "2026-03-09")]
    assert rows[0]["summary"] == "first version from ctgov-json"
    assert rows[1]["summary"].startswith("status ACTIVE_NOT_RECRUITING → RECRUITING; ")
    assert history_requests(srv) == [f"/api/int/studies/{NCT}/history"]  # nothing new

    diff = trials(db_url, "diff", NCT, "--from", "1", "--to", "2")
    assert diff.exit_code == 0, diff.stderr
    lines = diff.stdout.splitlines()
    assert lines[0] == (f"{NCT}: version 1 (ctgov-json, 2026-01-20) → version 2 "
                        "(ctgov-json, 2026-02-09)")
    assert lines[1] == "  status ACTIVE_NOT_RECRUITING → RECRUITING"

    # A sync that brings nothing new asks for no history at all.
    srv.faults.reset_counts()
    quiet = sync(db_url, srv, "--ids", NCT, "--with-history", "--format", "json")
    assert json.loads(quiet.stdout)["history_versions"] == 0
    assert history_requests(srv) == []


def test_history_backfill_reaches_back_to_the_first_version(
        srv: ReplicaServer, db: str) -> None:
    result = history(db, srv, "--backfill", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["version"], r["source"], r["registry_date"], r["registry_version"])
            for r in rows] == [(1, "ctgov-json", "2026-01-20", "0"),
                               (2, "ctgov-json", "2026-02-09", "1"),
                               (3, "ctgov-json", "2026-03-02", "2")]
    assert [(d, s) for _, d, _, s in held(db)] == HISTORY
    assert len(history_requests(srv)) == 4  # the list and three versions
    with Catalogue.open(db) as catalogue:
        (run,) = catalogue.runs()
    assert (run["kind"], run["status"], run["message"]) == ("backfill", "ok", "3 past versions")

    srv.faults.reset_counts()
    again = history(db, srv, "--backfill", "--format", "json")
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout) == rows
    assert history_requests(srv) == [f"/api/int/studies/{NCT}/history"]
    with Catalogue.open(db) as catalogue:
        assert catalogue.runs()[0]["message"] == "0 past versions"


def test_a_version_posted_after_the_first_sync(srv: ReplicaServer, db: str) -> None:
    assert sync(db, srv, "--ids", NCT, "--with-history", "--quiet").exit_code == 0
    newer: dict[str, Any] = copy.deepcopy(srv.store.get(NCT))
    status = newer["protocolSection"]["statusModule"]
    status["overallStatus"] = "ACTIVE_NOT_RECRUITING"
    status["lastUpdatePostDateStruct"]["date"] = "2026-04-01"
    assert srv.store.add_version(newer) == 3
    srv.faults.reset_counts()
    result = sync(db, srv, "--ids", NCT, "--with-history", "--format", "json")
    summary = json.loads(result.stdout)
    assert (summary["mode"], summary["changed"], summary["history_versions"]) == (
        "incremental", 1, 0)
    # The new version came with the page; every date of the history is now held.
    assert history_requests(srv) == [f"/api/int/studies/{NCT}/history"]
    assert [(d, s) for _, d, _, s in held(db)] == [*HISTORY,
                                                   ("2026-04-01", "ACTIVE_NOT_RECRUITING")]


def test_fetch_with_history(srv: ReplicaServer, db: str) -> None:
    result = trials(db, "fetch", "--base-url", srv.base_url, "--min-interval", "0", NCT,
                    "--with-history")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "run 1: 1 new, 0 changed, 0 unchanged, 0 failed, 2 past versions\n"
    assert [(d, s) for _, d, _, s in held(db)] == HISTORY


def test_backfill_of_an_unknown_trial(srv: ReplicaServer, db: str) -> None:
    result = trials(db, "history", "NCT09999999", "--backfill", "--base-url", srv.base_url,
                    "--min-interval", "0")
    assert result.exit_code == 4
    assert result.stderr.splitlines() == [
        "trials: error: NCT09999999: no record history: HTTP 404 from "
        f"{srv.base_url}/api/int/studies/NCT09999999/history: NCT number NCT09999999 not found",
        "trials: error: NCT09999999 is not in the catalogue"]


def test_a_version_that_failed_is_fetched_by_the_next_backfill(
        srv: ReplicaServer, db: str) -> None:
    catalogue = Catalogue.open(db)
    api = CtgovApi(HttpClient(min_interval=0, max_attempts=1), srv.base_url)
    problems: list[str] = []
    srv.faults.unavailable(1, path=f"/api/int/studies/{NCT}/history/1")
    run = catalogue.start_run("backfill", {})
    assert backfill(catalogue, api, [NCT], run_id=run, on_problem=problems.append) == 2
    assert len(problems) == 1
    assert problems[0].startswith(f"{NCT} version 1: HTTP 503 from ")
    assert [(v.registry_date, v.registry_version) for v in catalogue.versions(NCT)] == [
        ("2026-01-20", "0"), ("2026-03-02", "2")]
    srv.faults.reset_counts()
    assert backfill(catalogue, api, [NCT], run_id=run, on_problem=problems.append) == 1
    assert history_requests(srv) == [f"/api/int/studies/{NCT}/history",
                                     f"/api/int/studies/{NCT}/history/1"]
    assert [(v.registry_date, v.registry_version) for v in catalogue.versions(NCT)] == [
        ("2026-01-20", "0"), ("2026-02-09", "1"), ("2026-03-02", "2")]
    assert len(problems) == 1
    catalogue.close()


def test_backfill_that_fails_for_a_trial_held_exits_1(srv: ReplicaServer, db: str) -> None:
    assert sync(db, srv, "--ids", NCT).exit_code == 0
    srv.faults.unavailable(99, path=f"/api/int/studies/{NCT}/history")
    result = history(db, srv, "--backfill", "--retries", "0")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"trials: error: {NCT}: no record history: HTTP 503")
    assert "first version from ctgov-json" in result.stdout  # the versions held are listed
    backfill_run = json.loads(trials(db, "runs", "--format", "json").stdout)[0]
    assert (backfill_run["kind"], backfill_run["status"], backfill_run["failed"]) == (
        "backfill", "partial", 1)


def test_a_queued_backfill_takes_its_trials_from_the_catalogue(srv: ReplicaServer, db_url: str,
                                                               tmp_path: Path) -> None:
    assert sync(db_url, srv, "--ids", NCT).exit_code == 0  # the current version only
    ids = tmp_path / "ids.txt"
    ids.write_text(f"# more\n{NCT}\nNCT00000102\n")
    base = ["--base-url", srv.base_url, "--min-interval", "0"]
    queued = trials(db_url, "history", "--backfill", "--queue", "--enqueue-all",
                    "--ids-file", str(ids), "--format", "json", *base)
    assert queued.exit_code == 1  # NCT00000102 has no record history: named, marked failed
    summary = json.loads(queued.stdout)
    assert (summary["trials"], summary["versions"], summary["failed"]) == (2, 2, 1)
    assert summary["queue"] == {"done": 1, "failed": 1}
    assert "NCT00000102: no record history" in queued.stderr
    assert [v[1] for v in held(db_url)] == ["2026-01-20", "2026-02-09", "2026-03-02"]
    again = trials(db_url, "history", "--backfill", "--queue", *base)  # nothing pending
    assert again.exit_code == 0, again.stderr
    assert again.stdout.startswith("run ") and "0 trials backfilled" in again.stdout
    refused = trials(db_url, "history", NCT, "--enqueue-all")
    assert refused.exit_code == 2 and "--backfill --queue" in refused.stderr
