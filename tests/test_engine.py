"""Catalogue URLs, engines and migrations."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.catalogue.engine import (
    SCHEMA_VERSION,
    UNREAD_INDEXES,
    default_url,
    make_engine,
    migrate,
    resolve_url,
)
from harvester.catalogue.selection import Selection
from harvester.errors import CatalogueError
from tests.conftest import trials
from tests.corpusdb import CORPUS
from tests.test_selection import picked


def test_default_url_is_a_sqlite_file_in_the_user_data_dir(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TRIALS_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_url() == f"sqlite:///{tmp_path / 'trial-harvester' / 'catalogue.sqlite'}"
    monkeypatch.setenv("TRIALS_DB", "postgresql+psycopg://u@h/db")
    assert default_url() == "postgresql+psycopg://u@h/db"


def test_bad_urls_are_refused_with_a_message(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="not a database URL"):
        make_engine("not a url")
    with pytest.raises(CatalogueError, match="unsupported database 'mysql'"):
        make_engine("mysql://u@h/db")


def _downgrade(url: str, version: int, drop: str | None = None) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if drop:
            conn.execute(sa.text(f"DROP TABLE {drop}"))
        conn.execute(sa.text("UPDATE schema_info SET value = :v WHERE key = 'schema_version'"),
                     {"v": str(version)})
    engine.dispose()


def test_a_catalogue_from_an_older_release_is_upgraded(db_url: str) -> None:
    Catalogue.open(db_url).close()
    # Release 0.1's catalogues stopped at schema 1: no trial_event table yet.
    _downgrade(db_url, 1, drop="trial_event")
    engine = make_engine(db_url)
    assert migrate(engine) == 1
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("trial_event")
        version = conn.execute(sa.text("SELECT value FROM schema_info")).scalar_one()
    assert int(version) == SCHEMA_VERSION
    assert migrate(engine) == SCHEMA_VERSION  # nothing left to do
    engine.dispose()


def test_a_catalogue_from_a_newer_release_is_refused(db_url: str) -> None:
    Catalogue.open(db_url).close()
    _downgrade(db_url, SCHEMA_VERSION + 1)
    with pytest.raises(CatalogueError, match="newer than this release"):
        Catalogue.open(db_url)


def test_an_unreachable_catalogue_is_a_catalogue_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "catalogue.sqlite").mkdir()  # a directory where the file should be
    with pytest.raises(CatalogueError, match="cannot open the catalogue"):
        Catalogue.open(f"sqlite:///{folder / 'catalogue.sqlite'}")


def test_db_takes_a_plain_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "plain.sqlite"
    study = Path(__file__).parent.parent / "fixtures/ctgov-v2-json/studies"
    assert trials(str(path), "import", study).exit_code == 0
    assert path.is_file()
    assert trials(f"sqlite:///{path}", "runs").exit_code == 0
    monkeypatch.chdir(tmp_path)
    assert trials("plain.sqlite", "runs").exit_code == 0  # relative to the working folder
    assert resolve_url("plain.sqlite") == f"sqlite:///{path}"
    assert resolve_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("command", [
    ["runs"], ["show", "NCT00557986"], ["history", "NCT00557986"],
    ["changes", "--since", "2026-01-01"], ["search", "cancer"], ["export", "--format", "csv"],
    ["similar", "NCT00557986"], ["compare", "NCT00557986", "NCT06203210"]])
def test_read_commands_never_create_a_catalogue(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "typo" / "catalogue.sqlite"
    result = trials(str(missing), *command)
    assert result.exit_code == 3, result.output
    assert result.stderr.startswith(f"trials: error: no catalogue at {missing}")
    assert not (tmp_path / "typo").exists()


def test_read_commands_on_an_empty_postgresql_schema(db_url: str) -> None:
    result = trials(db_url, "runs")
    assert result.exit_code == 3 and "no catalogue at " in result.stderr
    assert "secret" not in result.stderr
    Catalogue.open(db_url, create=True).close()
    assert trials(db_url, "runs").exit_code == 0


def _site_indexes(conn: sa.Connection) -> set[str]:
    """The indexes of version, version_site and version_place, expression indexes
    included."""
    if conn.dialect.name == "sqlite":
        query = ("SELECT name FROM sqlite_master WHERE type = 'index' "
                 "AND tbl_name IN ('version', 'version_site', 'version_place')")
    else:
        query = ("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                 "AND tablename IN ('version', 'version_site', 'version_place')")
    return set(conn.execute(sa.text(query)).scalars())


PLACE_FILTERS = (Selection(countries=("United States",)), Selection(countries=("France",)),
                 Selection(cities=("Boston",)), Selection(states=("California",)),
                 Selection(near="Boston, USA", within_km=100),
                 Selection(near="42.3601,-71.0589", within_km=500))


def _as_schema_14(catalogue: Catalogue) -> None:
    """Give a catalogue the shape schema 14 left: a ``version_site`` row per site (from the
    records, as that release stored them) with its index on ``lower(country)``; no index on
    ``version_place (country)``."""
    from harvester.catalogue import tables as t

    with catalogue.engine.connect() as conn:
        ids = list(conn.execute(sa.text("SELECT id FROM version ORDER BY id")).scalars())
    sites = [(version_id, i, s.facility, s.city and s.city[:200],
              s.country and s.country[:100], str(s.status) if s.status else None)
             for version_id in ids
             for i, s in enumerate(catalogue.record(version_id).locations)]
    with catalogue.engine.begin() as conn:
        t.VersionSite.__table__.create(conn)  # type: ignore[attr-defined]
        conn.exec_driver_sql("CREATE INDEX ix_version_site_country_lower "
                             "ON version_site (lower(country), version_id)")
        conn.execute(sa.text("INSERT INTO version_site VALUES (:v, :p, :f, :c, :n, :s)"),
                     [dict(zip("vpfcns", site, strict=True)) for site in sites])
        conn.exec_driver_sql("DROP INDEX ix_version_place_country")
        conn.execute(sa.text("UPDATE schema_info SET value = '14' "
                             "WHERE key = 'schema_version'"))


def _schema(conn: sa.Connection) -> str:
    return str(conn.execute(sa.text("SELECT value FROM schema_info WHERE key = "
                                    "'schema_version'")).scalar())


def test_schema_step_14_drops_the_indexes_no_query_reads(db_url: str) -> None:
    """Schema 13 kept an index on version_site (country), on version_place (country,
    state, city) and on version (nct_id, effective_date) that no query read: a new
    catalogue never has them, opening an older one drops them, and the place filters and
    a trial's history answer as before."""
    assert trials(db_url, "import", *CORPUS).exit_code == 0
    with Catalogue.open(db_url) as catalogue:
        with catalogue.engine.connect() as conn:
            fresh = _site_indexes(conn)
        assert not fresh & set(UNREAD_INDEXES)
        before = [picked(catalogue, s) for s in PLACE_FILTERS]
        assert all(before[:3]) and len(before[0]) > len(before[2])
        history = catalogue.versions("NCT06203210")
        assert len(history) > 1
        _as_schema_14(catalogue)
        with catalogue.engine.connect() as conn:
            at_14 = _site_indexes(conn)
        with catalogue.engine.begin() as conn:  # as schema 13 left it
            conn.execute(sa.text("CREATE INDEX ix_version_site_country "
                                 "ON version_site (country)"))
            conn.execute(sa.text("CREATE INDEX ix_version_place_where "
                                 "ON version_place (country, state, city)"))
            conn.execute(sa.text("CREATE INDEX ix_version_nct_effective "
                                 "ON version (nct_id, effective_date)"))
            conn.execute(sa.text("UPDATE schema_info SET value = '13' "
                                 "WHERE key = 'schema_version'"))
    engine = make_engine(db_url)
    with engine.begin() as conn:  # step 14 alone
        from harvester.catalogue.engine import MIGRATIONS

        MIGRATIONS[13](conn)
        assert _site_indexes(conn) == at_14
    assert migrate(engine) == 13
    with engine.connect() as conn:
        assert _site_indexes(conn) == fresh
        assert _schema(conn) == str(SCHEMA_VERSION)
    engine.dispose()
    with Catalogue.open(db_url) as catalogue:
        assert [picked(catalogue, s) for s in PLACE_FILTERS] == before
        assert catalogue.versions("NCT06203210") == history


