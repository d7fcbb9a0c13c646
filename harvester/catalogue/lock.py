"""One writer at a time on SQLite, many on PostgreSQL: a lock that works for SQLite files and
for PostgreSQL, and that says who holds it.

On PostgreSQL, imports, syncs, fetches and backfills take the lock *shared* (``shared=True``):
they run side by side, and the database's constraints and row locks keep their writes apart
(see :mod:`harvester.catalogue.writers`).  Maintenance that must be alone (reparse, the
search and similarity index rebuilds) takes it exclusively, so it waits for, and keeps out,
every writer.  On SQLite every writer takes it exclusively: one writer at a time.

SQLite: an exclusive ``flock`` on a file beside the database.  PostgreSQL: a session advisory
lock held on its own connection.  Both are released by the operating system or the server when
the holder dies, even by SIGKILL — so while we hold the lock, any run still marked "running"
is known to be dead.

The holder writes who it is (PID, host, command, since when) where a refused writer and
``trials status`` can read it: into the lock file itself (SQLite), or into the ``lock_holder``
table (PostgreSQL).  A record is believed only while the lock is really held (probed with
``flock`` or ``pg_locks``), so a holder killed by SIGKILL leaves no false claim behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvester.errors import CatalogueBusyError

if TYPE_CHECKING:  # imported where used: `trials status` on SQLite reads without SQLAlchemy
    from sqlalchemy.engine import Connection, Engine

#: What this process says it is doing when it holds the lock: its command line (sys.argv),
#: unless set_command gave another.
COMMAND: list[str] = []
_SECRET_OPTIONS = ("--db", "--config")


def set_command(argv: list[str]) -> None:
    """Record the command line shown to other writers (``trials`` and ``argv``)."""
    COMMAND[:] = ["trials", *argv]


def _shown(argv: list[str]) -> str:
    """A command line without the values of options that may hold secrets (a database
    URL's password)."""
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append("…")
            hide_next = False
        elif arg in _SECRET_OPTIONS:
            shown.append(arg)
            hide_next = True
        elif arg.startswith(tuple(f"{o}=" for o in _SECRET_OPTIONS)):
            shown.append(arg.split("=", 1)[0] + "=…")
        elif "://" in arg and "@" in arg:  # a URL with credentials given some other way
            shown.append("…")
        else:
            shown.append(arg)
    return " ".join(shown)

@dataclass(frozen=True)
class LockHolder:
    pid: int | None
    host: str | None
    command: str | None
    since: datetime | None
    others: int = 0  # PostgreSQL: more writers holding it beside this one (shared)

    def describe(self) -> str:
        parts = [f"PID {self.pid}" if self.pid else "an unknown process",
                 f"on {self.host}" if self.host else None,
                 f"running {self.command!r}" if self.command else None,
                 f"since {self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since else None,
                 f"(and {self.others} other writer{'s' * (self.others > 1)})"
                 if self.others else None]
        return " ".join(p for p in parts if p)

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "host": self.host, "command": self.command,
                "since": self.since.isoformat() if self.since else None,
                "others": self.others}


def _me() -> dict[str, Any]:
    argv = COMMAND or [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]
    command = _shown(argv)[:300]
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "since": datetime.now(UTC).isoformat(timespec="seconds")}


def _holder(data: dict[str, Any] | None) -> LockHolder:
    data = data or {}
    since = None
    if data.get("since"):
        try:
            since = datetime.fromisoformat(str(data["since"]))
        except ValueError:
            since = None
    pid = data.get("pid")
    return LockHolder(int(pid) if isinstance(pid, int) else None, data.get("host"),
                      data.get("command"), since)


def _busy(holder: LockHolder, wait: float, waited: float) -> CatalogueBusyError:
    patience = (f"gave up after waiting {waited:.1f} s" if wait > 0 else
                "give --wait SECONDS to wait for it")
    return CatalogueBusyError(f"another import or sync is writing to this catalogue: "
                              f"{holder.describe()}; {patience}")


