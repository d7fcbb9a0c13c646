"""The full-text index of versions: SQLite FTS5 or a PostgreSQL ``tsvector`` with a GIN index.

Every version is indexed (one row per version id, never updated: versions are append-only), so
a search can ask for the versions current today or on any past date and join the matches with
:func:`harvester.catalogue.selection.selected` on the version id.  The text of a version comes
from its record, in four fields weighted for ranking, most telling first:

``title``     brief and official title, acronym
``focus``     conditions, keywords, intervention names and other names, MeSH terms
``summary``   brief summary, detailed description, why stopped, arm and intervention
              descriptions, MeSH ancestors
``criteria``  the eligibility criteria

SQLite: a contentless FTS5 table ``version_fts`` (rowid = version id; no copy of the text, as
the record already holds it) with the Porter stemmer over ``unicode61`` without diacritics;
ranked with ``bm25`` and the column weights :data:`WEIGHTS`.  PostgreSQL: a table
``version_text(version_id, document)`` holding ``setweight(to_tsvector('english', …))`` of the
four fields as weights A–D, with a GIN index; ranked with ``ts_rank_cd``.  Both stem English
and ignore case.  Storing a page of versions does not pay for the index: :func:`catch_up`
indexes the versions with a higher id than any indexed, a batch per transaction, and every
run calls it as it finishes (:meth:`harvester.catalogue.store.Catalogue.finish_run`), so the
index is whole when a command returns; a run killed before that leaves the index behind by
its last versions, never wrong, and the next run's catch-up (or :func:`rebuild`) fills it.
The schema step (:func:`create`) and :func:`rebuild` index what the catalogue already holds,
streamed in batches by version id.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue import recordcodec
from harvester.catalogue import tables as t

if TYPE_CHECKING:
    from harvester.catalogue.store import Catalogue

V = t.Version.__table__  # type: ignore[attr-defined]

#: The indexed fields, most telling first.
COLUMNS = ("title", "focus", "summary", "criteria")
#: bm25 column weights of the fields on SQLite (PostgreSQL: weights A, B, C, D).
WEIGHTS = (10.0, 4.0, 1.5, 1.0)
FTS_TABLE = "version_fts"
PG_TABLE = "version_text"
PG_CONFIG = "english"
TOKENIZE = "porter unicode61 remove_diacritics 2"
#: Text kept per field: far beyond any real record, short of PostgreSQL's 1 MB tsvector limit.
MAX_FIELD = 200_000
BATCH = 1000
SEPARATOR = " · "  # between items of a list: no token, reads well in a snippet


# --- the text of a record ------------------------------------------------------------------

class _Term(msgspec.Struct):
    term: str | None = None


class _Intervention(msgspec.Struct):
    name: str | None = None
    description: str | None = None
    other_names: list[str] = []


class _Arm(msgspec.Struct):
    label: str | None = None
    description: str | None = None


class _Eligibility(msgspec.Struct):
    criteria: str | None = None
    inclusion: list[str] = []
    exclusion: list[str] = []


class _Record(msgspec.Struct):
    """The record's text fields (unknown fields ignored, absent ones empty)."""

    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None
    conditions: list[str] = []
    keywords: list[str] = []
    interventions: list[_Intervention] = []
    arms: list[_Arm] = []
    condition_mesh: list[_Term] = []
    intervention_mesh: list[_Term] = []
    condition_ancestors: list[_Term] = []
    intervention_ancestors: list[_Term] = []
    eligibility: _Eligibility | None = None
    brief_summary: str | None = None
    detailed_description: str | None = None
    why_stopped: str | None = None


_DECODER = msgspec.json.Decoder(_Record)


@dataclass(frozen=True, slots=True)
class Texts:
    """A version's indexed text, one string per field of :data:`COLUMNS`."""

    title: str
    focus: str
    summary: str
    criteria: str

    def fields(self) -> tuple[str, str, str, str]:
        return (self.title, self.focus, self.summary, self.criteria)

    @property
    def body(self) -> str:
        """All four fields in one text (for a highlighted extract)."""
        return SEPARATOR.join(f for f in self.fields() if f)


