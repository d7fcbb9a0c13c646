"""The Excel export, read back with openpyxl: sheets, header, types, safe text, search log."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from openpyxl.worksheet.worksheet import Worksheet

from harvester.catalogue.selection import Selection
from harvester.export import xlsx
from harvester.export.base import EXCEL_CELL_LIMIT, TRUNCATION_MARKER, ExportItem
from harvester.export.log import SearchLog, summary_rows, version_fields
from harvester.export.rows import CHILD_TABLES, TRIAL_COLUMNS
from harvester.export.xlsx import XlsxExporter
from harvester.records import TrialRecord
from tests.conftest import FIXTURES, trials
from tests.corpus import fixture_studies
from tests.exportdata import file_outcomes, file_results, selected_items, write_with

HISTORY = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT06203210__vh*.json"))
FORMULA_ID, EMOJI_ID = "NCT99000001", "NCT99000002"
FORMULA_TITLE = '=HYPERLINK("https://example.org","click")'


def constructed(folder: Path) -> list[Path]:
    """Two real records made hostile: formula-like and control-character text, an error
    code, a summary over Excel's limit, and one that passes it only in UTF-16 units."""
    base = json.loads((FIXTURES / "ctgov-v2-json/studies/NCT03418623__aact.json").read_text())
    paths = []
    for nct_id, edit in ((FORMULA_ID, _hostile), (EMOJI_ID, _emoji)):
        study = json.loads(json.dumps(base))
        study["protocolSection"]["identificationModule"]["nctId"] = nct_id
        edit(study["protocolSection"])
        path = folder / f"{nct_id}.json"
        path.write_text(json.dumps(study))
        paths.append(path)
    return paths


def _hostile(protocol: dict[str, Any]) -> None:
    ident = protocol["identificationModule"]
    ident["briefTitle"] = FORMULA_TITLE
    ident["officialTitle"] = "-5 mg/kg \x07dose\x00 study"
    ident["acronym"] = "#N/A"
    protocol["descriptionModule"]["briefSummary"] = "x" * 40_000 + "END"
    protocol["conditionsModule"]["keywords"] = ["@risk", "+plus"]


def _emoji(protocol: dict[str, Any]) -> None:
    protocol["descriptionModule"]["briefSummary"] = "\N{GRINNING FACE}" * 20_000


def export(items: list[ExportItem], path: Path) -> tuple[int, SearchLog]:
    return write_with(XlsxExporter(), items, path)


@dataclass
class Exported:
    url: str
    path: Path
    count: int
    log: SearchLog
    items: list[ExportItem]
    records: dict[str, TrialRecord]
    wb: Any  # openpyxl.Workbook


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    folder = tmp_path_factory.mktemp("xlsx")
    url = f"sqlite:///{folder / 'catalogue.sqlite'}"
    result = trials(url, "import", FIXTURES / "ctgov-v2-json/studies", FIXTURES / "ctgov-xml",
                    *HISTORY, *constructed(folder))
    assert result.exit_code == 0, result.output
    items = selected_items(url)
    path = folder / "trials.xlsx"
    count, log = export(items, path)
    return Exported(url, path, count, log, items, {i.nct_id: i.record for i in items},
                    openpyxl.load_workbook(path))


def rows(ws: Worksheet) -> list[dict[str, Any]]:
    header, *body = ws.iter_rows()
    names = [c.value for c in header]
    return [{n: c for n, c in zip(names, row, strict=False)} for row in body]


def by_id(ws: Worksheet) -> dict[str, dict[str, Any]]:
    return {row["nct_id"].value: row for row in rows(ws)}


def test_sheets_in_order_with_a_frozen_bold_filtered_header(exported: Exported) -> None:
    wb = exported.wb
    assert wb.sheetnames == ["search log", "trials", *(t.name for t in CHILD_TABLES),
                             "versions"]
    assert wb.active.title == "trials"
    assert [c.value for c in wb["trials"][1]] == [c.name for c in TRIAL_COLUMNS]
    for table in CHILD_TABLES:
        assert tuple(c.value for c in wb[table.name][1]) == table.header
    for ws in wb:
        assert ws.freeze_panes == "A2", ws.title
        assert all(cell.font.b for cell in ws[1]), ws.title
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}" \
                                     f"{ws.max_row}", ws.title
    widths = wb["trials"].column_dimensions
    assert widths["A"].width == 13  # nct_id
    assert widths["C"].width == 34  # brief_title


def test_one_row_per_trial_in_nct_order(exported: Exported) -> None:
    ids = [row["nct_id"].value for row in rows(exported.wb["trials"])]
    assert exported.count == len(exported.items) == len(ids) > 50
    assert ids == sorted(exported.records)
    assert FORMULA_ID in ids and "NCT06203210" in ids  # constructed, and one with history


