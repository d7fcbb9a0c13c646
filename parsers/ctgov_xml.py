"""Legacy ClinicalTrials.gov XML (``<clinical_study>``, classic site / AllPublicXML) → TrialRecord.

Covers both generations of the classic schema: before 2017 the design was one
``<study_design>`` string and the dates were ``firstreceived_date``/``lastchanged_date``;
later files carry ``<study_design_info>`` and ``study_first_submitted`` & co.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

from lxml import etree
from pydantic import ValidationError

from harvester import records as r
from harvester.errors import ParseError
from parsers import _vocab, _xml_sections
from parsers._criteria import split_criteria
from parsers._text import plain

_NCT_ID = re.compile(r"^NCT\d{8}$")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
# Pre-2017 ``<study_design>`` is "Key: value, Key: value"; masking values hold commas in
# parentheses ("Double Blind (Subject, Investigator)"), so split only before a "Key:".
_DESIGN_SPLIT = re.compile(r",\s*(?=[A-Z][A-Za-z ]*:)")
_DESIGN_KEYS = {"allocation": "allocation", "intervention model": "intervention_model",
                "primary purpose": "primary_purpose", "masking": "masking",
                "observational model": "observational_model",
                "time perspective": "time_perspective"}
# Spot an internal DTD subset before libxml2 sees it, so the refusal names the real reason
# rather than e.g. "amplification factor exceeded".  Only the prolog is looked at.
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.S)
_DOCTYPE = re.compile(
    rb"<!DOCTYPE\s+[^\s\[>]+(?:\s+(?:SYSTEM|PUBLIC)(?:\s*(?:\"[^\"]*\"|'[^']*'))+)?\s*(\[|>)")
_DOWNLOAD_DATE = re.compile(r"processed this data on\s+(.+?)\s*$")
_ENUM_FIELDS: dict[str, type[Any]] = {
    "allocation": r.DesignAllocation, "intervention_model": r.InterventionalAssignment,
    "primary_purpose": r.PrimaryPurpose, "observational_model": r.ObservationalModel,
    "time_perspective": r.DesignTimePerspective}
_COMBINED = {"observational_model", "time_perspective"}
_LOCATION_TAGS = {"name": "facility", "city": "city", "state": "state", "zip": "zip",
                  "country": "country", "status": "status"}
_TYPED_DATES = ("start_date", "primary_completion_date", "completion_date")


def parse(data: bytes) -> r.TrialRecord:
    """One legacy ``<clinical_study>`` document as a TrialRecord (``source="ctgov-xml"``)."""
    root = _root(data)
    nct_id = _nct_id(root)
    try:
        record = _record(root, nct_id)
    except ParseError:
        raise
    except Exception as exc:  # the contract: callers only ever catch HarvesterError
        raise ParseError(f"unexpected {type(exc).__name__}: {exc}", record=nct_id) from exc
    try:
        return r.TrialRecord.model_validate(record)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ParseError(f"invalid value: {first['msg']}", field=where, record=nct_id) from exc


def _root(data: bytes) -> etree._Element:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ParseError(f"expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    if _has_internal_subset(raw):
        raise ParseError("DOCTYPE with an internal subset (entity declarations) refused")
    # A fresh parser per call: lxml parser objects must not be shared between threads.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, dtd_validation=False)
    try:
        root = etree.fromstring(raw, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ParseError(f"not well-formed XML: {exc}") from exc
    # Catches what the byte scan cannot see, e.g. a UTF-16 document.
    dtd: Any = root.getroottree().docinfo.internalDTD  # lxml-stubs lack DTD.iterentities
    if dtd is not None and next(dtd.iterentities(), None) is not None:
        raise ParseError("entity declarations refused")
    if root.tag != "clinical_study":
        raise ParseError(f"root element is <{root.tag}>, expected <clinical_study>")
    return root


def _has_internal_subset(raw: bytes) -> bool:
    pos = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    while (item := _PROLOG_ITEM.match(raw, pos)) is not None:
        pos = item.end()
    doctype = _DOCTYPE.match(raw, pos)
    if doctype is None:
        return raw.startswith(b"<!DOCTYPE", pos)  # a DOCTYPE too odd to read: refuse it
    return doctype.group(1) == b"["


def _nct_id(root: etree._Element) -> str:
    nct_id = _text(root, "id_info/nct_id")
    if nct_id is None:
        raise ParseError("missing id_info/nct_id", field="id_info/nct_id")
    if not _NCT_ID.match(nct_id):
        raise ParseError(f"invalid NCT id {nct_id!r}", field="id_info/nct_id")
    return nct_id


def _text(el: etree._Element, path: str) -> str | None:
    value = el.findtext(path)
    if value is None:
        return None
    return value.strip() or None


def _texts(el: etree._Element, path: str) -> list[str]:
    return [t for t in (_text(e, ".") for e in el.findall(path)) if t is not None]


def _criteria(text: str | None) -> str | None:
    if not text:
        return None
    return plain(textwrap.dedent(text.replace("\r\n", "\n").replace("\r", "\n")).strip(),
                 lines=True)


def _prose(text: str | None) -> str | None:
    """A textblock with the XML's ~80-column wrapping undone; paragraphs are kept (2023
    files end their lines with CR LF)."""
    if not text:
        return None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = _PARAGRAPH_BREAK.split(textwrap.dedent(text).strip())
    joined = (" ".join(line.strip() for line in p.splitlines() if line.strip())
              for p in paragraphs)
    return plain("\n\n".join(p for p in joined if p))


def _record(root: etree._Element, nct_id: str) -> dict[str, Any]:
    why_stopped = _text(root, "why_stopped")
    study_type = _text(root, "study_type")
    interventions = list(root.iterchildren("intervention"))
    d: dict[str, Any] = {
        "nct_id": nct_id,
        "source": "ctgov-xml",
        "org_study_id": _text(root, "id_info/org_study_id"),
        "secondary_ids": _texts(root, "id_info/secondary_id"),
        "nct_id_aliases": _texts(root, "id_info/nct_alias"),
        "brief_title": plain(_text(root, "brief_title")),
        "official_title": plain(_text(root, "official_title")),
        "acronym": _text(root, "acronym"),
        "overall_status": _enum(r.Status, root, "overall_status"),
        "last_known_status": _enum(r.Status, root, "last_known_status"),
        "why_stopped": plain(" ".join(why_stopped.split())) if why_stopped else None,
        # The classic site wrote N/A for a withheld record's unknown study type.
        "study_type": None if study_type in (None, "N/A")
        else _vocab.enum_value(r.StudyType, study_type, field="study_type"),
        "phases": _vocab.phases(_text(root, "phase")),
        "enrollment": _enrollment(root.find("enrollment"), nct_id),
        "first_submitted": _date(root, "study_first_submitted", "firstreceived_date"),
        "first_posted": _date(root, "study_first_posted"),
        "last_update_submitted": _date(root, "last_update_submitted", "lastchanged_date"),
        "last_update_posted": _date(root, "last_update_posted"),
        "results_first_posted": _date(root, "results_first_posted"),
        "version_holder": _version_holder(root),
        "conditions": _texts(root, "condition"),
        "keywords": _texts(root, "keyword"),
        "interventions": [_intervention(e) for e in interventions],
        # MeSH headings by term only: the legacy XML has neither ids nor ancestors.
        "condition_mesh": _mesh_terms(root, "condition_browse/mesh_term"),
        "intervention_mesh": _mesh_terms(root, "intervention_browse/mesh_term"),
        "eligibility": _eligibility(root.find("eligibility")),
        "locations": _locations(root),
        "lead_sponsor": _sponsor(root.find("sponsors/lead_sponsor")),
        "collaborators": [_sponsor(e) for e in root.iterfind("sponsors/collaborator")],
        "brief_summary": _prose(root.findtext("brief_summary/textblock")),
        "detailed_description": _prose(root.findtext("detailed_description/textblock")),
        "results": _xml_sections.results(root),
        **_xml_sections.sections(root),
    }
    d["has_results"] = d["results"] is not None
    d["location_count"] = len(d["locations"])
    # API v2's interventionNames: "Type: Name" with the legacy type label as written.
    named = [(_intervention_name(e), _texts(e, "arm_group_label")) for e in interventions]
    d["arms"] = [_arm(e, named) for e in root.iterchildren("arm_group")]
    for tag in _TYPED_DATES:
        el = root.find(tag)
        d[tag] = _date(root, tag)
        d[f"{tag}_type"] = None if el is None else _vocab.enum_value(
            r.DateType, el.get("type"), field=f"{tag}/@type")
    d.update(_design(root))
    return d


def _enum(kind: type[Any], el: etree._Element, path: str) -> Any:
    return _vocab.enum_value(kind, _text(el, path), field=path)


def _date(root: etree._Element, *tags: str) -> str | None:
    for tag in tags:
        value = _text(root, tag)
        if value is not None:
            return _vocab.iso_date(value, field=tag)
    return None


def _version_holder(root: etree._Element) -> str | None:
    found = _DOWNLOAD_DATE.search(_text(root, "required_header/download_date") or "")
    return _vocab.iso_date(found.group(1), field="download_date") if found else None


def _enrollment(el: etree._Element | None, nct_id: str) -> dict[str, Any] | None:
    if el is None:
        return None
    text = (el.text or "").strip()
    try:
        count = int(text) if text else None
    except ValueError:
        raise ParseError(f"enrollment {text!r} is not a whole number", field="enrollment",
                         record=nct_id) from None
    kind = _vocab.enum_value(r.EnrollmentType, el.get("type"), field="enrollment/@type")
    return {"count": count, "type": kind}


def _design(root: etree._Element) -> dict[str, Any]:
    info = root.find("study_design_info")
    if info is not None:
        raw = {key: _text(info, key) for key in (*_ENUM_FIELDS, "masking")}
    else:
        raw = _old_design(_text(root, "study_design"))
    out: dict[str, Any] = {
        key: (_vocab.combined if key in _COMBINED else _vocab.enum_value)(
            kind, raw.get(key), field=key)
        for key, kind in _ENUM_FIELDS.items()}
    out["masking"], out["who_masked"] = _vocab.masking(raw.get("masking"))
    if (info is not None and out["allocation"] is None
            and _text(root, "study_type") == "Interventional"):
        # The legacy XML leaves N/A design values out; API v2 writes allocation NA.
        out["allocation"] = r.DesignAllocation.NA
    return out


def _old_design(text: str | None) -> dict[str, str | None]:
    """``Allocation: Randomized, Masking: Double Blind (Subject, Investigator), …``."""
    out: dict[str, str | None] = {}
    for part in _DESIGN_SPLIT.split(text or ""):
        key, sep, value = part.partition(":")
        field = _DESIGN_KEYS.get(" ".join(key.lower().split()))
        if sep and field:  # e.g. "Endpoint Classification" has no API v2 field
            out[field] = value.strip() or None
    return out


def _arm(el: etree._Element, named: list[tuple[str, list[str]]]) -> dict[str, Any]:
    label = _text(el, "arm_group_label")
    names = [name for name, labels in named if label in labels]
    return {"label": _vocab.required(plain(label), field="arm_group/arm_group_label"),
            "type": _enum(r.ArmGroupType, el, "arm_group_type"),
            "description": plain(_text(el, "description")),
            "interventions": names}


def _intervention_name(el: etree._Element) -> str:
    kind, name = _text(el, "intervention_type"), _text(el, "intervention_name") or ""
    return f"{kind}: {name}" if kind else name


def _intervention(el: etree._Element) -> dict[str, Any]:
    return {"type": _enum(r.InterventionType, el, "intervention_type"),
            "name": _vocab.required(plain(_text(el, "intervention_name")),
                                    field="intervention/intervention_name"),
            "description": plain(_text(el, "description")),
            "arm_labels": _texts(el, "arm_group_label"),
            "other_names": _texts(el, "other_name")}


def _mesh_terms(root: etree._Element, path: str) -> list[dict[str, str]]:
    return [{"term": term} for term in _texts(root, path)]


def _eligibility(el: etree._Element | None) -> dict[str, Any]:
    if el is None:
        return {}
    criteria = _criteria(el.findtext("criteria/textblock"))
    inclusion, exclusion = split_criteria(criteria)
    minimum, maximum = _vocab.age(_text(el, "minimum_age")), _vocab.age(_text(el, "maximum_age"))
    return {"criteria": criteria, "inclusion": inclusion, "exclusion": exclusion,
            "sex": _enum(r.Sex, el, "gender"),
            "minimum_age": minimum, "maximum_age": maximum,
            "healthy_volunteers": _vocab.yes_no(_text(el, "healthy_volunteers")),
            # The legacy XML does not list age groups: derived as the registry derives them.
            "std_ages": _vocab.std_ages(minimum, maximum)}


def _locations(root: etree._Element) -> list[dict[str, Any]]:
    locations = [_location(e) for e in root.iterchildren("location")]
    # Looked up once per distinct value: also one warning, not one per site, for a new status.
    statuses = {raw: _vocab.enum_value(r.RecruitmentStatus, raw, field="location/status")
                for raw in {loc["status"] for loc in locations}}
    for loc in locations:
        loc["status"] = statuses[loc["status"]]
    return locations


def _location(el: etree._Element) -> dict[str, Any]:
    # One pass over the subtree instead of six path look-ups: records list up to thousands
    # of sites, and these tags occur only once per <location> in the schema.
    out: dict[str, Any] = dict.fromkeys(_LOCATION_TAGS.values())
    for node in el.iter(*_LOCATION_TAGS):
        out[_LOCATION_TAGS[node.tag]] = (node.text or "").strip() or None
    out["contacts"] = _xml_sections.location_contacts(el)
    return out


def _sponsor(el: etree._Element | None) -> dict[str, Any] | None:
    if el is None:
        return None
    return {"name": _text(el, "agency"), "class": _enum(r.AgencyClass, el, "agency_class")}
