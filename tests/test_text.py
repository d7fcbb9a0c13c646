"""Free text is plain text, by one rule for every source (parsers/_text.py)."""

from __future__ import annotations

from parsers._text import plain


def test_markdown_escapes_are_removed() -> None:
    # as API v2 writes them (NCT02552212's outcome description, a criteria line)
    assert plain("a reduction \\>= 2.0 in ASDAS") == "a reduction >= 2.0 in ASDAS"
    assert plain("HbA1c \\<5 \\& eGFR \\[mL\\]") == "HbA1c <5 & eGFR [mL]"
    assert plain("C:\\\\path") == "C:\\path"
    assert plain("a \\d b") == "a \\d b"  # not an escape: a letter follows


def test_line_ends_paragraphs_and_bullets() -> None:
    assert plain("one\r\ntwo\rthree") == "one\n\ntwo\n\nthree"
    assert plain("  first  \n\n\n\n  second \n") == "first\n\n  second"  # indents kept
    assert plain("procedures:\n\n* Blood tests\n* Skin tests") == \
        "procedures:\n\n- Blood tests\n\n- Skin tests"
    assert plain("procedures:\n\n  -  Blood tests\n\n  -  Skin tests") == \
        "procedures:\n\n  - Blood tests\n\n  - Skin tests"


def test_criteria_keep_their_lines() -> None:
    text = "Inclusion Criteria:\r\n\r\n\r\n* over 18\r\n  * nested\r\n* wrapped\r\n  line  "
    assert plain(text, lines=True) == \
        "Inclusion Criteria:\n\n* over 18\n  * nested\n* wrapped\n  line"


def test_empty_and_clean_text() -> None:
    assert plain(None) is None
    assert plain("") is None
    assert plain(" \n \r\n ") is None
    assert plain("Fabry Disease") == "Fabry Disease"
    assert plain("2 * 3 - 1") == "2 * 3 - 1"  # only a line's first mark is a bullet
