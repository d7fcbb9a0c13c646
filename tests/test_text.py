"""Free text is plain text, by one rule for every source (parsers/_text.py)."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from parsers._text import plain
from tests.conftest import FIXTURES


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


# The rules as first written (one regex per rule), kept as the reference the faster
# ``plain`` must agree with on any text.
_REF_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_REF_BREAKS = re.compile(r"[ \t]*\n(?:[ \t]*\n)*")
_REF_BLANKS = re.compile(r"[ \t]*\n(?:[ \t]*\n)+")
_REF_LINE_ENDS = re.compile(r"[ \t]+\n")
_REF_BULLET = re.compile(r"^([ \t]*)[*+•-][ \t]+", re.M)


def _reference(text: str, lines: bool) -> str | None:
    if not text:
        return None
    text = _REF_ESCAPE.sub(r"\1", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if "\n" in text:
        if lines:
            return _REF_BLANKS.sub("\n\n", _REF_LINE_ENDS.sub("\n", text)) or None
        text = _REF_BREAKS.sub("\n\n", text)
    return _REF_BULLET.sub(r"\1- ", text) or None


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=" \t\n\r\\*+•-<&ab.1", max_size=40), st.booleans())
def test_plain_agrees_with_the_reference_rules(text: str, lines: bool) -> None:
    assert plain(text, lines=lines) == _reference(text, lines)


def test_plain_agrees_with_the_reference_on_real_texts() -> None:
    texts = []
    for path in sorted((FIXTURES / "ctgov-v2-json" / "studies").glob("*.json")):
        proto = json.loads(path.read_bytes()).get("protocolSection", {})
        texts += [proto.get("eligibilityModule", {}).get("eligibilityCriteria"),
                  proto.get("descriptionModule", {}).get("detailedDescription"),
                  proto.get("descriptionModule", {}).get("briefSummary")]
    texts = [t for t in texts if t]
    assert len(texts) > 50
    for text in texts:
        assert plain(text) == _reference(text, False)
        assert plain(text, lines=True) == _reference(text, True)
