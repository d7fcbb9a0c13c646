"""Many writers on PostgreSQL: saved queries synced one after another, in parallel threads,
and as separate processes; and backfill workers sharing one request pace.

Run: ``python bench/many_writers.py [--studies 2000] [--queries 4] [--interval 0.05]``
(needs ``TRIALS_TEST_POSTGRES_URL``; each case gets a fresh schema, dropped afterwards).

One loopback replica serves ``--studies`` studies (built from the fixtures, as
``bench/sync_replica.py``), a third of them with an older version in their record history.
Sync cases, ``--queries`` saved queries over disjoint slices of the studies: ``sync --all``
(one at a time), ``sync --all --parallel N``, and N ``trials sync NAME`` processes at once.
Backfill case: two ``trials history --backfill --queue`` workers over the trials with
history at ``--min-interval``; prints their combined request rate beside the ceiling
1/interval.  Every case checks no duplicate version.  Figures are wall seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bytecode import compile_project  # noqa: E402
from bench.import_catalogue import fresh_url  # noqa: E402
from bench.sync_replica import studies  # noqa: E402
from harvester.catalogue import Catalogue, workqueue  # noqa: E402
from harvester.catalogue.syncstate import save_query  # noqa: E402
from harvester.serve import ReplicaServer, StudyStore  # noqa: E402

CLI = [sys.executable, str(ROOT / "cli.py")]


def replica(count: int) -> tuple[StudyStore, list[str]]:
    store, with_history = StudyStore(), []
    for i, study in enumerate(studies(count)):
        if i % 3 == 0:
            older = {**study, "protocolSection": {**study["protocolSection"], "statusModule": {
                **study["protocolSection"]["statusModule"],
                "lastUpdatePostDateStruct": {"date": "2014-01-02", "type": "ACTUAL"}}}}
            with_history.append(store.add(older))
            store.add_version(study)
        else:
            store.add(study)
    return store, with_history


def counts(url: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT count(*) FROM version")).scalar_one()
        twice = conn.execute(sa.text(
            "SELECT count(*) FROM (SELECT 1 FROM version GROUP BY nct_id, source, "
            "content_hash HAVING count(*) > 1) d")).scalar_one()
    engine.dispose()
    return int(versions), int(twice)


def run_case(name: str, commands: list[list[str]], url: str) -> float:
    started = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for c in commands]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"{name}: exit {proc.returncode}: {err.decode()[-1000:]}")
    seconds = time.perf_counter() - started
    versions, twice = counts(url)
    print(f"{name:<34} {seconds:7.2f} s   {versions} versions, {twice} stored twice",
          flush=True)
    return seconds


def main() -> None:
    compile_project()  # as a user's installed copy: see bench/bytecode.py
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--interval", type=float, default=0.05)
    args = parser.parse_args()
    if not os.environ.get("TRIALS_TEST_POSTGRES_URL"):
        raise SystemExit("set TRIALS_TEST_POSTGRES_URL")
    print(f"load: {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cores", flush=True)
    store, with_history = replica(args.studies)
    ids = store.ids()
    n = args.queries
    slices = {f"q{i}": ids[i::n] for i in range(n)}
    with ReplicaServer(store) as server, tempfile.TemporaryDirectory() as tmp:
        net = ["--base-url", server.base_url, "--min-interval", "0", "--quiet",
               "--page-size", "200"]
        def one_at_a_time(url: str) -> list[list[str]]:
            return [[*CLI, "sync", "--all", "--db", url, *net]]

        def threads(url: str) -> list[list[str]]:
            return [[*CLI, "sync", "--all", "--parallel", str(n), "--db", url, *net]]

        def processes(url: str) -> list[list[str]]:
            return [[*CLI, "sync", q, "--db", url, *net] for q in slices]

        cases = {"sync --all (one at a time)": one_at_a_time,
                 f"sync --all --parallel {n}": threads,
                 f"{n} sync processes at once": processes}
        for name, commands in cases.items():
            url, engine, schema = fresh_url("postgresql", Path(tmp))
            try:
                with Catalogue.open(url) as catalogue:
                    for q, members in slices.items():
                        save_query(catalogue, q, {"filter.ids": ",".join(members)})
                run_case(name, commands(url), url)
            finally:
                if engine is not None:
                    with engine.begin() as conn:
                        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        url, engine, schema = fresh_url("postgresql", Path(tmp))
        try:
            with Catalogue.open(url) as catalogue:
                workqueue.enqueue(catalogue.engine, with_history, catalogue.clock())
            before = len(server.faults.log)
            worker = [*CLI, "history", "--backfill", "--queue", "--db", url, "--base-url",
                      server.base_url, "--min-interval", str(args.interval)]
            seconds = run_case(f"2 backfill workers, {len(with_history)} trials",
                               [worker, worker], url)
            requests = len(server.faults.log) - before
            print(f"  {requests} requests: {requests / seconds:.1f}/s together "
                  f"(ceiling 1/--min-interval = {1 / args.interval:.1f}/s)")
        finally:
            if engine is not None:
                with engine.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