COUNTRIES = ("United States", "France", "usa", "Korea, Republic of", "Germany", "Nowhere")


def test_schema_step_15_keeps_sites_in_version_place_alone(db_url: str) -> None:
    """Schema 15: a version's sites are stored once, in version_place; --country reads
    its index on country.  A catalogue from schema 14
    (version_site beside it) opens upgraded, and every place filter, alone or per match,
    answers as before — --country as version_site's lower(country) answered it."""
    assert trials(db_url, "import", *CORPUS).exit_code == 0
    selections = [*PLACE_FILTERS, *(Selection(countries=(c,)) for c in COUNTRIES),
                  Selection(countries=("France", "Germany"), cities=("Paris",))]
    with Catalogue.open(db_url) as catalogue:
        with catalogue.engine.connect() as conn:
            assert not sa.inspect(conn).has_table("version_site")
            assert "ix_version_place_country" in _site_indexes(conn)
        now = [picked(catalogue, s) for s in selections]
        per_match = [picked(catalogue, s, per_match=True) for s in selections]
        assert all(now[:3]) and now[6] == now[8] == now[0] and not now[11]
        _as_schema_14(catalogue)
        with catalogue.engine.connect() as conn:  # what version_site answered for --country
            for country in ("united states", "france", "korea, republic of", "germany"):
                old = dict(conn.execute(sa.text(
                    "SELECT v.nct_id, v.id FROM trial t JOIN version v ON v.id = "
                    "t.current_version_id WHERE v.id IN (SELECT version_id FROM version_site "
                    "WHERE lower(country) = :c)"), {"c": country}).all())
                assert old == picked(catalogue, Selection(countries=(country,)))
                assert old
    engine = make_engine(db_url)
    assert migrate(engine) == 14
    with engine.connect() as conn:
        assert _schema(conn) == str(SCHEMA_VERSION)
        assert not sa.inspect(conn).has_table("version_site")
        assert "ix_version_place_country" in _site_indexes(conn)
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    engine.dispose()
    with Catalogue.open(db_url) as catalogue:
        assert [picked(catalogue, s) for s in selections] == now
        assert [picked(catalogue, s, per_match=True) for s in selections] == per_match


