"""Worker processes end with their parent, kill -9 included (harvester/ingest/workers.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harvester.ingest.workers import NICER, process_pool

ROOT = Path(__file__).resolve().parent.parent


def _proc_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a live process, None when it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[1]), fields[0]) if fields[0] != "Z" else None


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _proc_stat(int(entry))) is not None:
            parents[int(entry)] = stat[0]
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def assert_all_end(pids: set[int], within: float = 10.0) -> None:
    """Every process of ``pids`` ends within ``within`` seconds."""
    deadline = time.monotonic() + within
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {pid for pid in alive if _proc_stat(pid) is not None}
    assert not alive, f"processes left running after their parent died: {sorted(alive)}"


needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

_PARENT = """
import sys, time
from harvester.ingest.workers import process_pool
pool = process_pool(2)
[f.result() for f in [pool.submit(abs, -n) for n in range(8)]]  # both workers started
print("ready", flush=True)
time.sleep(600)
"""


@needs_proc
def test_pool_workers_die_with_a_killed_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        below = descendants(parent.pid)
        assert len(below) >= 2  # two workers (and the resource tracker)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    assert_all_end(below)


_WATCHED = """
import os, sys, time
from harvester.ingest.workers import die_with_parent
import harvester.ingest.workers as w
w._set_parent_death_signal = lambda: False  # as on a system without prctl
die_with_parent(os.getppid(), poll=0.05)
print("ready", flush=True)
time.sleep(600)
"""


@needs_proc
def test_without_prctl_the_watcher_thread_ends_the_worker(tmp_path: Path) -> None:
    # A middle process starts the worker, then is killed: the worker must notice alone.
    middle = subprocess.Popen(
        [sys.executable, "-c",
         "import subprocess, sys, time\n"
         f"p = subprocess.Popen([sys.executable, '-c', {_WATCHED!r}], cwd={str(ROOT)!r},"
         " stdout=sys.stdout)\n"
         "time.sleep(600)\n"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert middle.stdout is not None and middle.stdout.readline().strip() == "ready"
        below = descendants(middle.pid)
        assert len(below) == 1
    finally:
        os.kill(middle.pid, signal.SIGKILL)
        middle.wait()
    assert_all_end(below, within=5.0)


def test_a_pool_still_works() -> None:
    with process_pool(2) as pool:
        assert sorted(pool.map(abs, [-1, -2, 3])) == [1, 2, 3]


def _niceness(_: object = None) -> int:
    return os.nice(0)


def test_a_nice_pool_s_workers_yield_the_cpu_to_this_process() -> None:
    """Workers of ``nice=True`` run NICER steps nicer than this process (at most 19, the
    kernel's bound); a pool's workers otherwise run as this process does."""
    here = os.nice(0)
    with process_pool(2, nice=True) as pool:
        assert set(pool.map(_niceness, range(4))) == {min(here + NICER, 19)}
    with process_pool(1) as pool:
        assert pool.submit(_niceness).result() == here
