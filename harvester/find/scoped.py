"""Field-scoped queries (``--cond "lung cancer" --intr pembrolizumab``) rendered for the area
index (:mod:`harvester.catalogue.areas`): an FTS5 MATCH expression or a ``tsquery``.

Each area's text is the search box's language (:mod:`harvester.find.search_query`: words,
"phrases", OR, NOT, prefix*, groups); different areas all apply.  A word or phrase of an area
with concepts (cond, intr, term) matches its words in the area's fields *or* its MeSH
concept among the trial's headings and their ancestors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harvester.catalogue import areas
from harvester.errors import UsageError
from harvester.find.search_query import All, Any_, Node, Not, Query, Term, parse


@dataclass(frozen=True)
class Scoped:
    """Queries by area: ``(("cond", Query), ("term", Query))``."""

    parts: tuple[tuple[str, Query], ...]

    @classmethod
    def of(cls, given: Sequence[tuple[str, str]]) -> Scoped:
        for area, _ in given:
            if area not in areas.AREAS:
                raise UsageError(f"unknown search area {area!r}: one of "
                                 f"{', '.join(areas.AREAS)}")
        return cls(tuple((area, parse(text)) for area, text in given))

    def fts5(self, only: tuple[str, ...] | None = None) -> str | None:
        """The FTS5 expression (``only``: those columns; None when no part searches them)."""
        found = [e for area, q in self.parts if (e := _fts5(q.root, area, only)) is not None]
        return " AND ".join(f"({e})" for e in found) if found else None

    def tsquery(self, only: tuple[str, ...] | None = None, *,
                ranked: bool = False) -> str | None:
        """The ``tsquery`` (``ranked``: what a match is ranked by — without its exclusions,
        which ``ts_rank`` would score too, where FTS5's ``bm25`` gives the phrases a match
        lacks nothing; and its words and areas ORed, not ANDed: ``ts_rank`` of an OR is the
        mean of its lexemes' parts, so a version's score for several words is the weighted
        mean of its scores for each, as ``bm25``'s is their sum — what lets
        :mod:`harvester.find.several` rank them from each word's champion list — where
        an AND is ranked by how near its words stand, which no list can bound)."""
        found = [e for area, q in self.parts
                 if (e := _tsq(q.root, area, only, ranked)) is not None]
        return (" | " if ranked else " & ").join(f"({e})" for e in found) if found else None

    def strong_fts5(self) -> str | None:
        """Matches of the concept or the condition list (they rank first)."""
        return self._strong().fts5(areas.STRONG) if self._strong().parts else None

    def strong_tsquery(self) -> str | None:
        return self._strong().tsquery(areas.STRONG) if self._strong().parts else None

    def _strong(self) -> Scoped:
        return Scoped(tuple(p for p in self.parts if p[0] in ("cond", "term")))


def _columns(area: str, only: tuple[str, ...] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    cols = areas.AREAS[area]
    concepts = areas.CONCEPTS.get(area, ())
    if only is not None:
        cols = tuple(c for c in cols if c in only)
        concepts = tuple(c for c in concepts if c in only)
    return cols, concepts


def _term_tokens(term: Term) -> list[str]:
    if not term.prefix:
        return areas.tokens(term.text)
    found = areas.words(term.text)
    return [areas.stem(w) for w in found[:-1]] + found[-1:]  # a prefix is not stemmed


def _fts5(node: Node, area: str, only: tuple[str, ...] | None) -> str | None:
    if isinstance(node, Term):
        cols, concepts = _columns(area, only)
        toks = _term_tokens(node)
        alternatives = []
        if cols and toks:
            alternatives.append("{" + " ".join(cols) + '} : "' + " ".join(toks) + '"'
                                + ("*" if node.prefix else ""))
        token = None if node.prefix else areas.concept(node.text)
        if concepts and token:
            alternatives.append("{" + " ".join(concepts) + "} : " + token)
        return " OR ".join(alternatives) if alternatives else None
    if isinstance(node, Not):
        return _fts5(node.part, area, only)  # placed by the All below
    if isinstance(node, Any_):
        parts = [p for p in (_fts5(x, area, only) for x in node.parts) if p is not None]
        return "(" + " OR ".join(f"({p})" for p in parts) + ")" if parts else None
    if isinstance(node, All):
        wanted = [p for x in node.parts if not isinstance(x, Not)
                  if (p := _fts5(x, area, only)) is not None]
        if not wanted:
            return None
        expr = "(" + " AND ".join(f"({p})" for p in wanted) + ")"
        for x in node.parts:
            if isinstance(x, Not) and (excluded := _fts5(x.part, area, None)) is not None:
                expr = f"({expr} NOT ({excluded}))"
        return expr
    return None


def _tsq(node: Node, area: str, only: tuple[str, ...] | None,
         ranked: bool = False) -> str | None:
    if isinstance(node, Term):
        cols, concepts = _columns(area, only)
        toks = _term_tokens(node)
        alternatives = []
        for col in cols if toks else ():
            tag = areas.TAG[col]
            lexemes = [f"'{tag}:{tok}'" for tok in toks]
            if node.prefix:
                lexemes[-1] += ":*"
            alternatives.append("(" + " <-> ".join(lexemes) + ")")
        token = None if node.prefix else areas.concept(node.text)
        for col in concepts if token else ():
            alternatives.append(f"'{areas.TAG[col]}:{token}'")
        return " | ".join(alternatives) if alternatives else None
    if isinstance(node, Not):
        inner = None if ranked else _tsq(node.part, area, None)
        return None if inner is None else f"!({inner})"
    if isinstance(node, Any_):
        parts = [p for p in (_tsq(x, area, only, ranked) for x in node.parts)
                 if p is not None]
        return "(" + " | ".join(f"({p})" for p in parts) + ")" if parts else None
    if isinstance(node, All):
        wanted = [p for x in node.parts if not isinstance(x, Not)
                  if (p := _tsq(x, area, only, ranked)) is not None]
        if not wanted:
            return None
        excluded = [p for x in node.parts if isinstance(x, Not)
                    if (p := _tsq(x, area, None, ranked)) is not None]
        joined = " | " if ranked else " & "  # ranked: a mean of the parts (see tsquery)
        return "(" + joined.join(f"({p})" for p in [*wanted, *excluded]) + ")"
    return None
