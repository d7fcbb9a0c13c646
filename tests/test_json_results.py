"""The results overview's fast path (:func:`harvester.records.base.builder`) builds exactly
what pydantic builds when it validates the same values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from harvester.records import Measurement, Measurements, Results
from harvester.records.base import builder, many
from parsers import _json_results
from tests.conftest import FIXTURES

WITH_RESULTS = sorted(p for p in FIXTURES.rglob("*.json")
                      if b'"resultsSection"' in p.read_bytes() and "spec" not in p.parts)


def _sections(path: Path) -> list[Any]:
    value = json.loads(path.read_bytes())
    studies = value if isinstance(value, list) else value.get("studies", [value])
    return [s["resultsSection"] for s in studies if "resultsSection" in s]


def _models(model: BaseModel) -> list[BaseModel]:
    out = [model]
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, (tuple, Measurements)) else (value,):
            if isinstance(item, BaseModel):
                out += _models(item)
    return out


def test_fixtures_with_results_are_found() -> None:
    assert len(WITH_RESULTS) >= 8


@pytest.mark.parametrize("path", WITH_RESULTS, ids=lambda p: p.name)
def test_fast_overview_equals_the_validated_one(path: Path) -> None:
    for section in _sections(path):
        raw = json.dumps(section).encode()
        fast = _json_results.results(raw)
        checked = _json_results.results(raw, check=True)
        assert isinstance(fast, Results)
        assert fast == checked
        assert fast.model_dump(mode="json") == checked.model_dump(mode="json")
        assert fast.model_dump_json() == checked.model_dump_json()
        fast_models, checked_models = _models(fast), _models(checked)
        assert len(fast_models) == len(checked_models)
        for one, other in zip(fast_models, checked_models, strict=True):
            assert type(one) is type(other)
            # every field, in field order, set as model_construct/model_validate set it
            assert list(one.__dict__) == list(type(one).model_fields) == list(other.__dict__)
            assert one.model_fields_set == other.model_fields_set
            assert repr(one) == repr(other)


def test_a_large_overview_has_values_per_group() -> None:
    path = FIXTURES / "ctgov-v2-json" / "studies" / "NCT02552212__aact.json"
    (section,) = _sections(path)
    overview = _json_results.results(json.dumps(section).encode())
    assert overview is not None
    values = [m for o in overview.outcome_measures for m in o.measurements]
    assert values and all(isinstance(m, Measurement) and m.group_id for m in values)
    # frozen like every record model
    with pytest.raises(ValueError):
        values[0].value = "changed"  # type: ignore[misc]
    original = values[0].value
    copy = values[0].model_copy(update={"value": "changed"})
    assert copy.value == "changed" and values[0].value == original
    assert "value" in copy.model_fields_set
    # the values share one fields set (builder); a copy gets its own
    assert values[0].model_fields_set is values[1].model_fields_set
    assert copy.model_fields_set is not values[0].model_fields_set
    # what the fast path built is what validation accepts and rebuilds the same
    assert Results.model_validate(overview.model_dump()) == overview


@pytest.mark.parametrize("path", WITH_RESULTS, ids=lambda p: p.name)
def test_measurements_built_at_once_equal_those_built_one_by_one(path: Path) -> None:
    for section in _sections(path):
        checked = _json_results.results(json.dumps(section).encode(), check=True)
        assert checked is not None
        values = [m.model_dump() for o in checked.outcome_measures for m in o.measurements]
        at_once = many(Measurement)(values)
        one_by_one = tuple(map(builder(Measurement), values))
        validated = tuple(map(Measurement.model_validate, values))
        assert at_once == one_by_one == validated
        for one, other in zip(at_once, validated, strict=True):
            assert type(one) is Measurement
            assert list(one.__dict__) == list(other.__dict__)
            assert one.model_fields_set == other.model_fields_set
            assert one.__pydantic_extra__ is None and one.__pydantic_private__ is None
            assert one.model_dump_json() == other.model_dump_json()
    assert many(Measurement)([]) == ()
