"""What deduplication adds to an export: seconds and peak memory of
:func:`harvester.export.dedupe.find_duplicates` over a whole catalogue.

Run: ``python bench/export_dedupe.py [--trials 10000] [--db URL]``.

Uses (building it when missing) ``bench/export_throughput.py``'s cached catalogue of generated
trials — every API v2 fixture study repeated under fresh NCT ids, so every key is shared by
many trials: the worst case for the first pass's memory — or the catalogue at ``--db``.
Prints trials per second, the groups found and the process's peak RSS before and after.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.export_throughput import CACHE, ensure_catalogue, memory_mb  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--db", help="benchmark this catalogue instead")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{CACHE / f'trials-export-bench-{args.trials}.sqlite'}"
    if not args.db:
        ensure_catalogue(url, args.trials)
    from harvester.catalogue import Catalogue
    from harvester.catalogue.selection import Selection, count_selected
    from harvester.export.dedupe import find_duplicates

    with Catalogue.open(url) as catalogue, catalogue.engine.connect() as conn:
        held = count_selected(conn, Selection())
        before = memory_mb("VmHWM")
        start = time.perf_counter()
        found = find_duplicates(conn, Selection())
        seconds = time.perf_counter() - start
    print(f"{held:,} trials ({url.split('?')[0]}): {seconds:.1f} s, {held / seconds:,.0f} "
          f"trials/s; {len(found.groups)} groups, {len(found.removed)} removed; peak RSS "
          f"{before:,.0f} MB before, {memory_mb('VmHWM'):,.0f} MB after")


if __name__ == "__main__":
    main()
