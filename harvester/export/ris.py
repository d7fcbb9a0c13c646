"""RIS: one reference per trial, for reference managers (Zotero, EndNote, Mendeley) and
screening tools (Rayyan, Covidence, ASReview).

Each reference cites one *version* of a registry record, and the same version always gives
the same bytes (no clock: the access date is when that version was retrieved).  Which tag
carries what is :data:`TAGS`, decided from the tools' documented import mappings (Zotero's
RIS translator, EndNote's RIS reference-type table, Rayyan's RIS reader) so that every value
lands in a field and none turns into a stray note:

- ``TY  - DBASE``: Zotero (6.0.24+) imports it as a *Dataset*, EndNote as *Online Database*.
- Corporate authors are written ``Name,`` with any comma *inside* the name removed
  (``Millennium Pharmaceuticals, Inc.`` → ``Millennium Pharmaceuticals Inc.,``): Zotero
  splits a creator at its first comma and makes a name with nothing after it a single-field
  (corporate) name; EndNote keeps a name with a trailing comma whole; no tool splits it.
- One ``UR`` (the record's page): Zotero keeps one URL and turns a second into a note.  The
  page of the exact version exported goes in the version note (``N1``), which every tool keeps.
- Dates are ``YYYY/MM/DD`` (partial dates stay partial: ``2007/11``) in every tag.
- The official title has no field in a dataset or database reference (Zotero drops ``T2``):
  it is a note.
- Every registry id of the trial — NCT id, its aliases, EudraCT/EU CT, ISRCTN and the others
  the registry lists — is in ``SN`` (the standard-number field that deduplication in EndNote,
  ASySD and the SR-Accelerator Deduplicator compares) and in a note; the NCT id is also the
  accession number (``AN``).

Lines are ``TAG  - value`` with CRLF endings, in UTF-8 without a byte-order mark; a value is
one line (a line break, with the spaces around it, becomes one space), with control characters
removed; an empty value is left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from harvester.export.base import ExportItem, ItemByItem, clean_text
from harvester.export.citation import (
    PLACE,
    PUBLISHER,
    labelled_ids,
    primary_outcomes,
    pubmed_ids,
    registry_ids,
    version_note,
)
from harvester.export.log import as_utc
from harvester.export.rows import REGISTRY_URL
from harvester.records import TrialRecord

_BREAKS = re.compile(r"\s*[\r\n\t\v\f\x85\u2028\u2029]+\s*")
_COMMAS = re.compile(r"\s*,+\s*")


@dataclass(frozen=True)
class Tag:
    """One RIS tag of the export: what it holds and where each tool puts it."""

    tag: str
    holds: str
    zotero: str  # Zotero's Dataset field
    endnote: str  # EndNote's Online Database field
    rayyan: str  # what Rayyan (and most screening tools) read it as


#: The tags written, in order (ER ends each reference).  The README's mapping table is
#: :func:`mapping_table`, and a test checks the two agree.
TAGS: tuple[Tag, ...] = (
    Tag("TY", "`DBASE`", "item type Dataset", "Online Database", "type"),
    Tag("TI", "brief title (else official title, else NCT id)", "Title", "Title", "title"),
    Tag("ST", "acronym", "Short Title", "Short Title", "—"),
    Tag("AU", "lead sponsor, as a corporate author `Name,`", "Author (single field)",
        "Author (corporate)", "authors"),
    Tag("A4", "each collaborator, the same way", "Contributor (single field)",
        "Subsidiary Author", "—"),
    Tag("PY", "year first posted", "Date (year, if no DA)", "Year", "year"),
    Tag("DA", "date first posted, `YYYY/MM/DD`", "Date", "Date", "date"),
    Tag("ET", "last update posted of this version, `YYYY/MM/DD`", "Version", "Edition",
        "—"),
    Tag("PB", f"`{PUBLISHER}`", "Repository", "Publisher", "publisher"),
    Tag("CY", f"`{PLACE}`", "Repository Location", "Place Published", "—"),
    Tag("DB", "`ClinicalTrials.gov`", "Archive", "Name of Database", "—"),
    Tag("AN", "NCT id", "Loc. in Archive", "Accession Number", "accession number"),
    Tag("SN", "every registry id: NCT id, aliases, EudraCT/EU CT, ISRCTN, … (`; `-joined)",
        "note", "ISBN/ISSN", "ISSN (deduplication)"),
    Tag("UR", "the record's page", "URL", "URL", "url"),
    Tag("Y2", "retrieval date of this version, `YYYY/MM/DD`", "Accessed", "Access Date",
        "—"),
    Tag("KW", "each condition, then each keyword not already given", "Tags", "Keywords",
        "keywords"),
    Tag("AB", "brief summary, one line", "Abstract", "Abstract", "abstract"),
    Tag("N1", "notes: official title; status, phase, study type; registry ids; primary "
        "outcomes; secondary outcomes; publications (PMIDs); the version exported (number, "
        "source, dates, sha256, its page)", "Notes (one each)", "Notes", "notes"),
)


def mapping_table() -> str:
    """:data:`TAGS` as the Markdown table the README shows."""
    lines = ["| tag | holds | Zotero (Dataset) | EndNote (Online Database) | Rayyan |",
             "|---|---|---|---|---|"]
    lines += [f"| `{t.tag}` | {t.holds} | {t.zotero} | {t.endnote} | {t.rayyan} |"
              for t in TAGS]
    return "\n".join(lines)


def one_line(text: str) -> str:
    """A value as one RIS line: control characters removed, line breaks joined."""
    return _BREAKS.sub(" ", clean_text(text)).strip()


def corporate(name: str) -> str:
    """A corporate author no tool splits: its commas removed, one trailing comma added."""
    return _COMMAS.sub(" ", one_line(name)).strip() + ","


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
    if rec.acronym:
        yield "ST", rec.acronym
    for tag, sponsors in (("AU", (rec.lead_sponsor,)), ("A4", rec.collaborators)):
        for sponsor in sponsors:
            if sponsor and corporate(sponsor.name) != ",":
                yield tag, corporate(sponsor.name)
    registered = rec.first_posted or rec.first_submitted
    if registered:
        yield "PY", registered[:4]
        yield "DA", ris_date(registered)
    if rec.last_update_posted:
        yield "ET", ris_date(rec.last_update_posted)
    yield "PB", PUBLISHER
    yield "CY", PLACE
    yield "DB", "ClinicalTrials.gov"
    yield "AN", rec.nct_id
    yield "SN", "; ".join(registry_ids(rec))
    yield "UR", REGISTRY_URL.format(nct_id=rec.nct_id)
    yield "Y2", as_utc(v.seen_at).strftime("%Y/%m/%d")
    seen: set[str] = set()
    for term in (*rec.conditions, *rec.keywords):
        if term.casefold() not in seen:
            seen.add(term.casefold())
            yield "KW", term
    if rec.brief_summary:
        yield "AB", rec.brief_summary
    for note in notes(item):
        yield "N1", note


def notes(item: ExportItem) -> list[str]:
    """The notes of a reference: what has no field of its own in a dataset reference."""
    rec = item.record
    title = rec.brief_title or rec.official_title or rec.nct_id
    out = []
    if rec.official_title and rec.official_title != title:
        out.append(f"Official title: {rec.official_title}")
    parts = [f"Status: {rec.overall_status}" if rec.overall_status else None,
             f"Phase: {'/'.join(map(str, rec.phases))}" if rec.phases else None,
             f"Study type: {rec.study_type}" if rec.study_type else None]
    if any(parts):
        out.append(". ".join(p for p in parts if p) + ".")
    out.append(f"Registry identifiers: {labelled_ids(rec)}")
    outcomes = primary_outcomes(rec)
    if outcomes:
        out.append("Primary outcomes: " + "; ".join(outcomes))
    secondary = primary_outcomes(rec, "SECONDARY")
    if secondary:
        out.append("Secondary outcomes: " + "; ".join(secondary))
    pmids = pubmed_ids(rec)
    if pmids:
        out.append("Publications (PubMed): " + ", ".join(f"PMID {p}" for p in pmids))
    out.append(version_note(item, "%Y/%m/%d"))
    return out


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
