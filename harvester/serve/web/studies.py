"""The registry's ``/api/v2/studies`` answered from a catalogue's stored payloads.

Each trial is served as the registry sent it: the stored API v2 JSON of its latest
ClinicalTrials.gov (``ctgov-json``) version, or of the one current on ``asOf=DATE``.  Trials
the catalogue holds only from other sources (legacy XML, mirror pages) have no API v2 study
and are not listed.

Parameters are checked by the replica's own parser (:mod:`harvester.serve.studies`), so a
bad one gets the registry's 400 wording.  What the catalogue indexes is answered in SQL: no
query (paging through everything), ``filter.ids``, ``filter.overallStatus``, a
``filter.advanced`` of ``AREA[LastUpdatePostDate]RANGE[…]`` terms (what incremental harvests
send) and ``sort=LastUpdatePostDate``.  Anything else (``query.term``, ``query.cond``, other
Essie expressions, other sort fields) is matched by the replica's Essie engine on the
payloads the SQL part selects; the ordered hits are cached per catalogue state, so paging
through them costs one slice per page.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue import Catalogue
from harvester.catalogue import tables as t
from harvester.catalogue.prepared import unpack
from harvester.catalogue.selection import OwnTest
from harvester.serve.fields import project
from harvester.serve.query import QueryError, parse_query
from harvester.serve.querytree import And, InArea, Node, Range
from harvester.serve.responses import page_body
from harvester.serve.store import canonical_nct
from harvester.serve.studies import (
    _NCT_ONLY,
    QUERY_AREAS,
    Paging,
    _plan,
    _sort_keys,
    _sort_value,
    _split,
    encode_token,
    resolve_fields,
)

V = t.Version.__table__  # type: ignore[attr-defined]
T = t.Trial.__table__  # type: ignore[attr-defined]
P = t.Payload.__table__  # type: ignore[attr-defined]
API_SOURCE = "ctgov-json"
_PAGING = frozenset({"countTotal", "pageSize", "pageToken", "fields", "format", "markupFormat",
                     "asOf"})
_DATE_COLUMNS = {"LastUpdatePostDate": "last_update_posted", "StartDate": "start_date"}


def api_versions(as_of: date | None = None) -> sa.Select[Any]:
    """``(nct_id, version_id)`` of each trial's latest ``ctgov-json`` version (by registry
    date, then when seen), optionally among those published by ``as_of``."""
    # The set of superseded ids, built once for the whole catalogue (a look-up per row in
    # the per-trial statements below).
    superseded = sa.select(V.c.supersedes_id).where(V.c.supersedes_id.is_not(None))
    mine, other = V.alias("mine"), V.alias("newer")
    later = sa.or_(other.c.effective_date > mine.c.effective_date,
                   sa.and_(other.c.effective_date == mine.c.effective_date, sa.or_(
                       other.c.seen_at > mine.c.seen_at,
                       sa.and_(other.c.seen_at == mine.c.seen_at, other.c.id > mine.c.id))))
    day = [] if as_of is None else [other.c.effective_date <= as_of.isoformat()]
    newer = sa.exists().where(other.c.nct_id == mine.c.nct_id, other.c.source == API_SOURCE,
                              other.c.id.not_in(superseded), later, *day)
    mine_day = [] if as_of is None else [mine.c.effective_date <= as_of.isoformat()]
    if as_of is None:
        # Fast path: the trial's current version is its API record almost always.
        current = (sa.select(T.c.nct_id, T.c.current_version_id.label("version_id"))
                   .join(V, V.c.id == T.c.current_version_id).where(V.c.source == API_SOURCE))
        others = sa.select(mine.c.nct_id, mine.c.id.label("version_id")).where(
            mine.c.source == API_SOURCE, mine.c.id.not_in(superseded), ~newer,
            mine.c.nct_id.in_(sa.select(T.c.nct_id).join(V, V.c.id == T.c.current_version_id)
                              .where(V.c.source != API_SOURCE)))
        return sa.union_all(current, others).subquery("api").select()
    return sa.select(mine.c.nct_id, mine.c.id.label("version_id")).where(
        mine.c.source == API_SOURCE, mine.c.id.not_in(superseded), ~newer, *mine_day)


@dataclass
class _SqlPlan:
    """What SQL answers: conditions on the picked version, and the order."""

    where: list[Any] = field(default_factory=list)
    order_column: str | None = None
    descending: bool = False
    residual: dict[str, str] = field(default_factory=dict)  # params left to the Essie engine
    # filter.overallStatus and postFilter.overallStatus (each applies): tested as a set of
    # versions or on each trial walked in NCT order, whichever reads less (_walks).
    statuses: list[list[str]] = field(default_factory=list)
    ranges: list[tuple[str, str, str]] = field(default_factory=list)  # (column, lo, hi)


def _date_floor(node: Node) -> list[tuple[str, str, str]] | None:
    """``AREA[LastUpdatePostDate]RANGE[lo, hi]`` terms joined by AND → (column, lo, hi)."""
    parts = node.children if isinstance(node, And) else (node,)
    found = []
    for part in parts:
        if not (isinstance(part, InArea) and part.name in _DATE_COLUMNS
                and isinstance(part.child, Range)):
            return None
        lo, hi = part.child.lo, part.child.hi
        for bound in (lo, hi):
            if bound not in ("MIN", "MAX") and not _is_day(bound):
                return None
        found.append((_DATE_COLUMNS[part.name], lo, hi))
    return found


def _is_day(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _bounds(column: Any, lo: str, hi: str) -> list[Any]:
    """``lo <= column <= hi`` (``MIN`` and ``MAX``: no bound)."""
    return [*([column >= lo] if lo != "MIN" else []), *([column <= hi] if hi != "MAX" else [])]


def _sql_plan(params: Mapping[str, str], picked: Any) -> _SqlPlan:
    plan = _SqlPlan()
    residual: dict[str, str] = {}
    for name, value in params.items():
        if name in _PAGING or not value.strip():
            continue
        if name in ("filter.ids", "postFilter.ids"):
            ids = sorted({canonical_nct(v) or "" for v in _split(value)} - {""})
            plan.where.append(picked.c.nct_id.in_(ids))
        elif name in ("filter.overallStatus", "postFilter.overallStatus"):
            plan.statuses.append(_split(value))
        elif name in ("filter.advanced", "postFilter.advanced"):
            try:
                floors = _date_floor(parse_query(value).node)
            except QueryError:
                floors = None
            if floors is None:
                residual[name] = value
                continue
            plan.ranges += floors
        elif name == "sort":
            keys = _sort_keys(value)
            if len(keys) == 1 and keys[0].piece is not None and keys[0].piece.name in (
                    _DATE_COLUMNS):
                plan.order_column = _DATE_COLUMNS[keys[0].piece.name]
                plan.descending = keys[0].descending
            elif not (len(keys) == 1 and keys[0].piece is None):  # @relevance: NCT order
                residual[name] = value
        else:
            residual[name] = value
    if any(name in QUERY_AREAS and _NCT_ONLY.match(value) for name, value in residual.items()):
        # A query of NCT ids only switches the filters off (the replica's rule): let the
        # replica's engine decide on everything.
        return _SqlPlan(residual={k: v for k, v in params.items() if k not in _PAGING})
    plan.residual = residual
    return plan


class CatalogueStudies:
    """``/studies`` and ``/studies/{nct}`` over a catalogue (thread-safe, read-only)."""

    def __init__(self, catalogue: Catalogue, cache_size: int = 32) -> None:
        self.catalogue = catalogue
        self._cache: OrderedDict[tuple[Any, ...], list[tuple[str, int]]] = OrderedDict()
        self._cache_size = cache_size
        self._counts: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def revision(self, conn: Connection) -> int:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(V.c.id), 0)))
                   .scalar_one())

    def data_timestamp(self) -> str:
        """When the catalogue last learnt something (the latest version seen), as the
        registry's ``dataTimestamp`` (``YYYY-MM-DDTHH:MM:SS``)."""
        with self.catalogue.engine.connect() as conn:
            seen = conn.execute(sa.select(sa.func.max(V.c.seen_at))).scalar()
        if seen is None:
            return "1970-01-01T00:00:00"
        return str(seen)[:19].replace(" ", "T")

    def study(self, nct: str, as_of: date | None, fields: str | None) -> bytes | None:
        day = [] if as_of is None else [V.c.effective_date <= as_of.isoformat()]
        with self.catalogue.engine.connect() as conn:
            # The trial's own versions (a handful, through the (nct_id, date) index).
            version_id = conn.execute(sa.select(V.c.id).where(
                V.c.nct_id == nct, V.c.source == API_SOURCE, _not_superseded(V.c.id), *day)
                .order_by(V.c.effective_date.desc(), V.c.seen_at.desc(), V.c.id.desc())
                .limit(1)).scalar()
            if version_id is None:
                return None
            body = self._payloads(conn, [version_id]).get(version_id)
            if body is None:
                return None
        if fields:
            return msgspec.json.encode(project(msgspec.json.decode(body),
                                               resolve_fields(fields)))
        return body

    def page(self, params: Mapping[str, str], as_of: date | None) -> bytes:
        paging = Paging.read(params, "server")
        count_total, size, token, offset = (paging.count_total, paging.size, paging.token,
                                            paging.offset)
        checked = _plan({k: v for k, v in params.items() if k != "asOf"})  # the 400s
        fields = resolve_fields(params["fields"], checked.queried) if params.get(
            "fields") else None
        with self.catalogue.engine.connect() as conn:
            revision = self.revision(conn)
            picked = self._picked(conn, revision, as_of)
            sql = _sql_plan(params, picked)
            if sql.residual:
                hits = self._scanned(conn, params, as_of, picked, sql)
                chunk = hits[offset:offset + size]
                total = len(hits)
                more = offset + size < total
            else:
                stmt = self._ordered(picked, sql)
                walk = as_of is None and self._walks(conn, revision, sql, offset + size + 1)
                page_stmt = self._ordered(picked, sql, walk=True) if walk else stmt
                rows = conn.execute(page_stmt.limit(size + 1).offset(offset)).all()
                chunk = [(row.nct_id, row.version_id) for row in rows[:size]]
                more = len(rows) > size
                total = -1
                if count_total == "true" and not token:
                    total = self._count(conn, revision, as_of, params, stmt)
            bodies = self._payloads(conn, [version_id for _, version_id in chunk])
        studies = [bodies[version_id] for _, version_id in chunk if version_id in bodies]
        if fields is not None:
            studies = [msgspec.json.encode(project(msgspec.json.decode(body), fields))
                       for body in studies]
        shown_total = total if count_total == "true" and not token else None
        return page_body(shown_total, studies, encode_token(offset + size) if more else None)

    def registry_history(self, nct: str) -> list[tuple[str, dict[str, Any]]]:
        """The trial's ``ctgov-json`` versions, oldest first, as ``(registry date, study)``:
        what the registry's own record history lists (``/api/int/studies/{nct}/history``)."""
        with self.catalogue.engine.connect() as conn:
            rows = conn.execute(sa.select(V.c.id, V.c.effective_date).where(
                V.c.nct_id == nct, V.c.source == API_SOURCE, _not_superseded(V.c.id))
                .order_by(V.c.effective_date, V.c.seen_at, V.c.id)).all()
            bodies = self._payloads(conn, [row.id for row in rows])
        return [(row.effective_date, msgspec.json.decode(bodies[row.id])) for row in rows
                if row.id in bodies]

    # --- internals ----------------------------------------------------------------------

    def _picked(self, conn: Connection, revision: int, as_of: date | None) -> Any:
        """The ``(nct_id, version_id)`` relation of the API versions.  Now (no ``as_of``):
        each trial's current version when it is its ClinicalTrials.gov record (an indexed
        join), plus the few trials whose current version is from another source but that
        also have one — found once per catalogue state and cached."""
        if as_of is not None:
            return api_versions(as_of).subquery("picked")
        key = ("others", revision)
        with self._lock:
            others = self._counts.get(key)
        if others is None:
            found: list[tuple[str, int]] = []
            rows = conn.execute(sa.select(V.c.nct_id).select_from(T).join(
                V, V.c.id == T.c.current_version_id).where(V.c.source != API_SOURCE)).all()
            for row in rows:
                latest = self._latest(conn, row.nct_id)
                if latest is not None:
                    found.append((row.nct_id, latest))
            others = found
            with self._lock:
                self._counts[key] = others
        current = (sa.select(T.c.nct_id, T.c.current_version_id.label("version_id"))
                   .join(V, V.c.id == T.c.current_version_id).where(V.c.source == API_SOURCE))
        if not others:
            return current.subquery("picked")
        extra = sa.values(sa.column("nct_id", sa.String), sa.column("version_id", sa.Integer),
                          name="others").data(others)
        return sa.union_all(current, sa.select(extra.c.nct_id, extra.c.version_id)
                            ).subquery("picked")

    def _latest(self, conn: Connection, nct: str) -> int | None:
        found: int | None = conn.execute(sa.select(V.c.id).where(
            V.c.nct_id == nct, V.c.source == API_SOURCE, _not_superseded(V.c.id))
            .order_by(V.c.effective_date.desc(), V.c.seen_at.desc(), V.c.id.desc())
            .limit(1)).scalar()
        return found

    def _count(self, conn: Connection, revision: int, as_of: date | None,
               params: Mapping[str, str], stmt: sa.Select[Any]) -> int:
        """``totalCount``, counted once per catalogue state and query (the registry's own
        counts are cached too): paging through a harvest asks for it on the first page."""
        key = ("count", revision, as_of,
               tuple(sorted((k, v) for k, v in params.items() if k not in _PAGING)))
        with self._lock:
            cached = self._counts.get(key)
        if cached is None:
            cached = int(conn.execute(sa.select(sa.func.count()).select_from(
                stmt.order_by(None).subquery())).scalar_one())
            with self._lock:
                self._counts[key] = cached
                while len(self._counts) > 256:
                    self._counts.popitem(last=False)
        return int(cached)

    def _walks(self, conn: Connection, revision: int, sql: _SqlPlan, wanted: int) -> bool:
        """Whether a page in NCT order is found sooner by walking the trials in that order,
        testing each one's status (``wanted`` rows needed), than by the set of versions of
        that status (which is read whole, then sorted): when the status is common.  The
        counts are taken once per catalogue state."""
        if not sql.statuses or sql.order_column is not None:
            return False
        trials = self._cached(("trials", revision), lambda: int(conn.execute(
            sa.select(sa.func.count()).select_from(T)).scalar_one()))
        having = min(self._cached(("status", revision, tuple(sorted(group))),
                                  lambda group=group: int(conn.execute(
                                      sa.select(sa.func.count()).select_from(V).where(
                                          V.c.overall_status.in_(group))).scalar_one()))
                     for group in sql.statuses)
        # Walking reads about wanted * trials / having trials; the set, having versions.
        return wanted * trials < having * having

    def _cached(self, key: tuple[Any, ...], count: Any) -> int:
        with self._lock:
            cached = self._counts.get(key)
        if cached is None:
            cached = count()
            with self._lock:
                self._counts[key] = cached
                while len(self._counts) > 256:
                    self._counts.popitem(last=False)
        return int(cached)

    def _ordered(self, picked: Any, sql: _SqlPlan, *, walk: bool = False) -> sa.Select[Any]:
        """The page's statement.  ``walk``: the statuses tested on each trial (a look at
        its version's entry in the status index), so that the trials are read in NCT order
        until the page is full; else each a set of versions."""
        stmt = sa.select(picked.c.nct_id, picked.c.version_id).where(*sql.where)
        for group in sql.statuses:
            stmt = stmt.where(OwnTest.indexed(picked.c.version_id,
                                              functools.partial(_one_of, group),
                                              "overall_status") if walk else
                              picked.c.version_id.in_(sa.select(V.c.id).where(
                                  V.c.overall_status.in_(group))))
        if sql.order_column is None:
            return stmt.where(*self._ranges(picked, sql.ranges)).order_by(picked.c.nct_id)
        column = V.c[sql.order_column]
        stmt = stmt.join(V, V.c.id == picked.c.version_id)
        # A range of the column the page is sorted by is tested on the joined version row,
        # so that the column's index gives both the range and the order (the versions in
        # the range are read in order until the page is full); other ranges are sets.
        own = [r for r in sql.ranges if r[0] == sql.order_column]
        stmt = stmt.where(*self._ranges(picked, [r for r in sql.ranges if r not in own]),
                          *(test for _, lo, hi in own for test in _bounds(column, lo, hi)))
        key = column.desc() if sql.descending else column.asc()
        if any(lo != "MIN" or hi != "MAX" for _, lo, hi in own):
            return stmt.order_by(key, picked.c.nct_id)  # no missing value in a range
        # Missing values last, as the registry sorts.
        return stmt.order_by(column.is_(None), key, picked.c.nct_id)

    @staticmethod
    def _ranges(picked: Any, ranges: Sequence[tuple[str, str, str]]) -> list[Any]:
        return [picked.c.version_id.in_(sa.select(V.c.id).where(*_bounds(V.c[name], lo, hi)))
                for name, lo, hi in ranges]

    def _scanned(self, conn: Connection, params: Mapping[str, str], as_of: date | None,
                 picked: Any, sql: _SqlPlan) -> list[tuple[str, int]]:
        key = ("scan", self.revision(conn), as_of,
               tuple(sorted((k, v) for k, v in params.items() if k not in _PAGING)))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        plan = _plan(sql.residual)
        sort = _sort_keys(sql.residual["sort"]) if "sort" in sql.residual else []
        candidates = conn.execute(self._ordered(picked, sql)).all()
        found: list[tuple[str, int, list[float | None]]] = []
        for start in range(0, len(candidates), 500):
            chunk = candidates[start:start + 500]
            bodies = self._payloads(conn, [row.version_id for row in chunk])
            for row in chunk:
                study = msgspec.json.decode(bodies[row.version_id])
                if all(match(study) for match in plan.matchers):
                    values = [_sort_value(k.piece, study) if k.piece else None for k in sort]
                    found.append((row.nct_id, row.version_id, values))
        for place in reversed(range(len(sort))):
            if sort[place].piece is None:
                continue
            desc = sort[place].descending

            def order(item: tuple[str, int, list[float | None]], place: int = place,
                      desc: bool = desc) -> tuple[int, float]:
                value = item[2][place]
                return (1, 0.0) if value is None else (0, -value if desc else value)

            found.sort(key=order)
        hits = [(nct, version_id) for nct, version_id, _ in found]
        with self._lock:
            self._cache[key] = hits
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return hits

    def _payloads(self, conn: Connection, version_ids: Sequence[int]) -> dict[int, bytes]:
        if not version_ids:
            return {}
        rows = conn.execute(sa.select(V.c.id, P.c.codec, P.c.data).join(
            P, P.c.sha256 == V.c.payload_sha256).where(V.c.id.in_(list(version_ids))))
        return {row.id: unpack(row.codec, row.data).strip() for row in rows
                if row.data is not None}


def _one_of(values: Any, column: Any) -> Any:
    return column.in_(values)


def _not_superseded(version_id: Any) -> Any:
    """No version supersedes this one: a look-up in the index on ``supersedes_id``.
    ``NOT IN`` the superseded ids instead, PostgreSQL (whose NULL rules forbid an anti-join
    there) scanned every version for them: 190 ms a request at 600,000 trials."""
    newer = V.alias("superseding")
    return ~sa.exists().where(newer.c.supersedes_id == version_id)
