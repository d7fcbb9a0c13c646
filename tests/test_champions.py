"""Champion lists (harvester/find/champions.py): a search of a frequent word ranked from its
list is the search that ranks every match; totals from the index less the past versions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from harvester.catalogue import Catalogue, areas
from harvester.catalogue.engine import make_engine
from harvester.catalogue.selection import Selection
from harvester.errors import UsageError
from harvester.find import champions
from harvester.find import search as search_module
from harvester.find.search import iter_hits, search
from tests.conftest import empty_catalogue, trials
from tests.corpusdb import CORPUS

WORDS = ("patients", "study", "Treatment", "cancer", "patients -cancer", "study -placebo",
         "immun*", "stud* -placebo")
SELECTIONS = (Selection(), Selection(statuses=("COMPLETED",)),
              Selection(phases=("PHASE2", "PHASE3")), Selection(countries=("United States",)),
              Selection(start_after=date(2010, 1, 1)), Selection(has_results=True))
PAGES = ((0, 1), (0, 3), (2, 2), (3, 1), (1, 5))


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    """The corpus on SQLite with lists of 6 versions for each word matching 10 or more
    (a thousand words: the lists' rules need no more, and PostgreSQL builds the same)."""
    folder = tmp_path_factory.mktemp("champions")
    with empty_catalogue("sqlite", folder) as url:
        assert trials(url, "import", *CORPUS).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            assert champions.build(catalogue.engine, min_docs=10, size=6) > 50
            yield catalogue


def _exact(catalogue: Catalogue, text: str, selection: Selection, offset: int,
           limit: int) -> list[tuple[str, int, float]]:
    every = list(iter_hits(catalogue, text, selection))  # ranks every match, always
    return [(h.nct_id, h.version_id, h.score) for h in every[offset:offset + limit]]


@pytest.fixture
def used(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each search took its page from the lists."""
    seen: list[bool] = []
    original = search_module._from_champions

    def spy(*args: Any) -> Any:
        page = original(*args)
        seen.append(page is not None)
        return page

    monkeypatch.setattr(search_module, "_from_champions", spy)
    return seen


def test_one_word_from_its_list_is_the_exact_page(listed: Catalogue,
                                                  used: list[bool]) -> None:
    """Every page of one frequent word (with exclusions, filters and offsets) is the page
    of the ranking of every match — hits, order and scores — and so is its total."""
    for text in WORDS:
        for selection in SELECTIONS:
            every = list(iter_hits(listed, text, selection))
            for offset, limit in PAGES:
                results = search(listed, text, selection, limit=limit, offset=offset)
                assert [(h.nct_id, h.version_id, h.score) for h in results.hits] == [
                    (h.nct_id, h.version_id, h.score) for h in every[offset:offset + limit]
                ], (text, selection, offset)
                assert results.total == len(every)
    assert sum(used) > 40 and not all(used)  # the lists answered most, not every one


AREA_WORDS = (("cond", "cancer"), ("cond", "Cancer -placebo"), ("intr", "placebo"),
              ("titles", "study"), ("outc", "rate"), ("locn", "united"),
              ("spons", "university"))


def test_one_word_in_one_area_from_its_list_is_the_exact_page(listed: Catalogue,
                                                              used: list[bool]) -> None:
    """A field-scoped search of one frequent word (``--cond cancer``, with exclusions,
    filters and offsets) reads its page from the area's list of that word: the page of the
    ranking of every match, hits, order and scores; its total too."""
    answered: set[str] = set()
    for area, text in AREA_WORDS:
        for selection in SELECTIONS[:4]:
            scoped = replace(selection, areas=((area, text),))
            every = list(iter_hits(listed, None, scoped))
            for offset, limit in PAGES[:3]:
                results = search(listed, None, scoped, limit=limit, offset=offset)
                assert [(h.nct_id, h.version_id, h.score) for h in results.hits] == [
                    (h.nct_id, h.version_id, h.score) for h in every[offset:offset + limit]
                ], (area, text, selection, offset)
                assert results.total == len(every)
                if used[-1]:
                    answered.add(area)
    assert answered == {area for area, _ in AREA_WORDS}  # every area's list answered


def test_each_area_s_lists_are_its_own_ranking(listed: Catalogue) -> None:
    """Each field-scoped area's lists are made with one compiled statement of that area
    (champions.OneWord): place for place the ranking of the word's own search there."""
    from harvester.find.search import _ranked

    with listed.engine.connect() as conn:
        for area, text in AREA_WORDS:
            query = search_module.parse(text.split()[0])
            ranking = champions.OneWord(conn, 6, area)
            assert ranking.sql is not None, area  # the compiled path is the one taken
            found = champions.key(query, area)
            assert found is not None
            head = champions.head(conn, found)
            assert head is not None, (area, text)
            stored = [tuple(r) for r in conn.execute(
                champions.listed(head, query, Selection(), area).limit(6))]
            stmt, _ = _ranked(conn, None, Selection(areas=((area, text.split()[0]),)))
            own = conn.execute(stmt.order_by(sa.desc("score"), sa.asc("nct_id")).limit(6))
            assert [(r.nct_id, r.version_id, r.score) for r in own] == stored, area
            bound = ranking.rows(conn, query)
            assert bound is not None
            assert [(r.nct_id, r.version_id, r.score) for r in bound] == stored, area


def test_a_list_read_past_its_first_versions_only_when_some_of_them_pass(
        listed: Catalogue, used: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    """The page is read from a list's first ``SIZE`` versions first; when some of them
    pass the filters but too few, from the whole list; when none pass, every match is
    ranked.  The page is the exact one either way."""
    monkeypatch.setattr(champions, "SIZE", 2)  # the lists hold 6
    for text in WORDS:
        for selection in SELECTIONS:
            every = list(iter_hits(listed, text, selection))
            for offset, limit in ((0, 1), (0, 2), (1, 1)):
                results = search(listed, text, selection, limit=limit, offset=offset)
                assert [(h.nct_id, h.version_id, h.score) for h in results.hits] == [
                    (h.nct_id, h.version_id, h.score) for h in every[offset:offset + limit]
                ], (text, selection, offset)
    assert any(used) and not all(used)


def test_searches_the_lists_do_not_answer_rank_every_match(listed: Catalogue,
                                                           used: list[bool]) -> None:
    """As of a date, near a place, field-scoped, a phrase, a prefix of no frequent word,
    OR, a rare word, and a page beyond the list: the ranking of every match, as before."""
    cases = [("cancer", Selection(as_of=date(2025, 6, 1))),
             ("patients", Selection(near="Boston, United States", within_km=500)),
             ("patients", Selection(areas=(("cond", "cancer"),))),
             ('"lung cancer"', Selection()), ("immunoth*", Selection()),
             ("nivolumab OR tigit", Selection()), ("tigit", Selection())]
    for text, selection in cases:
        results = search(listed, text, selection, limit=4)
        assert [(h.nct_id, h.score) for h in results.hits] == [
            (n, s) for n, _, s in _exact(listed, text, selection, 0, 4)]
        assert results.total == len(list(iter_hits(listed, text, selection)))
    assert not any(used)
    far = search(listed, "patients", limit=3, offset=7)  # below a list of 6
    assert [(h.nct_id, h.score) for h in far.hits] == [
        (n, s) for n, _, s in _exact(listed, "patients", Selection(), 7, 3)]
    assert used[-1] is False


def test_several_words_rank_every_match(listed: Catalogue, used: list[bool]) -> None:
    """Several frequent words (all, or any, of them): the union of their lists is no
    answer (a version in none can rank first for them together), so every match is
    ranked."""
    for text in ("patients study", "study treatment", "patients treatment -cancer",
                 "study OR treatment"):
        results = search(listed, text, limit=3)
        assert [(h.nct_id, h.score) for h in results.hits] == [
            (n, s) for n, _, s in _exact(listed, text, Selection(), 0, 3)]
    assert not any(used)


def test_a_word_matching_more_keeps_a_longer_list(tmp_path: Path, used: list[bool]) -> None:
    """A list keeps ``size`` versions, or ``share`` of its word's matches when that is more
    (champions.length): a filter passing few versions still fills its page from the list,
    and the page is the exact one."""
    with empty_catalogue("sqlite", tmp_path) as url:
        assert trials(url, "import", *CORPUS).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            assert champions.build(catalogue.engine, min_docs=3, size=2, share=0.25) > 50
            with catalogue.engine.connect() as conn:
                kept = dict(conn.exec_driver_sql(
                    f"SELECT h.match, count(*) FROM {champions.HEAD} h JOIN {champions.LIST} l "
                    "USING (list_id) GROUP BY h.list_id").all())
                conn.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.v USING "
                                     f"fts5vocab(main, {areas.FTS_TABLE}, row)")
                docs = {}
                for word, n in conn.exec_driver_sql("SELECT term, doc FROM temp.v "
                                                    "ORDER BY doc DESC"):
                    if areas.tokens(str(word)) != [str(word)]:
                        continue  # no query's word is this token ("experiment": "experi")
                    try:  # words of one key ("onli", "on"): the most matched
                        docs.setdefault(champions.key(search_module.parse(str(word))), int(n))
                    except UsageError:  # an operator
                        continue
            words = {m: n for m, n in kept.items() if m in docs}  # the words' box's lists
            assert len(words) > 20
            assert all(n == max(2, int(docs[m] * 0.25)) for m, n in words.items())
            assert sum(n > 2 for n in words.values()) > 20  # longer lists for frequent words
            for text, selection in (("patients", Selection(countries=("United States",))),
                                    ("study", Selection(has_results=True)),
                                    ("patients", Selection(statuses=("COMPLETED",)))):
                results = search(catalogue, text, selection, limit=3)
                assert used[-1] is True, text  # three hits: more than two from the list
                assert [(h.nct_id, h.version_id, h.score) for h in results.hits] == \
                    _exact(catalogue, text, selection, 0, 3)
                assert results.total == len(list(iter_hits(catalogue, text, selection)))
    assert champions.length(300_000) == 15_000 and champions.length(20_000) == champions.SIZE


def test_versions_indexed_since_the_lists_are_ranked_with_them(tmp_path: Path) -> None:
    """After the lists were made, new versions are ranked along with them (scored as the
    ranking of every match scores them now; the lists keep the scores they were made
    with), superseded versions leave them, totals count current versions only; the page
    is exact again once ``champions.refresh`` made the lists for the grown index."""
    snapshots = sorted(p for p in CORPUS if "__vh" in p.name)
    with empty_catalogue("sqlite", tmp_path) as url:
        first = [p for p in CORPUS if p not in snapshots]
        assert trials(url, "import", *first, snapshots[0]).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            assert champions.build(catalogue.engine, min_docs=3, size=4) > 20
            with catalogue.engine.connect() as conn:
                assert champions.stale(conn) is False
        assert trials(url, "import", *snapshots[1:]).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            with catalogue.engine.connect() as conn:
                past = set(conn.exec_driver_sql(
                    f"SELECT version_id FROM {areas.PAST_TABLE}").scalars())
                current = set(conn.exec_driver_sql(
                    "SELECT current_version_id FROM trial").scalars())
                indexed = set(conn.exec_driver_sql(
                    f"SELECT id FROM {areas.FTS_TABLE}_docsize").scalars())
                assert past and past == indexed - current
                new = conn.exec_driver_sql("SELECT max(up_to) FROM "
                                           f"{champions.HEAD}").scalar_one()
            words = ("patients", "study", "study -placebo", "covid")
            for text in words:
                every = {(h.nct_id, h.version_id): h.score for h in iter_hits(catalogue, text)}
                results = search(catalogue, text, limit=3)
                assert results.total == len(every)
                assert all((h.nct_id, h.version_id) in every for h in results.hits)
                assert all(every[(h.nct_id, h.version_id)] == h.score
                           for h in results.hits if h.version_id > new)  # ranked now
            hits = search(catalogue, "patients", limit=3).hits
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
            with catalogue.engine.begin() as conn:  # what a rebuild makes
                areas.fill_past(conn)
                assert set(conn.exec_driver_sql(
                    f"SELECT version_id FROM {areas.PAST_TABLE}").scalars()) == past
            with catalogue.engine.connect() as conn:
                assert champions.stale(conn) is True  # the index grew by more than 5%
            monkey = pytest.MonkeyPatch()
            monkey.setattr(champions, "MIN_DOCS", 3)
            monkey.setattr(champions, "SIZE", 4)
            try:
                assert champions.refresh(catalogue.engine) is not None
            finally:
                monkey.undo()
            assert champions.refresh(catalogue.engine) is None
            for text in words:
                for offset, limit in PAGES:
                    results = search(catalogue, text, limit=limit, offset=offset)
                    assert [(h.nct_id, h.score) for h in results.hits] == [
                        (n, s) for n, _, s in _exact(catalogue, text, Selection(), offset,
                                                     limit)]


@pytest.fixture(scope="module")
def listed_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalogue]:
    """The corpus on PostgreSQL with lists of 6 versions for each word matching 10 or
    more, as ``listed`` on SQLite (skipped without PostgreSQL)."""
    with empty_catalogue("postgresql", tmp_path_factory.mktemp("pg")) as url:
        assert trials(url, "import", *CORPUS).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
            assert champions.build(catalogue.engine, min_docs=10, size=6) > 50
            yield catalogue


def test_postgresql_reads_one_word_s_page_from_its_list_exactly(listed_pg: Catalogue,
                                                                used: list[bool]) -> None:
    """On PostgreSQL too, a page of one frequent word (exclusions, filters, offsets; in
    the words' box or one field-scoped area) is read from its list, ranked by
    ``ts_rank`` as the ranking of every match ranks it: hits, order, scores, total."""
    cases = [(text, selection) for text in WORDS for selection in SELECTIONS[::2]] + [
        (None, replace(selection, areas=((area, text),)))
        for area, text in AREA_WORDS for selection in SELECTIONS[:2]]
    for text, selection in cases:
        every = list(iter_hits(listed_pg, text, selection))
        for offset, limit in PAGES[:3]:
            results = search(listed_pg, text, selection, limit=limit, offset=offset)
            assert [(h.nct_id, h.version_id, h.score) for h in results.hits] == [
                (h.nct_id, h.version_id, h.score) for h in every[offset:offset + limit]
            ], (text, selection, offset)
            assert results.total == len(every)
    assert sum(used) > 40 and not all(used)


def test_postgresql_walks_a_list_in_order_and_stops_when_the_page_is_full(
        listed_pg: Catalogue) -> None:
    """A list read for a page (with filters, as of a date, exclusions) walks the list's
    primary key in place order and stops: no sort of the whole list, no bitmap of it —
    and the rows are those the planner's own plan gives."""
    cases = [("patients", Selection()), ("patients", Selection(statuses=("COMPLETED",))),
             ("study", Selection(countries=("United States",))),
             ("patients -cancer", Selection(has_results=True)),
             ("study", Selection(as_of=date(2024, 1, 1)))]
    with listed_pg.engine.connect() as conn:
        for text, selection in cases:
            query = search_module.parse(text)
            wanted = champions.key(query)
            head = champions.head(conn, wanted) if wanted is not None else None
            assert head is not None, text
            stmt = champions.listed(head, query, selection, dialect="postgresql").limit(3)
            mine = conn.execute(stmt).all()
            with champions.in_list_order(conn):
                plan = "\n".join(conn.execute(sa.text("EXPLAIN " + str(stmt.compile(
                    conn, compile_kwargs={"literal_binds": True})))).scalars())
                assert conn.execute(stmt).all() == mine, (text, selection)
            assert "Sort" not in plan and "Bitmap" not in plan, plan
            assert f"Index Scan using {champions.LIST}_pkey" in plan, plan
        # and back as they were
        assert conn.exec_driver_sql("SHOW enable_sort").scalar() == "on"


def test_postgresql_lists_the_words_sqlite_lists(listed: Catalogue,
                                                 listed_pg: Catalogue) -> None:
    """Both databases keep lists for the same words in the same areas (PostgreSQL counts
    every version of an index no larger than its sample), each list that word's own
    ranking on its database (the floor: the last listed score)."""
    def heads(catalogue: Catalogue) -> dict[str, int]:
        with catalogue.engine.connect() as conn:
            return {str(m): int(n) for m, n in conn.execute(sa.text(
                f"SELECT h.match, count(*) FROM {champions.HEAD} h JOIN {champions.LIST} l "
                f"ON l.list_id = h.list_id GROUP BY h.match"))}

    mine, theirs = heads(listed), heads(listed_pg)
    assert len(theirs) > 50 and set(theirs) == set(mine)
    assert set(theirs.values()) == {6}
    with listed_pg.engine.connect() as conn:
        for text in ("patients", "cancer"):
            found = champions.key(search_module.parse(text))
            assert found is not None
            head = champions.head(conn, found)
            assert head is not None
            assert head.floor == _exact(listed_pg, text, Selection(), 5, 1)[0][2]


def test_the_lists_count_as_the_ranking_of_one_word(listed: Catalogue) -> None:
    """A list holds the first versions of its word's ranking, its floor the last's score."""
    with listed.engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT h.match, h.floor, count(*) FROM {champions.HEAD} h "
                                    f"JOIN {champions.LIST} l USING (list_id) "
                                    "GROUP BY h.list_id")).all()
    assert rows and all(n == 6 for _, _, n in rows)
    key = champions.key(search_module.parse("patients"))
    assert key is not None and key == champions.key(search_module.parse("Patients -cancer"))
    floor = next(f for m, f, _ in rows if m == key)
    assert _exact(listed, "patients", Selection(), 5, 1)[0][2] == floor


