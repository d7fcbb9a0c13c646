"""Running a query tree over one study dict: how terms, enums, dates, numbers and ages match.

Matching is by words: a term or phrase matches a field whose words (case-folded runs of
letters and digits) contain the term's words contiguously, so ``pain`` does not match
"Spain" and ``covid-19`` matches "COVID 19".  Enum pieces match their value exactly, date
pieces by prefix (``AREA[StartDate]2022``), numbers and ages by value; ``RANGE`` treats a
partial date as the days it covers.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .fields import Piece, catalogue, leaves, values_at
from .querytree import (
    All,
    And,
    Coverage,
    InArea,
    Missing,
    Node,
    Not,
    Or,
    Range,
    Search,
    Term,
    words,
)


@functools.lru_cache(maxsize=1 << 16)
def _joined(text: str) -> str:
    """A field's words, space-separated with a space at each end, for whole-word matching."""
    return " " + " ".join(words(text)) + " "


@dataclass(frozen=True, slots=True)
class _Ctx:
    pieces: tuple[Piece, ...]
    everything: bool = False
    coverage: str = "Contains"
    size: bool = False
    # Inside SEARCH[X]: (X's path, the one item of X being tried).
    binding: tuple[tuple[str, ...], Mapping[str, Any]] | None = None

    def values(self, piece: Piece, study: Mapping[str, Any]) -> list[Any]:
        if self.binding is not None:
            prefix, item = self.binding
            if piece.path[: len(prefix)] == prefix:
                return values_at(item, piece.path[len(prefix) :])
        return values_at(study, piece.path)


def _text_matches(value: Any, term: Term, coverage: str) -> bool:
    if not term.words:
        return False
    field = _joined(str(value).lower() if isinstance(value, bool) else str(value))
    wanted = " " + " ".join(term.words) + " "
    if coverage == "FullMatch":
        return field == wanted
    if coverage == "StartsWith":
        return field.startswith(wanted)
    if coverage == "EndsWith":
        return field.endswith(wanted)
    return wanted in field


_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$", re.IGNORECASE)
_AGE_UNITS = {"year": 1.0, "month": 1 / 12, "week": 7 / 365.25, "day": 1 / 365.25,
              "hour": 1 / 8766, "minute": 1 / 525960}


def date_span(text: str) -> tuple[dt.date, dt.date] | None:
    """A full or partial date as the days it covers: ``2020-01`` is Jan 1 to Jan 31 2020."""
    m = _DATE.match(text.strip())
    if not m:
        return None
    year = int(m.group(1))
    try:
        if m.group(3):
            day = dt.date(year, int(m.group(2)), int(m.group(3)))
            return day, day
        if m.group(2):
            month = int(m.group(2))
            last = calendar.monthrange(year, month)[1]
            return dt.date(year, month, 1), dt.date(year, month, last)
    except ValueError:
        return None
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def age_years(text: str) -> float | None:
    """``"18 Years"``, ``"6 Months"``, ``"16 years"`` → years; a bare number means years."""
    m = _AGE.match(text)
    if not m:
        return None
    unit = (m.group(2) or "years").casefold().rstrip("s")
    factor = _AGE_UNITS.get(unit)
    return None if factor is None else float(m.group(1)) * factor


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _scalar_matches(piece: Piece, value: Any, term: Term, coverage: str) -> bool:
    kind = piece.kind
    if kind == "enum":
        return isinstance(value, str) and value.upper() == term.text.upper()
    if kind == "date" and isinstance(value, str) and _DATE.match(term.text):
        return value == term.text if coverage == "FullMatch" else value.startswith(term.text)
    if kind == "number":
        return _number(value) is not None and _number(value) == _number(term.text)
    if kind == "age":
        have, want = age_years(str(value)), age_years(term.text)
        if have is not None and want is not None:
            return abs(have - want) < 1e-9
    if kind == "boolean":
        return str(value).lower() == term.text.lower()
    if kind == "geo":
        return False
    if isinstance(value, dict | list):  # a STRUCT piece: search the text beneath it
        return any(_text_matches(v, term, coverage) for v in leaves(value))
    return _text_matches(value, term, coverage)


