"""Field-level diffs between record versions: real re-downloads of the same trial, real edits.

The expected differences of the real pairs were found by reading the raw files side by side
(noted at each test), not by running the diff.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.catalogue.diff import Change, Kind, diff_records, summarise
from harvester.records import (
    Eligibility,
    Enrollment,
    Intervention,
    Location,
    Sponsor,
    TrialRecord,
)
from parsers import parse_bytes
from tests.conftest import FIXTURES

SNAPSHOTS = FIXTURES / "ctgov-history" / "api-v2-snapshots"
LEGACY = FIXTURES / "ctgov-history" / "legacy-xml-redownloads"
# Every fixture that holds whole or partial study records (not receipts, logs, CSV or specs).
RECORD_FILES = (
    "ctgov-v2-json/studies/*.json", "ctgov-v2-json/field-projected/*.json",
    "ctgov-v2-json/website-download/*.json", "ctgov-v2-json/list-pages/*__*_2026*.json",
    "ctgov-v2-json/list-pages/NCT*.json", "ctgov-xml/*.xml", "ctgov-history/*/NCT*__vh*.json",
    "ctgov-history/legacy-xml-redownloads/*.xml", "mirror-veeva/*",
)


def _one(path: Path) -> TrialRecord:
    (record,) = parse_bytes(path.read_bytes())
    return record


def _snapshot(nct: str, version: str) -> TrialRecord:
    (path,) = SNAPSHOTS.glob(f"{nct}__vh{version}__*.json")
    return _one(path)


def _download(nct: str, day: str) -> TrialRecord:
    return _one(LEGACY / f"{nct}__dl{day}__aact.xml")


@cache
def _all_records() -> tuple[TrialRecord, ...]:
    paths = sorted({p for pattern in RECORD_FILES for p in FIXTURES.glob(pattern)})
    return tuple(record for path in paths for record in parse_bytes(path.read_bytes()))


@cache
def _veeva() -> TrialRecord:
    return _one(FIXTURES / "mirror-veeva" / "NCT00557986.txt")


def _kinds(changes: list[Change]) -> Counter[tuple[str, str]]:
    return Counter((c.field, c.kind) for c in changes)


def _lines(changes: list[Change]) -> list[str]:
    return [c.describe() for c in changes]


# --- real versions ---------------------------------------------------------------------------

def test_nct06203210_reopened_with_new_eligibility_and_site_statuses() -> None:
    # Raw files, 2026-02-04 → 2026-02-09: overallStatus ACTIVE_NOT_RECRUITING → RECRUITING,
    # lastUpdateSubmitDate 2026-01-15 → 2026-02-05, lastUpdatePostDate 2026-01-20 → 2026-02-09,
    # eligibilityCriteria rewritten (the ILD exclusion), every site gains a status (170
    # RECRUITING, 51 NOT_YET_RECRUITING) and contacts, and 9 facility names have their mojibake
    # spelled differently ('H\u0103"Pital Foch' → 'H\u0103pital Foch'), and a central contact
    # (Daiichi Sankyo's) appears.  Not in the record: statusVerifiedDate; versionHolder is
    # ignored.
    changes = diff_records(_snapshot("NCT06203210", "2026-02-04"),
                           _snapshot("NCT06203210", "2026-02-09"))
    assert _kinds(changes) == Counter({
        ("overall_status", "changed"): 1, ("last_update_submitted", "changed"): 1,
        ("last_update_posted", "changed"): 1, ("eligibility.criteria", "changed"): 1,
        ("eligibility.exclusion", "removed"): 1, ("eligibility.exclusion", "added"): 1,
        ("locations", "removed"): 9, ("locations", "changed"): 221, ("locations", "added"): 9,
        ("central_contacts", "added"): 1,
    })
    assert list(dict.fromkeys(c.field for c in changes)) == [
        "overall_status", "last_update_submitted", "last_update_posted",
        "eligibility.criteria", "eligibility.exclusion", "locations", "central_contacts"]
    assert _lines(changes)[:4] == [
        "status ACTIVE_NOT_RECRUITING → RECRUITING",
        "last_update_submitted moved 2026-01-15 → 2026-02-05",
        "last_update_posted moved 2026-01-20 → 2026-02-09",
        "eligibility text changed"]
    removed, added = (next(c for c in changes if c.field == "eligibility.exclusion"
                           and c.kind == kind) for kind in ("removed", "added"))
    assert removed.old.startswith("Has history of (non-infectious) interstitial lung disease")
    assert added.new.startswith("Has any history of ILD/pneumonitis irrespective of steroid")
    sites = [c for c in changes if c.field == "locations" and c.kind == "changed"]
    assert all({k for k in c.new if c.old[k] != c.new[k]} <= {"status", "contacts"}
               for c in sites)
    assert {c.old["status"] for c in sites} == {None}
    assert Counter(c.new["status"] for c in sites) == {"RECRUITING": 170,
                                                       "NOT_YET_RECRUITING": 51}
    gone = {c.key for c in changes if c.kind == "removed" and c.field == "locations"}
    come = {c.key for c in changes if c.kind == "added" and c.field == "locations"}
    assert 'H\u0103"Pital Foch, Suresnes' in gone and "H\u0103pital Foch, Suresnes" in come

    line = summarise(changes)
    assert "status ACTIVE_NOT_RECRUITING → RECRUITING" in line
    assert "eligibility text changed" in line
    assert line.endswith("; +6 more")
    # Bookkeeping dates go last, so the slots go to what the update was about.
    assert summarise(changes, limit=20).endswith(
        "; 9 sites removed; 221 sites changed; 9 sites added; "
        "central contact added: Daiichi Sankyo Contact for Clinical Trial Information; "
        "last_update_submitted moved 2026-01-15 → 2026-02-05; "
        "last_update_posted moved 2026-01-20 → 2026-02-09")


def test_nct02552212_versions_differ_only_in_registry_version() -> None:
    # Raw files: only versionHolder and derivedSection (MeSH order, asFound) differ, and the
    # record holds no derivedSection field but version_holder.
    old, new = (_snapshot("NCT02552212", v) for v in ("2023-12-12", "2024-01-03"))
    assert old != new and old.model_copy(update={"version_holder": "2024-01-03"}) == new
    assert diff_records(old, new) == []
    assert summarise(diff_records(old, new)) == ""


def test_nct00482794_2016_to_2017_new_dates_and_legacy_relabels_ignored() -> None:
    # Raw files: completion July 2016 → December 2017, primary completion July 2016 → July
    # 2017, lastchanged_date Oct 23 2015 → Nov 30 2016.  Also gender Both → All and the
    # study_design string → study_design_info: relabelled, same values, so no change.  The
    # intervention MeSH terms gain Immunoglobulins (the others only move).  Three citations
    # are edited: "Group.." → "Group.", and two lose their "Epub …" (which 2017-08 restores);
    # a new <patient_data> says IPD will not be shared.
    changes = diff_records(_download("NCT00482794", "2016-06-27"),
                           _download("NCT00482794", "2017-01-18"))
    assert changes == [
        Change("primary_completion_date", "changed", None, "2016-07", "2017-07"),
        Change("completion_date", "changed", None, "2016-07", "2017-12"),
        Change("last_update_submitted", "changed", None, "2015-10-23", "2016-11-30"),
        Change("intervention_mesh", "added", "Immunoglobulins", None,
               {"id": None, "term": "Immunoglobulins"}),
        *changes[4:],
    ]
    assert [(c.field, c.kind) for c in changes[4:]] == [("references", "changed")] * 3 + [
        ("ipd_sharing", "changed")]
    assert (changes[7].old, changes[7].new["sharing"]) == (None, "NO")
    assert changes[5].old["citation"].endswith("Blood. 2003 Feb 1;101(3):992-7. Epub 2002 Sep 12.")
    assert changes[5].new["citation"].endswith("Blood. 2003 Feb 1;101(3):992-7.")


def test_nct00482794_rewrapped_criteria_text_is_not_a_change() -> None:
    # Raw files: <time_perspective>Other</time_perspective> appears, lastchanged_date → May
    # 18, 2017, and every text block is re-wrapped at a wider column; three citations are
    # edited back (see above).
    old, new = (_download("NCT00482794", d) for d in ("2017-01-18", "2017-08-08"))
    assert old.eligibility.criteria != new.eligibility.criteria
    assert _lines(diff_records(old, new)) == [
        "time_perspective (none) → OTHER",
        "last_update_submitted moved 2016-11-30 → 2017-05-18",
        "reference changed: Cervera R, Piette JC, Font J, Khamashta MA, Shoenfeld Y, Camps MT, "
        "Jacobsen S,… (citation)",
        "reference changed: Scofield RH, Bruner GR, Kelly JA, Kilpatrick J, Bacino D, Nath SK, "
        "Harley JB. T… (citation)",
        "reference changed: Kelly JA, Thompson K, Kilpatrick J, Lam T, Nath SK, Gray-McGuire C, "
        "Reid J, Nam… (citation)"]


def test_nct00482794_2018_download_drops_phase_na() -> None:
    # Raw files: <phase>N/A</phase> is gone, completion dates a year later, new last-update.
    changes = diff_records(_download("NCT00482794", "2017-10-20"),
                           _download("NCT00482794", "2018-05-11"))
    assert changes[0] == Change("phases", "removed", None, "NA", None)
    assert _lines(changes) == [
        "phase removed: NA",
        "primary_completion_date moved 2017-07 → 2018-07",
        "completion_date moved 2017-12 → 2018-12",
        "last_update_submitted moved 2017-05-18 → 2017-11-02",
        "last_update_posted moved 2017-05-19 → 2017-11-06"]


def test_nct01642004_arms_interventions_and_a_renamed_country() -> None:
    # Raw files, 2016-12-06 → 2017-08-08: dates gain days (start also its type), both arm
    # descriptions rewritten, Nivolumab gains arm label "Arm B: Docetaxel" (so arm B lists it
    # too), the Praha 8 site's country Czech Republic → Czechia, and the results re-posted.
    changes = diff_records(_download("NCT01642004", "2016-12-06"),
                           _download("NCT01642004", "2017-08-08"))
    assert _lines(changes) == [
        "start_date moved 2012-09 → 2012-10-16",
        "start_date_type (none) → ACTUAL",
        "primary_completion_date moved 2014-11 → 2014-11-17",
        "completion_date moved 2017-01 → 2018-01-23",
        "last_update_submitted moved 2016-03-16 → 2017-06-12",
        "arm changed: Arm A: Nivolumab (description)",
        "arm changed: Arm B: Docetaxel (description, interventions)",
        "intervention changed: BIOLOGICAL: Nivolumab (arm_labels)",
        "site changed: Local Institution, Praha 8 (country)",
        "results changed"]
    nivolumab = changes[7]
    assert (nivolumab.old["arm_labels"], nivolumab.new["arm_labels"]) == (
        ["Arm A: Nivolumab"], ["Arm A: Nivolumab", "Arm B: Docetaxel"])
    assert (changes[8].old["country"], changes[8].new["country"]) == ("Czech Republic",
                                                                      "Czechia")


def test_nct01642004_sites_renamed_and_matched_case_insensitively() -> None:
    # Raw files, 2017-08-08 → 2018-05-11: seven facilities renamed ("City Of Hope National
    # Medical Center" → "City Of Hope", …) or moved ("Mexico City" → a second "Mexico"),
    # "Tennessee Oncology, Pllc" → "PLLC" (same site), one site added, 105 → 106 sites.
    changes = diff_records(_download("NCT01642004", "2017-08-08"),
                           _download("NCT01642004", "2018-05-11"))
    sites = [c for c in changes if c.field == "locations"]
    assert Counter(c.kind for c in sites) == {"removed": 7, "changed": 4, "added": 8}
    assert "site changed: Tennessee Oncology, PLLC, Nashville (facility)" in _lines(sites)
    assert "site removed: City Of Hope National Medical Center, Duarte" in _lines(sites)
    assert "site added: City Of Hope, Duarte" in _lines(sites)
    assert Change("location_count", "changed", None, 105, 106) in changes
    # the see-also links were replaced too
    assert "link added: BMS Clinical Trial Patient Recruiting" in _lines(changes)
    assert "7 sites removed; 4 sites changed; 8 sites added" in summarise(changes, limit=20)


# --- edits -----------------------------------------------------------------------------------

def test_enrollment_estimate_becomes_actual() -> None:
    old = _veeva().model_copy(update={"enrollment": Enrollment(count=300, type="ESTIMATED")})
    new = _veeva().model_copy(update={"enrollment": Enrollment(count=281, type="ACTUAL")})
    (change,) = diff_records(old, new)
    assert change == Change("enrollment", "changed", None, {"count": 300, "type": "ESTIMATED"},
                            {"count": 281, "type": "ACTUAL"})
    assert change.describe() == "enrollment 300 ESTIMATED → 281 ACTUAL"
    # The Veeva page gives no type.
    (change,) = diff_records(_veeva(), new)
    assert change.describe() == "enrollment 281 (type not given) → 281 ACTUAL"


def test_site_added_and_another_removed() -> None:
    old = _download("NCT00482794", "2018-05-11")
    mayo = Location(facility="Mayo Clinic", city="Rochester", state="Minnesota",
                    country="United States", status="RECRUITING")
    new = old.model_copy(update={"locations": (mayo,)})
    duke = old.locations[0].model_dump(mode="json")
    assert diff_records(old, new) == [
        Change("locations", "removed", "Duke University Medical Center, Durham", duke, None),
        Change("locations", "added", "Mayo Clinic, Rochester", None, mayo.model_dump(mode="json")),
    ]
    assert summarise(diff_records(old, new)) == (
        "site removed: Duke University Medical Center, Durham; site added: Mayo Clinic, Rochester")


def test_site_without_facility_is_named_by_city_and_country() -> None:
    old = _veeva()
    new = old.model_copy(update={"locations": (Location(city="Izmir", country="Turkey"),)})
    assert _lines(diff_records(old, new)) == ["site added: Izmir, Turkey"]


def test_site_renamed_in_another_case_is_the_same_site() -> None:
    old = _download("NCT00482794", "2018-05-11")
    shouted = old.locations[0].model_copy(update={"facility": "DUKE UNIVERSITY MEDICAL CENTER"})
    new = old.model_copy(update={"locations": (shouted,)})
    assert _lines(diff_records(old, new)) == [
        "site changed: DUKE UNIVERSITY MEDICAL CENTER, Durham (facility)"]


def test_arm_description_changed() -> None:
    old = _veeva()
    arm_b = old.arms[1].model_copy(update={"description": "Primary surgery of the breast"})
    new = old.model_copy(update={"arms": (old.arms[0], arm_b)})
    (change,) = diff_records(old, new)
    assert change.describe() == "arm changed: B (description)"
    assert (change.key, change.old["description"], change.new["description"]) == (
        "B", "Surgery group", "Primary surgery of the breast")


def test_intervention_added() -> None:
    old = _veeva()
    letrozole = Intervention(type="DRUG", name="Letrozole", arm_labels=("A",))
    new = old.model_copy(update={"interventions": (*old.interventions, letrozole)})
    (change,) = diff_records(old, new)
    assert change == Change("interventions", "added", "DRUG: Letrozole", None,
                            letrozole.model_dump(mode="json"))
    assert change.describe() == "intervention added: DRUG: Letrozole"


def test_inclusion_criterion_removed_and_long_text_shortened() -> None:
    old = _download("NCT00482794", "2018-05-11")
    first, second, third = old.eligibility.inclusion
    with_age = old.model_copy(update={"eligibility": old.eligibility.model_copy(
        update={"inclusion": (*old.eligibility.inclusion, "Age >= 18")})})
    assert _lines(diff_records(with_age, old)) == ["inclusion criterion removed: Age >= 18"]

    fewer = old.model_copy(update={"eligibility": old.eligibility.model_copy(
        update={"inclusion": (first, second)})})
    (change,) = diff_records(old, fewer)
    assert (change.field, change.kind, change.key, change.old) == (
        "eligibility.inclusion", "removed", None, third)
    line = change.describe()
    assert line.startswith("inclusion criterion removed: People who have elevated")
    assert line.endswith("…") and len(line) <= len("inclusion criterion removed: ") + 80


def test_many_criteria_are_counted_in_the_summary() -> None:
    old = _download("NCT00482794", "2018-05-11")
    new = old.model_copy(update={"eligibility": Eligibility(criteria="None.")})
    assert summarise(diff_records(old, new)) == (
        "eligibility text changed; 3 inclusion criteria removed; exclusion criterion removed: "
        "No documented presence of antiphospholipid antibody; eligibility.sex ALL → (none)"
        "; +2 more")  # eligibility.healthy_volunteers False → (none), 2 age groups removed


def test_start_date_moved() -> None:
    old = _veeva().model_copy(update={"start_date": "2007-11"})
    new = old.model_copy(update={"start_date": "2007-12"})
    assert _lines(diff_records(old, new)) == ["start_date moved 2007-11 → 2007-12"]
    assert _lines(diff_records(_veeva(), old)) == ["start_date (none) → 2007-11"]


def test_duplicated_site_keys_are_counted_not_merged() -> None:
    # NCT06692738 lists six "Research Site, Lima" and five "Research Site, Beijing" (by zip).
    old = _one(FIXTURES / "ctgov-v2-json" / "studies" / "NCT06692738__partrita-tigit.json")
    sites = list(old.locations)
    lima = [i for i, s in enumerate(sites) if s.city == "Lima"]
    beijing = [i for i, s in enumerate(sites) if s.city == "Beijing"]
    assert (len(lima), len(beijing)) == (6, 5)
    gone = sites[lima[2]]
    sites[beijing[1]] = sites[beijing[1]].model_copy(update={"status": "RECRUITING"})
    del sites[lima[2]]
    changes = diff_records(old, old.model_copy(update={"locations": tuple(sites)}))
    assert [(c.kind, c.key) for c in changes] == [
        ("removed", "Research Site, Lima"), ("changed", "Research Site, Beijing")]
    assert changes[0].old["zip"] == gone.zip
    assert (changes[1].old["status"], changes[1].new["status"]) == ("WITHDRAWN", "RECRUITING")

    # A site listed once more is one site added; a whole Lima group that changed is not
    # paired up by guesswork.
    twice = old.model_copy(update={"locations": (*old.locations, old.locations[0])})
    assert [(c.kind, c.new) for c in diff_records(old, twice)] == [
        ("added", old.locations[0].model_dump(mode="json"))]
    closed = tuple(s.model_copy(update={"status": "COMPLETED"}) if s.city == "Lima" else s
                   for s in old.locations)
    changes = diff_records(old, old.model_copy(update={"locations": closed}))
    assert _kinds(changes) == {("locations", "removed"): 6, ("locations", "added"): 6}


def test_scalars_lists_and_sponsors() -> None:
    old = _veeva().model_copy(update={"overall_status": "RECRUITING",
                                      "lead_sponsor": Sponsor(name="Tata Memorial",
                                                              agency_class="OTHER")})
    new = old.model_copy(update={
        "overall_status": "COMPLETED", "conditions": (*old.conditions, "Breast Neoplasms"),
        "brief_summary": "Shorter.", "collaborators": (Sponsor(name="NCI", agency_class="NIH"),),
        "lead_sponsor": Sponsor(name="Tata Memorial", agency_class="INDUSTRY"),
        "eligibility": old.eligibility.model_copy(update={"sex": "ALL"}),
        "source": "ctgov-json", "version_holder": "2026-01-01"})
    assert _lines(diff_records(old, new)) == [
        "status RECRUITING → COMPLETED",
        "condition added: Breast Neoplasms",
        "eligibility.sex FEMALE → ALL",
        "lead_sponsor Tata Memorial (OTHER) → Tata Memorial (INDUSTRY)",
        "collaborator added: NCI",
        "brief_summary changed"]


def test_summary_of_a_typical_update() -> None:
    old = _snapshot("NCT06203210", "2026-02-04")
    new = old.model_copy(update={
        "overall_status": "RECRUITING",
        "eligibility": old.eligibility.model_copy(update={"criteria": "Rewritten."}),
        "locations": (*old.locations, Location(facility="A", city="B"),
                      Location(facility="C", city="D"))})
    changes = diff_records(old, new)
    assert summarise(changes) == (
        "status ACTIVE_NOT_RECRUITING → RECRUITING; eligibility text changed; 2 sites added")
    assert summarise(changes, limit=1) == "status ACTIVE_NOT_RECRUITING → RECRUITING; +2 more"
    assert summarise([]) == ""


def test_to_json_is_json_ready() -> None:
    old = _veeva()
    new = old.model_copy(update={"enrollment": Enrollment(count=300, type="ESTIMATED")})
    (change,) = diff_records(old, new)
    data = change.to_json()
    assert json.loads(json.dumps(data)) == data == {
        "field": "enrollment", "kind": "changed", "key": None,
        "old": {"count": 281, "type": None}, "new": {"count": 300, "type": "ESTIMATED"}}
    assert Change(**data) == change


# --- properties over every fixture record ------------------------------------------------------

def test_fixture_records_are_many() -> None:
    assert len(_all_records()) > 80


@pytest.mark.parametrize("index", range(len(_all_records())))
def test_a_record_does_not_differ_from_itself(index: int) -> None:
    record = _all_records()[index]
    assert diff_records(record, record) == []
    assert diff_records(record, TrialRecord.model_validate(record.to_json_dict())) == []


MIRROR: dict[Kind, Kind] = {"added": "removed", "removed": "added", "changed": "changed"}


def _mirrored(change: Change) -> str:
    mirror = Change(change.field, MIRROR[change.kind], change.key, change.new, change.old)
    return _canonical(mirror)


def _canonical(change: Change) -> str:
    data = change.to_json()
    # A "changed" item is named as the newer version spells it; both names match anyway.
    data["key"] = " ".join((change.key or "").split()).casefold()
    return json.dumps(data, sort_keys=True)


records = st.sampled_from(_all_records())


@settings(max_examples=150, deadline=None)
@given(records, records)
def test_diff_backwards_is_the_mirror_image(old: TrialRecord, new: TrialRecord) -> None:
    assert (Counter(map(_mirrored, diff_records(old, new)))
            == Counter(map(_canonical, diff_records(new, old))))


def _same_trial_pairs() -> list[tuple[int, int]]:
    by_trial: dict[str, list[int]] = {}
    for index, record in enumerate(_all_records()):
        by_trial.setdefault(record.nct_id, []).append(index)
    return [(a, b) for group in by_trial.values() for a in group for b in group if a != b]


@pytest.mark.parametrize(("a", "b"), _same_trial_pairs())
def test_versions_of_one_trial_mirror(a: int, b: int) -> None:
    # Real versions: API snapshots, XML re-downloads, and JSON vs XML of the same trial.
    old, new = _all_records()[a], _all_records()[b]
    assert (Counter(map(_mirrored, diff_records(old, new)))
            == Counter(map(_canonical, diff_records(new, old))))


def _shuffled(record: TrialRecord, rng: random.Random) -> TrialRecord:
    update: dict[str, Any] = {}
    for name, value in record:
        if isinstance(value, tuple):
            update[name] = tuple(rng.sample(value, len(value)))
    update["eligibility"] = record.eligibility.model_copy(update={
        name: tuple(rng.sample(value, len(value)))
        for name, value in record.eligibility if isinstance(value, tuple)})
    return record.model_copy(update=update)


@settings(max_examples=60, deadline=None)
@given(records, st.randoms(use_true_random=False))
def test_order_only_changes_are_not_changes(record: TrialRecord, rng: random.Random) -> None:
    assert diff_records(record, _shuffled(record, rng)) == []


def test_mesh_terms_are_matched_by_term() -> None:
    # Raw files: NCT00513591's condition MeSH terms gain Arthritis from June 2016 to January
    # 2017 and are reordered (nothing else in the record changes).
    changes = diff_records(_download("NCT00513591", "2016-06-27"),
                           _download("NCT00513591", "2017-01-18"))
    assert [c.describe() for c in changes] == ["condition MeSH term added: Arthritis"]
    # The API's records of 2023 padded MeSH ids to nine digits: D000003550 is D003550.
    (record,) = parse_bytes((FIXTURES / "ctgov-v2-json/studies/NCT00763412__aact.json")
                            .read_bytes())
    assert record.condition_mesh[0].id == "D000003550"
    short = record.model_copy(update={"condition_mesh": tuple(
        m.model_copy(update={"id": str(m.id)[0] + str(m.id)[4:]})
        for m in record.condition_mesh)})
    changes = diff_records(record, short)
    assert changes[0].describe() == "condition MeSH term changed: Cystic Fibrosis (id)"
    assert summarise(changes) == "6 condition MeSH terms changed"