def test_a_list_counts_its_word_s_current_matches(listed: Catalogue,
                                                  listed_pg: Catalogue) -> None:
    """Each list keeps the number of current versions matching its word when it was made:
    the total of that word's search alone (no filter, no exclusion), on both databases."""
    for catalogue in (listed, listed_pg):
        with catalogue.engine.connect() as conn:
            for text, area in (("patients", "term"), ("immun*", "term"), ("cancer", "cond")):
                found = champions.key(search_module.parse(text), area)
                assert found is not None
                head = champions.head(conn, found)
                assert head is not None and head.matches is not None, (text, area)
                selection = Selection(areas=((area, text),)) if area != "term" else Selection()
                every = list(iter_hits(catalogue, None if area != "term" else text, selection))
                assert head.matches == len(every) > 6, (text, area)


def test_each_word_bound_into_one_compiled_ranking_lists_what_its_own_statement_ranks(
        listed: Catalogue) -> None:
    """`build` binds each word into one compiled statement (champions.OneWord) instead of
    building the word's own: every list is that statement's ranking, place for place."""
    from harvester.find.search import _ranked

    with listed.engine.connect() as conn:
        ranking = champions.OneWord(conn, 6)
        assert ranking.sql is not None  # the compiled path is the one taken
        lists: dict[str, list[tuple[str, int, float]]] = {}
        for match, nct, version, score in conn.exec_driver_sql(
                f"SELECT h.match, l.nct_id, l.version_id, l.score FROM {champions.HEAD} h "
                f"JOIN {champions.LIST} l USING (list_id) ORDER BY h.match, l.place"):
            lists.setdefault(match, []).append((nct, version, score))
        conn.exec_driver_sql(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{areas.FTS_TABLE}_v "
                             f"USING fts5vocab(main, {areas.FTS_TABLE}, row)")
        words = [str(w) for w, in conn.exec_driver_sql(
            f"SELECT term FROM temp.{areas.FTS_TABLE}_v WHERE doc >= 3 ORDER BY term")]
        keyed = {champions.key(search_module.parse(w)): w for w in words
                 if w.isalpha() and w not in ("and", "or", "not")}
        listed_words = sorted(keyed[m] for m in lists if m in keyed)
        assert len(lists) > 50 and len(listed_words) > 50
        for word in listed_words[::7]:  # a seventh of them, each built as a search builds it
            query = search_module.parse(word)
            match = champions.key(query)
            assert match is not None
            stmt, _ = _ranked(conn, query, Selection())
            own = conn.execute(stmt.order_by(sa.desc("score"), sa.asc("nct_id")).limit(6))
            assert [(r.nct_id, r.version_id, r.score) for r in own] == lists[match], word
            bound = ranking.rows(conn, query)
            assert bound is not None
            assert [(r.nct_id, r.version_id, r.score) for r in bound] == lists[match], word


