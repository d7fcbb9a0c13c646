"""``trials serve`` latency: pages and API answers, median and 95th percentile, over HTTP.

Run: ``python bench/serve_latency.py [--trials 100000] [--db URL_OR_PATH] [--rounds 10]``.

Builds (or reuses) the generated catalogue of ``bench/search_latency.py`` (``--trials``
copies of the fixture studies under fresh NCT ids, plus the history of NCT06203210), serves
it on a loopback port exactly as ``trials serve`` does (uvicorn, the same application) and
times each request with a real HTTP client: the search page (with words, with filters), a
trial page, its history page, the status page, and the API's ``/studies`` (first page, a
deep page through ``pageToken``, status filter, id filter, the incremental-harvest date
filter), ``/studies/{nctId}`` and its ``asOf``.  ``query.cond`` (matched on the stored
studies) is timed apart: its first page scans, the next pages are slices of the cached hits.
Target: every page and answer under 200 ms median at 100,000 trials.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search_latency import catalogue_url, ensure_built, percentile  # noqa: E402
from harvester.commands._webform import search_form  # noqa: E402
from harvester.serve.web import make_app  # noqa: E402
from harvester.serve.web.server import running  # noqa: E402

TRIAL = "NCT06203210"


def cases(base: str, session: requests.Session) -> list[tuple[str, str]]:
    first = session.get(f"{base}/api/v2/studies", params={"pageSize": "1000"}, timeout=60)
    token = first.json().get("nextPageToken", "")
    for _ in range(20):  # 21 pages in: a deep page (or the last, in a small catalogue)
        later = session.get(f"{base}/api/v2/studies", params={
            "pageSize": "1000", "pageToken": token}, timeout=60).json().get("nextPageToken")
        if not later:
            break
        token = later
    some = ",".join(s["protocolSection"]["identificationModule"]["nctId"]
                    for s in first.json()["studies"][:100])
    return [
        ("page: search, no words", "/"),
        ("page: search 'cancer'", "/?q=cancer"),
        ("page: search + filters", "/?q=lung+cancer&status=RECRUITING&phase=PHASE3"),
        ("page: filters only", "/?status=COMPLETED&country=France"),
        ("page: trial", f"/trial/{TRIAL}"),
        ("page: trial as of", f"/trial/{TRIAL}?as_of=2026-02-01"),
        ("page: history + diff", f"/trial/{TRIAL}/history?from=1&to=3"),
        ("page: status", "/status"),
        ("api: studies, page 1", "/api/v2/studies?countTotal=true"),
        ("api: 1000 studies", "/api/v2/studies?pageSize=1000"),
        ("api: deep page", f"/api/v2/studies?pageToken={token}&pageSize=100"),
        ("api: status filter", "/api/v2/studies?filter.overallStatus=RECRUITING&countTotal=true"),
        ("api: 100 ids", f"/api/v2/studies?filter.ids={some}&pageSize=100"),
        ("api: updated since", "/api/v2/studies?filter.advanced=AREA[LastUpdatePostDate]"
                               "RANGE[2026-01-01,MAX]&sort=LastUpdatePostDate:asc"),
        ("api: study", f"/api/v2/studies/{TRIAL}"),
        ("api: study asOf", f"/api/v2/studies/{TRIAL}?asOf=2026-02-01"),
        ("api: study fields", f"/api/v2/studies/{TRIAL}?fields=NCTId,OverallStatus"),
        ("api: history", f"/api/v2/studies/{TRIAL}/history"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--db", help="catalogue to build or reuse (default: the one "
                                     "bench/search_latency.py builds)")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    catalogue = ensure_built(catalogue_url(args.db, args.trials), args.trials)
    every: list[float] = []
    with running(make_app(catalogue, search_form())) as base, requests.Session() as session:
        print(f"{'request':<26}{'median ms':>10}{'p95 ms':>9}{'bytes':>10}")
        for label, path in cases(base, session):
            times = []
            size = 0
            for _ in range(args.rounds + 1):
                start = time.perf_counter()
                response = session.get(base + path, timeout=120)
                times.append(time.perf_counter() - start)
                assert response.status_code == 200, (path, response.status_code, response.text)
                size = len(response.content)
            times = times[1:]  # the first warms the connection and caches
            every += times
            print(f"{label:<26}{statistics.median(times) * 1e3:>10.1f}"
                  f"{percentile(times, 95) * 1e3:>9.1f}{size:>10,}")
        print(f"{'all of the above':<26}{statistics.median(every) * 1e3:>10.1f}"
              f"{percentile(every, 95) * 1e3:>9.1f}")
        start = time.perf_counter()
        session.get(f"{base}/api/v2/studies?query.cond=lung", timeout=600)
        scan = time.perf_counter() - start
        start = time.perf_counter()
        session.get(f"{base}/api/v2/studies?query.cond=lung&pageSize=10", timeout=600)
        print(f"api: query.cond (Essie on stored studies): first {scan * 1e3:,.0f} ms, "
              f"then {(time.perf_counter() - start) * 1e3:.1f} ms a page")
    catalogue.close()


if __name__ == "__main__":
    main()
