"""Champion lists: the best-ranked current versions of each frequent word (SQLite).

A word that most of the catalogue holds ("cancer", "patients") matches hundreds of
thousands of versions, and ranking them all costs a ``bm25`` per match (about 1.4 µs each in
FTS5): over a second at the registry's size, for a page of twenty.  For each word whose
matches pass :data:`MIN_DOCS`, ``trials index`` keeps the first :data:`SIZE` current
versions of that word's own ranking — the search of that one word, as :func:`search.search`
ranks it (``bm25`` with the area weights, the boost of a concept or condition match), ties
by NCT id — in :data:`LIST`; *champion lists*, or impact-ordered postings (Manning,
Raghavan and Schütze, *Introduction to Information Retrieval*, §7.1.3).

A search whose words are one frequent word (with any filters, exclusions ``-word`` and
paging) then ranks only that word's champions and the versions indexed since the list was
made, exactly as it would rank every match; when at least ``offset + limit`` of them pass
the filters, and the last of the page ranks above the list's last (its *floor*), the page
is the exact one: every other current version ranked below the floor.  When fewer pass, the
search ranks every match as before.  A search of several frequent words (``lung cancer``)
ranks the union of their lists: the page is then an approximation (a version that is in no
word's list can rank high for all of them together).  A word with a few matches has no
list: its search costs little.

The lists follow the index as it was when they were made: the page is exact while no
version has been indexed since.  Versions indexed since are ranked along with the lists
(a new trial or version is found at once, with the score the full ranking gives it), but
the number of versions and their mean length enter ``bm25``, so the order of the versions
left out of a list can drift past its floor: an approximation until ``trials index`` makes
the lists again, which it does when the index has grown by :data:`STALE` since (and on
``--rebuild``).  Totals are always exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue import areas
from harvester.errors import UsageError
from harvester.find.scoped import Scoped
from harvester.find.search_query import All, Not, Query, Term, parse

LIST = "version_area_champion"
HEAD = "version_area_champion_head"
MIN_DOCS = 20_000  # versions matching a word before it has a list
SIZE = 2_000  # versions kept per word
STALE = 0.05  # the index grown by this share since the lists were made: make them again
_MARK = ""  # the head row that records when the lists were made (match '')


@dataclass(frozen=True)
class Head:
    list_id: int
    floor: float  # the score of the list's last version
    floor_nct: str  # and its NCT id (ties rank by NCT id)
    up_to: int  # versions indexed then: the ones after are ranked along with the list


def create(conn: Connection) -> None:
    """Schema step (SQLite): the empty lists; :func:`refresh` fills them."""
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {HEAD} (list_id INTEGER PRIMARY KEY, "
                         f"match TEXT NOT NULL UNIQUE, floor REAL NOT NULL, "
                         f"floor_nct TEXT NOT NULL, up_to INTEGER NOT NULL, "
                         f"docs INTEGER NOT NULL)")
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {LIST} (list_id INTEGER NOT NULL, "
                         f"version_id INTEGER NOT NULL, PRIMARY KEY (list_id, version_id)) "
                         f"WITHOUT ROWID")


def _key(term: Term) -> str | None:
    return Scoped((("term", Query(term.text, term)),)).fts5()


def keys(query: Query) -> tuple[list[str], bool] | None:
    """The list keys a query's ranking can come from, and whether that ranking is exact:
    one word (exact), or several (not), each with exclusions; None for other shapes."""
    root = query.root
    parts = root.parts if isinstance(root, All) else (root,)
    wanted = [p for p in parts if not isinstance(p, Not)]
    if not wanted or not all(isinstance(p, Term) and not p.prefix for p in wanted):
        return None
    found = [_key(p) for p in wanted if isinstance(p, Term)]
    if any(k is None for k in found):
        return None
    return [k for k in found if k is not None], len(found) == 1


def heads(conn: Connection, wanted: Sequence[str]) -> list[Head] | None:
    """The lists of these keys, or None when one of them has none (or on PostgreSQL)."""
    if conn.dialect.name != "sqlite" or not wanted:
        return None
    marks = ", ".join("?" * len(wanted))
    try:
        rows = conn.exec_driver_sql(
            f"SELECT list_id, floor, floor_nct, up_to FROM {HEAD} WHERE match IN ({marks})",
            tuple(wanted)).all()
    except sa.exc.OperationalError:  # a catalogue without the lists (read-only, older)
        return None
    if len(rows) != len(set(wanted)):
        return None
    return [Head(*row) for row in rows]


def candidates(found: Sequence[Head]) -> sa.CompoundSelect[Any]:
    """The version ids a ranking from these lists reads: theirs, and any indexed since."""
    listed = sa.table(LIST, sa.column("list_id"), sa.column("version_id"))
    version = sa.table("version", sa.column("id"))
    return sa.union(
        sa.select(listed.c.version_id).where(listed.c.list_id.in_([h.list_id for h in found])),
        sa.select(version.c.id).where(version.c.id > min(h.up_to for h in found)))


def stale(conn: Connection) -> bool:
    """Whether :func:`refresh` would make the lists again."""
    if conn.dialect.name != "sqlite":
        return False
    mark = conn.exec_driver_sql(f"SELECT docs FROM {HEAD} WHERE match = ?",
                                (_MARK,)).scalar_one_or_none()
    now = areas.count(conn)
    return mark is None or now > mark * (1 + STALE)


def refresh(engine: sa.Engine, *, rebuild: bool = False,
            progress: Callable[[int], None] | None = None) -> int | None:
    """Make the lists again when they are missing or :func:`stale` (or ``rebuild``);
    returns the number of words with a list then, None when they were fresh."""
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite" or not (rebuild or stale(conn)):
            return None
    return build(engine, progress=progress)


def build(engine: sa.Engine, *, min_docs: int | None = None, size: int | None = None,
          progress: Callable[[int], None] | None = None) -> int:
    """Make every frequent word's list, a word per transaction (searches and a killed
    build see whole lists: each is exact for the index it was made from); returns how
    many words have one.  ``progress(1)`` after each word."""
    from harvester.catalogue.selection import Selection
    from harvester.find.search import _ranked

    min_docs = MIN_DOCS if min_docs is None else min_docs
    size = SIZE if size is None else size
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{areas.FTS_TABLE}_vocab "
                             f"USING fts5vocab(main, {areas.FTS_TABLE}, row)")
        words = [str(term) for term, in conn.exec_driver_sql(
            f"SELECT term FROM temp.{areas.FTS_TABLE}_vocab WHERE doc >= ? "
            f"ORDER BY doc DESC", (min_docs,))]
        docs, up_to = areas.count(conn), areas.indexed_up_to(conn)
        conn.rollback()
    made: list[str] = []
    for word in words:
        if word.startswith((areas.CONCEPT_PREFIX, "zzitemzz")) or areas.tokens(word) != [word]:
            continue  # a concept, the item separator, or no query's word is this token
        try:
            query = parse(word)
        except UsageError:
            continue  # an operator (or, not)
        found = keys(query)
        if found is None or len(found[0]) != 1:
            continue
        key = found[0][0]
        with engine.begin() as conn:
            stmt, _ = _ranked(conn, query, Selection())
            rows = conn.execute(stmt.order_by(sa.desc("score"), sa.asc("nct_id"))
                                .limit(size)).all()
            conn.exec_driver_sql(f"DELETE FROM {LIST} WHERE list_id IN "
                                 f"(SELECT list_id FROM {HEAD} WHERE match = ?)", (key,))
            conn.exec_driver_sql(f"DELETE FROM {HEAD} WHERE match = ?", (key,))
            if len(rows) == size:  # else: every match is listed, no list needed
                list_id = conn.exec_driver_sql(
                    f"INSERT INTO {HEAD} (match, floor, floor_nct, up_to, docs) "
                    f"VALUES (?, ?, ?, ?, ?) RETURNING list_id",
                    (key, float(rows[-1].score), rows[-1].nct_id, up_to, docs)).scalar_one()
                conn.exec_driver_sql(f"INSERT INTO {LIST} (list_id, version_id) VALUES (?, ?)",
                                     [(list_id, row.version_id) for row in rows])
                made.append(key)
        if progress is not None:
            progress(1)
    with engine.begin() as conn:
        listed = tuple(made) or ("",)
        marks = ", ".join("?" * len(listed))
        conn.exec_driver_sql(f"DELETE FROM {LIST} WHERE list_id IN (SELECT list_id FROM "
                             f"{HEAD} WHERE match NOT IN ({marks}))", listed)
        conn.exec_driver_sql(f"DELETE FROM {HEAD} WHERE match NOT IN ({marks})", listed)
        conn.exec_driver_sql(f"INSERT OR REPLACE INTO {HEAD} (match, floor, floor_nct, up_to, "
                             f"docs) VALUES (?, 0, '', ?, ?)", (_MARK, up_to, docs))
    return len(made)
