"""An outcome measure's values (:class:`harvester.records.results.Measurements`): kept as the
decoded rows, models built only when read, and read, compared, hashed, pickled and dumped as
the tuple of :class:`Measurement` it stands for."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest

from harvester.catalogue import canonical
from harvester.records import Measurement, Measurements, OutcomeResult, TrialRecord
from harvester.records.results import Row
from parsers import ctgov_json, ctgov_xml
from tests.conftest import FIXTURES

LAB = FIXTURES / "ctgov-v2-json" / "studies" / "NCT04585815__partrita-tigit.json"
XML = FIXTURES / "ctgov-xml" / "NCT00277524__aact.xml"


def _values(record: TrialRecord) -> list[Measurements]:
    assert record.results is not None
    return [o.measurements for o in record.results.outcome_measures]


def _parsed(path: Path = LAB) -> TrialRecord:
    (raw,) = [raw for _, raw in ctgov_json.split(path.read_bytes())]
    return ctgov_json.parse(raw)


def test_values_are_not_built_until_read() -> None:
    record = _parsed()
    values = _values(record)
    assert sum(map(len, values)) > 4000  # the lab shift tables
    assert not any(v.built for v in values)
    # storing a record (stored JSON, content hash, every dump) builds none
    canonical.fingerprint(record)
    record.model_dump()
    record.model_dump_json()
    hash(record)
    pickle.loads(pickle.dumps(record))
    assert not any(v.built for v in values)
    first = values[0][0]
    assert isinstance(first, Measurement) and first.group_id
    assert values[0].built and not any(v.built for v in values[1:])
    assert values[0][0] is first  # built once, kept


def test_parsed_values_equal_the_validated_ones() -> None:
    record = _parsed()
    stored = canonical.fingerprint(record).record_json
    validated = TrialRecord.model_validate_json(stored)
    again = TrialRecord.model_validate(record.model_dump())  # the python path
    for one, other, third in zip(_values(record), _values(validated), _values(again),
                                 strict=True):
        assert type(other) is Measurements and type(third) is Measurements
        assert other.built and not one.built
        assert hash(one) == hash(other) == hash(tuple(other))
        assert not one.built  # hashing takes the rows
        assert one == other == third and other == one
        assert one == tuple(other) and tuple(one) == other
    assert record == validated == again
    assert hash(record) == hash(validated)


def test_unequal_values_compare_unequal() -> None:
    a = Measurements.of_rows([("c", "x", (Row(group_id="OG000", value="1"),))])
    b = Measurements.of_rows([("c", "x", (Row(group_id="OG000", value="2"),))])
    same = Measurements([Measurement(group_id="OG000", value="1", class_title="c",
                                     category="x")])
    assert a != b and a == same and a != () and a != list(same)
    assert hash(a) == hash(same) != hash(b)
    # the same values in other blocks are the same values
    two = Measurements.of_rows([("c", "x", (Row(group_id="A"), Row(group_id="B")))])
    split = Measurements.of_rows([("c", "x", (Row(group_id="A"),)),
                                  ("c", "x", (Row(group_id="B"),))])
    assert two == split and hash(two) == hash(split)
    assert Measurements() == () and not Measurements() and len(Measurements()) == 0


def test_reads_as_a_sequence() -> None:
    rows = (Row(group_id="OG000", value="1.5", spread="0.2"),
            Row(group_id="OG001", value="NA", lower_limit="1", upper_limit="3"))
    values = Measurements.of_rows([("Week 4", "Grade 1", rows), (None, None, rows[:1])])
    assert len(values) == 3 and not values.built
    models = tuple(values)
    assert values.built
    assert models == (
        Measurement(group_id="OG000", value="1.5", spread="0.2", class_title="Week 4",
                    category="Grade 1"),
        Measurement(group_id="OG001", value="NA", lower_limit="1", upper_limit="3",
                    class_title="Week 4", category="Grade 1"),
        Measurement(group_id="OG000", value="1.5", spread="0.2"))
    assert values[-1] == models[2] and values[1:] == models[1:]
    assert isinstance(values[1:], tuple)
    assert models[1] in values and values.index(models[2]) == 2 and values.count(models[0]) == 1
    assert list(reversed(values)) == list(reversed(models))
    with pytest.raises(IndexError):
        values[3]
    assert repr(values) == f"Measurements({models!r})"
    assert copy.copy(values) is values and copy.deepcopy(values) is values


def test_dumps_as_the_tuple_of_models() -> None:
    record = _parsed()
    for values in _values(record):
        models = tuple(Measurements.of_rows(values._blocks or ()))
        outcome = OutcomeResult(measurements=values)
        dicts = [m.model_dump() for m in models]
        assert outcome.model_dump()["measurements"] == tuple(dicts)
        assert outcome.model_dump(mode="json")["measurements"] == dicts
        assert OutcomeResult(measurements=models).model_dump_json() == outcome.model_dump_json()
        assert values.dicts() == dicts
        assert not values.built
        assert Measurements(models).dicts() == dicts
        # options that change a value's dump go through the models
        assert outcome.model_dump(exclude_none=True)["measurements"] == tuple(
            m.model_dump(exclude_none=True) for m in models)


def test_fingerprints_equal_those_of_the_validated_record() -> None:
    for path in sorted((FIXTURES / "ctgov-v2-json" / "studies").glob("*.json")):
        try:
            record = _parsed(path)
        except ValueError:
            continue
        if record.results is None:
            continue
        fp = canonical.fingerprint(record)
        validated = TrialRecord.model_validate_json(fp.record_json)
        assert canonical.fingerprint(validated) == fp, path.name


def test_pickles_lazily() -> None:
    record = _parsed()
    back = pickle.loads(pickle.dumps(record))
    assert back == record and hash(back) == hash(record)
    assert not any(v.built for v in _values(back))
    built = _values(TrialRecord.model_validate_json(record.model_dump_json()))[0]
    assert pickle.loads(pickle.dumps(built)) == built


def test_legacy_xml_values_are_measurements() -> None:
    record = ctgov_xml.parse(XML.read_bytes())
    values = _values(record)
    assert values and all(type(v) is Measurements for v in values)
    assert any(len(v) for v in values)
    assert TrialRecord.model_validate_json(record.model_dump_json()) == record


def test_an_empty_outcome_holds_empty_measurements() -> None:
    outcome = OutcomeResult()
    assert type(outcome.measurements) is Measurements and outcome.measurements == ()
    assert outcome.model_dump()["measurements"] == ()
    assert outcome.model_dump_json() == OutcomeResult.model_validate_json(
        outcome.model_dump_json()).model_dump_json()
    assert OutcomeResult.model_json_schema()["properties"]["measurements"]["type"] == "array"
