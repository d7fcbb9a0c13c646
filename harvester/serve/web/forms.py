"""The search form as the web pages and the MCP server see it: fields in, a selection out.

The form itself is built by the command line (:mod:`harvester.commands._webform`, from
``trials search``'s own options) and handed to :func:`harvester.serve.web.make_app`, so the
server offers exactly the filters the command does and parses them the same way, without
the library depending on the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from harvester.catalogue.selection import Selection

Form = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Field:
    """One form field: ``kind`` is text, date, choice (a select), tristate or flag."""

    name: str  # the form field's name (the command's parameter name)
    label: str
    help: str
    kind: str
    flag: str  # the option as typed on the command line (--status)
    choices: tuple[str, ...] = ()
    off_flag: str | None = None  # --no-results for a --has-results/--no-results option
    multiple: bool = False


class SearchForm(Protocol):
    """The filters offered, and how a submitted form becomes a selection."""

    @property
    def fields(self) -> list[Field]: ...

    def selection(self, form: Form) -> Selection:
        """The selection a submitted form describes (UsageError on bad values)."""
        ...

    def command_line(self, words: str, form: Form) -> str:
        """The ``trials search`` command line the form stands for (for search logs)."""
        ...
