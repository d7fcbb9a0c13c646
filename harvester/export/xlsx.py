"""The Excel export: one workbook, streamed, readable on screen and on paper.

Sheets, in this order: ``search log`` (what a methods section needs, one labelled row per
item), ``trials`` (one row per trial, the columns of :data:`~harvester.export.rows.TRIAL_COLUMNS`;
the sheet the workbook opens on), one sheet per child table (``arms``, ``interventions``,
``conditions``, ``sites``, ``criteria``, ``outcomes``: one row per item, led by the NCT id)
and ``versions`` (one row per exported record: which version of it, from where, with its
content hash).

The sheet XML is written directly (:mod:`harvester.export.xlsxml`): rows spool to temporary
files and are zipped at the end, so memory stays flat however many trials are exported.  From
:data:`PARALLEL_FROM` trials on, the rows of each batch of trials are rendered in worker
processes (one per core) while this process writes the previous ones.  A sheet that would pass
Excel's 1,048,576 rows goes on in ``sites (2)``, ``sites (3)``, …

Cells keep the record's types: whole numbers, decimals and booleans as such; full dates
(``2007-11-14``) as Excel dates formatted ``yyyy-mm-dd``; retrieval times as date-times
(UTC); partial dates (``2007-11``, ``2007``) as the text the registry gave, since they are not
a day; multi-valued fields joined with ``" | "`` as in the CSV; the record's and the version's
URLs as links.  Text is made safe for Excel: control characters removed, cut at Excel's
32,767-character limit with a visible marker, and a value that would start a formula (``=``,
``+``, ``-``, ``@``) or read as an error code (``#N/A``) is written as a *text* cell with
Excel's quote prefix — what Excel itself stores when one types a leading apostrophe — so
opening (or editing) the workbook never runs anything, and the value is the record's.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from datetime import UTC, date, datetime
from typing import IO, TYPE_CHECKING, ClassVar

from harvester.catalogue.selection import SelectedVersion
from harvester.export import xlsxml as x
from harvester.export.base import EXCEL_CELL_LIMIT, TRUNCATION_MARKER, ExportItem, fit_cell
from harvester.export.log import VERSION_FIELDS, summary_rows, version_fields
from harvester.export.rows import CHILD_TABLES, SEPARATOR, TRIAL_COLUMNS, Kind, trial_row
from harvester.ingest.workers import process_pool

if TYPE_CHECKING:
    from harvester.export.log import SearchLog

#: Rows of one Excel worksheet, its header included.
EXCEL_MAX_ROWS = 1_048_576
LOG_SHEET = "search log"
VERSIONS_SHEET = "versions"
TRIALS_SHEET = "trials"
#: Trials from which rows are rendered in worker processes, and how many go to a worker at once.
PARALLEL_FROM = 2_000
BATCH = 250

# Control characters and the two characters XML 1.0 cannot carry.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ERROR_CODES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"))
#: Columns whose text is a URL, written as links.
_LINKS = frozenset(("url", "version_url"))

# Column widths (in characters).
_WIDTH_BY_NAME = {
    "nct_id": 13, "brief_title": 34, "official_title": 34, "brief_summary": 40,
    "description": 60, "text": 80, "url": 46, "version_url": 62, "content_hash": 20,
    "facility": 40, "label": 30, "name": 30, "term": 40, "lead_sponsor": 22,
    "collaborators": 22, "conditions": 22, "interventions": 22, "seen_at": 21,
    "title": 40, "time_frame": 30,
}
_WIDTH_BY_KIND: dict[Kind, int] = {
    "str": 12, "int": 9, "float": 11, "bool": 9, "date": 12, "list": 16}
# The versions sheet: registry_date is a day, seen_at a moment (UTC); registry_version stays
# text (a version number or a data version date, as the registry gave it).
_VERSION_KINDS: dict[str, Kind] = {
    "version": "int", "version_id": "int", "registry_date": "date", "seen_at": "date"}


def _width(name: str, kind: Kind) -> int:
    # Room for the header and its filter button, up to a point (a longer header wraps):
    # the trials sheet must stay narrow enough to print one page wide (LibreOffice splits
    # it in two past ~870 characters in all; a test renders it).
    return _WIDTH_BY_NAME.get(name) or max(_WIDTH_BY_KIND[kind], min(len(name) + 2, 12))


def _fit_excel(text: str) -> str:
    """Cut to Excel's cell limit, which counts UTF-16 code units (a character outside the
    Basic Multilingual Plane, such as an emoji, counts twice)."""
    text = fit_cell(text)
    if len(text) * 2 <= EXCEL_CELL_LIMIT:
        return text
    units = text.encode("utf-16-le")
    if len(units) // 2 <= EXCEL_CELL_LIMIT:
        return text
    keep = units[:(EXCEL_CELL_LIMIT - len(TRUNCATION_MARKER)) * 2]
    if 0xD8 <= keep[-1] <= 0xDB:  # do not split a surrogate pair
        keep = keep[:-2]
    return keep.decode("utf-16-le") + TRUNCATION_MARKER


def _text(ref: bytes, text: str) -> bytes | None:
    # Most values are short printable text: no regex and no cutting needed.
    if not text.isprintable():
        text = _UNSAFE.sub("", text)
    if len(text) * 2 > EXCEL_CELL_LIMIT:
        text = _fit_excel(text)
    if not text:
        return None
    if text.startswith(_FORMULA_START) or (text[:1] == "#" and text in _ERROR_CODES):
        return x.text_cell(ref, text, x.QUOTED)
    return x.text_cell(ref, text)


def _cell(ref: bytes, value: object, kind: Kind, link: bool) -> bytes | None:
    """One value as a cell (None: no cell)."""
    if type(value) is str and kind != "date":  # the most common case first
        if link and value.startswith("https://"):
            return x.text_cell(ref, _UNSAFE.sub("", value), x.LINK)
        return _text(ref, value)
    if value is None:
        return None
    if isinstance(value, bool):
        return x.bool_cell(ref, value)
    if isinstance(value, int | float):
        return x.number_cell(ref, value)
    if isinstance(value, tuple | list):
        return _text(ref, SEPARATOR.join(str(v) for v in value)) if value else None
    if isinstance(value, datetime):
        # Excel has no time zones: UTC, as the catalogue keeps it.
        return x.moment_cell(ref, value.astimezone(UTC) if value.tzinfo else value)
    if isinstance(value, date):
        return x.day_cell(ref, value)
    text = str(value)
    if kind == "date" and _FULL_DATE.match(text):
        try:
            return x.day_cell(ref, date.fromisoformat(text))
        except ValueError:
            pass  # not a calendar day (2023-02-30): keep the text
    return _text(ref, text)


class Layout:
    """The columns of one logical sheet: names, kinds, cell references, widths."""

    def __init__(self, title: str, columns: Sequence[tuple[str, Kind]]) -> None:
        self.title = title
        self.names = [name for name, _ in columns]
        self.kinds = [kind for _, kind in columns]
        self.letters = [x.column_letter(n) for n in range(1, len(columns) + 1)]
        self.refs = [letter.encode() for letter in self.letters]
        self.links = [name in _LINKS for name in self.names]
        self.widths = [_width(name, kind) for name, kind in columns]

    def render(self, values: Iterable[object]) -> tuple[bytes, list[tuple[str, str]]]:
        """A row's cells (:data:`xlsxml.ROW` for its number) and its links."""
        cells = []
        links = []
        for n, value in enumerate(values):
            cell = _cell(self.refs[n], value, self.kinds[n], self.links[n])
            if cell is not None:
                cells.append(cell)
                if self.links[n] and isinstance(value, str) and value.startswith("https://"):
                    links.append((self.letters[n], value))
        return b"".join(cells), links


