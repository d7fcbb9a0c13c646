"""How long commands take as whole processes: start-up is what a user waits for first.

Run: ``python bench/startup.py [--repeat 7] [--studies 200]``.

Starts the loopback replica in this process with a few hundred studies, syncs them once into a
fresh SQLite catalogue, then times each command as a new process (the ``trials`` console
script next to this Python, else ``python cli.py``): ``trials --help``, ``trials show NCT…``,
``trials status`` (when the command exists), and a nightly ``trials sync`` that finds nothing
new.  Prints the median and the best wall time of each (target: under 0.3 s each) and the
floor, a Python that only starts and exits.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cli  # noqa: E402
from bench.sync_replica import studies, sync  # noqa: E402
from harvester.serve import ReplicaServer, StudyStore  # noqa: E402


def command() -> list[str]:
    script = Path(sys.executable).with_name("trials")
    return [str(script)] if script.exists() else [sys.executable, str(ROOT / "cli.py")]


def wall(args: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        out = subprocess.run(args, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if out.returncode:
            raise SystemExit(f"{' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--studies", type=int, default=200)
    args = parser.parse_args()
    store = StudyStore(studies(args.studies))
    trials = command()
    with tempfile.TemporaryDirectory() as tmp, ReplicaServer(store) as server:
        db = f"sqlite:///{Path(tmp) / 'catalogue.sqlite'}"
        sync(db, server.base_url)
        nct = store.ids()[0]
        cases = {
            "python -c pass (floor)": [sys.executable, "-c", "pass"],
            "trials --help": [*trials, "--help"],
            f"trials show {nct}": [*trials, "show", nct, "--db", db],
        }
        if "status" in cli.COMMANDS:
            cases["trials status"] = [*trials, "status", "--db", db]
        cases["trials sync (nothing new)"] = [
            *trials, "sync", "--db", db, "--base-url", server.base_url, "--min-interval", "0",
            "--no-progress", "--quiet"]
        print(f"{'command':<34} {'median':>8} {'best':>8}   (wall seconds, {args.repeat} runs)")
        for label, argv in cases.items():
            times = wall(argv, args.repeat)
            print(f"{label:<34} {statistics.median(times):8.3f} {min(times):8.3f}")


if __name__ == "__main__":
    main()
