"""The nightly ``trials sync --all`` that finds nothing new, on the light path of
:mod:`harvester.fetch.quicksync`: no SQLAlchemy, no ``requests``.

Under the writer lock, it records the batch's run as ``run_batch`` does (runs left running
marked interrupted, a run of kind ``batch``), then syncs the saved queries in turn (by name,
as the full path orders them) through one light client: robots.txt asked once, each query's
version and first page, each no-change sync recorded and reported (``on_done``) as it
finishes, and finally the batch's outcome.

The first query that has work — or that the light path cannot decide: a first pass, a resume
point, several NCT-id parts, a failed request — hands the rest of the batch over to the full
path (``hand_over``), still under the same lock: that query starts from what was fetched for
it, and it and every query after it run as the full path runs them, through one client that
goes on from the light one (its pace, its robots.txt).  Why not back to the light path after
that query: by then the full stack is loaded, and one client for the rest keeps pacing,
robots.txt and counting exactly as the full path's.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from harvester.catalogue.lock import file_lock
from harvester.fetch.params import split_ids
from harvester.fetch.quickhttp import QuickClient, Unsure
from harvester.fetch.quicksync import (
    Done,
    Head,
    QuickSync,
    connect,
    finish_run,
    mark_interrupted,
    start_run,
    utc_now,
)

#: A batch's queries, as ``syncing._jobs`` lists them: (name, parameters).
Jobs = list[tuple[str | None, dict[str, str]]]


@dataclass(frozen=True)
class HandOver:
    """A batch begun on the light path, for the full path to finish: its run, the outcome
    of each query synced already (0: ok), every job of the batch, and what was fetched for
    the first query left (None: nothing)."""

    batch_id: int
    outcomes: dict[str, int]
    jobs: Jobs
    head: Head | None


def quick_batch(db: str | None, *, base_url: str, min_interval: float, timeout: float,
                user_agent: str, wait: float, page_size: int,
                on_done: Callable[[str, Done], None],
                hand_over: Callable[[HandOver], int]) -> int | None:
    """``sync --all`` on the light path: the exit status (0, or what ``hand_over``
    returned); None, having recorded nothing, when the light path does not apply (not a
    SQLite catalogue of this schema, no saved queries, …)."""
    opened = connect(db, base_url)
    if opened is None:
        return None
    conn, database = opened
    client = QuickClient(user_agent=user_agent, timeout=timeout, min_interval=min_interval)
    quick = QuickSync(conn, base_url.rstrip("/"), client, page_size)
    try:
        try:
            jobs: Jobs = [(name, msgspec.json.decode(params)) for name, params in conn.execute(
                "SELECT name, params FROM saved_query ORDER BY name")]
        except (sqlite3.Error, msgspec.DecodeError):
            return None
        if not jobs:
            return None  # the full path says there is nothing to sync
        with file_lock(database, wait=wait):
            batch_id = _begin(conn, jobs)
            if batch_id is None:
                return None
            return _Batch(quick, batch_id, jobs).run(on_done, hand_over)
    finally:
        client.close()
        conn.close()


def _begin(conn: sqlite3.Connection, jobs: Jobs) -> int | None:
    """The batch's run, as ``run_batch`` starts it (None: not recorded)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            started_at = utc_now()
            mark_interrupted(conn, started_at)
            batch_id = start_run(conn, "batch", {"queries": [n for n, _ in jobs],
                                                 "full": False, "parallel": 1}, started_at)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.Error:
        return None
    return batch_id


class _Batch:
    def __init__(self, quick: QuickSync, batch_id: int, jobs: Jobs) -> None:
        self.quick = quick
        self.batch_id = batch_id
        self.jobs = jobs

    def run(self, on_done: Callable[[str, Done], None],
            hand_over: Callable[[HandOver], int]) -> int:
        outcomes: dict[str, int] = {}
        try:
            for name, params in self.jobs:
                outcome = self._one(name, params)
                if not isinstance(outcome, Done):
                    break
                on_done(name or "", outcome)
                outcomes[name or ""] = 0
            else:
                self._finish(len(self.jobs))
                return 0
        except BaseException as exc:  # as run_batch: the batch says how it ended
            self._fail(f"{type(exc).__name__}: {exc}")
            raise
        self.quick.client.close()  # the full client takes over
        return hand_over(HandOver(self.batch_id, outcomes, self.jobs, outcome))

    def _one(self, name: str | None, params: dict[str, str]) -> Done | Head:
        try:
            outcome = self.quick.sync(name, params, batch_id=self.batch_id) \
                if len(split_ids(params)) == 1 else None
        except (sqlite3.Error, Unsure):
            outcome = None
        return outcome if outcome is not None else self.quick.handing_over()

    def _finish(self, count: int) -> None:
        finish_run(self.quick.conn, self.batch_id, "ok", f"{count} of {count} queries ok")

    def _fail(self, message: str) -> None:
        with contextlib.suppress(sqlite3.Error):  # else the next writer marks it interrupted
            finish_run(self.quick.conn, self.batch_id, "failed", message)

