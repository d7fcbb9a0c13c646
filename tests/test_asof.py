"""Searches as of a date (harvester/find/asof.py): the trials with history tested, the others
by their date, frequent words' pages from their lists: the same totals and pages as the
search that tests and ranks every match."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from harvester.catalogue import Catalogue, areas
from harvester.catalogue.selection import Selection
from harvester.find import asof, champions, frequent
from harvester.find.search import iter_hits, search
from tests.conftest import empty_catalogue, trials
from tests.corpusdb import CORPUS

#: Before most registry dates, between the history snapshots (2023-12-12 and 2024-01-03 of
#: NCT02552212; 2026-02-04, -09 and 03-09 of NCT06203210), and after all of them.
DAYS = (date(2012, 6, 30), date(2019, 1, 1), date(2023, 12, 20), date(2026, 2, 5),
        date(2026, 2, 20), date(2030, 1, 1))
WORDS = ("patients", "study", "cancer", "patients -cancer", "tigit", "immun*",
         "lung cancer", '"phase 3"')
PAGES = ((0, 1), (0, 3), (2, 2), (1, 5))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def listed(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    """The corpus (several trials with history, a trial from two sources) with lists of 6
    versions for each of the tests' words matching 3 or more, on either database."""
    folder = tmp_path_factory.mktemp("asof")
    with empty_catalogue(request.param, folder) as url:
        assert trials(url, "import", *CORPUS).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            with _tests_words_only():
                assert champions.build(catalogue.engine, min_docs=3, size=6) >= 6
            yield catalogue


@contextmanager
def _tests_words_only() -> Iterator[None]:
    """Lists for the words these tests search alone (a thousand lists of the corpus's
    words take ~10 s to build on PostgreSQL)."""
    used = {token for text in (*WORDS, "placebo") for token in areas.tokens(text)}
    every = frequent.words

    def words(conn: Any, min_docs: int) -> list[tuple[str, str, int]]:
        return [w for w in every(conn, min_docs) if w[0] == "term" and w[1] in used]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frequent, "words", words)
        yield


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
    and the ends of their months and years.  PostgreSQL, given the word's current matches
    from its list, may count the matches published after the day instead: both ways are
    checked on every day."""
    from harvester.find.scoped import Scoped
    from harvester.find.search_query import parse

    sqlite = listed.engine.dialect.name == "sqlite"
    with listed.engine.connect() as conn:
        stored = set(conn.exec_driver_sql("SELECT effective_date FROM version").scalars())
        indexed = areas.indexed_up_to(conn)
        history = asof.with_history(conn, indexed)
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
            scoped = Scoped((("term", parse(word)),))
            match = scoped.fts5() if sqlite else scoped.tsquery()
            assert match is not None
            key = champions.key(parse(word))
            head = champions.head(conn, key) if key is not None and " " not in word else None
            assert (head is not None) == (word != "cancer -lung")
            ways: list[tuple[int, int] | None] = [None]
            if head is not None and not sqlite:
                assert head.matches is not None
                # the current matches; the second: how many versions the index is said
                # to hold (so many that the later ones are always few: counted instead)
                ways += [(head.matches, indexed), (head.matches, 10**9)]
            for day in sorted(days):
                expected = conn.exec_driver_sql(
                    f"SELECT count(*) FROM {areas.FTS_TABLE} WHERE {areas.FTS_TABLE} MATCH ? "
                    f"AND rowid NOT IN (SELECT id FROM version WHERE effective_date > ?) "
                    f"AND rowid NOT IN (SELECT value FROM json_each(?))",
                    (match, day.isoformat(), "[" + ",".join(map(str, history)) + "]")
                ).scalar_one() if sqlite else conn.exec_driver_sql(
                    f"SELECT count(*) FROM {areas.PG_TABLE} d JOIN version v "
                    f"ON v.id = d.version_id WHERE d.document @@ CAST(%s AS tsquery) "
                    f"AND v.effective_date <= %s AND NOT d.version_id = ANY(%s)",
                    (match, day.isoformat(), history)).scalar_one()
                for way in ways:
                    assert asof._published_by(conn, match, day, history, way) == expected, (
                        word, day, way)
                counted += expected > 0
        assert counted > 100


def test_filters_are_not_answered_here(listed: Catalogue, answered: list[str]) -> None:
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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_versions_stored_after_the_lists_were_made(tmp_path: Path, answered: list[str],
                                                   kind: str) -> None:
    """History snapshots imported after the lists were made: the trials they belong to
    have history, tested one by one; the page is ranked from every match (the lists are
    stale) until the lists are made again."""
    snapshots = sorted(p for p in CORPUS if "__vh" in p.name)
    # PostgreSQL: the days around the snapshots (each check ranks every match too)
    days, texts = ((DAYS, ("patients", "study -placebo", "tigit")) if kind == "sqlite"
                   else (DAYS[2:], ("patients", "study -placebo")))
    with empty_catalogue(kind, tmp_path) as url:
        first = [p for p in CORPUS if p not in snapshots]
        assert trials(url, "import", *first, snapshots[0]).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            with _tests_words_only():
                assert champions.build(catalogue.engine, min_docs=3, size=4) >= 4
        assert trials(url, "import", *snapshots[1:]).exit_code == 0
        with Catalogue.open(url) as catalogue:
            for day in days:
                for text in texts:
                    _check(catalogue, text, day)
            assert "total" in answered and "page" not in answered
            with _tests_words_only():
                champions.build(catalogue.engine, min_docs=3, size=4)
            for day in days:
                _check(catalogue, "patients", day)
            assert "page" in answered
