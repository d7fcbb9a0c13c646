"""The full-text index (harvester/catalogue/fulltext.py): what it holds, how it is kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue, fulltext
from harvester.catalogue.canonical import fingerprint
from harvester.catalogue.engine import SCHEMA_VERSION
from harvester.find.search import search
from parsers import parse_bytes
from parsers._text import plain
from tests.conftest import FIXTURES, trials
from tests.corpusdb import CORPUS

STUDIES = sorted((FIXTURES / "ctgov-v2-json" / "studies").glob("*.json"))
STUDY = FIXTURES / "ctgov-v2-json" / "studies" / "NCT06692738__partrita-tigit.json"


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name[:11])
def test_the_fields_of_a_record_and_their_places(path: Path) -> None:
    study = json.loads(path.read_bytes())
    protocol = study["protocolSection"]
    (record,) = parse_bytes(path.read_bytes())
    text = fulltext.texts(fingerprint(record).record_json)
    ident = protocol["identificationModule"]
    for key in ("briefTitle", "officialTitle", "acronym"):
        assert (plain(ident.get(key)) or "") in text.title
    arms = protocol.get("armsInterventionsModule", {})
    interventions = arms.get("interventions", [])
    for value in (*protocol.get("conditionsModule", {}).get("conditions", []),
                  *protocol.get("conditionsModule", {}).get("keywords", []),
                  *(i["name"] for i in interventions),
                  *(n for i in interventions for n in i.get("otherNames", []))):
        assert value.strip() in text.focus, value
    for mesh in (*record.condition_mesh, *record.intervention_mesh):  # when the parser has
        assert mesh.term in text.focus                                 # MeSH headings
    description = protocol.get("descriptionModule", {})
    for key in ("briefSummary", "detailedDescription"):
        assert (plain(description.get(key)) or "")[:200] in text.summary  # plain text
    for arm in arms.get("armGroups", []):
        assert (plain(arm.get("description")) or "")[:100] in text.summary
    assert text.criteria == (plain(protocol.get("eligibilityModule", {})
                                   .get("eligibilityCriteria"), lines=True) or "\n".join(
        [*record.eligibility.inclusion, *record.eligibility.exclusion]))
    assert text.body.startswith(text.title)


def test_criteria_stay_apart_from_the_title() -> None:
    (record,) = parse_bytes(STUDY.read_bytes())
    text = fulltext.texts(fingerprint(record).record_json)
    assert "anti-TIGIT" in text.criteria
    assert "TIGIT" not in text.title and "anti-TIGIT" not in text.focus


def test_missing_and_unknown_fields_are_tolerated() -> None:
    text = fulltext.texts(b'{"nct_id": "NCT00000001", "brief_title": "A", "new_field": [1],'
                          b' "condition_mesh": [{"id": null, "term": "Asthma"}],'
                          b' "eligibility": {"criteria": null, "inclusion": ["Adults"],'
                          b' "exclusion": ["Smokers"]}}')
    assert (text.title, text.focus, text.summary) == ("A", "Asthma", "")
    assert text.criteria == "Adults\nSmokers"  # split criteria when the text is absent
    assert fulltext.texts(b'{"nct_id": "NCT00000001"}').fields() == ("", "", "", "")


def _versions(catalogue: Catalogue) -> int:
    with catalogue.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM version")).scalar_one())


def test_the_migration_indexes_a_catalogue_made_before_the_index(db_url: str) -> None:
    """A catalogue of the previous release (schema 3: no full-text index) is indexed when
    opened."""
    assert trials(db_url, "import", *CORPUS).exit_code == 0
    with Catalogue.open(db_url) as catalogue:
        with catalogue.engine.connect() as conn:  # every imported version is indexed
            assert fulltext.count(conn) == _versions(catalogue) > 60
            assert fulltext.size(conn) > 0
        before = search(catalogue, "tigit").hits
        with catalogue.engine.begin() as conn:
            table = fulltext.FTS_TABLE if conn.dialect.name == "sqlite" else fulltext.PG_TABLE
            conn.execute(sa.text(f"DROP TABLE {table}"))
            conn.execute(sa.text("UPDATE schema_info SET value = '3' "
                                 "WHERE key = 'schema_version'"))
    with Catalogue.open(db_url) as catalogue:
        with catalogue.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT value FROM schema_info WHERE key = "
                                        "'schema_version'")).scalar() == str(SCHEMA_VERSION)
            assert fulltext.count(conn) == _versions(catalogue)
        after = search(catalogue, "tigit").hits
    assert [h.nct_id for h in after] == [h.nct_id for h in before]
    # NCT03661047 names TIGIT only in an outcome measure, which search covers since parser v3
    assert {h.nct_id for h in after} == {"NCT03661047", "NCT04585815", "NCT06692738"}


def test_rebuild_indexes_everything_again(db_url: str) -> None:
    assert trials(db_url, "import", *CORPUS[:2]).exit_code == 0
    with Catalogue.open(db_url) as catalogue:
        before = [(h.nct_id, h.score) for h in search(catalogue, "lung cancer").hits]
        batches: list[int] = []
        done = fulltext.rebuild(catalogue, progress=batches.append)
        assert done == sum(batches) == _versions(catalogue)
        with catalogue.engine.connect() as conn:
            assert fulltext.count(conn) == done
        after = [(h.nct_id, h.score) for h in search(catalogue, "lung cancer").hits]
    assert [n for n, _ in after] == [n for n, _ in before] and before


def test_stored_pages_are_indexed_when_the_run_finishes(db_url: str) -> None:
    """Storing a batch does not pay for the index: it catches up as the run finishes, and
    a run killed before that (the run never finished) leaves it behind, never wrong — the
    next run to finish fills it, with the very text a rebuild makes."""
    import hashlib

    from harvester.catalogue import Incoming

    items = []
    for path in STUDIES[:4]:
        data = path.read_bytes()
        (record,) = parse_bytes(data)
        items.append(Incoming(record, data, hashlib.sha256(data).hexdigest()))
    with Catalogue.open(db_url) as catalogue:
        killed = catalogue.start_run("import", {})
        assert catalogue.add(items, run_id=killed) == ["new"] * 4
        with catalogue.engine.connect() as conn:
            assert fulltext.pending(conn) == 4 and fulltext.count(conn) == 0
        # while a run waits for its workers: one batch of at most ``limit``
        assert catalogue.catch_up(limit=3) == 3
        with catalogue.engine.connect() as conn:
            assert fulltext.pending(conn) == 1 and fulltext.count(conn) == 3
        catalogue.finish_run(catalogue.start_run("import", {}), "ok")
        with catalogue.engine.connect() as conn:
            assert fulltext.pending(conn) == 0
            assert fulltext.count(conn) == _versions(catalogue) == 4
            caught_up = _documents(conn)
        assert fulltext.rebuild(catalogue) == 4
        with catalogue.engine.connect() as conn:
            assert _documents(conn) == caught_up
        assert catalogue.catch_up() == 0  # nothing left to do


def _documents(conn: sa.Connection) -> list[tuple[int, str]]:
    """What the index holds per version: PostgreSQL's vectors, SQLite's token counts."""
    if conn.dialect.name == "sqlite":
        return [tuple(r) for r in conn.execute(sa.text(
            f"SELECT id, sz FROM {fulltext.FTS_TABLE}_docsize ORDER BY id"))]
    return [tuple(r) for r in conn.execute(sa.text(
        f"SELECT version_id, CAST(document AS TEXT) FROM {fulltext.PG_TABLE} "
        "ORDER BY version_id"))]
