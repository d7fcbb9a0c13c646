"""Several frequent words ranked from their champion lists (harvester/find/several.py): the
same pages, hits, order and scores, as the ranking of every match, or every match ranked —
on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from harvester.catalogue import Catalogue, areas
from harvester.catalogue.selection import Selection
from harvester.find import champions, frequent, several
from harvester.find.search import BOOST, iter_hits, search
from harvester.find.search_query import Any_, parse
from tests import corpusdb
from tests.conftest import empty_catalogue, trials
from tests.corpusdb import CORPUS

QUERIES = ("lung cancer", "cancer patients", "covid 19", "breast cancer", "cancer study",
           "patients study", "study treatment", "cancer patients -placebo", "tumor cancer",
           "covid vaccine", "heart failure", "cancer lung study", "diabetes type",
           "failure OR patients", "breast OR diabetes", "lung OR heart", "cancer OR study",
           "tumor OR cancer")
SELECTIONS = (Selection(), Selection(statuses=("COMPLETED",)), Selection(has_results=True),
              Selection(start_after=date(2010, 1, 1)))
PAGES = ((0, 1), (0, 3), (2, 2), (1, 4))


@pytest.fixture(scope="module", params=[("sqlite", 4), ("sqlite", 12), ("postgresql", 4)],
                ids=["sqlite-4", "sqlite-12", "postgresql-4"])
def listed(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    """The corpus with lists of 4 (or 12) versions for each word matching 3 or more (on
    PostgreSQL, the words of :data:`QUERIES`: every list they read, in a fifth of the
    build)."""
    kind, size = request.param
    folder = tmp_path_factory.mktemp("several")
    with empty_catalogue(kind, folder) as url:
        assert trials(url, "import", *CORPUS).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            with pytest.MonkeyPatch.context() as patch:
                if kind == "postgresql":
                    wanted = {w for text in QUERIES for w in areas.tokens(text)}
                    every = frequent.words
                    patch.setattr(frequent, "words", lambda conn, least: [
                        w for w in every(conn, least) if w[1] in wanted])
                assert champions.build(catalogue.engine, min_docs=3, size=size) > 10
            yield catalogue


@pytest.fixture
def used(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each search of several words took its page from the lists."""
    seen: list[bool] = []
    original = several.page

    def spy(*args: Any) -> Any:
        got = original(*args)
        seen.append(got is not None)
        return got

    monkeypatch.setattr(several, "page", spy)
    return seen


def _every(catalogue: Catalogue, text: str, selection: Selection) -> list[tuple[str, int, float]]:
    return [(h.nct_id, h.version_id, h.score) for h in iter_hits(catalogue, text, selection)]


def test_several_words_from_their_lists_are_the_exact_page(listed: Catalogue,
                                                           used: list[bool]) -> None:
    """Every page of several frequent words (with exclusions and filters) is the page of
    the ranking of every match, hits, order and scores; totals too."""
    # PostgreSQL: fewer filters and pages (each search there takes several round trips).
    pg = listed.engine.dialect.name != "sqlite"
    ored = []
    for text in QUERIES:
        before = len(used)
        for selection in SELECTIONS[::2] if pg else SELECTIONS:
            every = _every(listed, text, selection)
            for offset, limit in PAGES[1:3] if pg else PAGES:
                results = search(listed, text, selection, limit=limit, offset=offset)
                assert [(h.nct_id, h.version_id, h.score) for h in results.hits] == every[
                    offset:offset + limit], (text, selection, offset)
                assert results.total == len(every)
        if " OR " in text:
            ored += used[before:]
    assert any(used) and not all(used)  # the lists answered some, the bound refused some
    assert any(ored)  # words ORed too


def _inside_and_bound(conn: Any, text: str, places: int
                      ) -> tuple[set[int], tuple[float, float]] | None:
    """The versions in the first ``places`` of the lists of the words of ``text`` and the
    bound the search computes; None when a word has no list."""
    query = parse(text)
    parts = several.words(query)
    assert parts is not None
    heads = [champions.head(conn, k) for p in parts if (k := champions.key(p))]
    if len(heads) < len(parts) or any(h is None for h in heads):
        return None
    ids = ", ".join(str(h.list_id) for h in heads if h is not None)
    inside = set(conn.exec_driver_sql(
        f"SELECT version_id FROM {champions.LIST} WHERE place < {places} AND list_id IN "
        f"({ids})").scalars())
    either = isinstance(query.root, Any_)
    found = (several.bound(conn, query, [h for h in heads if h is not None])
             if conn.dialect.name == "sqlite"
             else several.pg_bound(conn, parts, [h for h in heads if h is not None], either))
    if found is None:
        # PostgreSQL: two words of one lexeme (`tumor cancer`: one concept); words ORed:
        # a list whose floor holds the boost
        floors = conn.exec_driver_sql(
            f"SELECT min(score) FROM {champions.LIST} WHERE place < {places} AND list_id IN "
            f"({ids}) GROUP BY list_id").scalars()
        assert (conn.dialect.name != "sqlite" and "tumor" in text) or (
            either and any(floor >= BOOST for floor in floors)), text
        return None
    return inside, found


