"""``trials show``, ``history``, ``diff`` and ``changes``: reading the catalogue."""

from __future__ import annotations

import sqlite3
import sys
from collections import Counter
from contextlib import suppress
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, cast

import click

from harvester.catalogue.quick import QuickReader
from harvester.catalogue.versioninfo import VersionInfo
from harvester.commands._common import (
    EXIT_PARTIAL,
    as_of_option,
    db_option,
    format_option,
    handles_errors,
    http_client,
    network_options,
    open_catalogue,
    parse_moment,
    say,
    stdout_console,
    to_json,
    wait_option,
)
from harvester.commands.views import change_report, history_table, record_view
from harvester.errors import NotFoundError, UsageError
from harvester.fetch import BASE_URL_ENV, DEFAULT_BASE_URL
from harvester.sources import SOURCE_KINDS

if TYPE_CHECKING:  # `trials show` on SQLite reads without SQLAlchemy (catalogue/quick.py)
    from rich.console import RenderableType

    from harvester.catalogue import Catalogue
    from harvester.catalogue.diff import Change
    from harvester.records import TrialRecord

ITEMS_SHOWN = 10
nct_argument = click.argument("nct_id", metavar="NCT…", callback=lambda c, p, v: v.upper())


def _pick(catalogue: Catalogue | QuickReader, nct_id: str, source: str | None,
          as_of: date | None) -> VersionInfo:
    if not catalogue.has_trial(nct_id):
        raise NotFoundError(f"{nct_id} is not in the catalogue")
    info = catalogue.current(nct_id, source=source, as_of=as_of)
    if info is None:
        what = f" from {source}" if source else ""
        when = f" on {as_of} (first published later)" if as_of else ""
        raise NotFoundError(f"{nct_id} has no version{what}{when}")
    return info


@click.command()
@nct_argument
@db_option
@as_of_option("Show the trial as the registry published it on DATE (a year, month or "
              "day: its last day).")
@click.option("--source", type=click.Choice(SOURCE_KINDS), help="Show this source's record.")
@click.option("--sources", "list_sources", is_flag=True,
              help="List where each other source disagrees with the record shown.")
@format_option("table", "json")
@handles_errors
def show(nct_id: str, db: str | None, as_of: date | None, source: str | None,
         list_sources: bool, fmt: str) -> None:
    """Show a trial's current record (ClinicalTrials.gov's own preferred over mirrors).

    \b
    Examples:
      trials show NCT00557986
      trials show NCT06203210 --as-of 2026-02-01 --format json
      trials show NCT00557986 --sources
    """
    quick = None if list_sources else QuickReader.open(db)
    view: RenderableType | None = None
    if quick is not None:
        try:
            with quick:
                info = _pick(quick, nct_id, source, as_of)
                if fmt == "table":  # printed from the stored JSON: no record classes
                    with suppress(AttributeError):  # stored by an older parser: as below
                        view = record_view(cast("TrialRecord", quick.record_view(info.id)))
                if view is None:
                    record = quick.record(info.id)
        except sqlite3.Error:  # locked, damaged …: the usual path says what is wrong
            quick = None
    if quick is None:
        catalogue = open_catalogue(db)
        info = _pick(catalogue, nct_id, source, as_of)
        record = catalogue.record(info.id)
    if list_sources:
        _show_sources(catalogue, info, record, fmt, as_of)
        return
    if fmt == "json":
        click.echo(to_json(record.to_json_dict(), pretty=True))
    else:
        console = stdout_console()
        console.print(view if view is not None else record_view(record))
        console.print(f"version {info.number} · {info.source} · seen {info.seen_at:%Y-%m-%d} "
                      f"· registry date {info.registry_date or '—'}")


