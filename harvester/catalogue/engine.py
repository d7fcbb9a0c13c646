"""Catalogue location (a URL), the SQLAlchemy engine for it, and schema migrations.

The engine comes from a URL, so SQLite, PostgreSQL and a test database differ only in that
URL.  The default is a SQLite file in the user's data directory; ``TRIALS_DB`` overrides it.

Migrations: the schema version is recorded in ``schema_info``.  Opening a catalogue applies
every step above its version in order, each in its own transaction, so a catalogue made by an
older release opens (and is upgraded); one made by a newer release is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from harvester.catalogue import storage
from harvester.catalogue import tables as t
from harvester.catalogue.location import ENV_VAR, default_url, resolve_url
from harvester.errors import CatalogueError


def describe(url: sa.engine.URL) -> str:
    """Where a catalogue is, for messages: a SQLite file's path, else the URL without its
    password."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def exists(engine: Engine) -> bool:
    """Whether a catalogue is there (without creating anything: a SQLite file is not
    opened when it is missing)."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return False
        path = Path(url.database).expanduser()
        if not path.is_file():
            return False
    try:
        with engine.connect() as conn:
            return bool(sa.inspect(conn).has_table("schema_info"))
    except sa.exc.SQLAlchemyError as exc:
        raise CatalogueError(f"cannot open the catalogue at {describe(url)}: "
                             f"{_first_line(exc)}") from None


def _first_line(exc: sa.exc.SQLAlchemyError) -> str:
    """The driver's message without SQL statements or parameters."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


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
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def _postgresql_settings(dbapi_conn: Any, _record: Any) -> None:
    """No JIT compilation: it starts when a plan's estimated cost is high — the catalogue's
    index-driven statements over large tables, similar's postings at the registry's size —
    and there it compiled for 140 ms a statement that runs in 25 ms."""
    cursor = dbapi_conn.cursor()
    cursor.execute("SET jit = off")
    cursor.close()
    dbapi_conn.commit()  # a session setting, kept past this first transaction


@contextmanager
def planner_settings(conn: Connection, **settings: str) -> Iterator[None]:
    """PostgreSQL: the planner's ``settings`` (``enable_seqscan="off"``…) for the statements
    run inside, then each back as it was; after a failed statement the transaction is
    lost anyway and they go with it.  Elsewhere nothing changes."""
    if conn.dialect.name != "postgresql" or not settings:
        yield
        return
    names = sorted(settings)
    given = {f"n{i}": name for i, name in enumerate(names)}
    before = conn.execute(sa.text("SELECT " + ", ".join(
        f"current_setting(:n{i})" for i in range(len(names)))), given).one()
    for name in names:  # the caller's own names and values (identifiers, sizes)
        value = settings[name]
        conn.exec_driver_sql(f"SET LOCAL {name} = "
                             f"{value if value.isidentifier() else repr(value)}")
    yield
    conn.execute(sa.text("SELECT " + ", ".join(
        f"set_config(:n{i}, :v{i}, true)" for i in range(len(names)))),
        {**given, **{f"v{i}": str(value) for i, value in enumerate(before)}})


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``; creates the folder of a SQLite file (with ``create``)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise CatalogueError(f"not a database URL: {url!r}") from None
    if parsed.get_backend_name() == "sqlite":
        if create and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        storage.install(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        # Room for parallel syncs: each holds its run's and its query's connection too.
        engine = sa.create_engine(parsed, pool_pre_ping=True, max_overflow=40)
        sa.event.listen(engine, "connect", _postgresql_settings)
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
    """The indexes a search needs on the catalogue's tables (this step also made a full-text
    index of every version until step 12 dropped it: a catalogue older than that no longer
    builds it only to drop it)."""
    from harvester.catalogue import fulltext

    fulltext.create_support_indexes(conn)


def _add_similarity(conn: Connection) -> None:
    from harvester.find.similar import store

    store.create(conn)


def _add_facets(conn: Connection) -> None:
    from harvester.catalogue import facets

    facets.create(conn)


def _add_operations(conn: Connection) -> None:
    """Runs name their saved query and their ``sync --all`` batch; the writer lock's holder
    is recorded (PostgreSQL; a SQLite catalogue's lock file holds it)."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns("run")}
    if "query_name" not in columns:
        conn.execute(sa.text("ALTER TABLE run ADD COLUMN query_name VARCHAR(100)"))
    if "batch_id" not in columns:
        conn.execute(sa.text("ALTER TABLE run ADD COLUMN batch_id INTEGER"))
        conn.execute(sa.text("CREATE INDEX ix_run_batch_id ON run (batch_id)"))
    conn.execute(sa.text("CREATE TABLE IF NOT EXISTS lock_holder (id INTEGER PRIMARY KEY, "
                         "pid INTEGER, host TEXT, command TEXT, since TEXT)"))


def _add_areas(conn: Connection) -> None:
    from harvester.catalogue import areas

    areas.create(conn)  # empty: filled by areas.catch_up, outside the schema step


def _add_near_index(conn: Connection) -> None:
    """``--near``: the sites in reach are read from an index on (z, x, y, version_id), never
    from the table (eight times faster at 20,000 trials); it replaces the index on z."""
    from harvester.catalogue import facets

    facets.NEAR_INDEX.create(conn, checkfirst=True)
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_version_place_z"))


def _add_work_queue(conn: Connection) -> None:
    """The shared backfill queue and the registry's shared request pace (many writers)."""
    from harvester.catalogue import workqueue

    workqueue.create(conn)


def _compress_records(conn: Connection) -> None:
    """Records are stored compressed (:mod:`harvester.catalogue.recordcodec`), as bytes.
    PostgreSQL's column becomes ``bytea`` (the plain JSON held so far, as its UTF-8 bytes);
    SQLite keeps its column, which holds either.  Records already stored stay as they are
    (PostgreSQL kept them compressed in TOAST) and read as before; the step marks the
    catalogue as one older releases cannot read."""
    if conn.dialect.name != "postgresql":
        return
    columns = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns("version")}
    if isinstance(columns["record"], sa.Text):  # a catalogue made before this step
        conn.execute(sa.text("ALTER TABLE version ALTER COLUMN record TYPE bytea "
                             "USING convert_to(record, 'UTF8')"))
    # Out of line without PostgreSQL's own compression: zlib's output does not shrink again.
    conn.execute(sa.text("ALTER TABLE version ALTER COLUMN record SET STORAGE EXTERNAL"))


