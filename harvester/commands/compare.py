"""``trials compare``: two or more trials side by side, what differs marked."""

from __future__ import annotations

import re
from datetime import date

import click
from rich.table import Table
from rich.text import Text

from harvester.catalogue import Catalogue, VersionInfo
from harvester.commands._common import (
    as_of_option,
    db_option,
    format_option,
    handles_errors,
    open_catalogue,
    say,
    stdout_console,
    to_json,
)
from harvester.errors import NotFoundError, UsageError
from harvester.find.comparison import Comparison, Row, to_csv, to_markdown
from harvester.find.comparison import compare as compare_records

MAX_TRIALS = 10
#: In the terminal table, a list shows this many items, each cut to this many characters
#: (the other formats give everything).
TABLE_ITEMS, TABLE_CHARS = 8, 120
NCT_ID = re.compile(r"^NCT\d{8}$")
DIFFERS = "≠"


@click.command()
@click.argument("nct_ids", nargs=-1, metavar="NCT… NCT… [NCT…]")
@db_option
@as_of_option("Compare the trials as the registry published them on DATE (a year, month "
              "or day: its last day).")
@click.option("--only-differences", "-d", is_flag=True,
              help="Only the rows where the trials differ.")
@format_option("table", "json", "csv", "md")
@handles_errors
def compare(nct_ids: tuple[str, ...], db: str | None, as_of: date | None,
            only_differences: bool, fmt: str) -> None:
    """Two to 10 trials side by side, one column each, what differs marked.

    Sections: identity (title, acronym, sponsor, collaborators), status and dates, design,
    enrollment, arms and interventions, conditions and keywords, eligibility (sex, ages,
    healthy volunteers, criteria counts and the criteria that are not in every trial) and
    sites (countries with site counts).  Each trial's current record is used (ClinicalTrials.gov's
    own preferred over mirrors), or the one current on --as-of.

    A row differs (≠) when its values are not all equal, ignoring case and spacing, and
    order in lists such as conditions or countries.  Criteria are matched ignoring case,
    spacing, punctuation and list numbers.  Rows empty for every trial are left out.  The
    table shortens long lists; json, csv and md give everything.

    \b
    --format json: {"as_of": DATE|null,
      "trials": [{"nct_id", "acronym", "title",
                  "version": {"number", "registry_date", "source"}}, …],
      "rows": [{"section", "field", "values": [one string or null per trial],
                "differs": bool, "items": [[…], …] (lists only: each trial's items)}, …]}
    --format csv: section,field,differs,NCT…,… (a list's items on separate lines of a cell)
    --format md: a markdown table for a report; ≠ marks the rows that differ

    \b
    Examples:
      trials compare NCT01642004 NCT02481830 NCT06692738
      trials compare nct03661047 nct07011550 --only-differences
      trials compare NCT06203210 NCT04585815 --as-of 2026-02-01 --format json
      trials compare NCT01642004 NCT02481830 --format md > comparison.md
    """
    ids = _checked_ids(nct_ids)
    day = as_of
    catalogue = open_catalogue(db)
    infos = _versions(catalogue, ids, day)
    comparison = compare_records([catalogue.record(info.id) for info in infos])
    if only_differences:
        comparison = comparison.only_differences()
        if not comparison.rows:
            say("note", "the trials agree on every field compared")
    if fmt == "json":
        click.echo(to_json({
            "as_of": day, "trials": [
                {"nct_id": t.nct_id, "acronym": t.acronym, "title": t.title,
                 "version": {"number": i.number, "registry_date": i.registry_date,
                             "source": i.source}}
                for t, i in zip(comparison.trials, infos, strict=True)],
            "rows": [row.to_json() for row in comparison.rows]}))
    elif fmt == "csv":
        click.echo(to_csv(comparison), nl=False)
    elif fmt == "md":
        click.echo(to_markdown(comparison))
        click.echo(f"{DIFFERS}: the trials differ. " + _versions_line(infos, day))
    elif comparison.rows:
        console = stdout_console()
        console.print(_table(comparison))
        console.print(_versions_line(infos, day), highlight=False)


def _checked_ids(given: tuple[str, ...]) -> list[str]:
    ids = [i.strip().upper() for i in given]
    bad = [i for i in ids if not NCT_ID.match(i)]
    if bad:
        raise UsageError(f"not an NCT id (NCT and 8 digits): {', '.join(bad)}")
    if not 2 <= len(ids) <= MAX_TRIALS:
        raise UsageError(f"give 2 to {MAX_TRIALS} NCT ids to compare (got {len(ids)})")
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise UsageError(f"{', '.join(repeated)} given more than once: compare different "
                         "trials (trials diff compares versions of one)")
    return ids


def _versions(catalogue: Catalogue, ids: list[str], day: date | None) -> list[VersionInfo]:
    missing = [i for i in ids if not catalogue.has_trial(i)]
    if missing:
        raise NotFoundError(f"not in the catalogue: {', '.join(missing)}")
    infos = {i: catalogue.current(i, as_of=day) for i in ids}
    later = [i for i, info in infos.items() if info is None]
    if later:
        raise NotFoundError(f"no version on {day} (first published later): "
                            f"{', '.join(later)}")
    return [info for info in infos.values() if info is not None]


def _versions_line(infos: list[VersionInfo], day: date | None) -> str:
    shown = "; ".join(f"{i.nct_id} version {i.number} ({i.source}, registry date "
                      f"{i.registry_date or '—'})" for i in infos)
    return f"As of {day}: {shown}" if day else f"Current records: {shown}"


def _cell(row: Row, items: tuple[str, ...]) -> str:
    if not items:
        return "—"
    if not row.listed:
        return items[0]
    shown = [_cut(item) for item in items[:TABLE_ITEMS]]
    if len(items) > TABLE_ITEMS:
        shown.append(f"… {len(items) - TABLE_ITEMS} more (--format json lists all)")
    return "\n".join(f"• {item}" for item in shown)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TABLE_CHARS else text[:TABLE_CHARS - 1].rstrip() + "…"


def _table(comparison: Comparison) -> Table:
    table = Table(show_lines=False, show_edge=False, caption=f"{DIFFERS} the trials differ",
                  caption_justify="left")
    table.add_column("", width=1, no_wrap=True, style="bold yellow")
    table.add_column("field", style="cyan", max_width=20)
    for trial in comparison.trials:
        table.add_column(Text(f"{trial.nct_id}\n{trial.label}"), ratio=1, overflow="fold")
    for n, (section, rows) in enumerate(comparison.sections()):
        if n:
            table.add_section()
        table.add_row("", Text(section, style="bold"), *([""] * len(comparison.trials)))
        for row in rows:
            style = "yellow" if row.differs else ""
            table.add_row(DIFFERS if row.differs else "", row.field,
                          *(Text(_cell(row, items), style=style) for items in row.items))
    return table
