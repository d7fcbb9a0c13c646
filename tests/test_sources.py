"""``disagreements``: where another source of a trial differs from the record shown.

The real pair: NCT00557986 as the registry gives it (a partial API v2 record: enrollment 281
ACTUAL, phase NA, start 2007-11, no site list) and as the ClinicalTrials.Veeva mirror page
shows it (enrollment 281 without its type, no phase, no dates, a count of 7 sites).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harvester.catalogue import Catalogue, Incoming
from harvester.catalogue.diff import diff_records
from harvester.catalogue.sources import disagreements
from harvester.records import Arm, TrialRecord
from parsers import parse_bytes
from tests.conftest import FIXTURES

VEEVA = FIXTURES / "mirror-veeva/NCT00557986.txt"
CTGOV_PARTIAL = FIXTURES / "constructed/NCT00557986__ctgov-partial.json"


def record(path: Path) -> TrialRecord:
    (parsed,) = parse_bytes(path.read_bytes())
    return parsed


@pytest.fixture(scope="module")
def registry() -> TrialRecord:
    rec = record(CTGOV_PARTIAL)
    assert (rec.source, rec.enrollment and rec.enrollment.model_dump(mode="json")) == (
        "ctgov-json", {"count": 281, "type": "ACTUAL"})
    return rec


@pytest.fixture(scope="module")
def mirror() -> TrialRecord:
    rec = record(VEEVA)
    assert (rec.source, rec.enrollment and rec.enrollment.model_dump(mode="json")) == (
        "veeva", {"count": 281, "type": None})
    return rec


def described(registry: TrialRecord, other: TrialRecord) -> list[str]:
    return [c.describe() for c in disagreements(registry, other)]


def test_the_mirror_disagrees_only_where_it_gives_a_value(registry: TrialRecord,
                                                          mirror: TrialRecord) -> None:
    # every difference, silence included ...
    assert [(c.field, c.kind) for c in diff_records(registry, mirror)] == [
        ("phases", "removed"), ("enrollment", "changed"), ("start_date", "changed"),
        ("location_count", "changed")]
    # ... but the mirror gives no phase and no start date: only what it does give counts
    changes = disagreements(registry, mirror)
    assert [c.describe() for c in changes] == ["enrollment 281 ACTUAL → 281 (type not given)",
                                               "location_count 0 → 7"]
    assert changes[0].to_json() == {"field": "enrollment", "kind": "changed", "key": None,
                                    "old": {"count": 281, "type": "ACTUAL"},
                                    "new": {"count": 281, "type": None}}


def test_from_the_mirror_side_the_registry_gives_more(registry: TrialRecord,
                                                      mirror: TrialRecord) -> None:
    assert described(mirror, registry) == ["phase added: NA",
                                           "enrollment 281 (type not given) → 281 ACTUAL",
                                           "start_date (none) → 2007-11"]
    # the partial registry record lists no sites: its count of 0 is silence, not "7 → 0"


def test_agreement_is_an_empty_list(registry: TrialRecord, mirror: TrialRecord) -> None:
    assert disagreements(registry, registry) == []
    assert disagreements(mirror, mirror) == []
    # where a record came from is not what it says
    assert disagreements(registry, registry.model_copy(update={"source": "ctgov-xml"})) == []
    same_facts = mirror.model_copy(update={"enrollment": registry.enrollment,
                                           "location_count": 0})
    assert disagreements(registry, same_facts) == []


def test_results_a_mirror_does_not_show_are_silence(registry: TrialRecord,
                                                    mirror: TrialRecord) -> None:
    # A Veeva page has no results section, so its record always says has_results False.
    with_results = registry.model_copy(update={"has_results": True, "location_count": 7})
    assert "has_results" in {c.field for c in diff_records(with_results, mirror)}
    assert described(with_results, mirror) == ["enrollment 281 ACTUAL → 281 (type not given)"]
    # a source that does give results disagrees with one that has none
    assert described(registry, with_results) == ["location_count 0 → 7",
                                                 "has_results False → True"]


def test_values_given_differently_are_disagreements(registry: TrialRecord,
                                                    mirror: TrialRecord) -> None:
    eligibility = mirror.eligibility.model_copy(update={"criteria": None, "sex": "ALL"})
    other = mirror.model_copy(update={
        "overall_status": "TERMINATED", "brief_summary": None, "conditions": (),
        "eligibility": eligibility, "arms": mirror.arms[:1],
        "enrollment": registry.enrollment})
    # an empty summary, condition list or criteria text is silence; a different status or
    # sex, or fewer arms, is not
    assert described(registry, other) == ["status COMPLETED → TERMINATED",
                                          "arm removed: B", "eligibility.sex FEMALE → ALL",
                                          "location_count 0 → 7"]
    more_arms = mirror.model_copy(update={"arms": (*mirror.arms, Arm(label="C")),
                                          "enrollment": registry.enrollment})
    assert described(registry, more_arms) == ["arm added: C", "location_count 0 → 7"]


def test_on_records_read_back_from_the_catalogue(db_url: str, registry: TrialRecord,
                                                 mirror: TrialRecord) -> None:
    with Catalogue.open(db_url) as catalogue:
        for path in (CTGOV_PARTIAL, VEEVA):
            data = path.read_bytes()
            (rec,) = parse_bytes(data)
            catalogue.add([Incoming(rec, data, hashlib.sha256(data).hexdigest())])
        shown = catalogue.current("NCT00557986")
        assert shown is not None and shown.source == "ctgov-json"
        latest = catalogue.latest_by_source("NCT00557986")
        stored = catalogue.record(latest["veeva"].id)
        assert stored == mirror
        assert disagreements(catalogue.record(shown.id), stored) == disagreements(registry,
                                                                                  mirror)
