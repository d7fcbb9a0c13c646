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
and 95th percentile latency per query and overall, and the index size beside the whole
database's.  Target: well under a second at 100,000 trials.

Every generated trial is a copy of one of a few dozen real studies, so even a "rare" word
matches a few thousand trials: a harder case for ranking than a real catalogue.
"""

from __future__ import annotations

import argparse
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
from harvester.catalogue import Catalogue, fulltext  # noqa: E402
from harvester.catalogue.selection import Selection  # noqa: E402
from harvester.find.search import search  # noqa: E402
from harvester.ingest.importer import Importer  # noqa: E402

HISTORY = ROOT / "fixtures" / "ctgov-history" / "api-v2-snapshots"

#: (label, query, selection)
QUERIES: list[tuple[str, str, Selection]] = [
    ("common word", "cancer", Selection()),
    ("very common word", "patients", Selection()),
    ("rare word", "tigit", Selection()),
    ("rarer word", "honeycombing", Selection()),
    ("no match", "zzyzzx", Selection()),
    ("two words", "lung cancer", Selection()),
    ("phrase", '"small cell lung cancer"', Selection()),
    ("prefix", "immun*", Selection()),
    ("OR", "nivolumab OR pembrolizumab", Selection()),
    ("NOT", "allergy -food", Selection()),
    ("word + status", "cancer", Selection(statuses=("RECRUITING",))),
    ("word + phase, results", "cancer", Selection(phases=("PHASE2",), has_results=True)),
    ("word + condition", "therapy", Selection(conditions=("lung",))),
    ("word + country", "study", Selection(countries=("France",))),
    ("word + start dates", "cancer", Selection(start_after=date(2015, 1, 1),
                                               start_before=date(2020, 12, 31))),
    ("word, as of", "cancer", Selection(as_of=date(2026, 1, 25))),
    ("rare word, as of", "interstitial", Selection(as_of=date(2026, 1, 25))),
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
    with catalogue.engine.connect() as conn:
        index_bytes, indexed = fulltext.size(conn), fulltext.count(conn)
    whole = database_size(catalogue)
    print(f"index: {index_bytes / 1e6:,.1f} MB for {indexed:,} versions "
          f"({index_bytes / max(indexed, 1) / 1e3:.1f} kB each); whole database "
          f"{whole / 1e6:,.1f} MB ({index_bytes / whole:.0%} of it is the index)")
    search(catalogue, "warm up")  # the first query opens the connection, reads the schema
    every: list[float] = []
    print(f"{'query':<24}{'matches':>9}{'median ms':>11}{'p95 ms':>9}{'cpu ms':>9}")
    for label, text, selection in QUERIES:
        times, cpu = [], []
        total = 0
        for _ in range(args.rounds):
            start, start_cpu = time.perf_counter(), time.process_time()
            total = search(catalogue, text, selection, limit=20).total
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        every += times
        print(f"{label:<24}{total:>9,}{statistics.median(times) * 1e3:>11.1f}"
              f"{percentile(times, 95) * 1e3:>9.1f}{statistics.median(cpu) * 1e3:>9.1f}")
    print(f"{'all searches':<24}{'':>9}{statistics.median(every) * 1e3:>11.1f}"
          f"{percentile(every, 95) * 1e3:>9.1f}")
    print("(cpu: this process's; on SQLite that is the search itself, on PostgreSQL only the "
          "client's part)")
    catalogue.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()
