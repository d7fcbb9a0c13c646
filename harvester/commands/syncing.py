"""``trials sync`` and ``trials fetch``: harvesting from ClinicalTrials.gov and mirrors.

Light to import: a nightly sync that finds nothing new on a SQLite catalogue runs without the
database stack or the HTTP stack (:mod:`harvester.fetch.quicksync`); they are imported where
the work needs them.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TextIO, cast

import click

from harvester.commands._common import (
    EXIT_FAILED,
    EXIT_NOT_FOUND,
    EXIT_PARTIAL,
    ParamTypeBase,
    db_option,
    format_option,
    handles_errors,
    http_client,
    network_options,
    open_catalogue,
    progress_bar,
    quiet_option,
    reporter,
    say,
    to_json,
    wait_option,
    workers_option,
)
from harvester.errors import CatalogueError, HarvesterError, HttpStatusError, UsageError
from harvester.fetch import BASE_URL_ENV, DEFAULT_BASE_URL, DEFAULT_USER_AGENT
from harvester.fetch.params import search_params
from harvester.fetch.summary import SyncSummary

if TYPE_CHECKING:
    from harvester.catalogue import Catalogue
    from harvester.fetch.ctgov import CtgovApi
    from harvester.fetch.quickbatch import HandOver
    from harvester.fetch.quicksync import Done, Head

_NCT_ID = re.compile(r"^[Nn][Cc][Tt]\d{8}$")

base_url_option = click.option(
    "--base-url", envvar=BASE_URL_ENV, default=DEFAULT_BASE_URL, show_default=True,
    help=f"Any server that speaks the API (also ${BASE_URL_ENV}).")


def rate_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--min-interval and --retries: the politeness and patience of the HTTP client."""
    func = click.option(
        "--retries", type=click.IntRange(0, 20), default=5, show_default=True,
        help="Retries of a request that failed for a passing reason (429, 5xx, network).")(
        func)
    return click.option(
        "--min-interval", type=click.FloatRange(min=0), default=1.0, show_default=True,
        help="Seconds between requests (politeness; robots.txt Crawl-delay can raise it; "
             "0 turns it off, for a local server).")(func)


def _api(base_url: str, **network: Any) -> CtgovApi:
    from harvester.fetch.ctgov import CtgovApi

    return CtgovApi(http_client(**network), base_url)


class Values(ParamTypeBase):
    """``--status`` as every filter option takes it: :class:`harvester.commands._selection.
    Values`, imported only when the option is given (it needs the record classes)."""

    name = "status"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        from harvester.commands._selection import STATUS
        from harvester.commands._selection import Values as Checked

        return Checked(STATUS).convert(value, param, ctx)