def _drop_fulltext(conn: Connection) -> None:
    """The full-text index of versions (``version_fts``, ``version_text``) goes: searches
    match with the area index, and nothing read it — every run paid for keeping it up.  One
    statement in the step's transaction: a crash leaves the catalogue at step 11 or 12."""
    from harvester.catalogue import fulltext

    fulltext.drop_index(conn)


def _add_summaries(conn: Connection) -> None:
    """Each version's summary (what a result line shows), apart from its record; the
    versions already held are summarised by ``summary.backfill`` after the step."""
    from harvester.catalogue import summary

    summary.create(conn)


def _drop_unread_indexes(conn: Connection) -> None:
    """Indexes that no query reads go — every stored version and site paid for them:
    ``version_site (country)`` (``--country`` reads ``lower(country)``'s index),
    ``version_place (country, state, city)`` (``--city`` and a ``--near`` city read the index
    on city; ``--state`` scans) and ``version (nct_id, effective_date)`` (the leading columns
    of ``ix_version_as_of``, which answers the same)."""
    for name in UNREAD_INDEXES:
        conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))


#: Indexes dropped by schema step 14 (nothing reads them).
UNREAD_INDEXES = ("ix_version_site_country", "ix_version_place_where",
                  "ix_version_nct_effective")

def _drop_sites(conn: Connection) -> None:
    """``version_site`` goes: a version's sites are already rows of ``version_place``
    (country, state and city as the filters spell them, the coordinates), and the
    facility and status it also copied out of the record nothing read.  ``--country`` reads
    ``version_place`` by the index made here.  Every stored site paid for two tables and
    seven B-trees (SQLite); now one table and five.  One transaction: a crash leaves the
    catalogue at step 14 or 15."""
    from harvester.catalogue import facets

    facets.COUNTRY_INDEX.create(conn, checkfirst=True)
    conn.execute(sa.text("DROP TABLE IF EXISTS version_site"))


def _add_search_shortcuts(conn: Connection) -> None:
    """SQLite: the area index's list of versions that are not current (a search's total
    without a join per match, :data:`areas.PAST_TABLE`), made from the index as it is, and
    the (empty) champion lists of frequent words (:mod:`harvester.find.champions`, made by
    ``trials index``).  One transaction: a crash leaves the catalogue at step 15 or 16."""
    from harvester.catalogue import areas
    from harvester.find import champions

    areas.create(conn)
    areas.fill_past(conn)
    champions.create(conn)


def _count_champion_lists(conn: Connection) -> None:
    """The champion lists on PostgreSQL too (SQLite has had them since step 16), and each
    list's count of the current versions matching its word when it was made (the total of
    that word's search while nothing was indexed since; :mod:`harvester.find.champions`).
    Lists made before hold no count until ``trials index`` makes them again."""
    from harvester.find import champions

    champions.create(conn)
    if conn.dialect.name == "sqlite":
        champions.count_matches(conn)


def _add_filter_tokens(conn: Connection) -> None:
    """SQLite: the area index gets a column of filter tokens (a filtered search in one
    MATCH, :mod:`harvester.catalogue.filtertokens`) and a tokenizer that keeps ``_`` in a
    word.  The index is made anew, empty (an FTS5 table's columns cannot change), with the
    list of past versions and the champion lists, whose scores it gave: the next search or
    ``trials index`` fills it again, a batch per transaction (at 600,000 trials ~12 min;
    until then searches wait for it).  One transaction: a crash leaves the catalogue at
    step 17 or 18.  PostgreSQL: nothing (its filters stay SQL)."""
    from harvester.catalogue import areas
    from harvester.find import champions

    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {areas.FTS_TABLE}")
    areas.create(conn)
    conn.exec_driver_sql(f"DELETE FROM {areas.PAST_TABLE}")
    champions.create(conn)
    conn.exec_driver_sql(f"DELETE FROM {champions.LIST}")
    conn.exec_driver_sql(f"DELETE FROM {champions.HEAD}")


