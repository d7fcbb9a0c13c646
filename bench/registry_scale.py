"""The whole registry on one machine: import, size, index, search, similar and serve at ~600k.

Run: ``python bench/registry_scale.py [--studies 600000] [--db sqlite,postgresql]``.

Builds (once, kept in ``--cache``) a bulk download shaped like ClinicalTrials.gov's
``ctg-studies.json.zip`` with ``--studies`` studies: every API v2 study of ``fixtures/``
repeated under fresh NCT ids, each copy varied as ``bench/similar_latency.py`` varies it
(titles, conditions, interventions, phase, status, sites re-drawn; seeded), so that the
catalogue is not a few dozen clones.  Then, for each database (a fresh SQLite file; a fresh
PostgreSQL schema from ``TRIALS_TEST_POSTGRES_URL``, dropped afterwards unless ``--keep``):

1. ``trials import`` of the zip (plus the history of NCT06203210 the serve pages read), in its
   own process: wall time, studies/s, peak RSS of the importer and of its largest worker;
2. the catalogue's size on disk beside the zip's inflated JSON (target ≤ 1.5×);
3. the similarity index built from empty, in its own process: time and peak RSS;
4. ``similar`` latency for ``--queries`` random trials (target p95 < 150 ms);
5. ``search`` latency over ``bench/search_latency.py``'s queries (target p95 < 200 ms);
6. ``serve`` latency over ``bench/serve_latency.py``'s pages and API answers.

The zip is generated in worker processes (a chunk of studies each, seeded by its place, so
the zip does not depend on the number of workers): 200,000 studies in ~6 min on a loaded
two-core machine.  The import prints a progress line every 50,000 studies.  ``--steps``
picks what is measured after the import and size (``index,similar,search,serve``);
``--catalogue URL`` measures a catalogue kept by an earlier ``--keep`` run without importing;
``--lists bench`` makes the champion lists of the searches' words only (a whole build takes
hours on PostgreSQL at 600,000 trials; the searches read the same lists either way).

Targets: import under 10 minutes on SQLite.  The machine's load average is printed beside
each step: on a shared machine the figures are only as quiet as it was.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import similar_latency  # noqa: E402
from bench.bytecode import compile_project  # noqa: E402
from bench.import_catalogue import fresh_url  # noqa: E402
from bench.parse_json import corpus  # noqa: E402
from bench.peaks import WorkerPeaks, own_peak_mb  # noqa: E402
from bench.search_latency import HISTORY, QUERIES, database_size, percentile  # noqa: E402

SEED = 20261206


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} (1/5 min) on {os.cpu_count()} cores"


#: What :func:`similar_latency.vary` changes: copied per study, the rest of a base is shared.
_VARIED = ("identificationModule", "conditionsModule", "armsInterventionsModule",
           "statusModule", "designModule", "eligibilityModule", "contactsLocationsModule")
CHUNK = 1000  # studies a generating worker makes at a time
_BASES: list[dict[str, Any]] = []


def _copy(study: dict[str, Any]) -> dict[str, Any]:
    """A copy of a decoded study deep enough for ``vary``, which only assigns and pops keys
    of the modules it touches (decoding the base again cost 60% of the generation)."""
    out = dict(study)
    protocol = out["protocolSection"] = dict(study["protocolSection"])
    for key in _VARIED:
        if key in protocol:
            protocol[key] = dict(protocol[key])
    if "derivedSection" in out:
        out["derivedSection"] = dict(out["derivedSection"])
    return out


def _chunk(start: int, count: int) -> list[tuple[str, bytes]]:
    """Studies ``start`` … ``start + count - 1`` as zip entries (seeded by ``start``, so the
    zip is the same whatever the number of workers)."""
    if not _BASES:
        _BASES.extend(msgspec.json.decode(b) for b in corpus())
    rng = random.Random(SEED * 1_000_003 + start)
    entries = []
    for i in range(start, start + count):
        study = _copy(_BASES[i % len(_BASES)])
        nct_id = f"NCT9{i:07d}"
        study["protocolSection"]["identificationModule"]["nctId"] = nct_id
        similar_latency.vary(study, rng.choice(_BASES), rng)
        entries.append((f"{nct_id[:7]}xxxx/{nct_id}.json", msgspec.json.encode(study)))
    return entries


def generate(path: Path, studies: int) -> None:
    """The bulk zip of ``studies`` varied copies of the corpus: varied and encoded in worker
    processes, a chunk at a time, compressed and written in order by this one."""
    partial = path.with_suffix(".partial")
    workers = os.cpu_count() or 1
    starts = list(range(0, studies, CHUNK))
    with (zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
          ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool):
        pending: deque[Future[list[tuple[str, bytes]]]] = deque()
        for n, start in enumerate(starts):
            pending.append(pool.submit(_chunk, start, min(CHUNK, studies - start)))
            while len(pending) > 2 * workers or (n == len(starts) - 1 and pending):
                for name, data in pending.popleft().result():
                    zf.writestr(name, data)
            if start and start % 100_000 == 0:
                print(f"  … {start:,} studies written ({load()})", flush=True)
    partial.rename(path)


def inflated(path: Path) -> tuple[int, int]:
    """(studies, bytes of JSON once unzipped)."""
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    return len(infos), sum(info.file_size for info in infos)


def child_import(url: str, archive: str) -> None:
    import resource

    from harvester.catalogue import Catalogue
    from harvester.ingest.importer import Importer

    start = time.perf_counter()
    done = [0, PROGRESS]

    def progress(count: int) -> None:  # a line every PROGRESS studies, on stderr (the log)
        done[0] += count
        if done[0] >= done[1]:
            done[1] += PROGRESS
            spent = time.perf_counter() - start
            print(f"  … {done[0]:,} imported in {spent / 60:.1f} min ({done[0] / spent:,.0f}/s; "
                  f"{load()})", file=sys.stderr, flush=True)

    with Catalogue.open(url) as catalogue, WorkerPeaks() as peaks:
        summary = Importer(catalogue, on_progress=progress).run(
            [archive, *sorted(HISTORY.glob("NCT06203210__vh*"))])
        seconds = time.perf_counter() - start
    own, workers = (resource.getrusage(resource.RUSAGE_SELF),
                    resource.getrusage(resource.RUSAGE_CHILDREN))
    print(json.dumps({"seconds": seconds, "new": summary.new, "failed": summary.failed,
                      "peak_mb": own_peak_mb(), "worker_mb": peaks.largest_mb,
                      "cpu": own.ru_utime + own.ru_stime,
                      "workers_cpu": workers.ru_utime + workers.ru_stime}))


PROGRESS = 50_000  # studies between the import's progress lines


def _child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                         stdout=subprocess.PIPE, text=True)  # its progress: on our stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def disk_size(url: str) -> int:
    """Bytes the catalogue takes: the SQLite file (and its journal), or the schema's
    relations with their indexes and TOAST on PostgreSQL."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    from harvester.catalogue import Catalogue

    with Catalogue.open(url) as catalogue:
        return database_size(catalogue)