def _show_sources(catalogue: Catalogue, shown: VersionInfo, record: TrialRecord,
                  fmt: str, as_of: date | None) -> None:
    # Each other source as it stood on the same date (a later version of the shown source
    # is not another source).
    latest = [catalogue.current(shown.nct_id, source=source, as_of=as_of)
              for source in catalogue.latest_by_source(shown.nct_id) if source != shown.source]
    from harvester.catalogue.sources import disagreements

    others = [(info, disagreements(record, catalogue.record(info.id)))
              for info in latest if info is not None]
    if fmt == "json":
        click.echo(to_json({
            "nct_id": shown.nct_id, "shown": shown.to_json(),
            "sources": [{**info.to_json(), "disagreements": [c.to_json() for c in changes]}
                        for info, changes in others]}))
        return
    click.echo(f"{shown.nct_id}: version {shown.number} from {shown.source} is shown")
    if not others:
        click.echo("no other source holds this trial")
    for info, changes in others:
        click.echo(f"{info.source} (version {info.number}):")
        for line in [c.describe() for c in changes] or ["agrees on everything it shows"]:
            click.echo(f"  {line}")


@click.command()
@click.argument("nct_id", metavar="NCT…", required=False,
                callback=lambda c, p, v: v.upper() if v else v)
@db_option
@click.option("--backfill", is_flag=True,
              help="First fetch every past version from the registry's record history.")
@click.option("--queue", is_flag=True,
              help="With --backfill: work the catalogue's shared backfill queue until no "
                   "trial is pending (on PostgreSQL several workers, on several machines, "
                   "share it, together within one --min-interval).")
@click.option("--enqueue-all", is_flag=True,
              help="With --queue: first queue every trial of the catalogue.")
@click.option("--ids-file", metavar="FILE",
              help="With --queue: first queue these NCT ids (one a line; - for stdin).")
@click.option("--base-url", envvar=BASE_URL_ENV, default=DEFAULT_BASE_URL, show_default=True,
              help=f"With --backfill: the API server (also ${BASE_URL_ENV}).")
@click.option("--min-interval", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="With --backfill: seconds between requests.")
@click.option("--retries", type=click.IntRange(0, 20), default=5, show_default=True,
              help="With --backfill: retries of a request that failed for a passing reason.")
