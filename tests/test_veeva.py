"""ClinicalTrials.Veeva study pages (visible text or HTML) → TrialRecord."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from bs4.element import Tag

from harvester import records as r
from harvester.errors import ParseError, UnknownVocabularyWarning
from parsers import veeva

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mirror-veeva"
TEXT = (FIXTURES / "NCT00557986.txt").read_bytes()
HTML = (FIXTURES / "NCT00557986.html").read_bytes()

EXCLUSION = (
    "Women needs breast surgery at the time of initial diagnosis (such as bleeding, necrosis, etc)",
    "who have systemic morbidity that do not allows her to be in the trial,",
    "who have synchronous breast cancer at the contralateral breast,",
    "who have a previous cancer history or another primary cancer history and metastasis at the "
    "past,",
    "who have palpable lymph node/nodes at the contralateral axilla,",
    "who do not agree to participate the trial",
)
INCLUSION = ("Women with metastatic breast cancer at the initial diagnosis",)


def _parse_quietly(data: bytes) -> r.TrialRecord:
    """Parse, failing on any warning: the fixture's vocabulary is all known."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return veeva.parse(data)


@pytest.fixture(scope="module")
def record() -> r.TrialRecord:
    return _parse_quietly(TEXT)


def test_identity(record: r.TrialRecord) -> None:
    assert record.nct_id == "NCT00557986"
    assert record.source == "veeva"
    assert record.org_study_id == "MF07-01"
    assert record.secondary_ids == ()
    assert record.nct_id_aliases == ()
    assert record.brief_title == "Local Surgery for Metastatic Breast Cancer"
    assert record.official_title is None
    assert record.acronym is None
    assert record.lead_sponsor == r.Sponsor(name="Federation of Breast Diseases Societies",
                                            agency_class=r.AgencyClass.OTHER)
    assert record.collaborators == ()


def test_status_and_design(record: r.TrialRecord) -> None:
    assert record.overall_status is r.Status.COMPLETED
    assert record.study_type is r.StudyType.INTERVENTIONAL
    assert record.primary_purpose is r.PrimaryPurpose.TREATMENT
    assert record.allocation is r.DesignAllocation.RANDOMIZED
    assert record.intervention_model is r.InterventionalAssignment.PARALLEL
    assert record.masking is r.DesignMasking.NONE
    assert record.who_masked == ()
    assert record.phases == ()  # not on the page
    assert record.conditions == ("Breast Cancer",)
    assert record.keywords == ()
    # the page says "281 patients", not whether that is actual or estimated
    assert record.enrollment == r.Enrollment(count=281, type=None)


def test_eligibility(record: r.TrialRecord) -> None:
    el = record.eligibility
    assert el.sex is r.Sex.FEMALE
    assert el.healthy_volunteers is False
    assert el.minimum_age is None
    assert el.maximum_age is None
    assert el.std_ages == ()
    assert el.inclusion == INCLUSION
    assert el.exclusion == EXCLUSION
    assert el.criteria == (
        "Inclusion Criteria:\n\n* " + INCLUSION[0] + "\n\nExclusion Criteria:\n\n"
        + "\n".join(f"* {c}" for c in EXCLUSION)
    )


def test_arms_and_interventions(record: r.TrialRecord) -> None:
    assert record.arms == (
        r.Arm(label="A", type=r.ArmGroupType.NO_INTERVENTION,
              description="Standard Systemic Therapy only group (no primary surgery)",
              interventions=()),
        r.Arm(label="B", type=r.ArmGroupType.OTHER, description="Surgery group",
              interventions=("Procedure: Primary surgery",)),
    )
    assert record.interventions == (
        r.Intervention(type=r.InterventionType.PROCEDURE, name="Primary surgery",
                       description=None, arm_labels=("B",)),
    )


def test_texts_locations_dates(record: r.TrialRecord) -> None:
    assert record.brief_summary is not None
    assert record.brief_summary.startswith("Primary treatments for metastatic breast cancer")
    assert record.brief_summary.endswith("will lead to an improvement of overall survival")
    assert "\n" not in record.brief_summary
    assert record.detailed_description is not None
    paragraphs = record.detailed_description.split("\n\n")
    assert len(paragraphs) == 2
    assert paragraphs[0].startswith("This is a randomised, controled clinical trial.")
    assert paragraphs[1].endswith("patients will be seen in every 6 months.")
    assert record.location_count == 7
    assert record.locations == ()
    # the page shows the sponsor's conditions and treatments, no MeSH headings
    assert record.condition_mesh == record.intervention_mesh == ()
    assert record.has_results is False
    dates = {name: value for name, value in record.model_dump().items()
             if "date" in name or name.endswith(("_submitted", "_posted", "_holder"))}
    assert dates and all(value is None for value in dates.values())
    assert record.why_stopped is None
    assert record.last_known_status is None


def test_html_gives_the_same_record(record: r.TrialRecord) -> None:
    assert _parse_quietly(HTML) == record


def _restyle(html: bytes) -> bytes:
    """The same page after a redesign: new class names, different block tags, extra wrappers."""
    soup = BeautifulSoup(html, "lxml")
    for i, tag in enumerate(soup.find_all(True)):
        if isinstance(tag, Tag) and tag.has_attr("class"):
            tag["class"] = f"x{i:03d} zz-restyled"
    for tag in soup.find_all("div"):
        if isinstance(tag, Tag):
            tag.name = "article"
    for tag in soup.find_all(["h2", "h3", "ul", "dd"]):
        if isinstance(tag, Tag):
            tag.wrap(soup.new_tag("div", attrs={"class": "wrapper-9f"}))
    for tag in soup.find_all("p"):
        if isinstance(tag, Tag):
            tag.name = "section"
    return str(soup).encode()


