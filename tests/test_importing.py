"""``trials import``, ``reparse`` and ``runs`` end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result

import harvester.ingest.inputs
from harvester.catalogue import Catalogue, canonical, recordcodec, store
from harvester.catalogue.diff import diff_records
from harvester.catalogue.lock import writer_lock
from harvester.errors import ParseError
from harvester.records import TrialRecord
from parsers import PARSER_VERSION, ctgov_json, veeva
from tests.conftest import FIXTURES, trials

SNAPSHOTS = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT06203210__vh*.json"))
LEGACY = FIXTURES / "ctgov-history/legacy-xml-redownloads"
VEEVA = FIXTURES / "mirror-veeva/NCT00557986.txt"
STUDY = FIXTURES / "ctgov-v2-json/studies/NCT00973089__aact.json"
TITLE = ("A Study of Ifinatamab Deruxtecan Versus Treatment of Physician's Choice in Subjects "
         "With Relapsed Small Cell Lung Cancer")
OLD_TITLE = "as an older parser read it"
SUMMARY = re.compile(r"run (\d+): (\d+) new, (\d+) changed, (\d+) unchanged, (\d+) failed "
                     r"in \d+\.\d s")


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def summary(result: Result) -> tuple[int, ...]:
    """(run, new, changed, unchanged, failed) of the summary line, the only line on stdout."""
    match = SUMMARY.fullmatch(result.stdout.rstrip("\n"))
    assert match, result.stdout
    return tuple(int(n) for n in match.groups())


def history(db: str, nct_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = as_json(trials(db, "history", nct_id, "--format", "json"))
    return rows


# --- import --------------------------------------------------------------------------------

def test_import_prints_what_it_stored(db_url: str) -> None:
    first = trials(db_url, "import", LEGACY)  # a folder: 13 downloads of 3 trials
    assert first.exit_code == 0 and first.stderr == ""
    # NCT00513591 as downloaded in January 2017 differs from June 2016 only in the MeSH terms
    # the registry assigned (it added "Arthritis"): MeSH terms are content, so it is changed
    assert summary(first) == (1, 3, 10, 0, 0)
    assert [len(history(db_url, n)) for n in ("NCT00482794", "NCT00513591", "NCT01642004")] \
        == [5, 5, 3]
    assert [r["registry_version"] for r in history(db_url, "NCT00513591")] == [
        "2016-06-27", "2017-01-18", "2017-08-08", "2017-10-20", "2018-05-11"]
    again = as_json(trials(db_url, "import", LEGACY, "--format", "json"))
    seconds = again.pop("seconds")
    assert isinstance(seconds, float) and seconds >= 0
    assert again == {"run": 2, "status": "ok", "new": 0, "changed": 0, "unchanged": 13,
                     "failed": 0, "skipped": 0}
    one_more = as_json(trials(db_url, "import", SNAPSHOTS[0], LEGACY / "NCT00513591__dl2016"
                              "-06-27__aact.xml", "--format", "json"))
    assert (one_more["new"], one_more["unchanged"]) == (1, 1)


def test_failed_inputs_are_named_and_the_rest_is_imported(db_url: str, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(STUDY.read_bytes()[:300])
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list: eggs, milk\n")
    result = trials(db_url, "import", truncated, STUDY, notes)
    assert result.exit_code == 1
    assert summary(result) == (1, 1, 0, 0, 2)
    errors = result.stderr.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith(f"trials: error: {truncated}: not valid JSON")
    assert errors[1].startswith(f"trials: error: {notes}: not JSON, XML or HTML")
    assert [r["version"] for r in history(db_url, "NCT00973089")] == [1]
    (run,) = as_json(trials(db_url, "runs", "--format", "json"))
    assert (run["status"], run["new"], run["failed"], run["message"]) == (
        "partial", 1, 2, "2 input(s) failed")
    as_json_result = trials(db_url, "import", truncated, "--format", "json")
    assert as_json_result.exit_code == 1
    data = json.loads(as_json_result.stdout)
    assert (data["status"], data["new"], data["failed"]) == ("partial", 0, 1)
    assert str(truncated) in as_json_result.stderr


def test_a_bulk_zip_imported_again_is_recognised_without_inflating(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "ctg-studies.json.zip"
    studies = sorted((FIXTURES / "ctgov-v2-json/studies").glob("NCT0*.json"))[:6]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in studies:
            zf.write(path, f"NCT0000xxxx/{path.name[:11]}.json")
    first = trials(db_url, "import", archive, "--format", "json")
    assert json.loads(first.stdout)["new"] == len(studies)

    def no_reading(*args: object) -> None:
        raise AssertionError("an entry imported before was inflated")

    monkeypatch.setattr(harvester.ingest.inputs.ZipEntry, "read", no_reading)
    again = trials(db_url, "import", archive, "--format", "json")
    assert json.loads(again.stdout)["unchanged"] == len(studies)
    with pytest.raises(AssertionError, match="inflated"):  # --verify reads every entry
        trials(db_url, "import", archive, "--verify", "--workers", "1")


def test_a_path_that_does_not_exist_is_a_usage_error(db_url: str, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    result = trials(db_url, "import", STUDY, missing)
    assert result.exit_code == 2 and result.stdout == ""
    assert f"cannot import {missing}" in result.stderr
    assert as_json(trials(db_url, "runs", "--format", "json")) == []  # nothing was started


def test_quiet_prints_nothing_but_errors(db_url: str, tmp_path: Path) -> None:
    quiet = trials(db_url, "import", "--quiet", SNAPSHOTS[0])
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    # a value outside the registry's vocabulary is kept, with a warning
    odd = tmp_path / "paused.txt"
    odd.write_text(VEEVA.read_text().replace("\nCompleted\n", "\nPaused Indefinitely\n"))
    warned = trials(db_url, "import", odd)
    assert warned.exit_code == 0 and summary(warned)[1:] == (1, 0, 0, 0)
    assert f"trials: warning: {odd}:" in warned.stderr and "Paused Indefinitely" in warned.stderr
    odd.write_text(odd.read_text().replace("\nPaused Indefinitely\n", "\nOn Hold\n"))
    silent = trials(db_url, "import", "--quiet", odd)
    assert (silent.exit_code, silent.stdout, silent.stderr) == (0, "", "")
    assert history(db_url, "NCT00557986")[1]["summary"] == "status Paused Indefinitely → On Hold"
    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(STUDY.read_bytes()[:300])
    failed = trials(db_url, "import", "--quiet", truncated, "--format", "json")
    assert failed.exit_code == 1 and failed.stdout == ""
    assert failed.stderr.startswith(f"trials: error: {truncated}: not valid JSON")


def test_a_catalogue_another_run_is_writing_is_refused(db_url: str) -> None:
    with Catalogue.open(db_url) as catalogue, writer_lock(catalogue.engine):
        for command in (("import", STUDY), ("reparse",)):
            busy = trials(db_url, *command)
            assert busy.exit_code == 3 and busy.stdout == "", command
            assert "another import or sync is writing to this catalogue" in busy.stderr
    assert as_json(trials(db_url, "runs", "--format", "json")) == []
    assert summary(trials(db_url, "import", STUDY)) == (1, 1, 0, 0, 0)


# --- runs ----------------------------------------------------------------------------------

def test_runs_lists_the_latest_first(db_url: str, tmp_path: Path) -> None:
    trials(db_url, "import", *SNAPSHOTS[:2])
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    trials(db_url, "import", bad, SNAPSHOTS[2])
    rows = as_json(trials(db_url, "runs", "--format", "json"))
    assert [(r["id"], r["kind"], r["status"], r["new"], r["changed"], r["failed"])
            for r in rows] == [(2, "import", "partial", 0, 1, 1), (1, "import", "ok", 1, 1, 0)]
    assert rows[1]["arguments"] == {"paths": [str(p) for p in SNAPSHOTS[:2]],
                                                "source": None}
    assert rows[0]["message"] == "1 input(s) failed" and rows[1]["message"] is None
    assert all(r["started_at"] <= r["finished_at"] for r in rows)
    assert rows[1]["finished_at"] <= rows[0]["started_at"]
    assert [r["id"] for r in as_json(trials(db_url, "runs", "--limit", "1", "--format",
                                            "json"))] == [2]
    table = trials(db_url, "runs").stdout
    lines = [line for line in table.splitlines() if re.match(r" ?\d+ ", line)]
    assert [line.split()[:3] for line in lines] == [["2", "│", "import"],
                                                    ["1", "│", "import"]]
    assert "partial" in lines[0] and "1 input(s) failed" in lines[0] and "ok" in lines[1]
    assert trials(db_url, "runs", "--limit", "0").exit_code == 2


# --- reparse -------------------------------------------------------------------------------

@contextmanager
def older_parser(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Imports made meanwhile are by "parser version 0", which misread every API v2 title."""
    real = ctgov_json.parse_study

    def misread(study: Any) -> TrialRecord:
        return real(study).model_copy(update={"brief_title": OLD_TITLE})

    with monkeypatch.context() as m:
        m.setattr(store, "PARSER_VERSION", "0")
        m.setattr(ctgov_json, "parse_study", misread)
        yield


