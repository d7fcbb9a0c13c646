"""Storing alone: prepared records in memory → the catalogue, in batches, one process.

Run: ``python bench/store_only.py [--records 5000] [--batch 100] [--db sqlite,postgresql]
[--repeat 1] [--profile]``.

Parses and prepares ``--records`` studies from the fixtures' API v2 studies (repeated under
fresh NCT ids, as ``bench/import_catalogue.py`` does) before anything is timed, then stores
them into an empty catalogue in batches of ``--batch`` (``Catalogue.add``, one transaction
each, as an import's main process does), and once more (all unchanged).  Reports the wall
time and CPU seconds of this process and, on PostgreSQL, of its server backend (read from
``/proc``, so the server must run on this machine), with the load average: what the main
process of `trials import` and `trials sync` spends per record once the workers are done.

PostgreSQL uses ``TRIALS_TEST_POSTGRES_URL`` (a fresh schema, dropped afterwards).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_catalogue import fresh_url  # noqa: E402
from bench.parse_json import corpus  # noqa: E402


def prepared(records: int) -> list[object]:
    """``records`` prepared versions under fresh NCT ids (the workers' output)."""
    from harvester.ingest.preparing import Entry, prepare_payloads

    bases = [json.loads(data) for data in corpus()]
    entries: list[Entry] = []
    for i in range(records):
        study = bases[i % len(bases)]
        study["protocolSection"]["identificationModule"]["nctId"] = f"NCT9{i:07d}"
        data = json.dumps(study, separators=(",", ":")).encode()
        entries.append((f"NCT9{i:07d}.json", data, hashlib.sha256(data).hexdigest(), None,
                        None))
    batch = prepare_payloads(entries, "ctgov-json", 128 * 2**20)
    assert not batch.problems, batch.problems[:3]
    return list(batch.versions)


def _backend_cpu(pid: int | None) -> float:
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def store(url: str, items: list[object], batch: int) -> dict[str, float]:
    import sqlalchemy as sa

    from harvester.catalogue import Catalogue

    with Catalogue.open(url) as catalogue:
        catalogue.engine.dispose()
        # One connection for the whole run (the pool keeps it), so one server backend.
        catalogue.engine.pool = sa.pool.SingletonThreadPool(
            catalogue.engine.pool._creator)
        with catalogue.engine.connect() as conn:
            pid = (conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                   if conn.dialect.name == "postgresql" else None)
        run_id = catalogue.start_run("import", {})
        figures = {}
        for label in ("new", "unchanged"):
            wall, cpu, server = time.perf_counter(), time.process_time(), _backend_cpu(pid)
            outcomes: list[str] = []
            for start in range(0, len(items), batch):
                outcomes += catalogue.add(items[start:start + batch],  # type: ignore[arg-type]
                                          run_id=run_id)
            figures[f"{label}_wall"] = time.perf_counter() - wall
            figures[f"{label}_cpu"] = time.process_time() - cpu
            figures[f"{label}_server"] = _backend_cpu(pid) - server
            assert outcomes.count(label) == len(items), (label, outcomes[:3])
        catalogue.finish_run(run_id, "ok")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the first new-records pass (top 25 by own time)")
    args = parser.parse_args()
    items = prepared(args.records)
    print(f"prepared {len(items):,} records; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in [k for k in args.db.split(",") if k != "none"]:  # none: prepare only
            for _ in range(args.repeat):
                url, engine, schema = fresh_url(kind, Path(tmp))
                try:
                    if args.profile:
                        import cProfile
                        import pstats

                        profile = cProfile.Profile()
                        profile.enable()
                    figures = store(url, items, args.batch)
                    if args.profile:
                        profile.disable()
                        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
                finally:
                    if engine is not None:
                        import sqlalchemy as sa

                        with engine.begin() as conn:
                            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                        engine.dispose()
                n = len(items)
                print(f"{kind:10} new: {figures['new_wall']:.2f} s wall "
                      f"({n / figures['new_wall']:,.0f}/s), CPU {figures['new_cpu']:.2f} s "
                      f"here + {figures['new_server']:.2f} s server · unchanged: "
                      f"{figures['unchanged_wall']:.2f} s ({n / figures['unchanged_wall']:,.0f}/s)"
                      f", CPU {figures['unchanged_cpu']:.2f} + "
                      f"{figures['unchanged_server']:.2f} s · load "
                      f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
