"""The catalogue store, on SQLite and on PostgreSQL: versions, order, as-of, sources."""

from __future__ import annotations

import hashlib
import itertools
import warnings
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue, Incoming
from harvester.catalogue.diff import diff_records
from harvester.catalogue.engine import make_engine
from harvester.catalogue.store import supersede
from parsers import PARSER_VERSION, parse_bytes
from tests.conftest import FIXTURES

SNAPSHOTS = sorted((FIXTURES / "ctgov-history/api-v2-snapshots").glob("NCT06203210__vh*.json"))
VEEVA = FIXTURES / "mirror-veeva/NCT00557986.txt"
CTGOV_PARTIAL = FIXTURES / "constructed/NCT00557986__ctgov-partial.json"


def incoming(path: Path) -> Incoming:
    data = path.read_bytes()
    (record,) = parse_bytes(data)
    return Incoming(record, data, hashlib.sha256(data).hexdigest(), path.name)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def catalogue(db_url: str, clock: Clock) -> Catalogue:
    cat = Catalogue.open(db_url, clock=clock)
    yield cat
    cat.close()


def test_history_is_the_same_whatever_the_import_order(db_url: str) -> None:
    items = [incoming(p) for p in SNAPSHOTS]
    histories = []
    for order in itertools.permutations(items):
        with Catalogue.open(db_url) as cat:
            with cat.engine.begin() as conn:  # start each order from an empty catalogue
                for table in ("version_condition", "version_intervention",
                              "version_facet", "version_place", "version_summary", "payload",
                              "trial", "version"):
                    conn.execute(sa.text(f"DELETE FROM {table}"))
            for item in order:
                cat.add([item])
            versions = cat.versions("NCT06203210")
            histories.append([(v.registry_date, v.content_hash) for v in versions])
            first, second = (cat.record(v.id) for v in versions[:2])
    assert len(set(map(tuple, histories))) == 1
    assert [d for d, _ in histories[0]] == ["2026-01-20", "2026-02-09", "2026-03-02"]
    fields = {c.field for c in diff_records(first, second)}
    assert {"overall_status", "eligibility.criteria"} <= fields
    assert (first.overall_status, second.overall_status) == ("ACTIVE_NOT_RECRUITING",
                                                             "RECRUITING")


def test_the_same_data_twice_adds_nothing(catalogue: Catalogue) -> None:
    items = [incoming(p) for p in SNAPSHOTS]
    assert catalogue.add(items) == ["new", "changed", "changed"]
    assert catalogue.add(items) == ["unchanged"] * 3
    assert len(catalogue.versions("NCT06203210")) == 3
    assert catalogue.known_payloads(i.payload_sha256 for i in items) == {
        i.payload_sha256 for i in items}


def test_a_new_data_version_of_unchanged_content_is_not_a_new_version(
        catalogue: Catalogue) -> None:
    older, newer = (incoming(FIXTURES / "ctgov-history/api-v2-snapshots" / name) for name in (
        "NCT02552212__vh2023-12-12__aact.json", "NCT02552212__vh2024-01-03__aact.json"))
    assert older.payload_sha256 != newer.payload_sha256
    assert catalogue.add([older, newer]) == ["new", "unchanged"]
    # the second payload is remembered, so a third import of it is a hash lookup
    assert newer.payload_sha256 in catalogue.known_payloads([newer.payload_sha256])


def test_as_of_is_the_registry_date(catalogue: Catalogue) -> None:
    catalogue.add([incoming(p) for p in SNAPSHOTS])
    def as_of(day: str) -> str | None:
        info = catalogue.current("NCT06203210", as_of=date.fromisoformat(day))
        return info.registry_date if info else None
    assert as_of("2026-01-19") is None  # before the first version we hold
    assert as_of("2026-01-20") == "2026-01-20"
    assert as_of("2026-02-08") == "2026-01-20"
    assert as_of("2026-02-09") == "2026-02-09"
    assert as_of("2030-01-01") == "2026-03-02"


def test_raw_payload_and_parser_version_are_kept(catalogue: Catalogue) -> None:
    item = incoming(SNAPSHOTS[0])
    catalogue.add([item])
    (info,) = catalogue.versions("NCT06203210")
    assert catalogue.payload(info.id) == SNAPSHOTS[0].read_bytes()
    assert info.parser_version == PARSER_VERSION
    with catalogue.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT data FROM payload")).scalar_one()
    assert len(stored) < len(item.payload) / 3  # compressed
    assert zlib.decompress(stored) == item.payload
    assert catalogue.record(info.id) == item.record


