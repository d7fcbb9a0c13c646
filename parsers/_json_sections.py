"""API v2 protocol sections beyond design and eligibility → record fields: outcome measures,
references and links, officials and contacts, oversight, IPD sharing, expanded access and the
documents of ``documentSection``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harvester import records as r
from harvester.errors import ParseError
from parsers import _vocab as v
from parsers._text import plain

Json = Mapping[str, Any]
_EMPTY: Json = {}
_OUTCOME_LISTS = (("primaryOutcomes", "PRIMARY"), ("secondaryOutcomes", "SECONDARY"),
                  ("otherOutcomes", "OTHER"))
DOCS_URL = "https://clinicaltrials.gov/ProvidedDocs/{tail}/{nct_id}/{filename}"


def _is_object(value: object) -> bool:
    # JSON objects are dicts: the exact type test first, the ABC check (slow) only for others
    return value.__class__ is dict or isinstance(value, Mapping)


def obj(parent: Json, key: str, where: str = "") -> Json:
    value = parent.get(key)
    if value is None:
        return _EMPTY
    if not _is_object(value):
        raise ParseError("is not a JSON object", field=f"{where}.{key}" if where else key)
    return value  # type: ignore[no-any-return]


def array(parent: Json, key: str, where: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if value.__class__ is not list:
        raise ParseError("is not a JSON array", field=f"{where}.{key}")
    return value


def each(parent: Json, key: str, where: str) -> list[Json]:
    """The objects of an array (checked all at once: a list, not a generator, is the fast
    thing to loop over)."""
    items = array(parent, key, where)
    for i, item in enumerate(items):
        if item.__class__ is not dict and not isinstance(item, Mapping):
            raise ParseError("is not a JSON object", field=f"{where}.{key}[{i}]")
    return items


def sections(protocol: Json, status: Json, contacts: Json) -> dict[str, Any]:
    """The record fields of the protocol's further sections."""
    outcomes_module = obj(protocol, "outcomesModule", "protocolSection")
    references = obj(protocol, "referencesModule", "protocolSection")
    oversight = obj(protocol, "oversightModule", "protocolSection")
    ipd = obj(protocol, "ipdSharingStatementModule", "protocolSection")
    access = obj(status, "expandedAccessInfo", "statusModule")
    return {
        "outcomes": [{"kind": kind, "title": plain(o.get("measure")),
                      "description": plain(o.get("description")),
                      "time_frame": plain(o.get("timeFrame"))}
                     for key, kind in _OUTCOME_LISTS
                     for o in each(outcomes_module, key, "outcomesModule")],
        "references": [{"citation": plain(ref.get("citation")), "pmid": ref.get("pmid"),
                        "type": v.enum_value(r.ReferenceType, ref.get("type"),
                                             field="references.type")}
                       for ref in each(references, "references", "referencesModule")],
        "see_also": [{"label": plain(link.get("label")), "url": link.get("url")}
                     for link in each(references, "seeAlsoLinks", "referencesModule")],
        "officials": [{"name": off.get("name"), "affiliation": off.get("affiliation"),
                       "role": v.enum_value(r.OfficialRole, off.get("role"),
                                            field="overallOfficials.role")}
                      for off in each(contacts, "overallOfficials", "contactsLocationsModule")],
        "central_contacts": [contact(c) for c in
                             each(contacts, "centralContacts", "contactsLocationsModule")],
        "oversight": {"has_dmc": oversight.get("oversightHasDmc"),
                      "fda_regulated_drug": oversight.get("isFdaRegulatedDrug"),
                      "fda_regulated_device": oversight.get("isFdaRegulatedDevice")}
        if oversight else None,
        "ipd_sharing": {
            "sharing": v.enum_value(r.IpdSharing, ipd.get("ipdSharing"), field="ipdSharing"),
            "description": plain(ipd.get("description")),
            "info_types": [v.enum_value(r.IpdSharingInfoType, t, field="infoTypes")
                           for t in ipd.get("infoTypes") or ()],
            "time_frame": plain(ipd.get("timeFrame")),
            "access_criteria": plain(ipd.get("accessCriteria")),
            "url": ipd.get("url")} if ipd else None,
        "expanded_access": {
            "has_expanded_access": access.get("hasExpandedAccess"),
            "nct_id": access.get("nctId"),
            "status": v.enum_value(r.ExpandedAccessStatus, access.get("statusForNctId"),
                                   field="expandedAccessInfo.statusForNctId")}
        if access else None,
    }


def contact(item: Json) -> dict[str, Any]:
    return {"name": item.get("name"),
            "role": v.enum_value(r.ContactRole, item.get("role"), field="contacts.role"),
            "phone": item.get("phone"), "phone_ext": item.get("phoneExt"),
            "email": item.get("email")}


def documents(section: object, nct_id: str) -> list[dict[str, Any]]:
    """``documentSection.largeDocumentModule.largeDocs`` with the URL the registry serves
    each file at."""
    if section is None:
        return []
    if not isinstance(section, Mapping):
        raise ParseError("is not a JSON object", field="documentSection")
    module = obj(section, "largeDocumentModule", "documentSection")
    out = []
    for doc in each(module, "largeDocs", "largeDocumentModule"):
        filename = doc.get("filename")
        out.append({
            "type": doc.get("typeAbbrev"), "label": doc.get("label"),
            "has_protocol": bool(doc.get("hasProtocol")), "has_sap": bool(doc.get("hasSap")),
            "has_icf": bool(doc.get("hasIcf")),
            "date": v.iso_date(doc.get("date"), field="largeDocs.date"),
            "url": DOCS_URL.format(tail=nct_id[-2:], nct_id=nct_id, filename=filename)
            if isinstance(filename, str) and filename else None})
    return out
