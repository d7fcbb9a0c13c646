"""The search query language (harvester/find/search.py) and the library search on the corpus."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from harvester.catalogue import Catalogue
from harvester.catalogue.places import haversine_km
from harvester.catalogue.selection import Selection
from harvester.errors import UsageError
from harvester.find.search import START, iter_hits, search
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


def test_extracts_are_the_same_on_both_databases(corpus_url: str, tmp_path: Path) -> None:
    """The page's extracts are taken alike (FTS5's snippet over the page's texts): a trial
    found on both databases shows the same highlighted words (PostgreSQL's ts_headline
    chose others before)."""
    if not corpus_url.startswith("postgresql"):
        pytest.skip("compared from PostgreSQL's run, with a SQLite corpus of its own")
    with (corpusdb.corpus_catalogue("sqlite", tmp_path) as sqlite_url,
          Catalogue.open(sqlite_url) as lite, Catalogue.open(corpus_url) as pg):
        shown = 0
        for text in ("lung cancer", "dupilumab", '"heart failure"', "immun*", "pain -opioid"):
            mine = {h.nct_id: h.snippet for h in search(lite, text, limit=50).hits}
            theirs = {h.nct_id: h.snippet for h in search(pg, text, limit=50).hits}
            both = mine.keys() & theirs.keys()
            assert both, text
            assert {n: mine[n] for n in both} == {n: theirs[n] for n in both}
            shown += sum(START in mine[n] for n in both)
        assert shown > 20


def test_totals_counted_from_the_past_versions_are_the_join_s(corpus: Catalogue) -> None:
    """A total counted as the index's matches less its versions no longer current (both
    databases; PostgreSQL when its tokens hold every filter) equals the count of the
    matches joined to their trials, on the corpus's histories."""
    import sqlalchemy as sa

    from harvester.catalogue import areas
    from harvester.find import search as searching

    searching.ready(corpus)
    with corpus.engine.connect() as conn:
        past = conn.exec_driver_sql(f"SELECT count(*) FROM {areas.PAST_TABLE}").scalar_one()
        assert past > 0  # the corpus holds histories: versions no longer current
        checked = 0
        for text in ("patients", "cancer", "study -placebo", "lung cancer", "covid"):
            for selection in (Selection(), Selection(statuses=("COMPLETED",)),
                              Selection(phases=("PHASE2",), has_results=True),
                              Selection(start_after=date(2010, 1, 1)),
                              Selection(countries=("United States",), age=40)):
                picked, stmt, _ = searching._matching(conn, parse(text), selection)
                count = sa.select(sa.func.count()).select_from(stmt.subquery())
                total = int(conn.execute(count).scalar_one())
                assert searching._total(conn, parse(text), picked, count) == total
                checked += total > 0
        assert checked > 15


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


# --- field-scoped searches with filters: the unfiltered ranking, filtered --------------------

AREA_QUERIES = ((("cond", "lung cancer"),), (("cond", "melanoma"),),
                (("intr", "pembrolizumab"),), (("titles", "study"),),
                (("outc", "overall survival"),), (("cond", "cancer"), ("intr", "placebo")))
FILTERS = (Selection(statuses=("COMPLETED", "TERMINATED")), Selection(phases=("PHASE3",)),
           Selection(study_types=("INTERVENTIONAL",)), Selection(has_results=True),
           Selection(age=70), Selection(sex="FEMALE", age_groups=("OLDER_ADULT",)),
           Selection(healthy_volunteers=False), Selection(funders=("INDUSTRY",)),
           Selection(documents=("protocol",), completion_before=date(2024, 12, 31)),
           Selection(start_after=date(2015, 1, 1), start_before=date(2020, 12, 31)),
           Selection(countries=("United States",), states=("CA", "NY")),
           Selection(updated_since=date(2020, 1, 1), sponsors=("university",)),
           Selection(conditions=("cancer",), interventions=("mab",)),
           Selection(ids=("NCT06203210", "NCT02481830", "NCT04585815")))


def _ranking(catalogue: Catalogue, text: str | None,
             selection: Selection) -> list[tuple[str, int, float]]:
    return [(h.nct_id, h.version_id, h.score) for h in iter_hits(catalogue, text, selection)]


