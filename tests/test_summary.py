"""Each version's summary (harvester/catalogue/summary.py): stored with the version, filled in
by the migration for a catalogue made before it (resumed after a kill), and what search hits
and result lines show, exactly as read from the records before."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue, recordcodec, summary
from harvester.catalogue import tables as t
from harvester.catalogue.location import SCHEMA_VERSION
from harvester.catalogue.selection import Selection
from harvester.find.search import search
from tests.conftest import FIXTURES, trials
from tests.corpusdb import CORPUS

V = t.Version.__table__  # type: ignore[attr-defined]
HISTORY = FIXTURES / "ctgov-history" / "api-v2-snapshots"


def _pages(catalogue: Catalogue) -> list[Any]:
    """Search pages with and without words (titles, conditions, status… of every hit)."""
    return [[hit.to_json() for hit in search(catalogue, text, selection, limit=200).hits]
            for text, selection in (("cancer", Selection()), (None, Selection()),
                                    ("trial", Selection(statuses=("COMPLETED",))))]


def _summaries(catalogue: Catalogue) -> dict[int, str]:
    with catalogue.engine.connect() as conn:
        return {int(r[0]): str(r[1]) for r in conn.exec_driver_sql(
            f"SELECT version_id, summary FROM {summary.TABLE}")}


def _as_before_summaries(catalogue: Catalogue) -> None:
    """Make the catalogue what schema 12 was: no summaries."""
    with catalogue.engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {summary.TABLE}")
        conn.exec_driver_sql("UPDATE schema_info SET value = '12' "
                             "WHERE key = 'schema_version'")


@pytest.fixture
def filled(db_url: str) -> str:
    for source in (*CORPUS, *sorted(HISTORY.glob("NCT06203210__vh*"))):
        assert trials(db_url, "import", source).exit_code == 0
    return db_url


def test_every_version_is_summarised_as_its_record_reads(filled: str) -> None:
    with Catalogue.open(filled) as catalogue, catalogue.engine.connect() as conn:
        stored = _summaries(catalogue)
        rows = conn.execute(sa.select(V)).all()
        assert len(rows) > 60 and set(stored) == {row.id for row in rows}
        for row in rows:
            made = summary.make(recordcodec.unpack(row.record), dict(row._mapping))
            assert stored[row.id] == summary.encode(made)
            record = catalogue.record(row.id)
            got = summary.read(conn, [row.id])[row.id]
            assert got.title == (record.brief_title or record.official_title)
            assert got.conditions == list(record.conditions)
            assert got.overall_status == row.overall_status
            assert got.enrollment_count == row.enrollment_count


def test_the_migration_fills_the_summaries_and_pages_are_unchanged(filled: str) -> None:
    with Catalogue.open(filled) as catalogue:
        before, stored = _pages(catalogue), _summaries(catalogue)
        assert any(hit["title"] and hit["conditions"] for hit in before[0])
        _as_before_summaries(catalogue)
    with Catalogue.open(filled) as catalogue, catalogue.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT value FROM schema_info WHERE key = "
                                    "'schema_version'").scalar() == str(SCHEMA_VERSION)
        assert conn.exec_driver_sql(f"SELECT count(*) FROM schema_info WHERE key = "
                                    f"'{summary.PROGRESS}'").scalar() == 0
        assert _summaries(catalogue) == stored
        assert _pages(catalogue) == before


def test_a_killed_backfill_resumes_where_it_stopped(filled: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with Catalogue.open(filled) as catalogue:
        before, stored = _pages(catalogue), _summaries(catalogue)
        _as_before_summaries(catalogue)
    monkeypatch.setattr(summary, "BATCH", 10)
    real, calls = summary.insert, []

    def dies_on_the_third_batch(conn: Any, rows: list[tuple[int, str]]) -> None:
        calls.append(len(rows))
        if len(calls) == 3:
            raise KeyboardInterrupt  # as a kill: the open batch is rolled back
        real(conn, rows)

    monkeypatch.setattr(summary, "insert", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        Catalogue.open(filled)
    monkeypatch.setattr(summary, "insert", real)
    engine = sa.create_engine(filled)
    with engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {summary.TABLE}").scalar() == 20
        assert conn.exec_driver_sql(f"SELECT value FROM schema_info WHERE key = "
                                    f"'{summary.PROGRESS}'").scalar() is not None
    engine.dispose()
    with Catalogue.open(filled) as catalogue:  # the next opening finishes the work
        assert _summaries(catalogue) == stored
        assert _pages(catalogue) == before


def test_a_version_without_a_summary_reads_from_its_record(filled: str) -> None:
    with Catalogue.open(filled) as catalogue:
        before = _pages(catalogue)
        with catalogue.engine.begin() as conn:
            conn.exec_driver_sql(f"DELETE FROM {summary.TABLE}")
        assert _pages(catalogue) == before


def test_the_summary_read_from_the_models_is_that_of_the_stored_json() -> None:
    from harvester.catalogue.canonical import serialise
    from harvester.catalogue.prepared import _filter_columns
    from harvester.catalogue.summaryvalues import row, row_of_record
    from tests.test_canonical import RECORDS

    for record in RECORDS:
        columns = _filter_columns(record)
        assert row_of_record(record, columns) == row(serialise(record).record_json, columns)
