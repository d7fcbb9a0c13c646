"""The record's enums are API v2's; the record is frozen and round-trips through JSON."""

from __future__ import annotations

import json
from enum import StrEnum

import pydantic
import pytest

from harvester import records as r
from parsers import _vocab
from tests.conftest import FIXTURES


def _spec_enums() -> dict[str, list[str]]:
    data = json.loads((FIXTURES / "spec" / "studies-enums.json").read_text())
    return {e["type"]: [v["value"] for v in e["values"]] for e in data}


@pytest.mark.parametrize("kind", list(_vocab._ENUM_TYPES))
def test_enum_matches_the_registry_response(kind: type[StrEnum]) -> None:
    assert [m.value for m in kind] == _spec_enums()[_vocab._ENUM_TYPES[kind]]


def test_record_is_frozen() -> None:
    rec = r.TrialRecord(nct_id="NCT00557986", source="veeva")
    with pytest.raises(pydantic.ValidationError):
        rec.brief_title = "changed"  # type: ignore[misc]


def test_nct_id_and_partial_dates_are_checked() -> None:
    with pytest.raises(pydantic.ValidationError):
        r.TrialRecord(nct_id="NCT123", source="veeva")
    with pytest.raises(pydantic.ValidationError):
        r.TrialRecord(nct_id="NCT00557986", source="veeva", start_date="November 2007")
    assert r.TrialRecord(nct_id="NCT00557986", source="veeva", start_date="2007-11").start_date


def test_open_enums_keep_known_members_and_unknown_text_through_json() -> None:
    rec = r.TrialRecord(
        nct_id="NCT00557986", source="ctgov-json", overall_status="COMPLETED",
        phases=("PHASE1", "PHASE9"), lead_sponsor=r.Sponsor(name="X", agency_class="OTHER"),
    )
    again = r.TrialRecord.model_validate_json(rec.model_dump_json())
    assert again == rec
    assert again.overall_status is r.Status.COMPLETED
    assert again.phases == (r.Phase.PHASE1, "PHASE9")
    assert rec.to_json_dict()["lead_sponsor"] == {"name": "X", "class": "OTHER"}


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(pydantic.ValidationError):
        r.TrialRecord.model_validate({"nct_id": "NCT00557986", "source": "veeva", "x": 1})


def test_mesh_terms_round_trip_and_a_record_stored_before_them_still_loads() -> None:
    rec = r.TrialRecord(nct_id="NCT00557986", source="ctgov-json", condition_mesh=(
        r.MeshTerm(id="D001943", term="Breast Neoplasms"),), intervention_mesh=(
        r.MeshTerm(term="Paclitaxel"),))
    data = rec.to_json_dict()
    keys = list(data)
    assert keys[keys.index("interventions") + 1:keys.index("interventions") + 5] == [
        "condition_mesh", "condition_ancestors", "intervention_mesh", "intervention_ancestors"]
    assert data["condition_mesh"] == [{"id": "D001943", "term": "Breast Neoplasms"}]
    assert data["intervention_mesh"] == [{"id": None, "term": "Paclitaxel"}]
    assert r.TrialRecord.model_validate_json(rec.model_dump_json()) == rec
    with pytest.raises(pydantic.ValidationError):
        r.MeshTerm(id="D001943")  # type: ignore[call-arg]
    # JSON stored by parser version 1 has no MeSH keys: they read as empty
    old = {k: v for k, v in data.items() if "mesh" not in k and "ancestors" not in k}
    assert r.TrialRecord.model_validate(old).condition_mesh == ()
