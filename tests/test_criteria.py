"""Eligibility text is split into single criteria in each source's conventions."""

from __future__ import annotations

import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from parsers import _criteria
from parsers._criteria import split_criteria


def test_api_v2_markdown_bullets() -> None:
    text = ("Inclusion Criteria:\n\n* Healthy children\n* Age 5-8 years\n\n"
            "Exclusion Criteria:\n\n* Not ASA I\n* Lack of cooperation\n* Pathology")
    assert split_criteria(text) == (
        ("Healthy children", "Age 5-8 years"),
        ("Not ASA I", "Lack of cooperation", "Pathology"),
    )


def test_numbered_lists_key_headings_and_trailing_note() -> None:
    text = ("Key Inclusion Criteria:\n\n1. Adults\n2. EASI score \\>= 16\n\n"
            "Key Exclusion Criteria:\n\n1. Prior dupilumab\n\n"
            "The information listed above is not intended to contain all considerations.")
    assert split_criteria(text) == (("Adults", "EASI score >= 16"), ("Prior dupilumab",))


def test_nested_items_belong_to_their_parent() -> None:
    text = ("Inclusion Criteria:\n\n* Active disease defined by\n\n  * BASDAI >= 4\n"
            "  * Spinal pain >= 4\n* Inadequate NSAID response\n")
    inclusion, exclusion = split_criteria(text)
    assert inclusion == ("Active disease defined by\n- BASDAI >= 4\n- Spinal pain >= 4",
                         "Inadequate NSAID response")
    assert exclusion == ()


def test_legacy_xml_textblock_with_wrapped_lines() -> None:
    text = textwrap.dedent("""\
        Inclusion Criteria:

          1. Patient is over the age of 21

          2. Patient agrees to participate as a study subject and signs the Informed Consent and
             Research Authorization documents

        Exclusion Criteria:

          -  Patient is under the age of 21
    """)
    assert split_criteria(text) == (
        ("Patient is over the age of 21",
         "Patient agrees to participate as a study subject and signs the Informed Consent and "
         "Research Authorization documents"),
        ("Patient is under the age of 21",),
    )


def test_paragraphs_without_bullets_are_criteria_but_lead_ins_are_not() -> None:
    text = ("Inclusion Criteria\n\nParticipants must meet the following criteria:\n\n"
            "Adenocarcinoma of the colon;\n\nOR\n\nA suspicious colon biopsy.\n\n"
            "Exclusion Criteria:\n\nchildren. on inhaled steroids\n\n\\-")
    assert split_criteria(text) == (
        ("Adenocarcinoma of the colon;", "A suspicious colon biopsy."),
        ("children. on inhaled steroids",),
    )


def test_mirror_page_bullets_and_no_headings() -> None:
    assert split_criteria("  • Women with metastatic breast cancer") == (
        ("Women with metastatic breast cancer",), ())
    assert split_criteria("") == ((), ())
    assert split_criteria(None) == ((), ())


def test_text_before_the_first_heading_is_a_preamble() -> None:
    text = ("For more information regarding BMS clinical trial participation, please visit "
            "www.BMSStudyConnect.com\n\nInclusion Criteria:\n\n- Adults\n\n"
            "Exclusion Criteria:\n\n- Children")
    assert split_criteria(text) == (("Adults",), ("Children",))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(" \t\n\r\x0b\x0c\x85\xa0\u2003\u3000ab*\\."))
       | st.text())
def test_cleaning_a_line_skips_no_whitespace(text: str) -> None:
    # the fast path (a clean text returned as it is) gives what splitting and joining give
    expected = " ".join(_criteria._ESCAPE.sub(r"\1", text).replace("**", "").split())
    assert _criteria._clean(text) == expected