@contextmanager
def writer_lock(engine: Engine, *, wait: float = 0.0, poll: float = 0.2,
                shared: bool = False) -> Iterator[None]:
    """Hold the catalogue's writer lock; wait up to ``wait`` seconds for it, then refuse
    (:class:`CatalogueBusyError` naming the holder and how long we waited).  ``shared``:
    on PostgreSQL, other shared holders may hold it at the same time (SQLite: ignored)."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        with _pg_lock(engine, wait, poll, shared):
            yield
        return
    if not url.database or url.database == ":memory:":
        yield  # a private in-memory database has no other writer
        return
    with file_lock(url.database, wait=wait, poll=poll):
        yield


@contextmanager
def file_lock(database: str, *, wait: float = 0.0, poll: float = 0.2) -> Iterator[None]:
    """:func:`writer_lock` of the SQLite file ``database`` (its path), without an engine."""
    with _file_lock(Path(database + ".lock"), wait, poll):
        yield


def lock_holder(engine: Engine) -> LockHolder | None:
    """Who holds the writer lock now (None when nobody does).  Reads only: creates nothing."""
    url = engine.url
    if url.get_backend_name() == "postgresql":
        return _pg_holder(engine)
    if not url.database or url.database == ":memory:":
        return None
    return file_holder(url.database)


def file_holder(database: str) -> LockHolder | None:
    """:func:`lock_holder` of the SQLite file ``database`` (its path), without an engine."""
    return _file_holder(Path(database + ".lock"))


# --- SQLite: flock on a file beside the database ---------------------------------------------

def _read_claim(handle: Any) -> dict[str, Any] | None:
    handle.seek(0)
    try:
        data = json.loads(handle.read() or "null")
    except ValueError:  # being written, or a lock file of an older release
        return None
    return data if isinstance(data, dict) else None


@contextmanager
def _file_lock(path: Path, wait: float, poll: float) -> Iterator[None]:
    with path.open("a+") as handle:
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= wait:
                    raise _busy(_holder(_read_claim(handle)), wait, waited) from None
                time.sleep(min(poll, max(wait - waited, 0.01)))
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(_me()))
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _file_holder(path: Path) -> LockHolder | None:
    try:
        handle = path.open("r")
    except FileNotFoundError:
        return None
    with handle:
        try:  # a shared lock is granted only when no writer holds the exclusive one
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(_read_claim(handle))
        fcntl.flock(handle, fcntl.LOCK_UN)
        return None


# --- PostgreSQL: a session advisory lock, the holder in a table -------------------------------

def _key(conn: Connection) -> int:
    import sqlalchemy as sa

    # Advisory locks are per database; several catalogues may share one, a schema each.
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    return zlib.crc32(f"trial-harvester writer {schema}".encode())


def _has_holder_table(conn: Connection) -> bool:
    import sqlalchemy as sa

    return bool(sa.inspect(conn).has_table("lock_holder"))


@contextmanager
def _pg_lock(engine: Engine, wait: float, poll: float, shared: bool) -> Iterator[None]:
    import sqlalchemy as sa

    take = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    with engine.connect() as conn:
        key = _key(conn)
        start = time.monotonic()
        while not conn.execute(sa.text(f"SELECT {take}(:k)"), {"k": key}).scalar():
            conn.rollback()
            waited = time.monotonic() - start
            if waited >= wait:
                raise _busy(_pg_holder(engine) or LockHolder(None, None, None, None),
                            wait, waited)
            time.sleep(min(poll, max(wait - waited, 0.01)))
        conn.commit()
        recorded = _has_holder_table(conn)
        conn.rollback()
        # One row per holder, keyed by its server process (several hold a shared lock);
        # rows left by holders that died are cleared here.
        if recorded:
            me = _me()
            conn.execute(sa.text(f"DELETE FROM lock_holder WHERE id = pg_backend_pid() OR id "
                                 f"NOT IN ({_HOLDING_PIDS})"), {"k": key})
            conn.execute(sa.text("INSERT INTO lock_holder (id, pid, host, command, since) "
                                 "VALUES (pg_backend_pid(), :pid, :host, :command, :since)"),
                         me)
            conn.commit()
        try:
            yield
        finally:
            if recorded:
                conn.execute(sa.text("DELETE FROM lock_holder WHERE id = pg_backend_pid()"))
            unlock = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
            conn.execute(sa.text(f"SELECT {unlock}(:k)"), {"k": key})
            conn.commit()


#: The server processes holding the writer lock (``:k``), shared or not.
_HOLDING_PIDS = ("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                 "AND database = (SELECT oid FROM pg_database "
                 "WHERE datname = current_database()) "
                 "AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = :k")


def _pg_holder(engine: Engine) -> LockHolder | None:
    """The longest holder of the writer lock (of several shared holders, the first)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        key = _key(conn)
        holders = list(conn.execute(sa.text(_HOLDING_PIDS), {"k": key}).scalars())
        if not holders:
            return None
        if not _has_holder_table(conn):
            return LockHolder(None, None, None, None)
        row = conn.execute(sa.text(
            "SELECT pid, host, command, since FROM lock_holder WHERE id IN "
            f"({_HOLDING_PIDS}) OR (id = 1 AND NOT EXISTS (SELECT 1 FROM lock_holder "
            "WHERE id <> 1)) ORDER BY since LIMIT 1"), {"k": key}).mappings().first()
    first = _holder(dict(row) if row else None)
    return LockHolder(first.pid, first.host, first.command, first.since, len(holders) - 1)
