"""Which trials, and which version of each: the selection search, similar and export share.

A :class:`Selection` is a set of filters over the catalogue's *current* versions, or over the
versions current on a past date (``as_of``: each trial's preferred version among those the
registry had published by then, superseded re-derivations left out).  :func:`selected` turns it
into one SQL statement of ``(nct_id, version_id)`` rows, so callers stream, join or count it
without loading the catalogue.  Every filter uses a column or child table that is indexed.

Text filters (condition, intervention, sponsor) match case-insensitively anywhere in the
value, as the registry's own filters do; status, phase and study type take API v2's enum
values; several values of one filter are alternatives (OR), different filters all apply (AND).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles

from harvester.catalogue import areas, facets, places, recordcodec
from harvester.catalogue import tables as t
from harvester.catalogue.syncstate import query_key, saved_query
from harvester.errors import UsageError
from harvester.records import AgencyClass, Phase, StandardAge, Status, StudyType

if TYPE_CHECKING:
    from harvester.catalogue.store import Catalogue

V = t.Version.__table__  # type: ignore[attr-defined]
T = t.Trial.__table__  # type: ignore[attr-defined]
C = t.VersionCondition.__table__  # type: ignore[attr-defined]
I = t.VersionIntervention.__table__  # type: ignore[attr-defined]  # noqa: E741
M = t.QueryMember.__table__  # type: ignore[attr-defined]

F = facets.FACET
PL = facets.PLACE
#: What --has-document takes: the registry's document flags.
DOCUMENTS = ("protocol", "sap", "icf")
#: --near without --within.
DEFAULT_WITHIN_KM = 50 * places.MILE_KM
#: Age groups of the registry (StdAge), in years: [low, high).
AGE_GROUPS = {"CHILD": (0.0, 18.0), "ADULT": (18.0, 65.0), "OLDER_ADULT": (65.0, 1000.0)}

#: The registry's own sources rank before mirrors (as harvester.catalogue.store.SOURCE_RANK).
_MIRRORS = ("veeva",)


@dataclass(frozen=True)
class Selection:
    """Filters; an empty selection is every trial's current version."""

    ids: tuple[str, ...] = ()
    # Field-scoped searches, the registry's areas: (("cond", "lung cancer"), …); see
    # harvester.catalogue.areas.  The area index must be caught up (areas.catch_up).
    areas: tuple[tuple[str, str], ...] = ()
    query: str | None = None  # a saved sync query: the trials its last passes returned
    query_key: str | None = field(default=None, compare=False)  # see with_query()
    statuses: tuple[str, ...] = ()
    phases: tuple[str, ...] = ()
    study_types: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    sponsors: tuple[str, ...] = ()
    start_after: date | None = None  # start date on or after
    start_before: date | None = None  # start date on or before
    updated_since: date | None = None  # last update posted on or after
    has_results: bool | None = None
    as_of: date | None = None
    # The registry website's filters (harvester.catalogue.facets).
    age: float | None = None  # eligible at this age, in years
    age_groups: tuple[str, ...] = ()  # CHILD, ADULT, OLDER_ADULT
    sex: str | None = None  # FEMALE or MALE: trials open to them (ALL included)
    healthy_volunteers: bool | None = None
    states: tuple[str, ...] = ()
    cities: tuple[str, ...] = ()
    near: str | None = None  # "LAT,LON" or "CITY[, COUNTRY]" (located from the catalogue)
    within_km: float | None = None
    funders: tuple[str, ...] = ()  # lead sponsor class
    documents: tuple[str, ...] = ()  # protocol, sap, icf
    updated_before: date | None = None
    completion_after: date | None = None
    completion_before: date | None = None
    primary_completion_after: date | None = None
    primary_completion_before: date | None = None
    first_posted_after: date | None = None
    first_posted_before: date | None = None
    # The stored ``phases`` values holding one of ``phases``, when looked up already
    # (:func:`with_phase_values`); else the statement finds them itself.
    phase_values: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        _check("--status", self.statuses, {s.value for s in Status})
        _check("--phase", self.phases, {p.value for p in Phase})
        _check("--study-type", self.study_types, {s.value for s in StudyType})
        _check("--age-group", self.age_groups, {a.value for a in StandardAge})
        _check("--funder", self.funders, {a.value for a in AgencyClass})
        _check("--has-document", self.documents, set(DOCUMENTS))
        if self.sex is not None:
            _check("--sex", (self.sex,), {"FEMALE", "MALE", "ALL"})
        if self.age is not None and not 0 <= self.age <= 150:
            raise UsageError(f"--age: {self.age:g} is not an age in years (0 to 150)")
        if self.within_km is not None and self.near is None:
            raise UsageError("--within needs --near (the place to measure from)")
        for value in self.ids:
            if not (value.startswith("NCT") and len(value) == 11 and value[3:].isdigit()):
                raise UsageError(f"--ids: {value!r} is not an NCT id (NCT and 8 digits)")
        if self.start_after and self.start_before and self.start_after > self.start_before:
            raise UsageError("--start-after is later than --start-before: nothing can match")

    def describe(self) -> dict[str, Any]:
        """The filters that are set, for a search log (JSON-ready)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _NOT_FILTERS or value in ((), None):
                continue
            out[f.name] = value.isoformat() if isinstance(value, date) else (
                list(value) if isinstance(value, tuple) else value)
        return out

    @property
    def is_everything(self) -> bool:
        return not self.describe()


#: Fields that say how a filter is computed, not what it selects.
_NOT_FILTERS = frozenset({"query_key", "phase_values"})


def _check(option: str, values: Sequence[str], known: set[str]) -> None:
    for value in values:
        if value not in known:
            raise UsageError(f"{option}: {value!r} is not one of {', '.join(sorted(known))}")


def with_query(catalogue: Catalogue, selection: Selection, name: str) -> Selection:
    """The selection narrowed to the trials of the saved sync query ``name`` (NotFoundError
    when there is none)."""
    params = saved_query(catalogue, name)
    return replace(selection, query=name, query_key=query_key(params))


def normalise_enum(value: str) -> str:
    """``"Phase 2"``, ``phase2``, ``not yet recruiting`` → API v2 spelling."""
    return value.strip().upper().replace(" ", "_").replace("-", "_").replace(
        "PHASE_", "PHASE")


def versions_as_of(day: date) -> sa.Select[Any]:
    """``(nct_id, version_id)`` of each trial's preferred version published by ``day``.

    A version is picked when no other version of its trial published by then is preferred
    to it: a correlated test per version through the index on ``(nct_id, effective_date,
    source, seen_at)`` rather than a ranking of the whole table, so that a query joining a
    few versions (a full-text search's matches) checks only those.  (PostgreSQL turns the
    test into an anti-join; SQLite answers it from the index.)
    """
    superseded = sa.select(V.c.supersedes_id).where(V.c.supersedes_id.is_not(None))
    mine, other = V.alias("as_of"), V.alias("preferred")

    def rank(table: Any) -> Any:
        return sa.case((table.c.source.in_(_MIRRORS), 1), else_=0)

    # Preference order: the registry's own source, then the latest registry date, then
    # the latest seen, then the highest id (as harvester.catalogue.store._preference).
    preferred = sa.or_(
        rank(other) < rank(mine),
        sa.and_(rank(other) == rank(mine), sa.or_(
            other.c.effective_date > mine.c.effective_date,
            sa.and_(other.c.effective_date == mine.c.effective_date, sa.or_(
                other.c.seen_at > mine.c.seen_at,
                sa.and_(other.c.seen_at == mine.c.seen_at, other.c.id > mine.c.id))))))
    # EXISTS (SELECT 1 …), not SELECT *: SQLite then answers it from the index alone.
    beaten = sa.select(sa.literal(1)).where(other.c.nct_id == mine.c.nct_id,
                                            other.c.id != mine.c.id,
                                            other.c.effective_date <= day.isoformat(),
                                            other.c.id.not_in(superseded), preferred
                                            ).exists()
    # Every column read comes from the index on (nct_id, effective_date, source, seen_at);
    # on SQLite the version id is given as ``id + 0`` so that a join on it does not look
    # the version up by id, which reads its row, through its record's overflow pages: a
    # search joins on the NCT id as well (see the_nct_id), a range of that index.
    return sa.select(mine.c.nct_id, Unindexed(mine.c.id).label("version_id")).where(
        mine.c.effective_date <= day.isoformat(), mine.c.id.not_in(superseded), ~beaten)


class Unindexed(sa.sql.functions.FunctionElement[int]):
    """An integer column that SQLite may not look rows up by (``column + 0``); the column
    itself elsewhere."""

    type = sa.Integer()
    inherit_cache = True


@compiles(Unindexed)
def _unindexed(element: Unindexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(Unindexed, "sqlite")
def _unindexed_sqlite(element: Unindexed, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} + 0)"


def the_nct_id(version_id: Any) -> Any:
    """The NCT id of the version ``version_id``: from ``trial`` when it is a current
    version (a small table), else from the start of the version's row."""
    return sa.func.coalesce(
        sa.select(T.c.nct_id).where(T.c.current_version_id == version_id).scalar_subquery(),
        sa.select(V.c.nct_id).where(V.c.id == version_id).scalar_subquery())


