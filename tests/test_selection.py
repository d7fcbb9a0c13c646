"""Selections (harvester/catalogue/selection.py) on the corpus, on SQLite and PostgreSQL.

Each filter's SQL is checked against the same test made in Python on the typed records of
the trials' current versions (as :meth:`Catalogue.current` picks them), and ``as_of``
against :meth:`Catalogue.current` with ``as_of`` for every trial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest

from harvester.catalogue import Catalogue
from harvester.catalogue.selection import (
    Selection,
    count_selected,
    iter_selected,
    iter_versions,
    normalise_enum,
    selected,
    with_phase_values,
)
from harvester.catalogue.store import supersede
from harvester.errors import UsageError
from harvester.records import TrialRecord
from tests import corpusdb
from tests.conftest import trials
from tests.corpusdb import CORPUS

corpus_url = corpusdb.corpus_url  # the shared corpus catalogue (a session fixture)


@pytest.fixture
def catalogue(corpus_url: str) -> Iterator[Catalogue]:
    with Catalogue.open(corpus_url) as opened:
        yield opened


@pytest.fixture(scope="session")
def current(corpus_url: str) -> dict[str, tuple[int, TrialRecord]]:
    """Each trial's current version id and record, as the store picks them."""
    found = {}
    with Catalogue.open(corpus_url) as catalogue:
        for nct_id in catalogue.trial_ids():
            info = catalogue.current(nct_id)
            assert info is not None
            found[nct_id] = (info.id, catalogue.record(info.id))
    return found


def picked(catalogue: Catalogue, selection: Selection, *,
           per_match: bool = False, few: bool = False) -> dict[str, int]:
    with catalogue.engine.connect() as conn:
        return {row.nct_id: row.version_id
                for row in conn.execute(selected(selection, per_match=per_match, few=few))}


def _first_day(value: str | None) -> str:
    return "" if not value else value + {4: "-01-01", 7: "-01"}.get(len(value), "")


def _sponsor(record: TrialRecord) -> str:
    return record.lead_sponsor.name.lower() if record.lead_sponsor else ""


FILTERS: list[tuple[Selection, Callable[[TrialRecord], bool]]] = [
    (Selection(statuses=("RECRUITING",)), lambda r: r.overall_status == "RECRUITING"),
    (Selection(statuses=("COMPLETED", "TERMINATED")),
     lambda r: r.overall_status in ("COMPLETED", "TERMINATED")),
    (Selection(phases=("PHASE2",)), lambda r: "PHASE2" in r.phases),
    (Selection(phases=("PHASE1", "PHASE3")),
     lambda r: "PHASE1" in r.phases or "PHASE3" in r.phases),
    (Selection(phases=("NA",)), lambda r: "NA" in r.phases),
    (Selection(study_types=("OBSERVATIONAL",)), lambda r: r.study_type == "OBSERVATIONAL"),
    (Selection(conditions=("Cancer",)),
     lambda r: any("cancer" in c.lower() for c in r.conditions)),
    (Selection(conditions=("asthma", "dermatitis")),
     lambda r: any("asthma" in c.lower() or "dermatitis" in c.lower() for c in r.conditions)),
    (Selection(interventions=("nivolumab",)),
     lambda r: any("nivolumab" in i.name.lower() for i in r.interventions)),
    (Selection(countries=("france",)),
     lambda r: any((s.country or "").lower() == "france" for s in r.locations)),
    (Selection(countries=("United States", "Canada")),
     lambda r: any(s.country in ("United States", "Canada") for s in r.locations)),
    (Selection(sponsors=("university",)), lambda r: "university" in _sponsor(r)),
    (Selection(start_after=date(2015, 1, 1)),
     lambda r: bool(r.start_date) and _first_day(r.start_date) >= "2015-01-01"),
    (Selection(start_before=date(2007, 11, 30)),
     lambda r: bool(r.start_date) and _first_day(r.start_date) <= "2007-11-30"),
    # partial dates count as their first day: "2015-12" is on or after December 1st
    (Selection(start_after=date(2015, 12, 1)),
     lambda r: bool(r.start_date) and _first_day(r.start_date) >= "2015-12-01"),
    (Selection(start_after=date(2007, 11, 1), start_before=date(2007, 11, 1)),
     lambda r: _first_day(r.start_date) == "2007-11-01"),
    (Selection(start_after=date(2010, 1, 1), start_before=date(2015, 12, 31)),
     lambda r: "2010-01-01" <= _first_day(r.start_date) <= "2015-12-31"),
    (Selection(updated_since=date(2024, 1, 1)),
     lambda r: (r.last_update_posted or "") >= "2024-01-01"),
    (Selection(has_results=True), lambda r: r.has_results),
    (Selection(has_results=False), lambda r: not r.has_results),
    (Selection(statuses=("COMPLETED",), has_results=True, phases=("PHASE3",)),
     lambda r: r.overall_status == "COMPLETED" and r.has_results and "PHASE3" in r.phases),
]


