"""The search query language (harvester/find/search.py) and the library search on the corpus."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date

import pytest

from harvester.catalogue import Catalogue
from harvester.catalogue.places import haversine_km
from harvester.catalogue.selection import Selection
from harvester.errors import UsageError
from harvester.find.search import iter_hits, search
from harvester.find.search_query import parse
from tests import corpusdb

# --- searching the corpus through the library ----------------------------------------------

corpus_url = corpusdb.corpus_url  # the shared corpus catalogue (a session fixture)


@pytest.fixture
def corpus(corpus_url: str) -> Iterator[Catalogue]:
    with Catalogue.open(corpus_url) as catalogue:
        yield catalogue


def test_pages_follow_each_other_and_match_the_stream(corpus: Catalogue) -> None:
    first = search(corpus, "patients", limit=5)
    second = search(corpus, "patients", limit=5, offset=5)
    streamed = list(iter_hits(corpus, "patients", page=3))
    assert first.total == second.total == len(streamed) > 10
    assert [h.nct_id for h in first.hits + second.hits] == [h.nct_id for h in streamed[:10]]
    assert [h.rank for h in second.hits] == [6, 7, 8, 9, 10]
    scores = [h.score for h in streamed]
    assert scores == sorted(scores, reverse=True)
    assert len({h.nct_id for h in streamed}) == len(streamed)  # one version per trial


def test_highlights_point_at_the_matched_words(corpus: Catalogue) -> None:
    results = search(corpus, "dupilumab")
    assert results.hits
    for hit in results.hits:
        spans = hit.highlights
        assert spans, hit.snippet
        for start, end in spans:
            assert hit.plain_snippet[start:end].lower() == "dupilumab"


def test_stemming_and_case(corpus: Catalogue) -> None:
    """'Vaccines' finds 'vaccine' and 'vaccination' on both databases (English stemming)."""
    singular = {h.nct_id for h in search(corpus, "vaccine", limit=100).hits}
    plural = {h.nct_id for h in search(corpus, "VACCINES", limit=100).hits}
    assert singular and singular == plural
    # NCT03101111 is "Study of a Live Attenuated Chikungunya Vaccine …"
    assert "NCT03101111" in singular


def test_stop_words_are_searched_like_any_word(
        corpus: Catalogue) -> None:
    # one tokeniser for both databases, without stop words: "the" is a word like any other
    assert search(corpus, "the").total > 0
    # with a real word beside them, both search the real word
    assert search(corpus, "the dupilumab").total == search(corpus, "dupilumab").total


def test_as_of_searches_the_version_current_then(corpus: Catalogue) -> None:
    now = {h.nct_id: h for h in search(corpus, "honeycombing").hits}
    then = search(corpus, "honeycombing", Selection(as_of=date(2026, 1, 25)))
    assert "NCT06203210" in now and then.total == 0
    assert now["NCT06203210"].version == 3  # the text came with version 2 and stayed


def test_limit_and_offset_are_checked(corpus: Catalogue) -> None:
    with pytest.raises(UsageError):
        search(corpus, "tigit", limit=0)
    with pytest.raises(UsageError):
        search(corpus, "tigit", offset=-1)


def test_totals_with_filters_and_past_the_last_page(corpus: Catalogue) -> None:
    completed = Selection(statuses=("COMPLETED",))
    first = search(corpus, "patients", completed, limit=3)
    assert 3 < first.total < search(corpus, "patients").total
    beyond = search(corpus, "patients", completed, offset=first.total)
    assert beyond.total == first.total and beyond.hits == []
    assert search(corpus, "zzyzzx", completed).total == 0


def test_random_queries_run_on_the_database(corpus: Catalogue) -> None:
    """What the parser accepts, the database accepts (FTS5 MATCH, PostgreSQL tsquery)."""
    rng = random.Random(7)
    alphabet = ['"', "(", ")", "*", "-", ":", "&", "|", "!", "<->", " ", " ", "OR ", "NOT ",
                "cancer", "lung", "the", "é", "'", "\\", ",", "anti-PD-1", "IL-2*"]
    searched = 0
    for _ in range(150):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        try:
            query = parse(text)
            search(corpus, query, limit=3)
        except UsageError:
            continue
        searched += 1
    assert searched > 30


@pytest.mark.parametrize("text", [None, "study"])
def test_near_lists_the_nearest_site_first_with_its_distance(corpus: Catalogue,
                                                            text: str | None) -> None:
    boston = (42.3601, -71.0589)
    results = search(corpus, text, Selection(near="42.3601,-71.0589", within_km=800),
                     limit=100)
    assert 1 < results.total == len(results.hits)
    for hit in results.hits:
        record = corpus.record(hit.version_id)
        nearest = min(haversine_km(boston, (s.lat, s.lon)) for s in record.locations
                      if s.lat is not None and s.lon is not None)
        assert hit.distance_km == pytest.approx(nearest, abs=1e-6) and nearest <= 800
    distances = [h.distance_km for h in results.hits]
    assert distances == sorted(distances)  # type: ignore[type-var]
    streamed = list(iter_hits(corpus, text, Selection(near="42.3601,-71.0589",
                                                      within_km=800), page=3))
    assert [(h.nct_id, h.distance_km) for h in streamed] == [
        (h.nct_id, h.distance_km) for h in results.hits]
