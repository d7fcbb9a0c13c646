"""Worker processes that end with their parent, however it ends (kill -9 included).

A :class:`~concurrent.futures.ProcessPoolExecutor` notices a dead parent only when it next
reads its call queue, and a worker busy parsing (or blocked on that queue) does not: after a
kill -9 of an import its workers, and multiprocessing's resource tracker that waits for them,
used to live on indefinitely.  :func:`process_pool` gives pools whose workers run
:func:`die_with_parent` first:

* on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its
  parent dies (strictly: the moment the parent's thread that started it ends — so submit the
  first tasks, which start the workers, from a thread that lives as long as the pool);
* everywhere, a daemon thread that polls the parent's pid and ends the worker when it is
  gone (the parent's pid changes when the worker is re-parented).

With the workers gone, the resource tracker sees the last copy of its pipe close and exits
by itself.  Workers run with the cyclic garbage collector relaxed (:func:`relaxed_gc`): parsing
allocates millions of objects and makes no cycles, and the default thresholds had the
collector scan them some thirty times a batch — a fifth of a worker's time.

A pool may ask for workers that yield the CPU (``nice``): a sync's main process alone
downloads and stores every page, in order, in its transaction — the work everything else
waits for — and on two cores it shared them with two parsing workers: storing 5,035
studies kept it busy 2.1–2.3 s there, against 1.3–1.4 s alone (``bench/store_only.py``).
Workers ten steps nicer run whenever the main process waits (on the network, on the
database) and leave it the core when it is ready; its storing then took 1.1–1.5 s, and the
sync into SQLite 2.72 s against 2.98 s in a first comparison, 2–4% sooner (within the
noise) over four alternating rounds (``bench/sync_floor.py``).  On a busy machine they
also give way to everything else, as background work should.

Workers are started with ``spawn``, never ``fork``: a forked worker would inherit
the writer lock and the database connections.  Any part of the harvester that needs worker
processes (import, sync) should take them from here.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

_PR_SET_PDEATHSIG = 1
#: How often the watcher thread checks that the parent is alive (seconds).
POLL_SECONDS = 0.5


def _set_parent_death_signal() -> bool:
    """Ask the Linux kernel to SIGKILL this process when its parent dies; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, poll: float) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)  # the parent is gone: nothing left to report to
        time.sleep(poll)


def die_with_parent(parent: int, poll: float = POLL_SECONDS) -> None:
    """Make this process end when process ``parent`` does (call it first in a worker)."""
    _set_parent_death_signal()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, poll), name="parent-watch",
                     daemon=True).start()


#: Collector thresholds while records are parsed and stored (see :func:`relaxed_gc`).
RELAXED_GC = (50_000, 20, 100)


def relax_gc() -> tuple[int, int, int]:
    """Collect cycles less often (a young-generation pass per 50,000 allocations rather
    than 700): parsing and storing records makes no reference cycles, only many objects.
    Returns the thresholds before."""
    before = gc.get_threshold()
    gc.set_threshold(*RELAXED_GC)
    return before


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """:func:`relax_gc` for the duration of the block (an import, a sync's harvest)."""
    before = relax_gc()
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _start(parent: int, nice: int, initializer: Callable[..., Any] | None,
           args: tuple[Any, ...]) -> None:
    die_with_parent(parent)
    relax_gc()
    if nice:  # not allowed, or no such call here: as it is
        with contextlib.suppress(OSError, AttributeError):
            os.nice(nice)
    if initializer is not None:
        initializer(*args)


#: How many steps nicer than the main process the workers of a pool with ``nice=True`` run.
NICER = 10


def process_pool(workers: int, *, nice: bool = False,
                 initializer: Callable[..., Any] | None = None,
                 initargs: tuple[Any, ...] = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes that end with this one (see above); with
    ``nice``, :data:`NICER` steps nicer than this one."""
    return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_start,
                               initargs=(os.getpid(), NICER if nice else 0, initializer,
                                         initargs))
