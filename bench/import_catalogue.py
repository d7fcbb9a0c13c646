"""Import throughput into SQLite and PostgreSQL, the same import repeated, and peak memory.

Run: ``python bench/import_catalogue.py [--records 50000] [--db sqlite,postgresql]``.

Builds a bulk zip shaped like ClinicalTrials.gov's ``ctg-studies.json.zip`` (one
``NCT….json`` per study in shard folders) from every API v2 study in ``fixtures/``, repeated
under fresh NCT ids, then for each database and each size (a fifth of ``--records``, and all
of it): imports it into an empty catalogue (all new), imports it again (all unchanged), and
reports records per second and the peak RSS of the importing process and of its largest
parsing worker (a large import parses on every core).  Each import runs in its own
process so that its peak memory is its own.  Targets: ≥ 2,000 new records/s and ≥ 20,000
unchanged records/s into SQLite; peak memory under 300 MB at 50,000 records, flat in size.
Each new-records rate is also given as a ratio to the floor: ``json.loads`` alone on one core
over the same (inflated) payloads, measured in the same run (targets: ≥ 0.8 on SQLite, ≥ 0.5
on PostgreSQL, with the default workers).

PostgreSQL uses ``TRIALS_TEST_POSTGRES_URL`` (a fresh schema, dropped afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bytecode import compile_project  # noqa: E402
from bench.peaks import WorkerPeaks, own_peak_mb  # noqa: E402  (standard library only)

if TYPE_CHECKING:
    import sqlalchemy as sa

# The import's parsing workers are spawned: each runs this module again as its ``__main__``
# (as ``trials import``'s workers run the ``trials`` script), so it imports nothing heavy at
# the top — SQLAlchemy and the parsers there would be CPU that ``trials import`` never spends.


def build_zip(path: Path, records: int) -> float:
    """A ctg-studies.json.zip of ``records`` studies; returns the mean study size in bytes."""
    from bench.parse_json import corpus

    bases = [json.loads(data) for data in corpus()]
    total = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(records):
            study = bases[i % len(bases)]
            nct_id = f"NCT9{i:07d}"
            study["protocolSection"]["identificationModule"]["nctId"] = nct_id
            data = json.dumps(study, separators=(",", ":")).encode()
            total += len(data)
            zf.writestr(f"{nct_id[:7]}xxxx/{nct_id}.json", data)
    return total / records


def json_floor(path: Path) -> tuple[float, float]:
    """Records per second of ``json.loads`` alone, on one core, over the zip's payloads: by
    the clock and by CPU time (the second steadier on a busy machine)."""
    with zipfile.ZipFile(path) as zf:
        payloads = [zf.read(info) for info in zf.infolist()]
    started, cpu = time.perf_counter(), time.process_time()
    for data in payloads:
        json.loads(data)
    return (len(payloads) / (time.perf_counter() - started),
            len(payloads) / (time.process_time() - cpu))


def child(url: str, archive: str, workers: str) -> None:
    """Import ``archive`` into ``url`` and print seconds, counts and peak RSS as JSON."""
    from harvester.catalogue import Catalogue
    from harvester.ingest.importer import Importer

    with Catalogue.open(url) as catalogue, WorkerPeaks() as peaks:
        start = time.perf_counter()
        summary = Importer(catalogue, workers=int(workers) or None).run([archive])
        seconds = time.perf_counter() - start
    own, workers_used = (resource.getrusage(resource.RUSAGE_SELF),
                         resource.getrusage(resource.RUSAGE_CHILDREN))
    cpu = sum(u.ru_utime + u.ru_stime for u in (own, workers_used))  # process and workers
    # Peaks as the processes' own (bench/peaks.py: ru_maxrss would start at this bench's).
    print(json.dumps({"seconds": seconds, "new": summary.new, "unchanged": summary.unchanged,
                      "failed": summary.failed, "peak_mb": own_peak_mb(),
                      "worker_mb": peaks.largest_mb, "cpu": cpu}))


def measure(url: str, archive: Path, workers: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", url, str(archive), str(workers)],
                         check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def fresh_url(kind: str, folder: Path) -> tuple[str, sa.Engine | None, str | None]:
    import sqlalchemy as sa

    if kind == "sqlite":
        path = folder / f"bench-{uuid.uuid4().hex[:8]}.sqlite"
        return f"sqlite:///{path}", None, None
    base = os.environ.get("TRIALS_TEST_POSTGRES_URL")
    if not base:
        raise SystemExit("set TRIALS_TEST_POSTGRES_URL to benchmark PostgreSQL")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", engine, schema


def main() -> None:
    compile_project()  # as a user's installed copy: see bench/bytecode.py
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=0,
                        help="parsing processes (0: one per core, as `trials import`)")
    parser.add_argument("--child", nargs=3, metavar=("URL", "ZIP", "WORKERS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sizes = sorted({max(args.records // 5, 1), args.records})
        archives, floors, cpu_floors = {}, {}, {}
        for size in sizes:
            archives[size] = folder / f"ctg-studies-{size}.json.zip"
            mean = build_zip(archives[size], size)
            floors[size], cpu_floors[size] = json_floor(archives[size])
            print(f"built {archives[size].name}: {size:,} studies, mean {mean / 1e3:.1f} kB, "
                  f"zip {archives[size].stat().st_size / 1e6:,.0f} MB; json.loads floor "
                  f"{floors[size]:,.0f}/s on one core ({cpu_floors[size]:,.0f}/s of CPU "
                  f"time; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        for kind in args.db.split(","):
            for size in sizes:
                url, engine, schema = fresh_url(kind, folder)
                try:
                    first = measure(url, archives[size], args.workers)
                    again = measure(url, archives[size], args.workers)
                finally:
                    if engine is not None:
                        import sqlalchemy as sa

                        with engine.begin() as conn:
                            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                        engine.dispose()
                assert first["new"] == size and again["unchanged"] == size, (first, again)
                workers = (f", each worker ≤ {first['worker_mb']:.0f} MB"
                           if first["worker_mb"] else ", one process")
                rate = size / first["seconds"]
                per_cpu = size / first["cpu"]
                print(f"{kind:10} {size:>7,} records: new {rate:8,.0f}/s "
                      f"({rate / floors[size]:.2f}× the floor) "
                      f"(peak {first['peak_mb']:.0f} MB{workers}) · unchanged "
                      f"{size / again['seconds']:8,.0f}/s (peak {again['peak_mb']:.0f} MB) · "
                      f"CPU {first['cpu']:.1f} s for the new, this side of the database "
                      f"({per_cpu:,.0f}/CPU-s, "
                      f"{per_cpu / cpu_floors[size]:.2f}× the floor's)")


if __name__ == "__main__":
    main()
