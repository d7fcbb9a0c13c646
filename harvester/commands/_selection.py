"""The selection filters as command-line options, shared by search, similar and export."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from harvester.catalogue.selection import Selection, normalise_enum
from harvester.commands._common import parse_day

F = TypeVar("F", bound=Callable[..., Any])


def selection_options(*, as_of: str | None = None,
                      updated_since: bool = False) -> Callable[[F], F]:
    """The filters of a :class:`Selection` as options; ``as_of`` is the help of ``--as-of``
    (no such option when None); ``updated_since`` adds ``--updated-since``."""
    options = [
        click.option("--status", "statuses", multiple=True, metavar="STATUS",
                     help="Overall status (API v2 value, e.g. RECRUITING; repeat or separate "
                          "with commas for several)."),
        click.option("--phase", "phases", multiple=True, metavar="PHASE",
                     help="Phase: PHASE1 … PHASE4, EARLY_PHASE1, NA ('phase 2' and 2 work too)."),
        click.option("--study-type", "study_types", multiple=True, metavar="TYPE",
                     help="INTERVENTIONAL, OBSERVATIONAL or EXPANDED_ACCESS."),
        click.option("--condition", "conditions", multiple=True, metavar="TEXT",
                     help="A condition containing TEXT (any case)."),
        click.option("--intervention", "interventions", multiple=True, metavar="TEXT",
                     help="An intervention name containing TEXT."),
        click.option("--country", "countries", multiple=True, metavar="NAME",
                     help="A site in this country."),
        click.option("--sponsor", "sponsors", multiple=True, metavar="TEXT",
                     help="A lead sponsor containing TEXT."),
        click.option("--start-after", metavar="DATE", help="Started on or after DATE."),
        click.option("--start-before", metavar="DATE", help="Started on or before DATE."),
        click.option("--has-results/--no-results", "has_results", default=None,
                     help="Only trials with (or without) posted results."),
    ]
    if updated_since:
        options.append(click.option("--updated-since", metavar="DATE",
                                    help="Last update posted on or after DATE."))
    if as_of is not None:
        options.append(click.option("--as-of", metavar="DATE", help=as_of))

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def enum_values(values: Iterable[str], prefix: str = "") -> tuple[str, ...]:
    """Repeated options, each possibly comma-separated, in API v2 spelling ("3" → prefix+3)."""
    parts = [part.strip() for value in values for part in value.split(",")]
    return tuple(normalise_enum(prefix + part if part.isdigit() else part)
                 for part in parts if part)


def selection_from(options: dict[str, Any]) -> Selection:
    """The Selection the options of :func:`selection_options` describe (UsageError)."""

    def day(name: str) -> Any:
        value = options.get(name)
        return parse_day(value, "--" + name.replace("_", "-")) if value else None

    return Selection(
        statuses=enum_values(options.get("statuses", ())),
        phases=enum_values(options.get("phases", ()), prefix="PHASE"),  # "3" is PHASE3
        study_types=enum_values(options.get("study_types", ())),
        conditions=tuple(options.get("conditions", ())),
        interventions=tuple(options.get("interventions", ())),
        countries=tuple(options.get("countries", ())),
        sponsors=tuple(options.get("sponsors", ())),
        start_after=day("start_after"), start_before=day("start_before"),
        updated_since=day("updated_since"), has_results=options.get("has_results"),
        as_of=day("as_of"))