def test_schema_step_16_lists_the_past_versions_of_the_search_index(db_url: str) -> None:
    """Schema 16 (SQLite): the area index's versions that are not current, listed from the
    index as it is, and the empty champion lists.  A catalogue from schema 15 opens
    upgraded, and searches answer as before (PostgreSQL: the lists, step 17)."""
    from harvester.catalogue import areas
    from harvester.find import champions
    from harvester.find.search import search

    assert trials(db_url, "import", *CORPUS).exit_code == 0
    queries = [("patients", Selection()), ("cancer", Selection(statuses=("COMPLETED",))),
               ("study -placebo", Selection(as_of=__import__("datetime").date(2025, 1, 1)))]

    def answers(catalogue: Catalogue) -> list[tuple[int, list[tuple[str, float]]]]:
        found = [search(catalogue, text, selection, limit=5) for text, selection in queries]
        return [(r.total, [(h.nct_id, h.score) for h in r.hits]) for r in found]

    with Catalogue.open(db_url) as catalogue:
        before = answers(catalogue)
        sqlite = catalogue.engine.dialect.name == "sqlite"
        with catalogue.engine.begin() as conn:
            if sqlite:
                past = set(conn.exec_driver_sql(
                    f"SELECT version_id FROM {areas.PAST_TABLE}").scalars())
                assert past  # the corpus holds histories
                conn.exec_driver_sql(f"DROP TABLE {areas.PAST_TABLE}")
                conn.exec_driver_sql(f"DROP TABLE {champions.LIST}")
                conn.exec_driver_sql(f"DROP TABLE {champions.HEAD}")
            conn.execute(sa.text("UPDATE schema_info SET value = '15' "
                                 "WHERE key = 'schema_version'"))
    engine = make_engine(db_url)
    assert migrate(engine) == 15
    with engine.connect() as conn:
        assert _schema(conn) == str(SCHEMA_VERSION) == "20"
        if sqlite:  # step 18 made the index anew: filled again, its past versions listed
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {areas.PAST_TABLE}"
                                        ).scalar_one() == 0
    if sqlite:
        assert areas.catch_up(engine) > 0
    with engine.connect() as conn:
        if sqlite:
            assert set(conn.exec_driver_sql(
                f"SELECT version_id FROM {areas.PAST_TABLE}").scalars()) == past
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {champions.HEAD}"
                                        ).scalar_one() == 0
    engine.dispose()
    with Catalogue.open(db_url) as catalogue:
        assert answers(catalogue) == before


