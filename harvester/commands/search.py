"""``trials search``: full-text search of the catalogue, ranked, with the selection filters."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from harvester.catalogue.selection import Selection
from harvester.commands._common import (
    db_option,
    format_option,
    handles_errors,
    open_catalogue,
    stdout_console,
    to_json,
)
from harvester.commands._selection import selection_from, selection_options
from harvester.find.search import START, STOP, Hit, iter_hits
from harvester.find.search import search as run_search
from harvester.find.search_query import parse

CSV_COLUMNS = ("rank", "nct_id", "score", "title", "status", "phases", "study_type",
               "start_date", "conditions", "version", "version_id", "source", "snippet")


# "-word" excludes a word: not an option (so -h is not help here either: --help is).
@click.command(context_settings={"ignore_unknown_options": True,
                                 "help_option_names": ["--help"]})
@click.argument("words", nargs=-1, metavar="QUERY…")
@db_option
@selection_options(as_of="Search the trials as the registry published them on DATE.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many trials to show.")
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True,
              help="Skip this many of the best matches (the next page).")
@click.option("--all", "show_all", is_flag=True,
              help="Every match, best first, streamed (instead of --limit).")
@format_option("table", "json", "jsonl", "csv")
@handles_errors
def search(words: tuple[str, ...], db: str | None, limit: int, offset: int, show_all: bool,
           fmt: str, **filters: Any) -> None:
    """Search the catalogue's text: titles, conditions, keywords, interventions, summaries
    and eligibility criteria, best matches first.

    The words of QUERY must all match (any case, any form: "vaccines" finds "vaccine");
    "quoted words" must match as a phrase; OR gives alternatives (a OR b), -word or NOT word
    excludes, immun* matches a prefix, and parentheses group.  Title matches count most,
    then conditions, interventions and keywords, then summaries, then criteria.  The
    filters narrow the trials searched; with --as-of, the versions current on that date.

    The table shows the match in context; --format json gives the total and the hits with
    score, version and extract, jsonl and csv one hit per line (the total goes to stderr).

    \b
    Examples:
      trials search tigit
      trials search '"small cell lung cancer"' --status RECRUITING --phase 3
      trials search 'nivolumab OR pembrolizumab' -docetaxel --has-results --format json
      trials search dupilumab --as-of 2024-01-01 --country France
      trials search 'immun*' --all --format csv > hits.csv
    """
    query = parse(" ".join(words))
    selection = selection_from(filters)
    catalogue = open_catalogue(db)
    if show_all:
        total = None
        hits: Iterable[Hit] = iter_hits(catalogue, query, selection, offset=offset)
    else:
        results = run_search(catalogue, query, selection, limit=limit, offset=offset)
        total, hits = results.total, results.hits
    if fmt == "json":
        _json(query.text, selection, total, offset, hits)
        return
    if fmt == "jsonl":
        shown = _jsonl(hits)
    elif fmt == "csv":
        shown = _csv(hits)
    else:
        shown = _table(hits)
    _report(query.text, total, offset, shown, show_all)


def _report(text: str, total: int | None, offset: int, shown: int, show_all: bool) -> None:
    matched = total if total is not None else offset + shown
    trials = f"{matched} trial{'s' if matched != 1 else ''} match{'es' if matched == 1 else ''}"
    if matched == 0:
        message = f"no trial matches {text!r}"
    elif shown == 0:
        message = f"{trials} {text!r}; none after --offset {offset}"
    elif show_all or (shown == matched and offset == 0):
        message = f"{trials} {text!r}"
    else:
        message = (f"{trials} {text!r}; showing {offset + 1}–{offset + shown} "
                   "(--offset, --limit or --all for more)")
    click.echo(message, err=True)


def _json(text: str, selection: Selection, total: int | None, offset: int,
          hits: Iterable[Hit]) -> None:
    """One JSON object; with --all the hits are written as they come (flat memory)."""
    out = sys.stdout
    head = {"query": text, "filters": selection.describe(), "offset": offset}
    if total is not None:
        head["total"] = total
    out.write(to_json(head)[:-1] + ',"hits":[')
    count = 0
    for hit in hits:
        out.write(("," if count else "") + to_json(hit.to_json()))
        count += 1
    out.write("]" + ("" if total is not None else f',"total":{offset + count}') + "}\n")
    out.flush()


def _jsonl(hits: Iterable[Hit]) -> int:
    count = 0
    for hit in hits:
        click.echo(to_json(hit.to_json()))
        count += 1
    return count


def _csv(hits: Iterable[Hit]) -> int:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for hit in hits:
        data = hit.to_json()
        writer.writerow([*(data[c] for c in CSV_COLUMNS[:5]), "|".join(hit.phases),
                         hit.study_type or "", hit.start_date or "",
                         " | ".join(hit.conditions), hit.version, hit.version_id, hit.source,
                         hit.plain_snippet])
        count += 1
    sys.stdout.flush()
    return count


def _table(hits: Iterable[Hit]) -> int:
    table = Table(show_edge=False, show_lines=False)
    for name, ratio in (("#", None), ("NCT id", None), ("status", None), ("phase", None),
                        ("title", 2), ("match", 3)):
        table.add_column(name, ratio=ratio, no_wrap=ratio is None,
                         overflow="fold" if ratio else "ellipsis")
    count = 0
    for hit in hits:
        table.add_row(str(hit.rank), hit.nct_id, hit.status or "—",
                      "/".join(p.replace("PHASE", "") if p.startswith("PHASE") else p
                               for p in hit.phases) or "—",
                      Text(hit.title or "—"), _highlighted(hit.snippet))
        count += 1
    if count:
        stdout_console().print(table)
    return count


def _highlighted(snippet: str) -> Text:
    text = Text()
    bold = False
    for part in snippet.replace(STOP, START).split(START):
        text.append(part, style="bold yellow" if bold else None)
        bold = not bold
    return text
