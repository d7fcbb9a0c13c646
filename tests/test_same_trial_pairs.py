"""The same trial from two sources — its legacy XML and its API v2 JSON — gives the same
record wherever the two mean the same thing (fixtures/same-trial-pairs/, four real pairs).

The fields that legitimately differ are listed in the README ("Sources agree") with why; each
is named below with its reason, and everything else must be equal."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from harvester.errors import UnknownVocabularyWarning
from harvester.records import TrialRecord
from parsers import ctgov_json, ctgov_xml

PAIRS = Path(__file__).resolve().parent.parent / "fixtures" / "same-trial-pairs"
NCT_IDS = sorted({p.name[:11] for p in PAIRS.glob("NCT*")})

# Fields that differ by nature, whatever the trial.
DIFFER_ALWAYS = {
    "source",  # what the record was parsed from
    # registry-maintained data, re-derived by ClinicalTrials.gov over time; the XML has MeSH
    # terms without ids and no ancestors
    "condition_mesh", "condition_ancestors", "intervention_mesh", "intervention_ancestors",
    "version_holder",  # the data version (the download date of the XML)
    # the criteria's layout: API v2 keeps the markdown list, the XML the classic site's
    # rendering of it (wrapped at 80 columns, hanging indents); the criteria themselves
    # (inclusion, exclusion) must agree
    "eligibility.criteria",
    # the XML has no coordinates; place names were normalised by the registry later
    "locations",
    # the registry links PubMed articles to records (DERIVED references) after the fact
    "references",
}
# Differences the records really have: the JSON is years newer than the XML and the sponsor
# updated the record in between (checked by hand against both files).
CHANGED_SINCE = {
    "NCT01298141": {"last_update_submitted", "last_update_posted",
                    # Shire became Takeda: the official changed
                    "officials"},
}


def _flat(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{path}.{key}" if path else key))
        return out
    return {path: value}


def _pair(nct_id: str) -> tuple[TrialRecord, TrialRecord]:
    with warnings.catch_warnings():
        # no vocabulary is unknown in either source (only the parsers' own warnings count)
        warnings.simplefilter("error", UnknownVocabularyWarning)
        xml = ctgov_xml.parse(next(PAIRS.glob(f"{nct_id}__legacy-xml__*.xml")).read_bytes())
        api = ctgov_json.parse(next(PAIRS.glob(f"{nct_id}__api-v2__*.json")).read_bytes())
    return xml, api


@pytest.mark.parametrize("nct_id", NCT_IDS)
def test_shared_fields_agree(nct_id: str) -> None:
    xml, api = _pair(nct_id)
    left, right = _flat(xml.to_json_dict()), _flat(api.to_json_dict())
    assert left.keys() == right.keys()
    skip = DIFFER_ALWAYS | CHANGED_SINCE.get(nct_id, set())
    differ = {key for key in left if left[key] != right[key]}
    assert {k for k in differ if k not in skip} == set(), {
        k: (left[k], right[k]) for k in differ if k not in skip}
    # the exceptions are real: each named per-trial difference is there
    assert CHANGED_SINCE.get(nct_id, set()) <= differ


def test_the_pairs_cover_the_new_sections() -> None:
    assert len(NCT_IDS) == 4
    xml, api = _pair("NCT01298141")
    assert xml.results is not None and xml.results == api.results
    assert len(xml.results.outcome_measures) == 7
    assert xml.results.participant_flow[0].id == "FG000"
    assert (xml.results.participant_flow[0].started,
            xml.results.participant_flow[0].completed) == (171, 140)
    group = xml.results.adverse_events[0]
    assert (group.deaths_affected, group.serious_affected, group.serious_at_risk,
            group.other_affected) == (6, 74, 167, 160)
    assert xml.outcomes == api.outcomes and len(xml.outcomes) == 7
    assert [d.label for d in xml.documents] == [d.label for d in api.documents]
    assert xml.documents == api.documents
    assert xml.eligibility.inclusion == api.eligibility.inclusion
    assert xml.eligibility.std_ages == api.eligibility.std_ages
    # summaries: no markdown escapes, one paragraph rule, line ends normalised (CR LF XML)
    for nct_id in NCT_IDS:
        xml, api = _pair(nct_id)
        assert xml.brief_summary == api.brief_summary
        assert xml.detailed_description == api.detailed_description
        assert "\r" not in (xml.brief_summary or "") and "\\" not in (api.brief_summary or "")
