"""``trials similar`` at scale: index build speed, query latency, index size, peak memory.

Run: ``.venv/bin/python bench/similar_latency.py [--trials 100000] [--db URL] [--queries 200]``.

Builds (once, then cached) a catalogue of ``--trials`` generated trials: the bulk zip of
``bench/import_catalogue.py`` (every API v2 study of ``fixtures/`` repeated under fresh NCT
ids), each copy then varied so that the catalogue is not a few hundred exact clones — its
conditions and MeSH headings are drawn from two corpus studies, its interventions get a
generated code name beside the corpus ones, its title a generated word, its phase, status,
sites and ages are re-drawn (seeded; the same catalogue every time).  Then, each step in its
own process so that its peak RSS is its own:

1. the index build from empty (trials/s), and a refresh with nothing to do;
2. ``similar_to_id`` for ``--queries`` random trials, top 10: median and 95th percentile,
   without a filter and with one (``--status RECRUITING``), and a free-text query set;
3. the index's size (its tables and their indexes) beside the whole database's.

``--db`` defaults to a SQLite file in ``--cache`` (default ``~/.cache/trial-harvester-bench``)
named after the size, kept for the next run; a PostgreSQL URL is used as given (an empty
database or schema is filled, a filled one reused).  Target: well under a second per query
at 100,000 trials.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bytecode import compile_project  # noqa: E402
from bench.import_catalogue import build_zip  # noqa: E402
from bench.peaks import own_peak_mb  # noqa: E402

SEED = 20261125
TEXT_QUERIES = ("pembrolizumab non-small cell lung cancer", "atopic dermatitis in children",
                "growth hormone Phelan-McDermid syndrome", "COVID-19 hydroxychloroquine",
                "contrast-enhanced MRI of the central nervous system")
STATUSES = ("RECRUITING", "COMPLETED", "ACTIVE_NOT_RECRUITING", "TERMINATED",
            "NOT_YET_RECRUITING", "UNKNOWN")
PHASES = (["PHASE1"], ["PHASE2"], ["PHASE3"], ["PHASE1", "PHASE2"], ["NA"], ["PHASE4"])
COUNTRIES = ("United States", "France", "Germany", "Japan", "China", "Spain", "Italy",
             "Canada", "United Kingdom", "Brazil", "Korea, Republic of", "Australia")
SYLLABLES = ("ka", "lo", "mi", "ra", "te", "zu", "vo", "ne", "pi", "sa", "du", "fe")


def _word(rng: random.Random, parts: int = 3) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts))


def _retitle(title: str, rng: random.Random) -> str:
    """A title a third of whose words are dropped and two generated ones added: another
    trial of the same kind, not a near-identical copy."""
    words = [w for w in title.split() if rng.random() > 0.33]
    for _ in range(2):
        words.insert(rng.randrange(len(words) + 1), _word(rng))
    return " ".join(words)


def vary(study: dict[str, Any], other: dict[str, Any], rng: random.Random) -> None:
    """Make one copy of a corpus study a distinct trial (in place)."""
    protocol = study["protocolSection"]
    ident = protocol["identificationModule"]
    for key in ("briefTitle", "officialTitle"):
        if ident.get(key):
            ident[key] = _retitle(ident[key], rng)
    ident.pop("secondaryIdInfos", None)  # the copies share no registry id …
    ident.pop("nctIdAliases", None)  # … nor NCT id alias …
    ident["orgStudyIdInfo"] = {"id": f"B-{rng.randrange(10**8):08d}"}  # … nor protocol id
    theirs = other["protocolSection"].get("conditionsModule", {}).get("conditions", [])
    mine = protocol.setdefault("conditionsModule", {})
    mine["conditions"] = list(dict.fromkeys([*mine.get("conditions", [])[:2], *theirs[:2]]))
    derived = study.setdefault("derivedSection", {})
    other_browse = other.get("derivedSection", {}).get("conditionBrowseModule")
    if other_browse and rng.random() < 0.5:
        derived["conditionBrowseModule"] = other_browse
    arms = protocol.setdefault("armsInterventionsModule", {})
    code = f"{_word(rng, 2).upper()}-{rng.randrange(100, 9999)}"
    arms["interventions"] = [*arms.get("interventions", [])[:3],
                             {"type": "DRUG", "name": code}]
    status = protocol.setdefault("statusModule", {})
    status["overallStatus"] = rng.choice(STATUSES)
    design = protocol.setdefault("designModule", {})
    if design.get("studyType") == "INTERVENTIONAL":
        design["phases"] = rng.choice(PHASES)
    elig = protocol.setdefault("eligibilityModule", {})
    elig["minimumAge"] = f"{rng.choice((0, 2, 12, 18, 18, 18, 40, 65))} Years"
    contacts = protocol.setdefault("contactsLocationsModule", {})
    contacts["locations"] = [{"facility": f"Site {_word(rng)}", "city": _word(rng, 2),
                              "country": country}
                             for country in rng.sample(COUNTRIES, rng.randint(1, 4))]


def generate(path: Path, trials: int) -> None:
    """``build_zip``'s bulk zip of ``trials`` studies, each copy varied by :func:`vary`."""
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain.zip"
        build_zip(plain, trials)
        bases = []
        with zipfile.ZipFile(plain) as zf:
            names = zf.namelist()
            for name in names[: min(len(names), 200)]:
                bases.append(msgspec.json.decode(zf.read(name)))
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out:
                for name in names:
                    study = msgspec.json.decode(zf.read(name))
                    vary(study, rng.choice(bases), rng)
                    out.writestr(name, msgspec.json.encode(study))


