"""The typed trial record: the one contract between parsers, catalogue, search and exports.

Every parser returns :class:`TrialRecord`; vocabulary is ClinicalTrials.gov API v2's enums
whatever the source said.  Enumerated fields are *open*: a value the registry adds later is
kept as written (a plain ``str``) instead of failing, and the parser warns about it.

The enum classes mirror ``/api/v2/studies/enums`` (API 2.0.5); a test checks them against the
verbatim response in ``fixtures/spec/studies-enums.json``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

SourceKind = Literal["ctgov-json", "ctgov-xml", "veeva"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("ctgov-json", "ctgov-xml", "veeva")


class Status(StrEnum):
    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING"
    COMPLETED = "COMPLETED"
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION"
    NOT_YET_RECRUITING = "NOT_YET_RECRUITING"
    RECRUITING = "RECRUITING"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    WITHDRAWN = "WITHDRAWN"
    AVAILABLE = "AVAILABLE"
    NO_LONGER_AVAILABLE = "NO_LONGER_AVAILABLE"
    TEMPORARILY_NOT_AVAILABLE = "TEMPORARILY_NOT_AVAILABLE"
    APPROVED_FOR_MARKETING = "APPROVED_FOR_MARKETING"
    WITHHELD = "WITHHELD"
    UNKNOWN = "UNKNOWN"


class RecruitmentStatus(StrEnum):
    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING"
    COMPLETED = "COMPLETED"
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION"
    NOT_YET_RECRUITING = "NOT_YET_RECRUITING"
    RECRUITING = "RECRUITING"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    WITHDRAWN = "WITHDRAWN"
    AVAILABLE = "AVAILABLE"


class StudyType(StrEnum):
    EXPANDED_ACCESS = "EXPANDED_ACCESS"
    INTERVENTIONAL = "INTERVENTIONAL"
    OBSERVATIONAL = "OBSERVATIONAL"


class Phase(StrEnum):
    NA = "NA"
    EARLY_PHASE1 = "EARLY_PHASE1"
    PHASE1 = "PHASE1"
    PHASE2 = "PHASE2"
    PHASE3 = "PHASE3"
    PHASE4 = "PHASE4"


class DesignAllocation(StrEnum):
    RANDOMIZED = "RANDOMIZED"
    NON_RANDOMIZED = "NON_RANDOMIZED"
    NA = "NA"


class InterventionalAssignment(StrEnum):
    SINGLE_GROUP = "SINGLE_GROUP"
    PARALLEL = "PARALLEL"
    CROSSOVER = "CROSSOVER"
    FACTORIAL = "FACTORIAL"
    SEQUENTIAL = "SEQUENTIAL"


class PrimaryPurpose(StrEnum):
    TREATMENT = "TREATMENT"
    PREVENTION = "PREVENTION"
    DIAGNOSTIC = "DIAGNOSTIC"
    ECT = "ECT"
    SUPPORTIVE_CARE = "SUPPORTIVE_CARE"
    SCREENING = "SCREENING"
    HEALTH_SERVICES_RESEARCH = "HEALTH_SERVICES_RESEARCH"
    BASIC_SCIENCE = "BASIC_SCIENCE"
    DEVICE_FEASIBILITY = "DEVICE_FEASIBILITY"
    OTHER = "OTHER"


class ObservationalModel(StrEnum):
    COHORT = "COHORT"
    CASE_CONTROL = "CASE_CONTROL"
    CASE_ONLY = "CASE_ONLY"
    CASE_CROSSOVER = "CASE_CROSSOVER"
    ECOLOGIC_OR_COMMUNITY = "ECOLOGIC_OR_COMMUNITY"
    FAMILY_BASED = "FAMILY_BASED"
    DEFINED_POPULATION = "DEFINED_POPULATION"
    NATURAL_HISTORY = "NATURAL_HISTORY"
    OTHER = "OTHER"


class DesignTimePerspective(StrEnum):
    RETROSPECTIVE = "RETROSPECTIVE"
    PROSPECTIVE = "PROSPECTIVE"
    CROSS_SECTIONAL = "CROSS_SECTIONAL"
    OTHER = "OTHER"


class DesignMasking(StrEnum):
    NONE = "NONE"
    SINGLE = "SINGLE"
    DOUBLE = "DOUBLE"
    TRIPLE = "TRIPLE"
    QUADRUPLE = "QUADRUPLE"


class WhoMasked(StrEnum):
    PARTICIPANT = "PARTICIPANT"
    CARE_PROVIDER = "CARE_PROVIDER"
    INVESTIGATOR = "INVESTIGATOR"
    OUTCOMES_ASSESSOR = "OUTCOMES_ASSESSOR"


class EnrollmentType(StrEnum):
    ACTUAL = "ACTUAL"
    ESTIMATED = "ESTIMATED"


class DateType(StrEnum):
    ACTUAL = "ACTUAL"
    ESTIMATED = "ESTIMATED"


class ArmGroupType(StrEnum):
    EXPERIMENTAL = "EXPERIMENTAL"
    ACTIVE_COMPARATOR = "ACTIVE_COMPARATOR"
    PLACEBO_COMPARATOR = "PLACEBO_COMPARATOR"
    SHAM_COMPARATOR = "SHAM_COMPARATOR"
    NO_INTERVENTION = "NO_INTERVENTION"
    OTHER = "OTHER"


class InterventionType(StrEnum):
    BEHAVIORAL = "BEHAVIORAL"
    BIOLOGICAL = "BIOLOGICAL"
    COMBINATION_PRODUCT = "COMBINATION_PRODUCT"
    DEVICE = "DEVICE"
    DIAGNOSTIC_TEST = "DIAGNOSTIC_TEST"
    DIETARY_SUPPLEMENT = "DIETARY_SUPPLEMENT"
    DRUG = "DRUG"
    GENETIC = "GENETIC"
    PROCEDURE = "PROCEDURE"
    RADIATION = "RADIATION"
    OTHER = "OTHER"


class Sex(StrEnum):
    FEMALE = "FEMALE"
    MALE = "MALE"
    ALL = "ALL"


class StandardAge(StrEnum):
    CHILD = "CHILD"
    ADULT = "ADULT"
    OLDER_ADULT = "OLDER_ADULT"


class AgencyClass(StrEnum):
    NIH = "NIH"
    FED = "FED"
    OTHER_GOV = "OTHER_GOV"
    INDIV = "INDIV"
    INDUSTRY = "INDUSTRY"
    NETWORK = "NETWORK"
    AMBIG = "AMBIG"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


E = TypeVar("E", bound=StrEnum)

# An "open" enum: the enum member when the value is known, else the value as written.
# left_to_right makes pydantic try the enum first, so JSON round-trips give members back.
Open = Annotated[E | str, Field(union_mode="left_to_right")]

# ISO 8601, partial where the source is partial: 2007, 2007-11 or 2007-11-14.
PartialDate = Annotated[str, Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Enrollment(_Frozen):
    count: int | None = None
    type: Open[EnrollmentType] | None = None


class Sponsor(_Frozen):
    name: str
    # ``class`` is a Python keyword; the JSON key is ``class`` as in API v2.
    agency_class: Open[AgencyClass] | None = Field(default=None, alias="class")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True,
                              serialize_by_alias=True)


class Arm(_Frozen):
    label: str
    type: Open[ArmGroupType] | None = None
    description: str | None = None
    interventions: tuple[str, ...] = ()


class Intervention(_Frozen):
    type: Open[InterventionType] | None = None
    name: str
    description: str | None = None
    arm_labels: tuple[str, ...] = ()
    other_names: tuple[str, ...] = ()


class MeshTerm(_Frozen):
    """A MeSH heading the registry assigned (``derivedSection`` of API v2, ``*_browse`` of the
    legacy XML): derived data, re-run by ClinicalTrials.gov as MeSH changes.

    ``id`` is the descriptor/supplement id as the source writes it (``D001943``; API records of
    2023-24 wrote the same ids zero-padded to nine digits, ``D000001943``); None when the source
    gives none (the legacy XML gives terms only).
    """

    id: str | None = None
    term: str


class Eligibility(_Frozen):
    criteria: str | None = None
    inclusion: tuple[str, ...] = ()
    exclusion: tuple[str, ...] = ()
    sex: Open[Sex] | None = None
    minimum_age: str | None = None
    maximum_age: str | None = None
    healthy_volunteers: bool | None = None
    std_ages: tuple[Open[StandardAge], ...] = ()


class Location(_Frozen):
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    status: Open[RecruitmentStatus] | None = None
    lat: float | None = None
    lon: float | None = None


class TrialRecord(_Frozen):
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

    def to_json_dict(self) -> dict[str, object]:
        """The record as plain JSON-ready data (the shape ``trials parse`` prints)."""
        return self.model_dump(mode="json", by_alias=True)