def _add_pg_filter_tokens(conn: Connection) -> None:
    """PostgreSQL: the area index's documents get the filter tokens as lexemes
    (:mod:`harvester.catalogue.filtertokens`: a filtered search intersects them in the GIN
    index); the index is emptied, with the champion lists whose scores it gave, and the
    next search or ``trials index`` fills it again, a batch per transaction (until then
    searches wait for it).  A search must never meet documents without the tokens: they
    would match no filter.  The documents are stored out of line from then on (see
    :func:`harvester.catalogue.areas.create`).  One transaction: a crash leaves the
    catalogue at step 18 or 19.  SQLite: nothing (its index has held them since step 18)."""
    from harvester.catalogue import areas
    from harvester.find import champions

    if conn.dialect.name == "sqlite":
        return
    conn.exec_driver_sql(f"TRUNCATE {areas.PG_TABLE}")
    # Refilled out of line (as areas.create now makes the table): rows of a few bytes
    # that counts and joins read many to a page.
    conn.exec_driver_sql(f"ALTER TABLE {areas.PG_TABLE} ALTER COLUMN document "
                         f"SET STORAGE EXTENDED")
    conn.exec_driver_sql(f"DELETE FROM {champions.LIST}")
    conn.exec_driver_sql(f"DELETE FROM {champions.HEAD}")


def _add_pg_past_versions(conn: Connection) -> None:
    """PostgreSQL: the area index's list of versions that are not current (SQLite's since
    step 16, :data:`areas.PAST_TABLE`), made from the index as it is and kept by each
    catch-up: a search's total is the index's matches less these, without joining each
    match to its trial.  One transaction: a crash leaves the catalogue at step 19 or 20.
    SQLite: nothing."""
    from harvester.catalogue import areas

    if conn.dialect.name == "sqlite":
        return
    areas.create(conn)
    areas.fill_past(conn)


#: Ordered schema steps; the schema version is the number of steps applied.
MIGRATIONS: list[Callable[[Connection], None]] = [_create_v1, _add_trial_events,
                                                  _add_sync_tables, _add_fulltext,
                                                  _add_similarity, _add_facets,
                                                  _add_operations, _add_areas,
                                                  _add_work_queue, _add_near_index,
                                                  _compress_records, _drop_fulltext,
                                                  _add_summaries, _drop_unread_indexes,
                                                  _drop_sites, _add_search_shortcuts,
                                                  _count_champion_lists, _add_filter_tokens,
                                                  _add_pg_filter_tokens, _add_pg_past_versions]
SCHEMA_VERSION = len(MIGRATIONS)  # = location.SCHEMA_VERSION (tests/test_quick.py checks)
__all__ = ["ENV_VAR", "SCHEMA_VERSION", "default_url", "describe", "exists", "make_engine",
           "migrate", "resolve_url", "schema_version"]


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
            _one_migrator(conn)
            t.SchemaInfo.__table__.create(conn, checkfirst=True)  # type: ignore[attr-defined]
            found = schema_version(conn)
        if found > SCHEMA_VERSION:
            raise CatalogueError(
                f"this catalogue has schema version {found}, newer than this release "
                f"understands ({SCHEMA_VERSION}); upgrade trial-harvester")
        for number in range(found, SCHEMA_VERSION):
            with engine.begin() as conn:
                _one_migrator(conn)
                if schema_version(conn) > number:  # another process took this step
                    continue
                MIGRATIONS[number](conn)
                _set_version(conn, number + 1)
        _finish_backfills(engine)
    except sa.exc.OperationalError as exc:
        raise CatalogueError(f"cannot open the catalogue at {describe(engine.url)}: "
                             f"{_first_line(exc)}") from None
    return found


def _finish_backfills(engine: Engine) -> None:
    """Data that a schema step leaves to be filled a batch per transaction (so that a kill
    loses one batch): done, or resumed where a killed one stopped, before the catalogue is
    used.  A single read when there is nothing to do."""
    with engine.connect() as conn:
        pending = conn.exec_driver_sql(
            "SELECT count(*) FROM schema_info WHERE key = 'summary_backfill'").scalar_one()
    if pending:
        from harvester.catalogue import summary

        summary.backfill(engine)


def _one_migrator(conn: Connection) -> None:
    """PostgreSQL: processes opening one catalogue at once take its schema steps in turn."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('trial-harvester schema "
                             "' || current_schema()))"))


def _set_version(conn: Connection, number: int) -> None:
    table = t.SchemaInfo.__table__  # type: ignore[attr-defined]
    conn.execute(sa.delete(table).where(table.c.key == "schema_version"))
    conn.execute(sa.insert(table).values(key="schema_version", value=str(number)))
