"""Source detection, the size limit, and robustness: any payload gives records or ParseErrors."""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester.errors import InputTooLargeError, ParseError, UnknownSourceError
from harvester.records import TrialRecord
from parsers import detect_source, iter_records, parse_bytes
from tests.conftest import FIXTURES

STUDY_FILES = sorted(
    [p for p in (FIXTURES / "ctgov-v2-json").rglob("*.json") if "receipts" not in p.name]
    + list((FIXTURES / "ctgov-history" / "api-v2-snapshots").glob("*__vh*.json"))
    + list((FIXTURES / "ctgov-xml").glob("*.xml"))
    + list((FIXTURES / "ctgov-history" / "legacy-xml-redownloads").glob("*.xml"))
    + list((FIXTURES / "mirror-veeva").glob("NCT*"))
    + [FIXTURES / "spec" / "study-NCT03516279.json", FIXTURES / "spec" / "studies-page-raw.json"]
)


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.name)
def test_every_study_file_of_the_corpus_parses(path: Path) -> None:
    records = parse_bytes(path.read_bytes())
    assert records
    for record in records:
        assert record.nct_id.startswith("NCT")
    if path.name.startswith("NCT"):
        assert records[0].nct_id == path.name[:11]


@pytest.mark.parametrize(("name", "kind"), [
    ("ctgov-v2-json/studies/NCT00973089__aact.json", "ctgov-json"),
    ("ctgov-v2-json/website-download/dgg32__ctg-studies.json", "ctgov-json"),
    ("ctgov-xml/NCT02654730__aact.xml", "ctgov-xml"),
    ("mirror-veeva/NCT00557986.txt", "veeva"),
    ("mirror-veeva/NCT00557986.html", "veeva"),
])
def test_source_is_detected_from_content(name: str, kind: str) -> None:
    assert detect_source((FIXTURES / name).read_bytes()) == kind


@pytest.mark.parametrize("name", [
    "mirror-html/legacy-ct2-rss/covid_search__aact.rss.xml",
    "mirror-html/search-excerpts/euctr_2006-003577-27_CZ__excerpt.txt",
    "ctgov-v2-json/csv/KranthiK0__ctg-studies.csv",
])
def test_other_formats_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(UnknownSourceError):
        detect_source((FIXTURES / name).read_bytes())


def test_forced_source_overrides_detection() -> None:
    data = (FIXTURES / "ctgov-xml/NCT02654730__aact.xml").read_bytes()
    (item,) = iter_records(data, "ctgov-json")
    assert isinstance(item, ParseError)


def test_oversized_input_is_refused_unread() -> None:
    data = (FIXTURES / "ctgov-v2-json/studies/NCT00973089__aact.json").read_bytes()
    (item,) = iter_records(data, max_bytes=1000)
    assert isinstance(item, InputTooLargeError)


def test_a_bad_study_in_a_page_does_not_stop_the_others() -> None:
    page = json.loads((FIXTURES / "ctgov-v2-json/list-pages/"
                       "biomcp__search_phelan_limit5_20260811.json").read_bytes())
    del page["studies"][2]["protocolSection"]["identificationModule"]["nctId"]
    items = list(iter_records(json.dumps(page).encode()))
    assert [type(i).__name__ for i in items] == [
        "TrialRecord", "TrialRecord", "ParseError", "TrialRecord", "TrialRecord"]
    assert items[2].record == "studies[2]"  # type: ignore[union-attr]


# --- property tests: mutated payloads give a record or the project's own ParseError -------

SAMPLES = {
    name: json.loads((FIXTURES / "ctgov-v2-json/studies" / name).read_bytes())
    for name in ("NCT00973089__aact.json", "NCT02210780__aact.json",
                 "NCT06454955__partrita-tigit.json")
}
JUNK = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                 st.text(max_size=20), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out


def _only_records_or_parse_errors(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for item in iter_records(data):
            assert isinstance(item, TrialRecord | ParseError)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(name=st.sampled_from(sorted(SAMPLES)), picks=st.lists(
    st.tuples(st.integers(min_value=0), st.booleans(), JUNK), min_size=1, max_size=4))
def test_removed_or_retyped_fields(name: str, picks: list[tuple[int, bool, Any]]) -> None:
    study = copy.deepcopy(SAMPLES[name])
    for index, remove, junk in picks:
        paths = _paths(study)
        if not paths:
            break
        *parents, last = paths[index % len(paths)]
        holder = study
        for key in parents:
            holder = holder[key]
        if remove:
            del holder[last]
        else:
            holder[last] = junk
    _only_records_or_parse_errors(json.dumps(study).encode())


TEXTS = [(FIXTURES / n).read_bytes() for n in (
    "ctgov-v2-json/studies/NCT00973089__aact.json", "ctgov-xml/NCT03840122__aact.xml",
    "mirror-veeva/NCT00557986.txt", "mirror-veeva/NCT00557986.html")]


@settings(max_examples=150, deadline=None)
@given(data=st.sampled_from(TEXTS), cut=st.floats(min_value=0, max_value=1))
def test_truncated_payloads(data: bytes, cut: float) -> None:
    _only_records_or_parse_errors(data[: int(len(data) * cut)])


@settings(max_examples=100, deadline=None)
@given(data=st.sampled_from(TEXTS), start=st.floats(0, 1), length=st.integers(1, 400),
       junk=st.binary(max_size=40))
def test_spliced_garbage(data: bytes, start: float, length: int, junk: bytes) -> None:
    at = int(len(data) * start)
    _only_records_or_parse_errors(data[:at] + junk + data[at + length:])
