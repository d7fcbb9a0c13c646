"""The no-change sync's light path (harvester/fetch/quicksync.py): a nightly sync that finds
nothing new records, prints and exits exactly as the full path does, and hands over to the full
path — without asking the server twice — as soon as there is something to store."""

from __future__ import annotations

import copy
import re
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import Result

import harvester.fetch.quickbatch as quickbatch
import harvester.fetch.quicksync as quicksync
from harvester.commands import syncing
from harvester.fetch import http, quickhttp
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import FIXTURES, trials
from tests.corpus import fixture_studies

STUDIES = FIXTURES / "ctgov-v2-json/studies"
TIMESTAMP = "2026-08-14T09:00:05"

#: Columns that hold a moment or a duration: they differ between any two runs.
_MOMENTS = {"created_at", "started_at", "heartbeat_at", "finished_at", "last_success_at",
            "updated_at", "changed_at", "fetched_at", "at"}
_TIMINGS = {"seconds", "parse_seconds", "store_seconds", "http_seconds", "throttle_seconds",
            "backoff_seconds"}


@pytest.fixture
def srv() -> Iterator[ReplicaServer]:
    with ReplicaServer(StudyStore.from_folder(STUDIES, data_timestamp=TIMESTAMP)) as server:
        yield server


class _Spy:
    """Records what the light path decided."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, off: bool = False) -> None:
        self.outcomes: list[Any] = []
        real = quicksync.quick_sync

        def spy(*args: Any, **kwargs: Any) -> Any:
            outcome = None if off else real(*args, **kwargs)
            self.outcomes.append(outcome)
            return outcome

        monkeypatch.setattr(quicksync, "quick_sync", spy)


def sync(db: str, server: ReplicaServer, *args: str) -> Result:
    return trials(db, "sync", "--base-url", server.base_url, "--min-interval", "0",
                  "--no-progress", *args)


def state(db: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table a sync writes, without moments and durations."""
    conn = sqlite3.connect(db.removeprefix("sqlite:///"))
    conn.row_factory = sqlite3.Row
    tables = {}
    try:
        for table, order in (("run", "id"), ("sync_state", "query_key"),
                             ("query_member", "query_key, nct_id"),
                             ("schema_snapshot", "id"), ("trial_event", "id"),
                             ("saved_query", "name"), ("version", "id")):
            rows = []
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}"):
                values = {k: row[k] for k in row.keys()  # noqa: SIM118 (a Row)
                          if k not in _MOMENTS}
                if table == "run" and values["stats"]:
                    stats = msgspec.json.decode(values["stats"])
                    values["stats"] = {k: v for k, v in stats.items() if k not in _TIMINGS}
                if table == "version":
                    values = {"id": values["id"], "nct_id": values["nct_id"]}
                rows.append(tuple(sorted(values.items(), key=lambda kv: kv[0])))
            tables[table] = rows
    finally:
        conn.close()
    return tables


def _printed(text: str) -> str:
    """Output without durations (``0.0 s``; JSON seconds)."""
    text = re.sub(r"\d+\.\d s$", "… s", text, flags=re.MULTILINE)
    return re.sub(rf'"({"|".join(_TIMINGS)})":[0-9.e-]+', r'"\1":…', text)


def twins(tmp_path: Path, server: ReplicaServer, *args: str) -> tuple[str, str]:
    """Two catalogues synced alike: one for the light path, one for the full path."""
    urls = []
    for name in ("light", "full"):
        folder = tmp_path / name
        folder.mkdir()
        url = f"sqlite:///{folder / 'catalogue.sqlite'}"
        result = sync(url, server, *args)
        assert result.exit_code == 0, result.stderr
        urls.append(url)
    return urls[0], urls[1]


@pytest.mark.parametrize(("first", "again"), [
    ((), ()),
    (("--status", "RECRUITING", "--save", "rec"), ("rec",)),
    (("--ids", "NCT00189228,NCT00276445,NCT09999999", "--save", "ids"),
     ("ids", "--format", "json")),
    (("--cond", "cancer"), ("--cond", "cancer", "--quiet")),
    (("--cond", "cancer", "--save", "c"), ("--cond", "cancer", "--save", "c")),
])
def test_a_no_change_sync_records_and_prints_what_the_full_path_does(
        srv: ReplicaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        first: tuple[str, ...], again: tuple[str, ...]) -> None:
    light, full = twins(tmp_path, srv, *first)
    with monkeypatch.context() as patch:
        spy = _Spy(patch)
        fast = sync(light, srv, *again)
    assert [type(o) for o in spy.outcomes] == [quicksync.Done]
    with monkeypatch.context() as patch:
        spy = _Spy(patch, off=True)
        slow = sync(full, srv, *again)
    assert spy.outcomes == [None]
    assert (fast.exit_code, _printed(fast.stdout), fast.stderr) == (
        slow.exit_code, _printed(slow.stdout), slow.stderr)
    assert fast.exit_code == 0
    assert state(light) == state(full)
    summary = state(light)["run"][-1]
    assert ("status", "ok") in summary and ("new", 0) in summary