def child_build(url: str, reuse: str = "") -> None:
    from harvester.catalogue import Catalogue
    from harvester.find.similar.engine import SimilarityEngine

    with Catalogue.open(url) as catalogue:
        engine = SimilarityEngine(catalogue)
        start, used = time.perf_counter(), _cpu()
        indexed = engine.refresh() if reuse else engine.rebuild()
        seconds, cpu = time.perf_counter() - start, _cpu() - used
        start = time.perf_counter()
        again = engine.refresh()
        noop = time.perf_counter() - start
    print(json.dumps({"indexed": indexed, "seconds": seconds, "cpu": cpu, "again": again,
                      "noop_ms": noop * 1e3, "peak_mb": _peak_mb()}))


def child_query(url: str, queries: str) -> None:
    from harvester.catalogue import Catalogue
    from harvester.catalogue.selection import Selection
    from harvester.find.similar.engine import SimilarityEngine

    ids = json.loads(queries)
    with Catalogue.open(url) as catalogue:
        engine = SimilarityEngine(catalogue)
        engine.similar_to_id(ids[0])  # warm: imports, caches
        figures: dict[str, Any] = {}
        runs = {"no filter": None, "--status RECRUITING": Selection(statuses=("RECRUITING",)),
                "--country Japan --phase PHASE3": Selection(countries=("Japan",),
                                                             phases=("PHASE3",))}
        for label, selection in runs.items():
            times, cpu, found = [], [], []
            for nct_id in ids:
                start, used = time.perf_counter(), time.process_time()
                result = engine.similar_to_id(nct_id, top=10, selection=selection)
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - used)
                found.append(len(result.matches))
            figures[label] = _summary(times, cpu) | {"mean_matches": statistics.mean(found)}
        times, cpu = [], []
        for text in TEXT_QUERIES * 8:
            start, used = time.perf_counter(), time.process_time()
            engine.similar_to_text(text, top=10)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - used)
        figures["--text"] = _summary(times, cpu)
    print(json.dumps({"figures": figures, "peak_mb": _peak_mb()}))


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _summary(times: list[float], cpu: list[float]) -> dict[str, float]:
    return {"n": len(times), "median_ms": statistics.median(times) * 1e3,
            "p95_ms": _p95(times) * 1e3, "max_ms": max(times) * 1e3,
            "cpu_median_ms": statistics.median(cpu) * 1e3, "cpu_p95_ms": _p95(cpu) * 1e3}


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the index workers)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                         resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_mb() -> float:  # its own, not the bench's (bench/peaks.py)
    return own_peak_mb()


