"""Searches as of a date (harvester/find/asof.py): the trials with history tested, the others
by their date, frequent words' pages from their lists: the same totals and pages as the
search that tests and ranks every match."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from harvester.catalogue import Catalogue, areas
from harvester.catalogue.selection import Selection
from harvester.find import asof, champions
from harvester.find.search import iter_hits, search
from tests import corpusdb
from tests.conftest import empty_catalogue, trials
from tests.corpusdb import CORPUS

#: Before most registry dates, between the history snapshots (2023-12-12 and 2024-01-03 of
#: NCT02552212; 2026-02-04, -09 and 03-09 of NCT06203210), and after all of them.
DAYS = (date(2012, 6, 30), date(2019, 1, 1), date(2023, 12, 20), date(2026, 2, 5),
        date(2026, 2, 20), date(2030, 1, 1))
WORDS = ("patients", "study", "cancer", "patients -cancer", "tigit", "immun*",
         "lung cancer", '"phase 3"')
PAGES = ((0, 1), (0, 3), (2, 2), (1, 5))


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    """The corpus on SQLite (several trials with history, a trial from two sources) with
    lists of 6 versions for each word matching 3 or more."""
    folder = tmp_path_factory.mktemp("asof")
    with empty_catalogue("sqlite", folder) as url:
        assert trials(url, "import", *CORPUS).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            assert champions.build(catalogue.engine, min_docs=3, size=6) > 50
            yield catalogue


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """How each as-of search was answered: "page" (from a list), "total" (counted here,
    every match ranked) or "no" (the search as before)."""
    seen: list[str] = []
    original = asof.answer

    def spy(*args: Any) -> Any:
        got = original(*args)
        seen.append("no" if got is None else "total" if got[1] is None else "page")
        return got

    monkeypatch.setattr(asof, "answer", spy)
    return seen


def _every(catalogue: Catalogue, text: str, selection: Selection) -> list[tuple[str, int, float]]:
    return [(h.nct_id, h.version_id, h.score) for h in iter_hits(catalogue, text, selection)]


def _check(catalogue: Catalogue, text: str, day: date) -> None:
    selection = Selection(as_of=day)
    every = _every(catalogue, text, selection)
    for offset, limit in PAGES:
        results = search(catalogue, text, selection, limit=limit, offset=offset)
        assert [(h.nct_id, h.version_id, h.score) for h in results.hits] == every[
            offset:offset + limit], (text, day, offset)
        assert results.total == len(every), (text, day)


def test_as_of_pages_and_totals_are_those_of_testing_every_match(
        listed: Catalogue, answered: list[str]) -> None:
    """Every page and total of words, exclusions, prefixes, phrases and several words as of
    dates before, between and after the history snapshots: hits, order, scores, totals."""
    for text in WORDS:
        for day in DAYS:
            _check(listed, text, day)
    # page: from the list; total: too few of the list picked; no: not one listed word
    assert {"page", "total", "no"} <= set(answered)
    with listed.engine.connect() as conn:
        history = asof.with_history(conn, areas.indexed_up_to(conn))
        # NCT06203210's snapshots, NCT00557986's two sources
        assert history is not None and len(history) >= 5
    # The trials with history do count: as of a day between two snapshots, the versions
    # picked include ones no longer current.
    current = {h.version_id for h in iter_hits(listed, "patients")}
    then = {h.version_id for h in iter_hits(listed, "patients",
                                            Selection(as_of=date(2026, 2, 20)))}
    assert then and then - current


def test_the_count_by_date_is_the_versions_published_by_then(listed: Catalogue) -> None:
    """The matches published by a day, counted from the registry dates' tokens (the day's
    month and before, less its month's later days, less the trials with history), are those
    the dates themselves say — on every registry date of the corpus, the days either side,
    and the ends of their months and years."""
    from harvester.find.scoped import Scoped
    from harvester.find.search_query import parse

    with listed.engine.connect() as conn:
        stored = set(conn.exec_driver_sql("SELECT effective_date FROM version").scalars())
        history = asof.with_history(conn, areas.indexed_up_to(conn))
        assert history
        days = set()
        for text in stored:
            day = date.fromisoformat(text)
            end = date(day.year, 12, 31)
            month_end = (date(day.year, day.month + 1, 1) if day.month < 12
                         else date(day.year + 1, 1, 1)) - timedelta(days=1)
            days |= {day - timedelta(days=1), day, day + timedelta(days=1), month_end, end}
        assert len(days) > 100
        counted = 0
        for word in ("patients", "study", "cancer -lung"):
            match = Scoped((("term", parse(word)),)).fts5()
            assert match is not None
            for day in sorted(days):
                expected = conn.exec_driver_sql(
                    f"SELECT count(*) FROM {areas.FTS_TABLE} WHERE {areas.FTS_TABLE} MATCH ? "
                    f"AND rowid NOT IN (SELECT id FROM version WHERE effective_date > ?) "
                    f"AND rowid NOT IN (SELECT value FROM json_each(?))",
                    (match, day.isoformat(), "[" + ",".join(map(str, history)) + "]")
                ).scalar_one()
                assert asof._published_by(conn, match, day, history) == expected, (word, day)
                counted += expected > 0
        assert counted > 100


def test_filters_and_postgresql_are_not_answered_here(listed: Catalogue,
                                                      answered: list[str]) -> None:
    """Another filter beside the date: the search tests every match, as before."""
    selection = Selection(as_of=date(2026, 2, 20), statuses=("COMPLETED",))
    results = search(listed, "patients", selection, limit=3)
    assert results.total == len(_every(listed, "patients", selection))
    assert answered == []


def test_too_many_trials_with_history_rank_every_match(listed: Catalogue, answered: list[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asof, "MAX_HISTORY", 3)
    _check(listed, "patients", date(2026, 2, 20))
    assert set(answered) == {"no"}


def test_versions_stored_after_the_lists_were_made(tmp_path: Path, answered: list[str]) -> None:
    """History snapshots imported after the lists were made: the trials they belong to
    have history, tested one by one; the page is ranked from every match (the lists are
    stale) until the lists are made again."""
    snapshots = sorted(p for p in CORPUS if "__vh" in p.name)
    with empty_catalogue("sqlite", tmp_path) as url:
        first = [p for p in CORPUS if p not in snapshots]
        assert trials(url, "import", *first, snapshots[0]).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            assert champions.build(catalogue.engine, min_docs=3, size=4) > 20
        assert trials(url, "import", *snapshots[1:]).exit_code == 0
        with Catalogue.open(url) as catalogue:
            for day in DAYS:
                for text in ("patients", "study -placebo", "tigit"):
                    _check(catalogue, text, day)
            assert "total" in answered and "page" not in answered
            champions.build(catalogue.engine, min_docs=3, size=4)
            for day in DAYS:
                _check(catalogue, "patients", day)
            assert "page" in answered


corpus_url = corpusdb.corpus_url


def test_postgresql_tests_every_match_with_the_same_totals(listed: Catalogue,
                                                           corpus_url: str) -> None:
    """PostgreSQL tests every match as of the date (its own ranking): the same totals and
    the same matches as SQLite's split by history."""
    with Catalogue.open(corpus_url) as other:
        for text in ("patients", "study", "cancer", "patients -cancer"):
            for day in DAYS:
                selection = Selection(as_of=day)
                mine = {(h.nct_id, h.version_id) for h in iter_hits(listed, text, selection)}
                theirs = search(other, text, selection, limit=50)
                assert theirs.total == search(listed, text, selection).total == len(mine)
                assert {h.nct_id for h in theirs.hits} <= {n for n, _ in mine}