def selected(selection: Selection, *, per_match: bool = False,
             few: bool = False) -> sa.Select[Any]:
    """The statement of ``(nct_id, version_id)`` rows the selection picks, by NCT id.

    Each filter is a set of version ids answered from an index (``version_id IN (SELECT
    id FROM version WHERE …)``), never a read of the version rows themselves: on SQLite a
    version's columns after its record are reached through the record's overflow pages,
    which would cost more than the rest of a full-text search of thousands of matches.

    ``per_match``: the caller joins the rows to a few matches (a search): the filters on
    the narrow child tables (the website's filters, countries, places) are then tested
    for each row through the version's own rows of that table (its primary key) rather
    than as the whole catalogue's set of versions passing them, so that their cost follows
    the matches, not the catalogue.  Same rows either way.

    ``few`` (implies ``per_match``): the caller joins the rows to a short list of trials
    (similar's candidates, a few thousand of any catalogue): the equality filters on the
    version's own columns (status, phase, study type, results) are then tested per row too,
    by a look at the version's entry in the column's index.  (A search's matches can be
    most of the catalogue: there the set, one range of that index, costs less.)
    """
    base = picked_versions(selection)
    where = filters(selection, base.c.version_id, base.c.nct_id, per_match=per_match,
                    few=few)
    return sa.select(base.c.nct_id, base.c.version_id).where(*where).order_by(base.c.nct_id)


