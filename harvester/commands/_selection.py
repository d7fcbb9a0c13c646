"""The selection filters as command-line options, shared by search, similar and export.

The filters are data (:data:`FILTERS`): each names its option, its value syntax and the
:class:`~harvester.catalogue.selection.Selection` field it sets, so every command spells and
parses a filter alike, and a form (``trials serve``) can be built from the same list.
Lists take repeated options or commas, values any case; dates a year, a month or a day.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeVar

import click

from harvester.catalogue import places
from harvester.catalogue.places import distance_km
from harvester.catalogue.selection import (
    AGE_GROUPS,
    DOCUMENTS,
    Selection,
    normalise_enum,
)
from harvester.commands._common import Aliased, Day, ParamTypeBase, period
from harvester.errors import UsageError
from harvester.records import AgencyClass, Phase, Status, StudyType

F = TypeVar("F", bound=Callable[..., Any])

Kind = Literal["area", "enum", "text", "date-after", "date-before", "number", "flag", "place",
               "distance", "choice"]


@dataclass(frozen=True)
class Filter:
    """One filter option: ``--name`` sets ``field`` of the Selection."""

    name: str  # the option, e.g. "--status"
    field: str  # the Selection field
    kind: Kind
    help: str
    metavar: str = "TEXT"
    choices: tuple[str, ...] = ()  # API v2 values (enum, choice)
    multiple: bool = False
    off: str | None = None  # a flag's negative spelling (--no-results)
    hidden: tuple[str, ...] = ()  # old spellings kept for a release

    @property
    def dest(self) -> str:
        return self.name.lstrip("-").replace("-", "_")


_PHASES = tuple(p.value for p in Phase)
_STATUSES = tuple(s.value for s in Status)
_FUNDERS = tuple(a.value for a in AgencyClass)

#: Every filter, in the order of --help.
FILTERS: tuple[Filter, ...] = (
    Filter("--status", "statuses", "enum", "Overall status, e.g. RECRUITING or "
           "'not yet recruiting' (commas or repeats for several).", "STATUS", _STATUSES, True),
    Filter("--phase", "phases", "enum", "Phase: 1, I, PHASE1, 'phase 1/2', EARLY_PHASE1, NA "
           "(a trial of phases 1/2 is in both).", "PHASE", _PHASES, True),
    Filter("--study-type", "study_types", "enum", "INTERVENTIONAL, OBSERVATIONAL or "
           "EXPANDED_ACCESS.", "TYPE", tuple(s.value for s in StudyType), True),
    # The registry's search areas, spelt as `trials sync` spells them (query.cond, …).
    Filter("--cond", "cond", "area", "Conditions: the condition list, its MeSH headings and "
           "their descendants, titles, keywords (query.cond).", "QUERY",
           hidden=("--condition",)),
    Filter("--intr", "intr", "area", "Interventions: names, other names, types, MeSH "
           "headings, arms (query.intr).", "QUERY", hidden=("--intervention",)),
    Filter("--titles", "titles", "area", "Titles and acronym (query.titles).", "QUERY"),
    Filter("--outc", "outc", "area", "Outcome measures (query.outc).", "QUERY"),
    Filter("--spons", "spons", "area", "Lead sponsor and collaborators (query.spons).",
           "QUERY", hidden=("--sponsor",)),
    Filter("--locn", "locn", "area", "Sites: facility, city, state, zip, country "
           "(query.locn).", "QUERY"),
    Filter("--id", "id", "area", "NCT id, aliases, org study id, secondary ids (query.id).",
           "QUERY"),
    Filter("--age", "age", "number", "Eligible at this age in years (e.g. 70).", "YEARS"),
    Filter("--age-group", "age_groups", "enum", "CHILD (under 18), ADULT (18-64) or "
           "OLDER_ADULT (65+): open to that group.", "GROUP", tuple(AGE_GROUPS), True),
    Filter("--sex", "sex", "choice", "Open to FEMALE or MALE participants (trials for all "
           "included).", "SEX", ("FEMALE", "MALE", "ALL")),
    Filter("--healthy-volunteers", "healthy_volunteers", "flag",
           "Only trials that accept (or do not accept) healthy volunteers.",
           off="--no-healthy-volunteers"),
    Filter("--country", "countries", "place", "A site in this country (USA, US, UK, South "
           "Korea… work too).", "NAME", multiple=True),
    Filter("--state", "states", "place", "A site in this state or region (CA, NY… for US "
           "states).", "NAME", multiple=True),
    Filter("--city", "cities", "place", "A site in this city.", "NAME", multiple=True),
    Filter("--near", "near", "place", "A site near LAT,LON or 'CITY, COUNTRY' (located from "
           "the catalogue's own sites; the registry's coordinates are city-level).", "PLACE"),
    Filter("--within", "within_km", "distance", "How near for --near: 50km, 30mi "
           "(default 50mi).", "DISTANCE"),
    Filter("--funder", "funders", "enum", "Lead sponsor class: NIH, FED, INDUSTRY, OTHER, "
           "OTHER_GOV, NETWORK, INDIV…", "CLASS", _FUNDERS, True),
    Filter("--has-results", "has_results", "flag", "Only trials with (or without) posted "
           "results.", off="--no-results"),
    Filter("--has-document", "documents", "enum", "A document the registry lists: protocol, "
           "sap, icf.", "KIND", DOCUMENTS, True),
    Filter("--start-after", "start_after", "date-after", "Started on or after DATE (a year, "
           "month or day).", "DATE"),
    Filter("--start-before", "start_before", "date-before", "Started on or before DATE "
           "(2020 means by 2020-12-31).", "DATE"),
    Filter("--primary-completion-after", "primary_completion_after", "date-after",
           "Primary completion on or after DATE.", "DATE"),
    Filter("--primary-completion-before", "primary_completion_before", "date-before",
           "Primary completion on or before DATE.", "DATE"),
    Filter("--completion-after", "completion_after", "date-after",
           "Study completion on or after DATE.", "DATE"),
    Filter("--completion-before", "completion_before", "date-before",
           "Study completion on or before DATE.", "DATE"),
    Filter("--first-posted-after", "first_posted_after", "date-after",
           "First posted on or after DATE.", "DATE"),
    Filter("--first-posted-before", "first_posted_before", "date-before",
           "First posted on or before DATE.", "DATE"),
    Filter("--updated-after", "updated_since", "date-after",
           "Last update posted on or after DATE.", "DATE", hidden=("--updated-since",)),
    Filter("--updated-before", "updated_before", "date-before",
           "Last update posted on or before DATE.", "DATE"),
)
STATUS = FILTERS[0]
AS_OF = Filter("--as-of", "as_of", "date-before", "As the registry published the trials on "
               "DATE.", "DATE")


class Values(ParamTypeBase):
    """A list filter's value: commas for several, any case, the registry's spellings or
    common ones (``phase 1/2``, ``not yet recruiting``); each checked against the choices,
    so that a typo is a usage error on every command alike.  The option's value is one
    flat tuple (see :func:`_flatten`)."""

    def __init__(self, spec: Filter) -> None:
        self.spec = spec
        self.name = spec.metavar.lower()

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        values = value_of(self.spec, (str(value),))
        known = {c.upper() for c in self.spec.choices}
        bad = [v for v in values if v.upper() not in known]
        if bad:  # "--status: 'FOO' is not one of …", as the Selection says it
            raise click.UsageError(f"{self.spec.name}: {', '.join(map(repr, bad))} is not "
                                   f"one of {', '.join(self.spec.choices)}", ctx)
        return values


def _flatten(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if not isinstance(value, tuple) or not all(isinstance(v, tuple) for v in value):
        return value
    return tuple(dict.fromkeys(v for part in value for v in part))


def filter_option(spec: Filter, help_text: str | None = None) -> Callable[[F], F]:
    """One filter as a click option (``trials sync --status`` is this one too)."""
    names = [spec.name] + ([spec.off] if spec.off else [])
    decls = ["/".join(names) if spec.off else spec.name, *spec.hidden, spec.dest]
    extra: dict[str, Any] = {"default": None} if spec.kind == "flag" else {
        "metavar": spec.metavar, "default": () if spec.multiple else None}
    if spec.kind == "enum":
        extra.update(type=Values(spec), callback=_flatten)
    elif spec.kind in ("date-after", "date-before"):
        extra["type"] = Day(end=spec.kind == "date-before")
    return click.option(*decls, cls=Aliased, hidden_names=spec.hidden,
                        multiple=spec.multiple, help=help_text or spec.help, **extra)


_option = filter_option


def selection_options(*, as_of: str | None = None,
                      updated_since: bool = True) -> Callable[[F], F]:
    """The :data:`FILTERS` as options; ``as_of`` is the help of ``--as-of`` (no such option
    when None).  (``updated_since`` is accepted for old callers: the update-date filters
    are on every command now.)"""
    options = [_option(spec) for spec in FILTERS]
    if as_of is not None:
        options.append(_option(AS_OF, as_of))

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


# --- values --------------------------------------------------------------------------------

_ROMAN = {"I": "1", "II": "2", "III": "3", "IV": "4"}
_PHASE_WORDS = re.compile(r"^(?:PHASE)?\s*([0-9]|I{1,3}|IV)$")


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def phase_values(values: Iterable[str]) -> tuple[str, ...]:
    """``1``, ``I``, ``phase 1``, ``PHASE1``, ``phase 1/2``, ``early phase 1``, ``n/a`` → API
    v2 phases (``1/2`` is both)."""
    found: list[str] = []
    for part in _split(values):
        text = " ".join(part.upper().replace("_", " ").replace("-", " ").split())
        if text in ("N/A", "NA", "NOT APPLICABLE"):
            found.append("NA")
            continue
        if text in ("0", "EARLY PHASE 1", "EARLY PHASE1", "EARLY PHASE I"):
            found.append("EARLY_PHASE1")
            continue
        for piece in text.removeprefix("PHASE").split("/"):
            piece = piece.strip().removeprefix("PHASE").strip()
            m = _PHASE_WORDS.match(piece)
            found.append(f"PHASE{_ROMAN.get(m.group(1), m.group(1))}" if m
                         else normalise_enum(part))
    return tuple(dict.fromkeys(found))


def enum_values(values: Iterable[str], prefix: str = "") -> tuple[str, ...]:
    """Repeated options, each possibly comma-separated, in API v2 spelling ("3" → prefix+3)."""
    return tuple(dict.fromkeys(normalise_enum(prefix + part if part.isdigit() else part)
                               for part in _split(values)))


_FUNDER_ALIASES = {"FEDERAL": "FED", "US_FED": "FED", "U.S._FED": "FED",
                   "INDIVIDUAL": "INDIV", "OTHER_GOVERNMENT": "OTHER_GOV"}


def value_of(spec: Filter, raw: Any) -> Any:
    """The Selection value of one filter option's raw value (None or () when unset)."""
    if raw is None or raw == ():
        return () if spec.multiple else None
    kind = spec.kind
    if kind == "enum":
        raw = [v for v in raw for v in (v if isinstance(v, tuple) else (v,))]
        if spec.field == "phases":
            return phase_values(raw)
        values = enum_values(raw)
        if spec.field == "funders":
            values = tuple(_FUNDER_ALIASES.get(v, v) for v in values)
        if spec.field == "documents":
            values = tuple(v.lower() for v in values)
        return values
    if kind == "area":
        if not str(raw).strip():
            raise UsageError(f"{spec.name}: an empty text filter matches nothing useful")
        return str(raw)
    if kind == "text":  # a condition may hold a comma ("Carcinoma, Non-Small-Cell Lung")
        return tuple(raw)
    if kind == "place":
        if not spec.multiple:
            return str(raw).strip() or None
        # "Korea, Republic of" is one country; "USA,UK" two
        return tuple(part for value in raw for part in (
            [value] if places.country(value) in places.COMMA_NAMES else _split([value])))
    if kind == "choice":
        value = normalise_enum(str(raw))
        if value not in spec.choices:
            raise UsageError(f"{spec.name}: {raw!r} is not one of {', '.join(spec.choices)}")
        return value
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f"{spec.name}: {raw!r} is not a number") from None
    if kind == "distance":
        return distance_km(str(raw))
    if kind in ("date-after", "date-before"):
        return raw if isinstance(raw, date) else period(str(raw), spec.name,
                                                        end=kind == "date-before")
    return raw  # flag


#: The search areas as options, in the order of --help (`trials sync` takes the same).
AREA_OPTIONS = tuple(spec for spec in FILTERS if spec.kind == "area")


def ready(catalogue: Any, selection: Selection, *, quiet: bool = True) -> None:
    """Bring the area index up to date when the selection searches areas."""
    if selection.areas:
        from harvester.catalogue import areas

        areas.catch_up(catalogue.engine)


def selection_from(options: dict[str, Any]) -> Selection:
    """The Selection the options of :func:`selection_options` describe (UsageError)."""
    values = {spec.field: value_of(spec, options.get(spec.dest))
              for spec in (*FILTERS, AS_OF) if spec.kind != "area"}
    values["areas"] = tuple((spec.field, value) for spec in FILTERS if spec.kind == "area"
                            if (value := value_of(spec, options.get(spec.dest))) is not None)
    if options.get("as_of") is None:
        values["as_of"] = None
    return Selection(**values)