def test_child_rows_match_each_record(exported: Exported) -> None:
    counts = {t.name: Counter(r["nct_id"].value for r in rows(exported.wb[t.name]))
              for t in CHILD_TABLES}
    for nct_id, record in exported.records.items():
        assert counts["arms"][nct_id] == len(record.arms)
        assert counts["interventions"][nct_id] == len(record.interventions)
        assert counts["sites"][nct_id] == len(record.locations)
        assert counts["conditions"][nct_id] == len(record.conditions) + len(record.keywords)
        assert counts["criteria"][nct_id] == (len(record.eligibility.inclusion)
                                              + len(record.eligibility.exclusion))
        assert counts["outcomes"][nct_id] == len(record.outcomes)


def test_values_are_the_fixture_files_own(exported: Exported) -> None:
    """A trial read by hand from its API file: typed cells, in the record's order."""
    study = fixture_studies()["NCT02210780"]["protocolSection"]
    row = by_id(exported.wb["trials"])["NCT02210780"]
    assert row["brief_title"].value == study["identificationModule"]["briefTitle"]
    enrollment = row["enrollment"]
    assert enrollment.value == study["designModule"]["enrollmentInfo"]["count"]
    assert enrollment.data_type == "n" and isinstance(enrollment.value, int)
    assert row["has_results"].value is True and row["has_results"].data_type == "b"
    assert row["phases"].value == " | ".join(study["designModule"]["phases"])
    locations = study["contactsLocationsModule"]["locations"]
    sites = [r for r in rows(exported.wb["sites"]) if r["nct_id"].value == "NCT02210780"]
    assert len(sites) == len(locations) == 42
    for site, location in zip(sites, locations, strict=True):
        assert site["facility"].value == location.get("facility")
        assert site["city"].value == location.get("city")
        assert site["lat"].value == pytest.approx(location["geoPoint"]["lat"])
    assert [s["position"].value for s in sites] == list(range(1, 43))


def test_outcomes_are_a_sheet_and_joined_columns(exported: Exported) -> None:
    """Outcome measures and the results overview, read by hand from the registry file."""
    studies = fixture_studies()
    sheet = rows(exported.wb["outcomes"])
    trial_rows = by_id(exported.wb["trials"])
    for nct_id in ("NCT02210780", "NCT00763412", "NCT00973089"):
        want = file_outcomes(studies[nct_id])
        assert [(r["position"].value, r["kind"].value, r["title"].value, r["time_frame"].value)
                for r in sheet if r["nct_id"].value == nct_id] == want
        row = trial_rows[nct_id]
        for kind, column in (("PRIMARY", "primary_outcomes"),
                             ("SECONDARY", "secondary_outcomes")):
            titles = [title for _, k, title, _ in want if k == kind]
            assert row[column].value == (" | ".join(titles) or None)
        for name, value in file_results(studies[nct_id]).items():
            assert row[name].value == value, name
            if value is not None:
                assert row[name].data_type == "n"
    described = [r for r in sheet if r["description"].value]
    assert described and all(isinstance(r["position"].value, int) for r in sheet)


def test_full_dates_are_dates_and_partial_dates_stay_text(exported: Exported) -> None:
    trials_by_id = by_id(exported.wb["trials"])
    seen = Counter()
    for nct_id, record in exported.records.items():
        row = trials_by_id[nct_id]
        for column in (c for c in TRIAL_COLUMNS if c.kind == "date"):
            value, cell = column.get(record), row[column.name]
            if value is None:
                assert cell.value is None
            elif len(str(value)) == 10:
                assert isinstance(cell.value, datetime) and cell.is_date
                assert cell.value.date() == date.fromisoformat(str(value))
                assert cell.number_format == "yyyy-mm-dd"
                seen["full"] += 1
            else:
                assert cell.value == value and cell.data_type == "s"
                seen["partial"] += 1
    assert seen["full"] > 100 and seen["partial"] > 10


def test_formula_like_text_stays_text(exported: Exported) -> None:
    row = by_id(exported.wb["trials"])[FORMULA_ID]
    title = row["brief_title"]
    assert title.value == FORMULA_TITLE  # the record's value, not a formula
    assert title.data_type == "s" and title.quotePrefix
    official = row["official_title"]
    assert official.value == "-5 mg/kg dose study"  # control characters removed
    assert official.data_type == "s" and official.quotePrefix
    acronym = row["acronym"]
    assert acronym.value == "#N/A" and acronym.data_type == "s"  # not an error cell
    assert row["keywords"].value == "@risk | +plus" and row["keywords"].quotePrefix
    keywords = [r["term"] for r in rows(exported.wb["conditions"])
                if r["nct_id"].value == FORMULA_ID and r["kind"].value == "keyword"]
    assert [k.value for k in keywords] == ["@risk", "+plus"]
    assert all(k.quotePrefix and k.data_type == "s" for k in keywords)
    assert not row["brief_summary"].quotePrefix  # plain text is left alone
    with zipfile.ZipFile(exported.path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name) and b"<f " not in archive.read(name)


