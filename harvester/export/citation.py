"""What the citation formats (RIS, CSL-JSON, BibTeX) say of a trial beyond its record's
fields: the registry as publisher, the trial's registry ids with their kind, its
publications' PubMed ids, its primary outcomes, and the version cited."""

from __future__ import annotations

import re

from harvester.export.base import ExportItem
from harvester.export.log import as_utc, version_url
from harvester.records import TrialRecord

#: ClinicalTrials.gov's publisher and place, as NLM's *Citing Medicine* cites the registry.
PUBLISHER = "National Library of Medicine (US)"
PLACE = "Bethesda (MD)"
DATABASE = "ClinicalTrials.gov"


_ID_KINDS = (
    (re.compile(r"^NCT\d{8}$"), "NCT"),
    (re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}$"), "EU CT"),
    (re.compile(r"^(EUDRACT[\s:#-]*)?\d{4}-\d{6}-\d{2}$", re.I), "EudraCT"),
    (re.compile(r"^ISRCTN\d{8}$", re.I), "ISRCTN"),
    (re.compile(r"^ACTRN\d{14}$", re.I), "ANZCTR"),
    (re.compile(r"^ChiCTR", re.I), "ChiCTR"),
    (re.compile(r"^DRKS\d{8}$", re.I), "DRKS"),
    (re.compile(r"^JPRN-|^jRCT|^UMIN\d", re.I), "JPRN"),
    (re.compile(r"^CTRI/", re.I), "CTRI"),
    (re.compile(r"^U1111-\d{4}-\d{4}$", re.I), "WHO UTN"),
    (re.compile(r"^(IRCT|KCT|PACTR|TCTR|NTR|NL|SLCTR|RBR-|ReBec)", re.I), "registry"),
)


def id_kind(identifier: str) -> str | None:
    """The registry an id belongs to (``EudraCT``, ``ISRCTN``, …), or None (a sponsor's)."""
    for pattern, kind in _ID_KINDS:
        if pattern.match(identifier.strip()):
            return kind
    return None


def registry_ids(rec: TrialRecord) -> list[str]:
    """Every id of the trial, once: the NCT id, its aliases, then the secondary ids."""
    ids = [rec.nct_id, *rec.nct_id_aliases, *rec.secondary_ids]
    return list(dict.fromkeys(i.strip() for i in ids if i and i.strip()))


def labelled_ids(rec: TrialRecord) -> str:
    """``NCT06203210; EudraCT 2023-123456-12; other ABC-123``."""
    out = []
    for n, identifier in enumerate(registry_ids(rec)):
        kind = "NCT alias" if identifier in rec.nct_id_aliases else id_kind(identifier)
        if n == 0 or kind == "NCT":
            out.append(identifier)
        else:
            out.append(f"{kind or 'other'} {identifier}")
    return "; ".join(out)


def pubmed_ids(rec: TrialRecord) -> list[str]:
    """The PubMed ids of the trial's references, in the record's order, once."""
    return list(dict.fromkeys(r.pmid for r in rec.references if r.pmid))


def primary_outcomes(rec: TrialRecord, kind: str = "PRIMARY") -> list[str]:
    """The titles of the trial's planned outcome measures of ``kind`` (PRIMARY, SECONDARY,
    OTHER), each with its time frame in brackets."""
    return [o.title + (f" [{o.time_frame}]" if o.time_frame else "")
            for o in rec.outcomes if str(o.kind) == kind and o.title]


def title_of(rec: TrialRecord) -> str:
    return rec.brief_title or rec.official_title or rec.nct_id


def version_note(item: ExportItem, date_format: str = "%Y-%m-%d") -> str:
    """``Version exported: 3 from ctgov-json, last update posted …, retrieved …, sha256 …,
    URL`` (dates in ``date_format``)."""
    rec, v = item.record, item.version
    def day(partial: str) -> str:
        return partial.replace("-", date_format[2]) if len(date_format) > 2 else partial
    updated = f", last update posted {day(rec.last_update_posted)}" \
        if rec.last_update_posted else ""
    return (f"Version exported: {v.number} from {v.source}{updated}, retrieved "
            f"{as_utc(v.seen_at).strftime(date_format)}, sha256 {v.content_hash}, "
            f"{version_url(v)}")


def terms(rec: TrialRecord) -> list[str]:
    """The conditions, then the keywords not already given (any case)."""
    seen: dict[str, str] = {}
    for term in (*rec.conditions, *rec.keywords):
        seen.setdefault(term.casefold(), term)
    return list(seen.values())
