"""Field-scoped search (harvester/catalogue/areas.py, harvester/find/scoped.py) on the corpus,
on SQLite and PostgreSQL: the tokeniser, the hyphen rule, MeSH concepts and ranking."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harvester.catalogue import Catalogue, areas
from harvester.catalogue.selection import Selection
from harvester.find.search import search
from harvester.records import TrialRecord
from tests import corpusdb

corpus_url = corpusdb.corpus_url


@pytest.fixture
def corpus(corpus_url: str) -> Iterator[Catalogue]:
    with Catalogue.open(corpus_url) as catalogue:
        yield catalogue


def found(catalogue: Catalogue, text: str | None = None, **given: str) -> list[str]:
    selection = Selection(areas=tuple(given.items()))
    return [h.nct_id for h in search(catalogue, text, selection, limit=500).hits]


def records(catalogue: Catalogue) -> dict[str, TrialRecord]:
    out = {}
    for nct_id in catalogue.trial_ids():
        info = catalogue.current(nct_id)
        assert info is not None
        out[nct_id] = catalogue.record(info.id)
    return out


def test_tokens_and_the_hyphen_rule() -> None:
    assert areas.tokens("Non-Small-Cell Lung Cancers") == ["nonsmal", "cell", "lung", "cancer"]
    assert areas.words("non small cell") == areas.words("non-small cell") == ["nonsmall",
                                                                             "cell"]
    assert areas.words("COVID-19 vaccine") == ["covid", "19", "vaccine"]
    assert areas.words("Sjögren") == ["sjogren"]


def test_concepts_ignore_order_and_read_cancer_as_neoplasm() -> None:
    assert areas.concept("Carcinoma, Non-Small-Cell Lung") == areas.concept(
        "non-small cell lung cancer")
    assert areas.concept("Small Cell Lung Carcinoma") == areas.concept("small cell lung cancer")
    assert areas.concept("Small Cell Lung Carcinoma") != areas.concept(
        "Carcinoma, Non-Small-Cell Lung")
    assert areas.concept("Lung Neoplasms") == areas.concept("cancer of the lung")


def test_small_cell_is_not_non_small_cell(corpus: Catalogue) -> None:
    held = records(corpus)
    hits = found(corpus, '"small cell lung cancer"')
    assert hits and all(not any("non" in c.lower() for c in held[n].conditions) for n in hits)
    nsclc = found(corpus, cond="non-small cell lung cancer")
    assert len(nsclc) >= 3 and not set(hits) & set(nsclc)
    # the two small-cell trials (their condition) rank first, by condition or by any field
    sclc = {"NCT02481830", "NCT06203210"}
    assert set(found(corpus, cond="small cell lung cancer")[:2]) == set(hits[:2]) == sclc


def test_a_condition_query_matches_the_mesh_concept_and_its_descendants(
        corpus: Catalogue) -> None:
    held = records(corpus)
    lung = set(found(corpus, cond="lung cancer"))
    under = {n for n, r in held.items()
             if any(m.term == "Lung Neoplasms" for m in (*r.condition_mesh,
                                                         *r.condition_ancestors))}
    assert under and under <= lung
    # found through the concept alone: no "lung cancer" words in the condition area
    assert any(not any("lung cancer" in t.lower() for t in (*held[n].conditions,
                                                            held[n].brief_title or ""))
               for n in under)


def test_areas_search_their_own_fields(corpus: Catalogue) -> None:
    held = records(corpus)
    by_sponsor = set(found(corpus, spons="pfizer"))
    assert by_sponsor == {n for n, r in held.items() if any(
        "pfizer" in (s.name or "").lower() for s in (r.lead_sponsor, *r.collaborators) if s)}
    by_place = set(found(corpus, locn="japan"))
    assert by_place == {n for n, r in held.items() if any(
        "japan" in " ".join(filter(None, (s.facility, s.city, s.state, s.country))).lower()
        for s in r.locations)}
    assert found(corpus, id="NCT06203210") == ["NCT06203210"]
    assert set(found(corpus, titles="nivolumab")) == {
        n for n, r in held.items() if "nivolumab" in " ".join(filter(None, (
            r.brief_title, r.official_title, r.acronym))).lower()}


def test_a_condition_match_ranks_above_a_text_match(corpus: Catalogue) -> None:
    held = records(corpus)
    hits = found(corpus, "asthma")
    strong = [any("asthma" in t.lower() for t in held[n].conditions) or any(
        "asthma" in m.term.lower() for m in (*held[n].condition_mesh,
                                             *held[n].condition_ancestors)) for n in hits]
    assert True in strong and False in strong
    assert strong == sorted(strong, reverse=True)  # every strong match before the others


def test_the_index_catches_up_lazily(db_url: str) -> None:
    from tests.conftest import FIXTURES, trials

    assert trials(db_url, "import", FIXTURES / "ctgov-v2-json" / "studies").exit_code == 0
    with Catalogue.open(db_url) as catalogue:
        with catalogue.engine.connect() as conn:
            assert areas.pending(conn) > 20
        assert found(catalogue, "tigit")
        with catalogue.engine.connect() as conn:
            assert areas.pending(conn) == 0
        assert areas.catch_up(catalogue.engine) == 0
