"""The content hash: stable under key order and whitespace, blind to publication metadata."""

from __future__ import annotations

import hashlib
import json
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.catalogue import canonical
from harvester.errors import ParseError
from harvester.records import TrialRecord
from parsers import parse_bytes
from tests.conftest import FIXTURES

STUDY = FIXTURES / "ctgov-v2-json/studies/NCT02210780__aact.json"
RAW = json.loads(STUDY.read_bytes())
RECORD = parse_bytes(STUDY.read_bytes())[0]


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(), indent=st.sampled_from([None, 1, 4]))
def test_hash_ignores_key_order_and_layout_of_the_payload(seed: int, indent: int | None) -> None:
    data = json.dumps(_shuffled(RAW, random.Random(seed)), indent=indent).encode()
    (record,) = parse_bytes(data)
    assert canonical.content_hash(record) == canonical.content_hash(RECORD)


def test_hash_ignores_whitespace_in_text_and_the_data_version() -> None:
    rewrapped = RECORD.model_copy(update={
        "brief_summary": "  " + (RECORD.brief_summary or "").replace(" ", "\n   ") + "\n",
        "version_holder": "2030-01-01"})
    assert canonical.content_hash(rewrapped) == canonical.content_hash(RECORD)


def test_hash_changes_with_content() -> None:
    changed = RECORD.model_copy(update={"overall_status": "TERMINATED"})
    assert canonical.content_hash(changed) != canonical.content_hash(RECORD)


def test_registry_and_effective_dates() -> None:
    seen = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    assert canonical.registry_date(RECORD) == RECORD.last_update_posted
    partial = RECORD.model_copy(update={"last_update_posted": None,
                                        "last_update_submitted": "2020-10"})
    assert canonical.registry_date(partial) == "2020-10-01"
    undated = RECORD.model_copy(update={"last_update_posted": None,
                                        "last_update_submitted": None, "version_holder": None})
    assert canonical.registry_date(undated) is None
    assert canonical.effective_date(undated, seen) == "2026-11-25"


# --- fields added later: left out while empty ------------------------------------------------

MESH_FIXTURES = [
    *sorted((FIXTURES / "ctgov-v2-json/studies").glob("*.json")),
    *sorted((FIXTURES / "ctgov-xml").glob("*.xml")),
]


def _hash_before_mesh(data: dict[str, Any]) -> str:
    """The content hash as it was computed before the record had MeSH fields, written out
    independently: sorted compact JSON without source and data version, whitespace (and the
    escapes of newlines and tabs) deleted."""
    content = {k: v for k, v in data.items() if k not in {"source", "version_holder"}}
    content["locations"] = [{k: v for k, v in loc.items() if k != "contacts" or v}  # added
                            for loc in content.get("locations", [])]                # later
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(re.sub(r"\\[nrt]|[ \t\n\r\x0b\x0c]", "", text).encode()).hexdigest()


def _without_mesh(record: TrialRecord) -> TrialRecord:
    update: dict[str, Any] = {name: () if isinstance(getattr(record, name), tuple) else None
                              for name in canonical.OMIT_WHEN_EMPTY}
    update["locations"] = tuple(loc.model_copy(update={"contacts": ()})
                                for loc in record.locations)
    return record.model_copy(update=update)


@pytest.mark.parametrize("path", MESH_FIXTURES, ids=lambda p: p.name)
def test_a_record_without_mesh_hashes_as_before_the_mesh_fields(path: Path) -> None:
    (record,) = parse_bytes(path.read_bytes())
    bare = _without_mesh(record)
    old_json = {k: v for k, v in bare.to_json_dict().items()
                if k not in canonical.OMIT_WHEN_EMPTY}
    assert canonical.content_hash(bare) == _hash_before_mesh(old_json)
    if any(getattr(record, name) for name in canonical.OMIT_WHEN_EMPTY):
        # MeSH terms are content: the record hashes anew, by the same algorithm over its
        # JSON with the MeSH keys it has something in
        assert canonical.content_hash(record) != canonical.content_hash(bare)
        with_mesh = {k: v for k, v in record.to_json_dict().items()
                     if v or k not in canonical.OMIT_WHEN_EMPTY}
        assert canonical.content_hash(record) == _hash_before_mesh(with_mesh)