def picked_versions(selection: Selection) -> sa.Subquery:
    """``(nct_id, version_id)`` of every trial's version the selection starts from: the
    current ones, or those current ``as_of`` its date (no filter applied)."""
    if selection.as_of is None:
        return sa.select(T.c.nct_id, T.c.current_version_id.label("version_id")
                         ).subquery("base")
    return versions_as_of(selection.as_of).subquery("base")


def filters(selection: Selection, picked: Any, nct_id: Any, *, per_match: bool = False,
            few: bool = False) -> list[Any]:
    """The conditions of :func:`selected` on a version id ``picked`` and its NCT id
    ``nct_id`` (columns, or expressions: a search tests them on the index's match, before
    it is joined to its trial)."""
    per_match = per_match or few
    where: list[Any] = []
    if selection.ids:
        where.append(nct_id.in_(sorted(set(selection.ids))))
    if selection.query is not None:
        if selection.query_key is None:
            raise UsageError(f"the saved query {selection.query!r} was not looked up")
        where.append(nct_id.in_(sa.select(M.c.nct_id).where(
            M.c.query_key == selection.query_key, M.c.present.is_(True))))
    own: list[Callable[[Any], Any]] = []  # conditions on the version's own columns
    # Equality filters: for a few rows, a look at each one's entry in the column's index.
    for column, test in _equal_filters(selection):
        if few:
            where.append(OwnTest.indexed(picked, test, column))
        else:
            own.append(functools.partial(_on_column, test, column))
    after, before = selection.start_after, selection.start_before
    if after or before:  # one range of the start date index
        own.append(lambda v: sa.and_(
            *([_on_or_after(v.c.start_date, after)] if after else []),
            *([_on_or_before(v.c.start_date, before)] if before else [])))
    if selection.updated_since:
        since = selection.updated_since.isoformat()
        own.append(lambda v: v.c.last_update_posted >= since)
    if selection.updated_before:
        until = selection.updated_before
        own.append(lambda v: _on_or_before(v.c.last_update_posted, until))
    if selection.sponsors:
        sponsors = selection.sponsors
        own.append(lambda v: sa.or_(*(sa.func.lower(v.c.lead_sponsor).like(_contains(s))
                                      for s in sponsors)))
    # For a few rows, the rest are tested on the version's own row; else each is the set
    # of versions passing it.
    where += [OwnTest.row(picked, condition) if few
              else picked.in_(sa.select(V.c.id).where(condition(V))) for condition in own]
    for values, table, column in ((selection.conditions, C, C.c.term_norm),
                                  (selection.interventions, I, I.c.name_norm)):
        if values:
            where.append(picked.in_(sa.select(table.c.version_id).where(
                sa.or_(*(column.like(_contains(v)) for v in values)))))
    if selection.countries:
        wanted = sorted({places.country(c) for c in selection.countries})
        # version_place holds each site's country as places.country spells it (lower case,
        # spaces squeezed), indexed with the version (ix_version_place_country).
        where.append(_among(picked, PL.c.version_id, [PL.c.country.in_(wanted)], per_match))
    if selection.areas:
        where.append(AreaMatch(picked, selection.areas))
    where += _facet_filters(selection, picked, per_match)
    where += _place_filters(selection, picked, per_match)
    return where


