"""ClinicalTrials.Veeva study page (saved HTML or its visible text) → :class:`TrialRecord`.

The page is read as a sequence of labelled blocks of visible lines ("Status", "Conditions",
"Identifiers" …), never through CSS class names: the site restyles freely, and a copied text
and the saved HTML must give the same record.  Only what the page shows is recorded; it does
not say whether enrollment is actual or estimated, nor show phases, ages, dates or the
location list (that loads later: only the count is on the page), so those stay empty.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag
from pydantic import ValidationError

from harvester import records as r
from harvester.errors import ParseError, UnknownVocabularyWarning
from parsers import _vocab as v
from parsers._text import plain
from parsers._validation import validation_error

Blocks = dict[str, list[str]]

# visible label line (lower case) → block key; headings without data end the block before
_LABELS: dict[str, str] = {
    "status": "status", "conditions": "conditions", "treatments": "treatments",
    "study type": "study_type", "funder types": "funder_types", "identifiers": "identifiers",
    "details and patient eligibility": "-", "about": "about",
    "full description": "full_description", "enrollment": "enrollment", "sex": "sex",
    "volunteers": "volunteers", "inclusion criteria": "inclusion",
    "exclusion criteria": "exclusion", "trial design": "-", "primary purpose": "purpose",
    "allocation": "allocation", "interventional model": "model", "masking": "masking",
    "trial contacts and locations": "locations", "data sourced from clinicaltrials.gov": "-",
}
_ARMS_HEADING = re.compile(r"^[\d,]+ participants? in \d+ (?:patient )?groups?$", re.I)
_NCT = re.compile(r"^NCT\d{8}$")
_AVATAR = re.compile(r"^[A-Z0-9]{1,2}$")  # sponsor avatar initials
_BULLET = re.compile(r"^[•◦▪·*\-–]\s+")  # a bullet, not a minus sign
_COUNT = re.compile(r"^([\d,]+)\b")
_ARM_FIELDS = {"description:": "description", "treatment:": "treatment",
               "treatments:": "treatment"}

_SKIP_TAGS = frozenset({"head", "title", "script", "style", "noscript", "template"})
# Elements that start a new line of visible text; everything else is inline.
_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "details", "dialog", "div", "dl",
    "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
    "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
    "tbody", "thead", "tfoot", "tr", "td", "th", "ul",
})
_BRANDS = (b"clinicaltrials.veeva", b"ctv.veeva.com")
_STRUCTURE = (b"identifiers", b"patient group", b"trial contacts and locations")


def looks_like_veeva(data: bytes) -> bool:
    """Whether ``data`` looks like a ClinicalTrials.Veeva study page (HTML or text)."""
    head = data.lstrip()[:1]
    if head in (b"{", b"["):  # JSON may quote anything, even the brand
        return False
    low = data.lower()
    return any(b in low for b in _BRANDS) and any(s in low for s in _STRUCTURE)


def parse(data: bytes) -> r.TrialRecord:
    """A Veeva study page → record (``source="veeva"``); anything else raises ParseError."""
    try:
        blocks = _blocks(_lines(data))
        nct_id = _nct_id(blocks)
        fields = _record_fields(blocks, nct_id)
    except (ParseError, Warning):
        raise
    except Exception as exc:  # a library failing on garbage must not escape as itself
        raise ParseError(f"unreadable Veeva page ({type(exc).__name__}: {exc})") from None
    try:
        return r.TrialRecord(nct_id=nct_id, source="veeva", **fields)
    except ValidationError as exc:
        raise validation_error(exc, record=nct_id) from None


# --- visible lines -------------------------------------------------------------------------

def _lines(data: bytes) -> list[str]:
    if data.lstrip()[:1] == b"<":
        raw = _html_lines(data)
    else:
        try:
            raw = data.decode("utf-8-sig").splitlines()
        except UnicodeDecodeError:
            raise ParseError("neither HTML nor UTF-8 text") from None
    # collapse runs of spaces as a browser does, so HTML and copied text agree
    lines = [" ".join(line.split()) for line in raw]
    return [line for line in lines if line]


def _html_lines(data: bytes) -> list[str]:
    with warnings.catch_warnings():  # bs4's "looks like XML/a URL" hints are not our concern
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(data, "lxml")
    lines: list[str] = []
    buf: list[str] = []
    flush = object()
    # iterative walk: deeply nested markup must not hit the recursion limit
    todo: list[object] = list(reversed(soup.contents))
    while todo:
        node = todo.pop()
        if node is flush:
            lines.append("".join(buf))
            buf.clear()
        elif isinstance(node, Tag) and node.name not in _SKIP_TAGS:
            if node.name in _BLOCK_TAGS:
                lines.append("".join(buf))
                buf.clear()
                todo.append(flush)
            todo.extend(reversed(node.contents))
        elif type(node) is NavigableString:  # not Comment, Doctype, CData …
            buf.append(str(node))
    lines.append("".join(buf))
    return lines


# --- labelled blocks -----------------------------------------------------------------------

def _blocks(lines: list[str]) -> Blocks:
    """Lines grouped under their label; ``header`` is what precedes the first label."""
    blocks: Blocks = {"header": []}
    current = "header"
    for line in lines:
        key = "arms" if _ARMS_HEADING.match(line) else _LABELS.get(line.lower())
        if key is not None:
            current = key
            blocks.setdefault(key, [])
        else:
            blocks[current].append(line)
    blocks.pop("-", None)
    # the title follows the site's "Menu" button; a copy without the nav may still hold the brand
    header = blocks["header"]
    menu = next((i + 1 for i, line in enumerate(header) if line.lower() == "menu"), 0)
    blocks["header"] = [line for line in header[menu:] if line.lower() != "clinicaltrials.veeva"]
    if "identifiers" not in blocks or len(blocks) < 4:
        raise ParseError("not a ClinicalTrials.Veeva study page (no labelled study blocks)",
                         field="identifiers")
    return blocks


def _nct_id(blocks: Blocks) -> str:
    ids = [i for i in blocks["identifiers"] if _NCT.match(i)]
    if not ids:
        raise ParseError("no NCT id on the page", field="nct_id")
    return ids[0]


def _first(blocks: Blocks, key: str) -> str | None:
    return next(iter(blocks.get(key, [])), None)


def _prose(blocks: Blocks, key: str) -> str | None:
    return plain("\n\n".join(blocks.get(key, [])))


def _record_fields(blocks: Blocks, nct_id: str) -> dict[str, object]:
    other_ids = [i for i in blocks["identifiers"] if i != nct_id]
    arms = _arms(blocks.get("arms", []))
    return {
        "org_study_id": next(iter(other_ids), None),
        "secondary_ids": tuple(other_ids[1:]),
        **_header(blocks),
        "overall_status": v.enum_value(r.Status, _first(blocks, "status"),
                                       field="overall_status"),
        "conditions": tuple(blocks.get("conditions", [])),
        "study_type": v.enum_value(r.StudyType, _first(blocks, "study_type"), field="study_type"),
        "enrollment": _enrollment(_first(blocks, "enrollment")),
        "eligibility": _eligibility(blocks),
        "primary_purpose": v.enum_value(r.PrimaryPurpose, _first(blocks, "purpose"),
                                        field="primary_purpose"),
        "allocation": v.enum_value(r.DesignAllocation, _first(blocks, "allocation"),
                                   field="allocation"),
        "intervention_model": v.enum_value(r.InterventionalAssignment, _first(blocks, "model"),
                                           field="intervention_model"),
        "masking": v.enum_value(r.DesignMasking, _first(blocks, "masking"), field="masking"),
        "arms": arms,
        "interventions": _interventions(blocks.get("treatments", []), arms),
        "location_count": _location_count(blocks.get("locations", [])),
        "brief_summary": _prose(blocks, "about"),
        "detailed_description": _prose(blocks, "full_description"),
    }


def _header(blocks: Blocks) -> dict[str, object]:
    header = blocks["header"]
    rest = header[1:]
    # the sponsor name follows its avatar initial; a short line with nothing after it is a
    # name ("3M"), not an initial
    names = [line for i, line in enumerate(rest)
             if not (_AVATAR.match(line) and i + 1 < len(rest))]
    sponsor = None
    if names:
        agency = v.enum_value(r.AgencyClass, _first(blocks, "funder_types"),
                              field="lead_sponsor.class")
        sponsor = r.Sponsor(name=names[0], agency_class=agency)
    return {"brief_title": next(iter(header), None), "lead_sponsor": sponsor}


def _enrollment(text: str | None) -> r.Enrollment | None:
    match = _COUNT.match(text or "")
    if match is None:
        return None
    return r.Enrollment(count=int(match.group(1).replace(",", "")))


def _location_count(lines: list[str]) -> int:
    return next((int(line.replace(",", "")) for line in lines
                 if re.fullmatch(r"[\d,]+", line)), 0)


# --- eligibility ---------------------------------------------------------------------------

def _eligibility(blocks: Blocks) -> r.Eligibility:
    inclusion = tuple(_BULLET.sub("", line) for line in blocks.get("inclusion", []))
    exclusion = tuple(_BULLET.sub("", line) for line in blocks.get("exclusion", []))
    volunteers = _first(blocks, "volunteers")
    healthy = v.yes_no(volunteers)
    if volunteers is not None and healthy is None:
        warnings.warn(f"eligibility.healthy_volunteers: {volunteers!r} not understood; dropped",
                      UnknownVocabularyWarning, stacklevel=2)
    return r.Eligibility(
        criteria=_criteria_text(inclusion, exclusion),
        inclusion=inclusion,
        exclusion=exclusion,
        sex=v.enum_value(r.Sex, _first(blocks, "sex"), field="eligibility.sex"),
        healthy_volunteers=healthy,
    )


def _criteria_text(inclusion: Sequence[str], exclusion: Sequence[str]) -> str | None:
    """The criteria rebuilt in API v2's markdown shape, from the page's two lists."""
    parts = [f"{title}:\n\n" + "\n".join(f"* {c}" for c in items)
             for title, items in (("Inclusion Criteria", inclusion),
                                  ("Exclusion Criteria", exclusion)) if items]
    return "\n\n".join(parts) or None


# --- arms and interventions ----------------------------------------------------------------

def _arm_starts(lines: list[str]) -> list[int]:
    """Where arm cards begin: a label line followed by an "… group" type line.

    A description such as "Surgery group" follows "Description:", which is no arm label.
    """
    return [i for i in range(len(lines) - 1)
            if lines[i].lower() not in _ARM_FIELDS and lines[i + 1].lower().endswith(" group")
            and (i + 2 == len(lines) or lines[i + 2].lower() in _ARM_FIELDS)]


def _arms(lines: list[str]) -> tuple[r.Arm, ...]:
    starts = _arm_starts(lines)
    return tuple(_arm(lines[a:b]) for a, b in zip(starts, [*starts[1:], len(lines)], strict=True))


def _arm(card: list[str]) -> r.Arm:
    parts: dict[str, list[str]] = {"description": [], "treatment": []}
    current: list[str] = []
    for line in card[2:]:
        field = _ARM_FIELDS.get(line.lower())
        if field is not None:
            current = parts[field]
        else:
            current.append(line)
    kind = re.sub(r"\s+group$", "", card[1], flags=re.I)
    return r.Arm(
        label=card[0],
        type=v.enum_value(r.ArmGroupType, kind, field="arms.type"),
        description=plain("\n\n".join(parts["description"])),
        interventions=tuple(parts["treatment"]),
    )


def _interventions(lines: list[str], arms: Sequence[r.Arm]) -> tuple[r.Intervention, ...]:
    """Interventions from "Type: Name" lines; arms name them the same way."""
    out = []
    for line in lines:
        kind, sep, name = line.partition(": ")
        out.append(r.Intervention(
            type=v.enum_value(r.InterventionType, kind, field="interventions.type")
            if sep else None,
            name=name.strip() if sep else line,
            arm_labels=tuple(arm.label for arm in arms if line in arm.interventions),
        ))
    return tuple(out)