@wait_option
@network_options
@as_of_option("Only the versions the registry had published by DATE (a year, month or day).")
@format_option("table", "json", "jsonl")
@handles_errors
def history(nct_id: str | None, db: str | None, backfill: bool, queue: bool,
            enqueue_all: bool, ids_file: str | None, base_url: str, min_interval: float,
            retries: int, wait: float, timeout: float, budget: float | None,
            user_agent: str | None, as_of: date | None, fmt: str) -> None:
    """List a trial's versions: number, when seen, source, registry date, what changed.

    Exit status with --backfill: 1 when some of the history could not be fetched (named on
    stderr; what was fetched is kept), 4 when the trial has no versions at all.

    \b
    Examples:
      trials history NCT06203210
      trials history NCT06203210 --backfill    # reach back to the first registration
      trials history --backfill --queue --enqueue-all   # every trial; run on many machines
      trials history NCT06203210 --as-of 2025 --format jsonl
    """
    if queue or enqueue_all or ids_file:
        from harvester.commands._backfilling import work_queue

        if not (backfill and queue):
            raise UsageError("--enqueue-all and --ids-file go with --backfill --queue")
        network = {"min_interval": min_interval, "retries": retries, "timeout": timeout,
                   "budget": budget, "user_agent": user_agent}
        sys.exit(work_queue(open_catalogue(db, create=True), nct_id, ids_file, enqueue_all,
                            base_url, network, wait=wait, fmt=fmt))
    if nct_id is None:
        raise UsageError("give an NCT id (or --backfill --queue)")
    catalogue = open_catalogue(db, create=backfill)
    problems: list[str] = []
    if backfill:
        # Here, not at the top: `show` and `history` without --backfill need no HTTP stack.
        from harvester.fetch.backfill import backfill as fill_history
        from harvester.fetch.ctgov import CtgovApi

        api = CtgovApi(http_client(min_interval=min_interval, retries=retries,
                                   timeout=timeout, budget=budget, user_agent=user_agent),
                       base_url)

        def problem(message: str) -> None:
            problems.append(message)
            say("error", message)

        from harvester.catalogue.lock import writer_lock

        with writer_lock(catalogue.engine, wait=wait, shared=True):
            run_id = catalogue.start_run("backfill", {"nct_ids": [nct_id],
                                                      "base_url": api.base})
            try:
                added = fill_history(catalogue, api, [nct_id], run_id=run_id,
                                     on_problem=problem)
            except BaseException as exc:
                catalogue.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}",
                                     stats={**api.client.stats.__dict__})
                raise
            catalogue.finish_run(run_id, "partial" if problems else "ok",
                                 f"{added} past versions"
                                 + (f"; {len(problems)} failed" if problems else ""),
                                 failed=len(problems), stats={**api.client.stats.__dict__})
    from harvester.catalogue.diff import diff_records, summarise

    versions = catalogue.versions(nct_id)
    if not versions:
        raise NotFoundError(f"{nct_id} is not in the catalogue")
    rows: list[tuple[VersionInfo, str]] = []
    previous: dict[str, TrialRecord] = {}
    for info in versions:
        record = catalogue.record(info.id)
        before = previous.get(info.source)
        summary = (f"first version from {info.source}" if before is None
                   else summarise(diff_records(before, record)) or "no content change")
        rows.append((info, summary))
        previous[info.source] = record
    if as_of is not None:
        rows = [(info, summary) for info, summary in rows if _published_by(info, as_of)]
        if not rows:
            raise NotFoundError(f"{nct_id} has no version on {as_of} (first published later)")
    if fmt == "json":
        click.echo(to_json([{**info.to_json(), "summary": summary}
                                 for info, summary in rows]))
    elif fmt == "jsonl":
        for info, summary in rows:
            click.echo(to_json({**info.to_json(), "summary": summary}))
    else:
        stdout_console().print(history_table(rows))
    if problems:
        sys.exit(EXIT_PARTIAL)


def _published_by(info: VersionInfo, day: date) -> bool:
    """Whether the registry had published this version by ``day`` (its effective date: the
    registry's date, else the day it was seen; the test ``--as-of`` uses everywhere)."""
    return info.effective_date[:10] <= day.isoformat()


@click.command()
@nct_argument
@db_option
@click.option("--from", "from_", type=int, metavar="V", help="Older version number.")
@click.option("--to", type=int, metavar="V", help="Newer version number (default: current).")
@click.option("--all", "show_all", is_flag=True,
              help=f"List every item, not only the first {ITEMS_SHOWN} of each kind.")
@as_of_option("Without --to: the version current on DATE is the newer one.")
@format_option("table", "json")
@handles_errors
def diff(nct_id: str, db: str | None, from_: int | None, to: int | None, show_all: bool,
         as_of: date | None, fmt: str) -> None:
    """Field-level differences between two versions of a trial.

    By default, the current version against the one before it from the same source.

    \b
    Examples:
      trials diff NCT06203210
      trials diff NCT06203210 --from 1 --to 3 --format json
      trials diff NCT06203210 --as-of 2026-02    # what the change before Feb 2026 was
    """
    if to is not None and as_of is not None:
        raise UsageError("give --to or --as-of, not both")
    catalogue = open_catalogue(db)
    newer = catalogue.version(nct_id, to) if to else _pick(catalogue, nct_id, None, as_of)
    if from_ is not None:
        older = catalogue.version(nct_id, from_)
        if older.id == newer.id:
            raise UsageError(f"{nct_id}: --from {from_} is the version it would be compared "
                             "with; give an older --from or another --to")
    else:
        earlier = [v for v in catalogue.versions(nct_id)
                   if v.source == newer.source and v.number < newer.number]
        if not earlier:
            raise UsageError(f"{nct_id} has no earlier {newer.source} version than "
                             f"{newer.number}; give --from")
        older = earlier[-1]
    from harvester.catalogue.diff import diff_records

    changes = diff_records(catalogue.record(older.id), catalogue.record(newer.id))
    if fmt == "json":
        click.echo(to_json({"nct_id": nct_id, "from": older.to_json(),
                                 "to": newer.to_json(),
                                 "changes": [c.to_json() for c in changes]}))
        return
    click.echo(f"{nct_id}: version {older.number} ({older.source}, "
               f"{older.registry_date or older.seen_at.date()}) → version {newer.number} "
               f"({newer.source}, {newer.registry_date or newer.seen_at.date()})")
    for line in _diff_lines(changes, None if show_all else ITEMS_SHOWN) or ["no differences"]:
        click.echo(f"  {line}")


