"""API v2 ``resultsSection`` → the record's results overview (:class:`Results`).

The section is most of a large study's bytes.  It is decoded by msgspec straight into the few
structs below (only the fields the overview keeps; everything else is skipped at C speed), and
the record's models are built from them by :func:`~harvester.records.base.builder`, without
validating again what msgspec has checked — except the outcome values, thousands per study:
they stay the rows msgspec decoded, in a :class:`~harvester.records.results.Measurements`
that builds their models when read.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable
from typing import Any

import msgspec

from harvester import records as r
from harvester.errors import ParseError
from harvester.records.base import Frozen, builder
from harvester.records.results import Block, Measurements, Row
from parsers import _vocab as v
from parsers._text import plain as _plain

# msgspec has typed every text here as str or None (hashable), and titles and group
# descriptions recur across the outcome measures of a study and across studies: cached.
plain = functools.lru_cache(maxsize=1 << 12)(_plain)
_AT = re.compile(r" - at `\$(.*)`$")


class _Group(msgspec.Struct, gc=False):
    id: str | None = None
    title: str | None = None
    description: str | None = None


class _Achievement(msgspec.Struct, gc=False):
    groupId: str | None = None
    numSubjects: str | int | None = None


class _Milestone(msgspec.Struct, gc=False):
    type: str | None = None
    achievements: tuple[_Achievement, ...] | None = None


class _Period(msgspec.Struct, gc=False):
    milestones: tuple[_Milestone, ...] | None = None


class _Flow(msgspec.Struct, gc=False):
    groups: tuple[_Group, ...] | None = None
    periods: tuple[_Period, ...] | None = None


class _Category(msgspec.Struct, gc=False):
    title: str | None = None
    # decoded straight into the rows the record's Measurements holds (API v2 names)
    measurements: tuple[Row, ...] | None = None


class _Class(msgspec.Struct, gc=False):
    title: str | None = None
    categories: tuple[_Category, ...] | None = None


class _Measure(msgspec.Struct, gc=False):
    type: str | None = None
    title: str | None = None
    description: str | None = None
    populationDescription: str | None = None
    paramType: str | None = None
    dispersionType: str | None = None
    unitOfMeasure: str | None = None
    timeFrame: str | None = None
    groups: tuple[_Group, ...] | None = None
    classes: tuple[_Class, ...] | None = None


class _Measures(msgspec.Struct, gc=False):
    outcomeMeasures: tuple[_Measure, ...] | None = None


class _EventGroup(msgspec.Struct, gc=False):
    id: str | None = None
    title: str | None = None
    description: str | None = None
    deathsNumAffected: int | None = None
    deathsNumAtRisk: int | None = None
    seriousNumAffected: int | None = None
    seriousNumAtRisk: int | None = None
    otherNumAffected: int | None = None
    otherNumAtRisk: int | None = None


class _Events(msgspec.Struct, gc=False):
    timeFrame: str | None = None
    eventGroups: tuple[_EventGroup, ...] | None = None


class _Results(msgspec.Struct, gc=False):
    participantFlowModule: _Flow | None = None
    outcomeMeasuresModule: _Measures | None = None
    adverseEventsModule: _Events | None = None


_DECODER = msgspec.json.Decoder(_Results | None)
Section = _Results
_NO_MEASURES = _Measures()
_NO_EVENTS = _Events()

Make = Callable[[type[Frozen], dict[str, Any]], Any]
_BUILDERS: dict[type[Frozen], Callable[[dict[str, Any]], Any]] = {
    cls: builder(cls) for cls in (r.FlowGroup, r.ResultGroup, r.Measurement, r.OutcomeResult,
                                  r.EventGroup, r.Results)}
_GROUP_ID = operator.attrgetter("group_id")


def _trusted(cls: type[Frozen], values: dict[str, Any]) -> Any:
    return _BUILDERS[cls](values)


def _unchecked(cls: type[Frozen], values: dict[str, Any]) -> dict[str, Any]:
    return values


def results(raw: bytes | object, *, check: bool = False) -> r.Results | None:
    """The overview from the raw bytes of ``resultsSection`` (or plain JSON data).

    Its thousands of small objects are built by :func:`~harvester.records.base.builder`
    from values msgspec and this module have already checked; ``check=True`` builds the same
    overview as plain data validated by pydantic instead (the reference the fast path is
    tested against).
    """
    return overview(decode(raw), check=check)


def decode(raw: bytes | object) -> _Results | None:
    """``resultsSection`` (raw bytes or plain JSON data) decoded into the structs above; a
    wrong shape raises :class:`ParseError`."""
    try:
        if isinstance(raw, (bytes, memoryview, msgspec.Raw)):
            data = bytes(raw)
            return _DECODER.decode(data) if data.strip() else None
        return msgspec.convert(raw, _Results | None)
    except msgspec.ValidationError as exc:
        at = _AT.search(str(exc))
        raise ParseError(f"wrong shape ({str(exc).split(' - at ')[0]})",
                         field="resultsSection" + (at.group(1) if at else "")) from None
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
        raise ParseError("wrong shape", field="resultsSection") from None


def overview(section: _Results | None, *, check: bool = False) -> r.Results | None:
    """The overview of a decoded section (see :func:`results`)."""
    if section is None:
        return None
    make: Make = _unchecked if check else _trusted
    events = section.adverseEventsModule
    values = {
        "participant_flow": tuple(_flow(section.participantFlowModule, make)),
        "outcome_measures": tuple(
            _measure(m, make) for m in
            (section.outcomeMeasuresModule or _NO_MEASURES).outcomeMeasures or ()),
        "adverse_events": tuple(_event_group(g, make) for g in
                                (events or _NO_EVENTS).eventGroups or () if g.id),
        "adverse_events_time_frame": plain(events.timeFrame) if events else None,
    }
    return r.Results.model_validate(values) if check else _trusted(r.Results, values)


def _count(value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return int(value.strip())
    except ValueError:
        return None


def _milestone(period: _Period | None, kind: str) -> dict[str, int | None]:
    if period is None:
        return {}
    for milestone in period.milestones or ():
        if milestone.type == kind:
            return {a.groupId: _count(a.numSubjects) for a in milestone.achievements or ()
                    if a.groupId}
    return {}


def _flow(flow: _Flow | None, make: Make) -> list[Any]:
    if flow is None:
        return []
    periods = flow.periods or ()
    started = _milestone(periods[0] if periods else None, "STARTED")
    completed = _milestone(periods[-1] if periods else None, "COMPLETED")
    return [make(r.FlowGroup, {
        "id": g.id, "title": plain(g.title), "description": plain(g.description),
        "started": started.get(g.id), "completed": completed.get(g.id)})
        for g in flow.groups or () if g.id]


def _measure(m: _Measure, make: Make) -> Any:  # an OutcomeResult, or its values
    blocks: list[Block] = []
    for klass in m.classes or ():
        class_title = plain(klass.title)
        for category in klass.categories or ():
            rows = category.measurements
            if rows:
                if not all(map(_GROUP_ID, rows)):  # values without a group are dropped
                    rows = tuple(x for x in rows if x.group_id)
                blocks.append((class_title, plain(category.title), rows))
    return make(r.OutcomeResult, {
        "type": v.enum_value(r.OutcomeMeasureType, m.type, field="outcomeMeasures.type"),
        "title": plain(m.title), "description": plain(m.description),
        "time_frame": plain(m.timeFrame), "population": plain(m.populationDescription),
        "units": plain(m.unitOfMeasure),
        "param_type": v.enum_value(r.MeasureParam, m.paramType,
                                   field="outcomeMeasures.paramType"),
        "dispersion_type": v.enum_value(r.MeasureDispersionType, m.dispersionType,
                                        field="outcomeMeasures.dispersionType"),
        "groups": tuple(make(r.ResultGroup, {"id": g.id, "title": plain(g.title),
                                             "description": plain(g.description)})
                        for g in m.groups or () if g.id),
        # thousands per study: kept as the decoded rows, models built when read
        "measurements": _values(blocks) if make is _unchecked else Measurements.of_rows(blocks)})


def _values(blocks: list[Block]) -> tuple[dict[str, Any], ...]:
    """The values as plain data, for pydantic to validate (``check=True``)."""
    return tuple({"group_id": x.group_id, "value": x.value, "spread": x.spread,
                  "lower_limit": x.lower_limit, "upper_limit": x.upper_limit,
                  "class_title": class_title, "category": category}
                 for class_title, category, rows in blocks for x in rows)


def _event_group(g: _EventGroup, make: Make) -> Any:  # an EventGroup, or its values
    return make(r.EventGroup, {
        "id": g.id, "title": plain(g.title), "description": plain(g.description),
        "deaths_affected": g.deathsNumAffected, "deaths_at_risk": g.deathsNumAtRisk,
        "serious_affected": g.seriousNumAffected, "serious_at_risk": g.seriousNumAtRisk,
        "other_affected": g.otherNumAffected, "other_at_risk": g.otherNumAtRisk})
