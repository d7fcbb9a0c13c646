"""The tabular shape of a record, shared by the CSV, Excel and Parquet exporters.

One *trial row* of the record's main fields, and *child tables* (arms, interventions,
conditions, sites, criteria, outcomes) keyed by NCT id.  Values stay typed here — ``str``, ``int``,
``float``, ``bool``, :class:`datetime.date`-ready partial dates as ``str``, and tuples for
multi-valued fields — so each format renders them its own way (CSV joins tuples with
``" | "``, Parquet keeps them as lists, Excel writes full dates as dates).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from harvester.records import TrialRecord

Kind = Literal["str", "int", "float", "bool", "date", "list"]
Value = str | int | float | bool | tuple[str, ...] | None

REGISTRY_URL = "https://clinicaltrials.gov/study/{nct_id}"
#: The exact version a record came from: the registry's history view, by version number.
VERSION_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history&a={number}"
#: A record's history list: where a version whose registry number is unknown is found by date.
HISTORY_URL = "https://clinicaltrials.gov/study/{nct_id}?tab=history"
SEPARATOR = " | "  # ClinicalTrials.gov's CSV joins multi-valued fields with a bar


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    get: Callable[[TrialRecord], Value]


def _s(value: object) -> str | None:
    return None if value is None else str(value)


def _ages(rec: TrialRecord) -> tuple[str, ...]:
    return tuple(str(a) for a in rec.eligibility.std_ages)


def _outcome_titles(kind: str) -> Callable[[TrialRecord], Value]:
    """The titles of the record's planned outcome measures of one kind (PRIMARY, …)."""
    def get(rec: TrialRecord) -> Value:
        return tuple(o.title for o in rec.outcomes if o.title and str(o.kind) == kind)
    return get


def _summed(groups: str, field: str) -> Callable[[TrialRecord], Value]:
    """A count summed over one of the results' group lists (``participant_flow``:
    started/completed; ``adverse_events``: serious_affected/deaths_affected); None without
    results or without a count."""
    def get(rec: TrialRecord) -> Value:
        if rec.results is None:
            return None
        counts = [n for g in getattr(rec.results, groups)
                  if (n := getattr(g, field)) is not None]
        return sum(counts) if counts else None
    return get


def _reported_outcomes(rec: TrialRecord) -> Value:
    return len(rec.results.outcome_measures) if rec.results is not None else None


TRIAL_COLUMNS: tuple[Column, ...] = (
    Column("nct_id", "str", lambda r: r.nct_id),
    Column("source", "str", lambda r: r.source),
    Column("brief_title", "str", lambda r: r.brief_title),
    Column("official_title", "str", lambda r: r.official_title),
    Column("acronym", "str", lambda r: r.acronym),
    Column("org_study_id", "str", lambda r: r.org_study_id),
    Column("secondary_ids", "list", lambda r: r.secondary_ids),
    Column("overall_status", "str", lambda r: _s(r.overall_status)),
    Column("last_known_status", "str", lambda r: _s(r.last_known_status)),
    Column("why_stopped", "str", lambda r: r.why_stopped),
    Column("study_type", "str", lambda r: _s(r.study_type)),
    Column("phases", "list", lambda r: tuple(str(p) for p in r.phases)),
    Column("allocation", "str", lambda r: _s(r.allocation)),
    Column("intervention_model", "str", lambda r: _s(r.intervention_model)),
    Column("primary_purpose", "str", lambda r: _s(r.primary_purpose)),
    Column("masking", "str", lambda r: _s(r.masking)),
    Column("who_masked", "list", lambda r: tuple(str(w) for w in r.who_masked)),
    Column("observational_model", "str", lambda r: _s(r.observational_model)),
    Column("time_perspective", "str", lambda r: _s(r.time_perspective)),
    Column("enrollment", "int", lambda r: r.enrollment.count if r.enrollment else None),
    Column("enrollment_type", "str",
           lambda r: _s(r.enrollment.type) if r.enrollment else None),
    Column("start_date", "date", lambda r: r.start_date),
    Column("start_date_type", "str", lambda r: _s(r.start_date_type)),
    Column("primary_completion_date", "date", lambda r: r.primary_completion_date),
    Column("primary_completion_date_type", "str", lambda r: _s(r.primary_completion_date_type)),
    Column("completion_date", "date", lambda r: r.completion_date),
    Column("completion_date_type", "str", lambda r: _s(r.completion_date_type)),
    Column("first_submitted", "date", lambda r: r.first_submitted),
    Column("first_posted", "date", lambda r: r.first_posted),
    Column("last_update_submitted", "date", lambda r: r.last_update_submitted),
    Column("last_update_posted", "date", lambda r: r.last_update_posted),
    Column("results_first_posted", "date", lambda r: r.results_first_posted),
    Column("has_results", "bool", lambda r: r.has_results),
    Column("participants_started", "int", _summed("participant_flow", "started")),
    Column("participants_completed", "int", _summed("participant_flow", "completed")),
    Column("reported_outcomes", "int", _reported_outcomes),
    Column("serious_ae_participants", "int", _summed("adverse_events", "serious_affected")),
    Column("deaths", "int", _summed("adverse_events", "deaths_affected")),
    Column("conditions", "list", lambda r: r.conditions),
    Column("keywords", "list", lambda r: r.keywords),
    Column("interventions", "list",
           lambda r: tuple(f"{i.type}: {i.name}" if i.type else i.name
                           for i in r.interventions if i.name)),
    Column("primary_outcomes", "list", _outcome_titles("PRIMARY")),
    Column("secondary_outcomes", "list", _outcome_titles("SECONDARY")),
    Column("lead_sponsor", "str", lambda r: r.lead_sponsor.name if r.lead_sponsor else None),
    Column("lead_sponsor_class", "str",
           lambda r: _s(r.lead_sponsor.agency_class) if r.lead_sponsor else None),
    Column("collaborators", "list", lambda r: tuple(c.name for c in r.collaborators)),
    Column("sex", "str", lambda r: _s(r.eligibility.sex)),
    Column("minimum_age", "str", lambda r: r.eligibility.minimum_age),
    Column("maximum_age", "str", lambda r: r.eligibility.maximum_age),
    Column("healthy_volunteers", "bool", lambda r: r.eligibility.healthy_volunteers),
    Column("std_ages", "list", _ages),
    Column("inclusion_count", "int", lambda r: len(r.eligibility.inclusion)),
    Column("exclusion_count", "int", lambda r: len(r.eligibility.exclusion)),
    Column("countries", "list",
           lambda r: tuple(dict.fromkeys(loc.country for loc in r.locations if loc.country))),
    Column("location_count", "int", lambda r: r.location_count),
    Column("brief_summary", "str", lambda r: r.brief_summary),
    Column("url", "str", lambda r: REGISTRY_URL.format(nct_id=r.nct_id)),
)


