"""Free text as plain text, one rule for every source.

API v2 writes free text as markdown (``\\<5``, ``\\&``, ``* item``, a line per paragraph);
the legacy XML wrote the classic site's rendering of the same text (wrapped at 80 columns,
``-  item``, CR LF line ends); a mirror page shows what a browser shows.  :func:`plain` makes
the three agree:

* markdown backslash escapes are removed (``\\<5`` → ``<5``);
* line ends become ``\\n``; spaces at line ends go;
* every line break is a paragraph break: a run of line breaks and blank lines becomes one
  blank line (API v2 turned each line of the old text into its own paragraph) — except in
  eligibility criteria (``lines=True``), whose line breaks are kept and only runs of blank
  lines become one: their layout (wrapped items, nesting) is what the criteria splitter reads;
* a bullet (``*``, ``+``, ``-`` or ``•`` and spaces) becomes ``- `` (indentation is kept),
  except in criteria, whose markers the criteria splitter reads as written;
* the text is stripped; empty text is None.

The raw payload stored with each version keeps the text as the registry wrote it.
"""

from __future__ import annotations

import operator
import re

# CommonMark: a backslash before ASCII punctuation is an escape.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_UNESCAPED = operator.itemgetter(1)  # a match's group 1: faster than the template r"\1"
# Patterns start with a literal where they can: one beginning ``[ \t]*`` is tried at every
# character of the text, which made these substitutions most of a long text's cost.
_LINE_ENDS = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n\n\n+")
# A bullet at a line's start: the text's own start (stripped: no indent), or after a break.
_BULLET_FIRST = re.compile(r"[*+•-][ \t]+")
_BULLET = re.compile(r"(\n[ \t]*)[*+•-][ \t]+")


def _bullet(match: re.Match[str]) -> str:
    return match[1] + "- "  # a function: faster than the template r"\1- " (Python 3.11)


def plain(text: object, *, lines: bool = False) -> str | None:
    """``text`` as plain text (see the module notes); None stays None."""
    if text is None:
        return None
    if not isinstance(text, str):
        return text  # type: ignore[return-value]  # the record's validation names it
    if not text:
        return None
    # the common case, checked without a regex: one clean line
    if ("\\" not in text and "\n" not in text and "\r" not in text
            and not text[0].isspace() and not text[-1].isspace()
            and text[0] not in "*+•-"):
        return text
    if "\\" in text:
        text = _ESCAPE.sub(_UNESCAPED, text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.strip()
    if "\n" in text:
        # spaces at line ends go (a line of spaces becomes empty) …
        if " \n" in text or "\t\n" in text:
            text = _LINE_ENDS.sub("\n", text)
        if lines:  # … then a run of blank lines is one
            return _BLANK_RUNS.sub("\n\n", text) or None
        # … or every break is a paragraph break: the text's lines but empty ones, joined by
        # blank lines (str methods: several times faster than a regex on a long text)
        text = "\n\n".join(filter(None, text.split("\n")))
    if "-" in text or "*" in text or "+" in text or "•" in text:
        if text[0] in "*+•-" and (first := _BULLET_FIRST.match(text)):
            text = "- " + text[first.end():]
        if "\n" in text:
            text = _BULLET.sub(_bullet, text)
    return text or None


def plain_all(items: object) -> object:
    """Each text of a list as plain text (empty ones dropped); anything else unchanged."""
    if not isinstance(items, list):
        return items
    out = [plain(item) for item in items]
    return [item for item in out if item is not None]
