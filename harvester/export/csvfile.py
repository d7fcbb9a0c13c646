"""CSV: one row per trial, for spreadsheets and screening tools; ``--long`` adds a CSV per
child table (arms, interventions, conditions, sites, criteria, outcomes), keyed by NCT id.

The file is UTF-8 *with a byte-order mark*: Excel reads a CSV without one in the machine's
legacy code page (mangling every accent), while LibreOffice, pandas, R's readr and Python's
``utf-8-sig`` skip it.  Rows end in CRLF and fields are quoted only when they must be
(RFC 4180).  A multi-valued field is one cell, its values joined with ``" | "`` as
ClinicalTrials.gov's own CSV does (a bar or backslash inside a value is escaped with a
backslash, see :func:`harvester.export.rows.join_values`).  Text has control characters
removed, is cut at Excel's 32,767 characters per cell with a visible marker, and a cell
that would start a formula (``= + - @``) gets a leading apostrophe.  Each trial row ends
with the version columns that pin it (see :func:`harvester.export.log.version_fields`).
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, ClassVar

from harvester.export.base import ExportItem, clean_text, fit_cell, neutralise
from harvester.export.log import SearchLog, version_fields
from harvester.export.rows import (
    CHILD_TABLES,
    TRIAL_COLUMNS,
    Value,
    join_values,
    trial_row,
)

#: Version columns after the record's own (``nct_id`` and ``source`` are already there).
VERSION_COLUMNS = ("version", "version_id", "registry_date", "registry_version", "seen_at",
                   "version_url", "content_hash")
TRIAL_HEADER = (*(c.name for c in TRIAL_COLUMNS), *VERSION_COLUMNS)
#: The files of a ``--long`` export.
LONG_FILES = ("trials.csv", *(f"{table.name}.csv" for table in CHILD_TABLES))


def cell(value: Value) -> str:
    """One value as CSV text: empty for null, ``true``/``false``, numbers as written, text
    cleaned and neutralised."""
    kind = type(value)
    if kind is str:
        text = clean_text(value)  # type: ignore[arg-type]
    elif value is None:
        return ""
    elif kind is tuple:
        text = join_values([clean_text(v) for v in value])  # type: ignore[union-attr]
    elif kind is bool:
        return "true" if value else "false"
    else:
        return str(value)
    return fit_cell(neutralise(text)) if text else text


def trial_cells(item: ExportItem) -> list[str]:
    fields = version_fields(item)
    seen = fields["seen_at"].isoformat().replace("+00:00", "Z")
    return [*map(cell, trial_row(item.view)),
            *(seen if name == "seen_at" else cell(fields[name]) for name in VERSION_COLUMNS)]


@contextmanager
def csv_writer(out: IO[bytes]) -> Iterator[Any]:
    """A CSV writer over a binary stream: UTF-8 with a BOM, CRLF rows, minimal quoting."""
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    try:
        yield csv.writer(text, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        text.flush()
    finally:
        text.detach()  # leave ``out`` open for its owner


class CsvExporter:
    name: ClassVar[str] = "csv"
    suffix: ClassVar[str] = ".csv"
    description: ClassVar[str] = "one row per trial, Excel-safe; --long adds child tables"
    binary: ClassVar[bool] = False
    supports_long: ClassVar[bool] = True

    def __init__(self, *, long: bool = False) -> None:
        self.long = long

    def write(self, items: Iterable[ExportItem], out: IO[bytes], log: SearchLog) -> int:
        """One CSV of trials to ``out``; with ``long``, a zip of every table."""
        if self.long:
            with tempfile.TemporaryDirectory(prefix="trials-export-") as folder:
                count = self.write_folder(items, Path(folder), log)
                with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
                    for name in LONG_FILES:
                        zf.write(Path(folder) / name, name)
            return count
        count = 0
        with csv_writer(out) as writer:
            writer.writerow(TRIAL_HEADER)
            for item in items:
                writer.writerow(trial_cells(item))
                log.add(item)
                count += 1
        return count

    def write_folder(self, items: Iterable[ExportItem], folder: Path, log: SearchLog) -> int:
        """``trials.csv`` and one CSV per child table into ``folder``, in one pass."""
        count = 0
        with ExitStack() as stack:
            files = [stack.enter_context(open(folder / name, "wb")) for name in LONG_FILES]
            trials, *children = [stack.enter_context(csv_writer(f)) for f in files]
            trials.writerow(TRIAL_HEADER)
            for writer, table in zip(children, CHILD_TABLES, strict=True):
                writer.writerow(table.header)
            for item in items:
                trials.writerow(trial_cells(item))
                for writer, table in zip(children, CHILD_TABLES, strict=True):
                    for row in table.rows(item.view):
                        writer.writerow([item.nct_id, *map(cell, row)])
                log.add(item)
                count += 1
        return count
