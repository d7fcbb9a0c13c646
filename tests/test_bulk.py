"""bulk.insert_rows: many rows at the driver's speed (COPY on PostgreSQL), stored exactly as
SQLAlchemy's own insert stores them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.catalogue.bulk import insert_rows
from harvester.catalogue.facets import FACET
from harvester.catalogue.store import V

PARIS = timezone(timedelta(hours=1))


def _version(nct_id: str, seen_at: datetime, has_results: bool) -> dict[str, object]:
    return {"nct_id": nct_id, "source": "ctgov-json", "content_hash": "h" * 64,
            "record": b"\x00\xffbytes", "payload_sha256": "p" * 64, "parser_version": "9",
            "seen_at": seen_at, "run_id": None, "registry_date": None,
            "registry_version": None, "effective_date": "2026-12-07", "supersedes_id": None,
            "overall_status": "RECRUITING", "study_type": None, "phases": None,
            "start_date": None, "last_update_posted": None, "has_results": has_results,
            "enrollment_count": 12, "lead_sponsor": None}


def test_rows_with_times_booleans_and_bytes_store_as_sqlalchemy_stores_them(
        db_url: str) -> None:
    """Version rows (an aware time in another zone, a boolean, bytes) and facet rows (a
    boolean that may be NULL): on PostgreSQL these go by COPY since schema 15's release;
    what reads back is what SQLAlchemy's own insert of the same values reads back."""
    seen = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=PARIS)
    ours, theirs = _version("NCT00000001", seen, True), _version("NCT00000002", seen, True)
    with Catalogue.open(db_url) as catalogue, catalogue.engine.begin() as conn:
        insert_rows(conn, V, [tuple(ours.values())], list(ours))
        conn.execute(sa.insert(V).values(**theirs))
        insert_rows(conn, FACET, [(1, 18.0, None, "|ADULT|", "ALL", True, "NIH", None,
                                   None, None, "2020-01-01"),
                                  (2, None, 65.5, None, None, None, None, "|sap|", None,
                                   "2021", None)])
        rows = conn.execute(sa.select(V).order_by(V.c.nct_id)).mappings().all()
        facets = conn.execute(sa.select(FACET).order_by(FACET.c.version_id)).all()
    got, want = dict(rows[0]), dict(rows[1])
    assert got.pop("nct_id") == "NCT00000001" and want.pop("nct_id") == "NCT00000002"
    got.pop("id"), want.pop("id")
    assert got == want
    assert got["seen_at"] == seen == datetime(2026, 12, 7, 0, 2, 3, 456789, tzinfo=UTC)
    assert got["has_results"] is True and bytes(got["record"]) == b"\x00\xffbytes"
    assert [tuple(f) for f in facets] == [
        (1, 18.0, None, "|ADULT|", "ALL", True, "NIH", None, None, None, "2020-01-01"),
        (2, None, 65.5, None, None, None, None, "|sap|", None, "2021", None)]


def test_rows_without_copy_store_as_sqlalchemy_stores_them_and_a_repeat_fails_whole(
        db_url: str) -> None:
    """``copy=False`` (rows another writer may make first): on PostgreSQL one INSERT over
    an array a column (bytes aside), on SQLite an executemany; either stores what
    SQLAlchemy's insert stores — an aware time in UTC, NULLs, booleans — and a row already there
    fails the whole statement with SQLAlchemy's IntegrityError (the batch is retried)."""
    from harvester.catalogue.store import T

    seen = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=PARIS)
    with Catalogue.open(db_url) as catalogue:
        with catalogue.engine.begin() as conn:
            insert_rows(conn, V, [tuple(_version(n, seen, False).values())
                                  for n in ("NCT00000001", "NCT00000002", "NCT00000003")],
                        list(_version("", seen, False)))
            ids = dict(conn.execute(sa.select(V.c.nct_id, V.c.id)).all())
            insert_rows(conn, T, [("NCT00000001", ids["NCT00000001"], seen),
                                  ("NCT00000002", ids["NCT00000002"], seen)],
                        ("nct_id", "current_version_id", "first_seen_at"), copy=False)
            facets = [(ids["NCT00000001"], 18.0, None, "|ADULT|", "ALL", True, "NIH", None,
                       None, None, "2020-01-01"),
                      (ids["NCT00000002"], None, 65.5, None, None, False, None, "|sap|",
                       None, "2021", None)]
            insert_rows(conn, FACET, facets, copy=False)
            conn.execute(sa.insert(T).values(nct_id="NCT00000003",
                                             current_version_id=ids["NCT00000003"],
                                             first_seen_at=seen))
            rows = {r.nct_id: r for r in conn.execute(sa.select(T))}
            assert [tuple(f) for f in conn.execute(
                sa.select(FACET).order_by(FACET.c.version_id))] == facets
        assert rows["NCT00000001"].first_seen_at == rows["NCT00000003"].first_seen_at == seen
        assert rows["NCT00000001"].current_version_id == ids["NCT00000001"]
        with pytest.raises(sa.exc.IntegrityError), catalogue.engine.begin() as conn:
            insert_rows(conn, T, [("NCT00000004", ids["NCT00000003"], seen),
                                  ("NCT00000002", ids["NCT00000002"], seen)],
                        ("nct_id", "current_version_id", "first_seen_at"), copy=False)
        with catalogue.engine.connect() as conn:  # nothing of the failed statement stays
            assert sorted(conn.execute(sa.select(T.c.nct_id)).scalars()) == [
                "NCT00000001", "NCT00000002", "NCT00000003"]


