"""A version's summary: the few fields a search hit or a result line shows, kept apart from
its record so that a page of results never decompresses and decodes whole records.

``version_summary(version_id, summary)`` holds one row per version (append-only, like the
versions): the JSON of :class:`Summary` — titles, acronym, conditions, status, phases, study
type, dates, enrollment and lead sponsor — made from the version's record (the same fields
readers took from its JSON before) and its filter columns when the version is prepared
(:mod:`harvester.catalogue.summaryvalues`, in the parsing workers).  A summary is a few
hundred bytes where a record is tens of kilobytes.

Catalogues made before schema version 12 get theirs from :func:`backfill`, which the
migration starts and every later opening resumes until it is done: a batch of versions per
transaction, its progress kept in ``schema_info`` (key :data:`PROGRESS`), so a kill loses at
most a batch.  Readers never depend on it being finished: :func:`read` falls back to the
record for a version without a summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from harvester.catalogue import recordcodec
from harvester.catalogue import tables as t
from harvester.catalogue.summaryvalues import _DECODE, Summary, encode, make, row

__all__ = ["Summary", "backfill", "create", "encode", "insert", "make", "read", "row"]

TABLE = "version_summary"
#: ``schema_info`` key: the highest version id a backfill has done, while one is unfinished.
PROGRESS = "summary_backfill"
BATCH = 2000
V = t.Version.__table__  # type: ignore[attr-defined]


# --- schema and writes ---------------------------------------------------------------------

def create(conn: Connection) -> None:
    """Schema step: the table; a catalogue that holds versions already is marked for
    :func:`backfill` (done outside the step, a batch per transaction)."""
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {TABLE} ("
                         "version_id INTEGER PRIMARY KEY, summary TEXT NOT NULL)")
    if conn.execute(sa.select(V.c.id).limit(1)).first() is not None:
        _set_progress(conn, 0)


def insert(conn: Connection, rows: list[tuple[int, str]]) -> None:
    """Store summaries ``(version_id, summary)`` inside the open transaction."""
    from harvester.catalogue.bulk import insert_rows  # writers only

    insert_rows(conn, _table(), rows)


def _table() -> sa.Table:
    return sa.table(TABLE, sa.column("version_id", sa.Integer),  # type: ignore[return-value]
                    sa.column("summary", sa.Text))


def _progress(conn: Connection) -> int | None:
    value = conn.exec_driver_sql(f"SELECT value FROM schema_info WHERE key = '{PROGRESS}'"
                                 ).scalar_one_or_none()
    return None if value is None else int(value)


def _set_progress(conn: Connection, last: int | None) -> None:
    conn.exec_driver_sql(f"DELETE FROM schema_info WHERE key = '{PROGRESS}'")
    if last is not None:
        conn.exec_driver_sql(f"INSERT INTO schema_info (key, value) VALUES "
                             f"('{PROGRESS}', '{int(last)}')")


def backfill(engine: Engine, progress: Callable[[int], None] | None = None) -> int:
    """Summarise the versions stored before the table existed, a batch per transaction,
    resuming where the last one stopped; a no-op once done.  Returns the versions done."""
    with engine.connect() as conn:
        if _progress(conn) is None:
            return 0
    done = 0
    while True:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # one backfill at a time
                conn.exec_driver_sql(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")
            else:  # take the write lock first: two backfills never race
                conn.exec_driver_sql("DELETE FROM schema_info WHERE 0")
            last = _progress(conn)
            if last is None:
                return done
            rows = conn.execute(
                sa.select(V.c.id, V.c.record, *(V.c[name] for name in _COLUMNS))
                .where(V.c.id > last,
                       ~sa.exists().where(_table().c.version_id == V.c.id))
                .order_by(V.c.id).limit(BATCH)).all()
            if not rows:
                _set_progress(conn, None)
                return done
            insert(conn, [(r.id, row(recordcodec.unpack(r.record), dict(r._mapping)))
                           for r in rows])
            _set_progress(conn, rows[-1].id)
        done += len(rows)
        if progress is not None:
            progress(len(rows))


_COLUMNS = ("overall_status", "study_type", "phases", "start_date", "last_update_posted",
            "enrollment_count", "lead_sponsor")


# --- reads ---------------------------------------------------------------------------------

def read(conn: Connection, version_ids: Iterable[int]) -> dict[int, Summary]:
    """The summaries of these versions (from the record for a version without one yet)."""
    wanted = sorted(set(version_ids))
    if not wanted:
        return {}
    found = {int(r[0]): _DECODE.decode(r[1]) for r in conn.execute(
        sa.text(f"SELECT version_id, summary FROM {TABLE} WHERE version_id IN :ids")
        .bindparams(sa.bindparam("ids", expanding=True)), {"ids": wanted})}
    missing = [i for i in wanted if i not in found]
    if missing:
        for r in conn.execute(sa.select(V.c.id, V.c.record, *(V.c[n] for n in _COLUMNS))
                              .where(V.c.id.in_(missing))):
            found[r.id] = make(recordcodec.unpack(r.record), dict(r._mapping))
    return found
