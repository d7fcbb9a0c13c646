"""Work shared by many processes through the catalogue's database: the backfill queue, and
the pace of requests to the registry.

**The queue.**  ``trials history --backfill --queue`` workers take one trial at a time with
``SELECT … FOR UPDATE SKIP LOCKED`` (PostgreSQL): the row stays locked by the worker's open
transaction while it fetches and stores that trial's history, other workers skip it, and the
row is marked done in that same transaction.  A worker killed (kill -9 included) loses its
connection, the server drops the lock and the trial is pending again for the next worker —
redoing it stores nothing twice (versions already held are skipped).  On SQLite the queue is
worked by one writer at a time, like every write there.

**The pace.**  One row per registry origin holds the time (the database server's clock, so
machines with skewed clocks agree) before which no worker may start its next request; each
request reserves the next slot with one atomic upsert, so all workers together keep to one
``--min-interval``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

_META = sa.MetaData()
QUEUE = sa.Table(
    "backfill_queue", _META,
    sa.Column("nct_id", sa.String(11), primary_key=True),
    sa.Column("state", sa.String(10), nullable=False, index=True),  # pending, done, failed
    sa.Column("queued_at", sa.DateTime, nullable=False),
    sa.Column("done_at", sa.DateTime),
    sa.Column("run_id", sa.Integer, index=True),
    sa.Column("versions", sa.Integer),  # past versions stored
    sa.Column("worker", sa.Text),  # PID@host
    sa.Column("message", sa.Text),
)
PACE = sa.Table(
    "request_pace", _META,
    sa.Column("origin", sa.String(200), primary_key=True),
    sa.Column("next_at", sa.Float, nullable=False),  # seconds since the epoch, server clock
)


def create(conn: Connection) -> None:
    """Schema step."""
    _META.create_all(conn, checkfirst=True)


def _insert(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(QUEUE)


def enqueue(engine: Engine, nct_ids: Sequence[str], now: datetime) -> int:
    """Queue these trials (those queued before, done or not, stay as they are); how many
    were added."""
    added = 0
    with engine.begin() as conn:
        for start in range(0, len(nct_ids), 500):
            rows = [{"nct_id": n, "state": "pending", "queued_at": now}
                    for n in nct_ids[start:start + 500]]
            if rows:
                result = conn.execute(_insert(conn).on_conflict_do_nothing(
                    index_elements=["nct_id"]), rows)
                added += max(result.rowcount, 0)
    return added


def enqueue_all(engine: Engine, now: datetime) -> int:
    """Queue every trial of the catalogue not queued before; how many were added."""
    with engine.begin() as conn:
        result = conn.execute(sa.text(
            "INSERT INTO backfill_queue (nct_id, state, queued_at) "
            "SELECT nct_id, 'pending', :now FROM trial WHERE true "
            "ON CONFLICT (nct_id) DO NOTHING"), {"now": now})
    return max(result.rowcount, 0)


def counts(engine: Engine) -> dict[str, int]:
    """Trials in the queue by state."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(QUEUE.c.state, sa.func.count())
                            .group_by(QUEUE.c.state)).all()
    return {state: int(n) for state, n in rows}


@dataclass
class Claim:
    """A trial taken from the queue; say how it went before the claim ends."""

    nct_id: str
    state: str = "done"
    versions: int = 0
    message: str | None = None


@contextmanager
def claim(engine: Engine, *, run_id: int, worker: str,
          now: datetime) -> Iterator[Claim | None]:
    """Take the next pending trial no other worker holds (None when there is none); it is
    marked done (or failed) when the block ends, or left pending if the block raises."""
    if engine.dialect.name != "postgresql":
        with _sqlite_claim(engine, run_id, worker, now) as taken:
            yield taken
        return
    with engine.connect() as conn, conn.begin():
        nct_id = conn.execute(sa.select(QUEUE.c.nct_id).where(QUEUE.c.state == "pending")
                              .order_by(QUEUE.c.nct_id).limit(1)
                              .with_for_update(skip_locked=True)).scalar()
        if nct_id is None:
            yield None
            return
        taken = Claim(nct_id)
        yield taken
        _finish(conn, taken, run_id, worker, now)


@contextmanager
def _sqlite_claim(engine: Engine, run_id: int, worker: str,
                  now: datetime) -> Iterator[Claim | None]:
    # The one writer (the caller holds the writer lock): no row lock to hold, and a read
    # transaction held open would go stale under the writes of the block.
    with engine.connect() as conn:
        nct_id = conn.execute(sa.select(QUEUE.c.nct_id).where(QUEUE.c.state == "pending")
                              .order_by(QUEUE.c.nct_id).limit(1)).scalar()
    if nct_id is None:
        yield None
        return
    taken = Claim(nct_id)
    yield taken
    with engine.begin() as conn:
        _finish(conn, taken, run_id, worker, now)


def _finish(conn: Connection, taken: Claim, run_id: int, worker: str, now: datetime) -> None:
    conn.execute(sa.update(QUEUE).where(QUEUE.c.nct_id == taken.nct_id).values(
        state=taken.state, done_at=now, run_id=run_id, versions=taken.versions,
        worker=worker, message=taken.message))


class SharedPace:
    """A pacer for :class:`harvester.fetch.http.HttpClient` kept in the database: every
    process that uses one catalogue (PostgreSQL) shares one request interval per origin."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, origin: str, interval: float) -> float:
        """Reserve the next request slot for ``origin``; the seconds to wait for it."""
        with self.engine.begin() as conn:
            wait = conn.execute(sa.text(
                "INSERT INTO request_pace AS p (origin, next_at) VALUES "
                "(:origin, extract(epoch FROM clock_timestamp()) + :interval) "
                "ON CONFLICT (origin) DO UPDATE SET next_at = "
                "greatest(p.next_at, extract(epoch FROM clock_timestamp())) + :interval "
                "RETURNING next_at - :interval - extract(epoch FROM clock_timestamp())"),
                {"origin": origin[:200], "interval": interval}).scalar()
        return max(float(wait or 0.0), 0.0)
