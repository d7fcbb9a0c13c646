"""harvester/find/similar/duplicates.py: registry ids and the same-trial rules."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import pytest

from harvester.find.similar import duplicates as dup
from harvester.find.similar.features import Features, features
from harvester.records import TrialRecord
from parsers import parse_bytes
from tests.conftest import FIXTURES

SERVIER = "ctgov-xml/NCT03494712__aact.xml"
SECOND = "constructed/NCT99000001__second-registration.json"
GADOQUATRANE = "ctgov-v2-json/website-download/dgg32__ctg-studies.json"


@lru_cache
def parsed(name: str) -> tuple[TrialRecord, ...]:
    return tuple(parse_bytes((FIXTURES / name).read_bytes()))


def one(name: str, nct_id: str | None = None) -> Features:
    found = [r for r in parsed(name) if nct_id is None or r.nct_id == nct_id]
    return features(found[0])


def changed(name: str, **values: Any) -> Features:
    """A fixture record with some fields replaced (through the record's JSON)."""
    data = parsed(name)[0].to_json_dict()
    data.update(values)
    return features(TrialRecord.model_validate_json(json.dumps(data)))


@pytest.mark.parametrize(("value", "ids"), [
    ("2015-001234-12", ["EudraCT:2015-001234-12"]),
    ("EudraCT 2015-001234-12-DE", ["EudraCT:2015-001234-12"]),
    ("2023-501234-12-00", ["EUCT:2023-501234-12-00"]),  # not also a EudraCT number
    ("ISRCTN 12345678", ["ISRCTN:ISRCTN12345678"]),
    ("ChiCTR-IOR-17011234", ["ChiCTR:CHICTRIOR17011234"]),
    ("CTRI/2020/05/025123", ["CTRI:CTRI202005025123"]),
    ("jRCT2031230631", ["jRCT:JRCT2031230631"]),
    ("DRKS00012345; ACTRN12615000123456", ["DRKS:DRKS00012345", "ACTRN:ACTRN12615000123456"]),
    ("NCI-2015-00054", ["CTRP:NCI-2015-00054"]),
    ("nct00201097", ["NCT00201097"]),
    ("R01HL044253", []),  # an NIH grant: many trials share one
    ("2031230631", []),  # bare digits
    ("CA209-017", []),  # a sponsor's protocol number (see sponsor_protocol)
])
def test_registry_ids_are_recognised_and_normalised(value: str, ids: list[str]) -> None:
    assert dup.registry_id(value) == ids


def test_a_shared_registry_id_is_the_same_trial() -> None:
    servier, second = one(SERVIER), one(SECOND)
    assert dup.same_trial(servier, second) == ("both name EudraCT 2017-004180-12",)
    assert dup.same_trial(second, servier) == ("both name EudraCT 2017-004180-12",)


def test_naming_the_other_nct_id_is_the_same_trial() -> None:
    servier = one(SERVIER)
    alias = changed(SECOND, secondary_ids=["NCT03494712"])
    assert "NCT99000001 lists NCT03494712 among its ids" in dup.same_trial(servier, alias)
    assert "NCT03494712 lists NCT99000001 among its ids" not in dup.same_trial(servier, alias)


def test_a_near_identical_title_from_the_same_sponsor() -> None:
    servier = one(SERVIER)
    copy = changed(SERVIER, nct_id="NCT99000002", secondary_ids=[], org_study_id=None,
                   brief_title="Safety of a Single Intravenous Administration of S95010 "
                               "in Human Healthy Volunteers")
    (reason,) = dup.same_trial(servier, copy)
    assert reason.startswith("near-identical title (") and "Servier" in reason
    other_sponsor = changed(SERVIER, nct_id="NCT99000002", secondary_ids=[],
                            lead_sponsor={"name": "SGS Clinical Pharmacology Unit"})
    assert dup.same_trial(servier, other_sponsor) == ()


def test_sister_protocols_are_not_the_same_trial() -> None:
    # Bayer's gadoquatrane phase 3 protocols: titles a word apart, one sponsor, but each its
    # own EU CT number.
    cns = one(GADOQUATRANE, "NCT05915702")
    body = one(GADOQUATRANE, "NCT05915728")
    assert cns.sponsor == body.sponsor and dup.title_likeness(cns, body) >= dup.TITLE_JACCARD
    assert dup.conflicting_ids(cns, body)
    assert dup.same_trial(cns, body) == ()


def test_different_trials_are_not_the_same_trial() -> None:
    assert dup.same_trial(one(SERVIER),
                          one("ctgov-v2-json/studies/NCT06692738__partrita-tigit.json")) == ()


def test_sponsor_protocol_ids() -> None:
    checkmate = parsed("ctgov-xml/NCT01642004__aact.xml")[0]
    assert dup.sponsor_protocol(checkmate) == "bristol myers squibb|CA209017"
    grant = parsed("ctgov-v2-json/studies/NCT02299791__aact.json")[0]  # 1R18HL095481-01A1
    assert dup.sponsor_protocol(grant) is None