def test_schema_step_17_gives_postgresql_the_champion_lists(db_url: str) -> None:
    """Schema 17: a PostgreSQL catalogue made at schema 16 (which kept no champion lists
    there) opens with the empty lists; a SQLite one's lists gain their count of matches.
    Searches answer as before, and `trials index` fills the lists, counted."""
    from harvester.find import champions
    from harvester.find.search import search

    assert trials(db_url, "import", *CORPUS).exit_code == 0
    with Catalogue.open(db_url) as catalogue:
        before = search(catalogue, "patients", limit=5)
        with catalogue.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {champions.LIST}")
            conn.exec_driver_sql(f"DROP TABLE {champions.HEAD}")
            if catalogue.engine.dialect.name == "sqlite":  # the lists as step 16 made them
                conn.exec_driver_sql(
                    f"CREATE TABLE {champions.HEAD} (list_id INTEGER PRIMARY KEY, match TEXT "
                    f"NOT NULL UNIQUE, floor REAL NOT NULL, floor_nct TEXT NOT NULL, up_to "
                    f"INTEGER NOT NULL, docs INTEGER NOT NULL)")
                conn.exec_driver_sql(
                    f"CREATE TABLE {champions.LIST} (list_id INTEGER NOT NULL, place INTEGER "
                    f"NOT NULL, version_id INTEGER NOT NULL, nct_id TEXT NOT NULL, score REAL "
                    f"NOT NULL, PRIMARY KEY (list_id, place)) WITHOUT ROWID")
    _downgrade(db_url, 16)
    engine = make_engine(db_url)
    assert (migrate(engine), SCHEMA_VERSION) == (16, 20)
    with engine.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT count(*) FROM {champions.HEAD}").scalar_one() == 0
        assert "matches" in {str(c["name"]) for c in sa.inspect(conn).get_columns(champions.HEAD)}
    engine.dispose()
    with Catalogue.open(db_url) as catalogue:
        after = search(catalogue, "patients", limit=5)
        assert (after.total, [h.nct_id for h in after.hits]) == (
            before.total, [h.nct_id for h in before.hits])
        assert champions.build(catalogue.engine, min_docs=10, size=4) > 20
        with catalogue.engine.connect() as conn:
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {champions.LIST}"
                                        ).scalar_one() > 80
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {champions.HEAD} WHERE "
                                        f"match <> '' AND matches IS NULL").scalar_one() == 0


