"""The web search form (:class:`harvester.serve.web.forms.SearchForm`), built from ``trials
search``'s own options.

Every filter the command line offers (:func:`harvester.commands._selection.selection_options`
and anything added to ``trials search`` later) becomes a form field, and a submitted form is
turned back into that command's arguments and parsed by click itself: the page and the
command accept the same values, with the same errors, and a new option shows up on the page
without touching it.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import click

from harvester.catalogue.selection import Selection
from harvester.commands._selection import selection_from
from harvester.errors import UsageError
from harvester.records import vocabulary
from harvester.serve.web.forms import Field, Form

#: Options of the command that are about output, not about which trials.
_NOT_FILTERS = frozenset({"db", "limit", "offset", "show_all", "fmt", "quiet", "words",
                          "progress"})


#: Options whose values are a vocabulary enum of another name.
_ALIASES: dict[str, type[StrEnum]] = {"age_group": vocabulary.StandardAge,
                                      "funder": vocabulary.AgencyClass}


def _enum_for(name: str) -> type[StrEnum] | None:
    """The vocabulary enum an option's values come from, found by its name (``status`` →
    Status, ``study_type`` → StudyType, ``sexes`` → Sex …)."""
    if name in _ALIASES:
        return _ALIASES[name]
    wanted = {name, name.removesuffix("s"), name.removesuffix("es")}
    keys = {w.replace("_", "").lower() for w in wanted if w}
    for attr in dir(vocabulary):
        value = getattr(vocabulary, attr)
        if isinstance(value, type) and issubclass(value, StrEnum) and attr.lower() in keys:
            return value
    return None


def fields_of(command: click.Command) -> list[Field]:
    """The command's filter options as form fields, in the command's order."""
    found = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in _NOT_FILTERS or not param.name:
            continue
        flag = max(param.opts, key=len)
        label = flag.lstrip("-").replace("-", " ")
        help_text = param.help or ""
        choices: tuple[str, ...] = ()
        if isinstance(param.type, click.Choice):
            choices = tuple(str(c) for c in param.type.choices)
        elif (enum := _enum_for(param.name)) is not None:
            choices = tuple(e.value for e in enum)
        if param.is_flag and param.secondary_opts:
            found.append(Field(param.name, label, help_text, "tristate", flag,
                               off_flag=param.secondary_opts[0]))
        elif param.is_flag:
            found.append(Field(param.name, label, help_text, "flag", flag))
        elif choices:
            found.append(Field(param.name, label, help_text, "choice", flag, choices,
                               multiple=param.multiple))
        elif (param.metavar or "").upper() == "DATE":
            found.append(Field(param.name, label, help_text, "date", flag))
        else:
            found.append(Field(param.name, label, help_text, "text", flag,
                               multiple=param.multiple))
    return found


def argv_of(fields: Sequence[Field], form: Mapping[str, Sequence[str]]) -> list[str]:
    """The command-line arguments a submitted form stands for (empty fields left out)."""
    argv: list[str] = []
    for f in fields:
        values = [v.strip() for v in form.get(f.name, ()) if v.strip()]
        if not values:
            continue
        if f.kind == "tristate":
            argv.append(f.flag if values[0] == "yes" else (f.off_flag or "") if
                        values[0] == "no" else "")
        elif f.kind == "flag":
            argv.append(f.flag)
        elif f.multiple:
            for value in values:
                argv += [f.flag, value]
        else:
            argv += [f.flag, values[0]]
    return [a for a in argv if a]


def parse_options(command: click.Command, argv: list[str]) -> dict[str, Any]:
    """Parse ``argv`` as ``command`` would (its defaults filled in); UsageError on bad input."""
    try:
        ctx = command.make_context(command.name or "search", list(argv),
                                   resilient_parsing=False)
    except click.ClickException as exc:
        raise UsageError(exc.format_message()) from None
    return dict(ctx.params)


class CommandForm:
    """The search form of a command (``trials search``): its filter options as fields, a
    submitted form parsed by the command's own option parser into a selection."""

    def __init__(self, command: click.Command) -> None:
        self.command = command
        self.fields = fields_of(command)

    def selection(self, form: Form) -> Selection:
        return selection_from(parse_options(self.command, argv_of(self.fields, form)))

    def command_line(self, words: str, form: Form) -> str:
        argv = ([words] if words else []) + argv_of(self.fields, form)
        return shlex.join(["trials", self.command.name or "search", *argv])


def search_form() -> CommandForm:
    """The form of ``trials search``."""
    from harvester.commands.search import search

    return CommandForm(search)