def test_the_fixtures_have_records_with_and_without_mesh() -> None:
    # NCT05828563 (JSON) and NCT04452435 (XML) have no MeSH terms in the raw files.
    records = {r.nct_id: r for p in MESH_FIXTURES for r in parse_bytes(p.read_bytes())}
    mesh = [f for f in canonical.OMIT_WHEN_EMPTY if f.endswith(("_mesh", "_ancestors"))]
    assert len(mesh) == 4
    assert not any(getattr(records["NCT05828563"], f) for f in mesh)
    assert not any(getattr(records["NCT04452435"], f) for f in mesh)
    assert records["NCT03661047"].condition_mesh and records["NCT00023673"].intervention_mesh


@given(st.binary().map(lambda b: bytes(b"\\nrt \ta\n"[x % 8] for x in b)))
def test_squeeze_is_the_three_replace_passes_byte_for_byte(data: bytes) -> None:
    """The regex passes give exactly what the original replace passes gave, so stored
    content hashes stay valid (escapes that meet only after a removal included)."""
    expected = data
    for escape in (b"\\n", b"\\r", b"\\t"):
        expected = expected.replace(escape, b"")
    assert canonical.squeeze(data) == expected.translate(None, b" \t\n\r\x0b\x0c")



@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=[" ", "\n", "\r", "\t", "\x0b", "\\", "n", "r", "t", "a", '"',
                                  "/", "\u00a0"], max_size=30), max_size=4))
def test_squeezing_the_encoding_is_squeeze(texts: list[str]) -> None:
    """The squeeze of msgspec's compact JSON (split at its backslashes) is :func:`squeeze`'s,
    with and without escaped backslashes, escapes first or last, and no backslash at all."""
    encoded = msgspec.json.encode({"a": texts, "b c": " ".join(texts)})
    assert canonical._squeeze_encoded(encoded) == canonical.squeeze(encoded)


# --- one encoding for the stored JSON and the hash --------------------------------------------

ALL_FIXTURES = [path for folder in ("ctgov-v2-json", "ctgov-xml", "ctgov-history")
                for path in sorted((FIXTURES / folder).rglob("*")) if path.suffix in (".json",
                                                                                     ".xml")]


def _hash_of_dump(record: TrialRecord) -> str:
    """The content hash as it was taken before the models were encoded directly: the
    record's plain-data dump trimmed, encoded with sorted keys, the escapes of newline,
    return and tab removed one after the other, then every raw whitespace byte."""
    data = record.to_json_dict()
    for key in canonical.NOT_CONTENT:
        data.pop(key, None)
    for key in canonical.OMIT_WHEN_EMPTY:
        if key in data and not data[key]:
            del data[key]
    for loc in data.get("locations") or []:
        if not loc.get("contacts"):
            loc.pop("contacts", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    for escape in (b"\\n", b"\\r", b"\\t"):
        text = text.replace(escape, b"")
    return hashlib.sha256(text.translate(None, b" \t\n\r\x0b\x0c")).hexdigest()


def _records() -> list[TrialRecord]:
    found = []
    for path in ALL_FIXTURES:
        try:
            found += parse_bytes(path.read_bytes())
        except ParseError:  # not a study (capture notes, diff logs)
            continue
    return found


RECORDS = _records()


def test_every_fixture_hashes_as_its_dump_and_stores_what_it_is() -> None:
    assert len(RECORDS) > 100
    for record in RECORDS:
        encoded = canonical.serialise(record)
        assert encoded.content_hash == canonical.content_hash(record) == _hash_of_dump(record)
        assert TrialRecord.model_validate_json(encoded.record_json) == record
        # the same members as the dump, a site's empty contacts aside
        stored = json.loads(encoded.record_json)
        dumped = record.to_json_dict()
        for loc in dumped["locations"]:
            if not loc["contacts"]:
                del loc["contacts"]
        assert stored == dumped


TEXT = st.text(alphabet=[" ", "\n", "\r", "\t", "\x0b", "\x0c", "\\", "n", "r", "t", "a",
                         "é", '"', "/", "\u00a0", "\u2028"], max_size=40)


@settings(max_examples=200, deadline=None)
@given(summary=TEXT, title=TEXT)
def test_text_with_backslashes_and_whitespace_hashes_as_its_dump(summary: str,
                                                                  title: str) -> None:
    record = RECORD.model_copy(update={"brief_summary": summary, "brief_title": title})
    assert canonical.content_hash(record) == _hash_of_dump(record)
    assert TrialRecord.model_validate_json(canonical.serialise(record).record_json) == record