def test_schema_step_18_makes_the_area_index_anew_with_filter_tokens(db_url: str) -> None:
    """Schema 18 (SQLite): a catalogue whose area index has no column of filter tokens (as
    step 17 left it) opens with the index made anew, empty, its past versions and lists
    cleared; the next search fills it, and filtered searches answer as SQL's filters do.
    PostgreSQL: nothing changes at step 18 (step 19 empties its index: tested below)."""
    from harvester.catalogue import areas, filtertokens
    from harvester.find import champions
    from harvester.find.search import search

    assert trials(db_url, "import", *CORPUS).exit_code == 0
    wanted = [("cancer", Selection(statuses=("COMPLETED",), has_results=True)),
              ("patients", Selection(phases=("PHASE2",), sex="FEMALE")),
              ("study", Selection(funders=("INDUSTRY",), documents=("protocol",)))]

    def answers(catalogue: Catalogue) -> list[tuple[int, list[str]]]:
        found = [search(catalogue, text, selection, limit=5) for text, selection in wanted]
        return [(r.total, [h.nct_id for h in r.hits]) for r in found]

    with Catalogue.open(db_url) as catalogue:
        before = answers(catalogue)
        assert all(total > 0 for total, _ in before)
        sqlite = catalogue.engine.dialect.name == "sqlite"
        if sqlite:
            assert champions.build(catalogue.engine, min_docs=10, size=4) > 0
            names = ", ".join(areas.NAMES)
            step_17 = (  # the index as step 17 made it (filled with something)
                f"DROP TABLE {areas.FTS_TABLE}",
                f"CREATE VIRTUAL TABLE {areas.FTS_TABLE} USING fts5({names}, content='', "
                f"tokenize='unicode61 remove_diacritics 0')",
                f"INSERT INTO {areas.FTS_TABLE} (rowid, {names}) SELECT id, "
                f"{', '.join(['nct_id'] * len(areas.NAMES))} FROM version")
            with catalogue.engine.begin() as conn:
                for statement in step_17:
                    conn.exec_driver_sql(statement)
    _downgrade(db_url, 17)
    engine = make_engine(db_url)
    assert (migrate(engine), SCHEMA_VERSION) == (17, 20)
    with engine.connect() as conn:
        if sqlite:
            columns = [row[1] for row in conn.exec_driver_sql(
                f"PRAGMA table_info({areas.FTS_TABLE})")]
            assert columns == [*areas.NAMES, filtertokens.COLUMN]
            assert areas.count(conn) == 0
            for table in (areas.PAST_TABLE, champions.HEAD, champions.LIST):
                assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one() == 0
    engine.dispose()
    with Catalogue.open(db_url) as catalogue:
        assert answers(catalogue) == before