def _diff_lines(changes: list[Change], per_kind: int | None) -> list[str]:
    """Describe each change; past ``per_kind`` items of one field and kind, count the rest
    (a re-geocoded trial can change hundreds of sites at once)."""
    lines: list[str] = []
    seen: Counter[tuple[str, str]] = Counter()
    for change in changes:
        slot = (change.field, change.kind)
        seen[slot] += 1
        if per_kind is None or change.key is None or seen[slot] <= per_kind:
            lines.append(change.describe())
    for (field, how), count in seen.items():
        if per_kind is not None and count > per_kind:
            lines.append(f"… and {count - per_kind} more {field} {how} (--all lists them)")
    return lines


@click.command()
@db_option
@click.option("--since", metavar="DATE", help="Report what the catalogue learned since this "
              "date or date-time (UTC).")
@click.option("--since-last-sync", is_flag=True,
              help="Since the start of the last sync: the whole last `sync --all` batch "
                   "(every query's runs), and which queries failed.")
@click.option("--since-last-run", is_flag=True,
              help="Since the start of the last import or sync (batch): what it brought.")
@click.option("--query", "query_name", metavar="NAME",
              help="Only the trials of this saved query.")
@as_of_option("The report as it stood at the end of DATE (a year, month or day; UTC): only "
              "what the catalogue had stored by then.")
@format_option("table", "json")
@handles_errors
def changes(db: str | None, since: str | None, since_last_sync: bool, since_last_run: bool,
            query_name: str | None, as_of: date | None, fmt: str) -> None:
    """What changed in the catalogue: new trials, status transitions, enrollment changes,
    results first posted, trials that disappeared.

    --since-last-sync covers the whole last sync batch and names the queries that failed
    in it (a failed sync is reported, never skipped for an older one).

    \b
    Examples:
      trials changes --since 2026-11-01
      trials changes --since-last-sync | mail -s "trial digest" team@example.org
      trials changes --since-last-sync --query breast --format json
      trials changes --since 2026-10-01 --as-of 2026-10    # what October brought
    """
    from harvester.catalogue.batches import last_run
    from harvester.catalogue.changes import changes_since
    from harvester.catalogue.queries import end_of, query_members

    if [bool(since), since_last_sync, since_last_run].count(True) != 1:
        raise UsageError("give exactly one of --since DATE, --since-last-sync and "
                         "--since-last-run")
    catalogue = open_catalogue(db)
    only = query_members(catalogue, query_name) if query_name else None
    moment: datetime
    covers = None
    if since:
        moment = parse_moment(since, "--since")
    else:
        covers = last_run(catalogue, syncs_only=since_last_sync)
        if covers is None:
            kinds = "sync" if since_last_sync else "import or sync"
            raise UsageError(f"no {kinds} has finished yet; use --since")
        moment = covers.started_at
    until = end_of(as_of) if as_of is not None else None
    if until is not None and (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) >= until:
        raise UsageError(f"--as-of {as_of} is before the start of the report "
                         f"({moment:%Y-%m-%d %H:%M} UTC)")
    report = changes_since(catalogue, moment, only=only, until=until)
    report.covers, report.query = covers, query_name
    if fmt == "json":
        click.echo(to_json(report.to_json()))
    else:
        click.echo(change_report(report))
