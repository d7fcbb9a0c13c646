"""The similarity index's tables (SQLAlchemy Core, in the catalogue's database).

- ``sim_entry``: one row per trial, for its current version when indexed: the version id (the
  catalogue's ``trial.current_version_id`` is the truth; a differing id means "re-index"), and
  the trial's features (msgpack).  ``doc_id`` is a small integer for the postings.
- ``sim_term``: every term the indexed trials use (``c:`` condition, ``t:`` word, …, see
  :mod:`harvester.find.similar.features`) with its document frequency, kept up to date as trials
  are indexed and re-indexed, so IDF is computed from current counts at query time.
- ``sim_posting``: ``(term_id, doc_id)`` for the terms a trial is found by (an inverted
  index; the primary key is the lookup by term).
- ``sim_meta``: the features version, the number of trials indexed, and the highest catalogue
  version id the index is known to be up to date with (the refresh's fast path).

The tables are filled lazily (``trials index``, or the first ``trials similar``); schema step 5
only creates them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

metadata = sa.MetaData()

META = sa.Table(
    "sim_meta", metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
ENTRY = sa.Table(
    "sim_entry", metadata,
    sa.Column("doc_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("nct_id", sa.String(11), nullable=False, unique=True),
    sa.Column("version_id", sa.Integer, nullable=False),
    sa.Column("features", sa.LargeBinary, nullable=False),
)
TERM = sa.Table(
    "sim_term", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("term", sa.String(200), nullable=False, unique=True),
    sa.Column("df", sa.Integer, nullable=False),
)
POSTING = sa.Table(
    "sim_posting", metadata,
    sa.Column("term_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("doc_id", sa.Integer, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)
TABLES = (META, ENTRY, TERM, POSTING)


def create(conn: Connection) -> None:
    """Schema step: create the similarity index's tables (filled lazily)."""
    metadata.create_all(conn, tables=list(TABLES), checkfirst=True)


def drop(conn: Connection) -> None:
    """Drop the index's tables (``trials index --rebuild`` creates them again)."""
    metadata.drop_all(conn, tables=list(TABLES), checkfirst=True)


def get_meta(conn: Connection, key: str) -> str | None:
    value: str | None = conn.execute(
        sa.select(META.c.value).where(META.c.key == key)).scalar_one_or_none()
    return value


def get_metas(conn: Connection, keys: Sequence[str]) -> dict[str, str]:
    """The values of these keys that are set (one statement)."""
    return {str(key): str(value) for key, value in conn.execute(
        sa.select(META.c.key, META.c.value).where(META.c.key.in_(keys)))}


def set_meta(conn: Connection, key: str, value: str) -> None:
    done = conn.execute(sa.update(META).where(META.c.key == key).values(value=value))
    if not done.rowcount:
        conn.execute(sa.insert(META).values(key=key, value=value))