def _equal_filters(selection: Selection) -> list[tuple[str, Any]]:
    """``(column, test)`` of the selection's filters that are an equality (or IN) on one
    of the version's own indexed columns: ``test(column)`` is the condition."""
    found: list[tuple[str, Any]] = []
    if selection.statuses:
        found.append(("overall_status", lambda c: c.in_(selection.statuses)))
    if selection.study_types:
        found.append(("study_type", lambda c: c.in_(selection.study_types)))
    if selection.phases:
        stored = (selection.phase_values if selection.phase_values is not None
                  else _phase_values(selection.phases))
        found.append(("phases", lambda c: c.in_(stored)))
    if selection.has_results is not None:
        found.append(("has_results", lambda c: c == selection.has_results))
    return found


class OwnTest(sa.sql.expression.ColumnElement[bool]):
    """``EXISTS (SELECT 1 FROM version AS own WHERE own.id = picked AND test(own))``: a
    test of one version's own entry, for a few rows, with an SQLite index hint.

    :meth:`indexed`: an equality on a column, through the column's index (``INDEXED BY``),
    a seek of (value, id) there — the planner would pick the row by its id and read its
    columns, which lie behind the record's overflow pages.  :meth:`row`: any test (a range
    of dates), on the version's own row found by its id (``NOT INDEXED``: else the planner
    may scan a range of a column's index for each row) — a few microseconds a row through
    the overflow pages, for a few rows (a champion list's walk, similar's candidates) far
    less than the set of versions passing the test, which for a span of start dates is
    most of the catalogue (~90 ms at 600,000 trials)."""

    type = sa.Boolean()
    inherit_cache = False

    def __init__(self, picked: Any, test: Callable[[Any], Any], hint: str) -> None:
        own = V.alias("own")
        self.hint = hint
        self.test = sa.select(sa.literal(1)).select_from(own).where(
            own.c.id == picked, test(own)).exists()

    @classmethod
    def indexed(cls, picked: Any, test: Callable[[Any], Any], column: str) -> OwnTest:
        return cls(picked, functools.partial(_on_column, test, column),
                   f"INDEXED BY ix_version_{column}")

    @classmethod
    def row(cls, picked: Any, test: Callable[[Any], Any]) -> OwnTest:
        return cls(picked, test, "NOT INDEXED")


