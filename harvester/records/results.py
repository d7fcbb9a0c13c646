"""A results overview: enough of a trial's posted results to compare trials.

Participants started and completed per group, each reported outcome measure with its values
per group, and adverse events (serious, other, deaths) per group.  Not all of AACT's tables:
the raw payload kept with every version holds the rest (baseline, analyses, each event term).
"""

from __future__ import annotations

from harvester.records.base import Frozen
from harvester.records.vocabulary import (
    MeasureDispersionType,
    MeasureParam,
    Open,
    OutcomeMeasureType,
)


class FlowGroup(Frozen):
    """A participant-flow group, with the participants who started and who completed
    (first period's STARTED, last period's COMPLETED milestone)."""

    id: str
    title: str | None = None
    description: str | None = None
    started: int | None = None
    completed: int | None = None


class ResultGroup(Frozen):
    """A group (arm) of a reported outcome measure."""

    id: str
    title: str | None = None
    description: str | None = None


class Measurement(Frozen):
    """One group's reported value of an outcome measure, in one class/category when the
    measure has several (values are text as the registry gives them: "NA", "12.5", ">99")."""

    group_id: str
    value: str | None = None
    spread: str | None = None
    lower_limit: str | None = None
    upper_limit: str | None = None
    class_title: str | None = None
    category: str | None = None


class OutcomeResult(Frozen):
    """A reported outcome measure and its values per group."""

    type: Open[OutcomeMeasureType] | None = None
    title: str | None = None
    description: str | None = None
    time_frame: str | None = None
    population: str | None = None
    units: str | None = None
    param_type: Open[MeasureParam] | None = None
    dispersion_type: Open[MeasureDispersionType] | None = None
    groups: tuple[ResultGroup, ...] = ()
    measurements: tuple[Measurement, ...] = ()


class EventGroup(Frozen):
    """Adverse events of one group: participants affected / at risk."""

    id: str
    title: str | None = None
    description: str | None = None
    deaths_affected: int | None = None
    deaths_at_risk: int | None = None
    serious_affected: int | None = None
    serious_at_risk: int | None = None
    other_affected: int | None = None
    other_at_risk: int | None = None


class Results(Frozen):
    participant_flow: tuple[FlowGroup, ...] = ()
    outcome_measures: tuple[OutcomeResult, ...] = ()
    adverse_events: tuple[EventGroup, ...] = ()
    adverse_events_time_frame: str | None = None
