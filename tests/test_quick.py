"""The quick SQLite reader (`trials show` and `trials status` without SQLAlchemy) reads what
the Catalogue reads, and steps aside whenever the usual path must run."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from harvester.catalogue import Catalogue
from harvester.catalogue.engine import MIGRATIONS
from harvester.catalogue.health import catalogue_status
from harvester.catalogue.location import SCHEMA_VERSION
from harvester.catalogue.lock import set_command, writer_lock
from harvester.catalogue.quick import FEATURES_VERSION, QuickReader
from harvester.catalogue.statusinfo import Status
from harvester.catalogue.syncstate import save_query
from harvester.errors import NotFoundError
from harvester.find.similar import features
from harvester.serve import ReplicaServer, StudyStore
from tests.conftest import FIXTURES, trials

HISTORY = FIXTURES / "ctgov-history" / "api-v2-snapshots"


@pytest.fixture(scope="module")
def catalogue_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Several trials, one with a history of versions, one from a registry and a mirror."""
    path = tmp_path_factory.mktemp("quick") / "catalogue.sqlite"
    db = f"sqlite:///{path}"
    for source in (FIXTURES / "ctgov-v2-json" / "studies", *HISTORY.glob("NCT06203210__vh*"),
                   FIXTURES / "constructed" / "NCT00557986__ctgov-partial.json",
                   FIXTURES / "mirror-veeva" / "NCT00557986.txt"):
        assert trials(db, "import", source).exit_code == 0
    return path


def test_schema_version_is_the_number_of_migrations() -> None:
    assert len(MIGRATIONS) == SCHEMA_VERSION


def test_features_version_is_the_similarity_index_s() -> None:
    assert features.FEATURES_VERSION == FEATURES_VERSION


def test_reads_what_the_catalogue_reads(catalogue_file: Path) -> None:
    url = f"sqlite:///{catalogue_file}"
    with Catalogue.open(url, create=False) as catalogue, QuickReader.open(url) as quick:
        ids = catalogue.trial_ids()
        assert len(ids) > 5 and "NCT06203210" in ids and "NCT00557986" in ids
        assert len(catalogue.versions("NCT06203210")) > 2
        assert {i.source for i in catalogue.versions("NCT00557986")} == {"ctgov-json", "veeva"}
        for nct_id in ids:
            assert quick.has_trial(nct_id)
            assert quick.versions(nct_id) == catalogue.versions(nct_id)
            assert (quick.versions(nct_id, include_superseded=True)
                    == catalogue.versions(nct_id, include_superseded=True))
            for source in (None, "ctgov-json", "veeva"):
                for as_of in (None, date(2026, 2, 5), date(2000, 1, 1)):
                    assert (quick.current(nct_id, source=source, as_of=as_of)
                            == catalogue.current(nct_id, source=source, as_of=as_of))
            info = catalogue.current(nct_id)
            assert info is not None
            assert quick.record(info.id) == catalogue.record(info.id)
        assert not quick.has_trial("NCT99999999")
        assert quick.versions("NCT99999999") == []
        with pytest.raises(NotFoundError):
            quick.record(10**9)


def test_show_prints_the_same_either_way(catalogue_file: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{catalogue_file}"
    cases = (["NCT06203210"], ["NCT06203210", "--as-of", "2026-02-05", "--format", "json"],
             ["NCT00557986", "--source", "veeva"], ["NCT00557986"], ["NCT99999999"],
             ["NCT06203210", "--as-of", "2000-01-01"])
    quick = [trials(db, "show", *args) for args in cases]
    monkeypatch.setattr(QuickReader, "open", classmethod(lambda cls, db: None))
    usual = [trials(db, "show", *args) for args in cases]
    for args, fast, slow in zip(cases, quick, usual, strict=True):
        assert (fast.exit_code, fast.output) == (slow.exit_code, slow.output), args
    assert [r.exit_code for r in quick] == [0, 0, 0, 0, 4, 4]
    assert "NCT99999999 is not in the catalogue" in quick[4].output


def test_an_older_schema_takes_the_usual_path(catalogue_file: Path, tmp_path: Path) -> None:
    """The usual path upgrades an older catalogue; the quick reader never reads one."""
    reader = QuickReader.open(str(catalogue_file))
    assert reader is not None
    reader.close()
    older = tmp_path / "older.sqlite"
    with sqlite3.connect(catalogue_file) as source, sqlite3.connect(older) as copy:
        source.backup(copy)  # the WAL's pages too
    with sqlite3.connect(older) as conn:
        conn.execute("UPDATE schema_info SET value = '7' WHERE key = 'schema_version'")
    assert QuickReader.open(str(older)) is None


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",  # not SQLite: SQLAlchemy reads it
    "sqlite://",  # in memory
    "sqlite:///relative/missing.sqlite",
])
def test_steps_aside_for_other_databases(url: str) -> None:
    assert QuickReader.open(url) is None


def test_steps_aside_for_what_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite"
    assert QuickReader.open(str(missing)) is None
    assert not missing.exists()  # nothing created
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    assert QuickReader.open(str(junk)) is None
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    assert QuickReader.open(str(empty)) is None
    assert trials(str(missing), "show", "NCT00973089").exit_code == 3


def _both(url: str) -> tuple[Status, Status]:
    """The status as the quick reader and as the usual path read it (one clock)."""
    quick = QuickReader.open(url)
    assert quick is not None
    with quick, Catalogue.open(url, create=False) as catalogue:
        fast, usual = quick.status(), catalogue_status(catalogue)
    fast.now = usual.now
    return fast, usual


def test_status_reads_what_the_catalogue_reads(tmp_path: Path) -> None:
    """Saved queries (one never synced well), a sync batch with a failure, the writer lock
    held, the similarity index behind and then built: the same status either way."""
    url = f"sqlite:///{tmp_path / 'catalogue.sqlite'}"
    store = StudyStore.from_folder(FIXTURES / "ctgov-v2-json" / "studies",
                                   data_timestamp="2026-08-14T09:00:05")
    with ReplicaServer(store) as srv:
        for args in (("--cond", "allergy", "--save", "allergy"),
                     ("--status", "RECRUITING", "--save", "recruiting")):
            assert trials(url, "sync", "--base-url", srv.base_url, "--min-interval", "0",
                          "--quiet", *args).exit_code == 0
        fast, usual = _both(url)
        assert fast == usual
        assert [q.name for q in fast.queries] == ["allergy", "recruiting"]
        assert fast.last_sync is not None and fast.last_sync.kind == "sync"
        with Catalogue.open(url) as catalogue:
            save_query(catalogue, "bad", {"filter.advanced": "AREA[Bogus]x"})
        assert trials(url, "sync", "--all", "--quiet", "--base-url", srv.base_url,
                      "--min-interval", "0").exit_code == 3
    fast, usual = _both(url)
    assert fast == usual
    assert fast.last_sync is not None and fast.last_sync.kind == "batch"
    assert fast.last_sync.failed and fast.queries[0].last_run is not None
    assert fast.similarity_pending == fast.trials > 0
    set_command(["sync", "--all"])
    with Catalogue.open(url) as catalogue, writer_lock(catalogue.engine):
        fast, usual = _both(url)
        assert fast == usual and fast.lock is not None
    assert trials(url, "index").exit_code == 0
    fast, usual = _both(url)
    assert fast == usual and fast.similarity_pending == 0 and fast.lock is None
