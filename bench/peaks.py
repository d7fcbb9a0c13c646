"""Peak memory of a bench's measured process and of its worker processes, as their own.

``getrusage(...).ru_maxrss`` is no measure of a process a bench starts: on Linux a process
started by fork (or vfork) and exec carries its parent's high-water mark across the exec, so a
child of a bench that had read a big zip (600,000 ``ZipInfo``s) or held the payloads of
``json.loads``' floor reported the bench's peak as its own, and every worker, spawned the same
way, the importer's.  ``VmHWM`` in ``/proc/<pid>/status`` belongs to the address space the
process runs in, which exec makes anew: this module reads that.  A worker's figure is read
while it runs (a thread samples the processes whose parent is this one), since nothing is
left of it once it has ended.  Elsewhere than Linux, ``ru_maxrss`` stands in.
"""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")


def _hwm_kb(pid: int | str) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def own_peak_mb() -> float:
    """This process's own peak RSS in MB."""
    kb = _hwm_kb("self")
    return (kb if kb is not None
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def _children(parent: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid …: comm may hold spaces and parentheses, so split after it.
        if int(stat[stat.rfind(")") + 2:].split()[1]) == parent:
            found.append(int(entry.name))
    return found


class WorkerPeaks:
    """``with WorkerPeaks() as peaks: …`` then ``peaks.largest_mb``: the largest own peak RSS
    of this process's children seen while the block ran (sampled every ``every`` seconds: a
    worker living less than that may be missed)."""

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self.largest_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @property
    def largest_mb(self) -> float:
        if not self.largest_kb and not PROC.joinpath("self", "status").exists():
            return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return self.largest_kb / 1024

    def sample(self) -> None:
        for pid in _children(os.getpid()):
            kb = _hwm_kb(pid)
            if kb is not None and kb > self.largest_kb:
                self.largest_kb = kb

    def _watch(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def __enter__(self) -> WorkerPeaks:
        if PROC.joinpath("self", "status").exists():
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