def test_sources_side_by_side_and_the_registry_preferred(catalogue: Catalogue,
                                                         clock: Clock) -> None:
    ctgov = incoming(CTGOV_PARTIAL)
    catalogue.add([ctgov])
    clock.tick(days=1)
    catalogue.add([incoming(VEEVA)])  # the mirror, seen later, does not take over
    latest = catalogue.latest_by_source("NCT00557986")
    assert set(latest) == {"ctgov-json", "veeva"}
    current = catalogue.current("NCT00557986")
    assert current is not None and current.source == "ctgov-json"
    assert catalogue.current("NCT00557986", source="veeva").source == "veeva"  # type: ignore[union-attr]
    with catalogue.engine.connect() as conn:
        pointer = conn.execute(sa.text("SELECT current_version_id FROM trial")).scalar_one()
    assert pointer == current.id


def test_filter_columns_and_child_rows_are_indexed(catalogue: Catalogue) -> None:
    catalogue.add([incoming(FIXTURES / "ctgov-v2-json/studies/NCT02210780__aact.json")])
    with catalogue.engine.connect() as conn:
        sites = conn.execute(sa.text("SELECT count(*) FROM version_place WHERE country = "
                                     "'united states'")).scalar_one()
        hits = conn.execute(sa.text(
            "SELECT v.nct_id FROM version v JOIN version_condition c ON c.version_id = v.id "
            "WHERE c.term_norm = 'atopic dermatitis' AND v.overall_status = 'COMPLETED'"
        )).scalars().all()
    assert sites == 42 and hits == ["NCT02210780"]
    with warnings.catch_warnings():  # SQLite's expression index (lower(country)) is not reflected
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        found = [ix for table in (
            "version_condition", "version_intervention", "version")
            for ix in sa.inspect(catalogue.engine).get_indexes(table)]
    indexed = {tuple(ix["column_names"]) for ix in found}
    assert {("term_norm",), ("name_norm",), ("overall_status",), ("phases",),
            ("start_date",)} <= indexed
    with catalogue.engine.connect() as conn:  # --country reads the index on country
        site_indexes = set(conn.execute(sa.text(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'version_place'"
            if conn.dialect.name == "sqlite" else
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'version_place'")).scalars())
        assert not sa.inspect(conn).has_table("version_site")  # schema 15: sites stored once
    assert "ix_version_place_country" in site_indexes


def test_reparse_supersedes_without_deleting(catalogue: Catalogue, clock: Clock) -> None:
    item = incoming(SNAPSHOTS[0])
    stale = item.record.model_copy(update={"brief_title": "as an old parser read it"})
    catalogue.add([Incoming(stale, item.payload, item.payload_sha256)])
    (old,) = catalogue.versions("NCT06203210")
    clock.tick(hours=1)
    new_id = supersede(catalogue, old, item.record, run_id=None)
    assert new_id is not None
    (shown,) = catalogue.versions("NCT06203210")
    assert shown.id == new_id and shown.supersedes_id == old.id
    assert shown.seen_at == old.seen_at  # the same observation, re-derived
    assert catalogue.record(shown.id).brief_title == item.record.brief_title
    assert len(catalogue.versions("NCT06203210", include_superseded=True)) == 2
    assert supersede(catalogue, shown, item.record, run_id=None) is None  # nothing new
    assert catalogue.current("NCT06203210").id == new_id  # type: ignore[union-attr]


def test_runs_are_audited(catalogue: Catalogue, clock: Clock) -> None:
    run = catalogue.start_run("import", {"paths": ["a.zip"]})
    catalogue.add([incoming(SNAPSHOTS[0])], run_id=run, already_known=2, failed=1)
    clock.tick(minutes=5)
    catalogue.finish_run(run, "partial", "1 input(s) failed")
    row = catalogue.run(run)
    assert (row["new"], row["unchanged"], row["failed"], row["status"]) == (1, 2, 1, "partial")
    assert row["finished_at"] - row["started_at"] == timedelta(minutes=5)
    other = Catalogue(make_engine(catalogue.engine.url.render_as_string(False)),
                      clock=clock)  # another process
    stuck = other.start_run("import", {})
    if catalogue.engine.dialect.name == "postgresql":  # many writers: a live run stays
        assert catalogue.mark_interrupted(clock()) == 0
    other.close()  # that process ends without finishing its run
    assert catalogue.mark_interrupted(clock()) == 1
    assert catalogue.run(stuck)["status"] == "interrupted"
