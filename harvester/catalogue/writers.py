"""Many writers on PostgreSQL: what keeps concurrent imports, syncs and backfills apart
without a catalogue-wide lock.

- **The database decides.**  A version is unique per (trial, source, content hash); a trial
  row per NCT id; a payload per hash.  A batch locks the rows of the trials it touches
  (``SELECT … FOR UPDATE``, in NCT order) before it reads what is held, so the current
  pointer is moved by one writer at a time; a writer that loses a race (a unique violation, a
  deadlock, a serialization failure) rolls its whole batch back and runs it again, and then
  finds the other's version held: never a duplicate, never a lost version.
- **One sync per query.**  A session advisory lock keyed on the query's identity (its
  parameters' hash), held while the query syncs.
- **Runs that died.**  Each running run holds a session advisory lock keyed on its id; the
  server drops it when the process dies (kill -9 included), so a run still marked
  ``running`` whose lock nobody holds has died, whoever else is writing.

Both are held by one :class:`Session` per process and catalogue: one connection, however
many threads sync.

SQLite keeps its single writer (:func:`harvester.catalogue.lock.writer_lock`); there these
are no-ops.
"""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from harvester.errors import CatalogueBusyError

T = TypeVar("T")

#: SQLSTATEs after which a whole transaction is worth running again: unique violation,
#: serialization failure, deadlock detected.
RETRYABLE = {"23505", "40001", "40P01"}
ATTEMPTS = 30


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def retrying(engine: Engine, work: Callable[[], T], *,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """``work()`` (one transaction), run again from the start when PostgreSQL says another
    writer got there first (a unique violation, a deadlock, a serialization failure)."""
    if not is_postgres(engine):
        return work()
    for attempt in range(ATTEMPTS):
        try:
            return work()
        except sa.exc.DBAPIError as exc:
            if _sqlstate(exc) not in RETRYABLE or attempt == ATTEMPTS - 1:
                raise
            sleep(random.uniform(0.0, 0.01 * 2 ** min(attempt, 6)))
    raise AssertionError("unreachable")


def lock_trials(conn: Connection, nct_ids: list[str]) -> None:
    """PostgreSQL: lock these trials' rows for the rest of the transaction, in NCT order (so
    two batches never wait on each other in a circle over rows they both hold)."""
    if not is_postgres(conn) or not nct_ids:
        return
    for start in range(0, len(nct_ids), 500):
        conn.execute(sa.text("SELECT nct_id FROM trial WHERE nct_id = ANY(:ids) "
                             "ORDER BY nct_id FOR UPDATE"),
                     {"ids": nct_ids[start:start + 500]}).all()


# --- advisory lock keys: (namespace of this catalogue's schema, a number) -------------------

def _space(conn: Connection, what: str) -> int:
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    return zlib.crc32(f"trial-harvester {what} {schema}".encode()) & 0x7FFFFFFF


_PAIR = "CAST(:s AS INTEGER), CAST(:n AS INTEGER)"


def _signed(value: int) -> int:
    return value - 2 ** 32 if value >= 2 ** 31 else value


class Session:
    """One PostgreSQL session per process (per catalogue) that holds this process's
    advisory locks — its running runs and the queries it syncs — however many threads
    run them: the locks last as long as the process (kill -9 drops them), and a process
    syncing N queries at once holds one connection for them, not N."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._mutex = threading.Lock()
        self._queries: set[int] = set()
        self._runs: set[int] = set()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def insert_run(self, insert: Callable[[Connection], int]) -> int:
        """Insert a run (``insert``) and hold it, in one transaction: nobody sees it running
        and unheld."""
        with self._mutex:
            conn = self._connection()
            with conn.begin():
                run_id = insert(conn)
                conn.execute(sa.text(f"SELECT pg_advisory_lock({_PAIR})"),
                             {"s": _space(conn, "run"), "n": run_id})
            self._runs.add(run_id)
        return run_id

    def _idle(self) -> None:
        """Give the connection back to the pool once it holds nothing (under the mutex)."""
        if self._conn is not None and not self._runs and not self._queries:
            self._conn.close()
            self._conn = None

    def release_run(self, run_id: int) -> None:
        with self._mutex:
            if self._conn is None or run_id not in self._runs:
                return
            self._runs.discard(run_id)
            self._conn.execute(sa.text(f"SELECT pg_advisory_unlock({_PAIR})"),
                               {"s": _space(self._conn, "run"), "n": run_id})
            self._conn.commit()
            self._idle()

    def _try_query(self, number: int) -> bool:
        with self._mutex:
            if number in self._queries:  # this process syncs it already (another thread)
                return False
            conn = self._connection()
            taken = bool(conn.execute(sa.text(f"SELECT pg_try_advisory_lock({_PAIR})"),
                                      {"s": _space(conn, "query"), "n": number}).scalar())
            conn.commit()
            if taken:
                self._queries.add(number)
            else:
                self._idle()
            return taken

    def _release_query(self, number: int) -> None:
        with self._mutex:
            self._queries.discard(number)
            if self._conn is not None:
                self._conn.execute(sa.text(f"SELECT pg_advisory_unlock({_PAIR})"),
                                   {"s": _space(self._conn, "query"), "n": number})
                self._conn.commit()
                self._idle()

    @contextmanager
    def query_lock(self, key: str, label: str, *, wait: float = 0.0,
                   poll: float = 0.2) -> Iterator[None]:
        """Hold the lock of one query (``key``: its identity) while it syncs: a second sync
        of the same query waits up to ``wait`` seconds, then is refused.  SQLite: nothing
        (its one writer lock already keeps syncs apart)."""
        if not is_postgres(self.engine):
            yield
            return
        number = _signed(zlib.crc32(key.encode()))
        start = time.monotonic()
        while not self._try_query(number):
            waited = time.monotonic() - start
            if waited >= wait:
                raise CatalogueBusyError(
                    f"another process is syncing {label} on this catalogue; "
                    + (f"gave up after waiting {waited:.1f} s" if wait > 0
                       else "give --wait SECONDS to wait for it"))
            time.sleep(min(poll, max(wait - waited, 0.01)))
        try:
            yield
        finally:
            self._release_query(number)

    def close(self) -> None:
        with self._mutex:
            conn, self._conn = self._conn, None
            self._queries.clear()
            self._runs.clear()
        if conn is not None:
            conn.close()


def unheld_runs(conn: Connection) -> sa.TextClause:
    """A condition on ``run.id``: no live process holds the run (PostgreSQL)."""
    return sa.text(
        "NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.objsubid = 2 AND l.classid::bigint = :space AND l.objid::bigint = run.id)"
    ).bindparams(space=_space(conn, "run"))