def test_schema_step_19_gives_postgresql_s_documents_the_filter_tokens(db_url: str) -> None:
    """Schema 19 (PostgreSQL): an area index whose documents hold no filter tokens (as step
    18 left them) is emptied, with its champion lists; the next search fills it with the
    tokens, and filtered searches answer as before (the tokens pick what SQL's filters
    picked).  A search never meets a document without them.  The documents are stored out
    of line from then on.  SQLite: nothing changes."""
    from harvester.catalogue import areas
    from harvester.find import champions
    from harvester.find.search import search

    assert trials(db_url, "import", *CORPUS).exit_code == 0
    wanted = [("cancer", Selection(statuses=("COMPLETED",), has_results=True)),
              ("patients", Selection(phases=("PHASE2",), sex="FEMALE",
                                     countries=("United States",))),
              ("study", Selection(funders=("INDUSTRY",), documents=("protocol",),
                                  start_after=date(2010, 1, 1)))]

    def answers(catalogue: Catalogue) -> list[tuple[int, list[tuple[str, float]]]]:
        found = [search(catalogue, text, selection, limit=5) for text, selection in wanted]
        return [(r.total, [(h.nct_id, h.score) for h in r.hits]) for r in found]

    untagged = "SELECT count(*) FROM {0}, unnest(document) AS x WHERE left(x.lexeme, 1) = '_'"
    storage = ("SELECT attstorage FROM pg_attribute WHERE attname = 'document' AND "
               "attrelid = 'version_area_doc'::regclass")
    with Catalogue.open(db_url) as catalogue:
        before = answers(catalogue)
        assert all(total > 0 for total, _ in before)
        if catalogue.engine.dialect.name == "sqlite":
            _downgrade(db_url, 18)
            assert migrate(catalogue.engine) == 18
            assert answers(catalogue) == before
            return
        assert champions.build(catalogue.engine, min_docs=10, size=4) > 0
        with catalogue.engine.begin() as conn:
            assert conn.exec_driver_sql(untagged.format(areas.PG_TABLE)).scalar_one() > 0
            conn.exec_driver_sql(  # the documents as step 18 made them: no tokens
                f"UPDATE {areas.PG_TABLE} SET document = ts_delete(document, ARRAY("
                f"SELECT lexeme FROM unnest(document) WHERE left(lexeme, 1) = '_'))")
            assert conn.exec_driver_sql(untagged.format(areas.PG_TABLE)).scalar_one() == 0
            assert conn.exec_driver_sql(storage).scalar_one() == "x"  # a new table's
            conn.exec_driver_sql(f"ALTER TABLE {areas.PG_TABLE} ALTER COLUMN document "
                                 f"SET STORAGE MAIN")  # as step 18 made it: inline
    _downgrade(db_url, 18)
    engine = make_engine(db_url)
    assert (migrate(engine), SCHEMA_VERSION) == (18, 20)
    with engine.connect() as conn:
        assert areas.count(conn) == 0
        assert conn.exec_driver_sql(storage).scalar_one() == "x"  # out of line from now on
        for table in (champions.HEAD, champions.LIST):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one() == 0
    engine.dispose()
    with Catalogue.open(db_url) as catalogue:
        assert answers(catalogue) == before
        with catalogue.engine.connect() as conn:
            assert conn.exec_driver_sql(untagged.format(areas.PG_TABLE)).scalar_one() > 0


def test_schema_step_20_gives_postgresql_the_past_versions(db_url: str) -> None:
    """Schema 20 (PostgreSQL): the area index's list of versions no longer current is made
    from the index (as SQLite's has been since step 16) and kept by each catch-up: after
    more history is stored and indexed it still lists exactly the indexed versions that
    are not current, and totals are as before.  SQLite: nothing changes."""
    from harvester.catalogue import areas
    from harvester.find.search import search

    snapshots = sorted(p for p in CORPUS if "__vh" in p.name)
    first = [p for p in CORPUS if p not in snapshots]
    assert trials(db_url, "import", *first, *snapshots[:2]).exit_code == 0
    indexed = ("SELECT id FROM version_area_docsize" if db_url.startswith("sqlite")
               else "SELECT version_id FROM version_area_doc")

    def listed(catalogue: Catalogue) -> tuple[set[int], set[int]]:
        areas.catch_up(catalogue.engine)
        with catalogue.engine.connect() as conn:
            past = set(conn.exec_driver_sql(f"SELECT version_id FROM {areas.PAST_TABLE}"
                                            ).scalars())
            current = set(conn.exec_driver_sql("SELECT current_version_id FROM trial"
                                               ).scalars())
            return past, set(conn.exec_driver_sql(indexed).scalars()) - current

    with Catalogue.open(db_url) as catalogue:
        before = [search(catalogue, w).total for w in ("patients", "covid", "study")]
        past, expected = listed(catalogue)
        assert past == expected and past
        if catalogue.engine.dialect.name == "sqlite":
            return
        with catalogue.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE {areas.PAST_TABLE}")  # as step 19 left it
    _downgrade(db_url, 19)
    engine = make_engine(db_url)
    assert (migrate(engine), SCHEMA_VERSION) == (19, 20)
    engine.dispose()
    with Catalogue.open(db_url) as catalogue:
        assert listed(catalogue) == (past, expected)
        assert [search(catalogue, w).total for w in ("patients", "covid", "study")] == before
    assert trials(db_url, "import", *snapshots[2:]).exit_code == 0  # more history
    with Catalogue.open(db_url) as catalogue:
        grown, expected = listed(catalogue)
        assert grown == expected and grown > past
