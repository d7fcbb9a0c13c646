"""The JSON Lines export (``harvester/export/jsonl.py``): each line is the record as ``trials
show --format json`` prints it, and ``trials import`` reads the file back into the same
records (same content hash, same source)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import msgspec
import pytest

from harvester.catalogue import Catalogue
from tests.conftest import trials
from tests.corpus import fixture_studies
from tests.exportdata import (
    EVERY_RECORD,
    HISTORY_TRIAL,
    Current,
    build,
    current,
    file_outcomes,
    file_results,
    shared,
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def now(db: str) -> dict[str, Current]:
    return current(db)


def export_jsonl(db: str, *args: str | Path) -> bytes:
    result = trials(db, "export", "--format", "jsonl", EVERY_RECORD, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def test_each_line_is_what_trials_show_prints(db: str, now: dict[str, Current]) -> None:
    lines = export_jsonl(db).split(b"\n")
    assert lines.pop() == b""  # every line ends with a newline
    assert len(lines) == len(now)
    for line in lines:
        nct_id = json.loads(line)["nct_id"]
        shown = trials(db, "show", nct_id, "--format", "json")
        assert line == msgspec.json.encode(json.loads(shown.stdout))


def test_outcomes_and_results_are_in_each_line_whole(db: str) -> None:
    lines = {json.loads(line)["nct_id"]: json.loads(line)
             for line in export_jsonl(db).splitlines()}
    studies = fixture_studies()
    for nct_id in ("NCT02210780", "NCT00763412"):
        record, study = lines[nct_id], studies[nct_id]
        positions: dict[str, int] = {}
        got = []
        for o in record["outcomes"]:
            positions[o["kind"]] = positions.get(o["kind"], 0) + 1
            got.append((positions[o["kind"]], o["kind"], o["title"], o["time_frame"]))
        assert got == file_outcomes(study)
        module = study["protocolSection"]["outcomesModule"]
        described = [bool(o.get("description")) for key in ("primaryOutcomes",
                     "secondaryOutcomes", "otherOutcomes") for o in module.get(key, [])]
        assert [bool(o["description"]) for o in record["outcomes"]] == described
        assert any(described)
        results = study["resultsSection"]
        assert len(record["results"]["outcome_measures"]) == len(
            results["outcomeMeasuresModule"]["outcomeMeasures"]) == file_results(study)[
            "reported_outcomes"]
        assert [g["id"] for g in record["results"]["adverse_events"]] == [
            g["id"] for g in results["adverseEventsModule"]["eventGroups"]]


def test_as_of_lines_are_the_old_versions(db: str) -> None:
    line = export_jsonl(db, "--ids", HISTORY_TRIAL, "--as-of", "2026-02-01")
    shown = trials(db, "show", HISTORY_TRIAL, "--as-of", "2026-02-01", "--format", "json")
    assert line == msgspec.json.encode(json.loads(shown.stdout)) + b"\n"
    assert json.loads(line)["overall_status"] == "ACTIVE_NOT_RECRUITING"


def test_a_round_trip_through_trials_import_gives_the_same_records(
        db: str, now: dict[str, Current], tmp_path: Path) -> None:
    exported = tmp_path / "catalogue.jsonl"
    assert trials(db, "export", "-o", exported, EVERY_RECORD).exit_code == 0
    again = f"sqlite:///{tmp_path / 'again.sqlite'}"
    build(again, exported)
    back = current(again)
    assert sorted(back) == sorted(now)
    for nct_id, c in now.items():
        assert back[nct_id].record == c.record
        assert (back[nct_id].content_hash, back[nct_id].source) == (c.content_hash, c.source)
    assert {c.source for c in back.values()} == {"ctgov-json", "ctgov-xml"}
    # Importing the same file again adds nothing; re-deriving the records changes none.
    assert "0 new, 0 changed" in trials(again, "import", exported).stdout
    assert "0 version(s) re-derived" in trials(again, "reparse", "--all").stdout


def test_every_source_survives_the_round_trip(db: str, tmp_path: Path) -> None:
    """The Veeva mirror's version (not the current one of its trial) comes back as Veeva."""
    with Catalogue.open(db) as catalogue:
        veeva = next(v for n in catalogue.trial_ids() for v in catalogue.versions(n)
                     if v.source == "veeva")
        record = catalogue.record(veeva.id)
    exported = tmp_path / "veeva.jsonl"
    exported.write_bytes(msgspec.json.encode(record.to_json_dict()) + b"\n")
    again = f"sqlite:///{tmp_path / 'again.sqlite'}"
    build(again, exported)
    with Catalogue.open(again) as catalogue:
        (info,) = catalogue.versions(record.nct_id)
        assert (info.source, info.content_hash) == ("veeva", veeva.content_hash)
        assert catalogue.record(info.id) == record


def test_import_also_reads_a_record_from_trials_show_and_an_array_from_trials_parse(
        db: str, now: dict[str, Current], tmp_path: Path) -> None:
    shown = tmp_path / "one.json"
    shown.write_text(trials(db, "show", HISTORY_TRIAL, "--format", "json").stdout)
    array = tmp_path / "two.json"
    array.write_text(json.dumps([now["NCT00557986"].record, now["NCT03418623"].record],
                                indent=2))
    again = f"sqlite:///{tmp_path / 'again.sqlite'}"
    build(again, shown, array)
    back = current(again)
    assert sorted(back) == ["NCT00557986", "NCT03418623", HISTORY_TRIAL]
    assert all(back[n].content_hash == now[n].content_hash for n in back)


def test_a_broken_line_is_reported_and_the_others_imported(
        db: str, now: dict[str, Current], tmp_path: Path) -> None:
    lines = export_jsonl(db, "--ids", "NCT00557986,NCT03418623").splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(lines[0] + b"\n" + lines[1][:40] + b"\n")
    again = f"sqlite:///{tmp_path / 'again.sqlite'}"
    result = trials(again, "import", broken)
    assert result.exit_code == 1
    assert "broken.jsonl: line 2:" in result.stderr
    assert sorted(current(again)) == ["NCT00557986"]
    assert current(again, date(2100, 1, 1))["NCT00557986"].content_hash == now[
        "NCT00557986"].content_hash
