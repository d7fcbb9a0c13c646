"""``trials export`` end to end: which trials and versions, where the bytes go, what is
refused, and what an interrupted export leaves behind.

The expected sets come from the catalogue's own API (``Catalogue.current`` through
:mod:`tests.exportdata`) or straight from the fixture files (:mod:`tests.corpus`), never from
the export's selection SQL."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import rispy
from click.testing import Result

from harvester.errors import CatalogueError
from harvester.export.base import ExportItem
from harvester.export.csvfile import LONG_FILES
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import FIXTURES, trials
from tests.corpus import condition_hits
from tests.exportdata import (
    HISTORY_TRIAL,
    SECOND_REGISTRATION,
    Current,
    build,
    current,
    deduplicated,
    shared,
)

Record = dict[str, Any]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def now(db: str) -> dict[str, Current]:
    return current(db)


def export(db: str, *args: str | Path) -> Result:
    return trials(db, "export", *args)


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def exported_ids(fmt: str, data: bytes) -> list[str]:
    """The NCT ids of an export, in order, read back with an independent reader."""
    if fmt == "csv":
        return [row["nct_id"] for row in csv_rows(data)]
    if fmt == "jsonl":
        return [json.loads(line)["nct_id"] for line in data.decode().splitlines()]
    return [entry["accession_number"] for entry in rispy.loads(data.decode())]


# --- which trials --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "ris"])
def test_every_trial_is_exported_once_in_its_current_version(
        db: str, now: dict[str, Current], fmt: str) -> None:
    result = export(db, "--format", fmt)
    assert result.exit_code == 0, result.stderr
    ids = exported_ids(fmt, result.stdout_bytes)
    # each once, in NCT id order, the second registration of one trial left out
    assert ids == deduplicated(now) == sorted(set(now) - {SECOND_REGISTRATION})
    assert len(ids) > 50
    assert (f"exported {len(ids)} trial(s) as {fmt} to stdout ({len(now)} selected of "
            f"{len(now)} in the catalogue, 1 duplicate registration(s) of the same trial "
            "left out)") in result.stderr
    kept = export(db, "--format", fmt, "--keep-duplicates")
    assert kept.exit_code == 0, kept.stderr
    assert exported_ids(fmt, kept.stdout_bytes) == sorted(now)
    assert "; local catalogue, registry data as of 20" in result.stderr


def test_each_row_is_pinned_to_the_current_version(db: str, now: dict[str, Current]) -> None:
    for row in csv_rows(export(db, "--format", "csv").stdout_bytes):
        expected = now[row["nct_id"]]
        assert (row["version"], row["version_id"], row["content_hash"], row["source"]) == (
            str(expected.number), str(expected.version_id), expected.content_hash,
            expected.source)


def _any(values: list[str], text: str) -> bool:
    return any(text in v.lower() for v in values)


def _has_word(texts: list[str | None], word: str) -> bool:
    return any(re.search(rf"\b{word}\b", t or "", re.IGNORECASE) for t in texts)


def _cond_texts(r: Record) -> list[str | None]:
    return [*r["conditions"], *r["keywords"], r["brief_title"], r["official_title"],
            *(m["term"] for m in r["condition_mesh"] + r["condition_ancestors"])]


def _intr_texts(r: Record) -> list[str | None]:
    return [r["brief_title"], r["official_title"], *r["keywords"],
            *(x for i in r["interventions"]
              for x in (i["name"], i["type"], i["description"], *i["other_names"])),
            *(x for a in r["arms"] for x in (a["label"], a["type"], a["description"])),
            *(m["term"] for m in r["intervention_mesh"] + r["intervention_ancestors"])]


FILTERS: list[tuple[tuple[str, ...], Callable[[Record], bool]]] = [
    (("--status", "COMPLETED"), lambda r: r["overall_status"] == "COMPLETED"),
    (("--status", "withdrawn,Terminated"),
     lambda r: r["overall_status"] in ("WITHDRAWN", "TERMINATED")),
    (("--phase", "phase 2"), lambda r: "PHASE2" in r["phases"]),
    (("--study-type", "OBSERVATIONAL"), lambda r: r["study_type"] == "OBSERVATIONAL"),
    # the search areas (query.cond, query.intr): the area's fields, whole words
    (("--cond", "Lung"), lambda r: _has_word(_cond_texts(r), "lung")),
    (("--condition", "Lung"), lambda r: _has_word(_cond_texts(r), "lung")),  # old spelling
    (("--intr", "placebo"), lambda r: _has_word(_intr_texts(r), "placebo")),
    (("--country", "japan"), lambda r: "Japan" in [s["country"] for s in r["locations"]]),
    (("--has-results",), lambda r: r["has_results"]),
    (("--no-results",), lambda r: not r["has_results"]),
    (("--updated-since", "2024-01-01"),
     lambda r: (r["last_update_posted"] or "") >= "2024-01-01"),
    (("--status", "COMPLETED", "--has-results", "--study-type", "INTERVENTIONAL"),
     lambda r: r["overall_status"] == "COMPLETED" and r["has_results"]
     and r["study_type"] == "INTERVENTIONAL"),
]


@pytest.mark.parametrize(("args", "keep"), FILTERS, ids=[" ".join(a) for a, _ in FILTERS])
def test_filters_export_exactly_the_matching_trials(
        db: str, now: dict[str, Current], args: tuple[str, ...],
        keep: Callable[[Record], bool]) -> None:
    expected = deduplicated(n for n, c in now.items() if keep(c.record))
    assert 0 < len(expected) < len(now)  # the filter means something here
    result = export(db, "--format", "csv", *args)
    assert result.exit_code == 0, result.stderr
    assert exported_ids("csv", result.stdout_bytes) == expected


def test_ids_and_an_ids_file(db: str, tmp_path: Path) -> None:
    result = export(db, "--format", "jsonl", "--ids", "nct06203210,NCT00557986",
                    "--ids", "NCT03418623")
    assert exported_ids("jsonl", result.stdout_bytes) == [
        "NCT00557986", "NCT03418623", HISTORY_TRIAL]
    listing = tmp_path / "included.txt"  # free text, as a screening tool might export
    listing.write_text("Included:\nNCT06203210; nct00557986\n# again: NCT06203210\n")
    result = export(db, "--format", "ris", "--ids-file", listing)
    assert exported_ids("ris", result.stdout_bytes) == ["NCT00557986", HISTORY_TRIAL]


def test_ids_the_catalogue_lacks_are_named_and_the_rest_exported(
        db: str, tmp_path: Path) -> None:
    out, log = tmp_path / "x.csv", tmp_path / "log.json"
    result = export(db, "--ids", "NCT06203210,NCT99999999", "-o", out, "--log", log)
    assert result.exit_code == 1
    assert "not in the catalogue: NCT99999999" in result.stderr
    assert exported_ids("csv", out.read_bytes()) == [HISTORY_TRIAL]
    assert json.loads(log.read_text())["search"]["counts"]["missing_ids"] == ["NCT99999999"]


def test_ids_none_of_which_the_catalogue_holds_are_exit_4_and_write_nothing(
        db: str, tmp_path: Path) -> None:
    result = export(db, "--ids", "NCT99999999", "-o", tmp_path / "x.csv")
    assert result.exit_code == 4
    assert result.stderr == ("trials: error: none of the NCT ids asked for is in the "
                             "catalogue\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "ris", "csl-json", "bibtex", "jsonl"])
def test_a_selection_of_no_trial_is_exit_4_and_writes_nothing(
        db: str, tmp_path: Path, fmt: str) -> None:
    result = export(db, "--format", fmt, "--status", "WITHDRAWN", "--phase", "4",
                    "--cond", "no such condition", "-o", tmp_path / "x",
                    "--log", tmp_path / "log.md")
    assert result.exit_code == 4
    assert result.stderr == ("trials: error: no trial in the catalogue matches the "
                             "selection; nothing written\n")
    assert list(tmp_path.iterdir()) == []
    on_stdout = export(db, "--format", fmt, "--as-of", "1990-01-01")
    assert on_stdout.exit_code == 4 and on_stdout.stdout_bytes == b""
    assert "no trial in the catalogue on 1990-01-01" in on_stdout.stderr


def test_as_of_exports_the_versions_current_then(db: str) -> None:
    day = date(2026, 2, 1)
    then = current(db, as_of=day)
    result = export(db, "--format", "jsonl", "--as-of", day.isoformat())
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["nct_id"] for r in records] == deduplicated(then)
    assert all(r == then[r["nct_id"]].record for r in records)
    old = next(r for r in records if r["nct_id"] == HISTORY_TRIAL)
    assert old["overall_status"] == "ACTIVE_NOT_RECRUITING"  # RECRUITING from 2026-02-09
    assert then[HISTORY_TRIAL].number == 1
    # A date before some trials were first posted leaves them out.
    before = current(db, date(2015, 1, 1))
    early = export(db, "--format", "csv", "--as-of", "2015-01-01")
    assert exported_ids("csv", early.stdout_bytes) == deduplicated(before)
    assert 0 < len(before) < len(then)


def test_a_saved_query_exports_the_trials_its_syncs_returned(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'synced.sqlite'}"
    studies = StudyStore.from_folder(FIXTURES / "ctgov-v2-json/studies",
                                     data_timestamp="2026-08-14T09:00:05")
    with ReplicaServer(studies) as server:
        synced = trials(url, "sync", "--base-url", server.base_url, "--min-interval", "0",
                        "--cond", "allergy", "--save", "allergy", "--quiet")
    assert synced.exit_code == 0, synced.stderr
    build(url, FIXTURES / "mirror-veeva", FIXTURES / "ctgov-xml")  # not in the query
    log = tmp_path / "log.json"
    result = export(url, "--format", "ris", "--query", "allergy", "--log", log)
    assert result.exit_code == 0, result.stderr
    assert exported_ids("ris", result.stdout_bytes) == sorted(condition_hits("allergy"))
    search = json.loads(log.read_text())["search"]
    assert search["saved_query"]["name"] == "allergy"
    assert search["saved_query"]["parameters"] == {"query.cond": "allergy"}
    assert search["selection"] == {"query": "allergy"}
    assert search["registry_data_version"]["value"] == "2026-08-14T09:00:05"
    # An unknown name lists the saved queries, the close ones first.
    unknown = export(url, "--query", "alergy", "--format", "csv")
    assert unknown.exit_code == 4
    assert unknown.stderr == ("trials: error: no saved query named 'alergy'; did you mean "
                              "'allergy'? (saved: allergy)\n")
    assert "(saved: allergy)" in export(url, "--query", "zzz", "--format", "csv").stderr


# --- where the bytes go ----------------------------------------------------------------------


def test_the_format_comes_from_the_output_name(db: str, tmp_path: Path) -> None:
    for name, fmt in (("x.csv", "csv"), ("x.ris", "ris"), ("x.jsonl", "jsonl")):
        assert export(db, "--ids", HISTORY_TRIAL, "-o", tmp_path / name).exit_code == 0
        assert exported_ids(fmt, (tmp_path / name).read_bytes()) == [HISTORY_TRIAL]
    result = export(db, "--ids", HISTORY_TRIAL)
    assert result.exit_code == 2 and "name a --format" in result.stderr


def test_an_existing_file_is_kept_unless_forced(db: str, tmp_path: Path) -> None:
    out, log = tmp_path / "x.ris", tmp_path / "log.md"
    out.write_bytes(b"my own references")
    result = export(db, "--ids", HISTORY_TRIAL, "-o", out)
    assert result.exit_code == 2 and "use --force" in result.stderr
    assert out.read_bytes() == b"my own references"
    log.write_text("an earlier log")
    result = export(db, "--ids", HISTORY_TRIAL, "-o", tmp_path / "new.ris", "--log", log)
    assert result.exit_code == 2 and not (tmp_path / "new.ris").exists()
    assert export(db, "--ids", HISTORY_TRIAL, "-o", out, "--log", log, "--force"
                  ).exit_code == 0
    assert exported_ids("ris", out.read_bytes()) == [HISTORY_TRIAL]
    assert log.read_text().startswith("# Search log")


def _breaking(after: int, error: BaseException) -> Callable[..., Iterator[ExportItem]]:
    from harvester.export.base import iter_items

    def items(conn: Any, selection: Any) -> Iterator[ExportItem]:
        for n, item in enumerate(iter_items(conn, selection)):
            if n == after:
                raise error
            yield item

    return items


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "ris"])
def test_an_export_that_fails_midway_leaves_the_old_file_and_no_log(
        db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    out, log = tmp_path / f"x.{fmt}", tmp_path / "log.json"
    out.write_bytes(b"the previous export")
    monkeypatch.setattr("harvester.export.log.iter_items",
                        _breaking(10, CatalogueError("the connection was lost")))
    result = export(db, "-o", out, "--force", "--log", log)
    assert result.exit_code == 3
    assert result.stderr == "trials: error: the connection was lost\n"
    assert out.read_bytes() == b"the previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no log, no temporary


def test_an_interrupted_export_leaves_nothing_under_the_final_name(
        db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harvester.export.log.iter_items",
                        _breaking(5, KeyboardInterrupt()))
    for output in (tmp_path / "x.csv", tmp_path / "tables.zip", f"{tmp_path / 'tables'}/"):
        result = export(db, "-o", output, "--format", "csv",
                        *(["--long"] if "tables" in str(output) else []))
        assert result.exit_code == 1 and "Aborted" in result.stderr  # click's Ctrl-C
    assert list(tmp_path.iterdir()) == []


def test_long_csv_as_a_zip_or_a_folder(db: str, now: dict[str, Current],
                                       tmp_path: Path) -> None:
    args = ("--format", "csv", "--long", "--status", "COMPLETED")
    expected = sorted(n for n, c in now.items() if c.record["overall_status"] == "COMPLETED")
    assert export(db, *args, "-o", tmp_path / "tables.zip").exit_code == 0
    assert export(db, *args, "-o", f"{tmp_path / 'tables'}/").exit_code == 0
    with zipfile.ZipFile(tmp_path / "tables.zip") as zf:
        assert zf.namelist() == list(LONG_FILES)
        for name in LONG_FILES:
            assert zf.read(name) == (tmp_path / "tables" / name).read_bytes()
        assert exported_ids("csv", zf.read("trials.csv")) == expected
        sites = csv_rows(zf.read("sites.csv"))
    assert {row["nct_id"] for row in sites} <= set(expected)
    assert len(sites) == sum(len(now[n].record["locations"]) for n in expected)


@pytest.mark.parametrize(("args", "message"), [
    (("--format", "csv", "--long"), "name a .zip or a folder"),
    (("--format", "ris", "--long", "-o", "x.zip"), "--long is for csv, not ris"),
    (("--format", "csv", "--long", "-o", "x.csv"), "a .zip or a folder"),
    (("--format", "csv", "--status", "DONE"), "--status: 'DONE' is not one of"),
    (("--format", "csv", "--as-of", "yesterday"), "--as-of: 'yesterday' is not a date"),
    (("--format", "csv", "--ids", "12345"), "--ids: '12345' is not an NCT id"),
    (("--format", "csv", "-o", "x.csv", "--log", "x.csv"), "name the same file"),
    (("--format", "csv", "-o", "x.csv", "--log", "no/such/log.md"), "an existing folder"),
])
def test_impossible_requests_are_exit_2(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        args: tuple[str, ...], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = export(db, *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_quiet_prints_nothing_but_the_data(db: str) -> None:
    result = export(db, "--format", "csv", "--ids", HISTORY_TRIAL, "--quiet")
    assert result.exit_code == 0 and result.stderr == ""
    assert exported_ids("csv", result.stdout_bytes) == [HISTORY_TRIAL]


# --- both databases ----------------------------------------------------------------------------


def test_exports_from_sqlite_and_postgresql(db_url: str, tmp_path: Path) -> None:
    history = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob(f"{HISTORY_TRIAL}*vh*"))
    studies = FIXTURES / "ctgov-v2-json/studies"
    build(db_url, *history, *sorted(studies.glob("NCT0[01]*.json")),
          FIXTURES / "mirror-veeva", FIXTURES / "constructed")
    for as_of in (None, date(2026, 2, 1)):
        expected = current(db_url, as_of)
        when = ("--as-of", as_of.isoformat()) if as_of else ()
        for fmt in ("csv", "jsonl", "ris"):
            result = export(db_url, "--format", fmt, *when, "--log", tmp_path / f"{fmt}.json",
                            "--force")
            assert result.exit_code == 0, result.stderr
            assert exported_ids(fmt, result.stdout_bytes) == sorted(expected)
            if fmt == "jsonl":
                assert [json.loads(line) for line in result.stdout.splitlines()] == [
                    expected[n].record for n in sorted(expected)]
        versions = json.loads((tmp_path / "csv.json").read_text())["versions"]
        assert [(v["nct_id"], v["content_hash"]) for v in versions] == [
            (n, expected[n].content_hash) for n in sorted(expected)]


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_exported_files_get_the_permissions_the_umask_gives(db: str, tmp_path: Path,
                                                            mask: int) -> None:
    old = os.umask(mask)
    try:
        assert export(db, "--format", "csv", "-o", tmp_path / "t.csv").exit_code == 0
        assert export(db, "--format", "csv", "--long", "-o",
                      tmp_path / "long").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.csv").stat().st_mode) == 0o666 & ~mask
    assert stat.S_IMODE((tmp_path / "long").stat().st_mode) == 0o777 & ~mask
