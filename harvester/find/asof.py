"""Full-text searches ``--as-of`` a date without the per-match test (SQLite).

A search of a frequent word (one with a champion list, :mod:`harvester.find.champions`)
as of a date keeps each trial's version current then (see
:func:`harvester.catalogue.selection.versions_as_of`): a test per match through the index on
``(nct_id, effective_date, …)``, seconds for a frequent word at the registry's size, both to
count the matches and to rank them.  Most trials of a catalogue have one version, though,
and for those the test is only a date: such a version is current on a day when it was
published by then.  So the matches are split in two:

*the trials with history* (:func:`with_history`) — every version of a trial with a version
no longer current (:data:`~harvester.catalogue.areas.PAST_TABLE`) or one indexed after the
word's champion list was made (or not indexed yet) — are matched, tested, counted and ranked
as before, a few of them;

*every other match* is the current and only version of its trial (a version stops being
current only when another version of its trial is stored, and then the trial has history),
indexed before the list was made and current then: it is picked when its registry date is
on or before the day (counted from the registry dates' tokens of the index, filtertokens), and it
is either in the word's champion list (read in the list's order, tested as before) or ranks
below all of the list.

While nothing has been indexed since the list was made, the page is the list's first
versions picked (outside the trials with history) merged
with the trials with history ranked now — the ranking of every match, as
:mod:`harvester.find.champions` argues for the current versions, when enough of the list is
picked; else the search ranks every match.  The total is exact either way.  When the
trials with history are many (:data:`MAX_HISTORY` versions), the search ranks every match
as before.

PostgreSQL answers the same way (its area index holds the same registry-date tokens and its
own list of past versions); counting a common word's matches published by a date reads each
match from the table there, so when few versions were published after the day it counts
those instead, from the list's count of the word's current matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from harvester.catalogue import areas, filtertokens
from harvester.catalogue import tables as t
from harvester.catalogue.selection import Selection
from harvester.find import champions
from harvester.find.search_query import Query, Term

V = t.Version.__table__  # type: ignore[attr-defined]
#: Versions of trials with history beyond which an as-of search ranks every match.
MAX_HISTORY = 5_000


def applies(conn: Connection, query: Query | None, selection: Selection) -> bool:
    """A search of words as of a date with no other filter."""
    return (query is not None and selection.as_of is not None
            and replace(selection, as_of=None).is_everything)


def with_history(conn: Connection, up_to: int) -> list[int] | None:
    """The version ids of every trial with a version no longer current, or with one whose
    id is above ``up_to``; None when more than :data:`MAX_HISTORY`."""
    trials = sa.union(
        sa.select(V.c.nct_id).where(V.c.id.in_(
            sa.select(sa.column("version_id")).select_from(sa.table(areas.PAST_TABLE)))),
        sa.select(V.c.nct_id).where(V.c.id > up_to))
    ids = conn.execute(sa.select(V.c.id).where(V.c.nct_id.in_(trials))
                       .limit(MAX_HISTORY + 1)).scalars().all()
    return None if len(ids) > MAX_HISTORY else sorted(ids)


def answer(conn: Connection, query: Query, selection: Selection, limit: int,
           offset: int) -> tuple[int, Sequence[Any] | None] | None:
    """``(total, page)`` of a search :func:`applies` to (the page None when the ranking of
    every match must make it), or None when the query is not one word with a champion list
    (its matches are few: testing each costs less than the set of versions by date) or
    the trials with history are too many."""
    from harvester.find.search import _ranked, _scoped

    assert selection.as_of is not None
    wanted = champions.key(query)
    head = champions.head(conn, wanted) if wanted is not None else None
    if head is None:
        return None  # few matches (or several words): testing each costs less than the date
    indexed = areas.indexed_up_to(conn)
    history = with_history(conn, min(indexed, head.up_to))
    if history is None:
        return None
    sqlite = conn.dialect.name == "sqlite"
    # Only the trials with history tested and scored (the boost's set of strong matches
    # among them too): on SQLite a scan of the matches from the first of them (FTS5 seeks
    # there: most are the latest versions stored), each tested in that small set first.
    mine = _ranked(conn, query, selection, since=history[0] - 1,
                   among=_ids(history, sqlite))[0] if history else None
    scoped = _scoped(query, selection)
    match = None if scoped is None else scoped.fts5() if sqlite else scoped.tsquery()
    if match is None:
        return None
    # The word alone, nothing indexed since its list was made: the list's count of its
    # current matches is known (PostgreSQL may count from it).
    current = ((head.matches, indexed) if isinstance(query.root, Term)
               and head.up_to == indexed and head.matches is not None else None)
    total = _published_by(conn, match, selection.as_of, history, current)
    # The trials with history: every match of theirs, ranked (one scan; a few versions).
    ranked = [] if mine is None else list(conn.execute(
        mine.order_by(sa.desc("score"), sa.asc("nct_id"))).all())
    total += len(ranked)
    if offset + limit > champions.SIZE or head.up_to != indexed:
        return total, None  # beyond the list, or indexed since (its scores are the old ones)
    seen = set(history)
    with champions.in_list_order(conn):
        rows = [row for row in conn.execute(
            champions.listed(head, query, selection, dialect=conn.dialect.name)
            .limit(offset + limit + len(history))) if row.version_id not in seen][
            :offset + limit]
    if len(rows) < offset + limit:
        return total, None  # too few of the list picked: rank every match
    if ranked:
        rows = sorted([*rows, *ranked[:offset + limit]],
                      key=lambda r: (-float(r.score), r.nct_id))[:offset + limit]
    return total, rows[offset:offset + limit]


def _published_by(conn: Connection, match: str, day: date, history: Sequence[int],
                  current: tuple[int, int] | None = None) -> int:
    """The versions matching ``match`` (FTS5's expression on SQLite, a ``tsquery`` on
    PostgreSQL) published by ``day``, those of ``history`` aside: counted from the registry
    dates' tokens of the area index (:mod:`harvester.catalogue.filtertokens`) — the
    matches in ``day``'s month or before (the index leaves out the later months' matches),
    less those of its month published after it (a few, each tested), less ``history``'s
    published by then (a few).  A test of each match against the set of versions
    published later would cost ~160 ms for a common word at 600,000 trials.

    ``current``: the word's current matches, when its list knows them, and the highest
    version id indexed (about the versions indexed: ids are never reused).  PostgreSQL reads
    every match its GIN index gives from the table (FTS5 counts its doclists), so when
    fewer versions were published after ``day`` than a quarter of the index, it counts
    those instead: ``current`` less the matches published later and less ``history``'s
    current ones, plus ``history``'s published later."""
    if conn.dialect.name == "postgresql":
        return _pg_published_by(conn, match, day, history, current)
    count = f"SELECT count(*) FROM {areas.FTS_TABLE} WHERE {areas.FTS_TABLE} MATCH ?"
    later = published_later(conn, day, filtertokens.published_later)
    found = int(conn.exec_driver_sql(count, (match if later is None
                                             else f"({match}) NOT {later}",)).scalar_one())
    found -= int(conn.exec_driver_sql(
        f"{count} AND +rowid IN (SELECT id FROM version WHERE effective_date > ? "
        f"AND effective_date < ?)",
        (f"({match}) AND {filtertokens.published_in_month(day)}", day.isoformat(),
         _month_end(day))).scalar_one())
    if history:  # from the first of them (FTS5 seeks there), each tested in their set
        found -= int(conn.exec_driver_sql(
            f"{count} AND rowid >= ? AND +rowid IN (SELECT id FROM version NOT INDEXED "
            f"WHERE id IN (SELECT value FROM json_each(?)) AND effective_date <= ?)",
            (match, history[0], _json(history), day.isoformat())).scalar_one())
    return found


