"""The syntax tree of the Essie subset: built by :mod:`.query`, run by :mod:`.matching`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeAlias

from .fields import Piece


class QueryError(ValueError):
    """A query the real API would answer with 400; ``message`` is the text after the prefix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Term:
    """A bare word or a quoted phrase; ``words`` is what matching compares."""

    text: str
    words: tuple[str, ...]
    phrase: bool = False


@dataclass(frozen=True, slots=True)
class Range:
    """``RANGE[lo, hi]``: bounds kept as written (``MIN``, ``2020-01``, ``16 years``), since
    how they parse depends on the piece they are compared with."""

    lo: str
    hi: str


@dataclass(frozen=True, slots=True)
class Missing:
    pass


@dataclass(frozen=True, slots=True)
class All:
    pass


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class InArea:
    """``AREA[name]child``: ``child`` searches only ``pieces``; ``size`` is ``AREA[X:size]``."""

    name: str
    pieces: tuple[Piece, ...]
    everything: bool
    size: bool
    child: Node


@dataclass(frozen=True, slots=True)
class Search:
    """``SEARCH[name](child)``: ``child`` must hold within one item of the list ``piece``."""

    piece: Piece
    child: Node


@dataclass(frozen=True, slots=True)
class Coverage:
    """``COVERAGE[kind]child``: kind is FullMatch, StartsWith, EndsWith or Contains."""

    kind: str
    child: Node


Node: TypeAlias = Term | Range | Missing | All | Not | And | Or | InArea | Search | Coverage

_WORD = re.compile(r"\w+")


def words(text: str) -> tuple[str, ...]:
    """Case-folded runs of letters and digits: the units terms and fields are compared in."""
    return tuple(_WORD.findall(text.casefold()))
