"""`trials sync` beside the floor: the same pages pulled and not parsed, one loopback server.

Run: ``python bench/sync_floor.py [--studies 5035] [--db sqlite,postgresql] [--workers N]
[--rounds 3]``.

The replica (harvester/serve) runs in this process with ``--studies`` studies built from the
fixtures (as ``bench/sync_replica.py``); then, each in its own process and one after the
other: the *floor* — every page of the search fetched with the project's HTTP client, nothing
parsed or stored — and a full ``trials sync`` into a fresh catalogue on each database, the
politeness limit off.  Prints seconds and the ratio to the floor (targets: ≤ 2× on SQLite,
≤ 3× on PostgreSQL), counting the sync's own time (``seconds`` of its summary) and its whole
process; ``--rounds`` times (the floor pulled again before each round's syncs), then the
median of each database's ratios, the figure to report.  PostgreSQL uses
``TRIALS_TEST_POSTGRES_URL`` (a fresh schema, dropped afterwards).

Then tap-clinicaltrials (a Singer tap that parses each study's JSON and stores nothing: its
messages go to /dev/null) harvests the same server, unmodified but for its base URL, in its own
virtual environment (made once under ``~/.cache/trial-harvester/bench-tap`` with pip;
``--tap-python`` names another interpreter that has it, ``--no-tap`` skips it), and the bench
prints how many times faster each sync is (target: ≥ 3.5×).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_catalogue import fresh_url  # noqa: E402
from bench.sync_replica import studies  # noqa: E402
from harvester.serve import ReplicaServer, StudyStore  # noqa: E402


def pull(base: str, page_size: int) -> None:
    """The floor, in its own process: every page, nothing parsed; prints seconds, count."""
    from harvester.fetch.ctgov import CtgovApi
    from harvester.fetch.http import HttpClient

    api = CtgovApi(HttpClient(min_interval=0), base)
    started = time.perf_counter()
    count = sum(len(page.studies) for page in api.pages({}, page_size=page_size))
    print(json.dumps({"seconds": time.perf_counter() - started, "studies": count}))


def children_cpu() -> float:
    """CPU seconds (user + system) of the child processes waited for so far (with theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def floor(base: str, page_size: int) -> dict[str, float]:
    before = children_cpu()
    out = subprocess.run([sys.executable, __file__, "--pull", base, str(page_size)],
                         check=True, capture_output=True, text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    result["cpu"] = children_cpu() - before
    return result


TAP_ENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trial-harvester" / \
    "bench-tap"
TAP_REQUIREMENT = "tap-clinicaltrials>=0.2,<1"
# Run by the tap's interpreter: every study of the server, messages to stdout (/dev/null).
TAP_SCRIPT = """
import json, sys, time
import requests
import tap_clinicaltrials.tap as tap_module
from tap_clinicaltrials import streams
base = sys.argv[1]
streams.Studies.url_base = base + "/api"
real_get = requests.get
tap_module.requests.get = lambda url, *a, **k: real_get(
    url.replace("https://clinicaltrials.gov", base), *a, **k)
started = time.perf_counter()
tap_module.TapClinicalTrials(config={}).sync_all()
sys.stderr.write(json.dumps({"seconds": time.perf_counter() - started}) + "\\n")
"""


def tap_python() -> str:
    """The interpreter of the tap's own environment, made (once) if it is not there."""
    python = TAP_ENV / "bin" / "python"
    if not python.exists():
        print(f"installing {TAP_REQUIREMENT} in {TAP_ENV} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(TAP_ENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", TAP_REQUIREMENT],
                       check=True)
    return str(python)


def tap(python: str, base: str, folder: Path) -> dict[str, float]:
    """tap-clinicaltrials over the whole server (in ``folder``: it keeps a cache file)."""
    started = time.perf_counter()
    out = subprocess.run([python, "-c", TAP_SCRIPT, base], cwd=folder, text=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if out.returncode:
        raise SystemExit(f"tap-clinicaltrials failed ({out.returncode}): {out.stderr[-2000:]}")
    result: dict[str, float] = json.loads(out.stderr.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    return result


def sync(url: str, base: str, workers: int | None) -> dict[str, float]:
    extra = ["--workers", str(workers)] if workers is not None else []
    started, before = time.perf_counter(), children_cpu()
    out = subprocess.run([sys.executable, str(ROOT / "cli.py"), "sync", "--db", url,
                          "--base-url", base, "--min-interval", "0", "--format", "json",
                          "--no-progress", *extra], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"sync failed ({out.returncode}): {out.stderr}")
    result: dict[str, float] = json.loads(out.stdout)
    result["wall"] = time.perf_counter() - started
    result["cpu"] = children_cpu() - before  # its parsing workers included
    return result


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.bytecode import compile_project

    compile_project()  # as a user's installed copy: see bench/bytecode.py
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=5035)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None,
                        help="parsing processes of the sync (default: its own, one per core)")
    parser.add_argument("--tap-python", help="an interpreter that has tap-clinicaltrials "
                        "(default: its own environment, made once)")
    parser.add_argument("--no-tap", action="store_true", help="skip tap-clinicaltrials")
    parser.add_argument("--rounds", type=int, default=3,
                        help="floor-then-syncs rounds; the ratios' median is the figure")
    parser.add_argument("--pull", nargs=2, metavar=("BASE", "PAGE_SIZE"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pull:
        pull(args.pull[0], int(args.pull[1]))
        return
    store = StudyStore(studies(args.studies))
    kinds = args.db.split(",")
    with tempfile.TemporaryDirectory() as tmp, ReplicaServer(store) as server:
        syncs: dict[str, list[float]] = {kind: [] for kind in kinds}
        ratios: dict[str, list[float]] = {kind: [] for kind in kinds}
        # The replica evaluates a search on its first request and keeps the ordered hits
        # (harvester/serve/studies.py): pulled once unmeasured, every floor is a warm one,
        # as every sync's is (each sync comes after a floor).
        floor(server.base_url, args.page_size)
        for turn in range(1, args.rounds + 1):
            # Each round pulls the floor again and syncs each database right after it: a
            # ratio compares runs made under the same load (this machine's drifts ±20%).
            base = floor(server.base_url, args.page_size)
            assert base["studies"] == args.studies, base
            print(f"round {turn} of {args.rounds} — load average {os.getloadavg()[0]:.1f} on "
                  f"{os.cpu_count()} cores")
            print(f"floor: {args.studies:,} studies pulled, nothing parsed: "
                  f"{base['seconds']:.2f} s ({args.studies / base['seconds']:,.0f}/s; "
                  f"{base['cpu']:.2f} s CPU as a whole process)")
            for kind in kinds:
                result = _one_sync(kind, Path(tmp), server.base_url, args.workers)
                assert result["new"] == args.studies, result
                own, wall = result["seconds"], result["wall"]
                print(f"trials sync → {kind:10}: {own:6.2f} s = {own / base['seconds']:.1f}× "
                      f"the floor ({wall:.2f} s, {wall / base['seconds']:.1f}×, as a whole "
                      f"process); busy: HTTP {result['http_seconds']:.1f} s, parsing "
                      f"{result['parse_seconds']:.1f} s (in workers, overlapped), storing "
                      f"{result['store_seconds']:.1f} s; CPU {result['cpu']:.2f} s with its "
                      f"workers = {result['cpu'] / base['cpu']:.1f}× the floor's")
                syncs[kind].append(own)
                ratios[kind].append(own / base["seconds"])
        if args.rounds > 1:
            for kind in kinds:
                target = 2 if kind == "sqlite" else 3
                print(f"median over {args.rounds} rounds, trials sync → {kind:10}: "
                      f"{statistics.median(syncs[kind]):.2f} s, "
                      f"{statistics.median(ratios[kind]):.1f}× the floor (rounds: "
                      f"{', '.join(f'{r:.1f}×' for r in ratios[kind])}; target ≤ {target}×)")
        if args.no_tap:
            return
        folder = Path(tmp) / "tap"
        folder.mkdir()
        found = tap(args.tap_python or tap_python(), server.base_url, folder)
        print(f"tap-clinicaltrials (stores nothing): {found['seconds']:6.2f} s = "
              f"{found['seconds'] / base['seconds']:.1f}× the floor "
              f"({found['wall']:.2f} s as a whole process)")
        for kind, owns in syncs.items():
            own = statistics.median(owns)
            print(f"trials sync → {kind:10} is {found['seconds'] / own:.1f}× faster than "
                  "tap-clinicaltrials (target ≥ 3.5×)")


def _one_sync(kind: str, tmp: Path, base: str, workers: int | None) -> dict[str, float]:
    """A full sync into a fresh catalogue of ``kind`` (a PostgreSQL schema dropped after)."""
    url, engine, schema = fresh_url(kind, tmp)
    try:
        return sync(url, base, workers)
    finally:
        if engine is not None:
            import sqlalchemy as sa

            with engine.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


if __name__ == "__main__":
    main()
