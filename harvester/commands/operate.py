"""``trials queries`` and ``trials status``: the saved queries as managed objects, and the
catalogue's health for a person or a monitoring check."""

from __future__ import annotations

import sqlite3
import sys
from datetime import datetime

import click

from harvester.catalogue.quick import QuickReader
from harvester.catalogue.statusinfo import QueryInfo, Status, describe_age, parse_age
from harvester.commands._common import (
    EXIT_PARTIAL,
    db_option,
    duration,
    format_option,
    handles_errors,
    open_catalogue,
    say,
    to_json,
)
from harvester.errors import UsageError

ACTIONS = ("list", "show", "rename", "delete")


def _params(info: QueryInfo) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(info.params.items())) or "(all studies)"


def _outcome(info: QueryInfo) -> str:
    last = info.last_run
    if last is None:
        return "never run"
    return f"{last['status']} (run {last['id']})"


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


@click.command()
@click.argument("action", type=click.Choice(ACTIONS), default="list", required=False)
@click.argument("names", nargs=-1, metavar="[NAME [NEW]]")
@db_option
@format_option("table", "json")
@handles_errors
def queries(action: str, names: tuple[str, ...], db: str | None, fmt: str) -> None:
    """List, show, rename or delete the saved sync queries.

    Each query is listed with its parameters, its last successful sync and how long ago
    that was, the trials in its results, and how its last sync ended. Deleting a query
    keeps its trials (and their versions) in the catalogue.

    \b
    Examples:
      trials queries
      trials queries show breast
      trials queries rename breast breast-recruiting
      trials queries delete bad
    """
    from harvester.catalogue.queries import delete_query, query_info, query_infos, rename_query

    wanted = {"list": 0, "show": 1, "delete": 1, "rename": 2}[action]
    if len(names) != wanted:
        shape = {0: "no NAME", 1: "one NAME", 2: "OLD and NEW names"}[wanted]
        raise UsageError(f"queries {action} takes {shape}")
    catalogue = open_catalogue(db)
    now = catalogue.clock()
    if action == "rename":
        rename_query(catalogue, names[0], names[1])
        click.echo(f"saved query {names[0]!r} is now {names[1]!r}")
        return
    if action == "delete":
        info = delete_query(catalogue, names[0])
        click.echo(f"deleted the saved query {info.name!r}; its {info.trials} trials stay in "
                   "the catalogue")
        return
    infos = [query_info(catalogue, names[0])] if action == "show" else query_infos(catalogue)
    if fmt == "json":
        data = [i.to_json(now) for i in infos]
        click.echo(to_json(data[0] if action == "show" else data))
        return
    if action == "show":
        (info,) = infos
        last = info.last_run or {}
        for label, value in (
                ("name", info.name), ("parameters", _params(info)),
                ("saved", _when(info.created_at)),
                ("last good sync", f"{_when(info.last_success_at)} "
                                   f"({describe_age(info.age(now))} ago)"
                 if info.last_success_at else "never"),
                ("trials", str(info.trials)), ("last sync", _outcome(info)),
                ("its message", " ".join((last.get("message") or "").split()) or "—")):
            click.echo(f"{label + ':':<16}{value}")
        return
    if not infos:
        click.echo("no saved queries (save one with trials sync … --save NAME)")
        return
    click.echo(f"{'name':<20} {'last good sync':<21} {'age':>8} {'trials':>7}  "
               f"{'last sync':<22} parameters")
    for info in infos:
        age = describe_age(info.age(now)) if info.last_success_at else "—"
        click.echo(f"{info.name:<20} {_when(info.last_success_at):<21} {age:>8} "
                   f"{info.trials:>7}  {_outcome(info):<22} {_params(info)}")


@click.command()
@db_option
@click.option("--max-age", metavar="AGE",
              help="Exit 1 when any saved query's last good sync is older than AGE (36h, "
                   "90m, 2d) or never happened: for a monitoring check.")
@format_option("table", "json")
@handles_errors
def status(db: str | None, max_age: str | None, fmt: str) -> None:
    """The catalogue's health on one screen, for a person or a monitoring check.

    Where the catalogue is and its size, trials and versions, the registry data version
    held, each saved query's last good sync and its age, who holds the writer lock (PID,
    host, command, since when), how far the similarity index lags, and how the last sync
    ended. Exit status: 0 healthy, 1 a saved query is older than --max-age, 3 no catalogue.

    \b
    Examples:
      trials status
      trials status --max-age 36h --format json    # from a monitoring system
    """
    limit = parse_age(max_age) if max_age else None
    state = None
    quick = QuickReader.open(db)  # SQLite: read with sqlite3, no SQLAlchemy
    if quick is not None:
        try:
            with quick:
                state = quick.status()
        except sqlite3.Error:  # locked, damaged …: the usual path says what is wrong
            state = None
    if state is None:
        from harvester.catalogue.health import catalogue_status

        state = catalogue_status(open_catalogue(db))
    stale = state.check(limit) if limit is not None else []
    if fmt == "json":
        click.echo(to_json(state.to_json()))
    else:
        _screen(state)
    for line in stale:
        say("error", f"stale: {line}")
    if stale:
        sys.exit(EXIT_PARTIAL)


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return ""


def _screen(state: Status) -> None:
    lines = [
        ("catalogue", f"{state.location} ({state.backend}, {_size(state.size_bytes)}, "
                      f"schema {state.schema_version})"),
        ("holds", f"{state.trials:,} trials, {state.versions:,} versions"),
        ("registry data", f"{state.registry_data_version or 'never synced'}"
                          + (f" (checked {_when(state.registry_checked_at)})"
                             if state.registry_checked_at else "")),
        ("writer lock", f"held by {state.lock.describe()}" if state.lock else "free"),
        ("similar index", "not built yet" if state.similarity_pending is None else
         "up to date" if state.similarity_pending == 0 else
         f"{state.similarity_pending:,} trials behind (run trials index)"),
        ("full-text index", "up to date (kept with each version)"),
        ("last sync", state.last_sync.describe() if state.last_sync else "never"),
    ]
    for label, value in lines:
        click.echo(f"{label + ':':<17}{value}")
    if state.last_sync:
        for failed in state.last_sync.failed:
            click.echo(f"{'':<17}failed: {failed['query'] or 'run ' + str(failed['run'])}: "
                       f"{failed['status']}")
    click.echo("")
    if not state.queries:
        click.echo("no saved queries")
        return
    click.echo(f"{'saved query':<20} {'last good sync':<21} {'age':>8} {'trials':>7}  last sync")
    for info in state.queries:
        age = describe_age(info.age(state.now)) if info.last_success_at else "—"
        took = ""
        last = info.last_run
        if last and last.get("finished_at") and last.get("started_at"):
            took = f", {duration((last['finished_at'] - last['started_at']).total_seconds())}"
        click.echo(f"{info.name:<20} {_when(info.last_success_at):<21} {age:>8} "
                   f"{info.trials:>7}  {_outcome(info)}{took}")
