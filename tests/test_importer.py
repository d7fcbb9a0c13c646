"""`Importer`: files, folders and zips into the catalogue; failures; kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

import harvester.ingest.importer
import harvester.ingest.inputs
import harvester.ingest.preparing
from harvester.catalogue import Catalogue
from harvester.catalogue.lock import writer_lock
from harvester.errors import CatalogueBusyError
from harvester.ingest.importer import Importer
from tests.conftest import FIXTURES
from tests.test_workers import assert_all_end, descendants

ROOT = Path(__file__).resolve().parent.parent
SMALL_STUDIES = [p for p in sorted((FIXTURES / "ctgov-v2-json/studies").glob("*.json"))
                 if p.stat().st_size < 20_000]


def generate_studies(folder: Path, count: int) -> list[str]:
    """``count`` study files made from real small studies under fresh NCT ids."""
    folder.mkdir(parents=True, exist_ok=True)
    bases = [json.loads(p.read_bytes()) for p in SMALL_STUDIES]
    ids = []
    for i in range(count):
        study = bases[i % len(bases)]
        nct_id = f"NCT9{i:07d}"
        study["protocolSection"]["identificationModule"]["nctId"] = nct_id
        (folder / f"{nct_id}.json").write_text(json.dumps(study))
        ids.append(nct_id)
    return ids


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        out = {table: conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
               for table in ("version", "trial", "payload")}
        out["payload_data"] = conn.execute(sa.text(
            "SELECT count(*) FROM payload WHERE data IS NOT NULL")).scalar_one()
        out["orphans"] = conn.execute(sa.text(
            "SELECT count(*) FROM version v LEFT JOIN payload p ON p.sha256 = v.payload_sha256 "
            "WHERE p.sha256 IS NULL")).scalar_one()
        out["dangling"] = conn.execute(sa.text(
            "SELECT count(*) FROM trial t LEFT JOIN version v ON v.id = t.current_version_id "
            "WHERE v.id IS NULL")).scalar_one()
        out["distinct_nct"] = conn.execute(sa.text(
            "SELECT count(DISTINCT nct_id) FROM version")).scalar_one()
    engine.dispose()
    return out


def test_folders_and_pages_import_with_counts_and_a_run(db_url: str) -> None:
    problems: list[str] = []
    with Catalogue.open(db_url) as cat:
        summary = Importer(cat, on_problem=problems.append).run(
            [FIXTURES / "ctgov-history", FIXTURES / "ctgov-v2-json/list-pages"])
        assert summary.failed == 4  # the watcher's diff log (3 entries) and capture receipts
        assert any("watcher-diff-log" in p and "[0]" in p for p in problems)
        assert summary.new + summary.changed == counts(db_url)["version"]
        run = cat.run(summary.run_id)
        assert run["status"] == "partial" and run["failed"] == 4
        assert run["new"] == summary.new and run["finished_at"] is not None
        assert "ctgov-history" in run["arguments"]
        assert [v.registry_date for v in cat.versions("NCT06203210")] == [
            "2026-01-20", "2026-02-09", "2026-03-02"]


def test_reimport_is_unchanged_without_parsing(db_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    generate_studies(tmp_path / "in", 120)
    with Catalogue.open(db_url) as cat:
        first = Importer(cat, batch_size=50).run([tmp_path / "in"])
        assert (first.new, first.changed, first.unchanged) == (120, 0, 0)

        def no_parsing(*args: object, **kwargs: object) -> None:
            raise AssertionError("an unchanged payload was parsed")

        monkeypatch.setattr(harvester.ingest.preparing, "iter_studies", no_parsing)
        again = Importer(cat, batch_size=50).run([tmp_path / "in"])
        assert (again.new, again.changed, again.unchanged, again.failed) == (0, 0, 120, 0)
    assert counts(db_url)["version"] == 120


def test_bulk_zip_is_streamed_entry_by_entry(db_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "ctg-studies.json.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in SMALL_STUDIES:
            nct = path.name[:11]
            zf.write(path, f"{nct[:7]}xxxx/{nct}.json")
        zf.writestr("NCT0000xxxx/NCT00000000.json", b"{not json")
    problems: list[str] = []
    with Catalogue.open(db_url) as cat:
        summary = Importer(cat, on_problem=problems.append).run([archive])
    assert summary.new == len(SMALL_STUDIES) and summary.failed == 1
    with Catalogue.open(db_url) as cat:  # kept as the entry's own deflate stream, unchanged
        first = SMALL_STUDIES[0]
        (version,) = cat.versions(first.name[:11])
        assert cat.payload(version.id) == first.read_bytes()
        with cat.engine.connect() as conn:
            codecs = set(conn.execute(sa.text("SELECT codec FROM payload")).scalars())
        assert codecs == {"deflate"}
    (problem,) = problems
    assert problem.startswith(f"{archive}:NCT0000xxxx/NCT00000000.json: not valid JSON (")


def test_a_zip_imported_before_is_not_even_inflated(db_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "ctg-studies.json.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in SMALL_STUDIES:
            zf.write(path, f"NCT0000xxxx/{path.name[:11]}.json")
    with Catalogue.open(db_url) as cat:
        Importer(cat).run([archive])

        def no_reading(*args: object) -> None:
            raise AssertionError("an entry imported before was inflated")

        monkeypatch.setattr(harvester.ingest.inputs.ZipEntry, "read", no_reading)
        again = Importer(cat).run([archive])
        assert (again.new, again.unchanged, again.failed) == (0, len(SMALL_STUDIES), 0)
        assert cat.run(again.run_id)["unchanged"] == len(SMALL_STUDIES)
        monkeypatch.undo()
        # A changed entry under the same name is read; --verify reads every entry.
        with zipfile.ZipFile(archive, "a") as zf:
            study = json.loads(SMALL_STUDIES[0].read_bytes())
            study["protocolSection"]["identificationModule"]["briefTitle"] = "Retitled"
            zf.writestr("NCT0000xxxy/" + SMALL_STUDIES[0].name[:11] + ".json",
                        json.dumps(study))
        third = Importer(cat).run([archive])
        assert (third.changed, third.unchanged) == (1, len(SMALL_STUDIES))
        verified = Importer(cat, verify=True).run([archive])
        assert verified.unchanged == len(SMALL_STUDIES) + 1


def test_bad_input_never_touches_what_is_stored(db_url: str, tmp_path: Path) -> None:
    generate_studies(tmp_path / "good", 30)
    with Catalogue.open(db_url) as cat:
        Importer(cat).run([tmp_path / "good"])
        before = counts(db_url)
        truncated = tmp_path / "AllPublicXML.zip"
        with zipfile.ZipFile(truncated, "w") as zf:
            for path in sorted((FIXTURES / "ctgov-xml").glob("*.xml"))[:5]:
                zf.write(path, f"NCT0000xxxx/{path.name}")
        truncated.write_bytes(truncated.read_bytes()[:-40])
        problems: list[str] = []
        summary = Importer(cat, on_problem=problems.append).run([truncated])
        assert summary.failed >= 1 and summary.new == 0
        assert any(str(truncated) in p for p in problems)
        assert cat.run(summary.run_id)["status"] == "partial"
    after = counts(db_url)
    assert after == before


def test_a_second_writer_is_refused(db_url: str, tmp_path: Path) -> None:
    generate_studies(tmp_path / "in", 3)
    with Catalogue.open(db_url) as cat, writer_lock(cat.engine):
        other = Catalogue.open(db_url)
        with pytest.raises(CatalogueBusyError, match="another import or sync"):
            Importer(other).run([tmp_path / "in"])
        other.close()


def test_a_killed_import_leaves_a_consistent_catalogue_and_resumes(db_url: str,
                                                                   tmp_path: Path) -> None:
    total = 1500
    generate_studies(tmp_path / "in", total)
    Catalogue.open(db_url).close()
    command = [sys.executable, str(ROOT / "cli.py"), "import", str(tmp_path / "in"),
               "--db", db_url, "--batch-size", "25", "--no-progress", "--quiet"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while counts(db_url)["version"] < 200:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the import did not get going"
        time.sleep(0.02)
    workers = descendants(proc.pid)  # the parsing workers and the resource tracker
    assert workers, "the import of 1,500 payloads should parse in worker processes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert_all_end(workers)  # no orphans: they end with the import
    killed = counts(db_url)
    assert 0 < killed["version"] < total, "the import finished before it could be killed"
    # Consistent: whole batches only, every version with its payload and its trial pointer.
    assert killed["version"] % 25 == 0
    assert killed["orphans"] == killed["dangling"] == 0
    assert killed["version"] == killed["payload_data"] == killed["trial"]

    with Catalogue.open(db_url) as cat:
        (stuck,) = [r for r in cat.runs() if r["status"] == "running"]
        summary = Importer(cat, batch_size=100).run([tmp_path / "in"])
        assert (summary.new, summary.unchanged) == (total - killed["version"],
                                                    killed["version"])
        assert cat.run(stuck["id"])["status"] == "interrupted"
        assert cat.run(summary.run_id)["status"] == "ok"
    done = counts(db_url)
    assert done["version"] == done["distinct_nct"] == done["trial"] == total
    assert done["orphans"] == done["dangling"] == 0