def _changed(server: ReplicaServer) -> str:
    """Post a new version of the study updated last (so in the incremental window)."""
    studies = fixture_studies()
    nct = max(studies, key=lambda n: studies[n]["protocolSection"]["statusModule"]
              ["lastUpdatePostDateStruct"]["date"])
    study = copy.deepcopy(studies[nct])
    study["protocolSection"]["identificationModule"]["briefTitle"] += " (amended)"
    server.store.add_version(study)
    return nct


def _requests(server: ReplicaServer) -> list[str]:
    return [path for path, _ in server.faults.log]


def test_work_found_is_handed_over_without_asking_twice(
        srv: ReplicaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    assert sync(db, srv).exit_code == 0
    _changed(srv)
    srv.faults.reset_counts()
    srv.faults.reset_counts()
    spy = _Spy(monkeypatch)
    result = sync(db, srv, "--format", "json")
    assert result.exit_code == 0, result.stderr
    (head,) = spy.outcomes
    assert isinstance(head, quicksync.Head) and head.studies
    summary = msgspec.json.decode(result.stdout)
    assert (summary["changed"], summary["new"], summary["requests"]) == (1, 0, 3)
    assert _requests(srv) == ["/robots.txt", "/api/v2/version", "/api/v2/studies"]
    # and the next night, nothing new: the light path again
    assert sync(db, srv).exit_code == 0
    assert isinstance(spy.outcomes[-1], quicksync.Done)


def test_a_new_data_version_is_checked_by_the_full_path(
        srv: ReplicaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    assert sync(db, srv).exit_code == 0
    srv.store.bump()
    srv.faults.reset_counts()
    spy = _Spy(monkeypatch)
    result = sync(db, srv, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert isinstance(spy.outcomes[0], quicksync.Head)
    summary = msgspec.json.decode(result.stdout)
    assert summary["schema"]["data_timestamp"] != summary["schema"]["previous_timestamp"]
    assert _requests(srv).count("/api/v2/version") == 1
    assert _requests(srv).count("/api/v2/studies") == 1


def test_a_failed_request_is_counted_and_retried_by_the_full_path(
        srv: ReplicaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    assert sync(db, srv).exit_code == 0
    srv.faults.unavailable(1, retry_after=0, path="/api/v2/studies")
    spy = _Spy(monkeypatch)
    result = sync(db, srv, "--format", "json")
    assert result.exit_code == 0, result.stderr
    head = spy.outcomes[0]
    assert isinstance(head, quicksync.Head) and head.studies is None
    summary = msgspec.json.decode(result.stdout)
    assert (summary["status"], summary["requests"], summary["retries"]) == ("ok", 4, 1)


def test_a_first_pass_and_a_full_one_take_the_full_path(
        srv: ReplicaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    spy = _Spy(monkeypatch)
    assert sync(db, srv).exit_code == 0  # no catalogue yet
    assert sync(db, srv, "--full").exit_code == 0  # not asked
    assert sync(db, srv, "--cond", "cancer").exit_code == 0  # a first pass
    assert spy.outcomes == [None, None]


def test_the_light_modules_agree_with_the_full_ones() -> None:
    from harvester.commands._selection import STATUS
    from harvester.fetch.sync import OVERLAP

    assert (STATUS.help, http.PROBE_TIMEOUT, OVERLAP) == (
        syncing.STATUS_HELP, quickhttp.PROBE_TIMEOUT, quicksync.OVERLAP)
    assert http.HttpClient(min_interval=0).max_retry_after == quickhttp.MAX_RETRY_AFTER


def test_the_page_request_is_the_full_path_s(srv: ReplicaServer, tmp_path: Path) -> None:
    """The light path asks for the page exactly as ``CtgovApi.pages`` does."""
    db = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    assert sync(db, srv, "--status", "RECRUITING").exit_code == 0
    srv.faults.reset_counts()
    assert sync(db, srv, "--status", "RECRUITING").exit_code == 0
    light = [q for p, q in srv.faults.log if p == "/api/v2/studies"]
    srv.faults.reset_counts()
    assert sync(db, srv, "--status", "RECRUITING", "--full").exit_code == 0
    full = [q for p, q in srv.faults.log if p == "/api/v2/studies"]
    assert len(light) == 1 and len(full) == 1
    asked = dict(urllib.parse.parse_qsl(light[0]))
    assert asked.pop("filter.advanced").startswith("AREA[LastUpdatePostDate]RANGE[")
    assert asked == dict(urllib.parse.parse_qsl(full[0]))


#: Saved queries of a batch, by name: one the change below touches (``c``), three it does not.
BATCH = {"a": ("--ids", "NCT00189228,NCT00276445"), "b": ("--status", "RECRUITING"),
         "c": ("--ids", "NCT07011550,NCT06692738"), "d": ("--status", "COMPLETED")}


class _BatchSpy:
    """Records what the light path of ``sync --all`` made of each query (off: not tried)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, off: bool = False) -> None:
        self.outcomes: list[Any] = []
        self.handed: list[quickbatch.HandOver] = []
        one, hand = quickbatch._Batch._one, quickbatch.quick_batch

        def spy_one(batch: Any, *args: Any) -> Any:
            self.outcomes.append(one(batch, *args))
            return self.outcomes[-1]

        def spy_batch(*args: Any, hand_over: Any, **kwargs: Any) -> Any:
            def handing(batch: quickbatch.HandOver) -> int:
                self.handed.append(batch)
                return int(hand_over(batch))

            return None if off else hand(*args, hand_over=handing, **kwargs)

        monkeypatch.setattr(quickbatch._Batch, "_one", spy_one)
        monkeypatch.setattr(quickbatch, "quick_batch", spy_batch)


def _reject(url: str) -> None:
    """Save a query the API answers with 400 (as no ``--save`` would: it was never synced)."""
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    with conn:
        conn.execute("INSERT INTO saved_query (name, params, created_at, updated_at) VALUES "
                     "('e-rejected', '{\"bogus\":\"1\"}', '2026-01-01', '2026-01-01')")
    conn.close()


def _kinds(outcomes: list[Any]) -> list[str]:
    return [type(o).__name__ if not isinstance(o, quicksync.Head) or o.studies is not None
            else "Head (nothing fetched)" for o in outcomes]


@pytest.mark.parametrize(("case", "light_path"), [
    ("nothing new", ["Done"] * 4),
    ("changes and a query the API rejects", ["Done", "Done", "Head"]),
    ("a query the API rejects", ["Done"] * 4 + ["Head (nothing fetched)"]),
    ("a failed request", ["Head (nothing fetched)"]),
])
def test_a_batch_records_prints_and_exits_as_the_full_path_does(
        srv: ReplicaServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str,
        light_path: list[str]) -> None:
    """``sync --all``: each saved query in turn on the light path while it finds nothing new;
    from the first one with work (or a failure), the full path, in the same batch."""
    light, full = (f"sqlite:///{tmp_path / name}.sqlite" for name in ("light", "full"))
    for url in (light, full):
        for name, search in BATCH.items():
            assert sync(url, srv, *search, "--save", name).exit_code == 0
    rejected = "rejects" in case
    if case.startswith("changes"):
        _changed(srv)
    if rejected:
        for url in (light, full):
            _reject(url)
    results, requests = [], []
    for url, off in ((light, False), (full, True)):
        if case == "a failed request":
            srv.faults.unavailable(1, retry_after=0, path="/api/v2/studies")
        srv.faults.reset_counts()
        with monkeypatch.context() as patch:
            spy = _BatchSpy(patch, off=off)
            results.append(sync(url, srv, "--all", "--format", "json"))
        requests.append(srv.faults.log)
        if not off:
            assert _kinds(spy.outcomes) == light_path
            assert len(spy.handed) == (light_path != ["Done"] * 4)
    fast, slow = results
    assert (fast.exit_code, _printed(fast.stdout), fast.stderr) == (
        slow.exit_code, _printed(slow.stdout), slow.stderr)
    assert requests[0] == requests[1]
    assert state(light) == state(full)
    runs = state(light)["run"]
    batch = dict(runs[-6 if rejected else -5])
    assert batch["kind"] == "batch"
    if rejected:
        assert fast.exit_code == 3
        assert "sync e-rejected: could not run: HTTP 400" in fast.stderr
        assert (batch["status"], batch["message"]) == (
            "failed", "4 of 5 queries ok; could not run: e-rejected")
        changed = [msgspec.json.decode(line) for line in fast.stdout.splitlines()]
        assert [(s["name"], s["changed"]) for s in changed] == [
            ("a", 0), ("b", 0), ("c", int(case.startswith("changes"))), ("d", 0)]
    else:
        assert fast.exit_code == 0 and fast.stderr == ""
        assert (batch["status"], batch["message"]) == ("ok", "4 of 4 queries ok")
    syncs = [dict(r) for r in runs if dict(r)["batch_id"] == batch["id"]]
    assert [r["query_name"] for r in syncs] == sorted(BATCH) + ["e-rejected"] * rejected


def test_a_batch_asks_robots_txt_once_and_each_run_counts_its_own_requests(
        srv: ReplicaServer, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    for name, search in BATCH.items():
        assert sync(db, srv, *search, "--save", name).exit_code == 0
    srv.faults.reset_counts()
    result = sync(db, srv, "--all", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert _requests(srv) == ["/robots.txt"] + [
        "/api/v2/version", "/api/v2/studies"] * 4
    printed = [msgspec.json.decode(line) for line in result.stdout.splitlines()]
    assert [s["requests"] for s in printed] == [3, 2, 2, 2]
