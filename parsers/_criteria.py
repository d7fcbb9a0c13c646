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
from itertools import repeat

# One match per non-blank line of the whole text (``re.M``: ``^`` and ``$`` at each line), in
# C: a list item (``indent``, marker, ``text``) or any other line (``line``).  The marker is
# tried first, as the rules read a line; ``[^\S\n]`` is ``\s`` within one line.
_LINE = re.compile(
    r"^(?:(?P<indent>[ \t]*)"
    r"(?:[*•·▪◦+][^\S\n]*|-[^\S\n]*(?=\S)|o[^\S\n]+|\(?\d{1,3}[.)][^\S\n]+"
    r"|\(?[a-zA-Z][.)][^\S\n]+|\(?[ivx]{1,4}[.)][^\S\n]+)"
    r"(?P<text>\S.*)|(?P<line>[^\S\n]*\S.*))$",
    re.MULTILINE,
)
_HEADING = re.compile(r"\b(?P<kind>inclusion|exclusion|eligibility)\b", re.IGNORECASE)
_CRITERIA_WORD = re.compile(r"\bcriteri(a|on)\b", re.IGNORECASE)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|&^~=])")
_CONNECTIVES = {"or", "and", "and/or", "-", ""}
_LONGEST_CONNECTIVE = max(map(len, _CONNECTIVES))  # lower() never shortens a text


def _item_text(head: str, more: tuple[list[str], list[str]] | None) -> str:
    """One item's criterion: its first line and wrapped lines (stripped, joined by spaces),
    then its nested items' texts."""
    if more is None:
        return _clean(head)
    lines, children = more
    head = _clean(" ".join([head, *lines]))
    subs = [f"- {c}" for c in children if c]
    return "\n".join([head, *subs]) if subs else head


def _clean_all(texts: list[str]) -> list[str]:
    """:func:`_clean` of each text; checked at once (in C) where all are clean already, as
    most are: joined by a printable separator that makes no false "clean"."""
    joined = "|".join(texts)
    if (joined.isprintable() and "\\" not in joined and "**" not in joined
            and "  " not in joined and " |" not in joined and "| " not in joined
            and joined[:1] != " " and joined[-1:] != " "):
        return texts
    return list(map(_clean, texts))


def _criteria(section: _Section) -> list[str]:
    heads, more = section.heads, section.more
    if heads:
        if more:
            found = [_item_text(head, more.get(i)) for i, head in enumerate(heads)]
        else:
            found = _clean_all(heads)
    else:
        found = [_clean(" ".join(p)) for p in section.paragraphs]
        found = [t for t in found if not t.endswith(":")]
    # none is short enough to be a connective (the common case), measured in C
    if not found or min(map(len, map(str.strip, found, repeat(".;,")))) > _LONGEST_CONNECTIVE:
        return found
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
    if not (text.endswith(":") or _CRITERIA_WORD.search(text)):
        return None
    kind = match.group("kind").lower()
    return "exclusion" if kind == "exclusion" else "inclusion"


def _indent(line: str) -> int:
    if not line[:1].isspace():
        return 0
    wide = line.expandtabs(4)
    return len(wide) - len(wide.lstrip())


class _Section:
    """A section's items, as parallel lists (cheaper to grow than an object per item): each
    item's first line and indent; its wrapped lines and nested items' texts, for the few
    items that have them, in ``more`` by index; and the paragraphs that are not items."""

    __slots__ = ("heads", "indents", "kind", "more", "paragraphs")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.heads: list[str] = []
        self.indents: list[int] = []
        self.more: dict[int, tuple[list[str], list[str]]] = {}
        self.paragraphs: list[list[str]] = []


def split_criteria(text: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (inclusion, exclusion) criteria of an eligibility text, one criterion each."""
    if not text or not text.strip():
        return (), ()
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    section = _Section("preamble")
    sections = [section]
    heads, indents = section.heads, section.indents
    current = -1  # the index of the item a line may continue (none: -1)
    paragraph: list[str] | None = None
    end = -2  # where the last non-blank line ended: a line starting just after is adjacent
    for match in _LINE.finditer(text):
        start, stop = match.span()
        blank_before = start != end + 1
        end = stop
        indent, item_text, raw = match.groups()
        if item_text is not None:
            # the marker is no whitespace: the indent is the line's, as _indent measures it
            width = len(indent.expandtabs(4)) if indent else 0
            if current >= 0 and width > indents[0]:
                more = section.more.get(current) or section.more.setdefault(current, ([], []))
                more[1].append(_clean(item_text))
            else:
                current = len(heads)
                heads.append(item_text)
                indents.append(width)
            paragraph = None
            continue
        kind = _heading_kind(raw)
        if kind is not None:
            section = _Section(kind)
            sections.append(section)
            heads, indents = section.heads, section.indents
            current, paragraph = -1, None
        elif current >= 0 and (not blank_before or _indent(raw) > indents[current]):
            more = section.more.get(current) or section.more.setdefault(current, ([], []))
            children = more[1]
            if children:
                children[-1] = f"{children[-1]} {_clean(raw)}"
            else:
                more[0].append(raw.strip())
        else:
            current = -1
            if paragraph is None or blank_before:
                paragraph = []
                section.paragraphs.append(paragraph)
            paragraph.append(raw.strip())
    if len(sections) == 1:
        sections[0].kind = "inclusion"
    inclusion = [c for s in sections if s.kind == "inclusion" for c in _criteria(s)]
    exclusion = [c for s in sections if s.kind == "exclusion" for c in _criteria(s)]
    return tuple(inclusion), tuple(exclusion)
