"""Legacy ClinicalTrials.gov XML parser: every fixture, golden records, bad and hostile input.

Expected values were read by hand from the raw XML files under fixtures/.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from harvester.errors import ParseError, UnknownVocabularyWarning
from harvester.records import (
    AgencyClass,
    ArmGroupType,
    DateType,
    DesignAllocation,
    DesignMasking,
    DesignTimePerspective,
    EnrollmentType,
    InterventionalAssignment,
    InterventionType,
    ObservationalModel,
    Phase,
    PrimaryPurpose,
    RecruitmentStatus,
    Sex,
    StandardAge,
    Status,
    StudyType,
    TrialRecord,
    WhoMasked,
)
from parsers.ctgov_xml import parse

FIXTURES = Path(__file__).parent.parent / "fixtures"
XML_DIR = FIXTURES / "ctgov-xml"
REDOWNLOADS = FIXTURES / "ctgov-history" / "legacy-xml-redownloads"
ALL_XML = sorted([*XML_DIR.glob("*.xml"), *REDOWNLOADS.glob("*.xml")])


def _load(name: str) -> bytes:
    folder = REDOWNLOADS if "__dl" in name else XML_DIR
    return (folder / name).read_bytes()


def _parse(name: str) -> TrialRecord:
    return parse(_load(name))


def test_fixture_set_is_complete() -> None:
    assert len(list(XML_DIR.glob("*.xml"))) == 29
    assert len(list(REDOWNLOADS.glob("*.xml"))) == 13


@pytest.mark.parametrize("path", ALL_XML, ids=lambda p: p.name)
def test_every_fixture_parses(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownVocabularyWarning)
        record = parse(path.read_bytes())
    assert record.nct_id == path.name.split("__")[0]
    assert record.source == "ctgov-xml"
    assert record.location_count == len(record.locations)
    assert TrialRecord.model_validate(record.to_json_dict()) == record
    # MeSH: terms only, never ids or ancestors
    mesh = [*record.condition_mesh, *record.intervention_mesh]
    assert len(mesh) == path.read_bytes().count(b"<mesh_term>")
    assert all(m.id is None for m in mesh)
    assert record.condition_ancestors == record.intervention_ancestors == ()


def test_mesh_terms_of_conditions_and_interventions() -> None:
    rec = _parse("NCT00023673__aact.xml")
    assert [m.term for m in rec.condition_mesh] == [
        "Lung Neoplasms", "Carcinoma, Non-Small-Cell Lung"]
    assert [m.term for m in rec.intervention_mesh] == [
        "Paclitaxel", "Albumin-Bound Paclitaxel", "Carboplatin"]
    only = _parse("NCT02654730__aact.xml")  # an <intervention_browse> and no <condition_browse>
    assert only.condition_mesh == ()
    assert [m.model_dump() for m in only.intervention_mesh] == [
        {"id": None, "term": t}
        for t in ("Primaquine", "Piperaquine", "Dihydroartemisinin", "Artemisinins")]


def test_terminated_phase2_3_with_partial_dates() -> None:
    rec = _parse("NCT02654730__aact.xml")
    assert rec.org_study_id == "SAFEPRIM-II"
    assert rec.acronym == "SAFEPRIM-II"
    assert rec.brief_title == (
        "Evaluation of the Safety of Primaquine in Combination With "
        "Dihydroartemisinin-piperaquine in G6PD Deficient Males in The Gambia")
    assert rec.overall_status is Status.TERMINATED
    assert rec.why_stopped == (
        "Enrollment took longer than anticipated; it was financially and logistically "
        "impossible to recruit the final cohort (G6PDd 0.4mg/kg PQ).")
    assert rec.study_type is StudyType.INTERVENTIONAL
    assert rec.phases == (Phase.PHASE2, Phase.PHASE3)
    assert rec.allocation is DesignAllocation.RANDOMIZED
    assert rec.intervention_model is InterventionalAssignment.PARALLEL
    assert rec.primary_purpose is PrimaryPurpose.TREATMENT
    assert rec.masking is DesignMasking.NONE
    assert rec.who_masked == ()
    assert rec.enrollment is not None
    assert (rec.enrollment.count, rec.enrollment.type) == (61, EnrollmentType.ACTUAL)
    assert (rec.start_date, rec.start_date_type) == ("2015-12", None)
    assert rec.primary_completion_date == "2016-09"
    assert rec.primary_completion_date_type is DateType.ACTUAL
    assert rec.completion_date == "2016-12"
    assert rec.completion_date_type is DateType.ESTIMATED  # type="Anticipated"
    assert rec.first_submitted == "2016-01-05"
    assert rec.first_posted == "2016-01-13"
    assert rec.last_update_submitted == "2016-09-08"
    assert rec.last_update_posted == "2016-09-09"
    assert rec.results_first_posted is None
    assert rec.version_holder == "2018-05-11"
    assert rec.conditions == ("Malaria",)
    assert rec.keywords == ()
    assert [a.label for a in rec.arms] == [
        "G6PD deficient 0.25 mg/kg PQ + DHAP", "G6PD deficient 0.4 mg/kg PQ + DHAP",
        "G6PD deficient DHAP only", "G6PD normal 0.25 mg/kg PQ + DHAP",
        "G6PD normal 0.4 mg/kg PQ + DHAP"]
    assert [a.type for a in rec.arms] == [ArmGroupType.EXPERIMENTAL] * 2 + [
        ArmGroupType.ACTIVE_COMPARATOR] * 3
    assert rec.arms[2].interventions == (
        "Drug: Dihydroartemisinin-piperaquine (DHAP) administered to G6PD deficient",)
    first = rec.interventions[0]
    assert first.type is InterventionType.DRUG
    assert first.arm_labels == ("G6PD deficient DHAP only",)
    assert first.other_names == ("Eurartesim",)
    assert first.description is not None and first.description.startswith(
        "G6PD deficient participants will be treated with dihydroartemisinin-piperaquine")
    elig = rec.eligibility
    assert elig.sex is Sex.MALE
    assert (elig.minimum_age, elig.maximum_age) == ("10 Years", None)
    assert elig.healthy_volunteers is True
    # not in the XML: derived from the age limits as the registry derives them
    assert elig.std_ages == (StandardAge.CHILD, StandardAge.ADULT, StandardAge.OLDER_ADULT)
    assert len(elig.inclusion) == 3 and len(elig.exclusion) == 9
    assert elig.exclusion[4] == "Hb <11 g/dL"  # &lt; unescaped
    assert rec.locations[0].facility == "Medical Research Council Laboratories"
    assert (rec.locations[0].city, rec.locations[0].country) == ("Fajara", "Gambia")
    assert rec.locations[0].state is None and rec.locations[0].status is None
    assert rec.lead_sponsor is not None
    assert rec.lead_sponsor.name == "London School of Hygiene and Tropical Medicine"
    assert rec.lead_sponsor.agency_class is AgencyClass.OTHER
    assert [c.name for c in rec.collaborators] == ["Medical Research Council Unit, The Gambia"]
    assert rec.brief_summary == (
        "The purpose of this study is to evaluate the tolerability and safety of increasing "
        "doses of primaquine in combination with dihydroartemisinin-piperaquine in G6PD "
        "deficient males.")
    assert rec.detailed_description is not None
    paragraphs = rec.detailed_description.split("\n\n")
    assert len(paragraphs) == 4
    assert paragraphs[1].startswith("Enrolment and group assignment Individuals who agree")
    assert "\n" not in paragraphs[3] and paragraphs[3].endswith("in G6PD deficient individuals")
    assert rec.has_results is False


def test_1218_locations() -> None:
    rec = _parse("NCT02465060__aact.xml")
    assert rec.location_count == 1218 == len(rec.locations)
    first, last = rec.locations[0], rec.locations[-1]
    assert first.facility == "University of Alabama at Birmingham Cancer Center"
    assert (first.city, first.state, first.zip, first.country) == (
        "Birmingham", "Alabama", "35233", "United States")
    assert first.status is RecruitmentStatus.RECRUITING
    assert (last.facility, last.city, last.zip, last.country) == (
        "San Juan City Hospital", "San Juan", "00936", "Puerto Rico")
    assert last.state is None
    anchorage = "Anchorage Radiation Therapy Center"
    suspended = [loc for loc in rec.locations if loc.facility == anchorage]
    assert len(suspended) == 1 and suspended[0].status is RecruitmentStatus.SUSPENDED
    statuses = [loc.status for loc in rec.locations]
    assert statuses.count(RecruitmentStatus.RECRUITING) == 1113
    assert statuses.count(RecruitmentStatus.SUSPENDED) == 48
    assert statuses.count(RecruitmentStatus.ACTIVE_NOT_RECRUITING) == 57
    assert all(loc.lat is None and loc.lon is None for loc in rec.locations)
    assert rec.overall_status is Status.RECRUITING
    assert rec.phases == (Phase.PHASE2,)
    assert rec.allocation is DesignAllocation.NON_RANDOMIZED
    # the record really lists EAY131 three times
    assert rec.secondary_ids == ("NCI-2015-00054", "EAY131", "EAY131", "EAY131",
                                 "U10CA180820", "U24CA196172")
    assert (rec.start_date, rec.start_date_type) == ("2015-08-12", DateType.ACTUAL)
    assert rec.primary_completion_date == "2022-06-30"
    assert rec.completion_date is None and rec.completion_date_type is None
    assert len(rec.arms) == 30 and len(rec.interventions) == 24
    arm_a = rec.arms[0]
    assert arm_a.label == "Subprotocol A (EGFR activating mutation)"
    assert arm_a.interventions == ("Drug: Afatinib",
                                   "Other: Cytology Specimen Collection Procedure",
                                   "Other: Laboratory Biomarker Analysis")
    adavosertib = rec.interventions[0]
    assert adavosertib.name == "Adavosertib" and adavosertib.description == "Given PO"
    assert adavosertib.other_names == ("AZD-1775", "AZD1775", "MK-1775", "MK1775")
    assert rec.lead_sponsor is not None and rec.lead_sponsor.agency_class is AgencyClass.NIH
    assert rec.version_holder == "2018-05-14"


def test_expanded_access_available() -> None:
    rec = _parse("NCT01220531__aact.xml")
    assert rec.overall_status is Status.AVAILABLE
    assert rec.study_type is StudyType.EXPANDED_ACCESS
    assert rec.phases == ()
    assert rec.enrollment is None
    assert rec.secondary_ids == ("2R01AI047040-11A2", "5K12HD043494-09")
    assert rec.official_title == (
        "Safety and Efficacy of Thymus Transplantation in Complete DiGeorge Anomaly, IND#9836")
    assert rec.allocation is None and rec.masking is None
    assert rec.arms == ()
    assert len(rec.interventions) == 8
    assert rec.interventions[0].type is InterventionType.BIOLOGICAL
    assert rec.interventions[1].type is InterventionType.PROCEDURE
    assert rec.interventions[1].name == "Blood Draw"
    assert rec.interventions[-1].other_names == ("MMF", "CellCept")
    assert all(i.arm_labels == () for i in rec.interventions)
    assert [c.name for c in rec.collaborators][-1] == "Enzyvant Therapeutics GmbH"
    assert [c.agency_class for c in rec.collaborators] == [AgencyClass.NIH] * 3 + [
        AgencyClass.INDUSTRY]
    assert rec.lead_sponsor is not None and rec.lead_sponsor.name == "M. Louise Markert"
    assert (rec.start_date, rec.primary_completion_date, rec.completion_date) == (
        "2010-12", "2021-12", "2023-12")
    assert rec.completion_date_type is DateType.ESTIMATED
    assert rec.eligibility.minimum_age is None and rec.eligibility.maximum_age is None
    assert rec.eligibility.healthy_volunteers is False
    assert rec.location_count == 1
    assert rec.locations[0].zip == "27701" and rec.locations[0].status is None
    assert len(rec.keywords) == 11 and rec.keywords[0] == "DiGeorge Anomaly"
    assert rec.brief_summary is not None and rec.brief_summary.count("\n\n") == 2


def test_withheld_minimal_record() -> None:
    rec = _parse("NCT03182660__aact.xml")
    assert rec.overall_status is Status.WITHHELD
    assert rec.study_type is None  # <study_type>N/A</study_type>
    assert rec.phases == ()
    assert rec.org_study_id == "LUM-ABU-AP-17-02"
    assert rec.brief_title == "[Trial of device that is not approved or cleared by the U.S. FDA]"
    assert rec.lead_sponsor is not None
    assert rec.lead_sponsor.name == "[Redacted]" and rec.lead_sponsor.agency_class is None
    assert rec.collaborators == ()
    assert rec.enrollment is None and rec.start_date is None
    assert rec.first_submitted == "2017-06-01" and rec.first_posted == "2017-06-09"
    assert rec.last_update_submitted == "2017-06-21" and rec.last_update_posted == "2017-06-22"
    assert rec.eligibility.criteria is None and rec.eligibility.sex is None
    assert rec.locations == () and rec.location_count == 0
    assert rec.brief_summary is None and rec.detailed_description is None
    assert rec.arms == () and rec.interventions == () and rec.conditions == ()


def test_numbered_criteria() -> None:
    rec = _parse("NCT03840122__aact.xml")
    elig = rec.eligibility
    assert elig.criteria is not None
    assert elig.criteria.startswith("Inclusion Criteria:\n\n  1. Patient is over the age of 21\n")
    assert elig.criteria.endswith("  4. Patient is unable to read and speak English")
    assert elig.inclusion == (
        "Patient is over the age of 21",
        "Patient is scheduled to undergo a unilateral, primary TKA, secondary to osteoarthritis",
        "Patient agrees to participate as a study subject and signs the Informed Consent and "
        "Research Authorization documents",
        "Patient is able to read and speak English.")
    assert len(elig.exclusion) == 4
    assert elig.exclusion[0] == "Patient is under the age of 21"
    assert elig.sex is Sex.ALL and elig.minimum_age == "21 Years"
    assert rec.masking is DesignMasking.SINGLE
    assert rec.who_masked == (WhoMasked.PARTICIPANT,)
    assert rec.primary_purpose is PrimaryPurpose.BASIC_SCIENCE
    assert rec.phases == (Phase.NA,)
    assert rec.overall_status is Status.NOT_YET_RECRUITING
    assert (rec.start_date, rec.start_date_type) == ("2019-05", DateType.ESTIMATED)
    assert rec.enrollment is not None and rec.enrollment.type is EnrollmentType.ESTIMATED
    assert rec.arms[1].type is ArmGroupType.ACTIVE_COMPARATOR
    assert rec.arms[1].interventions == ("Other: ACB + IPACK block without injection",)
    assert rec.interventions[0].description is not None
    # plain text: every line its own paragraph, as API v2 writes it
    assert "Ropivacaine 5mg/ml (49.25ml)\n\nEpinephrine" in rec.interventions[0].description
    assert rec.locations[0].facility == "Jewish Hospital"
    assert rec.locations[0].status is RecruitmentStatus.ENROLLING_BY_INVITATION


def test_2016_redownload_with_study_design_string() -> None:
    rec = _parse("NCT00513591__dl2016-06-27__aact.xml")
    # <study_design>Observational Model: Cohort, Time Perspective: Prospective</study_design>
    assert rec.observational_model is ObservationalModel.COHORT
    assert rec.time_perspective is DesignTimePerspective.PROSPECTIVE
    assert rec.allocation is None and rec.masking is None and rec.who_masked == ()
    assert rec.first_submitted == "2007-08-06"  # firstreceived_date
    assert rec.last_update_submitted == "2016-06-14"  # lastchanged_date
    assert rec.first_posted is None and rec.last_update_posted is None
    assert rec.version_holder == "2016-06-27"
    assert rec.acronym == "DAP Registry"
    assert rec.phases == (Phase.NA,)  # this schema wrote N/A even for observational studies
    assert rec.study_type is StudyType.OBSERVATIONAL
    assert rec.enrollment is not None
    assert (rec.enrollment.count, rec.enrollment.type) == (500, EnrollmentType.ESTIMATED)
    assert (rec.start_date, rec.start_date_type) == ("2007-08", None)
    assert rec.primary_completion_date == "2017-12"
    assert rec.completion_date is None
    assert [(a.label, a.type, a.description) for a in rec.arms] == [
        ("1", None, "Women with lupus"),
        ("2", None, "Health women who are matched to women with lupus by age and race"),
        ("3", None, "Women with other autoimmune diseases")]
    assert rec.conditions[0] == "Pregnancy" and len(rec.conditions) == 6
    assert rec.keywords[1] == "Lupus (systemic lupus erythematosus or cutaneous lupus)"
    assert rec.eligibility.sex is Sex.FEMALE
    assert len(rec.eligibility.inclusion) == 3 and len(rec.eligibility.exclusion) == 3
    assert rec.locations[0].status is RecruitmentStatus.RECRUITING
    assert rec.brief_summary == (
        "It is difficult to predict how a women with an autoimmune disease will do during "
        "pregnancy. Some women will improve, others will worsen. Some pregnancies progress "
        "normally and others become very complicated.\n\n"
        "The Duke Autoimmunity in Pregnancy (DAP) Registry will enroll women with autoimmune "
        "diseases, such as lupus, rheumatoid arthritis, scleroderma, and Sjogren's syndrome who "
        "wish to become, or already are, pregnant. We will follow these women throughout "
        "pregnancy to better understand how their autoimmune disease affects their pregnancy, "
        "and vice versa.")


def test_2016_interventional_design_string_and_both_gender() -> None:
    rec = _parse("NCT01642004__dl2016-12-06__aact.xml")
    assert rec.allocation is DesignAllocation.RANDOMIZED
    assert rec.intervention_model is InterventionalAssignment.PARALLEL
    assert rec.primary_purpose is PrimaryPurpose.TREATMENT
    assert rec.masking is DesignMasking.NONE  # "Masking: Open Label"
    assert rec.eligibility.sex is Sex.ALL  # <gender>Both</gender>
    assert rec.has_results is True
    assert rec.results_first_posted is None  # only firstreceived_results_date in this schema
    assert rec.first_submitted == "2012-07-09" and rec.last_update_submitted == "2016-03-16"
    assert rec.arms[0].interventions == ("Biological: Nivolumab",)
    assert rec.arms[1].interventions == ("Drug: Docetaxel",)
    assert rec.interventions[1].other_names == ("Taxotere®",)
    assert rec.location_count == 105


def test_2016_observational_design_string_both_gender() -> None:
    rec = _parse("NCT00482794__dl2016-06-27__aact.xml")
    assert rec.observational_model is ObservationalModel.COHORT
    assert rec.time_perspective is None
    assert rec.eligibility.sex is Sex.ALL


def test_old_masking_with_who_masked() -> None:
    data = _load("NCT01642004__dl2016-12-06__aact.xml").replace(
        b"Masking: Open Label", b"Masking: Double Blind (Subject, Investigator)")
    rec = parse(data)
    assert rec.masking is DesignMasking.DOUBLE
    assert rec.who_masked == (WhoMasked.PARTICIPANT, WhoMasked.INVESTIGATOR)
    assert rec.primary_purpose is PrimaryPurpose.TREATMENT  # still read after the parentheses


def test_masking_with_who_masked() -> None:
    rec = _parse("NCT03494712__aact.xml")
    assert rec.masking is DesignMasking.DOUBLE
    assert rec.who_masked == (WhoMasked.PARTICIPANT, WhoMasked.INVESTIGATOR)
    assert rec.intervention_model is InterventionalAssignment.SEQUENTIAL
    assert rec.eligibility.maximum_age == "45 Years"
    quad = _parse("NCT03101111__aact.xml")
    assert quad.masking is DesignMasking.QUADRUPLE
    assert quad.who_masked == (WhoMasked.PARTICIPANT, WhoMasked.CARE_PROVIDER,
                               WhoMasked.INVESTIGATOR, WhoMasked.OUTCOMES_ASSESSOR)
    assert quad.collaborators[0].name == "Walter Reed Army Institute of Research (WRAIR)"
    assert quad.collaborators[0].agency_class is AgencyClass.FED  # "U.S. Fed"
    triple = _parse("NCT04452435__aact.xml")
    assert triple.masking is DesignMasking.TRIPLE and len(triple.who_masked) == 3
    no_masking = parse(_load("NCT01642004__dl2017-08-08__aact.xml"))  # "No masking"
    assert no_masking.masking is DesignMasking.NONE and no_masking.who_masked == ()


def test_has_results() -> None:
    rec = _parse("NCT00277524__aact.xml")
    assert rec.has_results is True
    assert rec.results_first_posted == "2013-08-28"
    assert rec.overall_status is Status.TERMINATED
    assert rec.why_stopped == "Ended follow-up after four years"
    assert rec.study_type is StudyType.OBSERVATIONAL
    assert rec.time_perspective is DesignTimePerspective.PROSPECTIVE
    assert rec.enrollment is not None and rec.enrollment.count == 3032
    assert rec.location_count == 113
    assert rec.locations[0].facility == "Southern Arizona Health Care System"
    assert rec.locations[0].zip == "85712-2836"
    assert rec.locations[-1].city == "Wauwatosa"
    assert rec.arms[0].label == "Overall" and rec.arms[0].type is None
    assert rec.interventions == ()
    assert (rec.start_date, rec.completion_date) == ("2005-08", "2010-11")
    assert rec.collaborators[0].name == "Medtronic"


def test_other_vocabulary() -> None:
    registry = _parse("NCT01076361__aact.xml")
    assert registry.study_type is StudyType.OBSERVATIONAL  # "Observational [Patient Registry]"
    assert registry.start_date == "1999-09"
    assert registry.results_first_posted == "2014-10-27"
    unknown = _parse("NCT02591940__aact.xml")
    assert unknown.overall_status is Status.UNKNOWN
    assert unknown.last_known_status is Status.ENROLLING_BY_INVITATION
    assert [c.name for c in unknown.collaborators] == [
        "Bambino Gesù Hospital and Research Institute", "University College, London"]
    combined = _parse("NCT00023673__aact.xml")
    assert combined.phases == (Phase.PHASE1, Phase.PHASE2)
    assert combined.first_posted == "2003-04-09"
    case_control = _parse("NCT03435185__aact.xml")
    assert case_control.observational_model is ObservationalModel.CASE_CONTROL


def test_intervention_names_use_legacy_type_label() -> None:
    data = _load("NCT02654730__aact.xml").replace(
        b"<intervention_type>Drug</intervention_type>",
        b"<intervention_type>Dietary Supplement</intervention_type>", 1)
    rec = parse(data)
    assert rec.interventions[0].type is InterventionType.DIETARY_SUPPLEMENT
    assert rec.arms[2].interventions == (
        "Dietary Supplement: Dihydroartemisinin-piperaquine (DHAP) administered to G6PD "
        "deficient",)


def test_unknown_vocabulary_is_kept_with_warning() -> None:
    data = _load("NCT02654730__aact.xml").replace(b">Terminated<", b">Paused by sponsor<")
    with pytest.warns(UnknownVocabularyWarning, match="overall_status"):
        rec = parse(data)
    assert rec.overall_status == "Paused by sponsor"


# --- bad input -----------------------------------------------------------------------------

MINIMAL = b"<clinical_study><id_info><nct_id>NCT00000102</nct_id></id_info></clinical_study>"


@pytest.mark.parametrize("data", [
    b"", b"not xml at all", b'{"studies": []}', b"\x00\x01\x02",
    _load("NCT02654730__aact.xml")[:5000],  # truncated
    b"<clinical_study><id_info><nct_id>NCT00000102</nct_id></id_info>",  # unclosed root
    b"<clinical_study>&undeclared;</clinical_study>",
], ids=["empty", "text", "json", "binary", "truncated", "unclosed", "undeclared-entity"])
def test_not_well_formed(data: bytes) -> None:
    with pytest.raises(ParseError):
        parse(data)


def test_wrong_root() -> None:
    with pytest.raises(ParseError, match="clinical_study"):
        parse(b"<rss><channel><title>ClinicalTrials.gov</title></channel></rss>")


def test_missing_nct_id() -> None:
    data = _load("NCT02654730__aact.xml").replace(b"<nct_id>NCT02654730</nct_id>", b"")
    with pytest.raises(ParseError) as err:
        parse(data)
    assert err.value.field == "id_info/nct_id"


@pytest.mark.parametrize("nct_id", [b"", b"NCT123", b"nct02654730", b"NCT026547300"])
def test_invalid_nct_id(nct_id: bytes) -> None:
    data = _load("NCT02654730__aact.xml").replace(b"NCT02654730</nct_id>", nct_id + b"</nct_id>")
    with pytest.raises(ParseError) as err:
        parse(data)
    assert err.value.field == "id_info/nct_id"


def test_wrong_shapes() -> None:
    bad_count = _load("NCT02654730__aact.xml").replace(b'"Actual">61<', b'"Actual">sixty-one<')
    with pytest.raises(ParseError) as err:
        parse(bad_count)
    assert (err.value.field, err.value.record) == ("enrollment", "NCT02654730")
    # the file has CRLF line ends; the label also appears under <intervention>
    no_arm_label = re.sub(
        rb"<arm_group_label>G6PD normal 0\.4 mg/kg PQ \+ DHAP</arm_group_label>\s*"
        rb"<arm_group_type>", b"<arm_group_type>", _load("NCT02654730__aact.xml"))
    # a missing required value is kept as null with a warning, not a rejected record
    with pytest.warns(UnknownVocabularyWarning, match="arm_group_label: missing"):
        rec = parse(no_arm_label)
    assert rec.arms[4].label is None and rec.arms[4].type is not None
    with pytest.raises(ParseError):
        parse("<clinical_study/>")  # type: ignore[arg-type]


def test_minimal_record_and_external_doctype() -> None:
    assert parse(MINIMAL).nct_id == "NCT00000102"
    # An external DTD reference alone is harmless: it is never loaded.
    doc = b'<?xml version="1.0"?>\n<!DOCTYPE clinical_study SYSTEM "file:///etc/passwd">\n'
    rec = parse(doc + MINIMAL)
    assert rec.nct_id == "NCT00000102" and rec.brief_title is None


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE clinical_study [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<clinical_study><id_info><nct_id>NCT00000102</nct_id></id_info>
<brief_title>&lol9;</brief_title></clinical_study>"""

XXE = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE clinical_study [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<clinical_study><id_info><nct_id>NCT00000102</nct_id></id_info>
<brief_title>&xxe;</brief_title></clinical_study>"""

PARAMETER_ENTITY = b"""<!-- a comment first -->
<!DOCTYPE clinical_study [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]>
<clinical_study><id_info><nct_id>NCT00000102</nct_id></id_info></clinical_study>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, XXE, PARAMETER_ENTITY],
                         ids=["billion-laughs", "xxe", "parameter-entity"])
def test_entity_attacks_are_refused(data: bytes) -> None:
    with pytest.raises(ParseError) as err:
        parse(data)
    message = str(err.value)
    assert "entit" in message or "DOCTYPE" in message
    assert "root:" not in message and "lollol" not in message


def test_entity_attack_in_utf16_is_refused() -> None:
    # The byte scan cannot read UTF-16; the check after parsing must catch it.
    data = XXE.replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode().encode("utf-16")
    with pytest.raises(ParseError, match="entit") as err:
        parse(data)
    assert "root:" not in str(err.value)
    laughs = BILLION_LAUGHS.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"')
    with pytest.raises(ParseError):
        parse(laughs.decode().encode("utf-16"))
