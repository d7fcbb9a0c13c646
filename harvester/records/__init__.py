"""The typed trial record: the one contract between parsers, catalogue, search and exports.

Every parser returns :class:`TrialRecord`; vocabulary is ClinicalTrials.gov API v2's enums
whatever the source said (:mod:`.vocabulary`).  Enumerated fields are *open*: a value the
registry adds later is kept as written (a plain ``str``) instead of failing, and the parser
warns about it.  The protocol's further sections are in :mod:`.sections`, the results overview
in :mod:`.results`; everything is importable from ``harvester.records``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from harvester.records.base import Frozen
from harvester.records.results import (
    EventGroup,
    FlowGroup,
    Measurement,
    Measurements,
    OutcomeResult,
    ResultGroup,
    Results,
)
from harvester.records.sections import (
    Contact,
    Document,
    ExpandedAccess,
    IpdSharingStatement,
    Link,
    Official,
    Outcome,
    Oversight,
    Reference,
)
from harvester.records.vocabulary import (
    AgencyClass,
    ArmGroupType,
    ContactRole,
    DateType,
    DesignAllocation,
    DesignMasking,
    DesignTimePerspective,
    EnrollmentType,
    ExpandedAccessStatus,
    InterventionalAssignment,
    InterventionType,
    IpdSharing,
    IpdSharingInfoType,
    MeasureDispersionType,
    MeasureParam,
    ObservationalModel,
    OfficialRole,
    Open,
    OutcomeKind,
    OutcomeMeasureType,
    PartialDate,
    Phase,
    PrimaryPurpose,
    RecruitmentStatus,
    ReferenceType,
    Sex,
    StandardAge,
    Status,
    StudyType,
    WhoMasked,
)
from harvester.sources import SOURCE_KINDS, SourceKind

__all__ = [
    "SOURCE_KINDS",
    "AgencyClass",
    "Arm",
    "ArmGroupType",
    "Contact",
    "ContactRole",
    "DateType",
    "DesignAllocation",
    "DesignMasking",
    "DesignTimePerspective",
    "Document",
    "Eligibility",
    "Enrollment",
    "EnrollmentType",
    "EventGroup",
    "ExpandedAccess",
    "ExpandedAccessStatus",
    "FlowGroup",
    "Frozen",
    "Intervention",
    "InterventionType",
    "InterventionalAssignment",
    "IpdSharing",
    "IpdSharingInfoType",
    "IpdSharingStatement",
    "Link",
    "Location",
    "MeasureDispersionType",
    "MeasureParam",
    "Measurement",
    "Measurements",
    "MeshTerm",
    "ObservationalModel",
    "Official",
    "OfficialRole",
    "Open",
    "Outcome",
    "OutcomeKind",
    "OutcomeMeasureType",
    "OutcomeResult",
    "Oversight",
    "PartialDate",
    "Phase",
    "PrimaryPurpose",
    "RecruitmentStatus",
    "Reference",
    "ReferenceType",
    "ResultGroup",
    "Results",
    "Sex",
    "SourceKind",
    "Sponsor",
    "StandardAge",
    "Status",
    "StudyType",
    "TrialRecord",
    "WhoMasked",
]


class Enrollment(Frozen):
    count: int | None = None
    type: Open[EnrollmentType] | None = None


class Sponsor(Frozen):
    name: str
    # ``class`` is a Python keyword; the JSON key is ``class`` as in API v2.
    agency_class: Open[AgencyClass] | None = Field(default=None, alias="class")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True,
                              serialize_by_alias=True)


class Arm(Frozen):
    # None only when the source gives none (the parser warns); the registry requires it.
    label: str | None = None
    type: Open[ArmGroupType] | None = None
    description: str | None = None
    interventions: tuple[str, ...] = ()


class Intervention(Frozen):
    type: Open[InterventionType] | None = None
    # None only when the source gives none (a real API v2 study has an intervention with a
    # description and no name; the parser warns).
    name: str | None = None
    description: str | None = None
    arm_labels: tuple[str, ...] = ()
    other_names: tuple[str, ...] = ()


class MeshTerm(Frozen):
    """A MeSH heading the registry assigned (``derivedSection`` of API v2, ``*_browse`` of the
    legacy XML): derived data, re-run by ClinicalTrials.gov as MeSH changes.

    ``id`` is the descriptor/supplement id as the source writes it (``D001943``; API records of
    2023-24 wrote the same ids zero-padded to nine digits, ``D000001943``); None when the source
    gives none (the legacy XML gives terms only).
    """

    id: str | None = None
    term: str


class Eligibility(Frozen):
    criteria: str | None = None
    inclusion: tuple[str, ...] = ()
    exclusion: tuple[str, ...] = ()
    sex: Open[Sex] | None = None
    minimum_age: str | None = None
    maximum_age: str | None = None
    healthy_volunteers: bool | None = None
    std_ages: tuple[Open[StandardAge], ...] = ()


class Location(Frozen):
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    status: Open[RecruitmentStatus] | None = None
    lat: float | None = None
    lon: float | None = None
    contacts: tuple[Contact, ...] = ()


class TrialRecord(Frozen):
    """One clinical trial as one source published it, in API v2's vocabulary."""

    nct_id: Annotated[str, Field(pattern=r"^NCT\d{8}$")]
    source: SourceKind
    org_study_id: str | None = None
    secondary_ids: tuple[str, ...] = ()
    nct_id_aliases: tuple[str, ...] = ()
    brief_title: str | None = None
    official_title: str | None = None
    acronym: str | None = None

    overall_status: Open[Status] | None = None
    last_known_status: Open[Status] | None = None
    why_stopped: str | None = None

    study_type: Open[StudyType] | None = None
    phases: tuple[Open[Phase], ...] = ()
    allocation: Open[DesignAllocation] | None = None
    intervention_model: Open[InterventionalAssignment] | None = None
    primary_purpose: Open[PrimaryPurpose] | None = None
    masking: Open[DesignMasking] | None = None
    who_masked: tuple[Open[WhoMasked], ...] = ()
    observational_model: Open[ObservationalModel] | None = None
    time_perspective: Open[DesignTimePerspective] | None = None
    enrollment: Enrollment | None = None

    start_date: PartialDate | None = None
    start_date_type: Open[DateType] | None = None
    primary_completion_date: PartialDate | None = None
    primary_completion_date_type: Open[DateType] | None = None
    completion_date: PartialDate | None = None
    completion_date_type: Open[DateType] | None = None
    first_submitted: PartialDate | None = None
    first_posted: PartialDate | None = None
    last_update_submitted: PartialDate | None = None
    last_update_posted: PartialDate | None = None
    results_first_posted: PartialDate | None = None
    # API v2's derivedSection.miscInfoModule.versionHolder: the registry data version.
    version_holder: PartialDate | None = None

    conditions: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    arms: tuple[Arm, ...] = ()
    interventions: tuple[Intervention, ...] = ()
    # MeSH headings of the conditions and interventions, and their ancestors in the MeSH tree
    # (API v2 only; the legacy XML has the headings, by term, without ancestors).
    condition_mesh: tuple[MeshTerm, ...] = ()
    condition_ancestors: tuple[MeshTerm, ...] = ()
    intervention_mesh: tuple[MeshTerm, ...] = ()
    intervention_ancestors: tuple[MeshTerm, ...] = ()
    eligibility: Eligibility = Eligibility()
    locations: tuple[Location, ...] = ()
    location_count: int = 0
    lead_sponsor: Sponsor | None = None
    collaborators: tuple[Sponsor, ...] = ()
    brief_summary: str | None = None
    detailed_description: str | None = None
    has_results: bool = False

    # The whole protocol (parser version 3): outcome measures, references and links, people,
    # oversight, IPD sharing, expanded access, documents; and a results overview.
    outcomes: tuple[Outcome, ...] = ()
    references: tuple[Reference, ...] = ()
    see_also: tuple[Link, ...] = ()
    officials: tuple[Official, ...] = ()
    central_contacts: tuple[Contact, ...] = ()
    oversight: Oversight | None = None
    ipd_sharing: IpdSharingStatement | None = None
    expanded_access: ExpandedAccess | None = None
    documents: tuple[Document, ...] = ()
    results: Results | None = None

    def to_json_dict(self) -> dict[str, object]:
        """The record as plain JSON-ready data (the shape ``trials parse`` prints)."""
        return self.model_dump(mode="json", by_alias=True)
