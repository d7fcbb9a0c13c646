"""The content hash: stable under key order and whitespace, blind to publication metadata."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.catalogue import canonical
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