@compiles(OwnTest)
def _own_test(element: OwnTest, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.test, **kw))


@compiles(OwnTest, "sqlite")
def _own_test_sqlite(element: OwnTest, compiler: Any, **kw: Any) -> str:
    text = str(compiler.process(element.test, **kw))
    plain = "FROM version AS own"
    assert text.count(plain) == 1, text
    return text.replace(plain, f"{plain} {element.hint}")


def _on_column(test: Callable[[Any], Any], column: str, version: Any) -> Any:
    return test(version.c[column])


def _among(picked: Any, column: Any, test: list[Any], per_match: bool) -> Any:
    """``picked`` is a version with a row of ``column``'s table passing ``test``: the set
    of such versions, or (``per_match``) a look at the version's own rows."""
    if per_match:
        return sa.select(sa.literal(1)).where(column == picked, *test).exists()
    return picked.in_(sa.select(column).where(*test))


def with_phase_values(conn: Connection, selection: Selection) -> Selection:
    """The selection with its phases' stored values looked up now, in their own statement
    (a skip through the index on phases: a few index reads), so that the filter is an
    equality on a list of values the planner can estimate.  Inside a statement the skip
    needs index scans, which PostgreSQL's matching statements turn off
    (harvester.find.search): there it became bitmap scans of the whole table, ~4 s at
    600,000 trials."""
    if not selection.phases or selection.phase_values is not None:
        return selection
    values = tuple(conn.execute(_phase_values(selection.phases)).scalars())
    return replace(selection, phase_values=values)


def _phase_values(phases: Sequence[str]) -> sa.Select[Any]:
    """The stored ``phases`` values (``PHASE1|PHASE2``…) holding any of ``phases``: the few
    distinct values, found by skipping through the index on phases, then tested, so that
    the filter is an equality on that index rather than a pattern over every version."""
    other = V.alias("phase_next")
    first = sa.select(sa.func.min(V.c.phases).label("value")).cte("phase_values",
                                                                  recursive=True)
    following = sa.select(sa.select(sa.func.min(other.c.phases)).where(
        other.c.phases > first.c.value).scalar_subquery()).where(first.c.value.is_not(None))
    values = first.union_all(following)
    padded = sa.literal("|") + values.c.value + sa.literal("|")
    return sa.select(values.c.value).where(sa.or_(*(padded.like(f"%|{p}|%") for p in phases)))


class AreaMatch(sa.sql.expression.ColumnElement[bool]):
    """``version_id IN (versions matching the field-scoped searches)``: an FTS5 MATCH on
    SQLite, a tsquery on PostgreSQL (see harvester.find.scoped)."""

    type = sa.Boolean()
    inherit_cache = False

    def __init__(self, column: Any, given: tuple[tuple[str, str], ...]) -> None:
        from harvester.find.scoped import Scoped

        self.column = column
        self.scoped = Scoped.of(given)


@compiles(AreaMatch, "sqlite")
def _area_sqlite(element: AreaMatch, compiler: Any, **kw: Any) -> str:
    expr = element.scoped.fts5()
    if expr is None:
        return "1 = 0"
    return (f"{compiler.process(element.column, **kw)} IN (SELECT rowid FROM "
            f"{areas.FTS_TABLE} WHERE {areas.FTS_TABLE} MATCH "
            f"{compiler.process(sa.literal(expr), **kw)})")


