"""The fast path of API v2 JSON (:mod:`parsers._json_protocol`: typed by msgspec, built without
validating again) gives exactly the record, and the warnings, of the validated path — on every
real study in the fixtures, and on mutated ones (where it may hand the study over to the
validated path, never give something else)."""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from harvester.errors import ParseError
from harvester.records import TrialRecord
from parsers import _json_protocol, ctgov_json
from parsers._criteria import split_criteria
from parsers._text import plain
from tests.conftest import FIXTURES

FILES = sorted(p for p in FIXTURES.rglob("*.json") if b'"protocolSection"' in p.read_bytes())
STUDIES = [(f"{path.relative_to(FIXTURES)}{where}", raw) for path in FILES
           for where, raw in ctgov_json.split(path.read_bytes())
           if isinstance(json.loads(raw).get("protocolSection"), dict)]  # not spec/ metadata


def _models(model: BaseModel) -> list[BaseModel]:
    out = [model]
    for name in type(model).model_fields:
        value = getattr(model, name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, BaseModel):
                out += _models(item)
    return out


def _parsed(data: bytes, *, check: bool) -> tuple[TrialRecord | str, list[str]]:
    """The record (or the error, as the user reads it) and the warnings, in order."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: TrialRecord | str = ctgov_json.parse(data, check=check)
        except ParseError as exc:
            result = f"{exc} [{exc.field}]"
    # A ResourceWarning is the garbage collector finding something another test left
    # unclosed (a database connection) meanwhile: not the parser's (as preparing._told).
    return result, [str(w.message) for w in caught
                    if not issubclass(w.category, ResourceWarning)]


def _assert_same(data: bytes) -> None:
    fast, fast_warnings = _parsed(data, check=False)
    checked, checked_warnings = _parsed(data, check=True)
    assert fast_warnings == checked_warnings
    if isinstance(fast, str) or isinstance(checked, str):
        assert fast == checked
        return
    assert fast == checked
    assert fast.model_dump_json() == checked.model_dump_json()
    fast_models, checked_models = _models(fast), _models(checked)
    assert len(fast_models) == len(checked_models)
    for one, other in zip(fast_models, checked_models, strict=True):
        assert type(one) is type(other)
        # every field, in field order, each value of the type validation gives it
        assert list(one.__dict__) == list(type(one).model_fields) == list(other.__dict__)
        assert one.model_fields_set == other.model_fields_set
        assert repr(one) == repr(other)


def test_the_fixtures_have_studies_of_every_kind() -> None:
    assert len(STUDIES) >= 60
    assert any(b'"resultsSection"' in raw for _, raw in STUDIES)
    assert any(b'"largeDocs"' in raw for _, raw in STUDIES)
    assert any(b'"ipdSharingStatementModule"' in raw for _, raw in STUDIES)


@pytest.mark.parametrize(("name", "raw"), STUDIES, ids=[name for name, _ in STUDIES])
def test_every_real_study_takes_the_fast_path_to_the_validated_record(name: str,
                                                                      raw: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ctgov_json._vouched(raw) is not None, f"{name}: not vouched for"
    _assert_same(raw)


@pytest.mark.parametrize("edit", [
    {"nctId": "NCT0055798"},                              # not an NCT id
    {"count": "12"},                                      # pydantic reads the text as 12
    {"phases": ["PHASE2", " "]},                          # a blank value in a list
    {"healthyVolunteers": "yes"},                         # another JSON type
    {"leadSponsor": {"class": "INDUSTRY"}},               # a sponsor without a name
    {"url": None},                                        # a link without its URL
    {"oversightHasDmc": 1},
    {"date": "２０１９-01"},                               # digits outside ASCII
    {"infoTypes": "SAP"},                                 # a string, read letter by letter
])
def test_what_the_fast_path_does_not_vouch_for_is_validated(edit: dict[str, Any]) -> None:
    study = json.loads((FIXTURES / "ctgov-v2-json/studies/NCT02299791__aact.json").read_bytes())
    (key, value), = edit.items()
    edited = [0]

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for k in list(node):
                if k == key:
                    node[k] = value
                    edited[0] += 1
                else:
                    visit(node[k])
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(study)
    if not edited[0]:  # a key the study lacks: added where it belongs
        proto = study["protocolSection"]
        {"leadSponsor": proto["sponsorCollaboratorsModule"],
         "url": proto.setdefault("referencesModule", {}).setdefault("seeAlsoLinks", [{}])[0],
         "infoTypes": proto.setdefault("ipdSharingStatementModule", {}),
         "oversightHasDmc": proto.setdefault("oversightModule", {}),
         }[key][key] = value
    data = json.dumps(study).encode()
    assert ctgov_json._vouched(data) is None
    _assert_same(data)


SEED = json.loads((FIXTURES / "ctgov-v2-json/studies/NCT02299791__aact.json").read_bytes())


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            out += _paths(item, (*path, i))
    return out


_PATHS = [p for p in _paths(SEED) if p and p[0] != "resultsSection"]
_WRONG = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                   st.text(max_size=5), st.just([]), st.just({}), st.just([1, "x", None]),
                   st.just({"x": []}), st.just(" "), st.just("２０１９"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_PATHS), st.booleans(), _WRONG), min_size=1,
                max_size=4))
def test_mutated_studies_give_what_the_validated_path_gives(
        edits: list[tuple[tuple[Any, ...], bool, Any]]) -> None:
    study = json.loads(json.dumps(SEED))
    for path, delete, value in edits:
        parent = study
        try:
            for key in path[:-1]:
                parent = parent[key]
            if delete and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                # a copy: st.just() hands out one shared object, which a later edit could
                # otherwise change in place or put inside itself (a circular structure)
                parent[path[-1]] = copy.deepcopy(value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    _assert_same(json.dumps(study).encode())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10**6), st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00",
                                               b"\\ud800", b"[" * 1200]))
def test_bytes_the_fast_path_skips_are_checked_as_the_validated_path_checks_them(
        at: int, insert: bytes) -> None:
    data = json.dumps(SEED).encode()
    strings = [i for i in range(len(data)) if data[i:i + 1] == b'"']
    cut = strings[at % len(strings)] + 1  # just inside a string (or just after one)
    _assert_same(data[:cut] + insert + data[cut:])


def test_unknown_fields_of_a_study_in_another_alphabet() -> None:
    study = json.loads(json.dumps(SEED))
    study["protocolSection"]["identificationModule"]["novelField"] = "Ünïcode ✓"
    data = json.dumps(study, ensure_ascii=False).encode()
    assert not data.isascii() and ctgov_json._vouched(data) is not None
    _assert_same(data)
    _assert_same(data.replace("Ünïcode".encode(), b"\xff\xfe"))


def test_cached_criteria_give_what_splitting_anew_gives() -> None:
    # every real study, parsed twice: the second parse reads its criteria from the cache,
    # and both give the validated record; the cache holds what plain + split give afresh
    for name, raw in STUDIES:
        checked, _ = _parsed(raw, check=True)
        for _ in range(2):
            fast, _ = _parsed(raw, check=False)
            assert fast == checked, name
        text = json.loads(raw)["protocolSection"].get("eligibilityModule", {}).get(
            "eligibilityCriteria")
        fresh = plain(text, lines=True)
        assert _json_protocol._criteria(text) == (fresh, *split_criteria(fresh))