def _run(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True,
                         text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def sizes(url: str) -> dict[str, int]:
    """Bytes of the index's tables (with their indexes) and of the whole database."""
    import sqlalchemy as sa

    from harvester.catalogue.engine import make_engine
    from harvester.find.similar.store import TABLES

    engine = make_engine(url)
    names = [table.name for table in TABLES]
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            index = sum(int(conn.execute(sa.text("SELECT pg_total_relation_size(:t)"),
                                         {"t": name}).scalar_one()) for name in names)
            total = int(conn.execute(sa.text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
                "AND c.relkind IN ('r', 'm')")).scalar_one() or 0)
        else:
            page = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
            owner: dict[str, str] = {}
            for (name, tbl, _sql) in conn.exec_driver_sql(
                    "SELECT name, tbl_name, sql FROM sqlite_master WHERE type IN "
                    "('table', 'index')"):
                owner[name] = tbl
            try:
                rows = conn.exec_driver_sql(
                    "SELECT name, sum(pgsize) FROM dbstat GROUP BY name").all()
                by_name = {name: int(size) for name, size in rows}
                index = sum(size for name, size in by_name.items()
                            if owner.get(name) in names)
                total = sum(by_name.values())
            except sa.exc.OperationalError:  # no dbstat: whole file only
                index = -1
                total = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one()) * page
    engine.dispose()
    return {"index": index, "total": total}


def main() -> None:
    compile_project()  # as a user's installed copy: see bench/bytecode.py
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--db", help="catalogue URL (default: a cached SQLite file)")
    parser.add_argument("--cache", type=Path,
                        default=Path.home() / ".cache" / "trial-harvester-bench")
    parser.add_argument("--reuse-index", action="store_true",
                        help="keep the index the last run built (only bring it up to date)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "build":
            child_build(*args.child[1:])
        else:
            child_query(args.child[1], args.child[2])
        return
    args.cache.mkdir(parents=True, exist_ok=True)
    url = args.db or f"sqlite:///{args.cache / f'similar-{args.trials}.sqlite'}"
    from harvester.catalogue import Catalogue
    from harvester.ingest.importer import Importer

    with Catalogue.open(url) as catalogue:
        held = len(catalogue.trial_ids())
        if held < args.trials:
            archive = args.cache / f"similar-{args.trials}.json.zip"
            if not archive.exists():
                start = time.perf_counter()
                generate(archive, args.trials)
                print(f"generated {archive.name} in {time.perf_counter() - start:.0f} s")
            start = time.perf_counter()
            summary = Importer(catalogue).run([str(archive)])
            print(f"imported {summary.new:,} trials in {time.perf_counter() - start:.0f} s")
        ids = catalogue.trial_ids()
    print(f"catalogue: {len(ids):,} trials ({url}); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    built = _run("--child", "build", url, *(["reuse"] if args.reuse_index else []))
    print(f"index {'refresh' if args.reuse_index else 'build'}: {built['indexed']:,} trials in "
          f"{built['seconds']:.0f} s "
          f"({built['indexed'] / max(built['seconds'], 1e-9):,.0f} trials/s; CPU "
          f"{built['cpu']:.0f} s in all processes, "
          f"{built['indexed'] / max(built['cpu'], 1e-9):,.0f} trials per CPU second), peak RSS "
          f"{built['peak_mb']:.0f} MB; refresh with nothing to do: {built['again']} trials "
          f"in {built['noop_ms']:.1f} ms")
    queries = random.Random(SEED).sample(ids, min(args.queries, len(ids)))
    asked = _run("--child", "query", url, json.dumps(queries))
    for label, fig in asked["figures"].items():
        extra = (f", {fig['mean_matches']:.1f} matches on average"
                 if "mean_matches" in fig else "")
        print(f"similar {label:32} median {fig['median_ms']:6.1f} ms · p95 "
              f"{fig['p95_ms']:6.1f} ms · max {fig['max_ms']:6.1f} ms; CPU median "
              f"{fig['cpu_median_ms']:5.1f} ms · p95 {fig['cpu_p95_ms']:5.1f} ms "
              f"({fig['n']} queries{extra})")
    print(f"query process peak RSS {asked['peak_mb']:.0f} MB")
    size = sizes(url)
    index = f"{size['index'] / 1e6:,.0f} MB" if size["index"] >= 0 else "unknown (no dbstat)"
    print(f"index size {index} of a {size['total'] / 1e6:,.0f} MB database")


if __name__ == "__main__":
    main()
