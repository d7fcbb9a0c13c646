"""The search log (``harvester/export/log.py``): what was searched, when, from which data, the
counts before and after the filters, and the exact version of every trial exported — in
each of its three file formats."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from harvester import __version__
from harvester.catalogue import Catalogue
from harvester.catalogue.selection import Selection
from harvester.catalogue.syncstate import save_snapshot
from harvester.export.base import iter_items
from harvester.export.log import VERSION_FIELDS, SearchLog, version_fields
from tests.conftest import FIXTURES, trials
from tests.exportdata import HISTORY_TRIAL, Current, build, current, deduplicated, shared

ARGS = ("--format", "csv", "--status", "COMPLETED", "--has-results")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def now(db: str) -> dict[str, Current]:
    return current(db)


@pytest.fixture(scope="module")
def chosen(now: dict[str, Current]) -> list[str]:
    return deduplicated(n for n, c in now.items()
                        if c.record["overall_status"] == "COMPLETED" and c.record["has_results"])


def logged(db: str, tmp_path: Path, name: str, *args: str) -> str:
    log = tmp_path / name
    result = trials(db, "export", *(args or ARGS), "-o", tmp_path / "out", "--log", log)
    assert result.exit_code == 0, result.stderr
    return log.read_text()


def test_a_json_log_holds_the_search_and_every_version(
        db: str, now: dict[str, Current], chosen: list[str], tmp_path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    log = json.loads(logged(db, tmp_path, "log.json"))
    search = log["search"]
    assert search["tool"] == "trial-harvester" and search["tool_version"] == __version__
    assert before <= datetime.fromisoformat(search["created_at"]) <= datetime.now(UTC)
    assert search["created_at"].endswith("Z")
    assert search["command"] == (f"trials export --format csv -o {tmp_path / 'out'} "
                                 f"--log {tmp_path / 'log.json'} --status COMPLETED "
                                 "--has-results")
    assert search["selection"] == {"statuses": ["COMPLETED"], "has_results": True}
    assert search["saved_query"] is None
    assert search["catalogue"] == db
    assert search["counts"] == {"catalogue": len(now), "selected": len(chosen),
                                "duplicates_removed": 0, "deduplicated": len(chosen),
                                "exported": len(chosen), "missing_ids": []}
    assert search["deduplication"] == {"enabled": True, "removed": 0, "groups": []}
    assert search["information_source"]["registry"] == "ClinicalTrials.gov"
    assert search["saved_queries"] == []  # imported from files, no sync
    assert "Registry date" in search["glossary"]
    assert (search["format"], search["output"]) == ("csv", str(tmp_path / "out"))
    assert [v["nct_id"] for v in log["versions"]] == chosen
    with Catalogue.open(db) as catalogue:
        for v in log["versions"]:
            assert list(v) == list(VERSION_FIELDS)
            info = catalogue.current(v["nct_id"])
            assert info is not None
            assert v == {"nct_id": info.nct_id, "version": info.number, "version_id": info.id,
                         "source": info.source, "registry_date": info.registry_date,
                         "registry_version": info.registry_version,
                         "content_hash": info.content_hash,
                         "seen_at": info.seen_at.astimezone(UTC).isoformat().replace(
                             "+00:00", "Z"),
                         "version_url": f"https://clinicaltrials.gov/study/{info.nct_id}"
                                        "?tab=history" + (
                                            f"&a={int(info.registry_version) + 1}"
                                            if (info.registry_version or "").isdigit()
                                            else "")}


def test_a_jsonl_log_has_the_search_first_then_a_line_per_version(
        db: str, chosen: list[str], tmp_path: Path) -> None:
    first, *versions = (json.loads(line) for line in
                        logged(db, tmp_path, "log.jsonl").splitlines())
    whole = json.loads(logged(db, tmp_path, "log.json", *ARGS, "--force"))
    assert {k: v for k, v in first.items() if k not in ("created_at", "command")} == {
        k: v for k, v in whole["search"].items() if k not in ("created_at", "command")}
    assert versions == whole["versions"]
    assert [v["nct_id"] for v in versions] == chosen


def test_a_markdown_log_reads_as_a_methods_section(
        db: str, now: dict[str, Current], chosen: list[str], tmp_path: Path) -> None:
    text = logged(db, tmp_path, "search-log.md")
    assert text.startswith("# Search log: trials export\n\n## Methods\n\nRecords of "
                           "ClinicalTrials.gov (imported from ")
    assert (f"{len(chosen)} of its {len(now)} trials matched the filters applied locally "
            "(status: COMPLETED; has results: True); no duplicate registration") in text
    assert "\n## Search\n\n- Date of export: " in text
    assert "- Filters applied locally: status: COMPLETED; has results: True\n" in text
    assert f"- Trials in the catalogue: {len(now)}\n" in text
    assert f"- Selected by the filters: {len(chosen)}\n" in text
    assert f"- Exported: {len(chosen)} (csv, to {tmp_path / 'out'})\n" in text
    rows = [line for line in text.splitlines() if re.match(r"\| NCT\d{8} \|", line)]
    assert [row.split(" | ")[0].removeprefix("| ") for row in rows] == chosen
    for row in rows:
        nct_id, number, *_, sha, url = row.strip("| ").split(" | ")
        assert (number, sha) == (str(now[nct_id].number), now[nct_id].content_hash)
        assert url == f"https://clinicaltrials.gov/study/{nct_id}?tab=history"


def test_as_of_counts_the_catalogue_as_it_stood(db: str, tmp_path: Path) -> None:
    log = json.loads(logged(db, tmp_path, "log.json", "--format", "ris", "--as-of",
                            "2026-02-01", "--ids", f"{HISTORY_TRIAL},NCT03418623"))
    assert log["search"]["counts"]["catalogue"] == len(current(db, date(2026, 2, 1)))
    assert log["search"]["selection"] == {"ids": ["NCT06203210", "NCT03418623"],
                                          "as_of": "2026-02-01"}
    pinned = {v["nct_id"]: v["version"] for v in log["versions"]}
    assert pinned[HISTORY_TRIAL] == 1


def _log(url: str, **kwargs: Any) -> SearchLog:
    with Catalogue.open(url) as catalogue:
        log = SearchLog.for_selection(catalogue, Selection(), fmt="ris", **kwargs)
        with catalogue.engine.connect() as conn:
            for item in iter_items(conn, Selection()):
                log.add(item)
    return log


def test_the_registry_data_version_and_where_it_comes_from(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'small.sqlite'}"
    build(url, *sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT*__vh*.json")))
    with Catalogue.open(url) as catalogue:
        holders = {v.registry_version for n in catalogue.trial_ids()
                   for v in [catalogue.current(n)] if v}
    # No sync yet: the newest versionHolder of the records exported (both trials' newest).
    assert _log(url).summary()["registry_data_version"] == {
        "value": max(h for h in holders if h), "api_version": None,
        "basis": "the newest versionHolder among the exported records"}
    with Catalogue.open(url) as catalogue:
        save_snapshot(catalogue, "version", "2026-08-14T09:00:05",
                      '{"apiVersion": "2.0.5", "dataTimestamp": "2026-08-14T09:00:05"}')
    assert _log(url).summary()["registry_data_version"] == {
        "value": "2026-08-14T09:00:05", "api_version": "2.0.5",
        "basis": "the API's /version at the catalogue's last sync"}


def test_the_date_comes_from_the_clock_and_the_counts_from_what_was_added(db: str) -> None:
    log = _log(db, clock=lambda: datetime(2026, 8, 14, 9, 0, 5, 123, tzinfo=UTC),
               output="x.ris", command="trials export -o x.ris")
    summary = log.summary()
    assert summary["created_at"] == "2026-08-14T09:00:05Z"
    assert summary["counts"]["exported"] == summary["counts"]["selected"] == log.exported
    assert (summary["output"], summary["command"]) == ("x.ris", "trials export -o x.ris")


def test_version_fields_are_aware_utc_times_and_registry_numbers(db: str) -> None:
    with Catalogue.open(db) as catalogue, catalogue.engine.connect() as conn:
        item = next(iter_items(conn, Selection(ids=(HISTORY_TRIAL,))))
    fields = version_fields(item)
    assert fields["seen_at"].tzinfo is UTC
    assert fields["version"] == 3
    # Not fetched from the record history: the registry's number is unknown, so the link is
    # to the history list rather than to a guessed version.
    assert fields["version_url"] == f"https://clinicaltrials.gov/study/{HISTORY_TRIAL}?tab=history"
