"""Legacy labels and mirror spellings map to API v2 enums; dates become ISO 8601."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from harvester import records as r
from harvester.errors import UnknownVocabularyWarning
from parsers import _vocab as v

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    (r.Status, "Completed", r.Status.COMPLETED),
    (r.Status, "Active, not recruiting", r.Status.ACTIVE_NOT_RECRUITING),
    (r.Status, "Unknown status", r.Status.UNKNOWN),
    (r.Status, "ENROLLING_BY_INVITATION", r.Status.ENROLLING_BY_INVITATION),
    (r.EnrollmentType, "Anticipated", r.EnrollmentType.ESTIMATED),
    (r.DateType, "Estimate", r.DateType.ESTIMATED),
    (r.ArmGroupType, "No Intervention", r.ArmGroupType.NO_INTERVENTION),
    (r.InterventionType, "Dietary Supplement", r.InterventionType.DIETARY_SUPPLEMENT),
    (r.Sex, "All", r.Sex.ALL),
    (r.Sex, "Both", r.Sex.ALL),
    (r.DesignMasking, "None (Open label)", r.DesignMasking.NONE),
    (r.InterventionalAssignment, "Parallel Assignment", r.InterventionalAssignment.PARALLEL),
    (r.PrimaryPurpose, "Educational/Counseling/Training", r.PrimaryPurpose.ECT),
    (r.AgencyClass, "U.S. Fed", r.AgencyClass.FED),
    (r.StudyType, "Observational [Patient Registry]", r.StudyType.OBSERVATIONAL),
])
def test_known_values(kind: type, raw: str, expected: object) -> None:
    assert v.enum_value(kind, raw, field="f") is expected


def test_unknown_value_is_kept_with_a_warning() -> None:
    with pytest.warns(UnknownVocabularyWarning, match="overall_status: 'Paused'"):
        assert v.enum_value(r.Status, "Paused", field="overall_status") == "Paused"


def test_blank_is_none() -> None:
    assert v.enum_value(r.Status, "  ", field="f") is None
    assert v.enum_value(r.Status, None, field="f") is None


@pytest.mark.parametrize(("raw", "expected"), [
    ("Phase 1/Phase 2", [r.Phase.PHASE1, r.Phase.PHASE2]),
    ("Phase 2/Phase 3", [r.Phase.PHASE2, r.Phase.PHASE3]),
    ("N/A", [r.Phase.NA]),
    ("Early Phase 1", [r.Phase.EARLY_PHASE1]),
    (None, []),
])
def test_phases(raw: str | None, expected: list[r.Phase]) -> None:
    assert v.phases(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("November 14, 2007", "2007-11-14"),
    ("November 2007", "2007-11"),
    ("Sep 2016", "2016-09"),
    ("2007-11", "2007-11"),
    ("2007-11-14", "2007-11-14"),
    ("", None),
])
def test_dates(raw: str, expected: str | None) -> None:
    assert v.iso_date(raw, field="d") == expected


@pytest.mark.parametrize("raw", ["2007-02-30", "Smarch 2007", "soon"])
def test_unreadable_dates_are_dropped_with_a_warning(raw: str) -> None:
    with pytest.warns(UnknownVocabularyWarning, match="unreadable date"):
        assert v.iso_date(raw, field="start_date") is None


def test_ages_and_yes_no() -> None:
    assert v.age("18 Years") == "18 Years"
    assert v.age("N/A") is None
    assert v.yes_no("No Healthy Volunteers") is False
    assert v.yes_no("Accepts Healthy Volunteers") is True
    assert v.yes_no("Yes") is True
    assert v.yes_no("maybe") is None


# --- legacy design forms (parser version 3) ----------------------------------------------

@pytest.mark.parametrize(("raw", "level", "who"), [
    # 2017-era: the roles only, counted into the level (the registry's own rule)
    ("Participant", r.DesignMasking.SINGLE, [r.WhoMasked.PARTICIPANT]),
    ("Participant, Investigator", r.DesignMasking.DOUBLE,
     [r.WhoMasked.PARTICIPANT, r.WhoMasked.INVESTIGATOR]),
    ("Participant, Care Provider, Investigator", r.DesignMasking.TRIPLE,
     [r.WhoMasked.PARTICIPANT, r.WhoMasked.CARE_PROVIDER, r.WhoMasked.INVESTIGATOR]),
    ("Participant, Care Provider, Investigator, Outcomes Assessor", r.DesignMasking.QUADRUPLE,
     [r.WhoMasked.PARTICIPANT, r.WhoMasked.CARE_PROVIDER, r.WhoMasked.INVESTIGATOR,
      r.WhoMasked.OUTCOMES_ASSESSOR]),
    # 2014-era words
    ("Double-Blind", r.DesignMasking.DOUBLE, []),
    ("Double Blind (Subject, Caregiver, Investigator, Outcomes Assessor)",
     r.DesignMasking.DOUBLE, [r.WhoMasked.PARTICIPANT, r.WhoMasked.CARE_PROVIDER,
                              r.WhoMasked.INVESTIGATOR, r.WhoMasked.OUTCOMES_ASSESSOR]),
    ("Open Label", r.DesignMasking.NONE, []),
    ("None (Open Label)", r.DesignMasking.NONE, []),
    ("Single (Outcomes Assessor)", r.DesignMasking.SINGLE, [r.WhoMasked.OUTCOMES_ASSESSOR]),
])
def test_legacy_masking(raw: str, level: object, who: list[object]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert v.masking(raw) == (level, who)


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    (r.DesignTimePerspective, "Longitudinal, Prospective", "PROSPECTIVE"),
    (r.DesignTimePerspective, "Longitudinal, Retrospective", "RETROSPECTIVE"),
    (r.DesignTimePerspective, "Cross-Sectional, Retrospective/Prospective", "OTHER"),
    (r.DesignTimePerspective, "Retrospective/Prospective", "OTHER"),
    (r.DesignTimePerspective, "Longitudinal", "OTHER"),
    (r.DesignTimePerspective, "Cross-Sectional", "CROSS_SECTIONAL"),
    (r.ObservationalModel, "Defined Population, Natural History", "OTHER"),
    (r.ObservationalModel, "Cohort, Case-Only", "OTHER"),
    (r.ObservationalModel, "Case Control", "CASE_CONTROL"),
    (r.ObservationalModel, "Natural History", "NATURAL_HISTORY"),
])
def test_combined_legacy_values(kind: type, raw: str, expected: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert v.combined(kind, raw, field="f") == expected


def test_unknown_combined_part_warns_and_is_kept() -> None:
    with pytest.warns(UnknownVocabularyWarning, match="Sideways"):
        assert v.combined(r.DesignTimePerspective, "Sideways, Prospective",
                          field="f") == "Sideways, Prospective"
    with pytest.warns(UnknownVocabularyWarning):
        assert v.masking("Blindfolded") == ("Blindfolded", [])


def _fixture_eligibility() -> list[dict[str, object]]:
    from parsers import ctgov_json
    out = []
    for path in sorted(FIXTURES.rglob("*.json")):
        try:
            studies = [json.loads(raw) for _, raw in ctgov_json.split(path.read_bytes())]
        except Exception:  # not a study payload
            continue
        out += [s["protocolSection"]["eligibilityModule"] for s in studies
                if "stdAges" in s.get("protocolSection", {}).get("eligibilityModule", {})]
    return out


def test_age_groups_derive_as_the_registry_derives_them() -> None:
    # Every API v2 study in the fixtures lists stdAges; the derivation must give the same.
    modules = _fixture_eligibility()
    assert len(modules) > 40
    for module in modules:
        derived = v.std_ages(module.get("minimumAge"), module.get("maximumAge"))  # type: ignore[arg-type]
        assert [a.value for a in derived] == module["stdAges"], module
    assert v.std_ages("6 Months", "17 Years") == [r.StandardAge.CHILD]
    assert v.std_ages("65 Years", None) == [r.StandardAge.OLDER_ADULT]
    assert v.std_ages("18 Years", "64 Years") == [r.StandardAge.ADULT]
    assert v.std_ages("unreadable", None) == []