def _classes(html: bytes) -> set[str]:
    return {c for tag in BeautifulSoup(html, "lxml").find_all(class_=True)
            if isinstance(tag, Tag) for c in tag.get_attribute_list("class")}


def test_restyled_html_gives_the_same_record(record: r.TrialRecord) -> None:
    restyled = _restyle(HTML)
    assert not _classes(HTML) & _classes(restyled)
    assert not re.search(rb"<p[\s>]", restyled)
    assert _parse_quietly(restyled) == record


def test_pretty_printed_and_reencoded_html(record: r.TrialRecord) -> None:
    soup = BeautifulSoup(HTML, "lxml")
    assert _parse_quietly(soup.prettify().encode()) == record


def test_windows_line_endings_and_bom(record: r.TrialRecord) -> None:
    data = b"\xef\xbb\xbf" + TEXT.replace(b"\n", b"\r\n")
    assert _parse_quietly(data) == record


def test_looks_like_veeva() -> None:
    assert veeva.looks_like_veeva(TEXT)
    assert veeva.looks_like_veeva(HTML)
    assert veeva.looks_like_veeva(_restyle(HTML))


@pytest.mark.parametrize("data", [
    b'{"protocolSection": {"identificationModule": {"nctId": "NCT00557986", '
    b'"briefTitle": "Local Surgery for Metastatic Breast Cancer"}}}',
    # JSON that happens to quote the mirror's name is still JSON
    b'[{"protocolSection": {"descriptionModule": {"briefSummary": '
    b'"See ClinicalTrials.Veeva Identifiers"}}}]',
    b'<?xml version="1.0" encoding="UTF-8"?>\n<clinical_study rank="1"><id_info>'
    b"<org_study_id>MF07-01</org_study_id><nct_id>NCT00557986</nct_id></id_info>"
    b"<brief_title>Local Surgery for Metastatic Breast Cancer</brief_title></clinical_study>",
    b"",
    b"Identifiers\nNCT00557986\n",
])
def test_does_not_look_like_veeva(data: bytes) -> None:
    assert not veeva.looks_like_veeva(data)


def _without_nct_id(data: bytes) -> bytes:
    return re.sub(rb"NCT00557986\s*", b"", data)


@pytest.mark.parametrize(("data", "field"), [
    (b"", "identifiers"),
    (b"   \n\n  ", "identifiers"),
    (b"The quick brown fox jumps over the lazy dog.\nStatus\nfine, thanks\n", "identifiers"),
    (_without_nct_id(TEXT), "nct_id"),
    (_without_nct_id(HTML), "nct_id"),
    (TEXT.replace(b"NCT00557986", b"NCT-557986"), "nct_id"),
    (bytes(range(256)) * 16, None),
    (b"<" + bytes(range(255, -1, -1)) * 16, "identifiers"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", None),
    (b'{"protocolSection": {"identificationModule": {"nctId": "NCT00557986"}}}',
     "identifiers"),
])
def test_bad_input_raises_parse_error(data: bytes, field: str | None) -> None:
    with pytest.raises(ParseError) as info:
        veeva.parse(data)
    assert type(info.value) is ParseError
    assert info.value.field == field


def test_unknown_status_is_kept_with_a_warning(record: r.TrialRecord) -> None:
    data = TEXT.replace(b"\nCompleted\n", b"\nPaused Indefinitely\n")
    with pytest.warns(UnknownVocabularyWarning, match="Paused Indefinitely"):
        changed = veeva.parse(data)
    assert changed.overall_status == "Paused Indefinitely"
    assert not isinstance(changed.overall_status, r.Status)
    assert changed.model_copy(update={"overall_status": r.Status.COMPLETED}) == record


def test_unknown_status_in_html_too() -> None:
    data = HTML.replace(b">Completed<", b">Paused Indefinitely<")
    with pytest.warns(UnknownVocabularyWarning):
        assert veeva.parse(data).overall_status == "Paused Indefinitely"


def test_more_identifiers_become_secondary_ids() -> None:
    data = TEXT.replace(b"MF07-01\n", b"MF07-01\nEudraCT 2007-001234-56\nFBDS-2\n")
    rec = _parse_quietly(data)
    assert rec.org_study_id == "MF07-01"
    assert rec.secondary_ids == ("EudraCT 2007-001234-56", "FBDS-2")


def test_copy_without_the_site_navigation(record: r.TrialRecord) -> None:
    assert _parse_quietly(TEXT.replace(b"Menu\n", b"")) == record
    body = TEXT.split(b"Menu\n", 1)[1]
    assert _parse_quietly(body) == record


def test_the_page_shows_none_of_the_whole_protocol_sections(record: r.TrialRecord) -> None:
    # The real page has no outcome measures, references, officials, central contacts,
    # documents or results; its site list ("Trial contacts and locations": 7, "Loading...")
    # loads later, so no site's status or contacts either.  Nothing is made up for them, and
    # the HTML rendering agrees.
    for name in ("outcomes", "references", "see_also", "officials", "central_contacts",
                 "documents", "locations"):
        assert getattr(record, name) == (), name
    for name in ("oversight", "ipd_sharing", "expanded_access", "results"):
        assert getattr(record, name) is None, name
    assert "Loading..." not in record.model_dump_json()
    assert _parse_quietly(HTML) == record
