"""How long commands take as whole processes: start-up is what a user waits for first.

Run: ``python bench/startup.py [--repeat 7] [--studies 200]``.

Starts the loopback replica in this process with a few hundred studies, syncs them once into a
fresh SQLite catalogue, then times each command as a new process (the ``trials`` console
script next to this Python, else ``python cli.py``): ``trials --help``, ``trials show NCT…``,
``trials status`` (when the command exists), a nightly ``trials sync`` that finds nothing
new, and the README's cron line, ``trials sync --all``, over three saved queries that find
nothing new.  Prints the median and the best wall time of each (target: under 0.3 s each) and the
floor, a Python that only starts and exits; beside them the median CPU time (user + system)
of each process, which a loaded machine inflates less than the wall time, and the load
average.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cli  # noqa: E402
from bench.bytecode import compile_project  # noqa: E402
from bench.sync_replica import studies, sync  # noqa: E402
from harvester.serve import ReplicaServer, StudyStore  # noqa: E402

#: The saved queries of the ``sync --all`` case.
SAVED: dict[str, Callable[[list[str]], tuple[str, ...]]] = {
    "completed": lambda ids: ("--status", "COMPLETED"),
    "picked": lambda ids: ("--ids", ",".join(ids[:3])),
    "recruiting": lambda ids: ("--status", "RECRUITING"),
}


def command() -> list[str]:
    script = Path(sys.executable).with_name("trials")
    return [str(script)] if script.exists() else [sys.executable, str(ROOT / "cli.py")]


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def wall(args: list[str], repeat: int) -> tuple[list[float], list[float]]:
    """The wall and the CPU seconds of each run."""
    times, cpu = [], []
    for _ in range(repeat):
        started, cpu_before = time.perf_counter(), _children_cpu()
        out = subprocess.run(args, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        cpu.append(_children_cpu() - cpu_before)
        if out.returncode:
            raise SystemExit(f"{' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return times, cpu


def main() -> None:
    compile_project()  # as a user's installed copy: see bench/bytecode.py
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
        for name, search in SAVED.items():
            sync(db, server.base_url, *search(store.ids()), "--save", name)
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
        cases[f"trials sync --all ({len(SAVED)} queries)"] = [
            *trials, "sync", "--all", "--db", db, "--base-url", server.base_url,
            "--min-interval", "0", "--no-progress", "--quiet"]
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} on "
              f"{os.cpu_count()} cores")
        print(f"{'command':<34} {'median':>8} {'best':>8} {'CPU':>8}   (seconds, "
              f"{args.repeat} runs: wall median and best, CPU median)")
        for label, argv in cases.items():
            times, cpu = wall(argv, args.repeat)
            print(f"{label:<34} {statistics.median(times):8.3f} {min(times):8.3f} "
                  f"{statistics.median(cpu):8.3f}")


if __name__ == "__main__":
    main()