def _in_range(piece: Piece, value: Any, node: Range) -> bool:
    kind = piece.kind
    if kind == "date":
        span = date_span(str(value))
        lo = (dt.date.min, dt.date.min) if node.lo.upper() == "MIN" else date_span(node.lo)
        hi = (dt.date.max, dt.date.max) if node.hi.upper() == "MAX" else date_span(node.hi)
        if span is None or lo is None or hi is None:
            return False
        # Partial dates are spans: they match when they overlap the range at all.
        return span[0] <= hi[1] and span[1] >= lo[0]
    convert = age_years if kind == "age" else _number if kind == "number" else None
    if convert is None:
        return False
    have = convert(str(value))
    low = -float("inf") if node.lo.upper() == "MIN" else convert(node.lo)
    high = float("inf") if node.hi.upper() == "MAX" else convert(node.hi)
    return have is not None and low is not None and high is not None and low <= have <= high


def _size_matches(count: int, node: Node) -> bool:
    if isinstance(node, Term):
        return _number(node.text) == count
    if isinstance(node, Range):
        low = 0.0 if node.lo.upper() == "MIN" else _number(node.lo)
        high = float("inf") if node.hi.upper() == "MAX" else _number(node.hi)
        return low is not None and high is not None and low <= count <= high
    return False


def _evaluate(node: Node, study: Mapping[str, Any], ctx: _Ctx) -> bool:
    if isinstance(node, And):
        return all(_evaluate(child, study, ctx) for child in node.children)
    if isinstance(node, Or):
        return any(_evaluate(child, study, ctx) for child in node.children)
    if isinstance(node, Not):
        return not _evaluate(node.child, study, ctx)
    if isinstance(node, All):
        return True
    if isinstance(node, InArea):
        inner = replace(ctx, pieces=node.pieces, everything=node.everything, size=node.size)
        return _evaluate(node.child, study, inner)
    if isinstance(node, Coverage):
        return _evaluate(node.child, study, replace(ctx, coverage=node.kind))
    if isinstance(node, Search):
        return _search_items(node, study, ctx)
    if isinstance(node, Missing):
        return not any(ctx.values(piece, study) for piece in ctx.pieces)
    if ctx.size:
        return any(_size_matches(len(ctx.values(p, study)), node) for p in ctx.pieces)
    if isinstance(node, Range):
        if node.lo.upper() == "MIN" and node.hi.upper() == "MAX":  # "has any value", any type
            return any(ctx.values(piece, study) for piece in ctx.pieces)
        return any(
            _in_range(piece, value, node)
            for piece in ctx.pieces
            if piece.kind in ("date", "number", "age")
            for value in ctx.values(piece, study)
        )
    if ctx.everything and ctx.binding is None:
        return any(_text_matches(value, node, ctx.coverage) for value in leaves(study))
    return any(
        _scalar_matches(piece, value, node, ctx.coverage)
        for piece in ctx.pieces
        for value in ctx.values(piece, study)
    )


def _search_items(node: Search, study: Mapping[str, Any], ctx: _Ctx) -> bool:
    # Inside SEARCH[X] a bare term searches X's own fields, each item of X on its own.
    pieces = catalogue().under(node.piece.path)
    for item in ctx.values(node.piece, study):
        if isinstance(item, dict):
            inner = _Ctx(pieces, coverage=ctx.coverage, binding=(node.piece.path, item))
            if _evaluate(node.child, study, inner):
                return True
    return False


def evaluate(
    node: Node, study: Mapping[str, Any], pieces: tuple[Piece, ...], everything: bool = False
) -> bool:
    """Does ``study`` match ``node`` when bare terms search ``pieces`` (every leaf if
    ``everything``, as BasicSearch does)?"""
    return _evaluate(node, study, _Ctx(pieces, everything))