@compiles(AreaMatch, "postgresql")
def _area_pg(element: AreaMatch, compiler: Any, **kw: Any) -> str:
    expr = element.scoped.tsquery()
    if expr is None:
        return "1 = 0"
    return (f"{compiler.process(element.column, **kw)} IN (SELECT version_id FROM "
            f"{areas.PG_TABLE} WHERE document @@ CAST("
            f"{compiler.process(sa.literal(expr), **kw)} AS tsquery))")


def _facet_filters(selection: Selection, picked: Any, per_match: bool) -> list[Any]:
    """The filters answered from ``version_facet`` (one narrow row per version)."""
    test: list[Any] = []
    if selection.age is not None:
        test += [sa.or_(F.c.min_age.is_(None), F.c.min_age <= selection.age),
                 sa.or_(F.c.max_age.is_(None), F.c.max_age >= selection.age)]
    if selection.age_groups:
        groups = []
        for group in selection.age_groups:
            low, high = AGE_GROUPS[group]
            # The registry's own age groups when given, else the age limits overlapping.
            groups.append(sa.or_(F.c.std_ages.like(f"%|{group}|%"), sa.and_(
                F.c.std_ages.is_(None), sa.or_(F.c.min_age.is_(None), F.c.min_age < high),
                sa.or_(F.c.max_age.is_(None), F.c.max_age >= low))))
        test.append(sa.or_(*groups))
    if selection.sex in ("FEMALE", "MALE"):
        test.append(sa.or_(F.c.sex.is_(None), F.c.sex.in_((selection.sex, "ALL"))))
    if selection.healthy_volunteers is not None:
        test.append(F.c.healthy.is_(selection.healthy_volunteers))
    if selection.funders:
        test.append(F.c.funder.in_(selection.funders))
    for document in selection.documents:
        test.append(F.c.documents.like(f"%|{document}|%"))
    for column, after, before in (
            (F.c.completion, selection.completion_after, selection.completion_before),
            (F.c.primary_completion, selection.primary_completion_after,
             selection.primary_completion_before),
            (F.c.first_posted, selection.first_posted_after, selection.first_posted_before)):
        if after is not None:
            test.append(_on_or_after(column, after))
        if before is not None:
            test.append(_on_or_before(column, before))
    return [_among(picked, F.c.version_id, test, per_match)] if test else []


def _place_filters(selection: Selection, picked: Any, per_match: bool) -> list[Any]:
    """--state, --city and --near: one site must be in the place (and near the point)."""
    test: list[Any] = []
    if selection.states:
        test.append(PL.c.state.in_(sorted({places.state(s) for s in selection.states})))
    if selection.cities:
        test.append(PL.c.city.in_(sorted({places.city(c) for c in selection.cities})))
    if selection.near is not None:
        test.append(near_test(selection.near, selection.within_km or DEFAULT_WITHIN_KM))
    return [_among(picked, PL.c.version_id, test, per_match)] if test else []


def near_point(near: str) -> tuple[Any, Any, Any]:
    """The point of ``--near`` on the unit sphere: numbers for ``LAT,LON``, else scalar
    subqueries averaging the catalogue's sites in that city (NULL: no such place)."""
    point = places.point(near)
    if point is not None:
        return places.unit_vector(*point)
    city, _, country = near.rpartition(",") if "," in near else (near, "", "")
    where = [PL.c.city == places.city(city), PL.c.z.is_not(None)]
    if country.strip():
        where.append(PL.c.country == places.country(country))
    return tuple(sa.select(sa.func.avg(column)).where(*where).scalar_subquery()
                 for column in (PL.c.x, PL.c.y, PL.c.z))  # type: ignore[return-value]


