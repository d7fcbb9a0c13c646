"""CSL-JSON: one item per trial, for Zotero (import), Pandoc (``--bibliography``) and every
Citation Style Language processor (citeproc-js, citeproc-py, Typst, …).

A JSON array streamed item by item.  Each item is a ``dataset`` with the trial as a
ClinicalTrials.gov record, pinned to the version exported like the RIS reference:

- ``id`` and ``number``: the NCT id (``@NCT06203210`` cites it in Pandoc); ``archive``
  ClinicalTrials.gov and ``archive_location`` the NCT id; ``publisher`` and
  ``publisher-place`` the registry's (National Library of Medicine (US), Bethesda (MD));
- ``title``, ``title-short`` (acronym), ``author`` (the lead sponsor as a ``literal`` name,
  never split), ``contributor`` (collaborators, CSL 1.0.2);
- ``issued`` the date first posted, ``accessed`` the retrieval date of the version,
  ``version`` the last update posted of that version, as ``date-parts``/text;
- ``URL`` the record's page, ``abstract``, ``keyword`` (conditions and keywords, comma
  separated), ``genre`` "Clinical trial registration", ``status`` the overall status;
- ``note``: the official title, registry ids (EudraCT, ISRCTN…), primary outcomes,
  publications' PMIDs and the version exported (number, source, sha256, its page), one per
  line.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any, ClassVar

import msgspec

from harvester.export.base import ExportItem, clean_text
from harvester.export.citation import (
    DATABASE,
    PLACE,
    PUBLISHER,
    labelled_ids,
    primary_outcomes,
    pubmed_ids,
    terms,
    title_of,
    version_note,
)
from harvester.export.log import as_utc
from harvester.export.rows import REGISTRY_URL

if TYPE_CHECKING:
    from harvester.export.log import SearchLog


def date_parts(partial: str) -> dict[str, Any]:
    """``2007-11-14`` → ``{"date-parts": [[2007, 11, 14]]}`` (partial dates stay partial)."""
    return {"date-parts": [[int(p) for p in partial.split("-")]]}


def notes(item: ExportItem) -> list[str]:
    rec = item.record
    out = []
    if rec.official_title and rec.official_title != title_of(rec):
        out.append(f"Official title: {rec.official_title}")
    out.append(f"Registry identifiers: {labelled_ids(rec)}")
    if rec.phases:
        out.append(f"Phase: {'/'.join(map(str, rec.phases))}")
    outcomes = primary_outcomes(rec)
    if outcomes:
        out.append("Primary outcomes: " + "; ".join(outcomes))
    pmids = pubmed_ids(rec)
    if pmids:
        out.append("Publications (PubMed): " + ", ".join(f"PMID {p}" for p in pmids))
    out.append(version_note(item))
    return out


def csl_item(item: ExportItem) -> dict[str, Any]:
    """One trial as a CSL-JSON item (empty values left out)."""
    rec, v = item.record, item.version
    data: dict[str, Any] = {
        "id": rec.nct_id, "type": "dataset", "title": title_of(rec),
        "title-short": rec.acronym,
        "author": [{"literal": rec.lead_sponsor.name}] if rec.lead_sponsor else None,
        "contributor": [{"literal": c.name} for c in rec.collaborators if c.name] or None,
        "issued": date_parts(rec.first_posted or rec.first_submitted or "")
        if (rec.first_posted or rec.first_submitted) else None,
        "accessed": date_parts(f"{as_utc(v.seen_at):%Y-%m-%d}"),
        "version": rec.last_update_posted,
        "number": rec.nct_id, "archive": DATABASE, "archive_location": rec.nct_id,
        "publisher": PUBLISHER, "publisher-place": PLACE,
        "genre": "Clinical trial registration",
        "status": str(rec.overall_status) if rec.overall_status else None,
        "URL": REGISTRY_URL.format(nct_id=rec.nct_id),
        "abstract": rec.brief_summary,
        "keyword": ", ".join(terms(rec)) or None,
        "note": "\n".join(notes(item)),
    }
    return {key: _clean(value) for key, value in data.items() if value}


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


class CslJsonExporter:
    name: ClassVar[str] = "csl-json"
    suffix: ClassVar[str] = ".json"
    description: ClassVar[str] = "CSL-JSON items for Zotero, Pandoc and citeproc"
    binary: ClassVar[bool] = False

    def write(self, items: Iterable[ExportItem], out: IO[bytes], log: SearchLog) -> int:
        count = 0
        out.write(b"[")
        for item in items:
            out.write((b",\n" if count else b"\n")
                      + msgspec.json.encode(csl_item(item)))
            log.add(item)
            count += 1
        out.write(b"\n]\n")
        return count
