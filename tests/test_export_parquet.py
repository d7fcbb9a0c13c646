"""The Parquet export, read back with pyarrow: types, values, nested child tables, search log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harvester.export import parquet
from harvester.export.base import ExportItem
from harvester.export.log import VERSION_FIELDS, SearchLog, version_fields
from harvester.export.parquet import FLAT, LOG_KEY, NESTED, ParquetExporter, join_date
from harvester.records import TrialRecord
from tests.conftest import FIXTURES, trials
from tests.corpus import fixture_studies
from tests.exportdata import file_outcomes, file_results, selected_items, write_with

HISTORY = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT06203210__vh*.json"))
HOSTILE_ID = "NCT99000001"
HOSTILE_TITLE = '=HYPERLINK("https://example.org","click")'


def hostile(folder: Path) -> Path:
    """A real record with text a spreadsheet would mangle: Parquet keeps it as it is."""
    study = json.loads((FIXTURES / "ctgov-v2-json/studies/NCT03418623__aact.json").read_text())
    protocol = study["protocolSection"]
    protocol["identificationModule"].update(
        nctId=HOSTILE_ID, briefTitle=HOSTILE_TITLE, officialTitle="-5 mg \x07dose")
    protocol["descriptionModule"]["briefSummary"] = "x" * 40_000 + "END"
    path = folder / f"{HOSTILE_ID}.json"
    path.write_text(json.dumps(study))
    return path


def export(items: list[ExportItem], path: Path) -> tuple[int, SearchLog]:
    return write_with(ParquetExporter(), items, path)


@dataclass
class Exported:
    url: str
    path: Path
    count: int
    log: SearchLog
    items: list[ExportItem]
    records: dict[str, TrialRecord]
    table: Any  # pyarrow.Table
    rows: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    folder = tmp_path_factory.mktemp("parquet")
    url = f"sqlite:///{folder / 'catalogue.sqlite'}"
    result = trials(url, "import", FIXTURES / "ctgov-v2-json/studies", FIXTURES / "ctgov-xml",
                    *HISTORY, hostile(folder))
    assert result.exit_code == 0, result.output
    items = selected_items(url)
    path = folder / "trials.parquet"
    count, log = export(items, path)
    table = pq.read_table(path)
    return Exported(url, path, count, log, items, {i.nct_id: i.record for i in items}, table,
                    {row["nct_id"]: row for row in table.to_pylist()})


def test_columns_are_typed(exported: Exported) -> None:
    schema = pq.read_schema(exported.path)
    assert schema.names[:len(VERSION_FIELDS)] == list(VERSION_FIELDS)
    expected = {
        "version": pa.int64(), "version_id": pa.int64(), "registry_date": pa.date32(),
        "seen_at": pa.timestamp("us", tz="UTC"), "content_hash": pa.string(),
        "brief_title": pa.string(), "enrollment": pa.int64(), "has_results": pa.bool_(),
        "healthy_volunteers": pa.bool_(), "start_date": pa.date32(),
        "start_date_precision": pa.string(), "phases": pa.list_(pa.string()),
        "conditions": pa.list_(pa.string()), "location_count": pa.int64(),
    }
    for name, kind in expected.items():
        assert schema.field(name).type.equals(kind), name
    sites = schema.field("sites").type.value_type
    assert {sites.field(n).type for n in ("lat", "lon")} == {pa.float64()}
    assert sites.field("position").type == pa.int64()
    interventions = schema.field("interventions").type.value_type
    assert interventions.field("other_names").type.equals(pa.list_(pa.string()))
    assert "source" not in schema.names[len(VERSION_FIELDS):]  # once, with the version
    assert schema.get_all_field_indices("interventions") == [schema.names.index(
        "interventions")]  # the nested table replaced the flat list


def test_one_row_per_selected_trial_in_order(exported: Exported) -> None:
    ids = exported.table.column("nct_id").to_pylist()
    assert exported.count == exported.table.num_rows == len(exported.items) > 50
    assert ids == [i.nct_id for i in exported.items] == sorted(ids)


def test_values_are_the_fixture_files_own(exported: Exported) -> None:
    """A trial read by hand from its API file."""
    protocol = fixture_studies()["NCT02210780"]["protocolSection"]
    row = exported.rows["NCT02210780"]
    status = protocol["statusModule"]
    assert row["brief_title"] == protocol["identificationModule"]["briefTitle"]
    assert row["enrollment"] == protocol["designModule"]["enrollmentInfo"]["count"]
    assert row["phases"] == protocol["designModule"]["phases"]
    assert row["conditions"] == protocol["conditionsModule"]["conditions"]
    assert row["has_results"] is True
    start = status["startDateStruct"]["date"]
    assert join_date(row["start_date"], row["start_date_precision"]) == start
    assert row["last_update_posted"] == date.fromisoformat(
        status["lastUpdatePostDateStruct"]["date"])
    locations = protocol["contactsLocationsModule"]["locations"]
    assert [s["facility"] for s in row["sites"]] == [x.get("facility") for x in locations]
    assert [s["lat"] for s in row["sites"]] == [x["geoPoint"]["lat"] for x in locations]
    assert [s["position"] for s in row["sites"]] == list(range(1, len(locations) + 1))
    groups = protocol["armsInterventionsModule"]["armGroups"]
    assert [a["label"] for a in row["arms"]] == [g["label"] for g in groups]
    assert [a["interventions"] for a in row["arms"]] == [
        g.get("interventionNames", []) for g in groups]


def test_outcomes_are_nested_and_listed(exported: Exported) -> None:
    """Outcome measures as a nested list of structs, titles as lists, the results overview as
    integers: read by hand from the registry files."""
    field = exported.table.schema.field("outcomes")
    assert field.type == pa.list_(pa.struct([
        ("position", pa.int64()), ("kind", pa.string()), ("title", pa.string()),
        ("description", pa.string()), ("time_frame", pa.string())]))
    assert exported.table.schema.field("primary_outcomes").type == pa.list_(pa.string())
    assert exported.table.schema.field("participants_started").type == pa.int64()
    studies = fixture_studies()
    for nct_id in ("NCT02210780", "NCT00763412", "NCT05064306"):
        row = exported.rows[nct_id]
        want = file_outcomes(studies[nct_id])
        assert [(o["position"], o["kind"], o["title"], o["time_frame"])
                for o in row["outcomes"]] == want
        assert row["primary_outcomes"] == [t for _, k, t, _ in want if k == "PRIMARY"]
        assert row["secondary_outcomes"] == [t for _, k, t, _ in want if k == "SECONDARY"]
        for name, value in file_results(studies[nct_id]).items():
            assert row[name] == value, name
    assert exported.rows["NCT02210780"]["deaths"] == 0


def test_a_partial_date_keeps_its_precision(exported: Exported) -> None:
    precisions = {}
    for nct_id, record in exported.records.items():
        row = exported.rows[nct_id]
        for column in (c for c in FLAT if c.kind == "date"):
            value = column.get(record)
            assert join_date(row[column.name], row[f"{column.name}_precision"]) == value
            if value is not None:
                precisions[value] = row[f"{column.name}_precision"]
    assert {"day", "month"} <= set(precisions.values())
    month = next(v for v, p in precisions.items() if p == "month")
    assert len(month) == 7


def test_nothing_is_lost(exported: Exported) -> None:
    """Each row gives back its record's values (and its version's), uncut and uncleaned."""
    for item in exported.items:
        record, row = item.record, exported.rows[item.nct_id]
        fields = version_fields(item)
        assert row["seen_at"] == fields["seen_at"]
        assert row["registry_date"] == date.fromisoformat(fields["registry_date"])
        for name in VERSION_FIELDS:
            if name not in ("seen_at", "registry_date"):
                assert row[name] == fields[name], name
        for column in FLAT:
            value = column.get(record)
            if column.kind == "date":
                got = join_date(row[column.name], row[f"{column.name}_precision"])
            elif column.kind == "list":
                got, value = tuple(row[column.name]), tuple(value or ())
            else:
                got = row[column.name]
            assert got == value, (item.nct_id, column.name)
        for table in NESTED:
            keys = [name for name, _ in table.columns]
            want = [[list(v) if isinstance(v, tuple) else v for v in r]
                    for r in table.rows(record)]
            assert [[s[k] for k in keys] for s in row[table.name]] == want, table.name
    assert exported.rows[HOSTILE_ID]["brief_title"] == HOSTILE_TITLE
    assert exported.rows[HOSTILE_ID]["official_title"] == "-5 mg \x07dose"
    assert len(exported.rows[HOSTILE_ID]["brief_summary"]) == 40_003


def test_the_search_log_is_the_files_metadata(exported: Exported) -> None:
    logged = json.loads(pq.read_metadata(exported.path).metadata[LOG_KEY.encode()])
    assert logged == json.loads(json.dumps(exported.log.summary()))
    assert logged["counts"]["exported"] == exported.table.num_rows
    assert exported.table.schema.metadata[LOG_KEY.encode()]  # readers see it as well


def test_rows_are_written_in_row_groups(
        exported: Exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parquet, "BATCH_ROWS", 10)
    monkeypatch.setattr(parquet, "CHUNK_ROWS", 3)  # three Arrow chunks and one row to a group
    export(exported.items, tmp_path / "groups.parquet")
    groups = pq.ParquetFile(tmp_path / "groups.parquet")
    assert groups.num_row_groups == -(-len(exported.items) // 10)
    assert all(groups.metadata.row_group(n).num_rows == 10
               for n in range(groups.num_row_groups - 1))
    assert pq.read_table(tmp_path / "groups.parquet").equals(exported.table)


def test_an_empty_selection_gives_an_empty_typed_table(
        exported: Exported, tmp_path: Path) -> None:
    count, _ = export([], tmp_path / "empty.parquet")
    table = pq.read_table(tmp_path / "empty.parquet")
    assert count == table.num_rows == 0
    assert table.schema.equals(exported.table.schema)


def test_trials_export_writes_parquet(exported: Exported, tmp_path: Path) -> None:
    out = tmp_path / "sub.parquet"
    result = trials(exported.url, "export", "--format", "parquet", "-o", out,
                    "--phase", "3", "--no-progress")
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    wanted = sorted(n for n, r in exported.records.items()
                    if "PHASE3" in r.phases)
    assert table.column("nct_id").to_pylist() == wanted and wanted
    logged = json.loads(table.schema.metadata[LOG_KEY.encode()])
    assert logged["selection"] == {"phases": ["PHASE3"]}
    assert logged["counts"]["exported"] == logged["counts"]["selected"] == len(wanted)
    assert logged["format"] == "parquet" and logged["output"] == str(out)


def test_on_postgresql_too(db_url: str, tmp_path: Path) -> None:
    result = trials(db_url, "import", *HISTORY,
                    FIXTURES / "ctgov-v2-json/studies/NCT02210780__aact.json")
    assert result.exit_code == 0, result.output
    items = selected_items(db_url)
    export(items, tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column("nct_id").to_pylist() == ["NCT02210780", "NCT06203210"]
    assert table.column("version").to_pylist() == [1, len(HISTORY)]
    assert [len(s) for s in table.column("sites").to_pylist()] == [
        len(i.record.locations) for i in items]
    seen = table.column("seen_at").to_pylist()
    assert all(s.utcoffset() is not None and s.utcoffset().total_seconds() == 0
               and abs(datetime.now(UTC) - s).days < 1 for s in seen)
