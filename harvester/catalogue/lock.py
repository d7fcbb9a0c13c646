"""One writer at a time: a lock that works for SQLite files and for PostgreSQL.

SQLite: an exclusive ``flock`` on a file beside the database.  PostgreSQL: a session advisory
lock held on its own connection.  Both are released by the operating system or the server when
the holder dies, even by SIGKILL — so while we hold the lock, any run still marked "running"
is known to be dead.
"""

from __future__ import annotations

import fcntl
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from harvester.errors import CatalogueBusyError


@contextmanager
def writer_lock(engine: Engine, *, wait: float = 0.0, poll: float = 0.2) -> Iterator[None]:
    """Hold the catalogue's writer lock; wait up to ``wait`` seconds for it, then refuse."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        with _pg_lock(engine, wait, poll):
            yield
        return
    if not url.database or url.database == ":memory:":
        yield  # a private in-memory database has no other writer
        return
    with _file_lock(Path(url.database + ".lock"), wait, poll):
        yield


def _deadline_passed(start: float, wait: float) -> bool:
    return time.monotonic() - start >= wait


@contextmanager
def _file_lock(path: Path, wait: float, poll: float) -> Iterator[None]:
    with path.open("a+") as handle:
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if _deadline_passed(start, wait):
                    raise CatalogueBusyError(
                        "another import or sync is writing to this catalogue "
                        f"(lock {path}); try again when it has finished") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _pg_lock(engine: Engine, wait: float, poll: float) -> Iterator[None]:
    with engine.connect() as conn:
        # Advisory locks are per database; several catalogues may share one, a schema each.
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
        key = zlib.crc32(f"trial-harvester writer {schema}".encode())
        start = time.monotonic()
        while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}
                               ).scalar():
            conn.rollback()
            if _deadline_passed(start, wait):
                raise CatalogueBusyError("another import or sync is writing to this "
                                         "catalogue; try again when it has finished")
            time.sleep(poll)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
