"""Where an export's records came from (``harvester/export/provenance.py``): the registry, the
server actually harvested, each saved query's equivalent searches and its last complete run
with the registry's count — synced from the loopback replica, read back from the log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from harvester.export.methods import summary_rows
from harvester.export.provenance import api_url, website_url
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import FIXTURES, trials
from tests.corpus import fixture_studies

TIMESTAMP = "2026-08-14T09:00:05"


def recruiting() -> set[str]:
    return {n for n, s in fixture_studies().items()
            if s["protocolSection"]["statusModule"]["overallStatus"] == "RECRUITING"}


@pytest.mark.parametrize(("params", "website"), [
    ({"query.cond": "lung cancer", "filter.overallStatus": "RECRUITING,NOT_YET_RECRUITING"},
     "https://clinicaltrials.gov/search?aggFilters=status:rec%20not&cond=lung%20cancer"),
    ({"query.term": "covid", "filter.advanced": "AREA[Phase]PHASE3"},
     "https://clinicaltrials.gov/search?term=%28covid%29%20AND%20%28AREA%5BPhase%5DPHASE3%29"),
    ({"query.locn": "Lyon"}, "https://clinicaltrials.gov/search?term=AREA%5BLocationSearch%5D%28Lyon%29"),
    ({"filter.ids": "NCT00000102,NCT00000104"},
     "https://clinicaltrials.gov/search?id=NCT00000102%20OR%20NCT00000104"),
    ({"filter.geo": "distance(1,2,3km)"}, None),  # no website equivalent here
])
def test_the_website_search_equivalent_to_api_parameters(
        params: dict[str, str], website: str | None) -> None:
    assert website_url(params) == website


def test_the_api_search_asks_for_the_total_count() -> None:
    assert api_url({"query.cond": "lung cancer", "filter.overallStatus": "RECRUITING"}) == (
        "https://clinicaltrials.gov/api/v2/studies?query.cond=lung%20cancer&"
        "filter.overallStatus=RECRUITING&countTotal=true")
    assert api_url({}, "http://127.0.0.1:8000/") == (
        "http://127.0.0.1:8000/api/v2/studies?countTotal=true")


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A catalogue synced from the replica: ``rec`` (full pass, then incremental) and a
    fetched study; with the replica's base URL."""
    url = f"sqlite:///{tmp_path_factory.mktemp('provenance') / 'c.sqlite'}"
    store = StudyStore.from_folder(FIXTURES / "ctgov-v2-json/studies", data_timestamp=TIMESTAMP)
    with ReplicaServer(store) as server:
        base = ("--base-url", server.base_url, "--min-interval", "0")
        for args in (("--status", "RECRUITING", "--save", "rec"), ("rec",)):
            result = trials(url, "sync", *args, *base, "--quiet")
            assert result.exit_code == 0, result.stderr
        fetched = trials(url, "fetch", "NCT00973089", *base)
        assert fetched.exit_code == 0, fetched.stderr
        yield url, server.base_url


def exported(url: str, folder: Path, log: str, *args: str) -> Any:
    result = trials(url, "export", "--format", "ris", "-o", folder / "x.ris", "--force",
                    "--log", folder / log, *args)
    assert result.exit_code == 0, result.stderr
    text = (folder / log).read_text()
    return json.loads(text)["search"] if log.endswith(".json") else text


