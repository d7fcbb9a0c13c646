"""Legacy XML protocol sections beyond design and eligibility, and the results overview →
record fields, in API v2's vocabulary and shapes.

Group ids are written as API v2 writes them (``P1`` → ``FG000``, ``O2`` → ``OG001``, ``E1`` →
``EG000``) so that the two sources of one trial agree; ``<reference>`` is a BACKGROUND
reference and ``<results_reference>`` a RESULT one (the XML has no DERIVED references: the
registry added those to API v2 records later).
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from harvester import records as r
from parsers import _vocab
from parsers._text import plain

_GROUP_ID = re.compile(r"^([A-Z])(\d+)$")
_GROUP_PREFIX = {"P": "FG", "O": "OG", "E": "EG", "B": "BG"}
_OUTCOME_TAGS = (("primary_outcome", "PRIMARY"), ("secondary_outcome", "SECONDARY"),
                 ("other_outcome", "OTHER"))
_DOC_FILE = re.compile(r"/ProvidedDocs/\d+/NCT\d{8}/(?P<type>[A-Za-z_]+)_\d+\.\w+$")


def _text(el: etree._Element | None, path: str) -> str | None:
    if el is None:
        return None
    value = el.findtext(path)
    if value is None:
        return None
    return value.strip() or None


def _enum(kind: type[Any], el: etree._Element | None, path: str) -> Any:
    return _vocab.enum_value(kind, _text(el, path), field=path)


def group_id(raw: str | None) -> str | None:
    """``P1`` → ``FG000`` (API v2's spelling of the same group); others as written."""
    if not raw:
        return None
    found = _GROUP_ID.match(raw.strip())
    if found is None or found.group(1) not in _GROUP_PREFIX:
        return raw.strip()
    return f"{_GROUP_PREFIX[found.group(1)]}{int(found.group(2)) - 1:03d}"


def _person(el: etree._Element) -> str | None:
    name = " ".join(p for p in (_text(el, "first_name"), _text(el, "middle_name"),
                                _text(el, "last_name")) if p)
    degrees = _text(el, "degrees")
    return (f"{name}, {degrees}" if name and degrees else name or degrees) or None


def _url(raw: str | None) -> str | None:
    # The classic site wrote its own host as "ClinicalTrials.gov"; API v2 writes it lower case.
    return raw.replace("://ClinicalTrials.gov/", "://clinicaltrials.gov/") if raw else raw


def contact(el: etree._Element, role: Any = r.ContactRole.CONTACT) -> dict[str, Any]:
    return {"name": _person(el), "role": role, "phone": _text(el, "phone"),
            "phone_ext": _text(el, "phone_ext"), "email": _text(el, "email")}


def location_contacts(el: etree._Element) -> list[dict[str, Any]]:
    out = [contact(c) for c in el.iterchildren("contact", "contact_backup")]
    out += [contact(i, _enum(r.ContactRole, i, "role")) for i in el.iterchildren("investigator")]
    return out


def sections(root: etree._Element) -> dict[str, Any]:
    oversight = root.find("oversight_info")
    ipd = root.find("patient_data")
    has_access = _vocab.yes_no(_text(root, "has_expanded_access"))
    return {
        "outcomes": [{"kind": kind, "title": plain(_text(e, "measure")),
                      "description": plain(_text(e, "description")),
                      "time_frame": plain(_text(e, "time_frame"))}
                     for tag, kind in _OUTCOME_TAGS for e in root.iterchildren(tag)],
        "references": [{"citation": plain(_text(e, "citation")), "pmid": _text(e, "PMID"),
                        "type": kind}
                       for tag, kind in (("reference", r.ReferenceType.BACKGROUND),
                                         ("results_reference", r.ReferenceType.RESULT))
                       for e in root.iterchildren(tag)],
        "see_also": [{"label": plain(_text(e, "description")), "url": _text(e, "url")}
                     for e in root.iterchildren("link") if _text(e, "url")],
        "officials": [{"name": _person(e), "affiliation": _text(e, "affiliation"),
                       "role": _enum(r.OfficialRole, e, "role")}
                      for e in root.iterchildren("overall_official")],
        "central_contacts": [contact(e) for e in
                             root.iterchildren("overall_contact", "overall_contact_backup")],
        "oversight": None if oversight is None else {
            "has_dmc": _vocab.yes_no(_text(oversight, "has_dmc")),
            "fda_regulated_drug": _vocab.yes_no(_text(oversight, "is_fda_regulated_drug")),
            "fda_regulated_device": _vocab.yes_no(_text(oversight, "is_fda_regulated_device"))},
        "ipd_sharing": None if ipd is None else {
            "sharing": _enum(r.IpdSharing, ipd, "sharing_ipd"),
            "description": plain(_text(ipd, "ipd_description")),
            "info_types": [_vocab.enum_value(r.IpdSharingInfoType, (t.text or "").strip(),
                                             field="ipd_info_type")
                           for t in ipd.iterchildren("ipd_info_type")],
            "time_frame": plain(_text(ipd, "ipd_time_frame")),
            "access_criteria": plain(_text(ipd, "ipd_access_criteria")),
            "url": _text(ipd, "ipd_url")},
        "expanded_access": None if has_access is None else {"has_expanded_access": has_access},
        "documents": [_document(e) for e in
                      root.iterfind("provided_document_section/provided_document")],
    }


def _document(el: etree._Element) -> dict[str, Any]:
    url = _url(_text(el, "document_url"))
    kind = _DOC_FILE.search(url or "")
    return {"type": kind.group("type") if kind else None,
            "label": _text(el, "document_type"),
            "has_protocol": bool(_vocab.yes_no(_text(el, "document_has_protocol"))),
            "has_sap": bool(_vocab.yes_no(_text(el, "document_has_sap"))),
            "has_icf": bool(_vocab.yes_no(_text(el, "document_has_icf"))),
            "date": _vocab.iso_date(_text(el, "document_date"), field="document_date"),
            "url": url}


def _groups(el: etree._Element | None) -> list[dict[str, Any]]:
    if el is None:
        return []
    return [{"id": group_id(g.get("group_id")), "title": plain(_text(g, "title")),
             "description": plain(_text(g, "description"))}
            for g in el.iterfind("group_list/group") if g.get("group_id")]


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def results(root: etree._Element) -> dict[str, Any] | None:
    section = root.find("clinical_results")
    if section is None:
        return None
    flow = section.find("participant_flow")
    events = section.find("reported_events")
    return {"participant_flow": _flow(flow),
            "outcome_measures": [_outcome(e) for e in section.iterfind("outcome_list/outcome")],
            "adverse_events": _events(events),
            "adverse_events_time_frame": plain(_text(events, "time_frame"))}


def _milestone(period: etree._Element | None, title: str) -> dict[str | None, int | None]:
    if period is None:
        return {}
    for milestone in period.iterfind("milestone_list/milestone"):
        if (_text(milestone, "title") or "").upper() == title:
            return {group_id(p.get("group_id")): _int(p.get("count"))
                    for p in milestone.iterfind("participants_list/participants")}
    return {}


def _flow(flow: etree._Element | None) -> list[dict[str, Any]]:
    if flow is None:
        return []
    periods = flow.findall("period_list/period")
    started = _milestone(periods[0] if periods else None, "STARTED")
    completed = _milestone(periods[-1] if periods else None, "COMPLETED")
    return [{**g, "started": started.get(g["id"]), "completed": completed.get(g["id"])}
            for g in _groups(flow)]


def _outcome(el: etree._Element) -> dict[str, Any]:
    measure = el.find("measure")
    measurements = []
    if measure is not None:
        for klass in measure.iterfind("class_list/class"):
            for category in klass.iterfind("category_list/category"):
                measurements += [{
                    "group_id": group_id(m.get("group_id")), "value": m.get("value"),
                    "spread": m.get("spread"), "lower_limit": m.get("lower_limit"),
                    "upper_limit": m.get("upper_limit"),
                    "class_title": plain(_text(klass, "title")),
                    "category": plain(_text(category, "title"))}
                    for m in category.iterfind("measurement_list/measurement")
                    if m.get("group_id")]
    return {"type": _enum(r.OutcomeMeasureType, el, "type"),
            "title": plain(_text(el, "title")),
            "description": plain(_text(el, "description")),
            "time_frame": plain(_text(el, "time_frame")),
            "population": plain(_text(el, "population")),
            "units": plain(_text(measure, "units")),
            "param_type": _enum(r.MeasureParam, measure, "param"),
            "dispersion_type": _enum(r.MeasureDispersionType, measure, "dispersion"),
            "groups": _groups(el), "measurements": measurements}


# The "Total" rows of the XML's event lists: what API v2 gives per event group.
_TOTALS = {("serious_events", "total, all-cause mortality"): "deaths",
           ("serious_events", "total, serious adverse events"): "serious",
           ("other_events", "total, other adverse events"): "other"}


def _events(events: etree._Element | None) -> list[dict[str, Any]]:
    if events is None:
        return []
    groups = {g["id"]: g for g in _groups(events)}
    for kind in ("serious_events", "other_events"):
        for event in events.iterfind(f"{kind}/category_list/category/event_list/event"):
            total = _TOTALS.get((kind, (_text(event, "sub_title") or "").lower()))
            if total is None:
                continue
            for counts in event.iterfind("counts"):
                group = groups.get(group_id(counts.get("group_id")))
                if group is not None:
                    group[f"{total}_affected"] = _int(counts.get("subjects_affected"))
                    group[f"{total}_at_risk"] = _int(counts.get("subjects_at_risk"))
    return list(groups.values())
