"""``trials import``, ``trials reparse`` and ``trials runs``: writing the catalogue."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click
import msgspec

from harvester.catalogue import Catalogue
from harvester.catalogue.lock import writer_lock
from harvester.catalogue.store import supersede
from harvester.commands._common import (
    EXIT_PARTIAL,
    db_option,
    format_option,
    handles_errors,
    limit_option,
    open_catalogue,
    progress_bar,
    quiet_option,
    reporter,
    say,
    stdout_console,
    to_json,
    wait_option,
)
from harvester.commands.views import runs_table
from harvester.errors import NotFoundError, ParseError
from harvester.ingest.importer import Importer
from harvester.records import SOURCE_KINDS, SourceKind
from parsers import MAX_PAYLOAD_BYTES, PARSER_VERSION, iter_studies


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@db_option
@click.option("--source", type=click.Choice(SOURCE_KINDS), default=None,
              help="Force the source format instead of detecting it per file.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=500, show_default=True,
              help="Payloads per transaction.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=MAX_PAYLOAD_BYTES,
              show_default=True, help="Refuse any single payload larger than this.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes that parse (0: one per core for imports of 1,000 payloads or "
                   "more; 1: parse in this process, the least memory).")
@click.option("--verify", is_flag=True,
              help="Read every zip entry, even those whose name, size and CRC-32 show they "
                   "were imported before.")
@click.option("--progress/--no-progress", default=True,
              help="Progress bar on stderr (only on a terminal).")
@quiet_option
@wait_option
@format_option("table", "json")
@handles_errors
def import_(paths: tuple[str, ...], db: str | None, source: SourceKind | None,
            batch_size: int, max_bytes: int, workers: int, verify: bool, progress: bool,
            quiet: bool, wait: float, fmt: str) -> None:
    """Import registry files, folders and bulk zips into the catalogue.

    Reads whatever `trials parse` reads, folders recursively, and the bulk downloads as they
    come (ctg-studies.json.zip, AllPublicXML.zip), streamed without unpacking to disk.  A new
    version is stored only when a trial's content changed, so importing the same data twice
    adds nothing.  Prints new/changed/unchanged/failed; exit status 1 if some input failed.

    \b
    Examples:
      trials import ctg-studies.json.zip
      trials import --db postgresql+psycopg://me@db/trials snapshots/ legacy/AllPublicXML.zip
    """
    importer = Importer(open_catalogue(db, create=True), source=source, batch_size=batch_size,
                        max_payload_bytes=max_bytes, workers=workers or None, verify=verify,
                        on_problem=reporter(quiet))
    inputs = importer.inputs(paths)
    show_progress = progress and not quiet
    with progress_bar(inputs.count() if show_progress else None, "importing",
                      enabled=show_progress) as advance:
        importer.on_progress = lambda n: advance(n, None)
        summary = importer.run(paths, inputs=inputs, wait=wait)
    if not quiet:
        if fmt == "json":
            click.echo(to_json(summary.to_json()))
        else:
            click.echo(f"run {summary.run_id}: {summary.new} new, {summary.changed} changed, "
                       f"{summary.unchanged} unchanged, {summary.failed} failed"
                       f"{f', {summary.skipped} skipped' if summary.skipped else ''} "
                       f"in {summary.seconds:.1f} s")
    if summary.failed:
        sys.exit(EXIT_PARTIAL)


@click.command()
@click.argument("nct_ids", nargs=-1, callback=lambda c, p, v: tuple(x.upper() for x in v))
@db_option
@click.option("--all", "everything", is_flag=True,
              help="Re-derive every version, not only those made by an older parser.")
@wait_option
@handles_errors
def reparse(nct_ids: tuple[str, ...], db: str | None, everything: bool, wait: float) -> None:
    """Re-derive records from their stored raw payloads with the current parser.

    A version whose record comes out different is superseded by a new version (the old one
    stays, and `trials history` shows the new one in its place).  Without NCT ids, every trial
    is considered.

    \b
    Examples:
      trials reparse
      trials reparse --all NCT00557986
    """
    catalogue = open_catalogue(db, create=True)
    unknown = [nct_id for nct_id in nct_ids if not catalogue.has_trial(nct_id)]
    if unknown:
        raise NotFoundError(f"not in the catalogue: {', '.join(unknown)}")
    with writer_lock(catalogue.engine, wait=wait):
        redone, failed, run_id = _reparse(catalogue, nct_ids, everything)
    click.echo(f"run {run_id}: {redone} version(s) re-derived, {failed} failed")
    if failed:
        sys.exit(EXIT_PARTIAL)


def _reparse(catalogue: Catalogue, nct_ids: tuple[str, ...],
             everything: bool) -> tuple[int, int, int]:
    run_id = catalogue.start_run("reparse", {"nct_ids": list(nct_ids), "all": everything})
    redone = failed = 0
    for nct_id in nct_ids or catalogue.trial_ids():
        for info in catalogue.versions(nct_id):
            if info.parser_version == PARSER_VERSION and not everything:
                continue
            data = catalogue.payload(info.id)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results = [r for _, r in iter_studies(data, info.source)]  # type: ignore[arg-type]
            if len(results) != 1 or isinstance(results[0], ParseError):
                failed += 1
                say("error", f"{nct_id} version {info.number}: cannot re-parse its payload")
                continue
            if supersede(catalogue, info, results[0], run_id) is not None:
                redone += 1
    catalogue.finish_run(run_id, "ok" if not failed else "partial",
                         f"{redone} superseded", failed=failed)
    return redone, failed, run_id


@click.command()
@db_option
@limit_option(20, help="How many runs to list, latest first.")
@format_option("table", "json")
@handles_errors
def runs(db: str | None, limit: int, fmt: str) -> None:
    """List the latest imports, syncs and reparses: when, what, and how they ended.

    Each run shows how long it took and, for a sync, its saved query.

    \b
    Example:
      trials runs --limit 5
      trials runs --format json | jq '.[] | select(.status != "ok")'
    """
    rows = [run_json(row) for row in open_catalogue(db).runs(limit)]
    if fmt == "json":
        click.echo(to_json(rows))
    else:
        stdout_console().print(runs_table(rows))


def run_json(row: dict[str, Any]) -> dict[str, Any]:
    """A run as data: its arguments and stats as objects, the saved query it ran, the
    ``sync --all`` batch it was part of, and how long it took."""
    finished, started = row["finished_at"], row["started_at"]
    seconds = ((finished - started).total_seconds() if finished and started else None)
    return {**row,
            "arguments": msgspec.json.decode(row["arguments"]) if row["arguments"] else None,
            "stats": msgspec.json.decode(row["stats"]) if row.get("stats") else None,
            "query": row.get("query_name"), "batch": row.get("batch_id"),
            "seconds": round(seconds, 3) if seconds is not None else None}
