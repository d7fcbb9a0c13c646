"""The filter options (harvester/commands/_selection.py): one value syntax everywhere."""

from __future__ import annotations

from datetime import date

import pytest

from harvester.commands._selection import FILTERS, period, phase_values, selection_from
from harvester.errors import UsageError


@pytest.mark.parametrize(("given", "phases"), [
    (("1",), ("PHASE1",)), (("I",), ("PHASE1",)), (("PHASE1",), ("PHASE1",)),
    (("phase 1/2",), ("PHASE1", "PHASE2")), (("II,iii",), ("PHASE2", "PHASE3")),
    (("Phase 4",), ("PHASE4",)), (("early phase 1",), ("EARLY_PHASE1",)),
    (("n/a",), ("NA",)), (("2", "phase2"), ("PHASE2",))])
def test_phases_as_people_write_them(given: tuple[str, ...], phases: tuple[str, ...]) -> None:
    assert phase_values(given) == phases


def test_periods() -> None:
    assert period("2020", "--x", end=False) == date(2020, 1, 1)
    assert period("2020", "--x", end=True) == date(2020, 12, 31)
    assert period("2020-02", "--x", end=True) == date(2020, 2, 29)
    assert period("2020-02-03", "--x", end=True) == date(2020, 2, 3)
    with pytest.raises(UsageError, match="--x"):
        period("2020-13", "--x", end=False)


def test_selection_from_options() -> None:
    selection = selection_from({
        "status": ("recruiting,not yet recruiting",), "phase": ("II",), "age": "70",
        "age_group": ("older_adult",), "sex": "female", "country": ("USA,UK",),
        "near": "Boston, USA", "within": "50mi", "funder": ("industry", "federal"),
        "has_document": ("SAP",), "start_after": "2020", "start_before": "2021-06",
        "updated_after": "2024", "healthy_volunteers": False})
    assert selection.statuses == ("RECRUITING", "NOT_YET_RECRUITING")
    assert selection.phases == ("PHASE2",) and selection.age == 70
    assert selection.age_groups == ("OLDER_ADULT",) and selection.sex == "FEMALE"
    assert selection.countries == ("USA", "UK") and selection.near == "Boston, USA"
    assert selection.within_km == pytest.approx(80.4672)
    assert selection.funders == ("INDUSTRY", "FED") and selection.documents == ("sap",)
    assert (selection.start_after, selection.start_before) == (date(2020, 1, 1),
                                                               date(2021, 6, 30))
    assert selection.updated_since == date(2024, 1, 1)
    assert selection.healthy_volunteers is False


@pytest.mark.parametrize(("options", "message"), [
    ({"phase": ("7",)}, "--phase"), ({"sex": "x"}, "--sex"), ({"age": "old"}, "--age"),
    ({"within": "50km"}, "--within needs --near"), ({"funder": ("nobody",)}, "--funder"),
    ({"has_document": ("poster",)}, "--has-document"), ({"age_group": ("baby",)}, "--age")])
def test_bad_values_are_usage_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        selection_from(options)


def test_every_filter_sets_a_selection_field() -> None:
    from dataclasses import fields

    from harvester.catalogue.selection import Selection

    names = {f.name for f in fields(Selection)}
    assert all(spec.field in names for spec in FILTERS)
    assert len({spec.name for spec in FILTERS}) == len(FILTERS)
