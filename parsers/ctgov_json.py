"""ClinicalTrials.gov API v2 study JSON → :class:`TrialRecord`.

Reads the three JSON shapes the registry hands out: one study (``/api/v2/studies/NCT…``), a
``/studies`` list page (``{"studies": [...], "nextPageToken": ...}``) and the website's
"Download JSON" export (a JSON array of studies).  Records requested with ``fields=`` are partial;
whatever is absent stays null or empty.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import msgspec
from pydantic import ValidationError

from harvester import records as r
from harvester.errors import ParseError
from harvester.records.base import builder
from parsers import _json_protocol, _json_results, _json_sections
from parsers import _vocab as v
from parsers._criteria import split_criteria
from parsers._text import plain
from parsers._validation import validation_error

Json = Mapping[str, Any]
_EMPTY: Json = {}
_ABSENT = msgspec.Raw(b"")


class _Study(msgspec.Struct):
    """One study, decoded only as far as the record needs.

    ``resultsSection`` and ``derivedSection`` are most of a large study's bytes and the
    record needs only an overview of the results, the data-version date and the MeSH
    headings: kept as raw bytes, they are decoded into typed structs of only those fields
    (:mod:`parsers._json_results`, :class:`_Derived`), so msgspec skips the rest at C speed
    instead of building their thousands of objects.
    """

    protocolSection: Any = msgspec.UNSET
    hasResults: Any = None
    resultsSection: msgspec.Raw = _ABSENT
    derivedSection: msgspec.Raw = _ABSENT
    documentSection: Any = None


class _Fast(msgspec.Struct, gc=False):
    """One study for the fast path (:mod:`parsers._json_protocol`): the protocol is cut out
    raw, checked to be UTF-8 and decoded typed (msgspec does not check the text it skips)."""

    protocolSection: msgspec.Raw = _ABSENT
    hasResults: Any = None
    resultsSection: msgspec.Raw = _ABSENT
    derivedSection: msgspec.Raw = _ABSENT
    documentSection: Any = None
    # Read so that a payload of one study is refused as :func:`split` refuses it when this is
    # not a list (:func:`parse_whole` reads such a payload without split).
    studies: list[msgspec.Raw] | msgspec.UnsetType = msgspec.UNSET


class _FastAscii(msgspec.Struct, gc=False):
    """One study in ASCII bytes for the fast path: no text can be invalid UTF-8, so the
    protocol, results and derived data are decoded typed in one pass.  (A derived section
    of null is refused, as :func:`_derived` refuses it.)"""

    protocolSection: _json_protocol.Protocol | None = None
    hasResults: Any = None
    resultsSection: _json_results.Section | None = None
    derivedSection: _Derived | msgspec.UnsetType = msgspec.UNSET
    documentSection: Any = None
    studies: list[msgspec.Raw] | msgspec.UnsetType = msgspec.UNSET  # as :class:`_Fast`'s


class _Payload(_Study):
    studies: list[msgspec.Raw] | msgspec.UnsetType = msgspec.UNSET


class _MiscInfo(msgspec.Struct, gc=False):
    versionHolder: str | None = None


class _Mesh(msgspec.Struct, gc=False):
    id: str | None = None
    term: str | None = None


class _Browse(msgspec.Struct, gc=False):
    """``conditionBrowseModule`` / ``interventionBrowseModule``; their ``browseLeaves`` and
    ``browseBranches`` (the bulk of them) are skipped."""

    meshes: tuple[_Mesh, ...] | None = None
    ancestors: tuple[_Mesh, ...] | None = None


class _Derived(msgspec.Struct, gc=False):
    miscInfoModule: _MiscInfo | None = None
    conditionBrowseModule: _Browse | None = None
    interventionBrowseModule: _Browse | None = None


_NO_DERIVED = _Derived()
_AT = re.compile(r" - at `\$(.*)`$")

_STUDY = msgspec.json.Decoder(_Study)
_PAYLOAD = msgspec.json.Decoder(_Payload)
_EXPORT = msgspec.json.Decoder(list[msgspec.Raw])
_DERIVED = msgspec.json.Decoder(_Derived)
_FAST = msgspec.json.Decoder(_Fast)
_FAST_ASCII = msgspec.json.Decoder(_FastAscii)
_PROTOCOL = msgspec.json.Decoder(_json_protocol.Protocol)
_NOT_VOUCHED = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError, ParseError)


def _decode(decoder: msgspec.json.Decoder[Any], data: bytes) -> Any:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ParseError(f"wrong shape ({exc})") from None
    except msgspec.DecodeError as exc:
        raise ParseError(f"not valid JSON ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"not valid JSON (not UTF-8: {exc.reason} at byte {exc.start})"
                         ) from None
    except RecursionError:
        raise ParseError("JSON nested too deeply") from None


def split(data: bytes) -> list[tuple[str, bytes]]:
    """(locator, raw bytes) of each study in a payload of any of the three shapes.

    A single study is its own bytes; the studies of a list page or an export are cut out of
    the payload verbatim.
    """
    head = data.lstrip()[:1]
    if head not in (b"[", b"{"):
        raise ParseError("not valid JSON (it does not start with '{' or '[')")
    if head == b"[":
        return [(f"[{i}]", bytes(raw)) for i, raw in enumerate(_decode(_EXPORT, data))]
    payload = _decode(_PAYLOAD, data)
    if payload.protocolSection is not msgspec.UNSET:
        return [("", data)]
    if payload.studies is not msgspec.UNSET:
        return [(f"studies[{i}]", bytes(raw)) for i, raw in enumerate(payload.studies)]
    raise ParseError("JSON is not a ClinicalTrials.gov study, list page or export "
                     "(no 'protocolSection' or 'studies')")


def parse(data: bytes, *, check: bool = False) -> r.TrialRecord:
    """One study's JSON bytes → record.

    Typed by msgspec and built without validating again where :mod:`parsers._json_protocol`
    vouches for the study (real registry records); anything else — and everything with
    ``check=True``, the reference the fast path is tested against — validated by pydantic,
    which names what is wrong.
    """
    if not check:
        vouched = _vouched(data)
        if vouched is not None:
            return parse_study(vouched)
    return parse_study(_decode(_STUDY, data))


class _Vouched(NamedTuple):
    """A study decoded for the fast path, every part of it checked (:func:`_vouched`)."""

    protocol: _json_protocol.Protocol
    has_results: Any
    results: _json_results.Section | None
    derived: _Derived
    documents: Any


def parse_whole(data: bytes) -> r.TrialRecord | None:
    """A payload of one study → record by the fast path, without :func:`split`'s decoding
    of it first (which decoded the whole protocol only to find it there): the record
    :func:`parse` makes of :func:`split`'s one study; None where ``data`` is not one study
    (a list page, an export) or the fast path does not vouch for it — then split it."""
    if data[:1] != b"{":
        return None
    vouched = _vouched(data)
    return None if vouched is None else parse_study(vouched)


def _vouched(data: bytes) -> _Vouched | None:
    """The study decoded for the fast path; None where that path does not vouch for it."""
    try:
        if data.isascii():
            whole = _FAST_ASCII.decode(data)
            protocol, section = whole.protocolSection, whole.resultsSection
            derived = (_NO_DERIVED if whole.derivedSection is msgspec.UNSET
                       else whole.derivedSection)
            if protocol is None or not _json_protocol.vouched(protocol, whole.documentSection):
                return None
            return _checked_holder(_Vouched(protocol, whole.hasResults, section, derived,
                                            whole.documentSection))
        study = _FAST.decode(data)
        raw = study.protocolSection
        if not raw:
            return None
        text = bytes(raw)
        if not text.isascii():
            text.decode()  # UTF-8, or UnicodeDecodeError (the validated path refuses it)
        protocol = _PROTOCOL.decode(text)
        if not _json_protocol.vouched(protocol, study.documentSection):
            return None
        derived = _derived(study.derivedSection)
        section = _json_results.decode(study.resultsSection)
    except _NOT_VOUCHED:
        return None
    return _checked_holder(_Vouched(protocol, study.hasResults, section, derived,
                                    study.documentSection))


def _checked_holder(study: _Vouched) -> _Vouched | None:
    """The study, unless its data version is a date outside ASCII (left to validation)."""
    misc = study.derived.miscInfoModule
    if misc is not None and misc.versionHolder is not None and not misc.versionHolder.isascii():
        return None
    return study


def _fast(study: _Vouched) -> r.TrialRecord:
    values = _json_protocol.fields(study.protocol)
    values["results"] = results = _json_results.overview(study.results)
    values["has_results"] = bool(study.has_results) or results is not None
    values["documents"] = _json_protocol.documents(study.documents, values["nct_id"])
    misc = study.derived.miscInfoModule
    values["version_holder"] = v.iso_date(misc.versionHolder if misc else None,
                                          field="versionHolder")
    for name, terms in _mesh_fields(study.derived).items():
        values[name] = tuple(terms)
    return _json_protocol.record(values)


def parse_study(study: Any) -> r.TrialRecord:
    """One study (decoded, or as plain JSON data) → record; a wrong shape raises
    :class:`ParseError`."""
    if isinstance(study, _Vouched):
        return _fast(study)
    if isinstance(study, _Study):
        protocol = study.protocolSection
        raw_results: object = study.resultsSection
        documents = study.documentSection
        derived = _derived(study.derivedSection)
    elif isinstance(study, Mapping):
        protocol = study.get("protocolSection", msgspec.UNSET)
        raw_results = study.get("resultsSection")
        documents = study.get("documentSection")
        derived = _derived(study.get("derivedSection"))
    else:
        raise ParseError("study is not a JSON object")
    if protocol is msgspec.UNSET:
        raise ParseError("not a ClinicalTrials.gov study (no 'protocolSection')")
    if not isinstance(protocol, Mapping):
        raise ParseError("is not a JSON object", field="protocolSection")
    ident = _obj(protocol, "identificationModule", "protocolSection")
    nct_id = ident.get("nctId")
    if not isinstance(nct_id, str) or not nct_id:
        raise ParseError("no NCT id", field="protocolSection.identificationModule.nctId")
    try:
        fields = _record_dict(protocol, ident, nct_id)
        fields["results"] = results = _json_results.results(raw_results)
        fields["has_results"] = bool(study.hasResults if isinstance(study, _Study)
                                     else study.get("hasResults")) or results is not None
        fields["documents"] = _json_sections.documents(documents, nct_id)
        misc = derived.miscInfoModule
        fields["version_holder"] = v.iso_date(misc.versionHolder if misc else None,
                                              field="versionHolder")
        fields.update(_mesh_fields(derived))
        return r.TrialRecord.model_validate(fields)
    except ParseError as exc:
        exc.record = nct_id
        raise
    except ValidationError as exc:
        raise validation_error(exc, record=nct_id) from None


def _derived(raw: msgspec.Raw | Any) -> _Derived:
    """The parts of ``derivedSection`` the record uses, from its raw bytes (a decoded study)
    or from plain JSON data (anything but an object counts as absent, as before)."""
    try:
        if isinstance(raw, msgspec.Raw):
            return _DERIVED.decode(raw) if raw else _NO_DERIVED
        return msgspec.convert(raw, _Derived) if isinstance(raw, Mapping) else _NO_DERIVED
    except msgspec.ValidationError as exc:
        at = _AT.search(str(exc))
        raise ParseError("wrong shape", field="derivedSection" + (at.group(1) if at else "")
                         ) from None
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
        raise ParseError("wrong shape", field="derivedSection") from None


def _mesh_fields(derived: _Derived) -> dict[str, list[r.MeshTerm]]:
    conditions, interventions = derived.conditionBrowseModule, derived.interventionBrowseModule
    return {"condition_mesh": _meshes(conditions.meshes if conditions else None),
            "condition_ancestors": _meshes(conditions.ancestors if conditions else None),
            "intervention_mesh": _meshes(interventions.meshes if interventions else None),
            "intervention_ancestors": _meshes(interventions.ancestors if interventions else None)}


def _meshes(items: tuple[_Mesh, ...] | None) -> list[r.MeshTerm]:
    # An entry without a term names nothing a reader could use: it is left out.
    return [_mesh_term(m.id or None, m.term) for m in items or () if m.term]


_MESH_TERM = builder(r.MeshTerm)


@functools.lru_cache(maxsize=1 << 14)  # full: about 12 MB
def _mesh_term(mesh_id: str | None, term: str) -> r.MeshTerm:
    """One shared, frozen MeshTerm per heading.  The same few thousand headings recur across
    studies, and building them anew (as dicts pydantic validates) made the whole parse 5%
    slower instead of 3%.  msgspec has already checked both types, so the model is built
    without validating them again (by the trusted builder: ``model_construct`` took three
    times as long, and a first import builds each heading once)."""
    return _MESH_TERM({"id": mesh_id, "term": term})


_obj = _json_sections.obj
_list = _json_sections.array
_each = _json_sections.each


def _date(struct: Json) -> str | None:
    return v.iso_date(struct.get("date"), field="date")


def _record_dict(protocol: Json, ident: Json, nct_id: str) -> dict[str, Any]:
    status = _obj(protocol, "statusModule")
    design = _obj(protocol, "designModule")
    design_info = _obj(design, "designInfo")
    masking = _obj(design_info, "maskingInfo")
    conditions = _obj(protocol, "conditionsModule")
    description = _obj(protocol, "descriptionModule")
    sponsors = _obj(protocol, "sponsorCollaboratorsModule")
    enrollment = _obj(design, "enrollmentInfo")
    dates = {
        name: _obj(status, f"{name}Struct")
        for name in ("startDate", "primaryCompletionDate", "completionDate",
                     "studyFirstPostDate", "lastUpdatePostDate", "resultsFirstPostDate")
    }
    contacts = _obj(protocol, "contactsLocationsModule")
    locations = _locations(contacts)
    return {
        "nct_id": nct_id,
        "source": "ctgov-json",
        "org_study_id": _obj(ident, "orgStudyIdInfo").get("id"),
        "secondary_ids": [s.get("id") for s in _each(ident, "secondaryIdInfos", "ident")],
        "nct_id_aliases": _list(ident, "nctIdAliases", "identificationModule"),
        "brief_title": plain(ident.get("briefTitle")),
        "official_title": plain(ident.get("officialTitle")),
        "acronym": ident.get("acronym"),
        "overall_status": v.enum_value(r.Status, status.get("overallStatus"),
                                       field="overallStatus"),
        "last_known_status": v.enum_value(r.Status, status.get("lastKnownStatus"),
                                          field="lastKnownStatus"),
        "why_stopped": plain(status.get("whyStopped")),
        "study_type": v.enum_value(r.StudyType, design.get("studyType"), field="studyType"),
        "phases": [v.enum_value(r.Phase, p, field="phases")
                   for p in _list(design, "phases", "designModule")],
        "allocation": v.enum_value(r.DesignAllocation, design_info.get("allocation"),
                                   field="allocation"),
        "intervention_model": v.enum_value(r.InterventionalAssignment,
                                           design_info.get("interventionModel"),
                                           field="interventionModel"),
        "primary_purpose": v.enum_value(r.PrimaryPurpose, design_info.get("primaryPurpose"),
                                        field="primaryPurpose"),
        "masking": v.enum_value(r.DesignMasking, masking.get("masking"), field="masking"),
        "who_masked": [v.enum_value(r.WhoMasked, w, field="whoMasked")
                       for w in _list(masking, "whoMasked", "maskingInfo")],
        "observational_model": v.combined(r.ObservationalModel,
                                          design_info.get("observationalModel"),
                                          field="observationalModel"),
        "time_perspective": v.combined(r.DesignTimePerspective,
                                       design_info.get("timePerspective"),
                                       field="timePerspective"),
        "enrollment": {
            "count": enrollment.get("count"),
            "type": v.enum_value(r.EnrollmentType, enrollment.get("type"), field="enrollment"),
        } if enrollment else None,
        "start_date": _date(dates["startDate"]),
        "start_date_type": v.enum_value(r.DateType, dates["startDate"].get("type"),
                                        field="startDateStruct.type"),
        "primary_completion_date": _date(dates["primaryCompletionDate"]),
        "primary_completion_date_type": v.enum_value(
            r.DateType, dates["primaryCompletionDate"].get("type"),
            field="primaryCompletionDateStruct.type"),
        "completion_date": _date(dates["completionDate"]),
        "completion_date_type": v.enum_value(r.DateType, dates["completionDate"].get("type"),
                                             field="completionDateStruct.type"),
        "first_submitted": v.iso_date(status.get("studyFirstSubmitDate"),
                                      field="studyFirstSubmitDate"),
        "first_posted": _date(dates["studyFirstPostDate"]),
        "last_update_submitted": v.iso_date(status.get("lastUpdateSubmitDate"),
                                            field="lastUpdateSubmitDate"),
        "last_update_posted": _date(dates["lastUpdatePostDate"]),
        "results_first_posted": _date(dates["resultsFirstPostDate"]),
        "conditions": _list(conditions, "conditions", "conditionsModule"),
        "keywords": _list(conditions, "keywords", "conditionsModule"),
        **_arms_and_interventions(_obj(protocol, "armsInterventionsModule")),
        "eligibility": _eligibility(_obj(protocol, "eligibilityModule")),
        "locations": locations,
        "location_count": len(locations),
        "lead_sponsor": _sponsor(_obj(sponsors, "leadSponsor")),
        "collaborators": [_sponsor(c) for c in _each(sponsors, "collaborators", "sponsors")],
        "brief_summary": plain(description.get("briefSummary")),
        "detailed_description": plain(description.get("detailedDescription")),
        **_json_sections.sections(protocol, status, contacts),
    }


def _arms_and_interventions(module: Json) -> dict[str, Any]:
    arms = [{
        "label": v.required(plain(arm.get("label")), field="armGroups.label"),
        "type": v.enum_value(r.ArmGroupType, arm.get("type"), field="armGroups.type"),
        "description": plain(arm.get("description")),
        "interventions": _list(arm, "interventionNames", "armGroups"),
    } for arm in _each(module, "armGroups", "armsInterventionsModule")]
    interventions = [{
        "type": v.enum_value(r.InterventionType, item.get("type"), field="interventions.type"),
        "name": v.required(plain(item.get("name")), field="interventions.name"),
        "description": plain(item.get("description")),
        "arm_labels": _list(item, "armGroupLabels", "interventions"),
        "other_names": _list(item, "otherNames", "interventions"),
    } for item in _each(module, "interventions", "armsInterventionsModule")]
    return {"arms": arms, "interventions": interventions}


def _eligibility(module: Json) -> dict[str, Any]:
    criteria = plain(module.get("eligibilityCriteria"), lines=True)
    inclusion, exclusion = split_criteria(criteria if isinstance(criteria, str) else None)
    return {
        "criteria": criteria,
        "inclusion": inclusion,
        "exclusion": exclusion,
        "sex": v.enum_value(r.Sex, module.get("sex"), field="sex"),
        "minimum_age": module.get("minimumAge"),
        "maximum_age": module.get("maximumAge"),
        "healthy_volunteers": module.get("healthyVolunteers"),
        "std_ages": [v.enum_value(r.StandardAge, a, field="stdAges")
                     for a in _list(module, "stdAges", "eligibilityModule")],
    }


def _locations(module: Json) -> list[dict[str, Any]]:
    out = []
    for loc in _each(module, "locations", "contactsLocationsModule"):
        geo = _obj(loc, "geoPoint", "locations")
        out.append({
            "facility": loc.get("facility"),
            "city": loc.get("city"),
            "state": loc.get("state"),
            "zip": loc.get("zip"),
            "country": loc.get("country"),
            "status": v.enum_value(r.RecruitmentStatus, loc.get("status"),
                                   field="locations.status"),
            "lat": geo.get("lat"),
            "lon": geo.get("lon"),
            "contacts": [_json_sections.contact(c) for c in
                         _each(loc, "contacts", "locations")],
        })
    return out


def _sponsor(item: Json) -> dict[str, Any] | None:
    if not item:
        return None
    return {"name": item.get("name"),
            "class": v.enum_value(r.AgencyClass, item.get("class"), field="sponsor.class")}
