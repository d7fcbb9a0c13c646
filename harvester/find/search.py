"""Full-text search of the catalogue: ranking and typed hits.

The query language is :mod:`harvester.find.search_query` (:func:`parse` → :class:`Query`).
:func:`search`
ranks the matches among the versions a :class:`~harvester.catalogue.selection.Selection`
picks (today's, or those current ``as_of`` a date) inside the database — FTS5 ``bm25`` on
SQLite, ``ts_rank_cd`` on PostgreSQL — and fetches titles and highlighted extracts only for
the page it returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.engine import Connection

from harvester.catalogue import Catalogue, fulltext
from harvester.catalogue import tables as t
from harvester.catalogue.selection import Selection, selected
from harvester.errors import UsageError
from harvester.find.search_query import Query, parse

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
                "snippet": self.plain_snippet,
                "highlights": [list(span) for span in self.highlights]}


@dataclass(frozen=True)
class Results:
    query: Query
    selection: Selection
    total: int  # every match in the selection
    offset: int
    hits: list[Hit]


class _Shown(msgspec.Struct):
    brief_title: str | None = None
    official_title: str | None = None
    conditions: list[str] = []


_SHOWN = msgspec.json.Decoder(_Shown)


# --- searching -----------------------------------------------------------------------------

def _matches(conn: Connection, query: Query,
             selection: Selection) -> tuple[sa.Select[Any], Any]:
    """``(nct_id, version_id, score)`` of the selection's matching versions (unordered), and
    the value the page's extracts need (the FTS5 expression or the tsquery text)."""
    picked = selected(selection).order_by(None).subquery("picked")
    if conn.dialect.name == "sqlite":
        match = query.fts5()
        fts = sa.table(fulltext.FTS_TABLE, sa.column("rowid"))
        score: sa.ColumnElement[Any] = -sa.func.bm25(
            sa.literal_column(fulltext.FTS_TABLE), *fulltext.WEIGHTS)
        stmt = (sa.select(picked.c.nct_id, picked.c.version_id, score.label("score"))
                .select_from(fts).join(picked, picked.c.version_id == fts.c.rowid)
                .where(sa.literal_column(fulltext.FTS_TABLE).op("MATCH")(match)))
        return stmt, match
    tsquery = conn.execute(sa.select(sa.cast(query.tsquery(), sa.Text))).scalar_one()
    if not tsquery:
        raise UsageError(f"the query {query.text!r} has only words too common to search for "
                         "(stop words such as 'the', 'of')")
    doc = sa.table(fulltext.PG_TABLE, sa.column("version_id"), sa.column("document"))
    score = sa.func.ts_rank_cd(doc.c.document, _as_tsquery(tsquery), 1)
    stmt = (sa.select(picked.c.nct_id, picked.c.version_id, score.label("score"))
            .select_from(doc).join(picked, picked.c.version_id == doc.c.version_id)
            .where(doc.c.document.op("@@")(_as_tsquery(tsquery))))
    return stmt, tsquery


def _as_tsquery(text: str) -> sa.ColumnElement[Any]:
    return sa.cast(sa.literal(text, sa.Text), TSQUERY)