def test_copy_sends_each_value_as_the_database_s_own_column_type(db_url: str) -> None:
    """COPY goes in binary on PostgreSQL, where a value must be in its column's exact
    type: the types are the database's, not the table class's.  A table whose columns were
    made wider than its class says (bigint, real, varchar) takes the class's rows, and a
    whole number in a float column stores as that number, as with SQLAlchemy's insert."""
    declared = sa.Table("widened", sa.MetaData(), sa.Column("id", sa.Integer),
                        sa.Column("score", sa.Float), sa.Column("name", sa.Text),
                        sa.Column("seen", sa.DateTime(timezone=True)))
    seen = datetime(2026, 12, 7, 1, 2, 3, tzinfo=PARIS)
    rows = [(2**40, 45, "Lyon", seen), (1, 0.5, None, None), (-3, None, "é\t\\x", seen)]
    if not db_url.startswith("postgresql"):
        pytest.skip("COPY is PostgreSQL's (SQLite's columns take any value)")
    with Catalogue.open(db_url) as catalogue, catalogue.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE widened (id bigint, score real, name varchar(20), "
                             "seen timestamp with time zone)")
        insert_rows(conn, declared, rows)
        got = conn.execute(sa.select(declared).order_by(declared.c.id)).all()
    assert [tuple(r) for r in got] == sorted(rows, key=lambda r: r[0])


def test_a_payload_copied_by_the_loser_of_a_race_fails_as_a_retried_unique_violation(
        db_url: str) -> None:
    """Payload rows go by COPY too.  Two writers may link the same payload at once: the
    one that commits second waits on the unique index, then fails with SQLAlchemy's
    IntegrityError under the unique-violation state, which ``writers.retrying`` runs
    again; its retry, seeing the row, links nothing twice."""
    import threading

    from harvester.catalogue import writers
    from harvester.catalogue.store import P

    if not db_url.startswith("postgresql"):
        pytest.skip("one writer at a time on SQLite")
    columns = ("sha256", "version_id", "size", "name", "quick", "codec", "data")
    with Catalogue.open(db_url) as catalogue:
        version = _version("NCT00000001", datetime.now(UTC), False)
        with catalogue.engine.begin() as conn:
            insert_rows(conn, V, [tuple(version.values())], list(version))
            version_id = conn.execute(sa.select(V.c.id)).scalar_one()
        row = ("a" * 64, version_id, 3, "NCT00000001.json", None, "zlib", b"\x78\x01zz")
        failures: list[BaseException] = []
        with catalogue.engine.begin() as first:
            insert_rows(first, P, [row], columns)

            def second() -> None:
                try:
                    with catalogue.engine.begin() as conn:
                        insert_rows(conn, P, [row], columns)
                except sa.exc.DBAPIError as exc:
                    failures.append(exc)

            racing = threading.Thread(target=second)
            racing.start()
            racing.join(0.5)
            assert racing.is_alive()  # waiting on the first writer's uncommitted row
        racing.join(10)
        assert len(failures) == 1 and isinstance(failures[0], sa.exc.IntegrityError)
        assert writers._sqlstate(failures[0]) in writers.RETRYABLE
        with catalogue.engine.connect() as conn:
            assert conn.execute(sa.select(P.c.sha256, P.c.data)).all() == [
                ("a" * 64, b"\x78\x01zz")]


def test_a_number_out_of_its_column_s_range_is_refused_not_stored_wrapped(
        db_url: str) -> None:
    """Binary COPY would store 2**40 in an integer column as 0 (psycopg's binary form
    wraps it) and 1e39 in a real one as infinity: such rows go as text, and the database
    refuses them with SQLAlchemy's DataError, as every insert did, as it refuses text
    where a number belongs; nothing is stored."""
    if not db_url.startswith("postgresql"):
        pytest.skip("COPY is PostgreSQL's (SQLite's columns take any value)")
    declared = sa.Table("ranged", sa.MetaData(), sa.Column("id", sa.Integer),
                        sa.Column("score", sa.Float))
    with Catalogue.open(db_url) as catalogue:
        with catalogue.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE ranged (id integer, score real)")
        for row, refused in (((2**40, 1.0), "out of range"), ((-2**31 - 1, None), "out of"),
                             ((1, 1e39), "out of range"), (("12x", 1.0), "invalid input")):
            with pytest.raises(sa.exc.DataError, match=refused), \
                    catalogue.engine.begin() as conn:
                insert_rows(conn, declared, [(1, 2.0), row])
        with catalogue.engine.begin() as conn:
            insert_rows(conn, declared, [(2**31 - 1, -3.4e38), (None, None)])
            assert conn.execute(sa.select(declared).order_by(declared.c.id)).all() == [
                (2**31 - 1, pytest.approx(-3.4e38, rel=1e-6)), (None, None)]


def test_a_naive_time_is_read_in_the_session_s_zone_as_sqlalchemy_s_insert_reads_it(
        db_url: str) -> None:
    """A time without a zone in a ``timestamptz`` column: binary COPY would refuse it, so
    its rows go as text and the server reads it in the session's time zone, as the insert
    of the same value does."""
    if not db_url.startswith("postgresql"):
        pytest.skip("COPY is PostgreSQL's")
    declared = sa.Table("zoned", sa.MetaData(), sa.Column("at", sa.DateTime(timezone=True)))
    naive = datetime(2026, 1, 1, 12)
    with Catalogue.open(db_url) as catalogue, catalogue.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE zoned (at timestamptz)")
        conn.exec_driver_sql("SET LOCAL TimeZone = 'Europe/Paris'")
        insert_rows(conn, declared, [(naive,)])
        conn.execute(sa.insert(declared).values(at=naive))
        assert conn.exec_driver_sql("SELECT at::text FROM zoned").scalars().all() == [
            "2026-01-01 12:00:00+01"] * 2
