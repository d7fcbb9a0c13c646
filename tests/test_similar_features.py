"""harvester/find/similar/features.py and text.py: record → features, on fixture records."""

from __future__ import annotations

from functools import lru_cache

import pytest

from harvester.find.similar import features as fx
from harvester.find.similar import text as tx
from harvester.records import TrialRecord
from parsers import parse_bytes
from tests.conftest import FIXTURES


@lru_cache
def record(name: str) -> TrialRecord:
    (found,) = parse_bytes((FIXTURES / name).read_bytes())
    return found


TIGIT = "ctgov-v2-json/studies/NCT06692738__partrita-tigit.json"
CHECKMATE_017 = "ctgov-xml/NCT01642004__aact.xml"


@pytest.mark.parametrize(("a", "b"), [
    ("Carcinoma, Non-Small-Cell Lung", "Non-small Cell Lung Cancer"),  # MeSH vs as written
    ("NSCLC", "non-small cell lung carcinoma"),
    ("Metastatic Breast Cancer", "Breast Neoplasms"),
    ("Stage IV Melanoma", "Malignant melanoma"),
    ("COVID-19", "Covid19"),
    ("Diabetes Mellitus, Type II", "type 2 diabetes mellitus"),
])
def test_condition_keys_fold_synonyms_qualifiers_and_order(a: str, b: str) -> None:
    assert tx.condition_key(a) == tx.condition_key(b) != ""


@pytest.mark.parametrize(("a", "b"), [
    ("Small Cell Lung Cancer", "Non-small Cell Lung Cancer"),
    ("Type 1 Diabetes", "Type 2 Diabetes"),
    ("Breast Cancer", "Lung Cancer"),
])
def test_condition_keys_keep_different_diseases_apart(a: str, b: str) -> None:
    assert tx.condition_key(a) != tx.condition_key(b)


def test_tokens() -> None:
    assert tx.tokens("The PD-1 blockade in Hôpitaux, 2024: therapies") == [
        "pd", "pd1", "blockade", "hopitaux", "therapy"]
    assert tx.tokens(None) == [] and tx.tokens("of the 123") == []


def test_intervention_names() -> None:
    assert tx.name_variants("Nivolumab (BMS-936558)") == (
        "nivolumabbms936558", "bms936558", "nivolumab")
    assert "pembrolizumab" in tx.name_variants("Pembrolizumab 200 mg IV + Chemotherapy")
    assert "chemotherapy" in tx.name_variants("Pembrolizumab 200 mg IV + Chemotherapy")
    assert tx.name_variants("Placebo") == () and tx.name_variants("Saline") == ()


@pytest.mark.parametrize(("value", "years"), [
    ("18 Years", 18.0), ("6 Months", 0.5), ("2 Weeks", 0.038), ("N/A", None), (None, None)])
def test_ages_in_years(value: str | None, years: float | None) -> None:
    assert fx.age_years(value) == years


def test_features_of_an_api_record() -> None:
    f = fx.features(record(TIGIT))
    assert f.nct_id == "NCT06692738" and f.title and f.title.startswith("A Global Phase III")
    keys = {c.key for c in f.conditions}
    # "Non-small Cell Lung Cancer" as written and its MeSH heading are one concept.
    assert tx.condition_key("Carcinoma, Non-Small-Cell Lung") in keys
    assert "Lung Neoplasms" in {c.label for c in (*f.conditions, *f.condition_ancestors)}
    names = {c.key for c in f.interventions}
    assert {"rilvegostomig", "azd2936", "pembrolizumab", "carboplatin"} <= names
    assert f.phases == ("PHASE3",) and f.study_type == "INTERVENTIONAL"
    assert ("allocation", "RANDOMIZED") in f.design and f.min_age == 18.0 and f.max_age is None
    assert "Japan" in f.countries and f.sponsor == "AstraZeneca"
    assert f.ids == ("NCT06692738", "EUCT:2024-514281-39-00")
    assert f.title_terms["rilvegostomig"] == 2  # in the brief and the official title
    assert "squamous" in f.title_terms
    assert len(f.summary_terms) <= fx.SUMMARY_TERMS and f.criteria_terms


def test_features_of_a_legacy_xml_record() -> None:
    f = fx.features(record(CHECKMATE_017))
    assert {c.label for c in f.conditions} >= {"Squamous Cell Non-small Cell Lung Cancer"}
    assert {"nivolumab", "bms936558", "docetaxel"} <= {c.key for c in f.interventions}
    assert f.ids == ("NCT01642004", "EudraCT:2011-004792-36")
    assert f.protocol == "bristol myers squibb|CA209017"


def test_features_round_trip_and_text_features() -> None:
    f = fx.features(record(TIGIT))
    assert fx.decode(fx.encode(f)) == f
    text = fx.text_features("Pembrolizumab in melanoma, pembrolizumab!")
    assert text.free_text and text.title_terms == {"pembrolizumab": 2, "melanoma": 1}


def test_index_terms() -> None:
    f = fx.features(record(TIGIT))
    posted, counted = fx.index_terms(f)
    assert not posted & counted
    assert f"c:{tx.condition_key('Non-small Cell Lung Cancer')}" in posted
    assert "i:rilvegostomig" in posted and "x:NCT06692738" in posted
    assert "x:EUCT:2024-514281-39-00" in posted
    assert "t:rilvegostomig" in posted  # a title word is looked up by
    assert "t:study" not in posted  # … but not a generic one
    assert "n:japan" in counted
    assert any(t.startswith("h:") for t in posted)


def test_features_of_a_stored_record_are_the_validated_records() -> None:
    """Building the index reads stored records through a view of the fields features read
    (features.READ): the same features as from the validated record, for every fixture."""
    from harvester.catalogue import canonical
    from harvester.errors import ParseError

    compared = 0
    for path in sorted(FIXTURES.rglob("*")):
        if path.suffix not in (".json", ".xml") or not path.is_file():
            continue
        try:
            records = parse_bytes(path.read_bytes())
        except (ParseError, ValueError):
            continue  # not a record (captures, receipts, schemas)
        for rec in records:
            stored = canonical.serialise(rec).record_json
            assert fx.stored_features(stored) == fx.features(rec), path.name
            compared += 1
    assert compared > 100
