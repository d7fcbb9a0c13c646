"""Split free-text eligibility criteria into single inclusion and exclusion criteria.

One splitter serves every source, because they share the conventions: API v2's markdown
(``* item``, ``1. item``, nested items indented under their parent, backslash escapes), the
classic XML textblock (items wrapped at 80 columns with hanging indents) and mirror pages'
bullets (``•``).

Rules, chosen so that a criterion is one condition a patient meets or fails:

* A short line that is not a list item and names inclusion or exclusion criteria (``Key
  Inclusion Criteria:``, ``Exclusion Criteria``, ``Additional Inclusion Criteria for …:``)
  starts a section; ``Eligibility criteria:`` counts as inclusion.  Text before the first
  heading is a preamble (``For more information …``) unless there is no heading at all, when
  it is the inclusion criteria.
* In a section with list items, each top-level item is one criterion; its wrapped lines and
  its nested items belong to it.  Paragraphs that are not items (preambles such as ``For
  adolescent participants:``, trailing disclaimers) are not criteria; they stay in the full text.
* In a section without list items, each paragraph is a criterion, except lead-ins ending with
  ``:`` and bare connectives (``OR``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_MARKER = re.compile(
    r"^(?P<indent>[ \t]*)"
    r"(?:[*•·▪◦+]\s*|-\s*(?=\S)|o\s+|\(?\d{1,3}[.)]\s+|\(?[a-zA-Z][.)]\s+|\(?[ivx]{1,4}[.)]\s+)"
    r"(?P<text>\S.*)$"
)
_HEADING = re.compile(r"\b(?P<kind>inclusion|exclusion|eligibility)\b", re.IGNORECASE)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|&^~=])")
_CONNECTIVES = {"or", "and", "and/or", "-", ""}
_LONGEST_CONNECTIVE = max(map(len, _CONNECTIVES))  # lower() never shortens a text


@dataclass(slots=True)
class _Item:
    indent: int
    lines: list[str]
    children: list[str] = field(default_factory=list)

    def text(self) -> str:
        head = _clean(" ".join(self.lines))
        subs = [f"- {c}" for c in self.children if c]
        return "\n".join([head, *subs]) if subs else head


@dataclass(slots=True)
class _Section:
    kind: str
    items: list[_Item] = field(default_factory=list)
    paragraphs: list[list[str]] = field(default_factory=list)

    def criteria(self) -> list[str]:
        if self.items:
            found = [item.text() for item in self.items]
        else:
            found = [_clean(" ".join(p)) for p in self.paragraphs]
            found = [t for t in found if not t.endswith(":")]
        return [t for t in found if not _connective(t)]


def _connective(text: str) -> bool:
    # stripped first: a connective is short, and most criteria are long (lower() costs)
    bare = text.strip(".;,")
    return len(bare) <= _LONGEST_CONNECTIVE and bare.lower() in _CONNECTIVES


def _clean(text: str) -> str:
    # The cheap tests first: most lines have no escapes and no bold markers.
    if "\\" in text:
        text = _ESCAPE.sub(r"\1", text)
    if "**" in text:
        text = text.replace("**", "")
    # Already clean, checked in C: a printable text has no whitespace but the plain space
    # (every other character str.split() splits at is unprintable), so single spaces inside
    # and none at the ends is what splitting and joining would give.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def _heading_kind(line: str) -> str | None:
    if len(line) > 200:
        return None
    low = line.lower()
    if "clusion" not in low and "eligib" not in low:
        return None
    text = _clean(line)
    if not text or len(text) > 100:
        return None
    match = _HEADING.search(text)
    if match is None:
        return None
    if not (text.endswith(":") or re.search(r"\bcriteri(a|on)\b", text, re.IGNORECASE)):
        return None
    kind = match.group("kind").lower()
    return "exclusion" if kind == "exclusion" else "inclusion"


def _indent(line: str) -> int:
    if not line[:1].isspace():
        return 0
    wide = line.expandtabs(4)
    return len(wide) - len(wide.lstrip())


def split_criteria(text: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (inclusion, exclusion) criteria of an eligibility text, one criterion each."""
    if not text or not text.strip():
        return (), ()
    sections = [_Section("preamble")]
    current_item: _Item | None = None
    paragraph: list[str] | None = None
    blank_before = True
    for raw in text.replace("\r\n", "\n").split("\n"):
        if not raw or raw.isspace():
            blank_before, paragraph = True, None
            continue
        section = sections[-1]
        marker = _MARKER.match(raw)
        kind = None if marker else _heading_kind(raw)
        if kind is not None:
            sections.append(_Section(kind))
            current_item, paragraph = None, None
        elif marker:
            indent = _indent(raw)
            top = section.items[0].indent if section.items else indent
            if section.items and indent > top and current_item is not None:
                current_item.children.append(_clean(marker.group("text")))
            else:
                current_item = _Item(indent, [marker.group("text")])
                section.items.append(current_item)
            paragraph = None
        elif current_item is not None and (not blank_before or _indent(raw) > current_item.indent):
            _continue(current_item, raw)
        else:
            current_item = None
            if paragraph is None:
                paragraph = []
                section.paragraphs.append(paragraph)
            paragraph.append(raw.strip())
        blank_before = False
    if len(sections) == 1:
        sections[0].kind = "inclusion"
    inclusion = [c for s in sections if s.kind == "inclusion" for c in s.criteria()]
    exclusion = [c for s in sections if s.kind == "exclusion" for c in s.criteria()]
    return tuple(inclusion), tuple(exclusion)


def _continue(item: _Item, line: str) -> None:
    if item.children:
        item.children[-1] = f"{item.children[-1]} {_clean(line)}"
    else:
        item.lines.append(line.strip())