def test_text_over_the_cell_limit_is_cut_with_a_marker(exported: Exported) -> None:
    summary = by_id(exported.wb["trials"])[FORMULA_ID]["brief_summary"].value
    assert len(summary) == EXCEL_CELL_LIMIT
    assert summary.endswith(TRUNCATION_MARKER)
    assert summary.startswith("x" * 1000)
    # 20,000 emoji are 40,000 UTF-16 code units, which is what Excel counts.
    emoji = by_id(exported.wb["trials"])[EMOJI_ID]["brief_summary"].value
    assert emoji.endswith(TRUNCATION_MARKER)
    assert len(emoji.encode("utf-16-le")) // 2 <= EXCEL_CELL_LIMIT
    assert emoji.removesuffix(TRUNCATION_MARKER) == "\N{GRINNING FACE}" * (
        (EXCEL_CELL_LIMIT - len(TRUNCATION_MARKER)) // 2)


def test_versions_sheet_pins_each_exported_record(exported: Exported) -> None:
    versions = rows(exported.wb["versions"])
    assert len(versions) == exported.count
    for item, row in zip(exported.items, versions, strict=True):
        fields = version_fields(item)
        assert list(row) == list(fields)
        assert row["nct_id"].value == item.nct_id
        assert row["version_id"].value == item.version.version_id
        assert row["content_hash"].value == item.version.content_hash
        assert row["version"].value == item.version.number
    history = next(r for r in versions if r["nct_id"].value == "NCT06203210")
    assert history["version"].value == len(HISTORY)  # the latest of the three snapshots


def test_search_log_sheet_reads_as_the_markdown_log(exported: Exported) -> None:
    ws = exported.wb["search log"]
    assert [c.value for c in ws[1]] == ["item", "value"]
    logged = [(row["item"].value, row["value"].value) for row in rows(ws)]
    assert logged == summary_rows(exported.log.summary())  # human labels, not keys
    labels = dict(logged)
    assert labels["Exported"] == f"{exported.count} (xlsx, to stdout)"  # known at the end
    assert labels["Tool"].startswith("trial-harvester ")
    assert all(row["value"].alignment.wrap_text for row in rows(ws) if row["value"].value)


def test_urls_are_links(exported: Exported) -> None:
    trials_by_id = by_id(exported.wb["trials"])
    for nct_id, row in trials_by_id.items():
        assert row["url"].hyperlink.target == row["url"].value == \
            f"https://clinicaltrials.gov/study/{nct_id}"
        assert row["url"].font.u == "single"
    for row in rows(exported.wb["versions"]):
        assert row["version_url"].hyperlink.target == row["version_url"].value
        assert row["version_url"].value.startswith(
            f"https://clinicaltrials.gov/study/{row['nct_id'].value}?tab=history")


def test_every_sheet_is_set_up_to_print(exported: Exported) -> None:
    wb = exported.wb
    for ws in wb:
        assert ws.print_title_rows == "$1:$1", ws.title  # the header on every page
        assert ws.page_setup.orientation == "landscape"
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0)
    # Wide enough for a date and a date-time, so no cell shows ###.
    versions = wb["versions"]
    header = {c.value: c.column_letter for c in versions[1]}
    assert versions.column_dimensions[header["seen_at"]].width >= 20
    assert versions.column_dimensions[header["registry_date"]].width >= 11
    assert versions.cell(2, 8).number_format == "yyyy-mm-dd hh:mm:ss"


def test_worker_processes_write_the_same_workbook(exported: Exported, tmp_path: Path) -> None:
    path = tmp_path / "parallel.xlsx"
    log = SearchLog(Selection(), fmt="xlsx", clock=lambda: exported.log.created_at)
    with path.open("wb") as out:
        count = XlsxExporter(workers=2, parallel_from=0).write(iter(exported.items), out, log)
    assert count == exported.count
    with zipfile.ZipFile(path) as got, zipfile.ZipFile(exported.path) as want:
        assert got.namelist() == want.namelist()
        for name in got.namelist():
            if name != "xl/worksheets/sheet1.xml":  # the search log: its own creation time
                assert got.read(name) == want.read(name), name