def _join(items: Iterator[str | None] | Sequence[str | None]) -> str:
    seen: list[str] = []
    for item in items:
        text = (item or "").strip()
        if text and text not in seen:
            seen.append(text)
    return SEPARATOR.join(seen)[:MAX_FIELD]


def texts(record_json: str | bytes) -> Texts:
    """The indexed text of a record (its JSON, as the catalogue stores it)."""
    r = _DECODER.decode(record_json)
    elig = r.eligibility or _Eligibility()
    criteria = elig.criteria or "\n".join([*elig.inclusion, *elig.exclusion])
    return Texts(
        title=_join([r.brief_title, r.official_title, r.acronym]),
        focus=_join([*r.conditions, *r.keywords,
                     *(i.name for i in r.interventions),
                     *(n for i in r.interventions for n in i.other_names),
                     *(m.term for m in (*r.condition_mesh, *r.intervention_mesh))]),
        summary=_join([r.brief_summary, r.detailed_description, r.why_stopped,
                       *(f"{a.label}: {a.description}" if a.description else a.label
                         for a in r.arms),
                       *(i.description for i in r.interventions),
                       *(m.term for m in (*r.condition_ancestors,
                                          *r.intervention_ancestors))]),
        criteria=criteria[:MAX_FIELD],
    )


# --- schema and writes ---------------------------------------------------------------------

def _is_sqlite(conn: Connection) -> bool:
    return conn.dialect.name == "sqlite"


#: Indexes on the catalogue's own tables that a search needs: a search joins its matches
#: with a selection (see harvester.catalogue.selection), whose filters are answered from
#: indexes — on SQLite, reading a version's filter columns from its row means reading
#: through its record's overflow pages.  ``(statement, SQLite only)``.
SUPPORT_INDEXES = (
    # versions as of a date: each trial's preferred version, superseded ones left out
    ("CREATE INDEX IF NOT EXISTS ix_version_as_of "
     "ON version (nct_id, effective_date, source, seen_at)", False),
    ("CREATE INDEX IF NOT EXISTS ix_version_supersedes_id ON version (supersedes_id)", False),
    # --country (any case), --has-results, --sponsor
    ("CREATE INDEX IF NOT EXISTS ix_version_site_country_lower "
     "ON version_site (lower(country), version_id)", False),
    ("CREATE INDEX IF NOT EXISTS ix_version_has_results ON version (has_results)", True),
    ("CREATE INDEX IF NOT EXISTS ix_version_lead_sponsor ON version (lead_sponsor)", True),
)


def create(conn: Connection) -> None:
    """Schema step: create the full-text index and fill it from the versions held."""
    for statement, sqlite_only in SUPPORT_INDEXES:
        if _is_sqlite(conn) or not sqlite_only:
            conn.exec_driver_sql(statement)
    if _is_sqlite(conn):
        conn.exec_driver_sql(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
            f"{', '.join(COLUMNS)}, content='', tokenize='{TOKENIZE}')")
        _fill(conn)
        conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")
        return
    conn.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {PG_TABLE} ("
        f"version_id INTEGER PRIMARY KEY, "  # a version's id, as the child tables
        f"document TSVECTOR NOT NULL)")
    # Compressed but kept in the row where it fits: ranking reads every match's vector, and
    # fetching each from the TOAST table costs more than the matching itself.
    conn.exec_driver_sql(f"ALTER TABLE {PG_TABLE} ALTER COLUMN document SET STORAGE MAIN")
    _fill(conn)  # before the GIN index: one build beats 100,000 inserts into it
    conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS ix_{PG_TABLE}_document "
                         f"ON {PG_TABLE} USING GIN (document)")


