"""The Essie subset of reference §9: the parser from an expression to a :mod:`.querytree`.

Grammar, by falling precedence (terms and source operators bind tightest, then ``NOT`` and the
context operators, then ``AND``, then ``OR``; juxtaposition is an implicit ``AND``)::

    or      := and ("OR" and)*
    and     := unary (["AND" | ","] unary)*
    unary   := "NOT" unary | context unary | primary
    context := AREA[name] | SEARCH[name] | COVERAGE[kind] | COVER[kind] | EXPANSION[kind]
    primary := "(" or ")" | word | "quoted phrase" | RANGE[lo, hi] | MISSING | ALL

Parse errors raise :class:`QueryError` worded like the real (ANTLR-based) API; how a parsed
query matches a study is :mod:`.matching`'s business.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .fields import Area, Piece, catalogue
from .matching import evaluate
from .querytree import (
    All,
    And,
    Coverage,
    InArea,
    Missing,
    Node,
    Not,
    Or,
    QueryError,
    Range,
    Search,
    Term,
    words,
)

__all__ = [
    "All",
    "And",
    "Coverage",
    "InArea",
    "Missing",
    "Node",
    "Not",
    "Or",
    "Query",
    "QueryError",
    "Range",
    "Search",
    "Term",
    "parse_query",
]


# --- lexer -----------------------------------------------------------------------------------

_KEYWORDS = frozenset(
    {"AND", "OR", "NOT", "AREA", "SEARCH", "COVERAGE", "COVER", "EXPANSION", "RANGE",
     "MISSING", "ALL"}
)
_CONTEXT = frozenset({"AREA", "SEARCH", "COVERAGE", "COVER", "EXPANSION"})
_STARTS_OPERAND = _CONTEXT | {"NOT", "RANGE", "MISSING", "ALL"}
_PUNCT = {"(": "LPAREN", ")": "RPAREN", "[": "LBRACK", "]": "RBRACK", ",": "COMMA"}
_COVERAGES = {"fullmatch": "FullMatch", "startswith": "StartsWith", "endswith": "EndsWith",
              "contains": "Contains"}
_EXPANSIONS = frozenset({"none", "term", "concept", "relaxation", "lossy"})
# The real parser's expected-token set after an operand (its order, then the rest of ours).
_AFTER_OPERAND = ("{<EOF>, '(', ',', 'NOT', 'AND', 'OR', 'SEARCH', 'AREA', 'RANGE', "
                  "'COVERAGE', 'EXPANSION', 'MISSING', 'ALL', TERM, QUOTED_TERM}")
_OPERAND = ("{'(', 'NOT', 'SEARCH', 'AREA', 'RANGE', 'COVERAGE', 'EXPANSION', 'MISSING', "
            "'ALL', TERM, QUOTED_TERM}")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # WORD, PHRASE, KEYWORD, EOF or a _PUNCT kind
    text: str


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in _PUNCT:
            tokens.append(_Token(_PUNCT[ch], ch))
            i += 1
        elif ch == '"':
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise QueryError(f"token recognition error at: '{text[i:]}'")
            tokens.append(_Token("PHRASE", "".join(buf)))
            i = j + 1
        else:
            j, buf, escaped = i, [], ch == "\\"
            while j < n and not text[j].isspace() and text[j] not in _PUNCT and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:  # \MISSING, \AND: the word, not the operator
                    j += 1
                buf.append(text[j])
                j += 1
            word = "".join(buf)
            kind = "KEYWORD" if word in _KEYWORDS and not escaped else "WORD"
            tokens.append(_Token(kind, word))
            i = j
    tokens.append(_Token("EOF", "<EOF>"))
    return tokens


# --- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expect(self, kind: str, shown: str) -> _Token:
        token = self.take()
        if token.kind != kind:
            raise QueryError(f"mismatched input '{token.text}' expecting {shown}")
        return token

    def parse(self) -> Node:
        node = self.parse_or()
        token = self.peek()
        if token.kind != "EOF":
            raise QueryError(f"mismatched input '{token.text}' expecting {_AFTER_OPERAND}")
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek().kind == "KEYWORD" and self.peek().text == "OR":
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def starts_operand(self, token: _Token) -> bool:
        if token.kind == "KEYWORD":
            return token.text in _STARTS_OPERAND
        return token.kind in ("WORD", "PHRASE", "LPAREN")

    def parse_and(self) -> Node:
        children = [self.parse_unary()]
        while True:
            token = self.peek()
            if (token.kind == "KEYWORD" and token.text == "AND") or token.kind == "COMMA":
                self.take()
                children.append(self.parse_unary())
            elif self.starts_operand(token):
                children.append(self.parse_unary())
            else:
                break
        return children[0] if len(children) == 1 else And(tuple(children))

    def bracket(self) -> str:
        """The text of ``[…]`` after a context operator, words joined by single spaces."""
        self.expect("LBRACK", "'['")
        words = []
        while self.peek().kind in ("WORD", "KEYWORD"):
            words.append(self.take().text)
        self.expect("RBRACK", "']'")
        return " ".join(words)

    def parse_unary(self) -> Node:
        token = self.peek()
        if token.kind == "KEYWORD" and token.text == "NOT":
            self.take()
            return Not(self.parse_unary())
        if token.kind == "KEYWORD" and token.text in _CONTEXT:
            self.take()
            name = self.bracket()
            child = self.parse_unary()
            if token.text == "AREA":
                return _area(name, child)
            if token.text == "SEARCH":
                return _search(name, child)
            if token.text in ("COVERAGE", "COVER"):
                if name.casefold() not in _COVERAGES:
                    raise QueryError(f"Invalid coverage: {name}")
                return Coverage(_COVERAGES[name.casefold()], child)
            if name.casefold() not in _EXPANSIONS:
                raise QueryError(f"Invalid expansion: {name}")
            return child  # EXPANSION only tunes synonyms and stemming, which we do not do
        return self.parse_primary()

    def parse_primary(self) -> Node:
        token = self.take()
        if token.kind == "LPAREN":
            node = self.parse_or()
            self.expect("RPAREN", "')'")
            return node
        if token.kind in ("WORD", "PHRASE"):
            return Term(token.text, words(token.text), token.kind == "PHRASE")
        if token.kind == "KEYWORD" and token.text == "RANGE":
            return self.parse_range()
        if token.kind == "KEYWORD" and token.text == "MISSING":
            return Missing()
        if token.kind == "KEYWORD" and token.text == "ALL":
            return All()
        raise QueryError(f"mismatched input '{token.text}' expecting {_OPERAND}")

    def parse_range(self) -> Range:
        self.expect("LBRACK", "'['")
        bounds: list[str] = []
        for closing in ("COMMA", "RBRACK"):
            parts = []
            while self.peek().kind in ("WORD", "KEYWORD"):
                parts.append(self.take().text)
            token = self.take()
            if token.kind != closing or not parts:
                shown = "','" if closing == "COMMA" else "']'"
                raise QueryError(f"mismatched input '{token.text}' expecting {shown}")
            bounds.append(" ".join(parts))
        return Range(bounds[0], bounds[1])


def _area(name: str, child: Node) -> InArea:
    base, _, modifier = name.partition(":")
    size = modifier.casefold() == "size"
    if modifier and not size:
        raise QueryError(f"Unknown area name: '{name}'")
    cat = catalogue()
    area = cat.area(base)
    if area is not None:
        return InArea(area.name, area.pieces, area.everything, size, child)
    piece = cat.piece(base)
    if piece is None:
        raise QueryError(f"Unknown area name: '{base}'")
    if piece.kind == "enum" and not size:
        _check_enum(piece, child)
    return InArea(piece.name, (piece,), False, size, child)


def _check_enum(piece: Piece, node: Node) -> None:
    """Enum pieces take enum tokens only: anything else is a 400, as on the real API."""
    if isinstance(node, Term):
        if node.text.upper() not in piece.enum_values:
            allowed = ", ".join(f"`{v}`" for v in piece.enum_values)
            raise QueryError(f"Allowed values for enum field `{piece.dotted}` are {allowed}")
    elif isinstance(node, Not | Coverage):
        _check_enum(piece, node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            _check_enum(piece, child)


def _search(name: str, child: Node) -> Search:
    piece = catalogue().piece(name)
    if piece is None or piece.kind != "struct":
        raise QueryError(f"Unknown area name: '{name}'")
    return Search(piece, child)


# --- public API ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed expression and the area it searches when it names none (``query.cond`` …)."""

    text: str
    node: Node
    area: str
    pieces: tuple[Piece, ...]
    everything: bool

    def matches(self, study: Mapping[str, Any]) -> bool:
        return evaluate(self.node, study, self.pieces, self.everything)

    def queried(self) -> Iterator[Piece]:
        """The pieces this query searches (for ``fields=@query``)."""
        yield from self.pieces
        yield from _queried(self.node)


def _queried(node: Node) -> Iterator[Piece]:
    if isinstance(node, InArea):
        yield from node.pieces
        yield from _queried(node.child)
    elif isinstance(node, Search):
        yield node.piece
    elif isinstance(node, Not | Coverage):
        yield from _queried(node.child)
    elif isinstance(node, And | Or):
        for child in node.children:
            yield from _queried(child)


def parse_query(text: str, area: str = "BasicSearch") -> Query:
    """Parse an Essie expression searching ``area`` (a search area or piece name) by default.

    Raises :class:`QueryError` for syntax errors, unknown area names, bad coverage kinds and
    values that are not in an enum piece's list.
    """
    cat = catalogue()
    found: Area | None = cat.area(area)
    if found is not None:
        pieces, everything, name = found.pieces, found.everything, found.name
    else:
        piece = cat.piece(area)
        if piece is None:
            raise QueryError(f"Unknown area name: '{area}'")
        pieces, everything, name = (piece,), False, piece.name
    node = _Parser(text).parse()
    return Query(text, node, name, pieces, everything)