TRIALS = Layout(TRIALS_SHEET, [(c.name, c.kind) for c in TRIAL_COLUMNS])
CHILDREN = [Layout(t.name, [("nct_id", "str"), *t.columns]) for t in CHILD_TABLES]
VERSIONS = Layout(VERSIONS_SHEET, [(n, _VERSION_KINDS.get(n, "str")) for n in VERSION_FIELDS])
LAYOUTS = [TRIALS, *CHILDREN, VERSIONS]

#: What a trial renders to: (index in LAYOUTS, row cells, links) per row, in sheet order.
Rendered = list[tuple[int, bytes, list[tuple[str, str]]]]


def render_item(item: ExportItem) -> Rendered:
    record = item.record
    rows: Rendered = [(0, *TRIALS.render(trial_row(record)))]
    for n, (table, layout) in enumerate(zip(CHILD_TABLES, CHILDREN, strict=True), 1):
        for row in table.rows(record):
            rows.append((n, *layout.render((record.nct_id, *row))))
    fields = version_fields(item)
    rows.append((len(LAYOUTS) - 1, *VERSIONS.render(fields.get(n) for n in VERSION_FIELDS)))
    return rows


def render_batch(versions: list[SelectedVersion]) -> list[Rendered]:
    """The rows of a batch of trials (run in a worker process)."""
    return [render_item(ExportItem(v)) for v in versions]


