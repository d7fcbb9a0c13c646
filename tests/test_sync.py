"""`Syncer` against the loopback replica: complete, incremental, polite, resumable."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.catalogue.lock import writer_lock
from harvester.errors import CatalogueBusyError
from harvester.fetch.backfill import backfill
from harvester.fetch.ctgov import CtgovApi, Page
from harvester.fetch.http import HttpClient
from harvester.fetch.sync import Syncer
from harvester.serve import ReplicaServer, StudyStore
from harvester.serve.store import synthetic
from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
STUDIES = sorted((FIXTURES / "ctgov-v2-json/studies").glob("*.json"))
SMALL = [json.loads(p.read_bytes()) for p in STUDIES if p.stat().st_size < 20_000]


def dated(study: dict[str, Any], day: str) -> dict[str, Any]:
    """A copy of ``study`` whose last update was posted on ``day``."""
    out = copy.deepcopy(study)
    out["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
        "date": day, "type": "ACTUAL"}
    return out


@cache
def generated(count: int, first: int = 90_000_000) -> list[dict[str, Any]]:
    """Real small studies under fresh NCT ids, their updates spread over 2020-2024 (shared:
    copy before changing one)."""
    days = [f"{2020 + i % 5}-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(count)]
    return [dated(s, d) for s, d in zip(synthetic(SMALL, count, first), days, strict=True)]


def api(server: ReplicaServer, **kwargs: Any) -> CtgovApi:
    client = HttpClient(min_interval=0, sleep=lambda seconds: None, **kwargs)
    return CtgovApi(client, server.base_url)


def held(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = set(conn.execute(sa.text("SELECT nct_id FROM trial")).scalars())
    engine.dispose()
    return ids


def version_count(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM version")).scalar_one()
    engine.dispose()
    return int(count)


@pytest.fixture
def replica() -> Iterator[ReplicaServer]:
    with ReplicaServer(StudyStore(generated(120))) as server:
        yield server


def test_a_full_sync_stores_exactly_what_the_search_returns(tmp_path: Path) -> None:
    # Paging does not depend on the database: this one runs on SQLite only.
    db_url = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    store = StudyStore.from_folder(FIXTURES / "ctgov-v2-json")  # every API v2 study we have
    for study in StudyStore.from_folder(FIXTURES / "ctgov-history/api-v2-snapshots"):
        store.add(study)
    corpus = len(store)
    for study in generated(5000):
        store.add(study)
    recruiting = {s["protocolSection"]["identificationModule"]["nctId"] for s in store
                  if s["protocolSection"].get("statusModule", {}).get("overallStatus")
                  == "RECRUITING"}
    with ReplicaServer(store) as server, Catalogue.open(db_url) as cat:
        everything = Syncer(cat, api(server)).run({})
        assert (everything.mode, everything.status) == ("full", "ok")
        assert everything.received == everything.expected == corpus + 5000 == len(store)
        assert everything.pages == 6 and everything.new == len(store)
        assert held(db_url) == set(store.ids())
        some = Syncer(cat, api(server)).run({"filter.overallStatus": "RECRUITING"})
        assert (some.status, some.mode) == ("ok", "full")
        assert some.expected == some.received == some.unchanged == len(recruiting)


def test_incremental_runs_fetch_only_what_changed(db_url: str, replica: ReplicaServer) -> None:
    with Catalogue.open(db_url) as cat:
        first = Syncer(cat, api(replica)).run({})
        assert (first.mode, first.received) == ("full", 120)
        store = replica.store
        changed = store.ids()[:5]
        for nct in changed:
            study = dated(store.get(nct), "2026-11-20")  # type: ignore[arg-type]
            study["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
            store.add_version(study)
        replica.faults.reset_counts()
        second = Syncer(cat, api(replica)).run({})
        days = {s["protocolSection"]["identificationModule"]["nctId"]:
                s["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"]
                for s in generated(120)}
        since = (date.fromisoformat(max(days.values())) - timedelta(days=1)).isoformat()
        overlap = sum(1 for nct, day in days.items() if day >= since and nct not in changed)
        assert overlap >= 1  # the day of overlap re-reads the latest studies
        assert (second.mode, second.since) == ("incremental", since)
        assert (second.received, second.changed, second.unchanged) == (
            5 + overlap, 5, overlap)
        # to the API: one request for the data version, one page, nothing else (plus, below
        # one request a second, robots.txt for its Crawl-delay)
        assert replica.faults.count("/api/v2/") == 2
        assert second.stats["requests"] == 3 == replica.faults.count("/")
        assert {cat.current(n) and cat.record(cat.current(n).id).overall_status  # type: ignore[union-attr]
                for n in changed} == {"TERMINATED"}
        third = Syncer(cat, api(replica)).run({})
        assert (third.since, third.received, third.changed) == ("2026-11-19", 5, 0)


def test_a_storm_of_429_and_503_is_ridden_out_and_counted(db_url: str,
                                                          replica: ReplicaServer) -> None:
    with Catalogue.open(db_url) as cat:
        Syncer(cat, api(replica)).run({})  # the schema is known: the storm hits the pages
        pages = "/api/v2/studies"
        replica.faults.rate_limit(2, retry_after=0.01, path=pages)
        replica.faults.rate_limit(1, path=pages)
        replica.faults.unavailable(2, path=pages)
        replica.faults.unavailable(2, path="/robots.txt")  # unreachable: 1 request a second
        problems: list[str] = []
        summary = Syncer(cat, api(replica), page_size=50,
                         on_problem=problems.append).run({}, full=True)
        assert (summary.status, summary.received, summary.unchanged) == ("ok", 120, 120)
        # robots.txt, a probe: 1 retry then given up; the first page: 5 faults then an answer
        assert (summary.stats["retries"], summary.stats["give_ups"]) == (6, 1)
        assert any("robots.txt unreachable" in p for p in problems)
        assert json.loads(cat.run(summary.run_id)["stats"])["retries"] == 6


def test_a_crashed_sync_resumes_by_date_not_token(db_url: str, replica: ReplicaServer) -> None:
    pages = []

    def crash_after_two(n: int, total: int | None) -> None:
        pages.append(n)
        if len(pages) == 2:
            raise KeyboardInterrupt  # as if killed between two pages

    with Catalogue.open(db_url) as cat:
        with pytest.raises(KeyboardInterrupt):
            Syncer(cat, api(replica), page_size=30, on_progress=crash_after_two).run({})
        assert version_count(db_url) == 60
        replica.store.bump()  # a new data version: old page tokens are worthless
        resumed = Syncer(cat, api(replica), page_size=30).run({})
        assert resumed.resumed and resumed.status == "ok" and resumed.mode == "full"
        assert resumed.received < 120  # it did not start over
        assert resumed.new == 60 and held(db_url) == set(replica.store.ids())
        assert version_count(db_url) == 120  # nothing twice
        statuses = [r["status"] for r in cat.runs()]
        assert statuses == ["ok", "failed"]


def test_a_full_pass_notices_trials_that_left_the_results(db_url: str,
                                                          replica: ReplicaServer) -> None:
    with Catalogue.open(db_url) as cat:
        Syncer(cat, api(replica)).run({})
        gone = replica.store.ids()[10:12]
        for nct in gone:
            replica.store.remove(nct)
        incremental = Syncer(cat, api(replica)).run({})
        assert incremental.disappeared == []  # only a full pass can tell
        full = Syncer(cat, api(replica)).run({}, full=True)
        assert full.disappeared == gone
        assert held(db_url) >= set(gone)  # nothing deleted
        replica.store.add(generated(120)[10])
        Syncer(cat, api(replica)).run({}, full=True)
        with cat.engine.connect() as conn:
            events = conn.execute(sa.text(
                "SELECT nct_id, kind FROM trial_event ORDER BY id")).all()
        assert [tuple(e) for e in events] == [(gone[0], "disappeared"),
                                              (gone[1], "disappeared"),
                                              (gone[0], "reappeared")]


def test_a_short_count_is_reported_not_hidden(db_url: str, replica: ReplicaServer) -> None:
    losing = api(replica)
    pages = losing.pages

    def lose_one_after_the_first_page(*args: Any, **kwargs: Any) -> Iterator[Page]:
        for page in pages(*args, **kwargs):  # the registry loses a study mid-sync
            yield page
            if replica.store.ids()[-1].startswith("NCT9"):
                replica.store.remove(replica.store.ids()[-1])

    losing.pages = lose_one_after_the_first_page  # type: ignore[method-assign]
    with Catalogue.open(db_url) as cat:
        summary = Syncer(cat, losing, page_size=40).run({})
        assert summary.status == "incomplete" and summary.expected == 120
        assert summary.received < 120 and "API counted 120" in (summary.message or "")
        assert cat.run(summary.run_id)["status"] == "incomplete"
        again = Syncer(cat, api(replica)).run({})
        assert again.mode == "full"  # an incomplete pass does not count as a success


def test_two_syncs_never_interleave(db_url: str, replica: ReplicaServer) -> None:
    with Catalogue.open(db_url) as cat, writer_lock(cat.engine):
        other = Catalogue.open(db_url)
        with pytest.raises(CatalogueBusyError):
            Syncer(other, api(replica)).run({})
        other.close()


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_killed_sync_resumes_where_it_stopped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    Catalogue.open(url).close()
    with ReplicaServer(StudyStore(generated(1500))) as server:
        server.faults.slow(0.05, n=10_000, path="/api/v2/studies")
        command = [sys.executable, str(ROOT / "cli.py"), "sync", "--db", url, "--base-url",
                   server.base_url, "--min-interval", "0", "--page-size", "50", "--quiet",
                   "--workers", "2"]
        proc = subprocess.Popen(command, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while version_count(url) < 300:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.02)
        workers = children(proc.pid)
        assert workers  # pages are parsed in worker processes…
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        while alive := [pid for pid in workers if running(pid)]:
            assert time.monotonic() < deadline + 10, f"workers {alive} outlived the sync"
            time.sleep(0.05)  # …which end with it
        killed = version_count(url)
        assert killed % 50 == 0 and killed < 1500  # whole pages only
        server.faults.clear()
        with Catalogue.open(url) as cat:
            resumed = Syncer(cat, api(server), page_size=50).run({})
            assert resumed.resumed and resumed.status == "ok"
            assert resumed.received <= 1500 - killed + 50  # at most one page read again
            assert version_count(url) == len(held(url)) == 1500
            assert [r["status"] for r in cat.runs()] == ["ok", "interrupted"]


def test_the_replica_serves_a_catalogue_as_the_registry_would(db_url: str,
                                                              tmp_path: Path) -> None:
    """A catalogue read back through the replica syncs into another one unchanged."""
    with Catalogue.open(db_url) as source:
        with ReplicaServer(StudyStore.from_folder(FIXTURES / "ctgov-history/api-v2-snapshots")
                           ) as first:
            Syncer(source, api(first)).run({"filter.ids": "NCT06203210"})
            backfill(source, api(first), ["NCT06203210"], run_id=source.start_run("t", {}))
        store = StudyStore.from_catalogue(source)
        assert [v.date for v in store.history("NCT06203210")] == [
            "2026-01-20", "2026-02-09", "2026-03-02"]
        copy_url = f"sqlite:///{tmp_path / 'copy.sqlite'}"
        with ReplicaServer(store) as second, Catalogue.open(copy_url) as copy:
            Syncer(copy, api(second)).run({})
            backfill(copy, api(second), ["NCT06203210"], run_id=copy.start_run("t", {}))
            ours = [source.record(v.id) for v in source.versions("NCT06203210")]
            theirs = [copy.record(v.id) for v in copy.versions("NCT06203210")]
            assert [r.overall_status for r in theirs] == [
                "ACTIVE_NOT_RECRUITING", "RECRUITING", "RECRUITING"]
            assert theirs == ours


def test_pages_parsed_in_workers_store_what_one_process_stores(tmp_path: Path) -> None:
    """The overlapped sync (download ahead, parse in workers, store in order) and the
    one-process sync leave the same catalogue and the same resume point."""
    contents = []
    with ReplicaServer(StudyStore(generated(120))) as server:
        for workers in (1, 2):
            url = f"sqlite:///{tmp_path / f'w{workers}.sqlite'}"
            with Catalogue.open(url) as cat:
                summary = Syncer(cat, api(server), page_size=25, workers=workers).run({})
                assert (summary.status, summary.pages, summary.new) == ("ok", 5, 120)
            engine = sa.create_engine(url)
            with engine.connect() as conn:
                contents.append((
                    conn.execute(sa.text("SELECT nct_id, content_hash, run_id FROM version "
                                         "ORDER BY id")).all(),
                    conn.execute(sa.text("SELECT high_water, resume FROM sync_state")).all(),
                    conn.execute(sa.text("SELECT count(*) FROM version_facet")).all()))
            engine.dispose()
    assert contents[0] == contents[1]


@pytest.mark.parametrize(("studies", "page_size", "pools"), [(20, 1000, 0), (120, 25, 1),
                                                             (120, 120, 0)])
def test_workers_start_only_when_the_first_page_says_more_follow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, studies: int, page_size: int,
        pools: int) -> None:
    """A first sync whose answer fits one page is parsed here: starting worker processes
    for it cost two interpreters for nothing (every new saved query paid it).  A count
    above the page's starts them (a full page whose count says it is all: not); either way
    the catalogue holds every study.  The workers are nice: the main process, which stores
    every page in order, gets the CPU whenever it is ready."""
    from harvester.fetch import sync as sync_module

    started: list[int] = []

    def counted(workers: int, **options: Any) -> Any:
        started.append(workers)
        assert options == {"nice": True}  # the storing in the main process goes first
        return process_pool(workers, **options)

    process_pool = sync_module.process_pool
    monkeypatch.setattr(sync_module, "process_pool", counted)
    with ReplicaServer(StudyStore(generated(studies))) as server, \
            Catalogue.open(f"sqlite:///{tmp_path / 'c.sqlite'}") as cat:
        summary = Syncer(cat, api(server), page_size=page_size, workers=2).run({})
        assert (summary.status, summary.new) == ("ok", studies)
        assert held(f"sqlite:///{tmp_path / 'c.sqlite'}") == {
            s["protocolSection"]["identificationModule"]["nctId"] for s in generated(studies)}
    assert started == [2] * pools


def state(cat: Catalogue) -> Any:
    from harvester.catalogue.syncstate import load_state, query_key

    found = load_state(cat, query_key({}))
    return found and (found.high_water, found.resume)


def test_studies_received_before_byte_for_byte_are_not_parsed_again(
        db_url: str, replica: ReplicaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from harvester.fetch import sync as sync_module

    with Catalogue.open(db_url) as cat:
        first = Syncer(cat, api(replica), workers=1).run({})
        before = state(cat)
        parsed: list[int] = []
        real = sync_module.prepare_page

        def counting(base: str, number: int, studies: list[Any]) -> Any:
            parsed.extend(i for i, _, _ in studies)
            return real(base, number, studies)

        monkeypatch.setattr(sync_module, "prepare_page", counting)
        nct = replica.store.ids()[7]
        study = copy.deepcopy(replica.store.get(nct))
        assert study is not None
        study["protocolSection"]["identificationModule"]["briefTitle"] = "Retitled"
        replica.store.add_version(study)
        again = Syncer(cat, api(replica), workers=1).run({}, full=True)
        assert (again.status, again.received, again.new, again.changed, again.unchanged) == (
            "ok", 120, 0, 1, 119)
        assert len(parsed) == 1  # only the changed study
        assert again.disappeared == []  # the others count as seen in this pass
        assert cat.record(cat.current(nct).id).brief_title == "Retitled"  # type: ignore[union-attr]
        assert state(cat) == before  # the same high-water mark: the known studies' dates count
        assert cat.run(again.run_id)["unchanged"] == 119 and first.new == 120