def _picked(catalogue: Catalogue, selection: Selection) -> set[int]:
    from harvester.catalogue.selection import iter_selected

    with catalogue.engine.connect() as conn:
        return {version_id for _, version_id in iter_selected(conn, selection)}


@pytest.mark.parametrize("as_of", [None, date(2025, 6, 1)])
def test_a_filtered_area_search_is_its_ranking_filtered(corpus: Catalogue,
                                                        as_of: date | None) -> None:
    """Each match's filters are tested before it is joined to its trial (and, today, after
    a look at the index's past versions): the same hits, order, scores and totals as the
    search without the filters, keeping the versions the filters select."""
    checked = 0
    for given in AREA_QUERIES:
        for text in (None, "patients"):
            everything = _ranking(corpus, text, Selection(areas=given, as_of=as_of))
            for chosen in FILTERS:
                kept = _picked(corpus, replace(chosen, as_of=as_of))
                chosen = replace(chosen, areas=given, as_of=as_of)
                expected = [hit for hit in everything if hit[1] in kept]
                assert _ranking(corpus, text, chosen) == expected, (given, text, chosen)
                page = search(corpus, text, chosen, limit=3, offset=1)
                assert page.total == len(expected)
                assert [(h.nct_id, h.version_id, h.score) for h in page.hits] == expected[1:4]
                checked += bool(expected) and len(expected) < len(everything)
    assert checked > 40  # filters that kept some matches and dropped others


@pytest.mark.parametrize("text,given", [(None, (("cond", "cancer"),)), ("patients", ()),
                                        ("study", (("intr", "drug"),))])
def test_near_with_words_keeps_the_matches_in_reach_by_distance(
        corpus: Catalogue, text: str | None, given: tuple[tuple[str, str], ...]) -> None:
    """The sites in reach are found first and the words' matches outside them dropped
    before anything else: the matches in reach, nearest first, ties in the ranking's
    order, each with its distance."""
    near = Selection(near="42.3601,-71.0589", within_km=1500)
    ranking = _ranking(corpus, text, Selection(areas=given))
    reach = {h.version_id: h.distance_km for h in iter_hits(corpus, None, near)}
    hits = list(iter_hits(corpus, text, Selection(areas=given, near=near.near,
                                                  within_km=near.within_km)))
    expected = sorted((hit for hit in ranking if hit[1] in reach),
                      key=lambda hit: (round(reach[hit[1]] or 0.0, 6), ranking.index(hit)))
    assert 1 < len(hits) < len(ranking)
    assert [(h.nct_id, h.version_id) for h in hits] == [(n, v) for n, v, _ in expected]
    assert [h.distance_km for h in hits] == [reach[v] for _, v, _ in expected]
    both = Selection(areas=given, near=near.near, within_km=near.within_km,
                     statuses=("COMPLETED",))
    assert search(corpus, text, both).total == len(
        [v for _, v, _ in expected if v in _picked(corpus, Selection(statuses=("COMPLETED",)))])


def test_postgresql_matches_through_the_gin_index_then_restores_the_planner(
        tmp_path: Path) -> None:
    """On PostgreSQL the statements that match every version of a query run with plain
    index scans off (so a common word's matches come from the GIN index's bitmap, not a
    walk of every vector through the primary key) and a larger work_mem; the settings are
    back as they were after, and a search by filters alone leaves them alone."""
    import sqlalchemy as sa

    from harvester.find.search import WORK_MEM, _through_the_index
    from tests.conftest import empty_catalogue

    def settings(conn: sa.Connection) -> tuple[str, str]:
        row = conn.exec_driver_sql("SELECT current_setting('enable_indexscan'), "
                                   "current_setting('work_mem')").one()
        return str(row[0]), str(row[1])

    with empty_catalogue("postgresql", tmp_path) as url, Catalogue.open(url) as catalogue:
        with catalogue.engine.connect() as conn:
            before = settings(conn)
            assert before[0] == "on" and before[1] != WORK_MEM
            with _through_the_index(conn):
                assert settings(conn) == ("off", WORK_MEM)
            assert settings(conn) == before
            with _through_the_index(conn, matching=False):
                assert settings(conn) == before
        with catalogue.engine.connect() as conn:  # search's own transaction ended
            assert settings(conn) == before