def test_reparse_supersedes_what_the_current_parser_reads_differently(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with older_parser(monkeypatch):
        assert summary(trials(db_url, "import", *SNAPSHOTS))[1:3] == (1, 2)
        assert trials(db_url, "import", VEEVA).exit_code == 0  # the Veeva parser is unchanged
    before = history(db_url, "NCT06203210")
    assert [r["parser_version"] for r in before] == ["0", "0", "0"]
    assert as_json(trials(db_url, "show", "NCT06203210", "--format", "json"))[
        "brief_title"] == OLD_TITLE

    result = trials(db_url, "reparse")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "run 3: 3 version(s) re-derived, 0 failed\n"
    after = history(db_url, "NCT06203210")
    assert [r["parser_version"] for r in after] == [PARSER_VERSION] * 3
    assert {r["id"] for r in after}.isdisjoint(r["id"] for r in before)
    # the same observations, re-derived: numbers, dates and summaries are unchanged
    keep = ("version", "seen_at", "registry_date", "registry_version", "summary")
    assert [{k: r[k] for k in keep} for r in after] == [{k: r[k] for k in keep}
                                                        for r in before]
    shown = trials(db_url, "show", "NCT06203210", "--format", "json")
    assert shown.stdout == trials(None, "parse", SNAPSHOTS[-1]).stdout
    assert json.loads(shown.stdout)["brief_title"] == TITLE
    with Catalogue.open(db_url) as catalogue:
        every = catalogue.versions("NCT06203210", include_superseded=True)
        assert len(every) == 6
        assert sorted(v.supersedes_id for v in every if v.supersedes_id) == sorted(
            r["id"] for r in before)
    # the Veeva version came out the same: it is not superseded
    (mirror,) = history(db_url, "NCT00557986")
    assert mirror["parser_version"] == "0"

    runs = as_json(trials(db_url, "runs", "--format", "json"))
    assert (runs[0]["kind"], runs[0]["status"], runs[0]["message"]) == (
        "reparse", "ok", "3 superseded")
    # re-deriving is not news, and a reparse is not the last run `changes` starts from
    since = runs[0]["started_at"]
    report = as_json(trials(db_url, "changes", "--since", since, "--format", "json"))
    assert report["new"] == report["other_changes"] == []
    last = as_json(trials(db_url, "changes", "--since-last-run", "--format", "json"))
    assert last["since"] == runs[1]["started_at"] and runs[1]["kind"] == "import"

    again = trials(db_url, "reparse", "--all")
    assert again.stdout == "run 4: 0 version(s) re-derived, 0 failed\n"
    assert [r["id"] for r in history(db_url, "NCT06203210")] == [r["id"] for r in after]


def test_reparse_with_nothing_to_change(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(store, "PARSER_VERSION", "0")
        trials(db_url, "import", SNAPSHOTS[0], STUDY)
    before = history(db_url, "NCT06203210")
    result = trials(db_url, "reparse", "NCT06203210")
    assert (result.exit_code, result.stdout) == (0, "run 2: 0 version(s) re-derived, 0 failed\n")
    assert history(db_url, "NCT06203210") == before
    with Catalogue.open(db_url) as catalogue:
        assert len(catalogue.versions("NCT06203210", include_superseded=True)) == 1


def test_reparse_of_the_trials_named(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with older_parser(monkeypatch):
        trials(db_url, "import", SNAPSHOTS[0], STUDY)
    result = trials(db_url, "reparse", "NCT00973089")
    assert result.stdout == "run 2: 1 version(s) re-derived, 0 failed\n"
    assert [r["parser_version"] for r in history(db_url, "NCT00973089")] == [PARSER_VERSION]
    assert [r["parser_version"] for r in history(db_url, "NCT06203210")] == ["0"]


def test_a_payload_the_parser_now_refuses_is_reported(db_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(store, "PARSER_VERSION", "0")
        trials(db_url, "import", VEEVA, SNAPSHOTS[0])

    def refuse(data: bytes) -> TrialRecord:
        raise ParseError("no longer understood")

    monkeypatch.setattr(veeva, "parse", refuse)
    result = trials(db_url, "reparse")
    assert result.exit_code == 1
    assert result.stdout == "run 2: 0 version(s) re-derived, 1 failed\n"
    assert result.stderr == ("trials: error: NCT00557986 version 1: cannot re-parse its "
                             "payload\n")
    run = as_json(trials(db_url, "runs", "--format", "json"))[0]
    assert (run["kind"], run["status"], run["failed"]) == ("reparse", "partial", 1)


MESH_FIELDS = ("condition_mesh", "condition_ancestors", "intervention_mesh",
               "intervention_ancestors")


def _stored_as(db_url: str, parser_version: str,
               downgrade: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Rewrite every stored version as an older parser wrote it: its record JSON passed
    through ``downgrade``, with the content hash of that record."""
    with Catalogue.open(db_url) as catalogue, catalogue.engine.begin() as conn:
        version = sa.table("version", sa.column("id"), sa.column("record"),
                           sa.column("content_hash"), sa.column("parser_version"))
        for row in conn.execute(sa.select(version.c.id, version.c.record)).all():
            old = downgrade(json.loads(recordcodec.unpack(row.record)))
            conn.execute(sa.update(version).where(version.c.id == row.id).values(
                record=recordcodec.pack(json.dumps(old, separators=(",", ":"),
                                                   ensure_ascii=False)),
                content_hash=canonical.content_hash(TrialRecord.model_validate(old)),
                parser_version=parser_version))


def _as_parser_1_stored_it(db_url: str) -> None:
    """Rewrite every stored version as parser version 1 (before MeSH) wrote it: record JSON
    without the MeSH keys, and the content hash of that record."""
    _stored_as(db_url, "1", lambda rec: {k: v for k, v in rec.items() if k not in MESH_FIELDS})


def test_reparse_adds_mesh_terms_to_a_catalogue_of_parser_version_1(db_url: str) -> None:
    json_without_mesh = FIXTURES / "ctgov-v2-json/studies/NCT05828563__partrita-tigit.json"
    xml_with_mesh = FIXTURES / "ctgov-xml/NCT02654730__aact.xml"
    assert trials(db_url, "import", STUDY, json_without_mesh, xml_with_mesh).exit_code == 0
    _as_parser_1_stored_it(db_url)
    before = as_json(trials(db_url, "show", "NCT00973089", "--format", "json"))
    assert [before[f] for f in MESH_FIELDS] == [[], [], [], []]

    result = trials(db_url, "reparse")
    assert result.stdout == "run 2: 2 version(s) re-derived, 0 failed\n", result.stderr
    shown = as_json(trials(db_url, "show", "NCT00973089", "--format", "json"))
    assert shown["condition_mesh"] == [{"id": "D000003731", "term": "Dental Caries"}]
    assert [m["term"] for m in shown["condition_ancestors"]] == [
        "Tooth Demineralization", "Tooth Diseases", "Stomatognathic Diseases"]
    assert {k: v for k, v in shown.items() if k not in MESH_FIELDS} == {
        k: v for k, v in before.items() if k not in MESH_FIELDS}
    legacy = as_json(trials(db_url, "show", "NCT02654730", "--format", "json"))
    assert [m["term"] for m in legacy["intervention_mesh"]] == [
        "Primaquine", "Piperaquine", "Dihydroartemisinin", "Artemisinins"]
    assert [r["parser_version"] for r in history(db_url, "NCT00973089")] == [PARSER_VERSION]
    # a record without MeSH hashes as parser 1 stored it: nothing to re-derive
    assert [r["parser_version"] for r in history(db_url, "NCT05828563")] == ["1"]
    with Catalogue.open(db_url) as catalogue:
        (old, new) = sorted(catalogue.versions("NCT00973089", include_superseded=True),
                            key=lambda v: v.id)
        assert new.supersedes_id == old.id
        changes = diff_records(catalogue.record(old.id), catalogue.record(new.id))
    assert [c.describe() for c in changes] == [
        "condition MeSH term added: Dental Caries",
        "condition MeSH ancestor added: Tooth Demineralization",
        "condition MeSH ancestor added: Tooth Diseases",
        "condition MeSH ancestor added: Stomatognathic Diseases"]


# What parser version 3 added to the record: the whole protocol and the results overview.
V3_FIELDS = ("outcomes", "references", "see_also", "officials", "central_contacts",
             "oversight", "ipd_sharing", "expanded_access", "documents", "results")


def _as_parser_2_stored_it(db_url: str) -> None:
    """Rewrite every stored version as parser version 2 wrote it: without the v3 keys (and
    without sites' status and contacts), with the content hash of that record."""
    def downgrade(rec: dict[str, Any]) -> dict[str, Any]:
        old = {k: v for k, v in rec.items() if k not in V3_FIELDS}
        old["locations"] = [{k: v for k, v in loc.items() if k not in ("status", "contacts")}
                            for loc in old["locations"]]
        return old
    _stored_as(db_url, "2", downgrade)


def test_reparse_upgrades_a_catalogue_of_parser_version_2(db_url: str) -> None:
    with_results = FIXTURES / "ctgov-v2-json/studies/NCT02552212__aact.json"
    legacy = FIXTURES / "ctgov-history/legacy-xml-redownloads/NCT01642004__dl2018-05-11__aact.xml"
    assert trials(db_url, "import", with_results, legacy).exit_code == 0
    _as_parser_2_stored_it(db_url)
    before = as_json(trials(db_url, "show", "NCT02552212", "--format", "json"))
    assert before["outcomes"] == [] and before["results"] is None

    result = trials(db_url, "reparse")
    assert result.stdout == "run 2: 2 version(s) re-derived, 0 failed\n", result.stderr
    shown = as_json(trials(db_url, "show", "NCT02552212", "--format", "json"))
    assert [o["kind"] for o in shown["outcomes"]].count("PRIMARY") == 11
    assert [r["pmid"] for r in shown["references"]] == [
        "35296532", "35733363", "34715908", "30848558"]
    assert len(shown["results"]["outcome_measures"]) == 31
    assert shown["expanded_access"]["nct_id"] == "NCT03559686"
    xml = as_json(trials(db_url, "show", "NCT01642004", "--format", "json"))
    assert xml["outcomes"] and xml["results"]["participant_flow"]
    for nct_id in ("NCT02552212", "NCT01642004"):
        assert [r["parser_version"] for r in history(db_url, nct_id)] == [PARSER_VERSION]
    # the re-derived version supersedes the old one; what it adds is told outcome by outcome
    with Catalogue.open(db_url) as catalogue:
        (old, new) = sorted(catalogue.versions("NCT02552212", include_superseded=True),
                            key=lambda v: v.id)
        assert new.supersedes_id == old.id
        told = [c.describe() for c in diff_records(catalogue.record(old.id),
                                                   catalogue.record(new.id))]
    assert "primary outcome added: Certolizumab Pegol Plasma Concentration at Week 1" in told
    assert "results posted" in told
