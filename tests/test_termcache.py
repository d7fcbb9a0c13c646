"""harvester/find/similar/termcache.py: the term statistics a process keeps across similar
queries are those the index holds, and are read anew once a refresh changed them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.find.similar import index as ix
from harvester.find.similar import store, termcache
from harvester.find.similar.engine import SimilarityEngine
from tests.conftest import FIXTURES, trials

STUDIES = sorted((FIXTURES / "ctgov-v2-json/studies").glob("NCT*.json"))
FIRST, LATER = STUDIES[::2], STUDIES[1::2]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The terms each look-up in ``sim_term`` read (through the cache or not)."""
    seen: list[set[str]] = []
    original = ix.term_stats

    def spy(conn: Any, terms: Any) -> Any:
        seen.append(set(terms))
        return original(conn, seen[-1])

    monkeypatch.setattr(ix, "term_stats", spy)
    return seen


def _indexed(db: str, *paths: Path) -> Catalogue:
    assert trials(db, "import", *paths, "--quiet").exit_code == 0
    catalogue = Catalogue.open(db)
    SimilarityEngine(catalogue).refresh()
    return catalogue


def _answers(engine: SimilarityEngine, ncts: list[str]) -> list[Any]:
    return [[(m.nct_id, m.score, m.parts, m.reasons) for m in engine.similar_to_id(n).matches]
            for n in ncts]


def _every_term(conn: sa.Connection) -> set[str]:
    return set(conn.execute(sa.select(store.TERM.c.term)).scalars()) | {"t:zzabsentzz"}


@pytest.fixture
def catalogue(db_url: str) -> Iterator[Catalogue]:
    with _indexed(db_url, *FIRST) as opened:
        yield opened


def test_kept_statistics_are_the_index_s_and_follow_its_refreshes(
        catalogue: Catalogue, db_url: str, reads: list[set[str]]) -> None:
    cache = termcache.TermCache()
    with catalogue.engine.connect() as conn:
        generation = store.get_metas(conn, ["generation"])["generation"]
        terms = _every_term(conn)
        exact = ix.term_stats(conn, terms)
        half = set(sorted(terms)[::2])
        assert cache.stats(conn, half, generation) == {t: exact[t] for t in half if t in exact}
        reads.clear()
        assert cache.stats(conn, terms, generation) == exact
        assert reads == [terms - half]  # only what was not read before: absent terms too
        reads.clear()
        assert cache.stats(conn, terms, generation) == exact and reads == []
    # More trials: the document frequencies move, new terms come; the refresh that writes
    # them gives the index a new generation, and the kept statistics are read anew.
    with _indexed(db_url, *LATER) as grown, grown.engine.connect() as conn:
        now = store.get_metas(conn, ["generation"])["generation"]
        assert now != generation
        before = exact
        terms = _every_term(conn)
        exact = ix.term_stats(conn, terms)
        assert any(exact[t][1] != df for t, (_, df) in before.items())  # frequencies moved
        assert exact.keys() - before.keys()  # and terms came
        reads.clear()
        assert cache.stats(conn, terms, now) == exact
        assert reads == [terms]
    # An index that has no generation (written before there were any) is read every time.
    with catalogue.engine.connect() as conn:
        reads.clear()
        assert cache.stats(conn, half, None) == ix.term_stats(conn, half)
        assert len(reads) == 2


def test_answers_with_kept_statistics_are_those_of_a_fresh_process(
        catalogue: Catalogue, db_url: str, reads: list[set[str]]) -> None:
    with catalogue.engine.connect() as conn:
        ncts = sorted(conn.execute(sa.select(store.ENTRY.c.nct_id)).scalars())[:6]
    engine = SimilarityEngine(catalogue)
    first = _answers(engine, ncts)
    assert any(first)
    reads.clear()
    assert _answers(engine, ncts) == first  # again: every statistic kept
    assert not any(reads), "a query read statistics it had read before"
    # The index grows (from another process's import): the same engine answers as an
    # engine of a new process does, over the grown index.
    assert trials(db_url, "import", *LATER, "--quiet").exit_code == 0
    grown = _answers(engine, ncts)
    termcache._CACHES.clear()
    assert _answers(SimilarityEngine(catalogue), ncts) == grown
    assert grown != first  # the new trials and frequencies are in the answers
    with catalogue.engine.connect() as conn:
        assert int(store.get_metas(conn, ["count"])["count"]) == len(STUDIES)


def test_past_its_limit_the_cache_starts_again(catalogue: Catalogue, reads: list[set[str]],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A long-running server's cache stays bounded: past ``LIMIT`` terms it is emptied and
    filled anew (what it answers does not change)."""
    monkeypatch.setattr(termcache.TermCache, "LIMIT", 50)
    cache = termcache.TermCache()
    with catalogue.engine.connect() as conn:
        generation = store.get_metas(conn, ["generation"])["generation"]
        terms = sorted(_every_term(conn))
        first, second = set(terms[:40]), set(terms[40:100])
        exact = ix.term_stats(conn, set(terms[:100]))
        assert cache.stats(conn, first, generation) == {t: exact[t] for t in first}
        assert cache.stats(conn, second, generation) == {t: exact[t] for t in second}
        reads.clear()
        assert cache.stats(conn, first, generation) == {t: exact[t] for t in first}
        assert reads == [first]  # 100 kept > 50: emptied, read anew
