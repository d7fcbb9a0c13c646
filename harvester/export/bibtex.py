"""BibTeX: one ``@misc`` entry per trial, for LaTeX (BibTeX and biblatex), Pandoc and
JabRef.

``@misc`` because every style knows it; the fields are those both BibTeX's standard styles
and biblatex read.  The key is the NCT id.  Each entry cites the version exported, like the
RIS reference:

- ``author`` the lead sponsor in double braces (a corporate name, never split into first
  and last names); ``title`` in double braces (its capitals kept); ``shorttitle`` the acronym;
- ``year``/``month``/``date`` first posted; ``urldate`` the retrieval date of the version;
  ``version`` its last update posted;
- ``howpublished`` and ``organization`` the registry; ``publisher``/``address`` its
  publisher (National Library of Medicine (US), Bethesda (MD)); ``number`` and ``eprint``
  the NCT id (``eprinttype = {ClinicalTrials.gov}``); ``url`` the record's page;
- ``keywords``, ``abstract``; ``note`` the registry ids (EudraCT, ISRCTN…), primary
  outcomes, publications' PMIDs and the version exported (number, sha256, its page).

Text is escaped for LaTeX (``& % $ # _ { } ~ ^ \\``), with control characters removed and
line breaks joined; Unicode stays as it is (UTF-8: biblatex and Pandoc read it, and
``\\usepackage[utf8]{inputenc}`` is the default of LaTeX since 2018).
"""

from __future__ import annotations

import re
from typing import ClassVar

from harvester.export.base import ExportItem, ItemByItem, clean_text
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

_BREAKS = re.compile(r"\s*[\r\n\t\v\f\x85\u2028\u2029]+\s*")
_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\textbraceleft{}", "}": r"\textbraceright{}",
            "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}"}
_ESCAPE = re.compile("|".join(re.escape(c) for c in _SPECIAL))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def latex(text: str) -> str:
    """Plain text as a LaTeX-safe one-line value."""
    one = _BREAKS.sub(" ", clean_text(text)).strip()
    return _ESCAPE.sub(lambda m: _SPECIAL[m.group()], one)


def fields(item: ExportItem) -> list[tuple[str, str]]:
    """The (field, already braced value) pairs of one entry."""
    rec, v = item.record, item.version
    out: list[tuple[str, str]] = []

    def add(name: str, value: str | None, *, protect: bool = False) -> None:
        if value and latex(value):
            out.append((name, "{{" + latex(value) + "}}" if protect else "{" + latex(value)
                        + "}"))

    if rec.lead_sponsor:
        add("author", rec.lead_sponsor.name, protect=True)
    add("title", title_of(rec), protect=True)
    add("shorttitle", rec.acronym)
    registered = rec.first_posted or rec.first_submitted
    if registered:
        add("year", registered[:4])
        if len(registered) >= 7:
            out.append(("month", _MONTHS[int(registered[5:7]) - 1]))
        add("date", registered)
    add("urldate", f"{as_utc(v.seen_at):%Y-%m-%d}")
    add("version", rec.last_update_posted)
    add("howpublished", DATABASE)
    add("organization", DATABASE)
    add("publisher", PUBLISHER)
    add("address", PLACE)
    add("number", rec.nct_id)
    add("eprint", rec.nct_id)
    add("eprinttype", DATABASE)
    add("url", REGISTRY_URL.format(nct_id=rec.nct_id))
    add("keywords", ", ".join(terms(rec)))
    add("abstract", rec.brief_summary)
    notes = []
    if rec.official_title and rec.official_title != title_of(rec):
        notes.append(f"Official title: {rec.official_title}")
    notes.append(f"Registry identifiers: {labelled_ids(rec)}")
    outcomes = primary_outcomes(rec)
    if outcomes:
        notes.append("Primary outcomes: " + "; ".join(outcomes))
    pmids = pubmed_ids(rec)
    if pmids:
        notes.append("Publications (PubMed): " + ", ".join(f"PMID {p}" for p in pmids))
    notes.append(version_note(item))
    add("note", ". ".join(n.rstrip(".") for n in notes) + ".")
    return out


def render(item: ExportItem) -> bytes:
    body = ",\n".join(f"  {name} = {value}" for name, value in fields(item))
    return f"@misc{{{item.record.nct_id},\n{body}\n}}\n\n".encode()


class BibtexExporter(ItemByItem):
    name: ClassVar[str] = "bibtex"
    suffix: ClassVar[str] = ".bib"
    description: ClassVar[str] = "BibTeX @misc entries for LaTeX, biblatex and Pandoc"

    def render(self, item: ExportItem) -> bytes:
        return render(item)
