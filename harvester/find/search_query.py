"""The search box's query language: parsed once; :mod:`harvester.find.scoped` renders it for
the area index of either database, and :meth:`Query.fts5` for the page's extracts.

Words (all must match), ``"quoted phrases"``, ``OR`` between alternatives, ``-word`` or
``NOT word`` to exclude, ``prefix*``, and parentheses to group.  ``OR`` binds tighter than the
implicit AND (``tigit lung OR gastric`` is ``tigit AND (lung OR gastric)``), as in
PostgreSQL's ``websearch_to_tsquery``.  Every word and phrase is passed to the database as a
quoted string, so punctuation in it (``IL-2``, ``c:``, ``^``) is only a word separator and
never operator syntax.  :func:`parse` raises UsageError for an empty query, unbalanced quotes
or parentheses, a lone ``NOT`` or ``OR``, or nothing but exclusions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harvester.errors import UsageError

MAX_TERMS = 64
MAX_LENGTH = 2000
_WORDY = re.compile(r"[^\W_]")  # a letter or digit: a token a search engine keeps
_PIECES = re.compile(r"[^\W_]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Term:
    """A word, a phrase (several words in a row) or a prefix (``immuno*``)."""

    text: str
    prefix: bool = False


@dataclass(frozen=True)
class Not:
    part: Node


@dataclass(frozen=True)
class All:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Any_:
    parts: tuple[Node, ...]


Node = Term | Not | All | Any_


@dataclass(frozen=True)
class Query:
    """A parsed search query."""

    text: str
    root: Node

    def fts5(self) -> str:
        """The FTS5 MATCH expression (every term a quoted string)."""
        return _fts5(self.root)


_TOKEN = re.compile(r'\s+|"[^"]*"\*?|"|\(|\)|[^\s"()]+')


def _tokens(text: str) -> list[str]:
    found = [m.group() for m in _TOKEN.finditer(text)]
    if '"' in found:
        raise UsageError(f"the query {text!r} has an unclosed quote (\")")
    return [tok for tok in found if not tok.isspace()]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.terms = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def fail(self, message: str) -> UsageError:
        return UsageError(f"the query {self.text!r}: {message}")

    def parse(self) -> Node | None:
        node = self.sequence()
        if self.peek() == ")":
            raise self.fail("a ')' has no '(' before it")
        return node

    def sequence(self) -> Node | None:
        """Units in a row, all of which must match."""
        parts: list[Node] = []
        while (token := self.peek()) is not None and token != ")":
            if token == "AND":
                self.pos += 1
                continue
            node = self.alternatives()
            if node is not None:
                parts.append(node)
        return _all(parts)

    def alternatives(self) -> Node | None:
        if self.peek() == "OR":
            raise self.fail("OR needs a word, phrase or group on each side")
        parts = [self.unit()]
        while self.peek() == "OR":
            self.pos += 1
            if self.peek() in (None, ")", "OR", "AND"):
                raise self.fail("OR needs a word, phrase or group on each side")
            parts.append(self.unit())
        kept = [p for p in parts if p is not None]
        if len(parts) > 1 and any(isinstance(p, Not) for p in kept):
            raise self.fail("an alternative of OR cannot be excluded (NOT or -): write the "
                            "exclusion outside the OR")
        if len(kept) > 1:
            return Any_(tuple(kept))
        return kept[0] if kept else None

    def unit(self) -> Node | None:
        token = self.peek()
        assert token is not None
        self.pos += 1
        if token == "NOT" or token == "-":
            if self.peek() in (None, ")", "OR", "AND", "NOT"):
                raise self.fail(f"{token} must be followed by a word, phrase or group to "
                                "exclude")
            inner = self.unit()
            return None if inner is None else Not(inner)
        if token.startswith("-") and len(token) > 1:
            self.tokens[self.pos - 1] = token[1:]
            self.pos -= 1
            inner = self.unit()
            return None if inner is None else Not(inner)
        if token == "(":
            node = self.sequence()
            if self.peek() != ")":
                raise self.fail("a '(' is not closed")
            self.pos += 1
            return node
        if token == ")":
            raise self.fail("a ')' has no '(' before it")
        return self.term(token)

    def term(self, token: str) -> Term | None:
        prefix = token.endswith("*")
        text = token.rstrip("*")
        if text.startswith('"'):
            text = text[1:-1]
        text = " ".join(text.split())
        if not _WORDY.search(text):
            return None  # punctuation only: nothing to search for
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.fail(f"more than {MAX_TERMS} words and phrases")
        return Term(text, prefix)


def _all(parts: list[Node]) -> Node | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def parse(text: str) -> Query:
    """Parse a search query; UsageError when it is empty or malformed."""
    if len(text) > MAX_LENGTH:
        raise UsageError(f"the query is longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise UsageError("empty query: give words to search for")
    parser = _Parser(_CONTROL.sub(" ", text))  # a NUL would end the text early in SQLite
    root = parser.parse()
    if root is None:
        raise UsageError(f"the query {text!r} has no word to search for")
    _check_positive(root, parser)
    return Query(text, root)


def _check_positive(node: Node, parser: _Parser) -> None:
    """Every sequence needs something that must match: an exclusion alone finds nothing."""
    if isinstance(node, Not):
        raise parser.fail("it only excludes (NOT or -): add a word that must match")
    if isinstance(node, All):
        if all(isinstance(p, Not) for p in node.parts):
            raise parser.fail("it only excludes (NOT or -): add a word that must match")
        for part in node.parts:
            _check_positive(part.part if isinstance(part, Not) else part, parser)
    if isinstance(node, Any_):
        for part in node.parts:
            _check_positive(part, parser)


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _fts5(node: Node) -> str:
    if isinstance(node, Term):
        if node.prefix:
            return _quoted(" ".join(_PIECES.findall(node.text))) + "*"
        return _quoted(node.text)
    if isinstance(node, Any_):
        return "(" + " OR ".join(_fts5(p) for p in node.parts) + ")"
    if isinstance(node, All):
        wanted = [_fts5(p) for p in node.parts if not isinstance(p, Not)]
        expr = "(" + " AND ".join(wanted) + ")" if len(wanted) > 1 else wanted[0]
        for part in node.parts:
            if isinstance(part, Not):
                expr = f"({expr} NOT {_fts5(part.part)})"
        return expr
    raise UsageError("the query only excludes (NOT or -): add a word that must match")