def _flat_statuses(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if not value:
        return value
    from harvester.commands._selection import _flatten

    return _flatten(ctx, param, value)


#: ``filter_option(STATUS)`` of :mod:`harvester.commands._selection`, made without importing
#: it (tests/test_quicksync.py checks that they agree).
STATUS_HELP = ("Overall status, e.g. RECRUITING or 'not yet recruiting' (commas or repeats "
               "for several).")
status_option = click.option("--status", "status", multiple=True, metavar="STATUS",
                             default=(), type=Values(), callback=_flat_statuses,
                             help=STATUS_HELP)


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--cond", help="Conditions (query.cond), an Essie expression.")
@click.option("--term", help="Any field (query.term).")
@click.option("--intr", help="Interventions (query.intr).")
@click.option("--locn", help="Locations (query.locn).")
@click.option("--spons", help="Sponsors and collaborators (query.spons).")
@click.option("--titles", help="Titles and acronyms (query.titles).")
@click.option("--outc", help="Outcome measures (query.outc).")
@click.option("--id", "id_", metavar="TEXT",
              help="NCT id, aliases, org study id, secondary ids (query.id).")
@status_option
@click.option("--ids", multiple=True, metavar="NCT…",
              help="NCT ids (repeatable, or comma-separated).")
@click.option("--ids-file", metavar="FILE",
              help="NCT ids, one a line (# comments and blank lines ignored; - for stdin); "
                   "many ids go to the API in several requests.")
@click.option("--advanced", help="An Essie expression passed as filter.advanced.")
@click.option("--save", "save_as", metavar="NAME",
              help="Save this query under NAME (once the API has accepted it).")
@click.option("--replace", is_flag=True,
              help="With --save: replace a saved query of that name with other parameters.")
@click.option("--all", "every", is_flag=True, help="Sync every saved query.")
@click.option("--full", is_flag=True, help="A full pass instead of the incremental one.")
@click.option("--with-history", is_flag=True,
              help="Also fetch every past version of the studies that changed.")
@click.option("--page-size", type=click.IntRange(1, 1000), default=1000, show_default=True)
@click.option("--parallel", type=click.IntRange(1, 16), default=1, show_default=True,
              metavar="N", help="With --all or several NAMEs on PostgreSQL: sync N queries "
              "at once (together within one --min-interval); SQLite syncs one at a time.")
@wait_option
@db_option
@base_url_option
@rate_option
@network_options
@workers_option("Processes that parse pages while the next one downloads and the one before "
                "is stored (0: one per core, when there is more than one page; "
                "1: parse in this process).")
@click.option("--progress/--no-progress", default=True,
              help="Progress bar on stderr (only on a terminal).")
@quiet_option
@format_option("table", "json")
@handles_errors
def sync(names: tuple[str, ...], cond: str | None, term: str | None, intr: str | None,
         locn: str | None, spons: str | None, titles: str | None, outc: str | None,
         id_: str | None, status: tuple[str, ...] | None,
         ids: tuple[str, ...], ids_file: str | None, advanced: str | None,
         save_as: str | None, replace: bool, every: bool,
         full: bool, with_history: bool, page_size: int, parallel: int, wait: float,
         db: str | None,
         base_url: str, min_interval: float, retries: int, timeout: float,
         budget: float | None, user_agent: str | None, workers: int, progress: bool,
         quiet: bool, fmt: str) -> None:
    """Harvest every study matching a search into the catalogue.

    The first sync of a query is a full pass; later ones fetch only studies updated since
    the last success (a day of overlap). Each page is stored in one transaction; a killed
    sync resumes where it stopped. The count received is checked against the API's
    totalCount. A query the API rejects is not saved. --all (or several NAMEs) is one
    batch: every query runs even when some fail, each failure names its query, and the exit
    status is the worst: 0 ok, 1 some incomplete or partial, 3 some could not run.

    \b
    Examples:
      trials sync --cond "breast cancer" --status RECRUITING --save breast
      trials sync breast              # the saved query, incrementally
      trials sync --all --quiet       # every saved query: the nightly job
      trials sync --all --parallel 4  # PostgreSQL: four queries at once
      trials sync --ids NCT00557986 --with-history
      trials sync --ids-file nct_ids.txt --save trialsim
    """
    ids = tuple(part.strip() for value in ids for part in value.split(",") if part.strip())
    if ids_file is not None:
        try:
            with click.open_file(ids_file, encoding="utf-8") as file:
                ids = tuple(dict.fromkeys([*ids, *read_ids(cast(TextIO, file))]))
        except OSError as exc:
            raise UsageError(f"--ids-file: cannot read {ids_file}: {exc.strerror}") from None
    given = search_params(cond=cond, term=term, intr=intr, locn=locn, spons=spons,
                          titles=titles, outc=outc, id_=id_, status=status or (), ids=ids,
                          advanced=advanced)
    network = {"min_interval": min_interval, "retries": retries, "timeout": timeout,
               "budget": budget, "user_agent": user_agent}
    begun: HandOver | None = None  # a batch the light path began
    heads: list[Head | None] = []  # what the light path fetched, for the next query run

    def full_path() -> int:
        """The sync as the full stack runs it (from where the light path handed over)."""
        from harvester.catalogue.syncstate import save_query
        from harvester.fetch.http import LocalPace
        from harvester.fetch.sync import Syncer

        catalogue = open_catalogue(db, create=True)
        jobs = (begun.jobs if begun else
                _jobs(catalogue, names, given, save_as, every, replace))
        api = _api(base_url, **network)
        lanes = parallel
        if lanes > 1 and catalogue.engine.dialect.name != "postgresql":
            if not quiet:
                say("warning", "--parallel: a SQLite catalogue has one writer; the queries "
                               "sync one at a time")
            lanes = 1
        pace = LocalPace() if lanes > 1 else None

        def one(name: str | None, params: dict[str, str], batch_id: int | None) -> int:
            show = progress and not quiet and pace is None
            own = api
            if pace is not None:  # a client per thread, one pace between them all
                own = _api(base_url, **network)
                own.client.pacer = pace
            with progress_bar(None, f"sync {name or ''}".strip(), enabled=show) as advance:
                syncer = Syncer(catalogue, own, page_size=page_size,
                                with_history=with_history, wait=wait,
                                workers=workers or None, on_problem=reporter(quiet),
                                on_progress=advance)
                try:
                    summary = syncer.run(params, full=full, name=name, batch_id=batch_id,
                                         head=heads.pop() if heads else None)
                except HttpStatusError as exc:
                    if save_as and 400 <= exc.status < 500:
                        raise CatalogueError(f"sync {save_as}: the API rejected this query "
                                             f"({exc}); it was not saved") from None
                    if batch_id is None:
                        raise
                    say("error", f"sync {name}: could not run: {exc}")
                    return EXIT_FAILED
                except HarvesterError as exc:
                    if batch_id is None or isinstance(exc, UsageError):
                        raise
                    say("error", f"sync {name}: could not run: {exc}")
                    return EXIT_FAILED
            if save_as:
                save_query(catalogue, save_as, params, replace=True)
            _print(summary, name, fmt, quiet)
            if not quiet:
                _note_unfound(catalogue, params, name)
            return 0 if summary.status == "ok" else EXIT_PARTIAL

        if not (every or len(jobs) > 1):
            ((name, params),) = jobs
            return one(name, params, None)
        return run_batch(catalogue, jobs, one, wait=wait, full=full, parallel=lanes,
                         begun=(begun.batch_id, begun.outcomes) if begun else None)

    light = (len(names) <= 1 and not (names and given) and not full and not with_history
             and budget is None and retries > 0
             and not (progress and not quiet and sys.stderr.isatty()))
    quick_args: dict[str, Any] = {
        "base_url": base_url, "min_interval": min_interval, "timeout": timeout,
        "user_agent": user_agent or DEFAULT_USER_AGENT, "wait": wait, "page_size": page_size}
    if light and every and not names and not given and not save_as and parallel == 1:
        from harvester.fetch.quickbatch import quick_batch

        def done(name: str, quick: Done) -> None:
            _print(quick.summary, name, fmt, quiet)
            if not quiet:
                _say_unfound(quick.lacking, quick.summary.query, name)

        def hand_over(batch: HandOver) -> int:
            nonlocal begun
            begun = batch
            heads.append(batch.head)
            return full_path()

        code = quick_batch(db, on_done=done, hand_over=hand_over, **quick_args)
        if code is not None:
            sys.exit(code)
    elif light and not every and not (save_as and (names or not given)):
        from harvester.fetch.quicksync import Done, quick_sync

        name = save_as or (names[0] if names else None)
        quick = quick_sync(db, name, given, save=bool(save_as), replace=replace,
                           **quick_args)
        if isinstance(quick, Done):
            _print(quick.summary, name, fmt, quiet)
            if not quiet:
                _say_unfound(quick.lacking, quick.summary.query, name)
            sys.exit(0)
        heads.append(quick)
    sys.exit(full_path())


def run_batch(catalogue: Catalogue, jobs: list[tuple[str | None, dict[str, str]]],
              one: Callable[[str | None, dict[str, str], int], int], *, wait: float,
              full: bool, parallel: int = 1,
              begun: tuple[int, dict[str, int]] | None = None) -> int:
    """Several saved queries as one batch: one writer lock (shared on PostgreSQL), a run of
    kind ``batch`` that each query's sync run points to, every query tried even when some
    fail, ``parallel`` of them at once (threads); the exit status is the worst outcome (1
    some incomplete, 3 some could not run).  ``begun``: the batch's run and the outcomes
    of its first queries, where the light path (:mod:`harvester.fetch.quickbatch`) began
    it and holds the writer lock; the batch goes on from the first query without one."""
    from harvester.catalogue.lock import writer_lock

    with (writer_lock(catalogue.engine, wait=wait, shared=True) if begun is None
          else contextlib.nullcontext()):
        if begun is None:
            catalogue.mark_interrupted(catalogue.clock())
            batch_id = catalogue.start_run("batch", {"queries": [n for n, _ in jobs],
                                                     "full": full, "parallel": parallel})
            outcomes: dict[str, int] = {}
        else:
            batch_id, outcomes = begun[0], dict(begun[1])
        todo = [(name, params) for name, params in jobs if (name or "") not in outcomes]
        try:
            if parallel > 1:
                with ThreadPoolExecutor(parallel, thread_name_prefix="sync") as threads:
                    futures = {name or "": threads.submit(one, name, params, batch_id)
                               for name, params in todo}
                    outcomes.update({name: future.result()
                                     for name, future in futures.items()})
            else:
                for name, params in todo:
                    outcomes[name or ""] = one(name, params, batch_id)
        except BaseException as exc:
            catalogue.finish_run(batch_id, "failed", f"{type(exc).__name__}: {exc}")
            raise
        failed = [n for n, code in outcomes.items() if code == EXIT_FAILED]
        partial = [n for n, code in outcomes.items() if code == EXIT_PARTIAL]
        worst = max(outcomes.values(), default=0)
        status = {0: "ok", EXIT_PARTIAL: "incomplete"}.get(worst, "failed")
        notes = [f"{len(jobs) - len(failed) - len(partial)} of {len(jobs)} queries ok"]
        if partial:
            notes.append(f"incomplete: {', '.join(partial)}")
        if failed:
            notes.append(f"could not run: {', '.join(failed)}")
        catalogue.finish_run(batch_id, status, "; ".join(notes))
    if failed or partial:
        say("error", f"sync --all batch {batch_id}: {'; '.join(notes)}")
    return worst


def read_ids(file: TextIO) -> list[str]:
    """The NCT ids of a file, one a line; ``#`` starts a comment; blank lines are skipped.
    A line that is not an NCT id is a usage error naming the file and line."""
    name = getattr(file, "name", "-")
    found = []
    for number, line in enumerate(file, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if not _NCT_ID.match(text):
            raise UsageError(f"--ids-file {name}, line {number}: {text[:40]!r} is not an NCT "
                             "id (NCT and 8 digits)")
        found.append(text.upper())
    if not found:
        raise UsageError(f"--ids-file {name}: no NCT ids in it")
    return found


def _note_unfound(catalogue: Catalogue, params: dict[str, str], name: str | None) -> None:
    """Say which of the NCT ids asked for the catalogue still lacks (the registry has no
    such study, or holds the id only as an alias of another)."""
    asked = [i for i in params.get("filter.ids", "").split(",") if i]
    _say_unfound([i for i in asked if not catalogue.has_trial(i)], params, name)


def _say_unfound(lacking: list[str], params: dict[str, str], name: str | None) -> None:
    asked = [i for i in params.get("filter.ids", "").split(",") if i]
    if lacking:
        shown = ", ".join(lacking[:10]) + (f" (+{len(lacking) - 10} more)"
                                           if len(lacking) > 10 else "")
        say("warning", f"sync {name + ': ' if name else ''}{len(lacking)} of the "
                       f"{len(asked)} NCT ids asked for are not in the catalogue (no such "
                       f"study at the registry, or an alias of another): {shown}")


def _jobs(catalogue: Catalogue, names: tuple[str, ...], given: dict[str, str],
          save_as: str | None, every: bool,
          replace: bool) -> list[tuple[str | None, dict[str, str]]]:
    from harvester.catalogue.syncstate import saved_queries, saved_query

    if every and (names or given):
        raise UsageError("--all syncs the saved queries; give no NAME and no search option")
    if names and given:
        raise UsageError("give a saved query NAME or search options, not both")
    if save_as:
        if not given:
            raise UsageError("--save needs search options to save")
        held = saved_queries(catalogue).get(save_as)
        if held is not None and held != given and not replace:
            shown = " ".join(f"{k}={v}" for k, v in sorted(held.items()))
            raise UsageError(f"a saved query named {save_as!r} exists with other parameters "
                             f"({shown}); give --replace to replace it, or another name")
        return [(save_as, given)]
    if every:
        queries = saved_queries(catalogue)
        if not queries:
            raise UsageError("there are no saved queries yet (save one with --save NAME)")
        return list(queries.items())
    if names:
        return [(name, saved_query(catalogue, name)) for name in names]
    return [(None, given)]


def _print(summary: SyncSummary, name: str | None, fmt: str, quiet: bool) -> None:
    if summary.status != "ok":
        say("error", f"sync {name or ''} run {summary.run_id}: {summary.status}: "
                     f"{summary.message}".replace("sync  ", "sync "))
    if summary.schema and summary.schema.changed and not quiet:
        schema = summary.schema
        for label, items in (("fields added", schema.fields_added),
                             ("fields removed", schema.fields_removed),
                             ("enum values added", schema.enum_values_added),
                             ("enum values removed", schema.enum_values_removed)):
            if items:
                say("warning", f"registry schema changed: {label}: {', '.join(items[:20])}"
                               + (f" (+{len(items) - 20} more)" if len(items) > 20 else ""))
    if quiet:
        return
    if fmt == "json":
        click.echo(to_json({"name": name, **summary.to_json()}))
        return
    stats: dict[str, Any] = summary.stats
    click.echo(
        f"run {summary.run_id}{f' ({name})' if name else ''}: {summary.mode}"
        f"{f' since {summary.since}' if summary.since else ''}"
        f"{' (resumed)' if summary.resumed else ''}: {summary.pages} pages, "
        f"{summary.received} of {summary.expected if summary.expected is not None else '?'} "
        f"studies: {summary.new} new, {summary.changed} changed, {summary.unchanged} "
        f"unchanged, {summary.failed} failed"
        f"{f', {len(summary.disappeared)} gone from the results' if summary.disappeared else ''}"
        f"; {stats.get('requests', 0)} requests, {stats.get('retries', 0)} retries, "
        f"{summary.seconds:.1f} s")


@click.command()
@click.argument("targets", nargs=-1, required=True, metavar="NCT…|URL…")
@click.option("--with-history", is_flag=True, help="Also fetch every past version.")
@db_option
@wait_option
@base_url_option
@rate_option
@network_options
@quiet_option
@format_option("table", "json")
@handles_errors
def fetch(targets: tuple[str, ...], with_history: bool, db: str | None, wait: float,
          base_url: str, min_interval: float, retries: int, timeout: float,
          budget: float | None, user_agent: str | None, quiet: bool, fmt: str) -> None:
    """Fetch single studies from the API, or mirror pages by URL, into the catalogue.

    Mirror pages (ClinicalTrials.Veeva study pages) are fetched only where the site's
    robots.txt allows.  Exit status: 0 all stored, 1 some failed (named on stderr), 4 none
    found (no such study or page).

    \b
    Examples:
      trials fetch NCT00557986 NCT06203210
      trials fetch https://ctv.veeva.com/study/local-surgery-for-metastatic-breast-cancer
    """
    from harvester.catalogue.lock import writer_lock
    from harvester.fetch.backfill import fetch as fetch_targets

    catalogue = open_catalogue(db, create=True)
    api = _api(base_url, min_interval=min_interval, retries=retries, timeout=timeout,
               budget=budget, user_agent=user_agent)
    with writer_lock(catalogue.engine, wait=wait, shared=True):
        run_id = catalogue.start_run("fetch", {"targets": list(targets),
                                               "with_history": with_history,
                                               "base_url": api.base})
        try:
            summary = fetch_targets(catalogue, api, targets, run_id=run_id,
                                    with_history=with_history, on_problem=reporter(quiet))
        except BaseException as exc:  # a bad target, a catalogue error…: not left "running"
            catalogue.finish_run(run_id, "failed", f"{type(exc).__name__}: {exc}",
                                 stats={**api.client.stats.__dict__})
            raise
        catalogue.finish_run(run_id, "ok" if not summary.failed else "partial",
                             failed=summary.failed, stats={**api.client.stats.__dict__})
    if fmt == "json":
        click.echo(to_json(summary.to_json()))
    else:
        click.echo(f"run {run_id}: {summary.new} new, {summary.changed} changed, "
                   f"{summary.unchanged} unchanged, {summary.failed} failed"
                   f"{f', {summary.history_versions} past versions' if with_history else ''}")
    if summary.failed:
        if summary.missing == len(targets):
            sys.exit(EXIT_NOT_FOUND)
        sys.exit(EXIT_PARTIAL)
