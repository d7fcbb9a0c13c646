"""The search query language: parsing, and what FTS5 is given (harvester/find/search_query.py)."""

from __future__ import annotations

import random
import sqlite3

import pytest

from harvester.catalogue import fulltext
from harvester.errors import UsageError
from harvester.find.search_query import All, Any_, Not, Term, parse


def _fts5_accepts(match: str) -> None:
    """Run the expression against a real FTS5 table: a syntax error raises."""
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5(a, b, tokenize='{fulltext.TOKENIZE}')")
    db.execute("INSERT INTO t VALUES ('title: the c++ (IL-2) trial', 'NEAR other')")
    db.execute("SELECT rowid FROM t WHERE t MATCH ?", (match,)).fetchall()


def test_plain_words_all_must_match() -> None:
    query = parse("tigit  Lung")
    assert query.root == All((Term("tigit"), Term("Lung")))
    assert query.fts5() == '("tigit" AND "Lung")'


def test_phrases_prefixes_or_not_and_groups() -> None:
    query = parse('"small cell" immun* (nivolumab OR pembrolizumab) -docetaxel NOT placebo')
    assert query.root == All((Term("small cell"), Term("immun", prefix=True),
                              Any_((Term("nivolumab"), Term("pembrolizumab"))),
                              Not(Term("docetaxel")), Not(Term("placebo"))))
    assert query.fts5() == ('((("small cell" AND "immun"* AND ("nivolumab" OR "pembrolizumab"))'
                            ' NOT "docetaxel") NOT "placebo")')
    _fts5_accepts(query.fts5())


def test_or_binds_tighter_than_and() -> None:
    assert parse("tigit lung OR gastric").root == All(
        (Term("tigit"), Any_((Term("lung"), Term("gastric")))))
    # lower-case "or", "and", "not" are words, as in a search box
    assert parse("salt or pepper").root == All((Term("salt"), Term("or"), Term("pepper")))


@pytest.mark.parametrize("text", [
    "title: tigit", "c++ ^start", "NEAR(a b)", "a:b", "col:*", "x AND", "{a b}", "a + b",
    "IL-2", "'single'", "-(a OR b) c", 'AND "x" AND', "\\", "a* b*",
])
def test_user_syntax_cannot_reach_fts5(text: str) -> None:
    """Column filters, NEAR, ^ and other FTS5 syntax in the user's words are only text."""
    try:
        query = parse(text)
    except UsageError:
        return  # refused with a message is fine too; a crash is not
    _fts5_accepts(query.fts5())


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty query"),
    ("   ", "empty query"),
    ('"lung cancer', "unclosed quote"),
    ('tigit "', "unclosed quote"),
    ("tigit NOT", "NOT must be followed"),
    ("tigit -", "- must be followed"),
    ("OR tigit", "OR needs"),
    ("tigit OR", "OR needs"),
    ("(tigit", "'(' is not closed"),
    ("tigit)", "')' has no '('"),
    ("-tigit", "only excludes"),
    ("NOT tigit -lung", "only excludes"),
    ("tigit OR -lung", "cannot be excluded"),
    ("^ : ()", "no word"),
    ("a " * 70, "more than 64"),
])
def test_bad_queries_get_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_punctuation_only_terms_are_dropped() -> None:
    assert parse("tigit ^ :").root == Term("tigit")
    assert parse("tigit OR ::").root == Term("tigit")


def test_prefix_of_a_hyphenated_word() -> None:
    query = parse("anti-PD*")
    assert query.fts5() == '"anti PD"*'
    _fts5_accepts(query.fts5())


def test_any_typed_text_is_refused_clearly_or_searchable() -> None:
    """Random text over the characters that mean something to FTS5 or to the parser."""
    rng = random.Random(5)
    alphabet = ['"', "(", ")", "*", "-", ":", "^", "+", " ", " ", "OR ", "NOT ", "AND ",
                "NEAR", "title", "a", "b", "é", "'", "\\", "{", "}", ",", "_", "\x00"]
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        try:
            query = parse(text)
        except UsageError as exc:
            assert str(exc).strip()
            continue
        _fts5_accepts(query.fts5())
