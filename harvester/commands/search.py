"""``trials search``: full-text search of the catalogue, ranked, with the selection filters."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from harvester.catalogue.selection import Selection, with_query
from harvester.commands._common import (
    db_option,
    format_option,
    handles_errors,
    limit_option,
    open_catalogue,
    quiet_option,
    stdout_console,
    to_json,
)
from harvester.commands._selection import selection_from, selection_options
from harvester.errors import UsageError
from harvester.find.agreement import Agreement, compare_with_registry
from harvester.find.search import START, STOP, Hit, data_as_of, iter_hits
from harvester.find.search import search as run_search
from harvester.find.search_query import parse

CSV_COLUMNS = ("rank", "nct_id", "score", "title", "status", "phases", "study_type",
               "start_date", "conditions", "version", "version_id", "source", "snippet",
               "distance_km")


# "-word" excludes a word: not an option (-h and --help are help).
@click.command(context_settings={"ignore_unknown_options": True,
                                 "help_option_names": ["-h", "--help"]})
@click.argument("words", nargs=-1, metavar="[QUERY…]")
@db_option
@click.option("--term", metavar="QUERY", help="Every field (query.term); the same as QUERY.")
@selection_options(as_of="Search the trials as the registry published them on DATE.")
@click.option("--query", "saved", metavar="NAME",
              help="The trials the last complete sync of the saved query NAME stored; says "
                   "how a local search of its parameters would differ.")
@limit_option(20)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True,
              help="Skip this many of the best matches (the next page).")
@click.option("--all", "show_all", is_flag=True,
              help="Every match, best first, streamed (instead of --limit).")
@format_option("table", "json", "jsonl", "csv")
@quiet_option
@handles_errors
def search(words: tuple[str, ...], db: str | None, term: str | None, saved: str | None,
           limit: int, offset: int, show_all: bool, fmt: str, quiet: bool,
           **filters: Any) -> None:
    """Search the catalogue like the registry: every field, or one search area at a time
    (--cond, --intr, --titles, --outc, --spons, --locn, --id, as `trials sync` takes them),
    with the registry website's filters; best matches first.

    The words of QUERY must all match (any case, any form: "vaccines" finds "vaccine");
    "quoted words" must match as a phrase; OR gives alternatives (a OR b), -word or NOT word
    excludes, immun* matches a prefix, and parentheses group.  Hyphens split words as the
    registry's do ("covid-19" is "covid 19"), but "non-small" is one word: "small cell lung
    cancer" does not find non-small-cell lung cancer.  Conditions and interventions are also
    matched as MeSH concepts: --cond "lung cancer" finds the trials whose MeSH heading is
    "Lung Neoplasms" or below it.  A match on the concept or the condition list ranks first,
    then titles, interventions and keywords, then the rest.  Without QUERY or an area, the
    trials the filters select, by NCT id.

    The table shows the match in context; --format json gives the total and the hits with
    score, version and extract, jsonl and csv one hit per line.  Answers are from the local
    catalogue: stderr says how recent its registry data is.

    \b
    Examples:
      trials search tigit
      trials search '"small cell lung cancer"' --status RECRUITING --phase 3
      trials search --cond melanoma --intr pembrolizumab --age 70 --country USA
      trials search --cond asthma --near 'Boston, USA' --within 50mi
      trials search --query breast            # what the saved sync query found
      trials search 'nivolumab OR pembrolizumab' -docetaxel --has-results --format json
      trials search 'immun*' --all --format csv > hits.csv
    """
    text = " ".join([*words, *([term] if term else [])])
    query = parse(text) if text.strip() else None
    selection = selection_from(filters)
    if query is None and selection.is_everything and saved is None:
        raise UsageError("empty query: give words to search for, a search area (--cond, "
                         "--intr, …), a filter or --query NAME")
    catalogue = open_catalogue(db)
    agreement = None
    if saved is not None:
        selection = with_query(catalogue, selection, saved)
        agreement = compare_with_registry(catalogue, saved)
    if show_all:
        total = None
        hits: Iterable[Hit] = iter_hits(catalogue, query, selection, offset=offset)
    else:
        results = run_search(catalogue, query, selection, limit=limit, offset=offset)
        total, hits = results.total, results.hits
    label = text.strip() or _describe(selection)
    source = {"catalogue": "local", "registry_data_as_of": data_as_of(catalogue)}
    as_of = source["registry_data_as_of"] or "(empty catalogue)"
    near = (f"; near {selection.near}: nearest site first, km from it (the registry's "
            "coordinates are city-level)") if selection.near else ""
    where = f" (local catalogue, registry data as of {as_of}{near})"
    if agreement is not None and not quiet:
        click.echo(agreement.message(), err=True)
    if fmt == "json":
        _json(label, selection, total, offset, hits, source, agreement)
        if not quiet:
            click.echo(f"local catalogue, registry data as of {as_of}", err=True)
        return
    if fmt == "jsonl":
        shown = _jsonl(hits)
    elif fmt == "csv":
        shown = _csv(hits)
    else:
        shown = _table(hits, near=selection.near is not None)
    if not quiet:
        _report(label, total, offset, shown, show_all, where)


def _describe(selection: Selection) -> str:
    parts = [f"--{area} {text}" for area, text in selection.areas]
    if selection.query:
        parts.append(f"--query {selection.query}")
    return " ".join(parts) or "the filters"


def _report(text: str, total: int | None, offset: int, shown: int, show_all: bool,
            where: str = "") -> None:
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
    click.echo(message + where, err=True)


def _json(text: str, selection: Selection, total: int | None, offset: int,
          hits: Iterable[Hit], source: dict[str, Any], agreement: Agreement | None) -> None:
    """One JSON object; with --all the hits are written as they come (flat memory)."""
    out = sys.stdout
    head: dict[str, Any] = {"query": text, "filters": selection.describe(), "offset": offset,
                            "source": source}
    if agreement is not None:
        head["registry_agreement"] = agreement.to_json()
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
                         hit.plain_snippet, "" if hit.distance_km is None
                         else f"{hit.distance_km:.1f}"])
        count += 1
    sys.stdout.flush()
    return count


def _table(hits: Iterable[Hit], near: bool = False) -> int:
    table = Table(show_edge=False, show_lines=False)
    for name, ratio in (("#", None), ("NCT id", None), ("status", None), ("phase", None),
                        ("start", None), *([("km", None)] if near else []),
                        ("title", 2), ("match", 3)):
        table.add_column(name, ratio=ratio, no_wrap=ratio is None,
                         overflow="fold" if ratio else "ellipsis")
    count = 0
    for hit in hits:
        table.add_row(str(hit.rank), hit.nct_id, hit.status or "—",
                      "/".join(hit.phases) or "—", hit.start_date or "—",
                      *([f"{hit.distance_km:.0f}" if hit.distance_km is not None else "—"]
                        if near else []),
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
