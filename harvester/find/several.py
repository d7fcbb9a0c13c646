"""Several frequent words (``lung cancer``, ``lung OR heart``) ranked from their champion lists.

Ranking every match of two frequent words costs a ``bm25`` per match (several phrases each),
over half a second at the registry's size.  Each word's champion list
(:mod:`harvester.find.champions`) holds the first :data:`~harvester.find.champions.SIZE`
current versions of that word's own ranking with their scores; together with a bound on
every version outside them, they give the page of the words together (a threshold
algorithm: Fagin, Lotem and Naor, "Optimal aggregation algorithms for middleware", 2003):

* FTS5's ``bm25`` is a sum over the query's phrases, each phrase's part depending only on
  that phrase and the version, so a version's score for the words together is the sum of
  its scores for each word, less the boost of a concept or condition match
  (:data:`~harvester.find.search.BOOST`) counted once per word instead of once: with
  ``L_i`` a word's score (as its list holds them), a version matching all the words in the
  concept or the condition list scores ``sum(L_i) - BOOST * (k - 1)``; any other scores
  its plain ``bm25``, below ``U`` = phrases × (k1 + 1) × ln(2N + 1) (each phrase's part is
  below its ``idf`` × (k1 + 1), and ``idf`` below ln(2N + 1)).
* A version outside word ``j``'s list has ``L_j`` at most the list's last score (its
  *floor*), and every ``L_i`` at most its list's first: so it scores at most
  ``B = max(U, min over j of (floor_j + sum of the others' first) - BOOST * (k - 1))``.
* The versions in any of the lists are ranked now, exactly, as the ranking of every match
  ranks them (filters and exclusions applied): when the last of the page scores above
  ``B``, no version outside the lists can enter it — the page is the ranking of every
  match, hits, order and scores.  Else (or when a word has no list), every match is ranked.

Words ORed (``nivolumab OR pembrolizumab``) are ranked the same way: a version's score is
the sum of its plain scores for each word it matches (the mean on PostgreSQL), plus the
boost once when it matches any of them in the concept or the condition list, so a version
outside every list scores at most the lists' floors together (:func:`_either`).

The lists are used only while nothing has been indexed since they were made (their scores
and bounds are those of the index then): else every match is ranked, until ``trials
index`` makes them again.  Totals are counted as before.

PostgreSQL: ``ts_rank`` of the ORed ranking query (:meth:`~harvester.find.scoped.Scoped.
tsquery`) is the mean of its lexemes' parts, so a version's score for the words is the
mean of its scores for each word weighted by their lexemes, plus one boost when it
matches every word in the concept or the condition list; the same argument bounds every
version outside the lists (:func:`pg_bound`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue import areas
from harvester.catalogue.selection import Selection
from harvester.find import champions
from harvester.find.scoped import Scoped
from harvester.find.search_query import All, Any_, Not, Query, Term

#: FTS5's bm25 parameter k1 (``fts5_aux.c``).
K1 = 1.2
#: Below this margin a version outside the lists might tie the page's last: rank every match.
MARGIN = 1e-6
#: The first versions of each list taken: a list longer than that (a word of many matches
#: keeps a share of them, for filters) would make the candidates ranked many times more,
#: for a bound hardly lower.
TAKEN = champions.SIZE
#: PostgreSQL's: ``ts_rank`` gives the versions a word's boost puts first scores a few
#: thousandths apart (bm25's spread more), so the floor at 2,000 leaves the bound above
#: the page's last: at 600,000 trials `lung cancer`'s page passed from 5,000 (its
#: candidates ranked in ~0.2 s), where ranking its 150,813 matches took 1.3 s.
PG_TAKEN = 5_000


def words(query: Query) -> list[Query] | None:
    """The query's words, each as a query of its own, when it is several words (and
    exclusions) only, or words ORed; else None."""
    root = query.root
    if not isinstance(root, All | Any_):
        return None
    wanted = [p for p in root.parts if not isinstance(p, Not)]
    if len(wanted) < 2 or not all(isinstance(p, Term) and not p.prefix for p in wanted):
        return None
    return [Query(p.text, p) for p in wanted if isinstance(p, Term)]


def _phrases(expression: str) -> int:
    """The phrases of an FTS5 expression of the area index: its quoted strings and its
    concept tokens."""
    return expression.count('"') // 2 + expression.count(areas.CONCEPT_PREFIX)


def page(conn: Connection, query: Query, selection: Selection, limit: int,
         offset: int) -> Sequence[Any] | None:
    """The page of a search of several words, ranked from their lists, or None to rank
    every match."""
    from harvester.find.search import _ranked

    if (selection.as_of is not None or selection.areas or selection.near is not None
            or offset + limit > champions.SIZE):
        return None
    parts = words(query)
    if parts is None:
        return None
    heads = []
    for part in parts:
        wanted = champions.key(part)
        head = champions.head(conn, wanted) if wanted is not None else None
        if head is None:
            return None  # a word with few matches: ranking every match costs little
        heads.append(head)
    indexed = areas.indexed_up_to(conn)
    if any(head.up_to != indexed for head in heads):
        return None  # indexed since: the lists' scores and bounds are no longer exact
    sqlite = conn.dialect.name == "sqlite"
    found = (bound(conn, query, heads) if sqlite
             else pg_bound(conn, parts, heads, isinstance(query.root, Any_)))
    margin = MARGIN if sqlite else PG_MARGIN
    if found is None or found[1] <= found[0] + margin:
        return None  # no version can score above the bound
    top = found[0]
    need = offset + limit
    # The listed versions only (a scan of the matches, each tested in that set first, and
    # the boost's set of strong matches among them only)
    candidates = sa.select(_LIST.c.version_id).where(
        _LIST.c.list_id.in_([head.list_id for head in heads]),
        _LIST.c.place < (TAKEN if sqlite else PG_TAKEN))
    stmt, _ = _ranked(conn, query, selection, among=candidates)
    rows = conn.execute(stmt.order_by(sa.desc("score"), sa.asc("nct_id")).limit(need)).all()
    if len(rows) < need or not float(rows[-1].score) > top + margin:
        return None  # a version outside the lists might rank in the page
    return rows[offset:need]


def bound(conn: Connection, query: Query,
          heads: Sequence[champions.Head]) -> tuple[float, float] | None:
    """The score no version outside the lists of the query's words (``heads``, one a
    word) can exceed, from the index as the lists were made, and the most any version
    matching all the words in the concept or condition list can score (the lists' firsts
    together)."""
    from harvester.find.search import BOOST

    match = Scoped((("term", query),)).fts5()
    if match is None:
        return None
    ids = [head.list_id for head in heads]
    tops = _scores(conn, ids, 0)
    # Each list's floor as far as it is taken (a longer list: its score at that place).
    floors = {head.list_id: float(head.floor) for head in heads} | _scores(conn, ids,
                                                                             TAKEN - 1)
    plain = _phrases(match) * (K1 + 1) * math.log(2 * max(h.up_to for h in heads) + 1)
    if isinstance(query.root, Any_):
        return _either(ids, {i: 1.0 for i in ids}, tops, floors, plain)
    every = sum(tops[i] for i in ids)
    listed = min(floors[head.list_id] + every - tops[head.list_id] for head in heads)
    return max(plain, listed - BOOST * (len(heads) - 1)), every - BOOST * (len(heads) - 1)


def _either(ids: Sequence[int], weights: dict[int, float], tops: dict[int, float],
            floors: dict[int, float], plain: float) -> tuple[float, float] | None:
    """The bound of words ORed: a version's score is the (weighted) sum of its plain
    scores for each word, plus the boost once when it matches any of them in the concept
    or the condition list; a version outside every list scores below each list's floor
    for each word, and, when no floor holds the boost, has no strong match (it would have
    scored above that floor): it scores at most the floors' weighted sum, and never more
    than ``plain``.  None when a floor holds the boost (the bound would be the boost)."""
    from harvester.find.search import BOOST

    if any(floors[i] >= BOOST for i in ids):
        return None
    strong = BOOST if any(tops[i] >= BOOST for i in ids) else 0.0
    best = min(plain, sum(weights[i] * tops[i] for i in ids)) + strong
    return min(plain, sum(weights[i] * floors[i] for i in ids)), best


def pg_bound(conn: Connection, parts: Sequence[Query], heads: Sequence[champions.Head],
             either: bool = False) -> tuple[float, float] | None:
    """PostgreSQL's :func:`bound`: a version's score for the words together is the mean of
    its scores for each word, weighted by the word's lexemes (``ts_rank`` of the ORed
    ranking query, :meth:`~harvester.find.scoped.Scoped.tsquery`), plus the boost when it
    matches every word in the concept or the condition list (as the lists' scores hold it,
    once per word).  A version outside word ``j``'s list then scores at most the weighted
    mean of the others' firsts and ``j``'s floor, or, without the boost, :data:`PG_PLAIN`.
    ``either``: the words ORed (:func:`_either`).  None when two words share a lexeme
    (``ts_rank`` counts it once: no longer a mean)."""
    items = [_lexemes(Scoped((("term", part),)).tsquery(ranked=True) or "") for part in parts]
    if not all(items) or len(set().union(*items)) != sum(len(i) for i in items):
        return None
    total = sum(len(i) for i in items)
    weights = {head.list_id: len(i) / total for head, i in zip(heads, items, strict=True)}
    ids = list(weights)
    tops = _scores(conn, ids, 0)
    floors = {head.list_id: float(head.floor) for head in heads} | _scores(conn, ids,
                                                                             PG_TAKEN - 1)
    if either:
        return _either(ids, weights, tops, floors, PG_PLAIN)
    every = sum(weights[i] * tops[i] for i in ids)
    listed = min(every - weights[i] * (tops[i] - floors[i]) for i in ids)
    return max(PG_PLAIN, listed), every


def _lexemes(tsquery: str) -> frozenset[str]:
    """The lexemes of a ``tsquery`` of the area index (each quoted; a prefix marked)."""
    return frozenset(_LEXEME.findall(tsquery))


def _scores(conn: Connection, ids: Sequence[int], place: int) -> dict[int, float]:
    """Each list's score at ``place`` (lists shorter than that: none)."""
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    marks = ", ".join([mark] * len(ids))
    return {int(i): float(score) for i, score in conn.exec_driver_sql(
        f"SELECT list_id, score FROM {champions.LIST} WHERE list_id IN ({marks}) "
        f"AND place = {mark}", (*ids, place)).all()}


_LEXEME = re.compile(r"'[^']*'(?::\*)?")
#: The most ``ts_rank`` (normalization 1) gives any version for any words: each lexeme's
#: part is below (1 + π²/6) / (π²/6) (weights at most 1), the mean of the parts too, and
#: the normalization divides by log2(length + 1) ≥ 1 (``tsrank.c``, ``calc_rank_or``).
PG_PLAIN = 1.0 + 1.0 / 1.64493406685 + 1e-6
#: PostgreSQL's margin: ``ts_rank`` sums its lexemes' parts in single precision, the
#: words together in another order than each word alone: at most ~3e-6 apart (28 parts of
#: at most 1.61 each, a rounding of 6e-8 of the running sum per part, divided by their
#: number); the scores of the first versions of a frequent word lie ~1e-5 apart.
PG_MARGIN = 1e-5


_LIST = sa.table(champions.LIST, sa.column("list_id"), sa.column("place"),
                 sa.column("version_id"))
