"""Legacy labels and mirror spellings map to API v2 enums; dates become ISO 8601."""

from __future__ import annotations

import pytest

from harvester import records as r
from harvester.errors import UnknownVocabularyWarning
from parsers import _vocab as v


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
