"""A results overview: enough of a trial's posted results to compare trials.

Participants started and completed per group, each reported outcome measure with its values
per group, and adverse events (serious, other, deaths) per group.  Not all of AACT's tables:
the raw payload kept with every version holds the rest (baseline, analyses, each event term).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import msgspec
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from harvester.records.base import Frozen, many
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


class Row(msgspec.Struct, rename="camel", frozen=True, gc=False):
    """One group's value as API v2 gives it (``groupId``, ``lowerLimit`` …): what
    :class:`Measurements` holds until a reader asks for the :class:`Measurement`."""

    group_id: str | None = None
    value: str | None = None
    spread: str | None = None
    lower_limit: str | None = None
    upper_limit: str | None = None


#: The values of one category: its class title, its category title, its rows.
Block = tuple[str | None, str | None, tuple[Row, ...]]
_build = many(Measurement)


def _dicts(blocks: tuple[Block, ...]) -> list[dict[str, Any]]:
    """Each row of ``blocks`` as a :class:`Measurement`'s fields (in field order)."""
    return [{"group_id": x.group_id, "value": x.value, "spread": x.spread,
             "lower_limit": x.lower_limit, "upper_limit": x.upper_limit,
             "class_title": class_title, "category": category}
            for class_title, category, rows in blocks for x in rows]


class Measurements(Sequence[Measurement]):
    """An outcome measure's values: an immutable sequence of :class:`Measurement` that holds
    them compactly — the rows msgspec decoded, per category — and builds the models only when
    a reader indexes or iterates it (once; they are kept).

    A results overview has thousands of values (one lab study ~5,000) and building a model
    for each was most of a cold parse (``bench/parse_json.py``), yet most imports only store
    and hash the record: its dump writes the values straight from the rows.  Reads, compares,
    hashes, pickles and dumps as the tuple of models it stands for (``tests/test_records.py``);
    validation (stored JSON, ``check=True``) makes one from the models it validated.
    """

    __slots__ = ("_blocks", "_count", "_models")
    _blocks: tuple[Block, ...] | None
    _count: int
    _models: tuple[Measurement, ...] | None

    def __init__(self, models: Iterable[Measurement] = ()) -> None:
        self._models = tuple(models)
        self._blocks = None
        self._count = len(self._models)

    @classmethod
    def of_rows(cls, blocks: Iterable[Block]) -> Measurements:
        """The values of ``blocks`` (class title, category title, rows with a group id),
        no model built yet."""
        self = cls.__new__(cls)
        self._blocks = tuple(blocks)
        self._count = sum(len(rows) for _, _, rows in self._blocks)
        self._models = None
        return self

    @property
    def built(self) -> bool:
        """Whether the models have been built (for tests: reading builds them)."""
        return self._models is not None

    def _all(self) -> tuple[Measurement, ...]:
        models = self._models
        if models is None:
            assert self._blocks is not None
            models = self._models = _build(_dicts(self._blocks))
        return models

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Measurement: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Measurement, ...]: ...
    def __getitem__(self, index: int | slice) -> Measurement | tuple[Measurement, ...]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Measurement]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Measurements):
            if self._count != other._count:
                return False
            if self._blocks is not None and self._blocks == other._blocks:
                return True
            return self._all() == other._all()
        if isinstance(other, tuple):
            return self._all() == other
        return NotImplemented

    def __hash__(self) -> int:
        # A frozen model hashes as the tuple of its field values: so the rows' tuples hash
        # as the models would, without building them.
        if self._blocks is None:
            return hash(self._all())
        return hash(tuple(
            (x.group_id, x.value, x.spread, x.lower_limit, x.upper_limit, class_title, category)
            for class_title, category, rows in self._blocks for x in rows))

    def __repr__(self) -> str:
        return f"Measurements({self._all()!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        if self._blocks is None:
            return (Measurements, (self._all(),))
        return (Measurements.of_rows, (self._blocks,))

    def __copy__(self) -> Measurements:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Measurements:
        return self

    def dicts(self) -> list[dict[str, Any]]:
        """Each value's fields, in field order, as its model dumps them (JSON-ready text):
        from the rows when there are, without building a model (for encoders)."""
        if self._blocks is None:
            return [dict(m.__dict__) for m in self._all()]
        return _dicts(self._blocks)

    def _dump(self, info: core_schema.SerializationInfo) -> Any:
        """The values as a tuple of models dumps them: from the rows when there are."""
        if self._blocks is None or info.exclude_none or info.exclude_defaults:
            return self._all()  # dumped by pydantic as models, with every option
        values = _dicts(self._blocks)
        return values if info.mode_is_json() else tuple(values)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        validated = core_schema.no_info_after_validator_function(
            cls, handler.generate_schema(tuple[Measurement, ...]))
        return core_schema.json_or_python_schema(
            json_schema=validated,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), validated]),
            serialization=core_schema.plain_serializer_function_ser_schema(
                cls._dump, info_arg=True))


NO_MEASUREMENTS = Measurements()


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
    measurements: Measurements = NO_MEASUREMENTS


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
