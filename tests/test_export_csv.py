"""The CSV export (``harvester/export/csvfile.py``), read back with Python's ``csv`` module:
exactly the record's values, cells that cannot run anything, and the ``--long`` tables."""

from __future__ import annotations

import copy
import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from harvester.export.base import EXCEL_CELL_LIMIT, TRUNCATION_MARKER
from harvester.export.csvfile import TRIAL_HEADER
from harvester.export.rows import split_values
from tests.conftest import FIXTURES, trials
from tests.corpus import fixture_studies
from tests.exportdata import (
    EVERY_RECORD,
    Current,
    build,
    current,
    file_outcomes,
    file_results,
    shared,
)

STUDY = FIXTURES / "ctgov-v2-json/studies/NCT00973089__aact.json"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def now(db: str) -> dict[str, Current]:
    return current(db)


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def export_csv(db: str, *args: str | Path) -> bytes:
    result = trials(db, "export", "--format", "csv", EVERY_RECORD, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout_bytes


def test_utf8_with_a_bom_crlf_rows_and_the_header(db: str) -> None:
    data = export_csv(db)
    assert data.startswith(b"\xef\xbb\xbfnct_id,source,brief_title,")
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    assert tuple(next(reader)) == TRIAL_HEADER
    # Every record ends in CRLF; a line break inside a quoted cell is the text's own.
    assert data.endswith(b"\r\n") and data.count(b"\r\n") >= len(list(reader)) + 1


def test_every_value_is_the_records(db: str, now: dict[str, Current]) -> None:
    checked = 0
    for row in rows(export_csv(db)):
        r = now[row["nct_id"]].record
        assert row["source"] == r["source"]
        for key in ("brief_title", "official_title", "acronym", "overall_status",
                    "study_type", "start_date", "first_posted", "last_update_posted",
                    "brief_summary"):
            assert row[key] == (r[key] or ""), key
        assert split_values(row["phases"]) == r["phases"]
        assert split_values(row["conditions"]) == r["conditions"]
        assert split_values(row["keywords"]) == r["keywords"]
        assert split_values(row["secondary_ids"]) == r["secondary_ids"]
        assert split_values(row["collaborators"]) == [c["name"] for c in r["collaborators"]]
        assert row["lead_sponsor"] == (r["lead_sponsor"]["name"] if r["lead_sponsor"] else "")
        enrollment = r["enrollment"]["count"] if r["enrollment"] else None
        assert row["enrollment"] == ("" if enrollment is None else str(enrollment))
        assert row["has_results"] == ("true" if r["has_results"] else "false")
        assert split_values(row["countries"]) == list(dict.fromkeys(
            s["country"] for s in r["locations"] if s["country"]))
        assert row["location_count"] == str(r["location_count"])
        assert row["url"] == f"https://clinicaltrials.gov/study/{r['nct_id']}"
        checked += 1
    assert checked == len(now)


@pytest.fixture
def hostile(tmp_path: Path) -> str:
    """A catalogue of one real study whose texts were made hostile."""
    study = json.loads(STUDY.read_bytes())
    ident = study["protocolSection"]["identificationModule"]
    ident["briefTitle"] = '=HYPERLINK("http://example.org/x","Click me")'
    ident["officialTitle"] = "+1+2"
    ident["acronym"] = "@SUM(A1)"
    study["protocolSection"]["conditionsModule"]["conditions"] = [
        "-2+3", "Lung | Cancer", "C:\\temp"]
    study["protocolSection"]["descriptionModule"]["briefSummary"] = (
        "Bell\u0007 and escape\u001b[31m red\nnext line")
    longer = copy.deepcopy(study)
    longer["protocolSection"]["identificationModule"]["nctId"] = "NCT99999998"
    longer["protocolSection"]["descriptionModule"]["briefSummary"] = "word " * 8000
    for name, payload in (("hostile.json", study), ("long.json", longer)):
        (tmp_path / name).write_text(json.dumps(payload))
    url = f"sqlite:///{tmp_path / 'hostile.sqlite'}"
    build(url, tmp_path / "hostile.json", tmp_path / "long.json")
    return url


def test_formula_cells_are_neutralised_and_control_characters_removed(hostile: str) -> None:
    first, second = rows(export_csv(hostile))
    assert first["brief_title"] == "'=HYPERLINK(\"http://example.org/x\",\"Click me\")"
    assert first["official_title"] == "'+1+2"
    assert first["acronym"] == "'@SUM(A1)"
    assert split_values(first["conditions"]) == ["'-2+3", "Lung | Cancer", "C:\\temp"]
    # (the parser made the one line break a paragraph break: plain text, parsers/_text.py)
    assert first["brief_summary"] == "Bell and escape[31m red\n\nnext line"
    summary = second["brief_summary"]
    assert len(summary) == EXCEL_CELL_LIMIT and summary.endswith(TRUNCATION_MARKER)
    assert ("word " * 8000).startswith(summary.removesuffix(TRUNCATION_MARKER))


def _long(db: str, tmp_path: Path, *args: str) -> dict[str, list[dict[str, str]]]:
    out = tmp_path / "tables.zip"
    result = trials(db, "export", "--format", "csv", "--long", "-o", out, EVERY_RECORD, *args)
    assert result.exit_code == 0, result.stderr
    with zipfile.ZipFile(out) as zf:
        return {name.removesuffix(".csv"): rows(zf.read(name)) for name in zf.namelist()}


def test_long_tables_hold_every_child_row_keyed_by_nct_id(
        db: str, now: dict[str, Current], tmp_path: Path) -> None:
    tables = _long(db, tmp_path)
    assert [row["nct_id"] for row in tables["trials"]] == sorted(now)

    def of(table: str, nct_id: str) -> list[dict[str, str]]:
        return [row for row in tables[table] if row["nct_id"] == nct_id]

    for nct_id, c in now.items():
        r: dict[str, Any] = c.record
        arms = of("arms", nct_id)
        assert [(a["position"], a["label"]) for a in arms] == [
            (str(n), arm["label"]) for n, arm in enumerate(r["arms"], 1)]
        assert [i["name"] for i in of("interventions", nct_id)] == [
            i["name"] for i in r["interventions"]]
        assert [(t["kind"], t["term"]) for t in of("conditions", nct_id)] == [
            *(("condition", t) for t in r["conditions"]),
            *(("keyword", t) for t in r["keywords"])]
        sites = of("sites", nct_id)
        assert [s["facility"] for s in sites] == [s["facility"] or "" for s in r["locations"]]
        assert [s["lon"] for s in sites] == [
            "" if s["lon"] is None else str(s["lon"]) for s in r["locations"]]
        assert [(x["kind"], x["text"]) for x in of("criteria", nct_id)] == [
            *(("inclusion", t) for t in r["eligibility"]["inclusion"]),
            *(("exclusion", t) for t in r["eligibility"]["exclusion"])]
    # Negative longitudes are numbers, not formulas to neutralise.
    assert any(s["lon"].startswith("-") for s in tables["sites"])


def test_outcomes_are_a_long_table_and_joined_columns(
        db: str, now: dict[str, Current], tmp_path: Path) -> None:
    tables = _long(db, tmp_path)
    trial_rows = {row["nct_id"]: row for row in tables["trials"]}
    outcomes: dict[str, list[dict[str, str]]] = {}
    for row in tables["outcomes"]:
        outcomes.setdefault(row["nct_id"], []).append(row)
    # Every record's outcome measures, whole, in its order.
    for nct_id, c in now.items():
        want = c.record["outcomes"]
        got = outcomes.get(nct_id, [])
        assert [(o["kind"], o["title"], o["description"], o["time_frame"]) for o in got] == [
            (o["kind"], o["title"] or "", o["description"] or "", o["time_frame"] or "")
            for o in want]
        row = trial_rows[nct_id]
        for kind, column in (("PRIMARY", "primary_outcomes"),
                             ("SECONDARY", "secondary_outcomes")):
            assert split_values(row[column]) == [
                o["title"] for o in want if o["kind"] == kind and o["title"]]
    # Read by hand from registry files: positions count within each kind; results overview.
    studies = fixture_studies()
    for nct_id in ("NCT02210780", "NCT02552212", "NCT00973089", "NCT05064306"):
        assert [(int(o["position"]), o["kind"], o["title"], o["time_frame"] or None)
                for o in outcomes.get(nct_id, [])] == file_outcomes(studies[nct_id])
        row = trial_rows[nct_id]
        assert {name: row[name] for name in file_results(studies[nct_id])} == {
            name: "" if value is None else str(value)
            for name, value in file_results(studies[nct_id]).items()}
    assert trial_rows["NCT02210780"]["participants_started"] == "194"
    assert any(o["kind"] == "SECONDARY" for o in tables["outcomes"])
