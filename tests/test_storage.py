"""A full disk, a read-only catalogue or a lost database server is one clear line, exit 3,
the run marked failed, nothing stored lost, and the next run resumes
(harvester/catalogue/storage.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import harvester.catalogue.engine as engine_module
from harvester.catalogue import Catalogue
from harvester.errors import StorageError
from harvester.ingest.importer import Importer
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import POSTGRES_ENV, empty_catalogue, trials
from tests.test_importer import counts, generate_studies
from tests.test_sync import generated


def limit_sqlite(monkeypatch: pytest.MonkeyPatch, pragma: str) -> None:
    """Every SQLite connection opened from now on also runs ``pragma``."""
    original = engine_module._sqlite_pragmas

    def pragmas(dbapi_conn: Any, record: Any) -> None:
        original(dbapi_conn, record)
        dbapi_conn.execute(pragma)

    monkeypatch.setattr(engine_module, "_sqlite_pragmas", pragmas)


def page_count(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
    engine.dispose()
    return pages


def runs(url: str) -> list[dict[str, Any]]:
    with Catalogue.open(url) as cat:
        return cat.runs()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    with empty_catalogue("sqlite", tmp_path) as url:
        yield url


def test_a_full_disk_ends_an_import_in_one_line(sqlite_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    generate_studies(tmp_path / "first", 20)
    assert trials(sqlite_url, "import", tmp_path / "first", "--quiet").exit_code == 0
    before = counts(sqlite_url)
    generate_studies(tmp_path / "more", 400)  # the first 20 are those already stored
    # The catalogue may grow by a few pages only: SQLite's own "database or disk is full".
    with monkeypatch.context() as patch:
        limit_sqlite(patch, f"PRAGMA max_page_count={page_count(sqlite_url) + 4}")
        result = trials(sqlite_url, "import", tmp_path / "more", "--batch-size", "50",
                        "--no-progress")
    assert result.exit_code == 3, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"trials: error: catalogue {sqlite_url}: disk full")
    assert len(line) < 400  # no SQL, no record data
    after = counts(sqlite_url)
    assert after["orphans"] == after["dangling"] == 0  # consistent
    assert after["version"] >= before["version"]
    assert runs(sqlite_url)[0]["status"] == "failed"
    # Room again: the next run stores the rest, nothing twice.
    again = trials(sqlite_url, "import", tmp_path / "more", "--quiet")
    assert again.exit_code == 0, again.output
    done = counts(sqlite_url)
    assert done["version"] == done["distinct_nct"] == 400


def test_a_full_disk_ends_a_sync_in_one_line(sqlite_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    with ReplicaServer(StudyStore(generated(300))) as server:
        base = ["--base-url", server.base_url, "--min-interval", "0", "--page-size", "50"]
        assert trials(sqlite_url, "sync", "--ids", "NCT90000000", *base).exit_code == 0
        with monkeypatch.context() as patch:
            limit_sqlite(patch, f"PRAGMA max_page_count={page_count(sqlite_url) + 4}")
            result = trials(sqlite_url, "sync", *base, "--quiet")
        assert result.exit_code == 3, result.output
        errors = [line for line in result.stderr.splitlines() if "error" in line]
        assert len(errors) == 1 and f"catalogue {sqlite_url}: disk full" in errors[0]
        assert len(result.stderr) < 1000  # was ~12 KB of SQL and record data
        assert runs(sqlite_url)[0]["status"] == "failed"
        resumed = trials(sqlite_url, "sync", *base, "--quiet")
        assert resumed.exit_code == 0, resumed.output
    assert counts(sqlite_url)["distinct_nct"] == 300


def test_a_read_only_catalogue_is_one_line(sqlite_url: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    generate_studies(tmp_path / "in", 5)
    Catalogue.open(sqlite_url).close()
    limit_sqlite(monkeypatch, "PRAGMA query_only=ON")
    result = trials(sqlite_url, "import", tmp_path / "in", "--no-progress")
    assert result.exit_code == 3
    (line,) = result.stderr.splitlines()
    assert f"catalogue {sqlite_url}: cannot write: the database or its file system is " \
           "read-only" in line


def test_a_postgres_server_that_goes_away_mid_import(tmp_path: Path) -> None:
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set")
    generate_studies(tmp_path / "in", 300)
    with empty_catalogue("postgresql", tmp_path) as url:
        killer = sa.create_engine(base)
        with Catalogue.open(url) as cat:
            inserts = 0

            def kill_on_the_third_batch(conn: Any, cursor: Any, statement: str,
                                        *args: Any) -> None:
                nonlocal inserts
                # Versions, child rows and payloads go by COPY; new trials' rows are
                # inserted after the versions, in the same transaction.
                if statement.startswith("INSERT INTO trial "):
                    inserts += 1
                    if inserts == 3:  # mid-transaction: the batch's versions are written
                        pid = conn.connection.dbapi_connection.info.backend_pid
                        with killer.begin() as other:
                            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                                          {"pid": pid})

            sa.event.listen(cat.engine, "before_cursor_execute", kill_on_the_third_batch)
            with pytest.raises(StorageError) as caught:
                Importer(cat, batch_size=50, workers=1).run([tmp_path / "in"])
            sa.event.remove(cat.engine, "before_cursor_execute", kill_on_the_third_batch)
            message = str(caught.value)
            assert "\n" not in message and "INSERT" not in message
            assert "the database server ended the connection" in message or \
                "lost the connection" in message
            killed = counts(url)
            assert killed["version"] == 100 and killed["orphans"] == killed["dangling"] == 0
            assert cat.runs()[0]["status"] == "failed"
            again = Importer(cat, batch_size=50).run([tmp_path / "in"])
            assert (again.new, again.unchanged) == (200, 100)
        killer.dispose()
        assert counts(url)["distinct_nct"] == 300


def test_other_database_errors_are_not_storage_errors(sqlite_url: str) -> None:
    with (Catalogue.open(sqlite_url) as cat, cat.engine.connect() as conn,
          pytest.raises(sa.exc.OperationalError, match="no such table")):
        conn.exec_driver_sql("SELECT * FROM no_such_table")
    assert json.dumps(runs(sqlite_url)) == "[]"