@contextmanager
def _refused_queries(query: Query) -> Iterator[None]:
    """A query the full-text engine itself refuses is a usage error, not a crash (the
    parser should have refused it first)."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        message = str(exc.orig)
        if not any(word in message for word in ("fts5", "tsquery", "syntax error")):
            raise
        raise UsageError(f"the query {query.text!r} cannot be searched: "
                         f"{message.splitlines()[0]}") from None


def search(catalogue: Catalogue, text: str | Query, selection: Selection | None = None, *,
           limit: int = 20, offset: int = 0) -> Results:
    """The ``limit`` best matches from ``offset`` (ranked in the database) and their total."""
    query = text if isinstance(text, Query) else parse(text)
    selection = selection or Selection()
    if limit < 1 or offset < 0:
        raise UsageError("--limit must be at least 1 and --offset at least 0")
    with catalogue.engine.connect() as conn, _refused_queries(query):
        stmt, value = _matches(conn, query, selection)
        count = sa.select(sa.func.count()).select_from(stmt.subquery())
        if conn.dialect.name == "postgresql":
            # The planner costs testing a row's vector as cheap and, for a common word,
            # reads the whole table; the GIN index is always the better way in.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        if selection.is_everything and conn.dialect.name == "sqlite":
            # Matching the current versions is cheap: count, then rank the page.
            total = int(conn.execute(count).scalar_one())
            ranked = stmt.order_by(sa.desc("score"), sa.asc("nct_id"))
            found = conn.execute(ranked.limit(limit).offset(offset)).all()
        else:
            # Filters and dates cost per match, and so does ranking on PostgreSQL: match
            # once, then count and rank that.
            matched = stmt.cte("matched").prefix_with("MATERIALIZED")
            every = sa.select(sa.func.count()).select_from(matched).scalar_subquery()
            found = conn.execute(
                sa.select(matched.c.nct_id, matched.c.version_id, matched.c.score,
                          every.label("total"))
                .order_by(matched.c.score.desc(), matched.c.nct_id)
                .limit(limit).offset(offset)).all()
            total = int(found[0].total) if found else (
                0 if offset == 0 else int(conn.execute(count).scalar_one()))
        rows = [(row.nct_id, row.version_id, float(row.score)) for row in found]
        hits = _hits(conn, rows, value, offset)
    return Results(query, selection, total, offset, hits)


def iter_hits(catalogue: Catalogue, text: str | Query, selection: Selection | None = None,
              *, offset: int = 0, page: int = 200) -> Iterator[Hit]:
    """Every match from ``offset``, best first, streamed a page at a time (flat memory)."""
    query = text if isinstance(text, Query) else parse(text)
    selection = selection or Selection()
    with (catalogue.engine.connect() as conn, catalogue.engine.connect() as details,
          _refused_queries(query)):
        stmt, value = _matches(conn, query, selection)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # as in search()
        ranked = stmt.order_by(sa.desc("score"), sa.asc("nct_id")).offset(offset)
        result = conn.execution_options(stream_results=True, yield_per=page).execute(ranked)
        done = offset
        for chunk in result.partitions(page):
            rows = [(row.nct_id, row.version_id, float(row.score)) for row in chunk]
            yield from _hits(details, rows, value, done)
            done += len(rows)


def _hits(conn: Connection, rows: Sequence[tuple[str, int, float]], value: Any,
          offset: int) -> list[Hit]:
    """The page's hits: record fields, history numbers and highlighted extracts."""
    if not rows:
        return []
    ids = [version_id for _, version_id, _ in rows]
    details = {row.id: row for row in conn.execute(
        sa.select(V.c.id, V.c.nct_id, V.c.source, V.c.record, V.c.overall_status,
                  V.c.phases, V.c.study_type, V.c.start_date).where(V.c.id.in_(ids)))}
    numbers = _history_numbers(conn, [nct_id for nct_id, _, _ in rows])
    docs = [(version_id, fulltext.texts(details[version_id].record)) for version_id in ids]
    snippets = _snippets(conn, value, docs)
    hits = []
    for place, (nct_id, version_id, score) in enumerate(rows, start=offset + 1):
        row = details[version_id]
        shown = _SHOWN.decode(row.record)
        hits.append(Hit(
            rank=place, nct_id=nct_id, version_id=version_id, version=numbers.get(version_id, 0),
            score=score, title=shown.brief_title or shown.official_title,
            status=row.overall_status, phases=tuple((row.phases or "").split("|")) if
            row.phases else (), study_type=row.study_type, start_date=row.start_date,
            conditions=tuple(shown.conditions), snippet=snippets.get(version_id, ""),
            source=row.source))
    return hits


def _snippets(conn: Connection, value: Any,
              docs: Sequence[tuple[int, fulltext.Texts]]) -> dict[int, str]:
    if conn.dialect.name == "sqlite":
        found = fulltext.sqlite_snippets(value, docs, START, STOP)
        return {version_id: _clean(text) for version_id, text in found.items()}
    options = (f'StartSel="{START}", StopSel="{STOP}", MaxFragments=1, MaxWords=18, '
               'MinWords=8, FragmentDelimiter=" … "')
    body = sa.values(sa.column("id", sa.Integer), sa.column("body", sa.Text),
                     name="page").data([(version_id, text.body.replace("\x00", ""))
                                        for version_id, text in docs])
    stmt = sa.select(body.c.id, sa.func.ts_headline(
        sa.literal_column(f"'{fulltext.PG_CONFIG}'::regconfig"), body.c.body,
        _as_tsquery(value), options))
    found = {int(row[0]): str(row[1]) for row in conn.execute(stmt)}
    return {version_id: _clean(text) for version_id, text in found.items()}


def _clean(text: str) -> str:
    return " ".join(text.split())


def _history_numbers(conn: Connection, nct_ids: Sequence[str]) -> dict[int, int]:
    """Version id → 1-based place in its trial's history (registry date, then when seen,
    superseded re-derivations not counted), as ``trials history`` numbers it."""
    rows = conn.execute(sa.select(V.c.id, V.c.nct_id, V.c.effective_date, V.c.seen_at,
                                  V.c.supersedes_id).where(V.c.nct_id.in_(sorted(set(nct_ids)))))
    trials: dict[str, list[Any]] = {}
    for row in rows:
        trials.setdefault(row.nct_id, []).append(row)
    numbers: dict[int, int] = {}
    for versions in trials.values():
        replaced = {v.supersedes_id for v in versions if v.supersedes_id is not None}
        kept = sorted((v for v in versions if v.id not in replaced),
                      key=lambda v: (v.effective_date, v.seen_at, v.id))
        numbers.update({v.id: n for n, v in enumerate(kept, start=1)})
    return numbers
