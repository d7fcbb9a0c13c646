"""``harvester.find.comparison``: real trials of the corpus lined up field by field.

Expectations are read from the fixture files themselves (the raw API JSON, the legacy XML's
elements) wherever the value is there to read; the few constructed records are copies of real
ones with one thing changed (another NCT id, a list reordered, a pipe in the title) to show
what the comparison must ignore or escape.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from harvester.errors import UsageError
from harvester.find.comparison import (
    Comparison,
    Row,
    compare,
    criterion_key,
    md_escape,
    to_csv,
    to_markdown,
)
from harvester.records import TrialRecord
from parsers import parse_bytes
from tests.conftest import FIXTURES

STUDIES = FIXTURES / "ctgov-v2-json/studies"
XML = FIXTURES / "ctgov-xml"


def path_of(nct_id: str) -> Path:
    [path] = [*STUDIES.glob(f"{nct_id}__*.json"), *XML.glob(f"{nct_id}__*.xml")]
    return path


def record(nct_id: str) -> TrialRecord:
    [parsed] = parse_bytes(path_of(nct_id).read_bytes())
    return parsed


def study(nct_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path_of(nct_id).read_bytes())["protocolSection"]
    return data


def xml_text(nct_id: str, xpath: str) -> list[str]:
    tree = etree.parse(str(path_of(nct_id)), etree.XMLParser(resolve_entities=False))
    return [" ".join(e.text.split()) for e in tree.xpath(xpath)]


def row(comparison: Comparison, field: str) -> Row:
    [found] = [r for r in comparison.rows if r.field == field]
    return found


# Three lung-cancer trials: two nivolumab trials of Bristol-Myers Squibb in the legacy XML
# (CheckMate 017 in squamous NSCLC, CheckMate 331 in small-cell lung cancer) and
# AstraZeneca's rilvegostomig trial in squamous NSCLC from API v2 JSON.
LUNG = ("NCT01642004", "NCT02481830", "NCT06692738")


@pytest.fixture(scope="module")
def lung() -> Comparison:
    return compare([record(n) for n in LUNG])


def test_columns_are_the_trials_in_the_order_given(lung: Comparison) -> None:
    assert [t.nct_id for t in lung.trials] == list(LUNG)
    assert lung.trials[1].label == xml_text("NCT02481830", "/clinical_study/acronym")[0]
    assert lung.trials[0].label.startswith("Study of BMS-936558 (Nivolumab)")
    assert len(lung.trials[0].label) <= 40
    assert [name for name, _ in lung.sections()] == [
        "Identity", "Status", "Design", "Enrollment", "Arms & interventions", "Conditions",
        "Outcomes", "Eligibility", "Sites"]


def test_outcomes_rows_show_what_each_trial_measures(lung: Comparison) -> None:
    # the first trial's primary outcomes, read from its XML (<primary_outcome>/<measure>)
    measures = xml_text(LUNG[0], "/clinical_study/primary_outcome/measure")
    frames = xml_text(LUNG[0], "/clinical_study/primary_outcome/time_frame")
    assert measures
    primary = row(lung, "primary outcomes")
    listed = str(primary.values[0]).split("\n")
    assert [v.split(" [")[0] for v in listed] == [" ".join(m.split())
                                                             for m in measures]
    assert listed[0].endswith(f"[{' '.join(frames[0].split())}]")
    assert primary.differs
    # NCT01642004's XML has results: 1 primary and 8 more measures reported
    reported = xml_text(LUNG[0], "/clinical_study/clinical_results/outcome_list/outcome/title")
    assert row(lung, "outcomes with results").values[0] == str(len(reported) or "")


def test_values_come_from_each_record(lung: Comparison) -> None:
    enrolled = [f"{xml_text(n, '/clinical_study/enrollment')[0]} (ACTUAL)" for n in LUNG[:2]]
    design = study("NCT06692738")["designModule"]
    assert row(lung, "enrollment").values == (
        *enrolled, f"{design['enrollmentInfo']['count']} (ESTIMATED)")
    assert row(lung, "enrollment").differs
    sponsors = [*(xml_text(n, "//lead_sponsor/agency")[0] for n in LUNG[:2]),
                study("NCT06692738")["sponsorCollaboratorsModule"]["leadSponsor"]["name"]]
    assert row(lung, "lead sponsor").values == tuple(f"{s} (INDUSTRY)" for s in sponsors)
    masked = design["designInfo"]["maskingInfo"]
    assert row(lung, "masking").values[2] == (f"{masked['masking']} "
                                              f"({', '.join(masked['whoMasked'])})")
    assert row(lung, "collaborators").items == (
        (), (f"{xml_text('NCT02481830', '//collaborator/agency')[0]} (INDUSTRY)",), ())


def test_equal_values_are_not_marked_and_different_ones_are(lung: Comparison) -> None:
    same = {r.field for r in lung.rows if not r.differs}
    # All three are randomised, parallel, phase 3 treatment trials of adults of either sex.
    assert {"study type", "phases", "allocation", "intervention model", "primary purpose",
            "sex", "minimum age", "healthy volunteers"} <= same
    assert row(lung, "phases").values == ("PHASE3",) * 3
    assert {"title", "overall status", "enrollment", "interventions", "conditions",
            "countries", "sites"} <= {r.field for r in lung.rows if r.differs}
    # The two Bristol-Myers Squibb trials share their lead sponsor, not with AstraZeneca's.
    assert not row(compare([record(n) for n in LUNG[:2]]), "lead sponsor").differs


def test_rows_empty_for_every_trial_are_left_out(lung: Comparison) -> None:
    fields = {r.field for r in lung.rows}
    assert not any(xml_text(n, "//why_stopped") for n in LUNG[:2])
    assert "whyStopped" not in study("NCT06692738")["statusModule"]
    assert not fields & {"why stopped", "observational model", "time perspective"}
    assert all(any(r.items) for r in lung.rows)


def test_lists_are_compared_as_sets_and_text_without_case_or_spacing() -> None:
    real = record("NCT06692738")
    assert len(real.conditions) == 1 and len(real.keywords) > 3 and len(real.locations) > 3
    shuffled = real.model_copy(update={
        "nct_id": "NCT99999999", "keywords": real.keywords[::-1],
        "locations": real.locations[::-1], "interventions": real.interventions[::-1],
        "brief_title": "  " + (real.brief_title or "").upper().replace(" ", "   ")})
    comparison = compare([real, shuffled])
    assert row(comparison, "keywords").values[0] != row(comparison, "keywords").values[1]
    assert not [r.field for r in comparison.rows if r.differs]


def test_countries_carry_their_site_counts(lung: Comparison) -> None:
    countries = xml_text("NCT01642004", "//location/facility/address/country")
    top = max(set(countries), key=countries.count)
    first = row(lung, "countries").items[0]
    assert first[0] == f"{top} ({countries.count(top)})"
    assert sum(int(re.sub(r".*\((\d+)\)$", r"\1", c)) for c in first) == len(countries)
    assert row(lung, "sites").values[0] == str(len(countries))


def test_criteria_are_matched_without_case_punctuation_or_list_numbers() -> None:
    # The same inclusion criterion, "18 years or older", written in two legacy XML files:
    # "-  18 years or older" and "2. 18 years or older,".
    a, b = record("NCT01029262"), record("NCT02591810")
    assert "18 years or older" in a.eligibility.inclusion
    assert "18 years or older," in b.eligibility.inclusion
    assert criterion_key("2. 18 Years  or older,") == criterion_key("18 years or older")
    comparison = compare([a, b])
    counts = row(comparison, "inclusion criteria").values
    assert counts == (f"{len(a.eligibility.inclusion)} (1 in every trial)",
                      f"{len(b.eligibility.inclusion)} (1 in every trial)")
    only = row(comparison, "inclusion criteria only here")
    assert only.items == tuple(tuple(c for c in r.eligibility.inclusion
                                     if not c.startswith("18 years or older")) for r in (a, b))
    assert only.differs
    # No exclusion criterion is shared: every one is listed, the counts are bare.
    assert row(comparison, "exclusion criteria").values == (
        str(len(a.eligibility.exclusion)), str(len(b.eligibility.exclusion)))
    assert row(comparison, "exclusion criteria only here").items == (
        a.eligibility.exclusion, b.eligibility.exclusion)


def test_with_three_trials_a_criterion_two_share_is_listed_for_both() -> None:
    renal, basket, anemia = (record(n) for n in ("NCT00554515", "NCT02465060", "NCT01029262"))
    measurable = "Patients must have measurable disease"
    assert f"{measurable}." in renal.eligibility.inclusion
    assert measurable in basket.eligibility.inclusion
    comparison = compare([renal, basket, anemia])
    listed = row(comparison, "inclusion criteria not in all").items
    assert f"{measurable}." in listed[0] and measurable in listed[1]
    assert len(listed[2]) == len(anemia.eligibility.inclusion)
    assert row(comparison, "inclusion criteria").values[0] == str(
        len(renal.eligibility.inclusion))


def test_identical_criteria_leave_no_list_row() -> None:
    real = record("NCT03661047")
    twin = real.model_copy(update={"nct_id": "NCT99999999"})
    comparison = compare([real, twin])
    shared = len(real.eligibility.exclusion)
    assert row(comparison, "exclusion criteria").values == (f"{shared} ({shared} in every "
                                                             "trial)",) * 2
    assert not [r for r in comparison.rows if "only here" in r.field]


def test_fewer_than_two_or_the_same_trial_twice_is_refused() -> None:
    one = record("NCT06692738")
    with pytest.raises(UsageError, match="at least two"):
        compare([one])
    with pytest.raises(UsageError, match="NCT06692738 given more than once"):
        compare([one, record("NCT01642004"), one])


def md_cells(line: str) -> list[str]:
    assert line.startswith("|") and line.endswith("|"), line
    return re.split(r"(?<!\\)\|", line[1:-1])


def test_markdown_is_one_valid_table_with_escaped_values() -> None:
    # Real records with markdown's special characters in their text: a "*" in a criterion
    # (NCT04349592), "<" and "[…]" (NCT01029262), and a constructed title with a pipe.
    covid, anemia = record("NCT04349592"), record("NCT01029262")
    assert any("*" in c for c in covid.eligibility.inclusion + covid.eligibility.exclusion)
    piped = anemia.model_copy(update={"brief_title": "Lenalidomide | placebo"})
    comparison = compare([covid, piped])
    text = to_markdown(comparison)
    lines = text.splitlines()
    assert re.fullmatch(r"\|:-:\|---\|---\|---\|", lines[1])
    assert {len(md_cells(line)) for line in lines} == {4}
    title = next(line for line in lines if md_cells(line)[1].strip() == "title")
    assert md_cells(title)[3].strip() == "Lenalidomide \\| placebo"
    assert md_cells(title)[0].strip() == "≠"
    study_type = next(line for line in lines if md_cells(line)[1].strip() == "study type")
    assert md_cells(study_type)[0].strip() == ""
    assert "\\*" in text and "ACTIVE_NOT_RECRUITING" in text
    assert "| | **Eligibility** | | |" in lines
    listed = row(comparison, "interventions").items[1]
    assert "<br>".join(md_escape(i) for i in listed) in text


@pytest.mark.parametrize(("text", "escaped"), [
    ("a | b", "a \\| b"), ("ACTIVE_NOT_RECRUITING", "ACTIVE_NOT_RECRUITING"),
    ("_emphasis_", "\\_emphasis\\_"), ("**bold**", "\\*\\*bold\\*\\*"),
    ("bilirubin <ULN", "bilirubin &lt;ULN"), ("age < 18", "age < 18"),
    ("Ibuprofen [Advil]", "Ibuprofen \\[Advil\\]"), ("line\nbreak", "line break"),
    ("AT&T &amp;", "AT&T &amp;amp;"), ("C:\\path", "C:\\\\path")])
def test_markdown_escapes(text: str, escaped: str) -> None:
    assert md_escape(text) == escaped


def test_csv_reads_back_with_every_value(lung: Comparison) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(lung))))
    assert len(rows) == len(lung.rows)
    for written, original in zip(rows, lung.rows, strict=True):
        assert (written["section"], written["field"]) == (original.section, original.field)
        assert written["differs"] == ("true" if original.differs else "false")
        assert tuple(written[n] for n in LUNG) == original.values
    countries = next(r for r in rows if r["field"] == "countries")
    assert len(countries["NCT06692738"].splitlines()) == len(row(lung, "countries").items[2])


def test_json_rows_give_lists_as_items_and_missing_values_as_null(lung: Comparison) -> None:
    data = json.loads(json.dumps([r.to_json() for r in lung.rows]))
    acronym = next(r for r in data if r["field"] == "acronym")
    assert acronym == {"section": "Identity", "field": "acronym",
                       "values": [None, "CheckMate331", None], "differs": True}
    countries = next(r for r in data if r["field"] == "countries")
    assert countries["items"][2] == list(row(lung, "countries").items[2])
    assert len(countries["items"][2]) > 8  # complete, unlike the terminal table


def test_only_differences_keeps_the_marked_rows(lung: Comparison) -> None:
    only = lung.only_differences()
    assert only.rows == tuple(r for r in lung.rows if r.differs)
    assert 0 < len(only.rows) < len(lung.rows)
