"""API v2 ``protocolSection`` → record fields, the fast way: typed by msgspec, built unvalidated.

msgspec decodes the protocol straight into the structs below, checking every value the record
keeps against the type its field wants (as C code, while it reads the bytes); the record's
models are then built by :func:`~harvester.records.base.builder` without pydantic validating
them again.  The few objects whose mere presence matters (``enrollmentInfo``, the oversight
and IPD modules, sponsors, documents) stay JSON objects and are checked here by hand.

This path vouches only for what it has checked.  :func:`vouched` refuses anything else — a
value of another JSON type than the registry's, a list item the record cannot hold, a date
outside ASCII — *before* anything is built (so no warning is issued twice), and the caller
then parses the study by the validated path of :mod:`parsers.ctgov_json`, which stays the
reference: ``tests/test_json_protocol.py`` checks that both give the same record, model by
model, and the same warnings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import msgspec

from harvester import records as r
from harvester.records.base import Frozen, builder, many
from parsers import _vocab as v
from parsers._criteria import split_criteria
from parsers._json_sections import DOCS_URL
from parsers._text import plain

Dict = dict[str, Any]
_Obj = Dict | None
_Strs = tuple[str, ...] | None


class _S(msgspec.Struct, gc=False):
    """Decoded structs hold only strings, numbers and tuples of them: no reference cycles, so
    the garbage collector need not track them (arrays are decoded as tuples, which it stops
    tracking too, and which the record can keep as they are)."""


class _Id(_S):
    id: str | None = None


class _Ident(_S):
    nctId: str | None = None
    orgStudyIdInfo: _Id | None = None
    secondaryIdInfos: tuple[_Id, ...] | None = None
    nctIdAliases: _Strs = None
    briefTitle: str | None = None
    officialTitle: str | None = None
    acronym: str | None = None


class _Date(_S):
    date: str | None = None
    type: str | None = None


_NO_DATE = _Date()


class _Status(_S):
    overallStatus: str | None = None
    lastKnownStatus: str | None = None
    whyStopped: str | None = None
    startDateStruct: _Date | None = None
    primaryCompletionDateStruct: _Date | None = None
    completionDateStruct: _Date | None = None
    studyFirstSubmitDate: str | None = None
    studyFirstPostDateStruct: _Date | None = None
    lastUpdateSubmitDate: str | None = None
    lastUpdatePostDateStruct: _Date | None = None
    resultsFirstPostDateStruct: _Date | None = None
    expandedAccessInfo: _Obj = None


class _Masking(_S):
    masking: str | None = None
    whoMasked: _Strs = None


class _DesignInfo(_S):
    allocation: str | None = None
    interventionModel: str | None = None
    primaryPurpose: str | None = None
    maskingInfo: _Masking | None = None
    observationalModel: str | None = None
    timePerspective: str | None = None


class _Design(_S):
    studyType: str | None = None
    phases: _Strs = None
    designInfo: _DesignInfo | None = None
    enrollmentInfo: _Obj = None


class _Conditions(_S):
    conditions: _Strs = None
    keywords: _Strs = None


class _Description(_S):
    briefSummary: str | None = None
    detailedDescription: str | None = None


class _Sponsors(_S):
    leadSponsor: _Obj = None
    collaborators: tuple[Dict, ...] | None = None


class _Contact(_S):
    name: str | None = None
    role: str | None = None
    phone: str | None = None
    phoneExt: str | None = None
    email: str | None = None


class _Geo(_S):
    lat: float | None = None
    lon: float | None = None


_NO_GEO = _Geo()


class _Location(_S):
    facility: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    status: str | None = None
    geoPoint: _Geo | None = None
    contacts: tuple[_Contact, ...] | None = None


class _Official(_S):
    name: str | None = None
    affiliation: str | None = None
    role: str | None = None


class _Contacts(_S):
    locations: tuple[_Location, ...] | None = None
    overallOfficials: tuple[_Official, ...] | None = None
    centralContacts: tuple[_Contact, ...] | None = None


class _Arm(_S):
    label: str | None = None
    type: str | None = None
    description: str | None = None
    interventionNames: _Strs = None


class _Intervention(_S):
    type: str | None = None
    name: str | None = None
    description: str | None = None
    armGroupLabels: _Strs = None
    otherNames: _Strs = None


class _Arms(_S):
    armGroups: tuple[_Arm, ...] | None = None
    interventions: tuple[_Intervention, ...] | None = None


class _Eligibility(_S):
    eligibilityCriteria: str | None = None
    sex: str | None = None
    minimumAge: str | None = None
    maximumAge: str | None = None
    healthyVolunteers: bool | None = None
    stdAges: _Strs = None


class _Outcome(_S):
    measure: str | None = None
    description: str | None = None
    timeFrame: str | None = None


class _Outcomes(_S):
    primaryOutcomes: tuple[_Outcome, ...] | None = None
    secondaryOutcomes: tuple[_Outcome, ...] | None = None
    otherOutcomes: tuple[_Outcome, ...] | None = None


class _Reference(_S):
    citation: str | None = None
    pmid: str | None = None
    type: str | None = None


class _Link(_S):
    label: str | None = None
    url: str | None = None


class _References(_S):
    references: tuple[_Reference, ...] | None = None
    seeAlsoLinks: tuple[_Link, ...] | None = None


class Protocol(_S):
    identificationModule: _Ident | None = None
    statusModule: _Status | None = None
    sponsorCollaboratorsModule: _Sponsors | None = None
    oversightModule: _Obj = None
    descriptionModule: _Description | None = None
    conditionsModule: _Conditions | None = None
    designModule: _Design | None = None
    armsInterventionsModule: _Arms | None = None
    outcomesModule: _Outcomes | None = None
    eligibilityModule: _Eligibility | None = None
    contactsLocationsModule: _Contacts | None = None
    referencesModule: _References | None = None
    ipdSharingStatementModule: _Obj = None


_STATUS, _DESIGN, _DESIGN_INFO, _MASKING = _Status(), _Design(), _DesignInfo(), _Masking()
_CONDITIONS, _DESCRIPTION, _SPONSORS = _Conditions(), _Description(), _Sponsors()
_CONTACTS, _ARMS, _ELIGIBILITY = _Contacts(), _Arms(), _Eligibility()
_OUTCOMES, _REFERENCES = _Outcomes(), _References()

_BUILD: dict[type[Frozen], Callable[[Dict], Any]] = {cls: builder(cls) for cls in (
    r.TrialRecord, r.Enrollment, r.Sponsor, r.Arm, r.Intervention, r.Eligibility, r.Location,
    r.Contact, r.Outcome, r.Reference, r.Link, r.Official, r.Oversight, r.IpdSharingStatement,
    r.ExpandedAccess, r.Document)}


def _build_all(cls: type[Frozen]) -> Callable[[list[Dict]], tuple[Any, ...]]:
    """The models of a list of values: :func:`~harvester.records.base.many` for a long list,
    one at a time for a short one (``many`` costs three models' time even for none)."""
    one, at_once = builder(cls), many(cls)

    def build(values: list[Dict]) -> tuple[Any, ...]:
        return at_once(values) if len(values) > 4 else tuple(map(one, values))

    return build


# the models a study may have many of
_MANY_LOCATIONS, _MANY_CONTACTS = _build_all(r.Location), _build_all(r.Contact)
_MANY_OUTCOMES, _MANY_REFERENCES = _build_all(r.Outcome), _build_all(r.Reference)
RECORD_FIELDS = tuple(r.TrialRecord.model_fields)
_NCT = re.compile(r"NCT[0-9]{8}")


# --- what this path vouches for -----------------------------------------------------------

def _str(value: object) -> bool:
    return value is None or value.__class__ is str


def _bool(value: object) -> bool:
    return value is None or value is True or value is False


def _int(value: object) -> bool:
    return value is None or value.__class__ is int


def _enums(items: tuple[str, ...] | None) -> bool:
    """Each item names a value (a blank one would be a null in a list of values)."""
    return all(item.strip() for item in items or ())


def _date(struct: _Date | None) -> bool:
    return struct is None or struct.date is None or struct.date.isascii()


def _sponsor(item: Dict) -> bool:
    return item.get("name").__class__ is str and _str(item.get("class"))


def vouched(p: Protocol, documents: object) -> bool:
    """Whether the fast path builds exactly what validation would (or else: the slow path)."""
    ident = p.identificationModule
    if ident is None or ident.nctId is None or not _NCT.fullmatch(ident.nctId):
        return False
    if any(s.id is None for s in ident.secondaryIdInfos or ()):
        return False
    status = p.statusModule or _STATUS
    if not all(map(_date, (status.startDateStruct, status.primaryCompletionDateStruct,
                           status.completionDateStruct, status.studyFirstPostDateStruct,
                           status.lastUpdatePostDateStruct, status.resultsFirstPostDateStruct))):
        return False
    if not ((status.studyFirstSubmitDate or "").isascii()
            and (status.lastUpdateSubmitDate or "").isascii()):
        return False
    design = p.designModule or _DESIGN
    masking = (design.designInfo or _DESIGN_INFO).maskingInfo or _MASKING
    eligibility = p.eligibilityModule or _ELIGIBILITY
    if not (_enums(design.phases) and _enums(masking.whoMasked) and _enums(eligibility.stdAges)):
        return False
    enrollment = design.enrollmentInfo
    if enrollment and not (_int(enrollment.get("count")) and _str(enrollment.get("type"))):
        return False
    sponsors = p.sponsorCollaboratorsModule or _SPONSORS
    if sponsors.leadSponsor and not _sponsor(sponsors.leadSponsor):
        return False
    if not all(c and _sponsor(c) for c in sponsors.collaborators or ()):
        return False
    if any(link.url is None for link in (p.referencesModule or _REFERENCES).seeAlsoLinks or ()):
        return False
    oversight = p.oversightModule
    if oversight and not (_bool(oversight.get("oversightHasDmc"))
                          and _bool(oversight.get("isFdaRegulatedDrug"))
                          and _bool(oversight.get("isFdaRegulatedDevice"))):
        return False
    ipd = p.ipdSharingStatementModule
    if ipd and not (all(map(_str, (ipd.get(k) for k in (
            "ipdSharing", "description", "timeFrame", "accessCriteria", "url"))))
            and _ipd_types(ipd.get("infoTypes"))):
        return False
    access = status.expandedAccessInfo
    if access and not (_bool(access.get("hasExpandedAccess")) and _str(access.get("nctId"))
                       and _str(access.get("statusForNctId"))):
        return False
    return documents is None or _documents(documents)


def _ipd_types(value: object) -> bool:
    if not value:
        return True
    return value.__class__ is list and all(
        t.__class__ is str and t.strip() for t in value)


def _documents(section: object) -> bool:
    if section.__class__ is not dict:
        return False
    module = section.get("largeDocumentModule")
    if module is None:
        return True
    if module.__class__ is not dict:
        return False
    docs = module.get("largeDocs")
    if docs is None:
        return True
    return docs.__class__ is list and all(
        d.__class__ is dict and _str(d.get("typeAbbrev")) and _str(d.get("label"))
        and _str(d.get("date")) and (d.get("date") or "").isascii() for d in docs)


# --- building (only what :func:`vouched` accepted) -----------------------------------------

_table = v._table  # cached per kind


def _enum(kind: Any, raw: str | None, *, field: str) -> Any:
    """:func:`v.enum_value`, the value in API v2's own spelling looked up first (the table
    :func:`v.known` reads first)."""
    if raw is None:
        return None
    member = _table(kind).get(raw)
    return member if member is not None else v.enum_value(kind, raw, field=field)


def _tuple(items: tuple[str, ...] | None) -> tuple[str, ...]:
    return items or ()


def fields(p: Protocol) -> Dict:
    """The record fields of a vouched protocol (those of the rest of the study aside), warning
    in the order the validated path warns."""
    ident = p.identificationModule
    assert ident is not None and ident.nctId is not None  # vouched
    status = p.statusModule or _STATUS
    design = p.designModule or _DESIGN
    info = design.designInfo or _DESIGN_INFO
    masking = info.maskingInfo or _MASKING
    conditions = p.conditionsModule or _CONDITIONS
    description = p.descriptionModule or _DESCRIPTION
    sponsors = p.sponsorCollaboratorsModule or _SPONSORS
    contacts = p.contactsLocationsModule or _CONTACTS
    enrollment = design.enrollmentInfo
    start = status.startDateStruct or _NO_DATE
    primary = status.primaryCompletionDateStruct or _NO_DATE
    completion = status.completionDateStruct or _NO_DATE
    locations = _locations(contacts.locations)
    out: Dict = {
        "nct_id": ident.nctId,
        "source": "ctgov-json",
        "org_study_id": ident.orgStudyIdInfo.id if ident.orgStudyIdInfo else None,
        "secondary_ids": tuple(s.id for s in ident.secondaryIdInfos or ()),
        "nct_id_aliases": _tuple(ident.nctIdAliases),
        "brief_title": plain(ident.briefTitle),
        "official_title": plain(ident.officialTitle),
        "acronym": ident.acronym,
        "overall_status": _enum(r.Status, status.overallStatus, field="overallStatus"),
        "last_known_status": _enum(r.Status, status.lastKnownStatus, field="lastKnownStatus"),
        "why_stopped": plain(status.whyStopped),
        "study_type": _enum(r.StudyType, design.studyType, field="studyType"),
        "phases": tuple(_enum(r.Phase, x, field="phases") for x in design.phases or ()),
        "allocation": _enum(r.DesignAllocation, info.allocation, field="allocation"),
        "intervention_model": _enum(r.InterventionalAssignment, info.interventionModel,
                                    field="interventionModel"),
        "primary_purpose": _enum(r.PrimaryPurpose, info.primaryPurpose,
                                 field="primaryPurpose"),
        "masking": _enum(r.DesignMasking, masking.masking, field="masking"),
        "who_masked": tuple(_enum(r.WhoMasked, x, field="whoMasked")
                            for x in masking.whoMasked or ()),
        "observational_model": v.combined(r.ObservationalModel, info.observationalModel,
                                          field="observationalModel"),
        "time_perspective": v.combined(r.DesignTimePerspective, info.timePerspective,
                                       field="timePerspective"),
        "enrollment": _BUILD[r.Enrollment]({
            "count": enrollment.get("count"),
            "type": _enum(r.EnrollmentType, enrollment.get("type"), field="enrollment"),
        }) if enrollment else None,
        "start_date": v.iso_date(start.date, field="date"),
        "start_date_type": _enum(r.DateType, start.type, field="startDateStruct.type"),
        "primary_completion_date": v.iso_date(primary.date, field="date"),
        "primary_completion_date_type": _enum(r.DateType, primary.type,
                                              field="primaryCompletionDateStruct.type"),
        "completion_date": v.iso_date(completion.date, field="date"),
        "completion_date_type": _enum(r.DateType, completion.type,
                                      field="completionDateStruct.type"),
        "first_submitted": v.iso_date(status.studyFirstSubmitDate,
                                      field="studyFirstSubmitDate"),
        "first_posted": v.iso_date((status.studyFirstPostDateStruct or _NO_DATE).date,
                                   field="date"),
        "last_update_submitted": v.iso_date(status.lastUpdateSubmitDate,
                                            field="lastUpdateSubmitDate"),
        "last_update_posted": v.iso_date((status.lastUpdatePostDateStruct or _NO_DATE).date,
                                         field="date"),
        "results_first_posted": v.iso_date(
            (status.resultsFirstPostDateStruct or _NO_DATE).date, field="date"),
        "conditions": _tuple(conditions.conditions),
        "keywords": _tuple(conditions.keywords),
    }
    arms = p.armsInterventionsModule or _ARMS
    out["arms"] = tuple(_arm(a) for a in arms.armGroups or ())
    out["interventions"] = tuple(_intervention(i) for i in arms.interventions or ())
    out["eligibility"] = _eligibility(p.eligibilityModule or _ELIGIBILITY)
    out["locations"] = locations
    out["location_count"] = len(locations)
    out["lead_sponsor"] = _sponsor_model(sponsors.leadSponsor) if sponsors.leadSponsor else None
    out["collaborators"] = tuple(_sponsor_model(c) for c in sponsors.collaborators or ())
    out["brief_summary"] = plain(description.briefSummary)
    out["detailed_description"] = plain(description.detailedDescription)
    out.update(_sections(p, status, contacts))
    return out


def record(values: Dict) -> r.TrialRecord:
    """The record of :func:`fields` and the rest of the study's fields, in field order."""
    return _BUILD[r.TrialRecord]({name: values[name] for name in RECORD_FIELDS})  # type: ignore[no-any-return]


def _arm(arm: _Arm) -> Any:
    return _BUILD[r.Arm]({
        "label": v.required(plain(arm.label), field="armGroups.label"),
        "type": _enum(r.ArmGroupType, arm.type, field="armGroups.type"),
        "description": plain(arm.description),
        "interventions": _tuple(arm.interventionNames)})


def _intervention(item: _Intervention) -> Any:
    return _BUILD[r.Intervention]({
        "type": _enum(r.InterventionType, item.type, field="interventions.type"),
        "name": v.required(plain(item.name), field="interventions.name"),
        "description": plain(item.description),
        "arm_labels": _tuple(item.armGroupLabels),
        "other_names": _tuple(item.otherNames)})


@functools.lru_cache(maxsize=256)
def _criteria(text: str | None) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """Eligibility criteria as plain text, and split (:func:`split_criteria`): a pure
    function of the text, cached, as the same text recurs across the versions of a trial
    (``trials reparse``, a history import) and splitting a long one was a sixth of the parse.
    Strings and tuples of strings: nothing a caller could change."""
    criteria = plain(text, lines=True)
    return (criteria, *split_criteria(criteria))


def _eligibility(module: _Eligibility) -> Any:
    criteria, inclusion, exclusion = _criteria(module.eligibilityCriteria)
    return _BUILD[r.Eligibility]({
        "criteria": criteria,
        "inclusion": inclusion,
        "exclusion": exclusion,
        "sex": _enum(r.Sex, module.sex, field="sex"),
        "minimum_age": module.minimumAge,
        "maximum_age": module.maximumAge,
        "healthy_volunteers": module.healthyVolunteers,
        "std_ages": tuple(_enum(r.StandardAge, a, field="stdAges")
                          for a in module.stdAges or ())})


def _locations(items: tuple[_Location, ...] | None) -> tuple[Any, ...]:
    if not items:
        return ()
    statuses = _table(r.RecruitmentStatus)
    values = []
    for loc in items:
        geo, status = loc.geoPoint or _NO_GEO, loc.status
        values.append({
            "facility": loc.facility, "city": loc.city, "state": loc.state, "zip": loc.zip,
            "country": loc.country,
            # the member in API v2's spelling, else as :func:`_enum` reads it
            "status": None if status is None else statuses.get(status) or _enum(
                r.RecruitmentStatus, status, field="locations.status"),
            "lat": geo.lat, "lon": geo.lon,
            "contacts": _contacts(loc.contacts) if loc.contacts else ()})
    return _MANY_LOCATIONS(values)


def _contacts(items: tuple[_Contact, ...]) -> tuple[Any, ...]:
    roles: dict[Any, Any] = _table(r.ContactRole)  # None is no key: it falls to _enum
    return _MANY_CONTACTS([{
        "name": item.name,
        "role": roles.get(item.role) or _enum(r.ContactRole, item.role, field="contacts.role"),
        "phone": item.phone, "phone_ext": item.phoneExt, "email": item.email}
        for item in items])


def _sponsor_model(item: Dict) -> Any:
    return _BUILD[r.Sponsor]({
        "name": item.get("name"),
        "agency_class": _enum(r.AgencyClass, item.get("class"), field="sponsor.class")})


# members, as validation makes of the validated path's strings
_OUTCOME_LISTS = (("primaryOutcomes", r.OutcomeKind.PRIMARY),
                  ("secondaryOutcomes", r.OutcomeKind.SECONDARY),
                  ("otherOutcomes", r.OutcomeKind.OTHER))


def _sections(p: Protocol, status: _Status, contacts: _Contacts) -> Dict:
    outcomes = p.outcomesModule or _OUTCOMES
    references = p.referencesModule or _REFERENCES
    oversight, ipd, access = p.oversightModule, p.ipdSharingStatementModule, \
        status.expandedAccessInfo
    return {
        "outcomes": _MANY_OUTCOMES([{
            "kind": kind, "title": plain(o.measure), "description": plain(o.description),
            "time_frame": plain(o.timeFrame)}
            for key, kind in _OUTCOME_LISTS for o in getattr(outcomes, key) or ()]),
        "references": _MANY_REFERENCES([{
            "citation": plain(ref.citation), "pmid": ref.pmid,
            "type": _enum(r.ReferenceType, ref.type, field="references.type")}
            for ref in references.references or ()]),
        "see_also": tuple(_BUILD[r.Link]({"label": plain(link.label), "url": link.url})
                          for link in references.seeAlsoLinks or ()),
        "officials": tuple(_BUILD[r.Official]({
            "name": off.name, "affiliation": off.affiliation,
            "role": _enum(r.OfficialRole, off.role, field="overallOfficials.role")})
            for off in contacts.overallOfficials or ()),
        "central_contacts": _contacts(contacts.centralContacts) if contacts.centralContacts
        else (),
        "oversight": _BUILD[r.Oversight]({
            "has_dmc": oversight.get("oversightHasDmc"),
            "fda_regulated_drug": oversight.get("isFdaRegulatedDrug"),
            "fda_regulated_device": oversight.get("isFdaRegulatedDevice")})
        if oversight else None,
        "ipd_sharing": _BUILD[r.IpdSharingStatement]({
            "sharing": _enum(r.IpdSharing, ipd.get("ipdSharing"), field="ipdSharing"),
            "description": plain(ipd.get("description")),
            "info_types": tuple(_enum(r.IpdSharingInfoType, t, field="infoTypes")
                                for t in ipd.get("infoTypes") or ()),
            "time_frame": plain(ipd.get("timeFrame")),
            "access_criteria": plain(ipd.get("accessCriteria")),
            "url": ipd.get("url")}) if ipd else None,
        "expanded_access": _BUILD[r.ExpandedAccess]({
            "has_expanded_access": access.get("hasExpandedAccess"),
            "nct_id": access.get("nctId"),
            "status": _enum(r.ExpandedAccessStatus, access.get("statusForNctId"),
                            field="expandedAccessInfo.statusForNctId")})
        if access else None,
    }


def documents(section: Dict | None, nct_id: str) -> tuple[Any, ...]:
    """``documentSection``'s documents (a section :func:`vouched` accepted)."""
    if section is None:
        return ()
    build = _BUILD[r.Document]
    out = []
    for doc in (section.get("largeDocumentModule") or {}).get("largeDocs") or ():
        filename = doc.get("filename")
        out.append(build({
            "type": doc.get("typeAbbrev"), "label": doc.get("label"),
            "has_protocol": bool(doc.get("hasProtocol")), "has_sap": bool(doc.get("hasSap")),
            "has_icf": bool(doc.get("hasIcf")),
            "date": v.iso_date(doc.get("date"), field="largeDocs.date"),
            "url": DOCS_URL.format(tail=nct_id[-2:], nct_id=nct_id, filename=filename)
            if isinstance(filename, str) and filename else None}))
    return tuple(out)