def test_postgresql_builds_lists_from_one_snapshot_while_catch_ups_go_on(
        tmp_path: Path) -> None:
    """On PostgreSQL a group of the build reads the index as one snapshot (REPEATABLE
    READ) instead of locking it: a catch-up indexes new versions beside it without
    waiting, and the group still sees the index — and notes the ``up_to`` — it ranks
    from."""
    snapshots = sorted(p for p in CORPUS if "__vh" in p.name)
    with empty_catalogue("postgresql", tmp_path) as url:
        assert trials(url, "import", *[p for p in CORPUS if p not in snapshots]).exit_code == 0
        with Catalogue.open(url) as catalogue:
            areas.catch_up(catalogue.engine)
        assert trials(url, "import", *snapshots).exit_code == 0
        with Catalogue.open(url) as catalogue:
            engine = catalogue.engine
            beside = make_engine(url)  # a catch-up that fails rather than waits for a lock
            sa.event.listen(beside, "connect", _lock_timeout)
            with champions._group(engine) as conn:
                seen = areas.indexed_up_to(conn)
                assert areas.catch_up(beside) > 0  # beside the open group, not after it
                assert areas.indexed_up_to(conn) == seen  # the group's own snapshot
            beside.dispose()
            with engine.connect() as conn:
                assert areas.indexed_up_to(conn) > seen


def _lock_timeout(dbapi_conn: Any, _record: Any) -> None:
    """A session waiting 2 s at most for a lock (committed: kept past the first
    transaction)."""
    dbapi_conn.cursor().execute("SET lock_timeout = '2s'")
    dbapi_conn.commit()