def test_the_log_names_the_server_and_the_last_complete_runs(
        synced: tuple[str, str], tmp_path: Path) -> None:
    url, server = synced
    search = exported(url, tmp_path, "log.json", "--query", "rec")
    assert search["information_source"] == {
        "registry": "ClinicalTrials.gov",
        "sources": {"ClinicalTrials.gov API v2 study records (JSON)": len(recruiting())},
        "harvested_from": [{"base_url": server, "versions": len(recruiting())}],
        "imported_files": [], "other_versions": 0, "queries": ["rec"]}
    query = search["saved_query"]
    assert search["saved_queries"] == [query]
    assert query["parameters"] == {"filter.overallStatus": "RECRUITING"}
    assert query["website_url"] == "https://clinicaltrials.gov/search?aggFilters=status:rec"
    assert query["api_url"] == ("https://clinicaltrials.gov/api/v2/studies?"
                                "filter.overallStatus=RECRUITING&countTotal=true")
    assert query["harvested_url"] == (f"{server}/api/v2/studies?"
                                      "filter.overallStatus=RECRUITING&countTotal=true")
    last, full = query["last_complete"], query["last_full"]
    # Run 2, incremental: the registry counted the one study updated since the high-water
    # mark; run 1, the full pass: every recruiting study.
    assert (last["run"], last["mode"], last["since"], last["total_count"]) == (
        2, "incremental", "2026-02-24", 1)
    assert (full["run"], full["mode"], full["total_count"], full["received"]) == (
        1, "full", len(recruiting()), len(recruiting()))
    for run in (last, full):
        assert (run["base_url"], run["data_version"], run["status"]) == (server, TIMESTAMP,
                                                                        "ok")
        assert run["finished_at"].endswith("Z")
    assert search["registry_data_version"]["value"] == TIMESTAMP


def test_without_a_query_the_log_describes_the_queries_that_brought_the_records(
        synced: tuple[str, str], tmp_path: Path) -> None:
    url, server = synced
    search = exported(url, tmp_path, "log.json")
    # The fetched study came from the same server, through no saved query.
    assert search["information_source"]["harvested_from"] == [
        {"base_url": server, "versions": len(recruiting() | {"NCT00973089"})}]
    assert [q["name"] for q in search["saved_queries"]] == ["rec"]
    assert search["saved_query"] is None


def test_the_markdown_log_opens_with_a_methods_paragraph(
        synced: tuple[str, str], tmp_path: Path) -> None:
    url, server = synced
    text = exported(url, tmp_path, "log.md", "--query", "rec")
    paragraph = text.split("## Methods\n\n", 1)[1].split("\n", 1)[0]
    assert paragraph.startswith(
        "We searched ClinicalTrials.gov with the search status RECRUITING "
        "(saved as rec; website: https://clinicaltrials.gov/search?aggFilters=status:rec; "
        "API: https://clinicaltrials.gov/api/v2/studies?filter.overallStatus=RECRUITING&"
        "countTotal=true), last run completely on ")
    assert f"(the registry reported {len(recruiting())} studies on " in paragraph
    assert (f"The records (harvested through its API from {server}; registry data version "
            f"{TIMESTAMP}, API version ") in paragraph
    assert (f"{len(recruiting())} of its {len(recruiting()) + 1} trials were in the results "
            "of the saved search rec; no duplicate registration") in paragraph
    assert f"- Harvested from (base URL): {server} ({len(recruiting())} records)\n" in text
    assert "- Saved query rec: last complete run: " in text
    assert "- Saved query rec: last complete full pass: " in text
    assert "## Dates in this log\n\n- Date of export: " in text


def test_the_workbook_search_log_has_the_same_rows_with_human_labels(
        synced: tuple[str, str], tmp_path: Path) -> None:
    url, _ = synced
    log = tmp_path / "log.json"
    result = trials(url, "export", "-o", tmp_path / "x.xlsx", "--query", "rec", "--log", log)
    assert result.exit_code == 0, result.stderr
    sheet = openpyxl.load_workbook(tmp_path / "x.xlsx")["search log"]
    labels = [row[0].value for row in sheet.iter_rows(min_row=2)]
    expected = [label for label, _ in summary_rows(json.loads(log.read_text())["search"])]
    assert labels == expected
    assert labels[0] == "Methods paragraph"
    assert "Glossary: Registry date" in labels
    assert not [label for label in labels if "_" in label or "." in label]