@dataclass(frozen=True)
class ChildTable:
    """Rows of one multi-valued part of a record, each led by the NCT id."""

    name: str
    columns: tuple[tuple[str, Kind], ...]  # after the leading ("nct_id", "str")
    rows: Callable[[TrialRecord], Iterator[tuple[Value, ...]]]

    @property
    def header(self) -> tuple[str, ...]:
        return ("nct_id", *(name for name, _ in self.columns))


def _arms(r: TrialRecord) -> Iterator[tuple[Value, ...]]:
    for n, arm in enumerate(r.arms, 1):
        yield (n, arm.label, _s(arm.type), arm.description, arm.interventions)


def _interventions(r: TrialRecord) -> Iterator[tuple[Value, ...]]:
    for n, x in enumerate(r.interventions, 1):
        yield (n, _s(x.type), x.name, x.description, x.other_names, x.arm_labels)


def _conditions(r: TrialRecord) -> Iterator[tuple[Value, ...]]:
    for n, term in enumerate(r.conditions, 1):
        yield (n, "condition", term)
    for n, term in enumerate(r.keywords, 1):
        yield (n, "keyword", term)


def _sites(r: TrialRecord) -> Iterator[tuple[Value, ...]]:
    for n, s in enumerate(r.locations, 1):
        yield (n, s.facility, s.city, s.state, s.zip, s.country, _s(s.status), s.lat, s.lon)


def _criteria(r: TrialRecord) -> Iterator[tuple[Value, ...]]:
    for n, text in enumerate(r.eligibility.inclusion, 1):
        yield (n, "inclusion", text)
    for n, text in enumerate(r.eligibility.exclusion, 1):
        yield (n, "exclusion", text)


def _outcomes(r: TrialRecord) -> Iterator[tuple[Value, ...]]:
    """Planned outcome measures in the record's order (primary, secondary, other), each
    numbered within its kind."""
    seen: dict[str, int] = {}
    for o in r.outcomes:
        kind = str(o.kind)
        seen[kind] = n = seen.get(kind, 0) + 1
        yield (n, kind, o.title, o.description, o.time_frame)


CHILD_TABLES: tuple[ChildTable, ...] = (
    ChildTable("arms", (("position", "int"), ("label", "str"), ("type", "str"),
                        ("description", "str"), ("interventions", "list")), _arms),
    ChildTable("interventions", (("position", "int"), ("type", "str"), ("name", "str"),
                                 ("description", "str"), ("other_names", "list"),
                                 ("arm_labels", "list")), _interventions),
    ChildTable("conditions", (("position", "int"), ("kind", "str"), ("term", "str")),
               _conditions),
    ChildTable("sites", (("position", "int"), ("facility", "str"), ("city", "str"),
                         ("state", "str"), ("zip", "str"), ("country", "str"),
                         ("status", "str"), ("lat", "float"), ("lon", "float")), _sites),
    ChildTable("criteria", (("position", "int"), ("kind", "str"), ("text", "str")), _criteria),
    ChildTable("outcomes", (("position", "int"), ("kind", "str"), ("title", "str"),
                            ("description", "str"), ("time_frame", "str")), _outcomes),
)


_GETTERS = tuple(column.get for column in TRIAL_COLUMNS)


def trial_row(record: TrialRecord) -> tuple[Value, ...]:
    return tuple([get(record) for get in _GETTERS])  # a list first: no generator to resume


def join_values(values: Iterable[str]) -> str:
    r"""A multi-valued field as one cell, ClinicalTrials.gov's way: ``"a | b"``.  So that the
    cell splits back exactly, a backslash or bar *inside* a value is escaped with a
    backslash (``\\``, ``\|``); values without either, nearly all, are written as they are."""
    return SEPARATOR.join(v.replace("\\", "\\\\").replace("|", "\\|") for v in values)


def split_values(cell: str) -> list[str]:
    """The values of a cell written by :func:`join_values`."""
    if not cell:
        return []
    out: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(cell):
        if cell[i] == "\\" and i + 1 < len(cell):
            current.append(cell[i + 1])
            i += 2
        elif cell.startswith(SEPARATOR, i):
            out.append("".join(current))
            current = []
            i += len(SEPARATOR)
        else:
            current.append(cell[i])
            i += 1
    out.append("".join(current))
    return out
