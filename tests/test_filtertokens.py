"""Filter tokens (harvester/catalogue/filtertokens.py): a search's equality filters matched
as words of the area index on SQLite pick exactly what the selection's SQL picks, on the
corpus, and leave the ranking as it is; PostgreSQL (SQL filters) agrees."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date

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


def test_a_filter_the_tokens_do_not_answer_stays_sql() -> None:
    plain = Selection(start_after=date(2010, 1, 1), age=40, countries=("France",))
    assert filtertokens.split(plain) == (None, plain)
    match, rest = filtertokens.split(replace(plain, phases=("PHASE2",), sex="MALE",
                                             documents=("sap",)))
    assert rest == plain
    assert match == ('filters : ("_ph_phase2") AND filters : ("_sx_male" OR "_sx_all" OR '
                     '"_sx_none") AND filters : ("_do_sap")')


def test_a_version_s_tokens_are_its_stored_values() -> None:
    assert filtertokens.tokens("NOT_YET_RECRUITING", "PHASE1|PHASE2", "INTERVENTIONAL",
                               False, ("INDUSTRY", None, True, "|protocol|icf|")).split() == [
        "_st_not_yet_recruiting", "_ph_phase1", "_ph_phase2", "_ty_interventional",
        "_rs_no", "_fu_industry", "_sx_none", "_hv_yes", "_do_protocol", "_do_icf"]
    # No facet row: none of its tokens (the SQL tests of those filters need the row).
    assert filtertokens.tokens(None, None, None, None, None) == ""


def test_no_query_word_is_a_filter_token(catalogue: Catalogue) -> None:
    """The tokens are the filters column's only words and it holds nothing else; a query's
    words are runs of letters and digits, which never start with `_`; the frequent words
    (the champion lists') leave them out."""
    from harvester.catalogue import areas
    from harvester.find import frequent

    assert areas.tokens("_rs_yes _st_completed") == ["rs", "yes", "st", "complet"]
    if catalogue.engine.dialect.name != "sqlite":
        return  # PostgreSQL's index holds no tokens
    with catalogue.engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE VIRTUAL TABLE temp.vocab_col USING "
                             f"fts5vocab(main, {areas.FTS_TABLE}, col)")
        found = conn.exec_driver_sql("SELECT term, col FROM temp.vocab_col").all()
        words = frequent.words(conn, 1)
    tokens = {term for term, col in found if col == filtertokens.COLUMN}
    assert {"_st_completed", "_ph_phase2", "_rs_yes", "_sx_all", "_do_protocol"} <= tokens
    assert all(term.startswith("_") for term in tokens)
    assert not any(term.startswith("_") for term, col in found if col != filtertokens.COLUMN)
    assert words and not any(word.startswith("_") for _, word, _ in words)