def test_the_bound_is_above_every_version_outside_the_lists(listed: Catalogue) -> None:
    """What the page rests on: no version outside the lists scores above the bound the
    search computes (here checked against the ranking of every match)."""
    checked = 0
    for text in QUERIES:
        with listed.engine.connect() as conn:
            listed_words = _inside_and_bound(conn, text, several.TAKEN if conn.dialect.name
                                             == "sqlite" else several.PG_TAKEN)
        if listed_words is None:
            continue
        inside, (bound, best) = listed_words
        outside = [s for _, v, s in _every(listed, text, Selection()) if v not in inside]
        assert all(s <= bound for s in outside), text
        # (best: the sum of the lists' firsts, which the top version may equal, up to
        # the rounding of two sums in another order)
        margin = several.MARGIN if listed.engine.dialect.name == "sqlite" else several.PG_MARGIN
        assert all(s <= max(bound, best) + margin
                   for _, _, s in _every(listed, text, Selection()))
        checked += 1
    assert checked >= 5


def test_lists_taken_as_far_as_their_first_versions_give_the_exact_page(
        listed: Catalogue, used: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    """A list longer than ``several.TAKEN`` (``PG_TAKEN``; a word of many matches keeps a
    share of them) is taken only that far: the bound rests on the score there, and holds;
    the pages are still the ranking of every match."""
    monkeypatch.setattr(several, "TAKEN", 3)
    monkeypatch.setattr(several, "PG_TAKEN", 3)
    for text in QUERIES:
        with listed.engine.connect() as conn:
            listed_words = _inside_and_bound(conn, text, 3)
        if listed_words is None:
            continue
        inside, found = listed_words
        every = _every(listed, text, Selection())
        assert all(s <= found[0] for _, v, s in every if v not in inside), text
        for selection in SELECTIONS[:1 if listed.engine.dialect.name != "sqlite" else 2]:
            every = _every(listed, text, selection)
            for offset, limit in PAGES[:3]:
                results = search(listed, text, selection, limit=limit, offset=offset)
                assert [(h.nct_id, h.version_id, h.score) for h in results.hits] == every[
                    offset:offset + limit], (text, selection, offset)
    assert any(used)


def test_other_shapes_and_stale_lists_rank_every_match(tmp_path: Path, used: list[bool]) -> None:
    """A prefix, a phrase, one word: not several words (words ORed are); after versions were indexed
    since the lists were made, every match is ranked until the lists are made again."""
    assert several.words(parse("immun* cancer")) is None
    assert several.words(parse('"lung cancer"')) is None
    assert several.words(parse("lung OR cancer")) == [parse("lung"), parse("cancer")]
    assert several.words(parse("lung OR cancer*")) is None
    assert several.words(parse("cancer -lung")) is None
    snapshots = sorted(p for p in CORPUS if "__vh" in p.name)
    with empty_catalogue("sqlite", tmp_path) as url:
        first = [p for p in CORPUS if p not in snapshots]
        assert trials(url, "import", *first, snapshots[0]).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            champions.build(catalogue.engine, min_docs=3, size=12)
            for text in QUERIES:
                search(catalogue, text, limit=3)
            assert any(used)
        assert trials(url, "import", *snapshots[1:]).exit_code == 0
        with Catalogue.open(url) as catalogue:
            used.clear()
            for text in QUERIES:
                results = search(catalogue, text, limit=3)
                assert [(h.nct_id, h.score) for h in results.hits] == [
                    (n, s) for n, _, s in _every(catalogue, text, Selection())[:3]]
            assert used and not any(used)
            champions.build(catalogue.engine, min_docs=3, size=12)
            used.clear()
            for text in QUERIES:
                results = search(catalogue, text, limit=3)
                assert [(h.nct_id, h.score) for h in results.hits] == [
                    (n, s) for n, _, s in _every(catalogue, text, Selection())[:3]]
            assert any(used)


corpus_url = corpusdb.corpus_url


def test_postgresql_ranks_every_match_with_the_same_totals(listed: Catalogue,
                                                           corpus_url: str) -> None:
    """PostgreSQL without lists ranks every match (its own ranking): the same totals as
    the page from the lists, and hits among the same matches."""
    if listed.engine.dialect.name != "sqlite":
        pytest.skip("compared from SQLite's lists")
    with Catalogue.open(corpus_url) as other:
        for text in QUERIES:
            mine, theirs = search(listed, text, limit=5), search(other, text, limit=5)
            assert mine.total == theirs.total, text
            every = {h.nct_id for h in iter_hits(listed, text)}
            assert {h.nct_id for h in theirs.hits} <= every