def test_everything_is_every_current_version(
        catalogue: Catalogue, current: dict[str, tuple[int, TrialRecord]]) -> None:
    assert Selection().is_everything
    assert picked(catalogue, Selection()) == {n: vid for n, (vid, _) in current.items()}
    with catalogue.engine.connect() as conn:
        assert count_selected(conn, Selection()) == len(current) > 50
        assert [n for n, _ in iter_selected(conn, Selection(), batch=7)] == sorted(current)


@pytest.mark.parametrize(("selection", "test"), FILTERS,
                         ids=[str(s.describe()) for s, _ in FILTERS])
def test_each_filter_picks_what_the_records_say(
        catalogue: Catalogue, current: dict[str, tuple[int, TrialRecord]],
        selection: Selection, test: Callable[[TrialRecord], bool]) -> None:
    expected = {n: vid for n, (vid, record) in current.items() if test(record)}
    assert 0 < len(expected) < len(current)  # the filter narrows, on real data
    assert picked(catalogue, selection) == expected
    assert picked(catalogue, selection, per_match=True) == expected  # as a search tests it
    assert picked(catalogue, selection, few=True) == expected  # as similar tests it
    with catalogue.engine.connect() as conn:
        assert count_selected(conn, selection) == len(expected)
        resolved = with_phase_values(conn, selection)  # as a search gives it
    assert resolved == selection and resolved.describe() == selection.describe()
    assert picked(catalogue, resolved) == expected
    assert picked(catalogue, resolved, per_match=True) == expected


@pytest.mark.parametrize("phases", [("PHASE2",), ("PHASE1", "PHASE3"), ("NA",),
                                    ("EARLY_PHASE1",), ("PHASE4",)])
def test_phase_values_are_the_stored_values_holding_a_phase(catalogue: Catalogue,
                                                            phases: tuple[str, ...]) -> None:
    """Looked up before the statement (a search turns PostgreSQL's index scans off for its
    matching statements, which the skip through the index needs): every stored value of the
    column that holds one of the phases, and no other."""
    import sqlalchemy as sa

    from harvester.catalogue.store import V

    with catalogue.engine.connect() as conn:
        stored = set(conn.execute(sa.select(V.c.phases).distinct()).scalars()) - {None}
        resolved = with_phase_values(conn, Selection(phases=phases))
    assert resolved.phase_values is not None
    assert sorted(resolved.phase_values) == sorted(
        v for v in stored if set(v.split("|")) & set(phases))
    assert any("|" in v for v in stored)  # combined phases (PHASE1|PHASE2) among them


def test_ids(catalogue: Catalogue, current: dict[str, tuple[int, TrialRecord]]) -> None:
    wanted = ("NCT06203210", "NCT00557986", "NCT99999999")
    assert picked(catalogue, Selection(ids=wanted)) == {
        n: current[n][0] for n in wanted if n in current}


@pytest.mark.parametrize("day", [date(2000, 1, 1), date(2016, 6, 1), date(2023, 12, 20),
                                 date(2026, 1, 25), date(2026, 2, 10), date(2030, 1, 1)])
def test_as_of_picks_what_the_store_shows_on_that_day(catalogue: Catalogue,
                                                      day: date) -> None:
    expected = {}
    for nct_id in catalogue.trial_ids():
        info = catalogue.current(nct_id, as_of=day)
        if info is not None:
            expected[nct_id] = info.id
    assert picked(catalogue, Selection(as_of=day)) == expected


def test_as_of_picks_the_older_version_of_nct06203210(catalogue: Catalogue) -> None:
    versions = catalogue.versions("NCT06203210")
    assert [v.registry_date for v in versions] == ["2026-01-20", "2026-02-09", "2026-03-02"]
    assert picked(catalogue, Selection(ids=("NCT06203210",), as_of=date(2026, 2, 1))) == {
        "NCT06203210": versions[0].id}
    assert picked(catalogue, Selection(ids=("NCT06203210",), as_of=date(2026, 2, 9))) == {
        "NCT06203210": versions[1].id}
    assert picked(catalogue, Selection(ids=("NCT06203210",), as_of=date(2026, 1, 19))) == {}
    # filters apply to the version picked: it was not recruiting yet on February 1st
    assert catalogue.record(versions[0].id).overall_status == "ACTIVE_NOT_RECRUITING"
    assert "NCT06203210" in picked(catalogue, Selection(
        statuses=("ACTIVE_NOT_RECRUITING",), as_of=date(2026, 2, 1)))
    assert "NCT06203210" not in picked(catalogue, Selection(statuses=("RECRUITING",),
                                                            as_of=date(2026, 2, 1)))


def test_the_registry_record_is_preferred_to_the_mirror(catalogue: Catalogue) -> None:
    sources = {v.source: v for v in catalogue.versions("NCT00557986")}
    assert set(sources) == {"veeva", "ctgov-json"}
    assert picked(catalogue, Selection(ids=("NCT00557986",))) == {
        "NCT00557986": sources["ctgov-json"].id}
    assert picked(catalogue, Selection(ids=("NCT00557986",), as_of=date(2030, 1, 1))) == {
        "NCT00557986": sources["ctgov-json"].id}


