"""``trials similar`` and ``trials index``: similar trials with reasons, and their index."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from harvester.catalogue.lock import writer_lock
from harvester.commands._common import (
    db_option,
    format_option,
    handles_errors,
    limit_option,
    open_catalogue,
    progress_bar,
    quiet_option,
    say,
    stdout_console,
    to_json,
    wait_option,
)
from harvester.commands._selection import ready, selection_from, selection_options
from harvester.errors import CatalogueBusyError, ParseError, UsageError
from harvester.find.search import data_as_of
from harvester.find.similar.engine import SimilarityEngine, SimilarResult
from harvester.find.similar.triage import Facts, check_known, facts
from harvester.records import TrialRecord

REASONS_SHOWN = 4  # reasons per row of the table; the rest are counted ("+N more")
UNKNOWN = Facts(None, (), None, None)


def shown_reasons(reasons: list[str]) -> str:
    """The first reasons of a row, and how many more the other formats list."""
    more = len(reasons) - REASONS_SHOWN
    return "\n".join(reasons[:REASONS_SHOWN] + ([f"+{more} more (--format json lists "
                                                  "them)"] if more > 0 else []))


#: The NCT id a draft without one is matched under (no registered trial has it).
DRAFT_ID = "NCT00000000"


def _read_record(path: str) -> TrialRecord:
    data = Path(path).read_bytes() if path != "-" else sys.stdin.buffer.read()
    from parsers.detect import MAX_PAYLOAD_BYTES, parse_bytes  # the HTML/XML stacks: only here

    if len(data) > MAX_PAYLOAD_BYTES:
        raise UsageError(f"{path}: larger than {MAX_PAYLOAD_BYTES:,} bytes")
    try:
        records = parse_bytes(_with_draft_id(data))
    except ParseError as exc:
        raise exc.located(path) from None
    if len(records) != 1:
        raise UsageError(f"{path} holds {len(records)} studies: give a file with one study "
                         "(`trials parse` shows what a file holds)")
    return records[0]


def _with_draft_id(data: bytes) -> bytes:
    """A draft study (registry JSON with no NCT id yet) given the placeholder id, so that it
    parses; anything else unchanged."""
    try:
        study = json.loads(data)
    except ValueError:
        return data
    if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
        return data
    ident = study["protocolSection"].setdefault("identificationModule", {})
    if not isinstance(ident, dict) or ident.get("nctId"):
        return data
    ident["nctId"] = DRAFT_ID
    return json.dumps(study).encode()


@click.command()
@click.argument("nct_id", required=False, metavar="[NCT…]")
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True),
              help="Match a trial given as a file (a draft, or a record not in the catalogue): "
                   "anything `trials parse` reads, one study.")
@click.option("--text", "text", metavar="TEXT", help="Match free text (a title, an idea).")
@limit_option(10, hidden=("--top",), maximum=1000, help="How many similar trials to list.")
@click.option("--explain", is_flag=True,
              help="Show each part of the score: weight × similarity = contribution.")
@selection_options(as_of="Compare with the trials as the registry published them on DATE "
                   "(a year, month or day: its last day).")
@db_option
@click.option("--progress/--no-progress", default=True,
              help="Progress bar on stderr while the index catches up (only on a terminal).")
@format_option("table", "json", "jsonl", "csv")
@quiet_option
@handles_errors
def similar(nct_id: str | None, file: str | None, text: str | None, limit: int, explain: bool,
            db: str | None, progress: bool, fmt: str, quiet: bool, **filters: Any) -> None:
    """List the trials most like a given one, each with a score and the reasons.

    Compares conditions (and MeSH headings, with shared ancestors such as "Breast
    Neoplasms"), interventions and their types, phase, design, population (sex, ages,
    healthy volunteers), countries, and the text of title, summary and criteria; rare shared
    things count more.  Works offline on the catalogue; the index it uses is brought up to
    date first (see `trials index`).  Records of the same trial (the same NCT id from a
    mirror, a trial naming the other's registry id, a near-identical title from the same
    sponsor) are listed apart as possible duplicates, never as similar trials.

    Give exactly one of: an NCT id of the catalogue, --file, --text.  Filters restrict the
    similar trials listed (not the duplicates).

    \b
    Examples:
      trials similar NCT01642004
      trials similar NCT01642004 --limit 20 --status RECRUITING --phase PHASE3
      trials similar NCT01642004 --explain --format json
      trials similar --file draft.json
      trials similar --text "pembrolizumab in advanced melanoma"
    """
    given = [x for x in (nct_id, file, text) if x is not None]
    if len(given) != 1:
        raise UsageError("give exactly one of an NCT id, --file PATH or --text TEXT")
    selection = selection_from(filters)
    record = _read_record(file) if file is not None else None
    catalogue = open_catalogue(db)
    if nct_id is not None:
        nct_id = nct_id.strip().upper()
        check_known(catalogue, nct_id)  # an unknown id fails before any indexing
    ready(catalogue, selection)
    engine = SimilarityEngine(catalogue)
    try:
        with progress_bar(None, "indexing", enabled=progress and not quiet) as advance:
            engine.refresh(on_progress=advance)
    except CatalogueBusyError:
        pass  # the query notes how far behind the index is
    if nct_id is not None:
        result = engine.similar_to_id(nct_id, top=limit, selection=selection)
    elif record is not None:
        result = engine.similar_to_record(record, top=limit, selection=selection,
                                          label=file if record.nct_id == DRAFT_ID else None)
    else:
        result = engine.similar_to_text(text or "", top=limit, selection=selection)
    if not quiet:
        for note in result.notes:
            say("warning", note)
    shown = facts(catalogue, [m.nct_id for m in result.matches], selection.as_of)
    as_of = data_as_of(catalogue)
    _print(result, fmt, explain, shown, {"catalogue": "local", "registry_data_as_of": as_of})
    if not quiet:
        click.echo(f"local catalogue, registry data as of {as_of or '(empty catalogue)'}",
                   err=True)


def _explain(result: SimilarResult, parts: dict[str, float]) -> list[dict[str, Any]]:
    return [{"part": part, "weight": round(weight, 4),
             "similarity": round(parts.get(part, 0.0) / weight, 4) if weight else 0.0,
             "contribution": parts.get(part, 0.0)}
            for part, weight in result.weights.items()]


def _print(result: SimilarResult, fmt: str, explain: bool, known: dict[str, Facts],
           source: dict[str, Any]) -> None:
    matches = []
    for rank, m in enumerate(result.matches, start=1):
        about = known.get(m.nct_id, UNKNOWN).to_json()
        row: dict[str, Any] = {"rank": rank, "nct_id": m.nct_id, "title": m.title,
                               "score": round(m.score, 4), **about, "parts": m.parts,
                               "reasons": list(m.reasons)}
        if explain:
            row["explain"] = _explain(result, m.parts)
        matches.append(row)
    duplicates: list[dict[str, Any]] = [
        {"nct_id": d.nct_id, "title": d.title, "reasons": list(d.reasons)}
                  for d in result.duplicates]
    if fmt == "json":
        out: dict[str, Any] = {"query": result.query, "source": source,
                               "similar": matches, "duplicates": duplicates}
        if result.notes:
            out["notes"] = list(result.notes)
        click.echo(to_json(out, pretty=True))
    elif fmt == "jsonl":
        for row in matches:
            click.echo(to_json({"kind": "similar", "query": result.query, **row}))
        for row in duplicates:
            click.echo(to_json({"kind": "duplicate", "query": result.query, **row}))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["kind", "rank", "nct_id", "score", "title", "status", "phases",
                         "start_date", "enrollment", "reasons"])
        for row in matches:
            writer.writerow(["similar", row["rank"], row["nct_id"], row["score"],
                             row["title"] or "", row["status"] or "", "|".join(row["phases"]),
                             row["start_date"] or "", "" if row["enrollment"] is None
                             else row["enrollment"], "; ".join(row["reasons"])])
        for row in duplicates:
            writer.writerow(["duplicate", "", row["nct_id"], "", row["title"] or "", "", "",
                             "", "", "; ".join(row["reasons"])])
        click.echo(buffer.getvalue(), nl=False)
    else:
        _table(result, matches, explain)


def _table(result: SimilarResult, matches: list[dict[str, Any]], explain: bool) -> None:
    console = stdout_console()
    table = Table(title=f"Trials similar to {result.query}", title_justify="left")
    for name, justify in (("#", "right"), ("NCT id", "left"), ("score", "right"),
                          ("status", "left"), ("phase", "left"), ("start", "left"),
                          ("enrolled", "right"), ("title", "left"), ("why", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in matches:
        why = shown_reasons(row["reasons"])
        if explain:
            why += "\n" + "\n".join(
                f"  {e['part']:<13} {e['weight']:.3f} × {e['similarity']:.3f} = "
                f"{e['contribution']:.3f}" for e in row["explain"])
        table.add_row(str(row["rank"]), row["nct_id"], f"{row['score']:.3f}",
                      row["status"] or "—", "/".join(row["phases"]) or "—",
                      row["start_date"] or "—",
                      "—" if row["enrollment"] is None else f"{row['enrollment']:,}",
                      row["title"] or "", why)
    if matches:
        console.print(table)
    else:
        console.print(f"no similar trials to {result.query} found")
    if result.duplicates:
        console.print("\n[bold]Same trial (possible duplicates), not counted as similar[/bold]")
        for d in result.duplicates:
            console.print(f"  {d.nct_id}  {d.title or ''}", markup=False)
            for reason in d.reasons:
                console.print(f"      {reason}", markup=False)


@click.command()
@db_option
@click.option("--rebuild", is_flag=True, help="Drop the index and build it again.")
@click.option("--progress/--no-progress", default=True,
              help="Progress bar on stderr (only on a terminal).")
@wait_option
@quiet_option
@handles_errors
def index(db: str | None, rebuild: bool, progress: bool, wait: float, quiet: bool) -> None:
    """Bring the similarity and search indexes up to date (or rebuild them).

    `trials similar` and `trials search` do this themselves before answering; run it after a
    large import or sync (from cron, say) so that the first query is quick (after importing
    the whole registry, each index takes minutes).  Both live in the catalogue's database:
    the similarity index follows each trial's current version, only trials that changed
    indexed again; the search index (`trials search`'s area index) takes every version
    stored since, and the ranked lists of its frequent words (which make a search of a
    common word quick) are made again when the index has grown by 5% since they were made.
    --rebuild drops both and builds them again from every trial.

    \b
    Examples:
      trials index
      trials index --rebuild
      trials index --db postgresql+psycopg://me@db/trials
    """
    catalogue = open_catalogue(db, create=True)
    engine = SimilarityEngine(catalogue)
    progress = progress and not quiet
    with writer_lock(catalogue.engine, wait=wait):
        with progress_bar(None, "indexing", enabled=progress) as advance:
            done = (engine.rebuild(on_progress=advance, lock=False) if rebuild
                    else engine.refresh(on_progress=advance, lock=False))
        what = "rebuilt: " if rebuild else ""
        click.echo(f"{what}{done} trial{'s' if done != 1 else ''} indexed")
        from harvester.catalogue import areas

        with progress_bar(None, "search index", enabled=progress) as advance:
            versions = (areas.rebuild if rebuild else areas.catch_up)(
                catalogue.engine, progress=lambda n: advance(n, None))
        plural = "s" if versions != 1 else ""
        click.echo(f"search index rebuilt: {versions} version{plural}" if rebuild
                   else f"search index: {versions} version{plural} indexed")
        from harvester.find import champions

        with progress_bar(None, "frequent words", enabled=progress) as advance:
            words = champions.refresh(catalogue.engine, rebuild=rebuild,
                                      progress=lambda n: advance(n, None))
        if words:  # none in a small catalogue: nothing to say
            click.echo(f"frequent words ranked: {words} word{'s' if words != 1 else ''}")
