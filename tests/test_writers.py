"""Many writers on PostgreSQL: syncs of overlapping saved queries, an import and two backfill
workers, as separate processes at once against the loopback replica, store every version
once and account for every run (skipped without ``TRIALS_TEST_POSTGRES_URL``)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue, workqueue
from harvester.catalogue.lock import lock_holder, writer_lock
from harvester.catalogue.syncstate import query_key, save_query
from harvester.errors import CatalogueBusyError
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import empty_catalogue
from tests.test_chaos import duplicates
from tests.test_sync import dated, generated

ROOT = Path(__file__).resolve().parent.parent
COUNT = 240


@pytest.fixture
def pg_url(tmp_path: Path) -> Any:
    with empty_catalogue("postgresql", tmp_path) as url:
        yield url


def replica() -> tuple[StudyStore, set[str]]:
    """``COUNT`` studies; every third has an older version in its record history."""
    store = StudyStore()
    with_history = set()
    for i, study in enumerate(generated(COUNT)):
        if i % 3 == 0:
            older = dated(study, "2019-06-01")
            older["protocolSection"]["identificationModule"]["briefTitle"] += " (draft)"
            nct = store.add(older)
            store.add_version(study)
            with_history.add(nct)
        else:
            store.add(study)
    return store, with_history


def cli(url: str, *args: str) -> list[str]:
    return [sys.executable, str(ROOT / "cli.py"), args[0], "--db", url, *args[1:]]


def rows(url: str, sql: str) -> list[Any]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = list(conn.execute(sa.text(sql)).mappings())
    engine.dispose()
    return found


def test_syncs_an_import_and_backfills_at_once_store_each_version_once(
        pg_url: str, tmp_path: Path) -> None:
    store, with_history = replica()
    ids = store.ids()
    with Catalogue.open(pg_url) as catalogue:  # overlapping saved queries
        save_query(catalogue, "first", {"filter.ids": ",".join(ids[:140])})
        save_query(catalogue, "second", {"filter.ids": ",".join(ids[100:])})
        save_query(catalogue, "middle", {"filter.ids": ",".join(ids[60:200])})
        save_query(catalogue, "everything", {})
        workqueue.enqueue(catalogue.engine, sorted(with_history), catalogue.clock())
    folder = tmp_path / "bulk"  # the same studies as files, for an import beside the syncs
    folder.mkdir()
    for study in generated(COUNT)[::2]:
        nct = study["protocolSection"]["identificationModule"]["nctId"]
        (folder / f"{nct}.json").write_text(json.dumps(study))
    with ReplicaServer(store) as server:
        net = ["--base-url", server.base_url, "--min-interval", "0"]
        commands = [
            cli(pg_url, "sync", "--all", "--parallel", "3", "--page-size", "20", "--quiet",
                *net, "--wait", "60"),
            cli(pg_url, "sync", "everything", "--full", "--page-size", "15", "--quiet", *net,
                "--wait", "60"),
            cli(pg_url, "history", "--backfill", "--queue", "--format", "json", *net),
            cli(pg_url, "history", "--backfill", "--queue", "--format", "json", *net),
            cli(pg_url, "import", str(folder), "--batch-size", "10", "--wait", "60"),
        ]
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for c in commands]
        results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for command, (code, _, err) in zip(commands, results, strict=True):
        assert code == 0, f"{command[2:4]}: {err.decode()[-2000:]}"
    # Each backfill worker took its own trials: together every queued one, none twice.
    workers = [json.loads(out) for _, out, _ in results[2:4]]
    assert sum(w["trials"] for w in workers) == len(with_history)
    queue = rows(pg_url, "SELECT state, run_id FROM backfill_queue")
    assert {q["state"] for q in queue} == {"done"} and len(queue) == len(with_history)
    assert {q["run_id"] for q in queue} == {w["run"] for w in workers if w["trials"]}

    # No duplicate and no lost version: each study's record once, the older ones too.
    assert duplicates(pg_url) == 0
    versions = rows(pg_url, "SELECT nct_id, run_id, registry_date FROM version")
    assert len(versions) == COUNT + len(with_history)
    assert {v["nct_id"] for v in versions} == set(ids)
    olds = {v["nct_id"] for v in versions if v["registry_date"] == "2019-06-01"}
    assert olds == with_history
    # Each trial points to its latest version.
    stale = rows(pg_url, "SELECT t.nct_id FROM trial t JOIN version v ON v.id = "
                         "t.current_version_id WHERE v.registry_date = '2019-06-01'")
    assert stale == [] and len(rows(pg_url, "SELECT nct_id FROM trial")) == COUNT

    # Every run finished, and its counts match what it stored.
    runs = rows(pg_url, "SELECT * FROM run ORDER BY id")
    assert {r["status"] for r in runs} == {"ok"}, [(r["kind"], r["status"]) for r in runs]
    stored_by: dict[int, int] = {}
    for v in versions:
        stored_by[v["run_id"]] = stored_by.get(v["run_id"], 0) + 1
    for run in runs:
        assert run["new"] + run["changed"] == stored_by.get(run["id"], 0), run
    assert sum(stored_by.values()) == len(versions) and None not in stored_by
    (batch,) = [r for r in runs if r["kind"] == "batch"]
    in_batch = [r for r in runs if r["batch_id"] == batch["id"]]
    assert sorted(r["query_name"] for r in in_batch) == ["everything", "first", "middle",
                                                         "second"]
    for run in [r for r in runs if r["kind"] == "sync"]:
        stats = json.loads(run["stats"])
        assert stats["received"] == (run["new"] + run["changed"] + run["unchanged"]
                                     + run["failed"]) == stats["expected"], run
    kinds = sorted(r["kind"] for r in runs)
    assert kinds.count("sync") == 5 and kinds.count("import") == 1


def test_the_same_query_is_not_synced_twice_at_once(pg_url: str) -> None:
    key = query_key({"query.cond": "asthma"})
    with Catalogue.open(pg_url) as catalogue, Catalogue.open(pg_url) as other:
        with catalogue.session.query_lock(key, "'asthma'"):
            for session in (other.session, catalogue.session):  # another process, a thread
                busy = pytest.raises(CatalogueBusyError,
                                     match="another process is syncing 'asthma'")
                with busy, session.query_lock(key, "'asthma'", wait=0.3):
                    pass
            with other.session.query_lock(query_key({"query.cond": "gout"}), "'gout'"):
                pass  # another query: free
        with other.session.query_lock(key, "'asthma'"):
            pass  # released


def test_writers_share_the_lock_and_maintenance_waits_for_them(pg_url: str) -> None:
    with Catalogue.open(pg_url) as catalogue:
        engine = catalogue.engine
        with writer_lock(engine, shared=True), writer_lock(engine, shared=True):
            holder = lock_holder(engine)
            assert holder is not None and holder.others == 1
            assert holder.describe().endswith("(and 1 other writer)")
            with pytest.raises(CatalogueBusyError, match="another import or sync"), \
                    writer_lock(engine):  # reparse, index rebuilds: alone
                pass
        with writer_lock(engine), pytest.raises(CatalogueBusyError), \
                writer_lock(engine, shared=True):
            pass


def test_backfill_workers_keep_one_pace_between_them(pg_url: str) -> None:
    with Catalogue.open(pg_url) as first, Catalogue.open(pg_url) as second:
        paces = [workqueue.SharedPace(first.engine), workqueue.SharedPace(second.engine)]
        started = time.monotonic()
        waits = [paces[i % 2]("https://example.org", 1.0) for i in range(6)]
        elapsed = time.monotonic() - started
        # Six reservations made at once: one slot a second, whichever worker made each.
        for earlier, later in itertools.pairwise(waits):
            assert 1.0 - elapsed - 0.01 <= later - earlier <= 1.01
        assert waits[0] < 0.1 + elapsed
        waits2 = paces[0]("https://other.example.org", 1.0)  # another origin: its own pace
        assert waits2 < 0.1


def test_a_backfill_worker_killed_mid_trial_leaves_it_to_the_next(pg_url: str) -> None:
    store, with_history = replica()
    with Catalogue.open(pg_url) as catalogue:
        workqueue.enqueue(catalogue.engine, sorted(with_history)[:12], catalogue.clock())
    with ReplicaServer(store) as server:
        slow = cli(pg_url, "history", "--backfill", "--queue", "--base-url", server.base_url,
                   "--min-interval", "0.1")
        proc = subprocess.Popen(slow, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not rows(pg_url, "SELECT 1 FROM backfill_queue WHERE state = 'done'"):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.15)  # mid-way through the next trial
        proc.kill()
        proc.wait()
        left = rows(pg_url, "SELECT nct_id FROM backfill_queue WHERE state = 'pending'")
        assert 0 < len(left) < 12  # the trial it held is pending again, not lost
        fast = cli(pg_url, "history", "--backfill", "--queue", "--format", "json",
                   "--base-url", server.base_url, "--min-interval", "0")
        done = subprocess.run(fast, capture_output=True, timeout=120, check=True)
    assert json.loads(done.stdout)["trials"] == len(left)
    assert {q["state"] for q in rows(pg_url, "SELECT state FROM backfill_queue")} == {"done"}
    assert duplicates(pg_url) == 0
    assert len(rows(pg_url, "SELECT id FROM version")) == 24  # two versions of each of 12
    statuses = sorted(r["status"] for r in rows(pg_url, "SELECT status FROM run"))
    assert statuses == ["interrupted", "ok"]  # the killed worker's run, marked by the next