class _Book:
    """The workbook's logical sheets, each going on in continuation sheets when full."""

    def __init__(self) -> None:
        self.wb = x.Workbook()
        self.log = self.wb.add_sheet(LOG_SHEET, [34, 110])
        self.parts: list[list[x.Sheet]] = [[self._start(layout, 1)] for layout in LAYOUTS]

    def _start(self, layout: Layout, n: int) -> x.Sheet:
        sheet = self.wb.add_sheet(layout.title if n == 1 else f"{layout.title} ({n})",
                                  layout.widths)
        sheet.add(x.header_row(layout.names))
        return sheet

    def add(self, rendered: Rendered) -> None:
        for index, body, links in rendered:
            parts = self.parts[index]
            if parts[-1].rows >= EXCEL_MAX_ROWS:
                parts.append(self._start(LAYOUTS[index], len(parts) + 1))
            parts[-1].add(body, links)

    def finish(self, log: SearchLog, out: IO[bytes]) -> None:
        self.log.add(x.header_row(["item", "value"]))
        for label, value in summary_rows(log.summary()):
            self.log.add(x.text_cell(b"A", label, x.LABEL)
                         + (x.text_cell(b"B", _fit_excel(_UNSAFE.sub("", value)), x.WRAPPED)
                            if value else b""))
        order = [self.log.title] + [s.title for parts in self.parts for s in parts]
        self.wb.save(out, active=TRIALS_SHEET, order=order)


def _workers(requested: int | None) -> int:
    return requested if requested is not None else (os.cpu_count() or 1)


class XlsxExporter:
    """Excel workbook: search log, trials, one sheet per child table, versions."""

    name: ClassVar[str] = "xlsx"
    suffix: ClassVar[str] = ".xlsx"
    description: ClassVar[str] = (
        "Excel workbook: trials, one sheet per child table, versions and the search log")

    def __init__(self, workers: int | None = None, parallel_from: int | None = None) -> None:
        self.workers = workers
        self.parallel_from = PARALLEL_FROM if parallel_from is None else parallel_from

    def write(self, items: Iterable[ExportItem], out: IO[bytes], log: SearchLog) -> int:
        book = _Book()
        count = 0
        try:
            with ExitStack() as stack:
                pool: ProcessPoolExecutor | None = None
                queue: deque[Future[list[Rendered]] | list[Rendered]] = deque()
                workers = _workers(self.workers)
                for batch in _batches(items, log):
                    count += len(batch)
                    if pool is None and workers > 1 and count > self.parallel_from:
                        # Spawned workers that end with this process (kill -9 included).
                        pool = stack.enter_context(process_pool(workers))
                    versions = [item.version for item in batch]
                    queue.append(pool.submit(render_batch, versions) if pool
                                 else render_batch(versions))
                    while len(queue) > workers:
                        _drain(queue.popleft(), book.add)
                while queue:
                    _drain(queue.popleft(), book.add)
            book.finish(log, out)
        finally:
            book.wb.close()
        return count


def _batches(items: Iterable[ExportItem], log: SearchLog) -> Iterator[list[ExportItem]]:
    batch: list[ExportItem] = []
    for item in items:
        log.add(item)
        batch.append(item)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _drain(done: Future[list[Rendered]] | list[Rendered],
           add: Callable[[Rendered], None]) -> None:
    for rendered in done.result() if isinstance(done, Future) else done:
        add(rendered)