def near_test(near: str, within_km: float) -> Any:
    """A site within ``within_km`` of ``near``: a range of the index on z, then the chord."""
    x, y, z = near_point(near)
    reach = places.chord(within_km)
    if places.point(near) is None:  # a city's mean point lies inside the sphere: widen a bit
        reach += places.chord(1.0)
    dx, dy, dz = PL.c.x - x, PL.c.y - y, PL.c.z - z
    # The box first (plain comparisons of the index's own columns, which leave out most
    # of the band of z), then the sphere.
    return sa.and_(PL.c.z.between(z - reach, z + reach), PL.c.x.between(x - reach, x + reach),
                   PL.c.y.between(y - reach, y + reach),
                   dx * dx + dy * dy + dz * dz <= reach * reach)


# Partial dates (``2020``, ``2020-05``) count as their first day.  A partial date is a
# prefix of its first day, so plain string comparisons, which an index answers, do: on or
# before a day is ``<=`` as strings; on or after it is ``>=``, or the day's year or month
# when the day is its first.

def _on_or_before(column: Any, day: date) -> Any:
    return column <= day.isoformat()


def _on_or_after(column: Any, day: date) -> Any:
    text = day.isoformat()
    prefixes = [text[:7]] if day.day == 1 else []
    prefixes += [text[:4]] if (day.month, day.day) == (1, 1) else []
    return sa.or_(column >= text, column.in_(prefixes)) if prefixes else column >= text


def _contains(text: str) -> str:
    cleaned = text.strip().lower().replace("\\", "").replace("%", "").replace("_", " ")
    if not cleaned:
        raise UsageError("an empty text filter matches nothing useful")
    return f"%{cleaned}%"


def iter_selected(conn: Connection, selection: Selection,
                  batch: int = 1000) -> Iterator[tuple[str, int]]:
    """Stream ``(nct_id, version_id)`` of the selection, in NCT id order."""
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(
        selected(selection))
    for row in result:
        yield row.nct_id, row.version_id


def count_selected(conn: Connection, selection: Selection) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(
        selected(selection).order_by(None).subquery())).scalar_one())


@dataclass(frozen=True, slots=True)
class SelectedVersion:
    """One selected trial's version, with what a search log needs to pin it."""

    nct_id: str
    version_id: int
    number: int  # 1-based place in the trial's history, as `trials history` numbers it
    source: str
    seen_at: datetime
    registry_date: str | None
    registry_version: str | None
    content_hash: str
    record_json: str | bytes  # the record, as `trials show --format json` prints it (compact)


def iter_versions(conn: Connection, selection: Selection,
                  batch: int = 500) -> Iterator[SelectedVersion]:
    """Stream the selected versions with their records, in NCT id order (flat memory)."""
    picked = selected(selection).subquery("picked")
    other = V.alias("other")
    superseded = sa.select(V.c.supersedes_id).where(V.c.supersedes_id.is_not(None))
    # History order is (effective_date, seen_at, id), superseded versions not counted.
    number = (sa.select(sa.func.count()).select_from(other).where(
        other.c.nct_id == V.c.nct_id, other.c.id.not_in(superseded),
        sa.or_(other.c.effective_date < V.c.effective_date,
               sa.and_(other.c.effective_date == V.c.effective_date,
                       sa.or_(other.c.seen_at < V.c.seen_at,
                              sa.and_(other.c.seen_at == V.c.seen_at,
                                      other.c.id <= V.c.id)))))
              .scalar_subquery())
    stmt = (sa.select(V.c.nct_id, V.c.id, number.label("number"), V.c.source, V.c.seen_at,
                      V.c.registry_date, V.c.registry_version, V.c.content_hash, V.c.record)
            .join(picked, picked.c.version_id == V.c.id).order_by(V.c.nct_id))
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
    for row in result:
        yield SelectedVersion(row.nct_id, row.id, row.number, row.source, row.seen_at,
                              row.registry_date, row.registry_version, row.content_hash,
                              recordcodec.unpack(row.record))
