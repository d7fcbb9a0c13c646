"""RIS: one reference per trial, for reference managers (Zotero, EndNote) and screening tools
(Rayyan, Covidence, ASReview).

Each reference cites one *version* of a registry record, and the same version always gives
the same bytes (no clock: the access date is when that version was retrieved).  Tags, in
order (the 2011 RIS specification's meanings, which rispy, EndNote and Zotero share):

====  =======================================================================================
TY    ``DBASE`` (online database): Zotero 6.0.24+ imports it as a *Dataset*, which keeps the
      archive (DB) and accession number (AN) that a web page (``ELEC``) would drop; EndNote
      as *Online Database*
TI    brief title (else the official title, else the NCT id)
T2    official title, when it differs
ST    acronym (a short title)
AU    lead sponsor, a corporate author: ``Name,`` (EndNote's rule — a trailing comma keeps a
      name whole, and Zotero makes a name with nothing after its comma a single-field name);
      a comma inside the name is doubled, as EndNote asks for layered corporate names
A4    each collaborator, the same way (Zotero: contributor; EndNote: subsidiary author)
PY    year first posted (registration)
DA    date first posted, ``YYYY/MM/DD`` (partial dates stay partial)
ET    last update posted, the registry's date of this version
DB    ``ClinicalTrials.gov``
AN    the NCT id (accession number)
UR    the record's page, then the page of this exact version in the record history
Y2    retrieval date: when this version was retrieved into the catalogue (access date)
KW    each condition, then each keyword not already given
AB    brief summary, as one line
N1    status, phases, study type, last update, and the version exported (number, source,
      content hash)
ER    end of reference
====  =======================================================================================

Lines are ``TAG  - value`` with CRLF endings, in UTF-8 without a byte-order mark; a value is
one line (a line break, with the spaces around it, becomes one space), with control characters
removed; an empty value is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from harvester.export.base import ExportItem, ItemByItem, clean_text
from harvester.export.log import as_utc, version_url
from harvester.export.rows import REGISTRY_URL
from harvester.records import TrialRecord

_BREAKS = re.compile(r"\s*[\r\n\t\v\f\x85\u2028\u2029]+\s*")


def one_line(text: str) -> str:
    """A value as one RIS line: control characters removed, line breaks joined."""
    return _BREAKS.sub(" ", clean_text(text)).strip()


def corporate(name: str) -> str:
    """A corporate author as EndNote and Zotero keep it whole: ``"Name,"``."""
    return one_line(name).replace(",", ",,") + ","


def ris_date(partial: str) -> str:
    """``2007-11-14`` → ``2007/11/14`` (``2007-11`` → ``2007/11``)."""
    return partial.replace("-", "/")


def reference(item: ExportItem) -> Iterator[tuple[str, str]]:
    """The (tag, value) pairs of one trial's reference, TY first (ER is :func:`render`'s)."""
    rec: TrialRecord = item.record
    v = item.version
    title = rec.brief_title or rec.official_title or rec.nct_id
    yield "TY", "DBASE"
    yield "TI", title
    if rec.official_title and rec.official_title != title:
        yield "T2", rec.official_title
    if rec.acronym:
        yield "ST", rec.acronym
    for tag, sponsors in (("AU", (rec.lead_sponsor,)), ("A4", rec.collaborators)):
        for sponsor in sponsors:
            if sponsor and one_line(sponsor.name):
                yield tag, corporate(sponsor.name)
    registered = rec.first_posted or rec.first_submitted
    if registered:
        yield "PY", registered[:4]
        yield "DA", ris_date(registered)
    if rec.last_update_posted:
        yield "ET", rec.last_update_posted
    yield "DB", "ClinicalTrials.gov"
    yield "AN", rec.nct_id
    yield "UR", REGISTRY_URL.format(nct_id=rec.nct_id)
    yield "UR", version_url(v)
    yield "Y2", as_utc(v.seen_at).strftime("%Y/%m/%d")
    seen: set[str] = set()
    for term in (*rec.conditions, *rec.keywords):
        if term.casefold() not in seen:
            seen.add(term.casefold())
            yield "KW", term
    if rec.brief_summary:
        yield "AB", rec.brief_summary
    yield "N1", _note(item)


def _note(item: ExportItem) -> str:
    rec, v = item.record, item.version
    parts = [f"Status: {rec.overall_status}" if rec.overall_status else None,
             f"Phase: {'/'.join(map(str, rec.phases))}" if rec.phases else None,
             f"Study type: {rec.study_type}" if rec.study_type else None,
             f"Last update posted: {rec.last_update_posted}" if rec.last_update_posted else None,
             f"Version {v.number} from {v.source}, retrieved "
             f"{as_utc(v.seen_at):%Y-%m-%d}, sha256 {v.content_hash}"]
    return ". ".join(p for p in parts if p) + "."


def render(item: ExportItem) -> bytes:
    """One reference as RIS bytes (ending with a blank line)."""
    lines = [f"{tag}  - {text}" for tag, value in reference(item) if (text := one_line(value))]
    return ("\r\n".join([*lines, "ER  - "]) + "\r\n\r\n").encode()


class RisExporter(ItemByItem):
    name: ClassVar[str] = "ris"
    suffix: ClassVar[str] = ".ris"
    description: ClassVar[str] = "one reference per trial for Zotero, EndNote, Rayyan"

    def render(self, item: ExportItem) -> bytes:
        return render(item)
