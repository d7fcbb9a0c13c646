"""Full-text search of the catalogue: ranking and typed hits.

The query language is :mod:`harvester.find.search_query` (:func:`parse` → :class:`Query`).
:func:`search`
ranks the matches among the versions a :class:`~harvester.catalogue.selection.Selection`
picks (today's, or those current ``as_of`` a date) inside the database — FTS5 ``bm25`` on
SQLite, ``ts_rank_cd`` on PostgreSQL — and fetches titles and highlighted extracts only for
the page it returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.engine import Connection

from harvester.catalogue import (
    Catalogue,
    areas,
    facets,
    filtertokens,
    fulltext,
    places,
    recordcodec,
    summary,
)
from harvester.catalogue import tables as t
from harvester.catalogue.engine import planner_settings
from harvester.catalogue.selection import (
    DEFAULT_WITHIN_KM,
    Selection,
    filters,
    near_point,
    near_test,
    picked_versions,
    selected,
    the_nct_id,
    with_phase_values,
)
from harvester.errors import UsageError
from harvester.find import asof, champions, several
from harvester.find.scoped import Scoped
from harvester.find.search_query import Query, Term, parse

V = t.Version.__table__  # type: ignore[attr-defined]
#: Marks around highlighted words in :attr:`Hit.snippet` (see :attr:`Hit.highlights`).
START, STOP = "\ue000", "\ue001"


# --- hits ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Hit:
    """One matching trial, as a search result."""

    rank: int  # 1-based place in the results
    nct_id: str
    version_id: int
    version: int  # 1-based place in the trial's history, as `trials history` numbers it
    score: float  # higher is better; comparable within one search on one database only
    title: str | None
    status: str | None
    phases: tuple[str, ...]
    study_type: str | None
    start_date: str | None
    conditions: tuple[str, ...]
    snippet: str  # highlighted words between START and STOP
    source: str
    distance_km: float | None = None  # with --near: the nearest site (city-level coordinates)

    @property
    def plain_snippet(self) -> str:
        return self.snippet.replace(START, "").replace(STOP, "")

    @property
    def highlights(self) -> list[tuple[int, int]]:
        """``(start, end)`` offsets of the highlighted words in :attr:`plain_snippet`."""
        spans, plain, opened = [], 0, 0
        for char in self.snippet:
            if char == START:
                opened = plain
            elif char == STOP:
                spans.append((opened, plain))
            else:
                plain += 1
        return spans

    def to_json(self) -> dict[str, Any]:
        return {"rank": self.rank, "nct_id": self.nct_id, "score": float(f"{self.score:.6g}"),
                "title": self.title, "status": self.status, "phases": list(self.phases),
                "study_type": self.study_type, "start_date": self.start_date,
                "conditions": list(self.conditions), "version": self.version,
                "version_id": self.version_id, "source": self.source,
                "snippet": self.plain_snippet, "distance_km": None if self.distance_km is None
                else round(self.distance_km, 1),
                "highlights": [list(span) for span in self.highlights]}


@dataclass(frozen=True)
class Results:
    query: Query | None  # None: field-scoped searches or filters only
    selection: Selection
    total: int  # every match in the selection
    offset: int
    hits: list[Hit]


# --- searching -----------------------------------------------------------------------------

def _scoped(query: Query | None, selection: Selection) -> Scoped | None:
    given = [*selection.areas, *([("term", query.text)] if query is not None else [])]
    return Scoped.of(given) if given else None


def _matches(conn: Connection, query: Query | None,
             selection: Selection) -> tuple[sa.Select[Any], Any]:
    """``(nct_id, version_id, score)`` of the selection's matching versions (unordered), and
    the value the page's extracts need (the FTS5 expression or the tsquery text).

    The words (``term``) and the selection's field-scoped searches are matched together in
    the area index (harvester.catalogue.areas) and ranked there; a match of the concept or
    the condition list ranks above any other.  Without either, every trial selected, by NCT
    id."""
    if selection.near is None:
        return _ranked(conn, query, selection)
    # Nearest site first; relevance orders trials at the same distance.  Each version's
    # nearest site is found once, from the sites in reach (a range of the index on z),
    # rather than per match; the join is the --near filter too.
    # The sites in reach are few beside the words' matches: found first (once), and each
    # match outside them is dropped before it is joined to its trial, filtered or scored.
    reach = nearest_sites(selection.near, selection.within_km or DEFAULT_WITHIN_KM,
                          cte=True)
    stmt, value = _ranked(conn, query, replace(selection, near=None, within_km=None),
                          among=sa.select(reach.c.version_id))
    inner = stmt.subquery("ranked")
    return (sa.select(inner.c.nct_id, inner.c.version_id,
                      (-reach.c.d2 * BOOST * BOOST + inner.c.score / BOOST).label("score"),
                      reach.c.d2)
            .join(reach, reach.c.version_id == inner.c.version_id)), value


def nearest_sites(near: str, within_km: float, *, cte: bool = False) -> Any:
    """``(version_id, d2)``: each version with a site within ``within_km`` of ``near``, and
    the squared chord to its nearest such site (``cte``: a materialized CTE, made once
    however often the statement reads it)."""
    x, y, z = near_point(near)
    p = facets.PLACE
    d2 = (p.c.x - x) * (p.c.x - x) + (p.c.y - y) * (p.c.y - y) + (p.c.z - z) * (p.c.z - z)
    stmt = (sa.select(p.c.version_id, sa.func.min(d2).label("d2"))
            .where(near_test(near, within_km)).group_by(p.c.version_id))
    return stmt.cte("reach").prefix_with("MATERIALIZED") if cte else stmt.subquery("reach")


def _located(conn: Connection, selection: Selection) -> Selection:
    """The selection with a ``--near`` city replaced by its point, located once (the
    catalogue's mean site coordinates there), rather than in each use of it in SQL; the
    reach widened by a kilometre, as for a city (its sites are spread around that mean)."""
    if selection.near is None or places.point(selection.near) is not None:
        return selection
    point = facets.locate(conn, selection.near)
    if point is None:
        return selection  # no such place: nothing matches, as the SQL finds out at once
    return replace(selection, near=f"{point[0]:.6f},{point[1]:.6f}",
                   within_km=(selection.within_km or DEFAULT_WITHIN_KM) + 1.0)


def _ranked(conn: Connection, query: Query | None, selection: Selection,
            since: int | None = None,
            among: sa.Select[Any] | None = None) -> tuple[sa.Select[Any], Any]:
    """As :func:`_matches`; ``since`` (SQLite): only versions with a higher id (those
    indexed since the champion lists were made: a few, their filters tested on each);
    ``among``: only the versions it selects (a few: the sites in reach of ``--near``),
    tested on each match first."""
    scoped = _scoped(query, selection)
    # A field-scoped search matches few trials: its filters are tested on each match; a
    # bare word may match most of the catalogue: its filters are sets, built once.  Among
    # a few versions (near a place), every filter is tested on each.
    few = among is not None or since is not None
    picked = selected(replace(selection, areas=()), per_match=bool(selection.areas),
                      few=few).order_by(None).subquery("picked")
    if scoped is None:
        stmt = sa.select(picked.c.nct_id, picked.c.version_id, sa.literal(0.0).label("score"))
        if among is not None:
            stmt = stmt.where(picked.c.version_id.in_(among))
        return stmt, None
    sqlite = conn.dialect.name == "sqlite"
    snippet = None if query is None else query.fts5()
    if sqlite:
        match, strong = scoped.fts5(), scoped.strong_fts5()
        # The equality filters and whole months' dates are words of the index
        # (filtertokens): FTS5 intersects them with the query's, and with the boost's set
        # of strong matches (built once: only those passing the filters matter).
        plain = replace(selection, areas=())
        if match is not None:
            tokens, plain = filtertokens.split(plain)
            match = filtertokens.both(match, tokens)
            strong = None if strong is None else filtertokens.both(strong, tokens)
        fts = sa.table(areas.FTS_TABLE, sa.column("rowid"))
        score: sa.ColumnElement[Any] = -sa.func.bm25(
            sa.literal_column(areas.FTS_TABLE), *areas.WEIGHTS)
        if strong is not None:
            boosted: sa.Select[Any] = sa.select(sa.literal_column("rowid")).select_from(
                sa.table(areas.FTS_TABLE)).where(
                sa.literal_column(areas.FTS_TABLE).op("MATCH")(strong))
            if since is not None:
                boosted = boosted.where(sa.literal_column("rowid") > since)
            if among is not None:  # `+rowid`: a scan of the matches, not a look-up each
                boosted = boosted.where(_plain(sa.literal_column("rowid")).in_(among))
            score = score + sa.case((fts.c.rowid.in_(boosted), BOOST), else_=0.0)
        # The other filters are tested on each match before it is joined to its trial (a
        # look-up that costs more than most filters), and first of all, for today's
        # versions, whether it is one: not among the index's past versions (a small table).
        base = picked_versions(plain)
        row = _plain(fts.c.rowid)
        where = filters(plain, row, base.c.nct_id, per_match=bool(selection.areas),
                        few=few)
        if selection.as_of is None:
            where.insert(0, row.not_in(sa.select(
                sa.table(areas.PAST_TABLE, sa.column("version_id")).c.version_id)))
        on = base.c.version_id == fts.c.rowid
        if selection.as_of is not None:  # found by NCT id (see versions_as_of)
            on = sa.and_(on, base.c.nct_id == the_nct_id(fts.c.rowid))
        stmt = (sa.select(base.c.nct_id, base.c.version_id, score.label("score"))
                .select_from(fts).join(base, on)
                .where(sa.literal_column(areas.FTS_TABLE).op("MATCH")(match or "zzitemzz"),
                       *where))
        if since is not None:  # a range of each match list: one cursor
            stmt = stmt.where(fts.c.rowid > since)
        if among is not None:  # before the join to the trial: the rest is never scored
            stmt = stmt.where(_plain(fts.c.rowid).in_(among))
        return stmt, snippet
    tsquery, strong = scoped.tsquery(), scoped.strong_tsquery()
    if tsquery is not None:
        # The equality filters and whole months' dates are lexemes of the documents
        # (filtertokens): the GIN index intersects them with the query's matches, and only
        # what passes them is joined to its trial and ranked.
        tokens, plain = filtertokens.split_tsquery(replace(selection, areas=()))
        if tokens is not None:
            tsquery = f"({tsquery}) & {tokens}"
            picked = selected(plain, per_match=bool(selection.areas),
                              few=few).order_by(None).subquery("picked")
        # As of a day, no version published in a later month can be picked: its matches
        # are left in the index, not read from the table and tested there.
        later = None if selection.as_of is None else asof.published_later(
            conn, selection.as_of, filtertokens.published_later_tsquery)
        if later is not None:
            tsquery = f"({tsquery}) & !{later}"
    doc = sa.table(areas.PG_TABLE, sa.column("version_id"), sa.column("document"))
    # Ranked without its exclusions (as bm25 ranks on SQLite): a list's order holds then.
    score = sa.func.ts_rank(doc.c.document,
                            _as_tsquery(scoped.tsquery(ranked=True) or "'zzitemzz'"), 1)
    if strong is not None:
        score = score + sa.case((doc.c.document.op("@@")(_as_tsquery(strong)), BOOST),
                                else_=0.0)
    stmt = (sa.select(picked.c.nct_id, picked.c.version_id, score.label("score"))
            .select_from(doc).join(picked, picked.c.version_id == doc.c.version_id)
            .where(doc.c.document.op("@@")(_as_tsquery(tsquery or "'zzitemzz'"))))
    if since is not None:
        stmt = stmt.where(doc.c.version_id > since)
    if among is not None:
        stmt = stmt.where(doc.c.version_id.in_(among))
    return stmt, snippet or None


def _plain(column: Any) -> Any:
    """``+column`` on SQLite: a test of each row the scan gives, not a look-up by it (an
    FTS5 look-up by rowid parses the query and counts its words' matches again)."""
    return sa.literal_column("+" + str(column.compile(compile_kwargs={"literal_binds": True})))


#: Added to the score of a match on the concept or the condition list: above any other.
BOOST = 1000.0


def _as_tsquery(text: str) -> sa.ColumnElement[Any]:
    return sa.cast(sa.literal(text, sa.Text), TSQUERY)


@contextmanager
def _through_the_index(conn: Connection, matching: bool = True) -> Iterator[None]:
    """PostgreSQL: the statements that match every version of a query (its count, its
    ranking) read the matches through the GIN index, with memory for an exact bitmap.
    With the index's statistics (after ANALYZE: autovacuum's) the planner knows a common
    word matches a third of the catalogue and reads every version's vector in id order
    through the primary key, testing each — 10.9 s for `lung cancer` at 600,000 trials,
    where the GIN index's bitmap of its 150,813 matches, read by parallel workers, takes
    3.5 s (merge joins alone off: 5.1 s, one process).  Index scans are off only for these
    statements (a champion list's walk needs them), then back as they were; a failed
    statement leaves them to the transaction's end.  The phase filter's skip through its
    index, which needs them, is done before (:func:`with_phase_values`).  Not
    ``matching`` (no words, no area: filters only), nothing changes."""
    with planner_settings(conn, **({"enable_indexscan": "off", "work_mem": WORK_MEM}
                                   if matching else {})):
        yield


#: PostgreSQL's memory for a search's bitmap of matches and its joins (the default 4 MB
#: makes the bitmap of a common word lossy: every version on a lossy page tested again).
WORK_MEM = "64MB"


@contextmanager
def _refused_queries(query: Query | None) -> Iterator[None]:
    """A query the full-text engine itself refuses is a usage error, not a crash (the
    parser should have refused it first)."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        message = str(exc.orig)
        if not any(word in message for word in ("fts5", "tsquery", "syntax error")):
            raise
        shown = query.text if query is not None else "of the search areas"
        raise UsageError(f"the query {shown!r} cannot be searched: "
                         f"{message.splitlines()[0]}") from None


def _query(text: str | Query | None) -> Query | None:
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    return text if isinstance(text, Query) else parse(text)


def ready(catalogue: Catalogue, progress: Callable[[int], None] | None = None) -> int:
    """Bring the area index up to date (a no-op when it is); the versions indexed."""
    return areas.catch_up(catalogue.engine, progress)


def search(catalogue: Catalogue, text: str | Query | None,
           selection: Selection | None = None, *, limit: int = 20, offset: int = 0) -> Results:
    """The ``limit`` best matches from ``offset`` (ranked in the database) and their total.

    ``text`` searches every field (the registry's ``term`` area); the selection's ``areas``
    search one area each; with neither, the selection's trials by NCT id."""
    query = _query(text)
    selection = selection or Selection()
    if limit < 1 or offset < 0:
        raise UsageError("--limit must be at least 1 and --offset at least 0")
    ready(catalogue)
    with catalogue.engine.connect() as conn, _refused_queries(query):
        selection, stmt, value = _matching(conn, query, selection)
        count = sa.select(sa.func.count()).select_from(stmt.subquery())
        dated = (asof.answer(conn, query, selection, limit, offset)
                 if query is not None and asof.applies(conn, query, selection) else None)
        listed = (None if dated is not None
                  else _from_champions(conn, query, selection, limit, offset))
        champion, known = listed if listed is not None else (None, None)
        if champion is None and dated is None and query is not None:
            champion = several.page(conn, query, selection, limit, offset)
        with _through_the_index(conn, query is not None or bool(selection.areas)):
            found, total = _page(conn, stmt, count, query, selection, dated, champion,
                                 known, limit, offset)
        rows = [(row.nct_id, row.version_id, float(row.score)) for row in found]
        hits = _hits(conn, rows, value, offset, _distances(found, selection.near))
    return Results(query, selection, total, offset, hits)


def _matching(conn: Connection, query: Query | None,
              selection: Selection) -> tuple[Selection, sa.Select[Any], Any]:
    """The selection with its phase values looked up (:func:`with_phase_values`), and its
    matches as :func:`_matches` gives them.  On PostgreSQL no sequential scan for the rest
    of the transaction: the planner costs testing a row's vector as cheap and, for a common
    word, reads the whole table; the GIN index is always the better way in."""
    selection = with_phase_values(conn, selection)
    stmt, value = _matches(conn, query, _located(conn, selection))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    return selection, stmt, value


def _page(conn: Connection, stmt: sa.Select[Any], count: sa.Select[Any],
          query: Query | None, selection: Selection, dated: Any,
          champion: Sequence[Any] | None, known: int | None, limit: int,
          offset: int) -> tuple[Sequence[Any], int]:
    """The page's rows and the total: as of a date (:mod:`asof`'s answer), from the lists
    (``champion``: the page, ``known``: its total when the list knew it), or by ranking
    every match."""
    found: Sequence[Any]
    if dated is not None:
        # As of a date: the trials with history tested, the others by date (asof).
        total, page = dated
        found = page if page is not None else conn.execute(
            stmt.order_by(sa.desc("score"), sa.asc("nct_id")).limit(limit)
            .offset(offset)).all()
    elif champion is not None:
        found = champion
        total = known if known is not None else _total(conn, query, selection, count)
    elif (selection.is_everything and conn.dialect.name == "sqlite") or (
            query is None and not selection.areas and selection.near is None):
        # Matching the current versions is cheap: count, then rank the page.
        total = _total(conn, query, selection, count)
        ranked = stmt.order_by(sa.desc("score"), sa.asc("nct_id"))
        found = conn.execute(ranked.limit(limit).offset(offset)).all()
    else:
        # Filters and dates cost per match, and so does ranking on PostgreSQL: match
        # once, then count and rank that.
        matched = stmt.cte("matched").prefix_with("MATERIALIZED")
        every = sa.select(sa.func.count()).select_from(matched).scalar_subquery()
        found = conn.execute(
            sa.select(matched.c.nct_id, matched.c.version_id, matched.c.score,
                      *([matched.c.d2] if selection.near else []), every.label("total"))
            .order_by(matched.c.score.desc(), matched.c.nct_id)
            .limit(limit).offset(offset)).all()
        total = int(found[0].total) if found else (
            0 if offset == 0 else int(conn.execute(count).scalar_one()))
    return found, total


def _from_champions(conn: Connection, query: Query | None, selection: Selection,
                    limit: int, offset: int) -> tuple[Sequence[Any], int | None] | None:
    """The page ranked from the champion lists of the query's words (see
    :mod:`harvester.find.champions`: exact for one word, in the words' box or in one
    field-scoped area), or None to rank every match; with the page, its total when the
    list's count is it (the word alone, no filter, nothing indexed since), else None."""
    if (selection.near is not None or selection.as_of is not None
            or offset + limit > champions.SIZE):
        return None
    one = champions.one_area(query, selection)
    if one is None:
        return None
    area, words = one
    wanted = champions.key(words, area)
    head = champions.head(conn, wanted) if wanted is not None else None
    if head is None:
        return None
    # Its list in order, with the scores stored (the ranking of every match then), the
    # filters tested on each; then the versions indexed since, ranked now.
    listed = champions.listed(head, words, selection, area, dialect=conn.dialect.name)
    # Its first SIZE versions first: when none of them pass the filters, the rest of a
    # long list (up to 30,000) is not read either — the filter picks few of this word's
    # best (its page is elsewhere: rank every match).
    need = offset + limit
    with champions.in_list_order(conn):
        rows = list(conn.execute(listed.where(champions.placed(champions.SIZE))
                                 .limit(need)).all())
        if 0 < len(rows) < need:  # some pass: the rest of the list, from where that stopped
            rows += conn.execute(listed.where(~champions.placed(champions.SIZE))
                                 .limit(need - len(rows))).all()
    if len(rows) < offset + limit:
        return None  # too few pass the filters: rank every match
    if areas.indexed_up_to(conn) == head.up_to:  # nothing indexed since the list was made
        alone = (isinstance(words.root, Term)
                 and replace(selection, areas=()).is_everything)  # its count is the total
        return rows[offset:offset + limit], head.matches if alone else None
    stmt, _ = _ranked(conn, query, selection, since=head.up_to)
    newer = conn.execute(stmt.order_by(sa.desc("score"), sa.asc("nct_id"))
                         .limit(offset + limit)).all()
    if newer:
        rows = sorted([*rows, *newer], key=lambda r: (-float(r.score), r.nct_id))[
            :offset + limit]
    return rows[offset:offset + limit], None


def _total(conn: Connection, query: Query | None, selection: Selection,
           count: sa.Select[Any]) -> int:
    """The number of matches: for a search of the current versions (not field-scoped, not
    near a place), the index's matches less those of versions no longer current
    (:data:`areas.PAST_TABLE`) that pass the filters, each tested on the match, without
    joining each match to ``trial`` (a quarter of a filtered count's time on SQLite;
    PostgreSQL: when its tokens hold every filter)."""
    if not (query is not None and selection.as_of is None and not selection.areas
            and selection.near is None):
        return int(conn.execute(count).scalar_one())
    scoped = _scoped(query, selection)
    if conn.dialect.name != "sqlite":
        return _pg_current_matches(conn, scoped, selection, count)
    match = scoped.fts5() if scoped is not None else None
    if match is None:
        return int(conn.execute(count).scalar_one())
    return current_matches(conn, match, selection)


def _pg_current_matches(conn: Connection, scoped: Scoped | None, selection: Selection,
                        count: sa.Select[Any]) -> int:
    """PostgreSQL's :func:`current_matches`, for the filters its documents hold as tokens
    (any other filter: ``count``, each match joined to its trial and tested): the index's
    matches less its versions no longer current, each match's row read for its id alone."""
    tsquery = scoped.tsquery() if scoped is not None else None
    tokens, rest = filtertokens.split_tsquery(selection)
    if tsquery is None or not rest.is_everything:
        return int(conn.execute(count).scalar_one())
    if tokens is not None:
        tsquery = f"({tsquery}) & {tokens}"
    return int(conn.exec_driver_sql(
        f"SELECT count(*) FROM {areas.PG_TABLE} WHERE document @@ CAST(%s AS tsquery) AND "
        f"version_id NOT IN (SELECT version_id FROM {areas.PAST_TABLE})",
        (tsquery,)).scalar_one())


#: :func:`current_matches` without filters, as the statement it builds reads.
_CURRENT_MATCHES = (f"SELECT count(*) FROM {areas.FTS_TABLE} WHERE {areas.FTS_TABLE} MATCH ? "
                    f"AND +{areas.FTS_TABLE}.rowid NOT IN "
                    f"(SELECT version_id FROM {areas.PAST_TABLE})")


def current_matches(conn: Connection, match: str, selection: Selection | None = None) -> int:
    """SQLite: the current versions matching the FTS5 expression ``match`` (and passing the
    selection's filters): the index's matches less its versions no longer current, in one
    scan of the matches, without joining each to ``trial``."""
    # Each id tested in the (small) table: `+rowid`, else FTS5 would look each past
    # version up with a cursor of its own (a prefix expanded again).
    if selection is None:  # a champion list's count, a thousand times a build: no statement
        return int(conn.exec_driver_sql(_CURRENT_MATCHES, (match,)).scalar_one())
    fts = sa.table(areas.FTS_TABLE, sa.column("rowid"))
    row = _plain(fts.c.rowid)
    past = sa.table(areas.PAST_TABLE, sa.column("version_id"))
    # The filters the index holds as words (filtertokens) join the match; the rest are SQL.
    tokens, selection = filtertokens.split(selection)
    match = filtertokens.both(match, tokens)
    tests = filters(selection, row, the_nct_id(fts.c.rowid))
    return int(conn.execute(
        sa.select(sa.func.count()).select_from(fts).where(
            sa.literal_column(areas.FTS_TABLE).op("MATCH")(match),
            row.not_in(sa.select(past.c.version_id)), *tests)).scalar_one())


def iter_hits(catalogue: Catalogue, text: str | Query | None,
              selection: Selection | None = None,
              *, offset: int = 0, page: int = 200) -> Iterator[Hit]:
    """Every match from ``offset``, best first, streamed a page at a time (flat memory)."""
    query = _query(text)
    selection = selection or Selection()
    ready(catalogue)
    with (catalogue.engine.connect() as conn, catalogue.engine.connect() as details,
          _refused_queries(query)):
        selection, stmt, value = _matching(conn, query, selection)
        ranked = stmt.order_by(sa.desc("score"), sa.asc("nct_id")).offset(offset)
        # Planned when executed: the settings apply to the whole stream.
        with _through_the_index(conn, query is not None or bool(selection.areas)):
            result = conn.execution_options(stream_results=True,
                                            yield_per=page).execute(ranked)
        done = offset
        for chunk in result.partitions(page):
            rows = [(row.nct_id, row.version_id, float(row.score)) for row in chunk]
            yield from _hits(details, rows, value, done, _distances(chunk, selection.near))
            done += len(rows)


def _hits(conn: Connection, rows: Sequence[tuple[str, int, float]], value: Any,
          offset: int, distances: dict[int, float] | None = None) -> list[Hit]:
    """The page's hits: record fields, history numbers and highlighted extracts."""
    if not rows:
        return []
    ids = [version_id for _, version_id, _ in rows]
    sources: dict[int, str] = dict(conn.execute(
        sa.select(V.c.id, V.c.source).where(V.c.id.in_(ids))).all())
    shown = summary.read(conn, ids)  # never the records: those only for extracts
    numbers = _history_numbers(conn, [nct_id for nct_id, _, _ in rows])
    docs = _extract_texts(conn, ids) if value else []  # no words, no extracts
    snippets = _snippets(value, docs)
    distances = distances or {}
    hits = []
    for place, (nct_id, version_id, score) in enumerate(rows, start=offset + 1):
        line = shown[version_id]
        hits.append(Hit(
            rank=place, nct_id=nct_id, version_id=version_id, version=numbers.get(version_id, 0),
            score=score, title=line.title, status=line.overall_status,
            phases=tuple(line.phases), study_type=line.study_type, start_date=line.start_date,
            conditions=tuple(line.conditions), snippet=snippets.get(version_id, ""),
            source=sources[version_id], distance_km=distances.get(version_id)))
    return hits


class _More(fulltext.RecordText):
    """The record's text and the other fields the search areas hold, in one decoding."""

    class _Named(msgspec.Struct):
        name: str | None = None

    class _Site(msgspec.Struct):
        facility: str | None = None
        city: str | None = None
        state: str | None = None
        country: str | None = None

    class _Outcome(msgspec.Struct):
        title: str | None = None

    nct_id: str = ""
    org_study_id: str | None = None
    secondary_ids: list[str] = msgspec.field(default_factory=list)
    lead_sponsor: _Named | None = None
    collaborators: list[_Named] = msgspec.field(default_factory=list)
    outcomes: list[_Outcome] = msgspec.field(default_factory=list)
    locations: list[_Site] = msgspec.field(default_factory=list)


_MORE = msgspec.json.Decoder(_More)


def _extract_texts(conn: Connection, ids: Sequence[int]) -> list[tuple[int, fulltext.Texts]]:
    """The texts the page's extracts are taken from, in the order of ``ids``."""
    records: dict[int, bytes] = dict(conn.execute(
        sa.select(V.c.id, V.c.record).where(V.c.id.in_(ids))).all())
    return [(version_id, _shown_texts(recordcodec.unpack(records[version_id])))
            for version_id in ids]


def _shown_texts(record: str | bytes) -> fulltext.Texts:
    """The text an extract is taken from: the full-text fields, then the other fields the
    search areas hold (sponsors, outcomes, sites, ids), so every hit shows why it matched."""
    more = _MORE.decode(record)
    texts = fulltext.texts_of(more)
    extra = fulltext.SEPARATOR.join(x for x in (
        more.nct_id, more.org_study_id, *more.secondary_ids,
        *([more.lead_sponsor.name] if more.lead_sponsor else []),
        *(c.name for c in more.collaborators), *(o.title for o in more.outcomes),
        *(part for site in more.locations[:200]
          for part in (site.facility, site.city, site.state, site.country))) if x)
    return fulltext.Texts(texts.title, texts.focus, texts.summary,
                          fulltext.SEPARATOR.join(x for x in (texts.criteria, extra) if x))


def _distances(rows: Sequence[Any], near: str | None) -> dict[int, float]:
    """Version id → km to its nearest site from ``near``: the great-circle distance of
    the shortest chord ``d2`` the ranking found (as the haversine of the coordinates)."""
    if near is None:
        return {}
    return {row.version_id: 2 * places.EARTH_KM * math.asin(min(1.0, math.sqrt(row.d2) / 2))
            for row in rows}


def _snippets(value: Any, docs: Sequence[tuple[int, fulltext.Texts]]) -> dict[int, str]:
    """The page's extracts, taken alike on both databases: FTS5's ``snippet()`` over the
    page's few texts in memory (on PostgreSQL ``ts_headline`` over them took two thirds of
    a page's rendering, 8–16 ms, and chose other words than SQLite's)."""
    if not value:
        return {}
    found = fulltext.sqlite_snippets(value, docs, START, STOP)
    return {version_id: _clean(text) for version_id, text in found.items()}


def _clean(text: str) -> str:
    return " ".join(text.split())


def _history_numbers(conn: Connection, nct_ids: Sequence[str]) -> dict[int, int]:
    """Version id → 1-based place in its trial's history (registry date, then when seen,
    superseded re-derivations not counted), as ``trials history`` numbers it."""
    # Both from indexes (nct_id, effective_date, source, seen_at) and (supersedes_id): on
    # SQLite a version's later columns are read through its record's overflow pages.
    rows = conn.execute(sa.select(V.c.id, V.c.nct_id, V.c.effective_date, V.c.seen_at)
                        .where(V.c.nct_id.in_(sorted(set(nct_ids))))).all()
    replaced = set(conn.execute(sa.select(V.c.supersedes_id).where(
        V.c.supersedes_id.in_([row.id for row in rows]))).scalars())
    trials: dict[str, list[Any]] = {}
    for row in rows:
        trials.setdefault(row.nct_id, []).append(row)
    numbers: dict[int, int] = {}
    for versions in trials.values():
        kept = sorted((v for v in versions if v.id not in replaced),
                      key=lambda v: (v.effective_date, v.seen_at, v.id))
        numbers.update({v.id: n for n, v in enumerate(kept, start=1)})
    return numbers


def data_as_of(catalogue: Catalogue) -> str | None:
    """The latest registry date among the catalogue's versions: how recent its data is."""
    with catalogue.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(V.c.effective_date))).scalar_one_or_none()