def _pg_published_by(conn: Connection, match: str, day: date, history: Sequence[int],
                     current: tuple[int, int] | None) -> int:
    """PostgreSQL's :func:`_published_by`."""
    count = (f"SELECT count(*) FROM {areas.PG_TABLE} WHERE document @@ CAST(%s AS tsquery)")
    later = published_later(conn, day, filtertokens.published_later_tsquery)
    # Of the day's month, the matches published after the day (a few, each tested).
    in_month = int(conn.exec_driver_sql(
        f"{count} AND version_id IN (SELECT id FROM version WHERE effective_date > %s "
        f"AND effective_date < %s)",
        (f"({match}) & {filtertokens.published_in_month_tsquery(day)}", day.isoformat(),
         _month_end(day))).scalar_one())
    # ``history``'s matches: all, published by the day, current (a few, each tested).
    mine, by_then, now = (int(n) for n in conn.exec_driver_sql(
        f"SELECT count(*), count(*) FILTER (WHERE v.effective_date <= %s), count(*) FILTER "
        f"(WHERE d.version_id NOT IN (SELECT version_id FROM {areas.PAST_TABLE})) "
        f"FROM {areas.PG_TABLE} d JOIN version v ON v.id = d.version_id "
        f"WHERE d.version_id = ANY(%s) AND d.document @@ CAST(%s AS tsquery)",
        (day.isoformat(), list(history), match)).one()) if history else (0, 0, 0)
    if current is not None and _few_later(conn, day, current[1]):
        after = in_month + (0 if later is None else int(conn.exec_driver_sql(
            count, (f"({match}) & {later}",)).scalar_one()))
        return current[0] - now - after + (mine - by_then)
    found = int(conn.exec_driver_sql(count, (match if later is None
                                             else f"({match}) & !{later}",)).scalar_one())
    return found - in_month - by_then


def _few_later(conn: Connection, day: date, docs: int) -> bool:
    """Whether fewer versions were published after ``day`` than a quarter of ``docs``
    (read through the index on the registry date, that quarter at most)."""
    quarter = max(1, docs // 4)
    later = conn.exec_driver_sql(
        "SELECT count(*) FROM (SELECT 1 FROM version WHERE effective_date > %s LIMIT %s) x",
        (day.isoformat(), quarter)).scalar_one()
    return int(later) < quarter


def published_later(conn: Connection, day: date, render: Any) -> str | None:
    """The area index's expression of the versions published in a month after ``day``'s
    (``render``: :mod:`harvester.catalogue.filtertokens`' for the database: its
    ``published_later`` or ``published_later_tsquery``), None when none is."""
    last = conn.execute(sa.select(sa.func.max(V.c.effective_date))).scalar_one_or_none()
    return render(day, last) if last else None


def _month_end(day: date) -> str:
    """The first day of the month after ``day``'s."""
    return (date(day.year + 1, 1, 1) if day.month == 12
            else date(day.year, day.month + 1, 1)).isoformat()


def _ids(ids: Sequence[int], sqlite: bool) -> sa.Select[Any]:
    """The statement selecting ``ids`` (one parameter, however many)."""
    if sqlite:
        return sa.select(sa.column("value")).select_from(sa.func.json_each(_json(ids)))
    return sa.select(sa.func.unnest(sa.cast(sa.literal(list(ids), ARRAY(sa.Integer)),
                                            ARRAY(sa.Integer))))


def _json(ids: Sequence[int]) -> str:
    return "[" + ",".join(str(i) for i in ids) + "]"
