"""The text of a version for extracts (harvester/catalogue/fulltext.py), and the old full-text
index gone."""

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


def test_schema_step_12_drops_the_old_full_text_index(db_url: str) -> None:
    """A catalogue of schema 11 kept a full-text index of every version that nothing read
    any more: opening it drops the index, and searches answer as before."""
    assert trials(db_url, "import", *CORPUS[:2]).exit_code == 0
    with Catalogue.open(db_url) as catalogue:
        before = [h.nct_id for h in search(catalogue, "lung cancer").hits]
        with catalogue.engine.begin() as conn:  # as schema 11 left it
            if conn.dialect.name == "sqlite":
                conn.execute(sa.text(f"CREATE VIRTUAL TABLE {fulltext.FTS_TABLE} USING fts5("
                                     f"{', '.join(fulltext.COLUMNS)}, content='')"))
            else:
                conn.execute(sa.text(f"CREATE TABLE {fulltext.PG_TABLE} ("
                                     "version_id INTEGER PRIMARY KEY, document TSVECTOR)"))
            conn.execute(sa.text("UPDATE schema_info SET value = '11' "
                                 "WHERE key = 'schema_version'"))
    with Catalogue.open(db_url) as catalogue:
        with catalogue.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT value FROM schema_info WHERE key = "
                                        "'schema_version'")).scalar() == str(SCHEMA_VERSION)
            names = set(sa.inspect(conn).get_table_names())
            assert not {n for n in names if n.startswith((fulltext.FTS_TABLE,
                                                          fulltext.PG_TABLE))}
        assert [h.nct_id for h in search(catalogue, "lung cancer").hits] == before
    assert before
