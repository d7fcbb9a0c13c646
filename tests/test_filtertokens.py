"""Filter tokens (harvester/catalogue/filtertokens.py): a search's equality filters matched
as words of the area index (SQLite's column of tokens, PostgreSQL's untagged lexemes) pick
exactly what the selection's SQL picks, on the corpus, and leave the ranking as it is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta

import pytest

from harvester.catalogue import Catalogue, filtertokens
from harvester.catalogue.selection import Selection
from harvester.find.search import search
from tests import corpusdb
from tests.test_selection import picked

corpus_url = corpusdb.corpus_url  # the shared corpus catalogue (a session fixture)


@pytest.fixture
def catalogue(corpus_url: str) -> Iterator[Catalogue]:
    with Catalogue.open(corpus_url) as opened:
        yield opened


#: Each filter the tokens answer, alone, with alternatives, together and beside filters
#: they do not answer (dates, ages, as of a day).
SELECTIONS = [
    Selection(statuses=("RECRUITING",)), Selection(statuses=("COMPLETED", "TERMINATED")),
    Selection(phases=("PHASE2",)), Selection(phases=("PHASE1", "PHASE3")),
    Selection(phases=("NA",)), Selection(study_types=("OBSERVATIONAL",)),
    Selection(has_results=True), Selection(has_results=False),
    Selection(funders=("INDUSTRY",)), Selection(funders=("NIH", "OTHER")),
    Selection(sex="FEMALE"), Selection(sex="MALE"),
    Selection(healthy_volunteers=True), Selection(healthy_volunteers=False),
    Selection(documents=("protocol",)), Selection(documents=("protocol", "sap")),
    Selection(statuses=("COMPLETED",), has_results=True, phases=("PHASE3",)),
    Selection(phases=("PHASE2",), start_after=date(2010, 1, 1)),
    Selection(sex="FEMALE", age=70, funders=("OTHER",)),
    Selection(statuses=("COMPLETED",), as_of=date(2024, 6, 1)),
    Selection(start_after=date(2010, 1, 1), start_before=date(2019, 12, 31)),
    Selection(start_after=date(2015, 6, 1)), Selection(start_before=date(2012, 2, 29)),
    Selection(start_after=date(2008, 3, 1), start_before=date(2021, 5, 17)),
    Selection(completion_before=date(2019, 12, 31), documents=("protocol",)),
    Selection(primary_completion_after=date(2018, 1, 1),
              primary_completion_before=date(2023, 9, 30)),
    Selection(first_posted_after=date(2016, 4, 1), statuses=("COMPLETED",)),
    Selection(countries=("France",)), Selection(countries=("USA", "canada")),
    Selection(countries=("United States",), statuses=("RECRUITING",), states=("CA",)),
]
WORDS = ("patients", "cancer", "study -placebo")


@pytest.mark.parametrize("selection", SELECTIONS, ids=[str(s.describe()) for s in SELECTIONS])
def test_a_search_picks_what_the_selection_s_sql_picks(catalogue: Catalogue,
                                                        selection: Selection) -> None:
    narrowed = 0
    for word in WORDS:
        found = search(catalogue, word, selection, limit=1000)  # (the index caught up)
        # The same filters as SQL tests them, beside a field-scoped search of the word.
        expected = picked(catalogue, replace(selection, areas=(("term", word),)))
        every = picked(catalogue, Selection(areas=(("term", word),), as_of=selection.as_of))
        assert found.total == len(expected)
        assert {h.nct_id: h.version_id for h in found.hits} == expected
        narrowed += 0 < len(expected) < len(every)
        # Weight 0: the filtered ranking is the unfiltered one, filtered.
        alone = search(catalogue, word, Selection(as_of=selection.as_of), limit=1000)
        assert [(h.nct_id, h.score) for h in found.hits] == [
            (h.nct_id, h.score) for h in alone.hits if h.nct_id in expected]
    assert narrowed  # the filter narrows some word's matches, on real data


def _month_bounds(value: str) -> tuple[date, date, date]:
    """The first day of a stored date's month, the last day of the month before, the last
    day of its own month."""
    first = date(int(value[:4]), int(value[5:7]) if len(value) >= 7 else 1, 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, first - timedelta(days=1), following - timedelta(days=1)


def test_ranges_bounded_at_the_stored_dates_months(catalogue: Catalogue) -> None:
    """Ranges whose bounds are the months of the dates the matches hold (their first day,
    the day before, their last day; Decembers and Januaries among them): exactly what SQL
    picks, so each date's tokens are its own month's."""
    word = "patients"
    matched = search(catalogue, word, limit=1000).hits
    with catalogue.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT v.start_date, f.completion FROM version AS v JOIN version_facet AS f "
            f"ON f.version_id = v.id WHERE v.id IN ({','.join(str(h.version_id) for h in matched)})"
        ).all()
    starts = sorted({s for s, _ in stored if s})
    ends = sorted({c for _, c in stored if c})
    assert len(starts) > 20 and len(ends) > 20
    assert any(s[5:7] in ("01", "12") for s in starts)
    selections = []
    for value in starts[::2]:
        first, before, last = _month_bounds(value)
        selections += [Selection(start_after=first), Selection(start_before=before),
                       Selection(start_after=first, start_before=last)]
    for value in ends[::3]:
        first, before, last = _month_bounds(value)
        selections += [Selection(completion_after=first),
                       Selection(completion_before=before)]
    for selection in selections:
        expected = picked(catalogue, replace(selection, areas=(("term", word),)))
        found = search(catalogue, word, selection, limit=1000)
        assert (found.total, {h.nct_id: h.version_id for h in found.hits}) == (
            len(expected), expected), selection


def test_an_empty_range_of_months_matches_nothing(catalogue: Catalogue) -> None:
    empty = Selection(completion_after=date(2030, 1, 1), completion_before=date(2020, 1, 31))
    assert search(catalogue, "patients", empty).total == 0
    assert search(catalogue, "patients").total > 0
    assert filtertokens.split(empty) == ('filters : ("_none")', Selection())


def test_a_filter_the_tokens_do_not_answer_stays_sql() -> None:
    plain = Selection(start_after=date(2010, 1, 2), age=40, states=("CA",))
    assert filtertokens.split(plain) == (None, plain)
    match, rest = filtertokens.split(replace(plain, phases=("PHASE2",), sex="MALE",
                                             documents=("sap",), countries=("USA", "Peru")))
    assert rest == plain
    assert match == ('filters : ("_ph_phase2") AND filters : ("_sx_male" OR "_sx_all" OR '
                     '"_sx_none") AND filters : ("_do_sap") AND filters : ("_co_70657275" '
                     'OR "_co_756e6974656420737461746573")')  # peru, united states
    # PostgreSQL's: the same tokens, as a tsquery of untagged lexemes.
    assert filtertokens.split_tsquery(replace(plain, phases=("PHASE2",), sex="MALE")) == (
        "('_ph_phase2') & ('_sx_male' | '_sx_all' | '_sx_none')", plain)
    assert filtertokens.split_tsquery(plain) == (None, plain)


def test_a_version_s_tokens_are_its_stored_values() -> None:
    assert filtertokens.tokens(
        "NOT_YET_RECRUITING", "PHASE1|PHASE2", "INTERVENTIONAL", False,
        ("INDUSTRY", None, True, "|protocol|icf|", "2021", "2020-11", None),
        "2024-03-05", "2019-07-14").split() == [
        "_ey_2024", "_em_2024_03", "_sc_20", "_sd_201", "_sy_2019", "_sm_2019_07",
        "_st_not_yet_recruiting", "_ph_phase1", "_ph_phase2", "_ty_interventional",
        "_rs_no", "_fu_industry", "_sx_none", "_hv_yes", "_do_protocol", "_do_icf",
        "_cc_20", "_cd_202", "_cy_2021", "_cm_2021_01",  # a partial date: its first day
        "_pc_20", "_pd_202", "_py_2020", "_pm_2020_11"]
    assert filtertokens.tokens(None, None, None, None, None,
                               countries=["côte d'ivoire", "france", "france"]) == (
        "_co_63c3b4746520642769766f697265 _co_6672616e6365")
    # No facet row: none of its tokens (the SQL tests of those filters need the row).
    assert filtertokens.tokens(None, None, None, None, None) == ""


def test_a_range_of_whole_months_is_the_fewest_tokens() -> None:
    match, rest = filtertokens.split(Selection(start_after=date(1998, 11, 1),
                                               start_before=date(2021, 2, 28)))
    assert rest == Selection()
    assert match == ('filters : ("_sm_1998_11" OR "_sm_1998_12" OR "_sy_1999" OR '
                     '"_sd_200" OR "_sd_201" OR "_sy_2020" OR "_sm_2021_01" OR '
                     '"_sm_2021_02")')
    # Open on one side: up to the year 2999; a bound inside a month stays SQL's.
    match, rest = filtertokens.split(Selection(completion_after=date(2015, 1, 1),
                                               completion_before=date(2020, 6, 15)))
    assert rest == Selection(completion_before=date(2020, 6, 15))
    assert match is not None and match.startswith(
        'filters : ("_cy_2015" OR "_cy_2016" OR "_cy_2017" OR "_cy_2018" OR "_cy_2019" '
        'OR "_cd_202" OR "_cd_203"')
    assert match.endswith('"_cc_28" OR "_cc_29")')
    # --updated-since compares whole dates: SQL.
    plain = Selection(updated_since=date(2020, 1, 1))
    assert filtertokens.split(plain) == (None, plain)


def test_no_query_word_is_a_filter_token(catalogue: Catalogue) -> None:
    """The tokens are the filters column's only words and it holds nothing else; a query's
    words are runs of letters and digits, which never start with `_`; the frequent words
    (the champion lists') leave them out."""
    from harvester.catalogue import areas
    from harvester.find import frequent

    assert areas.tokens("_rs_yes _st_completed") == ["rs", "yes", "st", "complet"]
    with catalogue.engine.connect() as conn:
        if catalogue.engine.dialect.name == "sqlite":
            conn.exec_driver_sql(f"CREATE VIRTUAL TABLE temp.vocab_col USING "
                                 f"fts5vocab(main, {areas.FTS_TABLE}, col)")
            found = conn.exec_driver_sql("SELECT term, col FROM temp.vocab_col").all()
        else:  # untagged lexemes are the tokens; a word's lexeme is `tag:word`
            found = [(lexeme.split(":", 1)[-1], filtertokens.COLUMN if ":" not in lexeme
                      else lexeme.split(":", 1)[0]) for lexeme in conn.exec_driver_sql(
                f"SELECT DISTINCT x.lexeme FROM {areas.PG_TABLE}, unnest(document) AS x"
            ).scalars()]
        words = frequent.words(conn, 1)
    tokens = {term for term, col in found if col == filtertokens.COLUMN}
    assert {"_st_completed", "_ph_phase2", "_rs_yes", "_sx_all", "_do_protocol"} <= tokens
    assert all(term.startswith("_") for term in tokens)
    assert not any(term.startswith("_") for term, col in found if col != filtertokens.COLUMN)
    assert words and not any(word.startswith("_") for _, word, _ in words)
