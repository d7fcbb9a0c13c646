"""``trials search`` latency (median and 95th percentile) and the full-text index's size.

Run: ``python bench/search_latency.py [--trials 100000] [--db URL_OR_PATH] [--rounds 5]``.

Builds a catalogue of ``--trials`` generated trials — every API v2 study in ``fixtures/``
repeated under fresh NCT ids, by :func:`bench.import_catalogue.build_zip` — plus the history
snapshots of NCT06203210, imported as ``trials import`` does (which indexes as it stores).
Building takes minutes, so the catalogue is kept at ``--db`` (a SQLite file by default, or a
``postgresql+psycopg://`` URL: its schema is kept too) and reused while it holds that many
trials.  Then it runs a set of realistic searches — single words common and rare, phrases,
prefixes, OR and NOT, with and without filters, and ``--as-of`` — each ``--rounds`` times,
through :func:`harvester.find.search.search` (the ranked page of 20, its total and its
highlighted extracts: what the command does after it has started), and prints the median
and 95th percentile latency per query and per group, the index size beside the whole
database's, and the machine's load.  Targets at 100,000 trials: field-scoped queries with
filters (group "areas") median < 50 ms and p95 < 150 ms; ``--near`` queries < 100 ms.

Every generated trial is a copy of one of a few dozen real studies, so even a "rare" word
matches a few thousand trials: a harder case for ranking than a real catalogue.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_catalogue import build_zip  # noqa: E402
from harvester.catalogue import Catalogue, areas  # noqa: E402
from harvester.catalogue.selection import Selection  # noqa: E402
from harvester.find.search import search  # noqa: E402
from harvester.ingest.importer import Importer  # noqa: E402

HISTORY = ROOT / "fixtures" / "ctgov-history" / "api-v2-snapshots"

#: (group, label, query, selection).  Groups: "text" (QUERY alone, or with the old
#: filters), "areas" (the registry's search areas with the website's filters: the issue 13
#: target, median < 50 ms and p95 < 150 ms at 100,000 trials) and "near" (< 100 ms).
QUERIES: list[tuple[str, str, str | None, Selection]] = [
    ("text", "common word", "cancer", Selection()),
    ("text", "very common word", "patients", Selection()),
    ("text", "rare word", "tigit", Selection()),
    ("text", "rarer word", "honeycombing", Selection()),
    ("text", "no match", "zzyzzx", Selection()),
    ("text", "two words", "lung cancer", Selection()),
    ("text", "phrase", '"small cell lung cancer"', Selection()),
    ("text", "prefix", "immun*", Selection()),
    ("text", "OR", "nivolumab OR pembrolizumab", Selection()),
    ("text", "NOT", "allergy -food", Selection()),
    ("text", "word + status", "cancer", Selection(statuses=("RECRUITING",))),
    ("text", "word + phase, results", "cancer", Selection(phases=("PHASE2",),
                                                          has_results=True)),
    ("text", "word + country", "study", Selection(countries=("France",))),
    ("text", "word + start dates", "cancer", Selection(start_after=date(2015, 1, 1),
                                                       start_before=date(2020, 12, 31))),
    ("text", "word, as of", "cancer", Selection(as_of=date(2026, 1, 25))),
    ("text", "rare word, as of", "interstitial", Selection(as_of=date(2026, 1, 25))),
    ("areas", "cond + status + phase", None, Selection(
        areas=(("cond", "lung cancer"),), statuses=("RECRUITING",), phases=("PHASE3",))),
    ("areas", "cond phrase + country", None, Selection(
        areas=(("cond", '"small cell lung cancer"'),), countries=("United States",))),
    ("areas", "cond concept + age", None, Selection(
        areas=(("cond", "melanoma"),), age=70)),
    ("areas", "intr + sex + age group", None, Selection(
        areas=(("intr", "pembrolizumab"),), sex="FEMALE", age_groups=("OLDER_ADULT",))),
    ("areas", "intr + funder + results", None, Selection(
        areas=(("intr", "nivolumab"),), funders=("INDUSTRY",), has_results=True)),
    ("areas", "cond + intr + start year", None, Selection(
        areas=(("cond", "cancer"), ("intr", "chemotherapy")),
        start_after=date(2015, 1, 1), start_before=date(2020, 12, 31))),
    ("areas", "titles + status", None, Selection(
        areas=(("titles", "asthma"),), statuses=("COMPLETED", "TERMINATED"))),
    ("areas", "outc + phase", None, Selection(
        areas=(("outc", "overall survival"),), phases=("PHASE3",))),
    ("areas", "spons + study type", None, Selection(
        areas=(("spons", "bristol"),), study_types=("INTERVENTIONAL",))),
    ("areas", "locn + healthy volunteers", None, Selection(
        areas=(("locn", "boston"),), healthy_volunteers=False)),
    ("areas", "id", None, Selection(areas=(("id", "NCT06203210"),))),
    ("areas", "term + cond + state", "therapy", Selection(
        areas=(("cond", "asthma"),), countries=("United States",), states=("CA",))),
    ("areas", "cond + documents + completion", None, Selection(
        areas=(("cond", "cancer"),), documents=("protocol",),
        completion_before=date(2024, 12, 31))),
    ("near", "near a city", None, Selection(near="Boston, United States", within_km=80)),
    ("near", "near a point + status", None, Selection(
        near="40.71,-74.01", within_km=100, statuses=("RECRUITING", "COMPLETED"))),
    ("near", "cond + near", None, Selection(
        areas=(("cond", "cancer"),), near="Paris, France", within_km=50)),
    ("near", "word + near", "pain", Selection(near="Chicago, United States",
                                              within_km=160)),
]


def catalogue_url(db: str | None, trials: int) -> str:
    if db is None:
        return f"sqlite:///{Path(tempfile.gettempdir()) / f'trials-search-{trials}.sqlite'}"
    return db if "://" in db else f"sqlite:///{Path(db).resolve()}"


def ensure_built(url: str, trials: int) -> Catalogue:
    catalogue = Catalogue.open(url)
    with catalogue.engine.connect() as conn:
        held = int(conn.execute(sa.text("SELECT count(*) FROM trial")).scalar_one())
    if held >= trials:
        print(f"reusing the catalogue at {url}: {held:,} trials")
        return catalogue
    if held:
        raise SystemExit(f"{url} holds {held:,} trials, fewer than --trials: give another --db")
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "ctg-studies.json.zip"
        start = time.perf_counter()
        mean = build_zip(archive, trials)
        print(f"generated {trials:,} studies (mean {mean / 1e3:.1f} kB) in "
              f"{time.perf_counter() - start:.0f} s")
        start = time.perf_counter()
        summary = Importer(catalogue).run([archive, *sorted(HISTORY.glob("NCT06203210__vh*"))])
        print(f"imported {summary.new:,} new, {summary.changed} changed in "
              f"{time.perf_counter() - start:.0f} s ({summary.new / summary.seconds:,.0f}/s)")
    return catalogue


def database_size(catalogue: Catalogue) -> int:
    with catalogue.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
            return int(pages) * int(size)
        return int(conn.execute(sa.text(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')")).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--db", help="catalogue to build or reuse: a SQLite file or a URL "
                                     "(default: a file in the temporary folder)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each query")
    args = parser.parse_args()
    catalogue = ensure_built(catalogue_url(args.db, args.trials), args.trials)
    start = time.perf_counter()
    caught = areas.catch_up(catalogue.engine)  # what the first field-scoped search does
    if caught:
        print(f"area index: {caught:,} versions indexed in {time.perf_counter() - start:.0f} s")
    from harvester.find import champions

    start = time.perf_counter()
    words = champions.refresh(catalogue.engine)  # what `trials index` does
    if words is not None:
        print(f"frequent words' lists: {words:,} words in {time.perf_counter() - start:.0f} s")
    with catalogue.engine.connect() as conn:
        index_bytes, indexed = areas.size(conn), areas.count(conn)
    whole = database_size(catalogue)
    print(f"index: {index_bytes / 1e6:,.1f} MB for {indexed:,} versions "
          f"({index_bytes / max(indexed, 1) / 1e3:.1f} kB each); whole database "
          f"{whole / 1e6:,.1f} MB ({index_bytes / whole:.0%} of it is the index)")
    search(catalogue, "warm up")  # the first query opens the connection, reads the schema
    by_group: dict[str, list[float]] = {}
    cpu_by_group: dict[str, list[float]] = {}
    print(f"{'query':<34}{'matches':>9}{'median ms':>11}{'p95 ms':>9}{'cpu ms':>9}")
    for group, label, text, selection in QUERIES:
        times, cpu = [], []
        total = 0
        for _ in range(args.rounds):
            start, start_cpu = time.perf_counter(), time.process_time()
            total = search(catalogue, text, selection, limit=20).total
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        by_group.setdefault(group, []).extend(times)
        cpu_by_group.setdefault(group, []).extend(cpu)
        print(f"{group + ': ' + label:<34}{total:>9,}{statistics.median(times) * 1e3:>11.1f}"
              f"{percentile(times, 95) * 1e3:>9.1f}{statistics.median(cpu) * 1e3:>9.1f}")
    for group, times in by_group.items():
        target = TARGETS.get(group, "")
        print(f"{'all ' + group:<34}{'':>9}{statistics.median(times) * 1e3:>11.1f}"
              f"{percentile(times, 95) * 1e3:>9.1f}"
              f"{statistics.median(cpu_by_group[group]) * 1e3:>9.1f}   {target}")
    print(f"{'cpu ms by group':<34}{'':>9}{'median':>11}{'p95':>9}")
    for group, cpu in cpu_by_group.items():
        print(f"{'cpu ' + group:<34}{'':>9}{statistics.median(cpu) * 1e3:>11.1f}"
              f"{percentile(cpu, 95) * 1e3:>9.1f}")
    print("(cpu: this process's; on SQLite that is the search itself, on PostgreSQL only the "
          "client's part)")
    print(f"load: {load()}")
    catalogue.close()


TARGETS = {"areas": "target: median < 50 ms, p95 < 150 ms", "near": "target: < 100 ms"}


def load() -> str:
    """The machine's load averages (1, 5, 15 min) and cores: figures depend on them."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()