def vacuum(url: str) -> None:
    """PostgreSQL: ``VACUUM (ANALYZE)`` every table of the catalogue, as autovacuum does on
    a server with its default settings after a bulk load — this workplace's server runs
    with autovacuum off, so without it the planner has no statistics and every index-only
    scan reads the heap (600,001 heap fetches to count the matches of one word)."""
    if url.startswith("sqlite:///"):
        return
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    start = time.perf_counter()
    with engine.connect() as conn:
        tables = conn.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars()
        for table in list(tables):
            conn.execute(sa.text(f'VACUUM (ANALYZE) "{table}"'))
    engine.dispose()
    print(f"  VACUUM (ANALYZE) of every table: {time.perf_counter() - start:.0f} s (autovacuum "
          f"is off on this server) — {load()}", flush=True)


def biggest(url: str, top: int = 6) -> str:
    """The largest tables and indexes, with the share of the catalogue each takes."""
    from harvester.catalogue.engine import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            try:
                rows = conn.exec_driver_sql("SELECT name, sum(pgsize) FROM dbstat "
                                            "GROUP BY name ORDER BY 2 DESC").all()
            except sa.exc.OperationalError:
                return "(no dbstat)"
        else:
            rows = conn.execute(sa.text(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN "
                "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                "AND c.relkind = 'r' ORDER BY 2 DESC")).all()
        if engine.dialect.name == "sqlite":
            record = conn.exec_driver_sql("SELECT sum(length(record)) FROM version").scalar()
        else:
            record = conn.execute(sa.text(
                "SELECT sum(pg_column_size(record)) FROM version")).scalar()
    engine.dispose()
    total = sum(int(size) for _, size in rows) or 1
    parts = [f"{name} {int(size) / 1e6:,.0f} MB ({int(size) / total:.0%})"
             for name, size in rows[:top]]
    return (", ".join(parts) + f"; of which the records' JSON (version.record) "
            f"{int(record or 0) / 1e6:,.0f} MB")


def bench_words_only() -> None:
    """Champion lists for the words of the bench's searches only (``--lists bench``): the
    lists those searches read are the ones a whole build makes, without the hours a whole
    build takes on PostgreSQL at the registry's size (~9 s a frequent word there)."""
    from harvester.catalogue import areas
    from harvester.find import frequent

    used = {token for _, _, text, selection in QUERIES
            for value in (text, *(v for _, v in selection.areas)) if value
            for token in areas.tokens(value.replace("*", " "))}
    every = frequent.words

    def words(conn: Any, min_docs: int) -> list[tuple[str, str, int]]:
        return [w for w in every(conn, min_docs) if w[1] in used]

    frequent.words = words


def search_figures(url: str, rounds: int,
                   after_index: Callable[[], None] | None = None
                   ) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of every search run (CPU: this process's, which on SQLite is
    the whole search; on a loaded machine the steadier figure)."""
    from harvester.catalogue import Catalogue
    from harvester.find.search import ready, search

    times: list[float] = []
    cpus: list[float] = []
    with Catalogue.open(url) as catalogue:
        # The search index (the area index) is kept off the import's hot path: brought up to
        # date here, as `trials index` or the first search would, and timed on its own.
        start, used = time.perf_counter(), time.process_time()
        versions = ready(catalogue)
        if versions:
            seconds = time.perf_counter() - start
            print(f"  search index: {versions:,} versions in {seconds / 60:.1f} min "
                  f"({versions / max(seconds, 1e-9):,.0f}/s; CPU "
                  f"{time.process_time() - used:,.0f} s) — {load()}", flush=True)
        from harvester.find import champions

        start, used = time.perf_counter(), time.process_time()
        words = champions.refresh(catalogue.engine)  # as `trials index` does
        if words is not None:
            print(f"  frequent words' lists: {words:,} words in "
                  f"{(time.perf_counter() - start) / 60:.1f} min (CPU "
                  f"{time.process_time() - used:,.0f} s) — {load()}", flush=True)
        if after_index is not None:
            after_index()
        search(catalogue, "warm up")
        for group, label, text, selection in QUERIES:
            mine, cpu = [], []
            for _ in range(rounds):
                start, used = time.perf_counter(), time.process_time()
                total = search(catalogue, text, selection, limit=20).total
                mine.append(time.perf_counter() - start)
                cpu.append(time.process_time() - used)
            times += mine
            cpus += cpu
            print(f"  search {group:<5} {label:<30} {total:>9,} matches · median "
                  f"{statistics.median(mine) * 1e3:7.1f} ms · p95 "
                  f"{percentile(mine, 95) * 1e3:7.1f} ms · CPU median "
                  f"{statistics.median(cpu) * 1e3:7.1f} ms", flush=True)
    return times, cpus


def serve_figures(url: str, rounds: int) -> list[float]:
    import requests

    from bench.serve_latency import cases
    from harvester.catalogue import Catalogue
    from harvester.commands._webform import search_form
    from harvester.serve.web import make_app
    from harvester.serve.web.server import running

    every: list[float] = []
    with (Catalogue.open(url) as catalogue,
          running(make_app(catalogue, search_form())) as base, requests.Session() as session):
        for label, path in cases(base, session):
            times, cpu = [], []
            for _ in range(rounds + 1):
                start, used = time.perf_counter(), time.process_time()
                response = session.get(base + path, timeout=600)
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - used)  # server thread and client: one process
                assert response.status_code == 200, (path, response.status_code)
            times, cpu = times[1:], cpu[1:]  # the first warms the connection and caches
            every += times
            print(f"  serve {label:<24} median {statistics.median(times) * 1e3:7.1f} ms · "
                  f"p95 {percentile(times, 95) * 1e3:7.1f} ms · CPU median "
                  f"{statistics.median(cpu) * 1e3:7.1f} ms", flush=True)
    return every


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def import_figures(kind: str, url: str, archive: Path, studies: int) -> None:
    got = _child("import", url, str(archive))
    assert got["new"] >= studies and not got["failed"], got
    minutes = got["seconds"] / 60
    target = (f" (target < 10 min: {verdict(minutes < 10)})" if kind == "sqlite" else "")
    print(f"import: {studies:,} studies in {minutes:.1f} min{target}, "
          f"{studies / got['seconds']:,.0f}/s; CPU {got['cpu']:,.0f} s in the importer and "
          f"{got['workers_cpu']:,.0f} s in its workers "
          f"({(got['cpu'] + got['workers_cpu']) / studies * 1e3:.2f} ms a study); peak RSS "
          f"{got['peak_mb']:,.0f} MB (largest worker {got['worker_mb']:,.0f} MB) — {load()}",
          flush=True)


def similar_figures(url: str, queries: int) -> None:
    from harvester.catalogue import Catalogue

    with Catalogue.open(url) as catalogue:
        ids = catalogue.trial_ids()
    picked = random.Random(SEED).sample(ids, min(queries, len(ids)))
    asked = similar_latency._run("--child", "query", url, json.dumps(picked))
    for label, fig in asked["figures"].items():
        print(f"  similar {label:<30} median {fig['median_ms']:7.1f} ms · p95 "
              f"{fig['p95_ms']:7.1f} ms · CPU median {fig['cpu_median_ms']:7.1f} ms, p95 "
              f"{fig['cpu_p95_ms']:7.1f} ms ({fig['n']} queries)")
    plain = asked["figures"]["no filter"]
    print(f"similar p95 {plain['p95_ms']:.0f} ms (target < 150 ms: "
          f"{verdict(plain['p95_ms'] < 150)}) — {load()}", flush=True)


STEPS = ("index", "similar", "search", "serve")  # after the import and the size


def run_one(kind: str, archive: Path, json_bytes: int, studies: int, folder: Path,
            args: argparse.Namespace) -> None:
    steps = set(args.steps.split(","))
    url, admin, schema = (args.catalogue, None, None) if args.catalogue else fresh_url(kind,
                                                                                         folder)
    print(f"\n== {kind} ({load()})", flush=True)
    try:
        if not args.catalogue:
            import_figures(kind, url, archive, studies)
        size = disk_size(url)
        fits = verdict(size <= 1.5 * json_bytes)
        print(f"size: {size / 1e9:,.2f} GB on disk for {json_bytes / 1e9:,.2f} "
              f"GB of JSON = {size / json_bytes:.2f}× (target ≤ 1.5×: {fits})", flush=True)
        print(f"  largest: {biggest(url)}", flush=True)
        if "index" in steps:
            built = similar_latency._run("--child", "build", url)
            print(f"similarity index: {built['indexed']:,} trials in "
                  f"{built['seconds'] / 60:.1f} min "
                  f"({built['indexed'] / max(built['seconds'], 1e-9):,.0f}/s; CPU "
                  f"{built['cpu']:,.0f} s with its workers), peak RSS "
                  f"{built['peak_mb']:,.0f} MB — {load()}", flush=True)
            whole = disk_size(url)
            print(f"size with the similarity index: {whole / 1e9:,.2f} GB = "
                  f"{whole / json_bytes:.2f}× the JSON", flush=True)
        if "similar" in steps:
            vacuum(url)
            similar_figures(url, args.queries)
        if "search" in steps:
            if args.lists == "bench":
                bench_words_only()
            times, cpus = search_figures(url, args.rounds, after_index=lambda: vacuum(url))
            p95 = percentile(times, 95) * 1e3
            print(f"search over {len(times)} runs: median {statistics.median(times) * 1e3:.0f} "
                  f"ms, p95 {p95:.0f} ms (target < 200 ms: {verdict(p95 < 200)}); CPU median "
                  f"{statistics.median(cpus) * 1e3:.0f} ms, p95 "
                  f"{percentile(cpus, 95) * 1e3:.0f} ms — {load()}", flush=True)
        if "serve" in steps:
            if "search" not in steps:
                vacuum(url)
            served = serve_figures(url, args.rounds)
            print(f"serve over {len(served)} requests: median "
                  f"{statistics.median(served) * 1e3:.0f} ms, p95 "
                  f"{percentile(served, 95) * 1e3:.0f} ms — {load()}", flush=True)
    finally:
        if args.keep or args.catalogue:
            print(f"kept: {url}")
        elif url.startswith("sqlite:///"):  # room on disk for the next database
            path = Path(url.removeprefix("sqlite:///"))
            for each in path.parent.glob(path.name + "*"):
                each.unlink()
        elif admin is not None:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def main() -> None:
    compile_project()  # as a user's installed copy: see bench/bytecode.py
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--studies", type=int, default=600_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--queries", type=int, default=200, help="similar queries")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each search and page")
    parser.add_argument("--cache", type=Path,
                        default=Path.home() / ".cache" / "trial-harvester-bench",
                        help="where the generated zip is kept for the next run")
    parser.add_argument("--keep", action="store_true",
                        help="keep the catalogues (SQLite in --cache, PostgreSQL schema)")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help="what to measure after the import and the size, comma-separated "
                             "(default: all)")
    parser.add_argument("--lists", choices=("all", "bench"), default="all",
                        help="champion lists of every frequent word, as `trials index` makes "
                             "them (default), or of the bench's searches' words only (a whole "
                             "build takes hours on PostgreSQL at 600,000 trials)")
    parser.add_argument("--catalogue", metavar="URL",
                        help="measure this catalogue (one kept with --keep) instead of "
                             "importing into a fresh one; --db names its kind")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_import(*args.child[1:])
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    archive = args.cache / f"registry-{args.studies}.json.zip"
    if not archive.exists():
        print(f"generating {archive} ({load()})", flush=True)
        start = time.perf_counter()
        generate(archive, args.studies)
        print(f"generated in {(time.perf_counter() - start) / 60:.1f} min", flush=True)
    studies, json_bytes = inflated(archive)
    print(f"bulk zip: {studies:,} studies, {archive.stat().st_size / 1e9:,.2f} GB zipped, "
          f"{json_bytes / 1e9:,.2f} GB of JSON inflated (mean {json_bytes / studies / 1e3:.1f} "
          f"kB); {load()}; {shutil.disk_usage(args.cache).free / 1e9:,.0f} GB free")
    folder = args.cache if args.keep else Path(tempfile.mkdtemp(dir=args.cache))
    try:
        for kind in args.db.split(",")[:1 if args.catalogue else None]:
            run_one(kind, archive, json_bytes, studies, folder, args)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
