"""Champion lists: the best-ranked current versions of each frequent word.

A word that most of the catalogue holds ("cancer", "patients") matches hundreds of
thousands of versions, and ranking them all costs a ``bm25`` per match (about 1.4 µs each in
FTS5): over a second at the registry's size, for a page of twenty.  For each word whose
matches reach :data:`MIN_DOCS`, ``trials index`` keeps the first current versions of that
word's own ranking (:data:`SIZE`, or :data:`SHARE` of its matches when that is more) — the
search of that one word as :func:`harvester.find.search.search` ranks it (``bm25`` with the
area weights, the boost of a concept or condition match, ties by NCT id) — with their
scores, in :data:`LIST`: *champion lists*, or impact-ordered postings (Manning, Raghavan
and Schütze, *Introduction to Information Retrieval*, §7.1.3).

**One word** (with filters, exclusions ``-word`` and paging): the page is read from the
start of the word's list — versions still current, passing the filters and not excluded —
until it is full.  Every current version outside the list ranked below all of it, so the
page is the ranking of every match, hits, order and scores, as long as no version has been
indexed since the list was made.  When fewer than ``offset + limit`` pass (a selective
filter), the search ranks every match as before.  Several frequent words are ranked from
their lists under a bound (:mod:`harvester.find.several`: the union of the lists alone is
no answer — on the benchmark's catalogue its first 20 shared none with the exact page's for
``lung cancer``), one word ``--as-of`` a date by :mod:`harvester.find.asof`.  **One word
in one field-scoped area** (``--cond melanoma``): each area of :data:`AREAS` has lists of
its own frequent words, ranked as that area's search ranks them, read the same way.  **A
prefix** (``immun*``): each frequent word of :data:`PREFIX_LENGTH` letters or more (a stem:
"immun", "diabet", "vaccin") has a list as a prefix too, in the words' box.  Other queries
rank every match (a word with fewer matches costs little).  Totals are always exact.

**After the lists were made**, versions indexed since are ranked as the full ranking ranks
them now and merged in, superseded versions drop out (they are no longer current), but the
scores in the lists are those of the index then (the number of versions and their mean
length enter ``bm25``): an approximation until ``trials index`` makes the lists again,
which it does once the index has grown by :data:`STALE` (and on ``--rebuild``).

**On PostgreSQL** the lists are the same, ranked with ``ts_rank`` as its search ranks, and
read the same way (one word or prefix, in the words' box or one area); several words and
``--as-of`` rank every match there.  A list keeps the count of current versions matching
its word (``matches``): the total of that word alone while nothing was indexed since —
PostgreSQL counts a word's matches only by visiting each in the index's heap.  Its
frequent words are found in a sample of the index (:data:`harvester.find.frequent.SAMPLE`
versions): PostgreSQL has no vocabulary table, and counting every lexeme of every version
would read the whole index.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue import areas
from harvester.catalogue.engine import planner_settings
from harvester.errors import UsageError
from harvester.find import frequent
from harvester.find.scoped import Scoped
from harvester.find.search_query import All, Not, Query, Term, parse

if TYPE_CHECKING:
    from harvester.catalogue.selection import Selection

LIST = "version_area_champion"
HEAD = "version_area_champion_head"
MIN_DOCS = 20_000  # versions matching a word before it has a list
SIZE = 2_000  # versions kept per word at least
SHARE = 0.05  # and this share of the word's matches: see :func:`length`
STALE = 0.05  # the index grown by this share since the lists were made: make them again
#: A frequent word's stem this long or longer has a list as a prefix too (``immun*``): FTS5
#: ranks a prefix phrase at ~3 µs a match (its terms' positions merged for each).
PREFIX_LENGTH = 4
GROUP_SECONDS = 0.25  # a transaction of the build makes lists this long at most
_MARK = ""  # the head row that records when the lists were made (match '')


def length(docs: int, size: int = SIZE, share: float = SHARE) -> int:
    """How many versions the list of a word matching ``docs`` versions keeps: ``size``, or
    ``share`` of its matches when that is more.  A filter that passes one version in ``n``
    fills a page of twenty from the list when the list holds ``20 n`` versions: with a
    fixed 2,000, a filter passing fewer than 1 in 100 (a country, a phase with results)
    fell back to ranking every match — 250–550 ms for a word of ~300,000 matches at the
    registry's size — where a twentieth of the matches (15,000 versions) serves filters
    down to 1 in 750, and reading it costs what the versions read until the page is full."""
    return max(size, int(docs * share))


@dataclass(frozen=True)
class Head:
    list_id: int
    floor: float  # the score of the list's last version
    floor_nct: str  # and its NCT id (ties rank by NCT id)
    up_to: int  # versions indexed then: the ones after are ranked along with the list
    matches: int | None = None  # current versions matching then (None: not counted)


def create(conn: Connection) -> None:
    """Schema step: the empty lists; :func:`refresh` fills them."""
    sqlite = conn.dialect.name == "sqlite"
    key, real = ("INTEGER PRIMARY KEY", "REAL") if sqlite else ("SERIAL PRIMARY KEY",
                                                               "DOUBLE PRECISION")
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {HEAD} (list_id {key}, "
                         f"match TEXT NOT NULL UNIQUE, floor {real} NOT NULL, "
                         f"floor_nct TEXT NOT NULL, up_to INTEGER NOT NULL, "
                         f"docs INTEGER NOT NULL, matches INTEGER)")
    conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {LIST} (list_id INTEGER NOT NULL, "
                         f"place INTEGER NOT NULL, version_id INTEGER NOT NULL, "
                         f"nct_id TEXT NOT NULL, score {real} NOT NULL, "
                         f"PRIMARY KEY (list_id, place)){' WITHOUT ROWID' if sqlite else ''}")


def key(query: Query, area: str = "term") -> str | None:
    """The list key a query's page can be read from: its one word or prefix, with any
    exclusions, searched in ``area`` (the words' box: ``term``); None for other shapes
    (several words, phrases, OR, groups)."""
    root = query.root
    parts = root.parts if isinstance(root, All) else (root,)
    wanted = [p for p in parts if not isinstance(p, Not)]
    if len(wanted) != 1 or not isinstance(wanted[0], Term):
        return None
    return Scoped(((area, Query(wanted[0].text, wanted[0])),)).fts5()


def one_area(query: Query | None, selection: Selection) -> tuple[str, Query] | None:
    """The one search area and its query of a search, when it has one: the words alone
    (``term``), or one field-scoped search without words (``--cond melanoma``)."""
    if query is not None:
        return None if selection.areas else ("term", query)
    if len(selection.areas) != 1:
        return None
    area, text = selection.areas[0]
    return area, parse(text)


def count_matches(conn: Connection) -> None:
    """Schema step 17 (SQLite, whose lists predate it): a list's count of the current
    versions matching its word when it was made (``matches``), the total of a search of
    that word alone while nothing was indexed since."""
    found = {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({HEAD})")}
    if "matches" not in found:
        conn.exec_driver_sql(f"ALTER TABLE {HEAD} ADD COLUMN matches INTEGER")


def head(conn: Connection, wanted: str) -> Head | None:
    """The list of this key, or None when it has none."""
    statement = sa.text(f"SELECT list_id, floor, floor_nct, up_to, matches FROM {HEAD} "
                        f"WHERE match = :wanted")
    try:
        row = conn.execute(statement, {"wanted": wanted}).first()
    except sa.exc.OperationalError:  # SQLite: a catalogue without the lists (read-only, older)
        if conn.dialect.name != "sqlite":
            raise
        return None
    return None if row is None else Head(*row)


_LIST = sa.table(LIST, sa.column("list_id"), sa.column("place"), sa.column("version_id"),
                 sa.column("nct_id"), sa.column("score"))


def placed(places: int) -> sa.ColumnElement[bool]:
    """A condition of :func:`listed`: only the list's first ``places`` versions."""
    return _LIST.c.place < places


def listed(head: Head, query: Query, selection: Selection,
           area: str = "term", *, dialect: str = "sqlite") -> sa.Select[Any]:
    """``(nct_id, version_id, score)`` of the list's versions that are current, pass the
    selection's filters (its areas aside: the list is the area's) and match the query (its
    exclusions, in ``area``), in the list's order: read from its start until a page is
    full, with the scores stored when it was made (``dialect``: the catalogue's database;
    run it :func:`in_list_order`)."""
    from harvester.catalogue.selection import selected

    picked = selected(replace(selection, areas=()), few=True).order_by(None).subquery("picked")
    stmt = (sa.select(_LIST.c.nct_id, _LIST.c.version_id, _LIST.c.score)
            .join(picked, sa.and_(picked.c.version_id == _LIST.c.version_id,
                                  picked.c.nct_id == _LIST.c.nct_id))  # as of: by NCT id
            .where(_LIST.c.list_id == head.list_id).order_by(_LIST.c.place))
    if isinstance(query.root, All) and any(isinstance(p, Not) for p in query.root.parts):
        stmt = stmt.where(_matching(Scoped(((area, query),)), dialect == "sqlite"))
    return stmt


@contextmanager
def in_list_order(conn: Connection) -> Iterator[None]:
    """PostgreSQL: the statements of :func:`listed` run inside walk the list's primary key
    in place order and stop once their page is full.  The planner, which estimates that
    almost none of a list's versions pass the join to their trial, would read and join the
    whole list (up to 30,000 versions), then sort it: 30–180 ms for `cancer`'s 13,219 at
    600,000 trials, against 3–7 ms in order.  Elsewhere nothing changes."""
    with planner_settings(conn, enable_sort="off", enable_bitmapscan="off"):
        yield


def _matching(scoped: Scoped, sqlite: bool) -> sa.ColumnElement[bool]:
    """Whether a listed version matches the whole query (its exclusions too): one look-up
    per version, in the area index."""
    if sqlite:
        fts = sa.table(areas.FTS_TABLE, sa.column("rowid"))
        return sa.select(sa.literal(1)).select_from(fts).where(
            sa.literal_column(areas.FTS_TABLE).op("MATCH")(scoped.fts5()),
            fts.c.rowid == _LIST.c.version_id).exists()
    from sqlalchemy.dialects.postgresql import TSQUERY

    doc = sa.table(areas.PG_TABLE, sa.column("version_id"), sa.column("document"))
    return sa.select(sa.literal(1)).select_from(doc).where(
        doc.c.document.op("@@")(sa.cast(sa.literal(scoped.tsquery(), sa.Text), TSQUERY)),
        doc.c.version_id == _LIST.c.version_id).exists()


def stale(conn: Connection) -> bool:
    """Whether :func:`refresh` would make the lists again."""
    mark = conn.execute(sa.text(f"SELECT docs FROM {HEAD} WHERE match = :mark"),
                        {"mark": _MARK}).scalar_one_or_none()
    now = areas.count(conn)
    return mark is None or now > mark * (1 + STALE)


def refresh(engine: sa.Engine, *, rebuild: bool = False,
            progress: Callable[[int], None] | None = None) -> int | None:
    """Make the lists again when they are missing or :func:`stale` (or ``rebuild``);
    returns the number of words with a list then, None when they were fresh."""
    with engine.connect() as conn:
        if not (rebuild or stale(conn)):
            return None
    return build(engine, progress=progress)


def build(engine: sa.Engine, *, min_docs: int | None = None, size: int | None = None,
          share: float | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Make every frequent word's list, of :func:`length` versions (a ``size`` given
    alone: that many, ``share`` none); returns how many words have one.  ``progress(1)``
    after each word.

    Words are made a group per transaction, each group for up to :data:`GROUP_SECONDS` (the
    write lock is held no longer: a sync waits that long at most), so searches and a killed
    build see whole lists, each exact for the index it was made from."""
    from harvester.find.search import _ranked, _through_the_index, current_matches

    min_docs = MIN_DOCS if min_docs is None else min_docs
    if share is None:
        share = SHARE if size is None else 0.0
    size = SIZE if size is None else size
    with engine.connect() as conn:
        words = frequent.words(conn, min_docs)
        rankings = {area: OneWord(conn, size, area) for area in ("term", *AREAS)}
        conn.rollback()
    wanted: list[tuple[str, str, Query, int]] = []
    keys: set[str] = set()
    for area, word, docs in words:
        if word.startswith((areas.CONCEPT_PREFIX, "zzitemzz")) or areas.tokens(word) != [word]:
            continue  # a concept, the item separator, or no query's word is this token
        try:
            query = parse(word)
        except UsageError:
            continue  # an operator (or, not)
        every = [query]
        if area == "term" and len(word) >= PREFIX_LENGTH and word.isalpha():
            every.append(parse(word + "*"))  # its prefix: `immun*` ("immune", "immunity"…)
        for each in every:
            if each is query and docs < size:
                # Fewer versions hold it than a list keeps: its ranking would fill one only
                # through its concept's matches (a search ranks every match then); its
                # prefix may hold more.
                continue
            found = key(each, area)
            if found is not None and found not in keys:  # words of one key: the most matched
                keys.add(found)
                wanted.append((found, area, each, length(docs, size, share)))
    made: list[str] = []
    done = 0
    while done < len(wanted):
        # PostgreSQL: the group's rankings read the index as a search's do, set once for
        # the group (four round trips a word, a fifth of the build of a small catalogue).
        with _group(engine) as conn, _through_the_index(conn):
            up_to, docs = areas.indexed_up_to(conn), areas.count(conn)
            started = time.monotonic()
            while done < len(wanted) and time.monotonic() - started < GROUP_SECONDS:
                found, area, query, keep = wanted[done]
                done += 1
                rows = rankings[area].rows(conn, query, keep)
                matches = None
                if rows is None:  # a word the compiled statement does not fit; PostgreSQL
                    stmt, _ = _ranked(conn, *_searched(area, query))
                    rows = conn.execute(stmt.add_columns(sa.func.count().over().label("n"))
                                        .order_by(sa.desc("score"), sa.asc("nct_id"))
                                        .limit(keep)).all()
                    matches = int(rows[0].n) if rows else 0  # counted in the same pass
                elif len(rows) >= keep:
                    matches = current_matches(conn, found)
                if _store(conn, found, rows, keep, up_to, docs, matches):
                    made.append(found)
                if progress is not None:
                    progress(1)
    with _group(engine) as conn:
        up_to, docs = areas.indexed_up_to(conn), areas.count(conn)
        kept: sa.BindParameter[Any] = sa.bindparam("kept", tuple(made) or ("",), expanding=True)
        conn.execute(sa.text(f"DELETE FROM {LIST} WHERE list_id IN (SELECT list_id FROM "
                             f"{HEAD} WHERE match NOT IN :kept)").bindparams(kept))
        conn.execute(sa.text(f"DELETE FROM {HEAD} WHERE match NOT IN :kept").bindparams(kept))
        conn.execute(sa.text(f"INSERT INTO {HEAD} (match, floor, floor_nct, up_to, docs) "
                             f"VALUES (:mark, 0, '', :up_to, :docs) ON CONFLICT (match) DO "
                             f"UPDATE SET up_to = excluded.up_to, docs = excluded.docs"),
                     {"mark": _MARK, "up_to": up_to, "docs": docs})
    return len(made)


@contextmanager
def _group(engine: sa.Engine) -> Iterator[Connection]:
    """A transaction of the build, in which the index stays as the lists are ranked from
    (what they hold and the ``up_to`` they note agree).  SQLite: the write lock first, so
    a catch-up (a search's) waits — for :data:`GROUP_SECONDS` and one word at most.
    PostgreSQL: ``REPEATABLE READ``, every statement reading the snapshot of the first, so
    catch-ups go on beside it (a list of a word every trial holds takes ~25 s to rank at
    the registry's size: no search waits for it)."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM schema_info WHERE 0")
            yield conn
        return
    with engine.connect() as plain:
        conn = plain.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            yield conn


#: The field-scoped areas with lists of their frequent words (``--cond melanoma``).
AREAS = frequent.AREAS


def _searched(area: str, query: Query) -> tuple[Query | None, Selection]:
    """The query and selection of a search of ``query`` in ``area`` alone, as
    :func:`harvester.find.search.search` ranks it."""
    from harvester.catalogue.selection import Selection

    if area == "term":
        return query, Selection()
    return None, Selection(areas=((area, query.text),))


def _store(conn: Connection, found: str, rows: Sequence[Any], size: int, up_to: int,
           docs: int, matches: int | None = None) -> bool:
    """Replace the list of ``found`` by ``rows`` (its ranking's first ``size``); whether it
    has one now (a word with fewer matches needs none: every match is ranked)."""
    given = {"found": found}
    if conn.dialect.name == "postgresql":  # one round trip
        conn.execute(sa.text(f"WITH gone AS (DELETE FROM {HEAD} WHERE match = :found "
                             f"RETURNING list_id) DELETE FROM {LIST} WHERE list_id IN "
                             f"(SELECT list_id FROM gone)"), given)
    else:  # the driver's statements: a thousand words a build (SQLAlchemy's text() cost
        # more than these statements on a small catalogue)
        conn.exec_driver_sql(f"DELETE FROM {LIST} WHERE list_id IN "
                             f"(SELECT list_id FROM {HEAD} WHERE match = ?)", (found,))
        conn.exec_driver_sql(f"DELETE FROM {HEAD} WHERE match = ?", (found,))
    if len(rows) < size:
        return False
    values = (found, float(rows[-1].score), rows[-1].nct_id, up_to, docs, matches)
    list_id = conn.exec_driver_sql(
        _NEW_HEAD.format("%s" if conn.dialect.name == "postgresql" else "?"), values
    ).scalar_one()
    from harvester.catalogue.bulk import insert_rows  # the driver's executemany, or COPY

    insert_rows(conn, _LIST, [(list_id, place, row.version_id, row.nct_id, float(row.score))
                              for place, row in enumerate(rows)], _NAMES)
    return True


_NAMES = ("list_id", "place", "version_id", "nct_id", "score")
#: A list's head, its id returned; ``{0}`` the driver's placeholder.
_NEW_HEAD = (f"INSERT INTO {HEAD} (match, floor, floor_nct, up_to, docs, matches) "
             "VALUES ({0}, {0}, {0}, {0}, {0}, {0}) RETURNING list_id")


class OneWord:
    """The ranking of one word as :func:`harvester.find.search._ranked` makes it, compiled
    once for the whole build: the statements of two words differ only in the values of
    their two match expressions (the word's, and the boost's on the concept and the
    condition list), and its list's length, so each word only binds its own.  Building the
    statement anew cost more than running it, for each of the thousand frequent words."""

    PROBE = "zzprobezz"
    LIMIT = "champion_list_length"

    def __init__(self, conn: Connection, size: int, area: str = "term") -> None:
        from harvester.find.search import _ranked

        self.area = area
        query = parse(self.PROBE)
        stmt, _ = _ranked(conn, *_searched(area, query))
        compiled = stmt.order_by(sa.desc("score"), sa.asc("nct_id")).limit(
            sa.bindparam(self.LIMIT, size, type_=sa.Integer)).compile(dialect=conn.dialect)
        self.sql: str | None = str(compiled)
        self.names = tuple(compiled.positiontup or ())
        self.params = dict(compiled.params)
        probe = self.expressions(query) or ()
        self.width = len(probe)  # the word's match expression, and its boost's if the area has one
        self.slots = {name: probe.index(value) for name, value in self.params.items()
                      if value in probe}
        others = [v for n, v in self.params.items()
                  if n not in self.slots and self.PROBE in str(v)]
        if ("POSTCOMPILE" in self.sql or others or not probe
                or sorted(self.slots.values()) != list(range(len(probe)))
                or self.LIMIT not in self.names):
            self.sql = None  # not a statement this can rebind: each word builds its own

    def expressions(self, query: Query) -> tuple[str, ...] | None:
        """The word's match expression and its boost's (in an area with one: the words'
        box and ``cond``), as ``_ranked`` makes them."""
        scoped = Scoped(((self.area, query),))
        match, strong = scoped.fts5(), scoped.strong_fts5()
        if match is None:
            return None
        return (match,) if strong is None else (match, strong)

    def rows(self, conn: Connection, query: Query, size: int | None = None
             ) -> Sequence[Any] | None:
        """The word's ranking (its first ``size``, else the size it was compiled with), or
        None when it must be built."""
        values = self.expressions(query)
        if self.sql is None or values is None or len(values) != self.width:
            return None
        given = {self.LIMIT: size} if size is not None else {}
        bound = tuple(values[self.slots[name]] if name in self.slots
                      else given.get(name, self.params[name]) for name in self.names)
        return conn.exec_driver_sql(self.sql, bound).all()