def test_iter_versions_numbers_versions_as_history_does(catalogue: Catalogue) -> None:
    with catalogue.engine.connect() as conn:
        found = list(iter_versions(conn, Selection(ids=("NCT06203210", "NCT02552212"),
                                                   as_of=date(2026, 2, 1)), batch=1))
    assert [v.nct_id for v in found] == ["NCT02552212", "NCT06203210"]
    for version in found:
        info = next(i for i in catalogue.versions(version.nct_id) if i.id == version.version_id)
        assert version.number == info.number
        assert TrialRecord.model_validate_json(version.record_json) == catalogue.record(
            info.id)
    assert found[1].number == 1


def test_a_superseded_version_is_never_picked(db_url: str) -> None:
    assert trials(db_url, "import", *CORPUS[2:4]).exit_code == 0  # history snapshots
    with Catalogue.open(db_url) as catalogue:
        (old,) = catalogue.versions("NCT02552212")
        # A re-derivation that reads an earlier registry date: were the superseded version
        # not left out, it would win (a later registry date) on every day from its own.
        day = date.fromisoformat(old.effective_date)
        earlier = (day - timedelta(days=30)).isoformat()
        record = catalogue.record(old.id).model_copy(update={
            "brief_title": "Re-derived", "last_update_posted": earlier})
        new_id = supersede(catalogue, old, record, None)
        assert new_id is not None
        assert catalogue.versions("NCT02552212")[0].effective_date == earlier
        assert picked(catalogue, Selection(ids=("NCT02552212",), as_of=day)) == {
            "NCT02552212": new_id}
        assert old.id not in picked(catalogue, Selection(as_of=date(2030, 1, 1))).values()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"statuses": ("RECRUITNG",)}, "--status"),
    ({"phases": ("PHASE5",)}, "--phase"),
    ({"study_types": ("TRIAL",)}, "--study-type"),
    ({"ids": ("NCT123",)}, "--ids"),
    ({"start_after": date(2020, 1, 2), "start_before": date(2020, 1, 1)}, "later than"),
])
def test_bad_values_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Selection(**kwargs)  # type: ignore[arg-type]


def test_empty_text_filter_is_refused() -> None:
    with pytest.raises(UsageError, match="empty text filter"):
        selected(Selection(conditions=("  ",)))


@pytest.mark.parametrize(("value", "expected"), [
    ("Phase 2", "PHASE2"), ("phase2", "PHASE2"), ("not yet recruiting", "NOT_YET_RECRUITING"),
    ("early-phase1", "EARLY_PHASE1"), (" RECRUITING ", "RECRUITING"), ("na", "NA"),
])
def test_normalise_enum(value: str, expected: str) -> None:
    assert normalise_enum(value) == expected


def _few_rows_plan(catalogue: Catalogue, selection: Selection) -> str:
    """SQLite's plan of the selection as a few rows are tested (skipped elsewhere)."""
    stmt = selected(selection, few=True)
    with catalogue.engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            pytest.skip("the plan checked is SQLite's")
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        return " | ".join(row[-1] for row in conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}"))


@pytest.mark.parametrize("selection", [
    Selection(statuses=("RECRUITING",)), Selection(phases=("PHASE1", "PHASE3")),
    Selection(study_types=("OBSERVATIONAL",)), Selection(has_results=True)])
def test_a_filter_of_a_few_rows_looks_at_the_version_s_own_index_entry(
        catalogue: Catalogue, selection: Selection) -> None:
    """For a few rows (similar's candidates), an equality filter on the version's own
    columns seeks each version's entry in that column's index: its cost follows the
    candidates, never the catalogue-wide set of versions passing it, nor the version's row."""
    plan = _few_rows_plan(catalogue, selection)
    column = next(f for f in ("overall_status", "phases", "study_type", "has_results")
                  if f"ix_version_{f}" in plan)
    assert f"USING COVERING INDEX ix_version_{column} ({column}=? AND rowid=?)" in plan, plan


@pytest.mark.parametrize("selection", [
    Selection(start_after=date(2015, 1, 1), start_before=date(2020, 12, 31)),
    Selection(updated_since=date(2024, 1, 1)), Selection(sponsors=("university",))])
def test_a_range_of_a_few_rows_is_tested_on_each_version_s_own_row(
        catalogue: Catalogue, selection: Selection) -> None:
    """For a few rows (a champion list's walk, similar's candidates), start dates, update
    dates and sponsors are tested on each version's own row, found by its id — never the
    set of versions in the range, which for a span of years is most of the catalogue."""
    plan = _few_rows_plan(catalogue, selection)
    assert "SEARCH own USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
    assert "LIST SUBQUERY" not in plan and "ix_version_start_date" not in plan, plan


@pytest.mark.parametrize("day", [date(2016, 6, 1), date(2026, 2, 10)])
def test_a_few_rows_as_of_a_day_are_filtered_as_the_whole_catalogue(
        catalogue: Catalogue, day: date) -> None:
    selection = Selection(as_of=day, statuses=("COMPLETED", "RECRUITING"), has_results=False)
    expected = picked(catalogue, selection)
    assert expected and expected != picked(catalogue, Selection(as_of=day))
    assert picked(catalogue, selection, few=True) == expected
