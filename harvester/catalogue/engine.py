"""Catalogue location (a URL), the SQLAlchemy engine for it, and schema migrations.

The engine comes from a URL, so SQLite, PostgreSQL and a test database differ only in that
URL.  The default is a SQLite file in the user's data directory; ``TRIALS_DB`` overrides it.

Migrations: the schema version is recorded in ``schema_info``.  Opening a catalogue applies
every step above its version in order, each in its own transaction, so a catalogue made by an
older release opens (and is upgraded); one made by a newer release is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from platformdirs import user_data_path
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from harvester.catalogue import storage
from harvester.catalogue import tables as t
from harvester.errors import CatalogueError

ENV_VAR = "TRIALS_DB"


def default_url() -> str:
    """``TRIALS_DB`` if set, else a SQLite file in the user's data directory."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    folder = user_data_path("trial-harvester", appauthor=False)
    return f"sqlite:///{folder / 'catalogue.sqlite'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    # WAL: readers never block the importer, and a killed writer loses only its open
    # transaction.  synchronous=NORMAL is crash-safe in WAL mode (only power loss can drop
    # the last commits).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # Checkpoint the WAL every 64 MiB rather than 4 MiB: an import batch writes several MiB,
    # and each checkpoint costs an fsync.
    cursor.execute("PRAGMA wal_autocheckpoint=16384")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; creates the folder of a SQLite file."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise CatalogueError(f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        storage.install(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = sa.create_engine(parsed, pool_pre_ping=True)
        storage.install(engine)
        return engine
    raise CatalogueError(f"unsupported database {parsed.get_backend_name()!r}: use sqlite:/// "
                         "or postgresql+psycopg://")


def _create_v1(conn: Connection) -> None:
    SQLModel.metadata.create_all(conn, tables=[
        SQLModel.metadata.tables[name] for name in (
            "run", "trial", "version", "payload", "version_condition",
            "version_intervention", "version_site")])


def _add_trial_events(conn: Connection) -> None:
    t.TrialEvent.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]


def _add_sync_tables(conn: Connection) -> None:
    for name in ("saved_query", "sync_state", "query_member", "schema_snapshot"):
        SQLModel.metadata.tables[name].create(conn, checkfirst=True)
    if "stats" not in {c["name"] for c in sa.inspect(conn).get_columns("run")}:
        conn.execute(sa.text("ALTER TABLE run ADD COLUMN stats TEXT"))


def _add_fulltext(conn: Connection) -> None:
    from harvester.catalogue import fulltext

    fulltext.create(conn)


def _add_similarity(conn: Connection) -> None:
    from harvester.find.similar import store

    store.create(conn)


def _add_facets(conn: Connection) -> None:
    from harvester.catalogue import facets

    facets.create(conn)


#: Ordered schema steps; the schema version is the number of steps applied.
MIGRATIONS: list[Callable[[Connection], None]] = [_create_v1, _add_trial_events,
                                                  _add_sync_tables, _add_fulltext,
                                                  _add_similarity, _add_facets]
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table("schema_info"):
        return 0
    table = t.SchemaInfo.__table__  # type: ignore[attr-defined]
    value = conn.execute(sa.select(table.c.value).where(
        table.c.key == "schema_version")).scalar_one_or_none()
    return int(value) if value is not None else 0


def migrate(engine: Engine) -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`; returns the version found before."""
    try:
        with engine.begin() as conn:
            t.SchemaInfo.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]
            found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise CatalogueError(
                f"this catalogue has schema version {found}, newer than this release "
                f"understands ({SCHEMA_VERSION}); upgrade trial-harvester")
        for number in range(found, SCHEMA_VERSION):
            with engine.begin() as conn:
                MIGRATIONS[number](conn)
                _set_version(conn, number + 1)
    except sa.exc.OperationalError as exc:
        raise CatalogueError(f"cannot open the catalogue: {exc.orig}") from None
    return found


def _set_version(conn: Connection, number: int) -> None:
    table = t.SchemaInfo.__table__  # type: ignore[attr-defined]
    conn.execute(sa.delete(table).where(table.c.key == "schema_version"))
    conn.execute(sa.insert(table).values(key="schema_version", value=str(number)))