def indexed_up_to(conn: Connection) -> int:
    """The highest version id indexed (0: none)."""
    table, column = ((f"{FTS_TABLE}_docsize", "id") if _is_sqlite(conn)
                     else (PG_TABLE, "version_id"))
    return int(conn.exec_driver_sql(
        f"SELECT coalesce(max({column}), 0) FROM {table}").scalar_one())


def pending(conn: Connection) -> int:
    """Versions stored but not indexed yet."""
    return int(conn.execute(sa.select(sa.func.count()).where(
        V.c.id > indexed_up_to(conn))).scalar_one())


def catch_up(engine: sa.Engine, progress: Callable[[int], None] | None = None, *,
             limit: int | None = None) -> int:
    """Index the versions stored since the last catch-up, a batch per transaction (a kill
    loses at most a batch, redone next time); returns how many were indexed.  ``limit``:
    one batch of at most that many (a run's idle moment, see ``Catalogue.catch_up``)."""
    done = 0
    batch = min(BATCH, limit) if limit else BATCH
    horizon = _horizon(engine, wait=not limit)
    if horizon is None:
        return 0
    while True:
        with engine.begin() as conn:
            if _is_sqlite(conn):  # take the write lock first: two catch-ups never race
                conn.exec_driver_sql("DELETE FROM schema_info WHERE 0")
            else:
                conn.exec_driver_sql(f"LOCK TABLE {PG_TABLE} IN SHARE ROW EXCLUSIVE MODE")
            last = indexed_up_to(conn)
            rows = conn.execute(sa.select(V.c.id, V.c.record)
                                .where(V.c.id > last, V.c.id <= horizon)
                                .order_by(V.c.id).limit(batch)).all()
            if not rows:
                return done
            _insert(conn, [(row.id, texts(recordcodec.unpack(row.record))) for row in rows])
        done += len(rows)
        if progress is not None:
            progress(len(rows))
        if limit:
            return done


def _horizon(engine: sa.Engine, *, wait: bool = True) -> int | None:
    """The highest version id below which no version can still appear (None: nothing to
    index now).  PostgreSQL writers run side by side and commit ids out of order: a brief
    SHARE lock on ``version`` waits for the inserts under way, so every id up to the
    largest then seen is final (a later insert takes a higher id).  Behind a long
    transaction the catch-up waits a few seconds at most (without ``wait``, not at all),
    then leaves it to the next one."""
    top = sa.select(sa.func.coalesce(sa.func.max(V.c.id), 0))
    with engine.connect() as conn:
        try:
            if int(conn.execute(top).scalar_one()) <= indexed_up_to(conn):
                return None
            if _is_sqlite(conn):
                return int(conn.execute(top).scalar_one())
            conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            try:
                conn.exec_driver_sql("LOCK TABLE version IN SHARE MODE"
                                     + ("" if wait else " NOWAIT"))
            except sa.exc.OperationalError:
                return None
            return int(conn.execute(top).scalar_one())
        finally:
            conn.rollback()  # reads only: the lock goes with the transaction


def _insert(conn: Connection, rows: Sequence[tuple[int, Texts]]) -> None:
    if not rows:
        return
    if _is_sqlite(conn):
        conn.exec_driver_sql(
            f"INSERT INTO {FTS_TABLE} (rowid, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
            [(version_id, *text.fields()) for version_id, text in rows])
        return
    # One statement per batch: the texts travel as arrays and the server makes the vectors.
    weighted = " || ".join(
        f"setweight(to_tsvector('{PG_CONFIG}', x.{name}), '{weight}')"
        for name, weight in zip(COLUMNS, "ABCD", strict=True))
    conn.execute(sa.text(
        f"INSERT INTO {PG_TABLE} (version_id, document) "
        f"SELECT x.id, {weighted} FROM unnest("
        f"CAST(:ids AS INTEGER[]), {', '.join(f'CAST(:{c} AS TEXT[])' for c in COLUMNS)}"
        f") AS x(id, {', '.join(COLUMNS)})"),
        {"ids": [version_id for version_id, _ in rows],
         **{name: [_pg_text(text.fields()[i]) for _, text in rows]
            for i, name in enumerate(COLUMNS)}})