def test_a_full_sheet_goes_on_in_a_continuation_sheet(
        exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "EXCEL_MAX_ROWS", 40)
    some = [i for i in exported.items if i.record.locations][:8]
    export(some, tmp_path / "small.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "small.xlsx")
    sites = [name for name in wb.sheetnames if name.split(" (")[0] == "sites"]
    total = sum(len(i.record.locations) for i in some)
    assert len(sites) == -(-total // 39) > 2  # 39 data rows under each header
    assert sites == ["sites", *(f"sites ({n})" for n in range(2, len(sites) + 1))]
    at = wb.sheetnames.index("sites")
    assert wb.sheetnames[at:at + len(sites)] == sites  # kept together, in order
    ids = []
    for name in sites:
        assert wb[name].max_row <= 40 and wb[name].freeze_panes == "A2"
        assert tuple(c.value for c in wb[name][1]) == CHILD_TABLES[3].header
        ids += [r["nct_id"].value for r in rows(wb[name])]
    assert len(ids) == total and ids == sorted(ids)


def test_an_empty_selection_gives_a_workbook_of_headers(tmp_path: Path) -> None:
    count, _ = export([], tmp_path / "empty.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "empty.xlsx")
    assert count == 0
    assert wb["trials"].max_row == 1 and wb["sites"].max_row == 1
    assert wb.sheetnames[0] == "search log"


def test_trials_export_writes_a_workbook(exported: Exported, tmp_path: Path) -> None:
    out, log_file = tmp_path / "completed.xlsx", tmp_path / "log.json"
    # The constructed records are copies of one trial: kept, to check their cells.
    result = trials(exported.url, "export", "-o", out, "--status", "COMPLETED",
                    "--log", log_file, "--no-progress", "--keep-duplicates")
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(out)
    completed = sorted(n for n, r in exported.records.items() if r.overall_status == "COMPLETED")
    assert [r["nct_id"].value for r in rows(wb["trials"])] == completed
    logged = {r["item"].value: r["value"].value for r in rows(wb["search log"])}
    assert logged["Filters applied locally"] == "status: COMPLETED"
    assert logged["Selected by the filters"] == str(len(completed))
    assert logged["Exported"] == f"{len(completed)} (xlsx, to {out})"
    assert logged["Trials in the catalogue"] == str(len(exported.records))
    versions = json.loads(log_file.read_text())["versions"]
    assert [v["nct_id"] for v in versions] == completed
    assert [r["content_hash"].value for r in rows(wb["versions"])] == [
        v["content_hash"] for v in versions]


def test_on_postgresql_too(db_url: str, tmp_path: Path) -> None:
    result = trials(db_url, "import", *HISTORY,
                    FIXTURES / "ctgov-v2-json/studies/NCT02210780__aact.json")
    assert result.exit_code == 0, result.output
    items = selected_items(db_url)
    count, _ = export(items, tmp_path / "out.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert count == 2
    assert [r["nct_id"].value for r in rows(wb["trials"])] == ["NCT02210780", "NCT06203210"]
    assert wb["sites"].max_row == 1 + sum(len(i.record.locations) for i in items) > 200
    seen = [r["seen_at"].value for r in rows(wb["versions"])]
    assert all(isinstance(s, datetime) and s.tzinfo is None for s in seen)


@pytest.mark.skipif(not (shutil.which("soffice") and shutil.which("pdftotext")),
                    reason="LibreOffice (soffice) and pdftotext are not installed")
def test_libreoffice_prints_every_cell_readably(exported: Exported, tmp_path: Path) -> None:
    """Five trials rendered to PDF by LibreOffice: no cell is too narrow for its value
    (shown as ###), the header is on every page of a sheet, a page is one sheet wide."""
    some = [i for i in exported.items if i.record.locations and i.record.arms][:5]
    path = tmp_path / "five.xlsx"
    export(some, path)
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path / 'profile'}",
                    "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
                   check=True, capture_output=True, timeout=240)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "five.pdf"), "-"],
                          check=True, capture_output=True, text=True).stdout
    pages = text.split("\f")[:-1]
    assert "###" not in text
    for item in some:
        assert item.nct_id in text
        assert f"{item.version.seen_at:%Y-%m-%d %H:%M:%S}" in text  # a date-time, in full
    assert "Trials in the catalogue" in text and "Selected by the filters" in text
    # One page per sheet but for the long child tables, each page with its header row.
    assert len(pages) < 4 * 8
    for page in pages:
        assert re.search(r"Page \d+ of \d+", page)
        if "trials" in page.splitlines()[-1]:
            assert "nct_id" in page and "brief_title" in page
