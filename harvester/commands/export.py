"""``trials export``: the catalogue, or a selection of it, as CSV, JSON Lines, RIS (and the
formats other modules register in :data:`harvester.export.EXPORTERS`), with a search log."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from harvester.catalogue.selection import with_query
from harvester.commands._common import (
    EXIT_PARTIAL,
    FormatChoice,
    db_option,
    handles_errors,
    open_catalogue,
    progress_bar,
    quiet_option,
    say,
)
from harvester.commands._selection import ready, selection_from, selection_options
from harvester.errors import NotFoundError, UsageError
from harvester.export import EXPORTERS
from harvester.export.base import ExportItem, atomic_folder, atomic_output
from harvester.export.csvfile import LONG_FILES, CsvExporter
from harvester.export.log import SearchLog

_NCT = re.compile(r"NCT\d{8}", re.IGNORECASE)
# One line per format, indented as the docstring's lines are (click dedents the help itself).
_FORMATS = "\n      ".join(f"{name:8} {cls.description}"
                           for name, cls in sorted(EXPORTERS.items()))


def _split(values: Iterable[str]) -> tuple[str, ...]:
    """Repeated NCT id options, each possibly comma-separated."""
    return tuple(v.strip().upper() for value in values for v in value.split(",") if v.strip())


def _ids_from_file(path: str) -> tuple[str, ...]:
    """Every NCT id written in a file, in order, once (one per line, or any text: a CSV or
    RIS export of a screening tool works too)."""
    try:
        text = click.open_file(path, encoding="utf-8", errors="replace").read()
    except OSError as exc:
        raise UsageError(f"--ids-file: cannot read {path}: {exc.strerror}") from None
    ids = tuple(dict.fromkeys(m.upper() for m in _NCT.findall(text)))
    if not ids:
        raise UsageError(f"--ids-file: no NCT id in {path}")
    return ids


def _format(fmt: str | None, output: str | None, long: bool) -> str:
    if fmt:
        return fmt
    if output:
        suffix = Path(output).suffix.lower()
        if long and suffix == ".zip":
            return "csv"
        by_suffix = {cls.suffix: name for name, cls in EXPORTERS.items()}
        by_suffix[".ndjson"] = "jsonl"
        if suffix in by_suffix:
            return by_suffix[suffix]
    raise UsageError("name a --format (" + ", ".join(sorted(EXPORTERS)) + ")")


def _command_line(ctx: click.Context) -> str:
    """The command as given (options from the command line or environment, not --db)."""
    words = ["trials", "export"]
    for param in ctx.command.params:
        name, value = param.name or "", ctx.params.get(param.name or "")
        if name == "db" or ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, None):
            continue
        flag = param.opts[0] if not isinstance(param, click.Option) or value is not False \
            else param.secondary_opts[0]
        if isinstance(param, click.Option) and param.is_flag:
            words.append(flag)
        elif isinstance(value, tuple):
            for one in value:
                words += [flag, str(one)]
        else:
            words += [flag, str(value)]
    return shlex.join(words)


def _counted(items: Iterator[ExportItem],
             advance: Callable[[int, int | None], None]) -> Iterator[ExportItem]:
    for item in items:
        yield item
        advance(1, None)


@click.command()
@click.option("--format", "fmt", type=FormatChoice(tuple(sorted(EXPORTERS)), {}), default=None,
              help="Output format (default: from the suffix of -o).")
@click.option("-o", "--output", metavar="FILE",
              help="Write to FILE (default: stdout).  With --long: a .zip, or a folder.")
@click.option("--force", is_flag=True, help="Overwrite an existing output or log file.")
@click.option("--log", "log_file", metavar="FILE",
              help="Write the search log to FILE: .json, .jsonl, or Markdown (any other name).")
@click.option("--long", is_flag=True,
              help="csv: also one CSV per child table (arms, interventions, conditions, "
                   "sites, criteria, outcomes), as a zip (-o x.zip) or a folder (-o folder/).")
@click.option("--keep-duplicates", is_flag=True,
              help="Export every selected trial, also a second registration of the same "
                   "trial (by default one record per trial is kept: see below).")
@click.option("--query", metavar="NAME", help="The trials of a saved sync query.")
@click.option("--ids", multiple=True, metavar="NCT…",
              help="These trials (repeatable, or comma-separated).")
@click.option("--ids-file", metavar="FILE",
              help="The trials whose NCT ids FILE holds ('-': standard input).")
@selection_options(updated_since=True, as_of="The catalogue as it stood on DATE: each "
                   "trial's version current then.")
@db_option
@click.option("--progress/--no-progress", default=True,
              help="Progress bar on stderr (only on a terminal).")
@quiet_option
@handles_errors
def export(fmt: str | None, output: str | None, force: bool, log_file: str | None,
           long: bool, keep_duplicates: bool, query: str | None, ids: tuple[str, ...],
           ids_file: str | None, db: str | None, progress: bool, quiet: bool,
           **filters: Any) -> None:
    """Export the catalogue, or a selection of it, to stdout or a file.

    Filters combine (all must hold); the values of one filter are alternatives.  Each trial
    is exported once, in the version current now, or on the --as-of date.  Nothing is
    written under the output's name until the export is complete, and an existing file is
    kept unless --force.

    \b
    Formats:
      {formats}

    One trial registered twice is exported once: among the selected trials, those the
    catalogue's same-trial rules call one trial (one lists the other's NCT id among its
    aliases or secondary ids, both name the same EudraCT, ISRCTN or other registry id, the
    same sponsor protocol id, or a near-identical title from the same sponsor) form a group,
    of which one record is kept: the one the registry keeps (it lists the others as aliases),
    else the only one with results, else the first registered.  The groups are in the log;
    --keep-duplicates exports them all.

    \b
    The search log (--log) records what a methods section (PRISMA-S) reports: a methods
    paragraph, the command, the date, the information source (the registry, the servers the
    records were harvested from, the files imported), each saved query's parameters, its
    equivalent ClinicalTrials.gov searches (website and API) and its last complete run with
    the count the registry reported then, the registry's data version, the filters applied
    locally, the counts at each step (in the catalogue, selected, after deduplication,
    exported), the duplicate groups removed and why, a glossary of the dates, and the exact
    version of each trial exported (number, registry date, content hash, retrieval date,
    URL).  A .json log is one object {"search": …, "versions": […]}, a .jsonl log has the
    search on its first line and a version per line, and any other name gets Markdown, to
    read or paste.

    NCT ids asked for (--ids, --ids-file) that the catalogue does not hold are named on
    stderr and in the log and the rest is exported, with exit status 1; if it holds none
    of them, nothing is written and the exit status is 4.  A selection of no trial writes
    nothing (no file, no log) and is status 4; so is an unknown --query (the saved queries
    are listed).

    \b
    Examples:
      trials export --format csv -o trials.csv --status RECRUITING --cond melanoma
      trials export -o review.ris --query breast --log search-log.md
      trials export --format jsonl --as-of 2026-02-01 > catalogue-feb.jsonl
      trials export --format csv --long -o tables.zip --ids NCT06203210,NCT00557986
      trials export -o screening.ris --ids-file included.txt --log log.json
    """
    ctx = click.get_current_context()
    selection = replace(selection_from(filters),
                        ids=_split(ids) + (_ids_from_file(ids_file) if ids_file else ()))
    name = _format(fmt, output, long)
    cls = EXPORTERS[name]
    if long and not getattr(cls, "supports_long", False):
        raise UsageError(f"--long is for csv, not {name}")
    if long and output is None:
        raise UsageError("--long writes several files: name a .zip or a folder with -o")
    if output is None and (getattr(cls, "binary", True)) and sys.stdout.isatty():
        raise UsageError(f"{name} is a binary format: name a file with -o, or redirect stdout")
    log_path = Path(log_file) if log_file else None
    if log_path is not None and output is not None and log_path.resolve() == \
            Path(output).resolve():
        raise UsageError("--log and -o name the same file")
    exporter: Any = cls(long=True) if long else cls()  # type: ignore[call-arg]

    catalogue = open_catalogue(db)
    ready(catalogue, selection)
    if query is not None:
        selection = with_query(catalogue, selection, query)
    log = SearchLog.for_selection(catalogue, selection, fmt=name, output=output,
                                  command=_command_line(ctx),
                                  deduplicate=not keep_duplicates)
    if log.missing_ids:
        if len(log.missing_ids) == len(set(selection.ids)):
            raise NotFoundError("none of the NCT ids asked for is in the catalogue"
                                + (f" on {selection.as_of}" if selection.as_of else ""))
        shown = ", ".join(log.missing_ids[:10])
        more = f" and {len(log.missing_ids) - 10} more" if len(log.missing_ids) > 10 else ""
        when = f" on {selection.as_of}" if selection.as_of else ""
        say("warning", f"not in the catalogue{when}: {shown}{more}")
    if not log.selected:
        when = f" on {selection.as_of}" if selection.as_of else ""
        raise NotFoundError(f"no trial in the catalogue{when} matches the selection; "
                            "nothing written")

    with log.writing(log_path, force=force), catalogue.engine.connect() as conn, \
            progress_bar(log.deduplicated, "exporting",
                         enabled=progress and not quiet) as advance:
        items = _counted(log.items(conn), advance)
        if output is None:
            sys.stdout.flush()
            stdout = sys.stdout.buffer
            try:
                exporter.write(items, stdout, log)
                stdout.flush()
            except BrokenPipeError:  # the reader stopped (`| head`): no traceback, no log
                # … and no second error when Python flushes stdout at exit
                with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(EXIT_PARTIAL)
        elif long and _is_folder(output):
            with atomic_folder(Path(output), names=LONG_FILES, force=force) as folder:
                assert isinstance(exporter, CsvExporter)
                exporter.write_folder(items, folder, log)
        else:
            if long and Path(output).suffix.lower() != ".zip":
                raise UsageError("--long writes a .zip or a folder (end the name with /)")
            with atomic_output(Path(output), force=force) as out:
                exporter.write(items, out, log)
    if not quiet:
        from harvester.find.search import data_as_of

        click.echo(f"trials: {_done(log)}; local catalogue, registry data as of "
                   f"{data_as_of(catalogue) or '(empty catalogue)'}", err=True)
    if log.missing_ids:
        sys.exit(EXIT_PARTIAL)


def _is_folder(output: str) -> bool:
    return output.endswith(("/", "\\")) or Path(output).is_dir() or not Path(output).suffix


def _done(log: SearchLog) -> str:
    as_of = log.selection.as_of
    where = f" as of {as_of}" if as_of else ""
    removed = len(log.deduplication.removed) if log.deduplication else 0
    dropped = (f", {removed} duplicate registration(s) of the same trial left out"
               if removed else "")
    return (f"exported {log.exported} trial(s) as {log.format} to {log.output or 'stdout'} "
            f"({log.selected} selected of {log.catalogue_trials} in the catalogue{where}"
            f"{dropped})")


export.help = (export.help or "").replace("{formats}", _FORMATS)
