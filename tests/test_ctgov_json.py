"""API v2 JSON: single studies, list pages, website exports and partial (fields=) records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import ParseError
from harvester.records import MeshTerm, Status
from parsers import ctgov_json, iter_records, parse_bytes
from parsers._text import plain
from tests.conftest import FIXTURES

STUDIES = FIXTURES / "ctgov-v2-json" / "studies"
JSON_FILES = sorted(
    p for p in (FIXTURES / "ctgov-v2-json").rglob("*.json") if "capture-receipts" not in p.name
) + sorted((FIXTURES / "ctgov-history" / "api-v2-snapshots").glob("NCT*__vh*.json"))


def _one(path: Path) -> Any:
    (record,) = parse_bytes(path.read_bytes())
    return record


def _raw_studies(path: Path) -> list[dict[str, Any]]:
    value = json.loads(path.read_bytes())
    if isinstance(value, list):
        return value
    studies: list[dict[str, Any]] = value.get("studies", [value])
    return studies


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.name)
def test_every_study_agrees_with_its_raw_json(path: Path) -> None:
    raws = _raw_studies(path)
    records = parse_bytes(path.read_bytes())
    assert len(records) == len(raws)
    for raw, rec in zip(raws, records, strict=True):
        proto = raw["protocolSection"]
        ident = proto["identificationModule"]
        assert rec.nct_id == ident["nctId"]
        assert rec.source == "ctgov-json"
        assert rec.brief_title == plain(ident.get("briefTitle"))
        status = proto.get("statusModule", {})
        assert rec.overall_status == status.get("overallStatus")
        assert rec.start_date == status.get("startDateStruct", {}).get("date")
        sites = proto.get("contactsLocationsModule", {}).get("locations", [])
        assert rec.location_count == len(sites) == len(rec.locations)
        arms = proto.get("armsInterventionsModule", {}).get("armGroups", [])
        assert [a.label for a in rec.arms] == [plain(a["label"]) for a in arms]
        assert list(rec.conditions) == proto.get("conditionsModule", {}).get("conditions", [])
        elig = proto.get("eligibilityModule", {})
        # plain text: markdown escapes gone, blank-line runs made one (parsers/_text.py)
        assert rec.eligibility.criteria == plain(elig.get("eligibilityCriteria"), lines=True)
        outcomes = proto.get("outcomesModule", {})
        assert [(o.kind, o.title) for o in rec.outcomes] == [
            (kind, plain(o["measure"])) for key, kind in (
                ("primaryOutcomes", "PRIMARY"), ("secondaryOutcomes", "SECONDARY"),
                ("otherOutcomes", "OTHER")) for o in outcomes.get(key, [])]
        refs = proto.get("referencesModule", {}).get("references", [])
        assert [(x.pmid, x.type) for x in rec.references] == [
            (x.get("pmid"), x.get("type")) for x in refs]
        measures = raw.get("resultsSection", {}).get("outcomeMeasuresModule", {})
        assert (rec.results is not None) == ("resultsSection" in raw)
        if rec.results is not None:
            assert [m.title for m in rec.results.outcome_measures] == [
                plain(m.get("title")) for m in measures.get("outcomeMeasures", [])]
        derived = raw.get("derivedSection", {})
        for module, prefix in (("conditionBrowseModule", "condition"),
                               ("interventionBrowseModule", "intervention")):
            browse = derived.get(module, {})
            for key, field in (("meshes", "mesh"), ("ancestors", "ancestors")):
                assert [m.model_dump() for m in getattr(rec, f"{prefix}_{field}")] == \
                    browse.get(key, [])
        if elig.get("eligibilityCriteria", "").strip():
            assert rec.eligibility.inclusion or rec.eligibility.exclusion


def test_mesh_terms_and_ancestors() -> None:
    # Raw file: condition "Colon Cancer"; a fish-oil intervention (EPA ethyl ester)
    rec = _one(STUDIES / "NCT03661047__partrita-tigit.json")
    assert [(m.id, m.term) for m in rec.condition_mesh] == [
        ("D003110", "Colonic Neoplasms"), ("D011127", "Polyps"),
        ("D015179", "Colorectal Neoplasms")]
    assert len(rec.condition_ancestors) == 12
    assert rec.condition_ancestors[:2] == (
        MeshTerm(id="D007414", term="Intestinal Neoplasms"),
        MeshTerm(id="D005770", term="Gastrointestinal Neoplasms"))
    assert MeshTerm(id="D009369", term="Neoplasms") in rec.condition_ancestors
    assert [(m.id, m.term) for m in rec.intervention_mesh] == [
        ("C035276", "eicosapentaenoic acid ethyl ester"), ("D015525", "Fatty Acids, Omega-3")]
    assert MeshTerm(id="D005395", term="Fish Oils") in rec.intervention_ancestors
    assert len(rec.intervention_ancestors) == 8
    # browseLeaves / browseBranches are not read; ids are kept as the registry wrote them
    aact = _one(STUDIES / "NCT00763412__aact.json")
    assert aact.condition_mesh[0] == MeshTerm(id="D000003550", term="Cystic Fibrosis")
    assert aact.intervention_mesh == (MeshTerm(id="C000072379", term="Repaglinide"),)
    assert [m.term for m in aact.intervention_ancestors] == [
        "Hypoglycemic Agents", "Physiological Effects of Drugs"]
    # meshes without ancestors; interventions only; no derived browse modules at all
    no_ancestors = _one(STUDIES / "NCT02299791__aact.json")
    assert no_ancestors.condition_mesh == (
        MeshTerm(id="D000002318", term="Cardiovascular Diseases"),)
    assert no_ancestors.condition_ancestors == ()
    only = _one(STUDIES / "NCT07011550__partrita-tigit.json")
    assert only.condition_mesh == ()
    assert [m.term for m in only.intervention_mesh] == [
        "Nivolumab", "Bevacizumab", "trifluridine tipiracil drug combination"]
    bare = _one(STUDIES / "NCT05828563__partrita-tigit.json")
    assert bare.condition_mesh == bare.intervention_ancestors == ()


def test_decoded_and_plain_json_studies_give_the_same_mesh() -> None:
    data = (STUDIES / "NCT03661047__partrita-tigit.json").read_bytes()
    assert ctgov_json.parse_study(json.loads(data)) == ctgov_json.parse(data)


def test_terminated_phase_1_2_umbrella_study_of_1_5_mb() -> None:
    path = STUDIES / "NCT04585815__partrita-tigit.json"
    assert path.stat().st_size > 1_500_000
    rec = _one(path)
    assert rec.overall_status is Status.TERMINATED
    assert rec.why_stopped.startswith("Study was terminated due to portfolio re-prioritization")
    assert rec.phases == ("PHASE1", "PHASE2")
    assert rec.org_study_id == "B8011011"
    assert rec.secondary_ids == ("2020-002829-28",)
    assert (rec.allocation, rec.intervention_model, rec.masking) == (
        "NON_RANDOMIZED", "PARALLEL", "NONE")
    assert rec.enrollment.model_dump() == {"count": 34, "type": "ACTUAL"}
    assert (rec.start_date, rec.primary_completion_date, rec.completion_date) == (
        "2020-11-10", "2023-05-17", "2024-10-29")
    assert rec.results_first_posted == "2023-06-22"
    assert rec.last_update_posted == "2026-01-09"
    assert rec.has_results is True
    assert rec.location_count == 55
    assert rec.arms[0].label == "Sub-Study A"
    assert rec.arms[0].interventions == (
        "Drug: Sasanlimab Prefilled syringe", "Drug: Encorafenib", "Drug: Binimetinib")
    assert rec.interventions[0].model_dump() == {
        "type": "DRUG", "name": "Sasanlimab Prefilled syringe",
        "description": "prefilled syringe", "arm_labels": ("Sub-Study A",), "other_names": ()}
    # headings like "Additional Inclusion Criteria for Sub-Study A Phase 1b \& 2:" start sections
    assert "BRAFV600E mutation in tumor tissue or plasma as determined by a local laboratory " \
           "PCR or NGS assay and documented in a local pathology report." \
           in rec.eligibility.inclusion


def test_recruiting_phase_3_with_300_sites() -> None:
    rec = _one(STUDIES / "NCT06692738__partrita-tigit.json")
    assert rec.overall_status is Status.RECRUITING
    assert rec.phases == ("PHASE3",)
    assert rec.masking == "QUADRUPLE"
    assert rec.who_masked == ("PARTICIPANT", "CARE_PROVIDER", "INVESTIGATOR",
                              "OUTCOMES_ASSESSOR")
    assert rec.enrollment.count == 880 and rec.enrollment.type == "ESTIMATED"
    assert rec.primary_completion_date_type == "ESTIMATED"
    assert rec.location_count == 300
    assert rec.arms[1].type == "ACTIVE_COMPARATOR"
    assert rec.interventions[1].other_names == ("Keytruda",)
    assert rec.eligibility.inclusion[0] == \
        "Histologically or cytologically documented squamous NSCLC."


def test_withdrawn_study_with_no_intervention_arm() -> None:
    rec = _one(STUDIES / "NCT00973089__aact.json")
    assert rec.overall_status is Status.WITHDRAWN
    assert rec.enrollment.count == 0 and rec.enrollment.type == "ACTUAL"
    assert rec.phases == ("NA",)
    assert rec.arms[0].type == "NO_INTERVENTION" and rec.arms[0].interventions == ()
    assert rec.eligibility.healthy_volunteers is True
    assert rec.eligibility.std_ages == ("CHILD",)
    assert rec.eligibility.exclusion == (
        "Subjects that are not ASA I", "Lack of cooperation",
        "Clinical or radiographic signs of pathology")
    assert rec.locations[0].model_dump() == {
        "facility": "Hadassah Medical Organization", "city": "Jerusalem", "state": None,
        "zip": None, "country": "Israel", "status": None, "lat": 31.76904, "lon": 35.21633,
        "contacts": ()}
    assert rec.lead_sponsor.agency_class == "OTHER"


def test_observational_study_of_unknown_status() -> None:
    rec = _one(STUDIES / "NCT03475563__aact.json")
    assert rec.overall_status is Status.UNKNOWN
    assert rec.study_type == "OBSERVATIONAL"
    assert rec.phases == ()
    assert rec.observational_model is not None
    assert rec.location_count == 3


def test_partial_record_from_fields_projection() -> None:
    rec = _one(FIXTURES / "ctgov-v2-json/field-projected/biomcp__get_nct02576665_20260811.json")
    assert rec.nct_id == "NCT02576665"
    assert rec.overall_status is Status.TERMINATED
    assert rec.start_date == "2016-07" and rec.start_date_type is None
    assert rec.enrollment.count == 21 and rec.enrollment.type is None
    assert rec.lead_sponsor.name == "Tocagen Inc." and rec.lead_sponsor.agency_class is None
    assert rec.org_study_id is None and rec.arms == ()
    assert rec.interventions[0].type is None
    assert rec.location_count == 3


def test_list_page_and_website_export_give_every_study() -> None:
    page = parse_bytes((FIXTURES / "ctgov-v2-json/list-pages/"
                        "biomcp__search_phelan_limit5_20260811.json").read_bytes())
    assert [r.nct_id for r in page][:1] == ["NCT02710084"] and len(page) == 5
    export = parse_bytes(
        (FIXTURES / "ctgov-v2-json/website-download/dgg32__ctg-studies.json").read_bytes())
    assert len(export) == 10 and export[0].nct_id == "NCT05923281"
    assert parse_bytes((FIXTURES / "spec/studies-page-empty-raw.json").read_bytes()) == []


@pytest.mark.parametrize(("payload", "field"), [
    (b'{"protocolSection": {"identificationModule": {}}}',
     "protocolSection.identificationModule.nctId"),
    (b'{"protocolSection": []}', "protocolSection"),
    (b'{"protocolSection": {"identificationModule": {"nctId": "NCT00557986"},'
     b' "conditionsModule": {"conditions": "Breast Cancer"}}}', "conditionsModule.conditions"),
    (b'{"protocolSection": {"identificationModule": {"nctId": "NCT00557986"},'
     b' "designModule": {"enrollmentInfo": {"count": "many"}}}}', "enrollment.count"),
    (b'{"protocolSection": {"identificationModule": {"nctId": "NCT0055"}}}', "nct_id"),
    (b'{"protocolSection": {"identificationModule": {"nctId": "NCT00557986"}},'
     b' "derivedSection": {"conditionBrowseModule": {"meshes": [{"id": 1, "term": "x"}]}}}',
     "derivedSection.conditionBrowseModule.meshes[0].id"),
    (b'{"protocolSection": {"identificationModule": {"nctId": "NCT00557986"}},'
     b' "derivedSection": {"interventionBrowseModule": {"ancestors": {}}}}',
     "derivedSection.interventionBrowseModule.ancestors"),
])
def test_wrong_shapes_name_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(ParseError) as info:
        ctgov_json.parse(payload)
    assert info.value.field == field


@pytest.mark.parametrize("payload", [b"", b"{", b'{"studies": [', b"[1, 2", b'"text"',
                                     b'{"totalCount": 3}'])
def test_bad_json_is_a_parse_error(payload: bytes) -> None:
    with pytest.raises(ParseError):
        ctgov_json.parse(payload)


@pytest.mark.parametrize("path", JSON_FILES, ids=lambda p: p.name)
def test_a_payload_of_one_study_is_parsed_without_splitting_as_split_parses_it(
        path: Path) -> None:
    """parse_whole (a zip entry, a study cut out of a page) gives the record that split and
    parse give; a list page or an export is left to split (None)."""
    data = path.read_bytes()
    pieces = ctgov_json.split(data)
    whole = ctgov_json.parse_whole(data)
    if pieces == [("", data)]:
        assert whole is not None and whole == ctgov_json.parse(data)
    else:
        assert whole is None
        for _, raw in pieces:
            assert ctgov_json.parse_whole(raw) == ctgov_json.parse(raw)


def test_a_study_with_studies_that_are_no_list_is_still_refused_whole() -> None:
    """A study whose ``studies`` member is not a list: split refuses the payload, and
    parsing it without splitting refuses it the same way."""
    study = (STUDIES / "NCT00189228__partrita-tigit.json").read_bytes()
    assert ctgov_json.parse_whole(study) is not None
    payload = study.rstrip()[:-1] + b', "studies": 5}'
    assert ctgov_json.parse_whole(payload) is None
    (item,) = iter_records(payload)
    assert isinstance(item, ParseError) and item.message.startswith("wrong shape")
    assert item.record is None  # the payload's, as split refuses it