def _pg_text(text: str) -> str:
    return text.replace("\x00", "")  # PostgreSQL text cannot hold NUL


def _fill(conn: Connection, progress: Callable[[int], None] | None = None) -> int:
    """Index every version the catalogue holds, a batch at a time (flat memory)."""
    last, done = 0, 0
    while True:
        rows = conn.execute(sa.select(V.c.id, V.c.record).where(V.c.id > last)
                            .order_by(V.c.id).limit(BATCH)).all()
        if not rows:
            return done
        _insert(conn, [(row.id, texts(recordcodec.unpack(row.record))) for row in rows])
        last, done = rows[-1].id, done + len(rows)
        if progress is not None:
            progress(len(rows))


def rebuild(catalogue: Catalogue, progress: Callable[[int], None] | None = None, *,
            lock: bool = True) -> int:
    """Index every version again from its record (after a change in what is indexed, or to
    repair); returns the number of versions indexed.

    Takes the catalogue's writer lock (CatalogueBusyError while an import or sync runs) and
    works in one transaction, so searches see the old index until the new one is complete.
    ``progress(n)`` is called after each batch of ``n`` versions.
    """
    from contextlib import nullcontext

    from harvester.catalogue.lock import writer_lock

    held = writer_lock(catalogue.engine) if lock else nullcontext()
    with held, catalogue.engine.begin() as conn:
        if _is_sqlite(conn):
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
        else:
            conn.exec_driver_sql(f"DELETE FROM {PG_TABLE}")
        done = _fill(conn, progress)
        if _is_sqlite(conn):
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")
    return done


def count(conn: Connection) -> int:
    """The number of versions indexed."""
    table = f"{FTS_TABLE}_docsize" if _is_sqlite(conn) else PG_TABLE
    return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


def size(conn: Connection) -> int:
    """Bytes the index takes on disk (tables and indexes)."""
    if _is_sqlite(conn):
        page = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
        try:
            return int(conn.exec_driver_sql(
                "SELECT coalesce(sum(pgsize), 0) FROM dbstat "
                f"WHERE name LIKE '{FTS_TABLE}%'").scalar_one())
        except sa.exc.OperationalError:  # SQLite built without dbstat: approximate
            rows = conn.exec_driver_sql(
                f"SELECT sum(length(block)) FROM {FTS_TABLE}_data").scalar_one()
            return int(rows or 0) + page
    return int(conn.exec_driver_sql(
        f"SELECT pg_total_relation_size('{PG_TABLE}')").scalar_one())


# --- highlighted extracts ------------------------------------------------------------------

def sqlite_snippets(match: str, docs: Sequence[tuple[int, Texts]], start: str, stop: str,
                    tokens: int = 16) -> dict[int, str]:
    """FTS5 ``snippet()`` extracts of ``docs`` for the FTS5 expression ``match``.

    The index holds no copy of the text, so the few documents shown are indexed again in a
    private in-memory FTS5 table with the same tokenizer, and their extracts taken there.
    """
    db = sqlite3.connect(":memory:")
    try:
        db.execute(f"CREATE VIRTUAL TABLE page USING fts5({', '.join(COLUMNS)}, "
                   f"tokenize='{TOKENIZE}')")
        db.executemany(f"INSERT INTO page (rowid, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?)",
                       [(version_id, *text.fields()) for version_id, text in docs])
        found = db.execute("SELECT rowid, snippet(page, -1, ?, ?, '…', ?) FROM page "
                           "WHERE page MATCH ?", (start, stop, tokens, match)).fetchall()
        return {int(row[0]): str(row[1]) for row in found}
    finally:
        db.close()
