"""A saved query answered locally agrees with the registry (harvester/find/agreement.py).

The loopback replica of ClinicalTrials.gov serves the fixture studies (a copy of the shared
corpus); a dozen queries of each search area are synced and saved, then ``trials search
--query NAME`` must list exactly the trials the registry returned, and the difference to a
local search of the same parameters must be counted and named correctly.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvester.catalogue import Catalogue
from harvester.catalogue.selection import Selection, iter_selected
from harvester.find.agreement import compare_with_registry, local_selection
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import FIXTURES, trials

STUDIES = FIXTURES / "ctgov-v2-json/studies"

QUERIES: dict[str, list[str]] = {
    "cond": ["lung cancer", "small cell lung cancer", "non-small cell lung cancer", "asthma",
             "melanoma", "dermatitis", "breast cancer", "cancer", "covid-19", "diabetes",
             "pulmonary fibrosis", "leukemia"],
    "intr": ["nivolumab", "pembrolizumab", "placebo", "dupilumab", "docetaxel", "radiation",
             "chemotherapy", "vaccine", "surgery", "drug", "biological", "behavioral"],
    "titles": ["study", "phase", "trial", "cancer", "randomized", "safety", "efficacy",
               "patients", "nivolumab", "versus", "open-label", "lung"],
    "outc": ["survival", "overall survival", "adverse events", "response", "pain", "quality",
             "progression", "safety", "change", "rate", "time", "score"],
    "spons": ["pfizer", "university", "national cancer institute", "merck", "astrazeneca",
              "bristol", "sanofi", "regeneron", "hospital", "institute", "novartis",
              "genentech"],
    "locn": ["boston", "france", "united states", "japan", "california", "new york", "paris",
             "germany", "china", "texas", "london", "canada"],
    "term": ["tigit", "lung cancer", "asthma", "covid-19", "placebo", "children", "vaccine",
             "eczema", "fibrosis", "immunotherapy", "melanoma", "nsclc"],
}


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A catalogue holding every query of :data:`QUERIES` synced and saved, and the base URL
    of the replica that answered them."""
    folder: Path = tmp_path_factory.mktemp("agreement")
    db = f"sqlite:///{folder / 'catalogue.sqlite'}"
    with ReplicaServer(StudyStore.from_folder(STUDIES,
                                              data_timestamp="2026-08-14T09:00:05")) as server:
        for area, texts in QUERIES.items():
            for i, text in enumerate(texts):
                result = trials(db, "sync", "--base-url", server.base_url, "--min-interval",
                                "0", "--quiet", f"--{area}", text, "--save", f"{area}-{i}")
                assert result.exit_code == 0, result.stderr
        yield db, server.base_url


def registry_answer(base_url: str, area: str, text: str) -> set[str]:
    query = urllib.parse.urlencode({f"query.{area}": text, "fields": "NCTId",
                                    "pageSize": "1000"})
    with urllib.request.urlopen(f"{base_url}/api/v2/studies?{query}") as response:
        page = json.load(response)
    return {s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]}


@pytest.mark.parametrize("area", list(QUERIES))
def test_a_saved_query_lists_exactly_what_the_registry_returned(
        synced: tuple[str, str], area: str) -> None:
    db, base_url = synced
    differing = 0
    with Catalogue.open(db) as catalogue:
        for i, text in enumerate(QUERIES[area]):
            name = f"{area}-{i}"
            expected = registry_answer(base_url, area, text)
            found = json.loads(trials(db, "search", "--query", name, "--all",
                                      "--format", "json").stdout)
            assert {h["nct_id"] for h in found["hits"]} == expected, name
            agreement = compare_with_registry(catalogue, name)
            assert agreement.registry == expected
            # the local search of the same parameters, by hand
            local, _ = local_selection({f"query.{area}": text})
            with catalogue.engine.connect() as conn:
                by_hand = {n for n, _ in iter_selected(conn, local)}
            assert agreement.local == by_hand
            assert agreement.only_registry == sorted(expected - by_hand)
            assert agreement.only_local == sorted(by_hand - expected)
            differing += agreement.local != agreement.registry
            assert found["registry_agreement"]["not_found_locally"] == agreement.only_registry
    print(f"{area}: {differing} of {len(QUERIES[area])} queries differ locally")


def test_the_hyphen_rule_is_a_named_difference(synced: tuple[str, str]) -> None:
    """The replica (like the registry's word matching) finds non-small-cell trials for
    "small cell lung cancer"; the local search does not, and says so."""
    db, _ = synced
    with Catalogue.open(db) as catalogue:
        agreement = compare_with_registry(catalogue, "cond-1")
        assert agreement.local is not None and agreement.only_registry
        records = {n: catalogue.record(catalogue.current(n).id)  # type: ignore[union-attr]
                   for n in agreement.only_registry}
    assert all(any("non" in c.lower() for c in r.conditions) for r in records.values())
    result = trials(db, "search", "--query", "cond-1")
    assert "not found by a local search of the same parameters" in result.stderr
    assert "local catalogue, registry data as of" in result.stderr


def test_parameters_a_local_search_cannot_replay_are_named() -> None:
    selection, other = local_selection({"query.cond": "asthma",
                                        "filter.advanced": "AREA[Phase]PHASE3",
                                        "filter.overallStatus": "RECRUITING"})
    assert selection == Selection(areas=(("cond", "asthma"),), statuses=("RECRUITING",))
    assert other == ("filter.advanced",)
