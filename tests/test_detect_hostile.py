"""Any input ends as a record or as the project's ParseError — never anything else.

Property-based (hypothesis): every parser is fed real fixtures mutated by truncation, byte
flips, invalid UTF-8, NUL bytes, wrong JSON types, deleted keys and deep nesting.  And an
import goes on past a bad entry of a zip, counting it."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harvester.catalogue import Catalogue
from harvester.errors import ParseError
from harvester.ingest.importer import Importer
from harvester.records import TrialRecord
from parsers import iter_records
from tests.conftest import FIXTURES

SEEDS = {
    "json": (FIXTURES / "ctgov-v2-json/studies/NCT02299791__aact.json").read_bytes(),
    "json-small": (FIXTURES / "ctgov-v2-json/studies/NCT00973089__aact.json").read_bytes(),
    "xml": (FIXTURES / "same-trial-pairs/NCT00490425__legacy-xml__reesewang25.xml").read_bytes(),
    "veeva": (FIXTURES / "mirror-veeva/NCT00557986.txt").read_bytes(),
}
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _only_records_or_parse_errors(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for item in iter_records(data):
            assert isinstance(item, (TrialRecord, ParseError)), type(item)
            if isinstance(item, ParseError):
                assert str(item) and "\n" not in str(item).strip()


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "nul", "utf8", "nest"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "truncate":
            del data[at:]
        elif kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "nul":
            data[at:at] = b"\x00"
        elif kind == "utf8":
            data[at:at] = draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82"]))
        else:
            depth = draw(st.integers(200, 1500))
            opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"),
                                                   (b"<a>", b"</a>")]))
            data[at:at] = opener * depth + closer * depth
    return bytes(data)


@FAST
@given(byte_mutations())
def test_mutated_bytes(data: bytes) -> None:
    _only_records_or_parse_errors(data)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            out += _paths(item, (*path, i))
    return out


_STUDY = json.loads(SEEDS["json"])
_PATHS = [p for p in _paths(_STUDY) if p]
_WRONG = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                   st.text(max_size=5), st.just([]), st.just({}), st.just([1, "x", None]),
                   st.just({"x": []}))


@FAST
@given(st.lists(st.tuples(st.sampled_from(_PATHS), st.booleans(), _WRONG), min_size=1,
                max_size=4))
def test_wrong_types_and_deleted_keys(edits: list[tuple[tuple[Any, ...], bool, Any]]) -> None:
    study = json.loads(SEEDS["json"])
    for path, delete, value in edits:
        parent = study
        try:
            for key in path[:-1]:
                parent = parent[key]
            if delete and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    _only_records_or_parse_errors(json.dumps(study).encode())


@pytest.mark.parametrize("data", [
    b"[" * 1000 + b"]" * 1000,
    b'{"a":' * 1000 + b"1" + b"}" * 1000,
    b'{"studies":[' + b"[" * 1000 + b"]" * 1000 + b"]}",
    b'{"protocolSection":{"identificationModule":{"nctId":"NCT00000001"}},"resultsSection":'
    + b"[" * 1000 + b"]" * 1000 + b"}",
    b'[{"nct_id":' + b"[" * 1000 + b"]" * 1000 + b"}]",
    b"<clinical_study>" + b"<a>" * 1000 + b"</a>" * 1000 + b"</clinical_study>",
])
def test_deep_nesting_is_a_clean_error(data: bytes) -> None:
    (item,) = list(iter_records(data))
    assert isinstance(item, ParseError)
    assert any(word in str(item) for word in ("nested too deeply", "depth", "recursion limit"))


def test_an_import_goes_past_a_deeply_nested_zip_entry(db_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "ctg-studies.json.zip"
    good = sorted((FIXTURES / "ctgov-v2-json/studies").glob("*.json"))[:3]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("NCT0000xxxx/NCT00000001.json", b"[" * 5000 + b"]" * 5000)
        for path in good:
            zf.write(path, f"studies/{path.name}")
    for _ in range(2):  # a rerun does not stop at the bad entry either
        problems: list[str] = []
        with Catalogue.open(db_url) as cat:
            summary = Importer(cat, on_problem=problems.append).run([archive])
        assert summary.failed == 1
        (problem,) = problems
        assert problem.startswith(f"{archive}:NCT0000xxxx/NCT00000001.json: ")
        assert "nested too deeply" in problem
    with Catalogue.open(db_url) as cat:
        assert all(cat.versions(p.name[:11]) for p in good)
