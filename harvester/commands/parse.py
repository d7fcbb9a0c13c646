"""``trials parse``: registry files → typed records on stdout."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import click

from harvester.commands._common import EXIT_PARTIAL, format_option, say, stdout_console, to_json
from harvester.commands.views import record_view
from harvester.errors import InputTooLargeError, ParseError
from harvester.records import SOURCE_KINDS, SourceKind, TrialRecord
from parsers import MAX_PAYLOAD_BYTES, iter_records


def _read(path: str, max_bytes: int) -> bytes:
    if path == "-":
        data = sys.stdin.buffer.read(max_bytes + 1)
    else:
        size = Path(path).stat().st_size
        if size > max_bytes:
            raise InputTooLargeError(f"input is {size:,} bytes, above the {max_bytes:,} limit")
        data = Path(path).read_bytes()
    if len(data) > max_bytes:
        raise InputTooLargeError(f"input is above the {max_bytes:,} byte limit")
    return data


def _records_of(paths: tuple[str, ...], source: SourceKind | None,
                max_bytes: int, failures: list[str]) -> Iterator[TrialRecord]:
    """Records of every file, in order; problems are reported on stderr and counted."""
    for path in paths:
        name = "<stdin>" if path == "-" else path
        try:
            data = _read(path, max_bytes)
        except OSError as exc:
            failures.append(name)
            say("error", f"{name}: cannot read: {exc.strerror or exc}")
            continue
        except ParseError as exc:
            failures.append(name)
            say("error", str(exc.located(name)))
            continue
        items = iter_records(data, source, max_bytes=max_bytes)
        while True:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                item = next(items, None)
            if item is None:
                break
            where = name if isinstance(item, ParseError) else f"{name}: {item.nct_id}"
            for warning in caught:
                say("warning", f"{where}: {warning.message}")
            if isinstance(item, ParseError):
                failures.append(name)
                say("error", str(item.located(name)))
            else:
                yield item


def _write_json(records: Iterator[TrialRecord], out: TextIO, *, lines: bool,
                failures: list[str]) -> None:
    if lines:
        for record in records:
            out.write(to_json(record.to_json_dict()) + "\n")
        return
    # One object for one study, an array for several: stream the array once a second appears.
    first = next(records, None)
    second = next(records, None)
    if first is None:
        if not failures:  # an empty result page is an empty array; a failed file is nothing
            out.write("[]\n")
        return
    if second is None:
        out.write(_pretty(first) + "\n")
        return
    out.write("[\n" + _pretty(first) + ",\n" + _pretty(second))
    for record in records:
        out.write(",\n" + _pretty(record))
    out.write("\n]\n")


def _pretty(record: TrialRecord) -> str:
    return to_json(record.to_json_dict(), pretty=True)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@format_option("json", "jsonl", "table", default="json",
               help="json: one object, or an array for several studies; jsonl: one per line; "
                    "table: a readable summary.")
@click.option("--source", type=click.Choice(SOURCE_KINDS), default=None,
              help="Force the source format instead of detecting it from the content.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=MAX_PAYLOAD_BYTES,
              show_default=True, help="Refuse any input larger than this.")
def parse(files: tuple[str, ...], fmt: str, source: SourceKind | None, max_bytes: int) -> None:
    """Parse registry files into typed trial records and print them.

    Reads ClinicalTrials.gov API v2 JSON (a study, a /studies page, or the website's JSON
    export), legacy ClinicalTrials.gov XML, and ClinicalTrials.Veeva study pages (HTML or
    text); FILE may be - for standard input.  A file that cannot be parsed is reported on
    stderr and the others are still printed; the exit status is then 1.

    \b
    Examples:
      trials parse NCT00557986.json
      trials parse --format table studies/*.json legacy/NCT00482794.xml
      curl -s https://clinicaltrials.gov/api/v2/studies/NCT00557986 | trials parse -
    """
    failures: list[str] = []
    records = _records_of(files, source, max_bytes, failures)
    out = sys.stdout
    if fmt == "table":
        console = stdout_console()
        for record in records:
            console.print(record_view(record))
            console.print()
    else:
        _write_json(records, out, lines=fmt == "jsonl", failures=failures)
    if failures:
        say("error", f"{len(failures)} problem(s) in {len(set(failures))} of {len(files)} "
                     "file(s)")
        sys.exit(EXIT_PARTIAL)


