"""The Excel export: one workbook, streamed, readable on screen and on paper.

Sheets, in this order: ``search log`` (what a methods section needs, one labelled row per
item), ``trials`` (one row per trial, the columns of :data:`~harvester.export.rows.TRIAL_COLUMNS`;
the sheet the workbook opens on), one sheet per child table (``arms``, ``interventions``,
``conditions``, ``sites``, ``criteria``, ``outcomes``: one row per item, led by the NCT id)
and ``versions`` (one row per exported record: which version of it, from where, with its
content hash).

The sheet XML is written directly (:mod:`harvester.export.xlsxml`): rows are deflated into
temporary files as they come (in a second thread) and zipped at the end, so memory stays flat
however many trials are exported.  A thread reads the next batch of trials from the catalogue
while this one renders.  From :data:`PARALLEL_FROM` trials on, the rows of each batch of
trials are rendered in worker processes (one per core) while this process writes the previous
ones.  A sheet that would pass
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
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING, ClassVar

from harvester.catalogue.selection import SelectedVersion
from harvester.export import xlsxml as x
from harvester.export.base import ExportItem
from harvester.export.log import VERSION_FIELDS, summary_rows, version_fields
from harvester.export.rows import CHILD_TABLES, TRIAL_COLUMNS, Kind, trial_row
from harvester.export.xlsxcells import UNSAFE, Layout, fit_excel
from harvester.fetch.ahead import Ahead
from harvester.ingest.workers import process_pool, relaxed_gc

if TYPE_CHECKING:
    from harvester.export.log import SearchLog

#: Rows of one Excel worksheet, its header included.
EXCEL_MAX_ROWS = 1_048_576
LOG_SHEET = "search log"
VERSIONS_SHEET = "versions"
TRIALS_SHEET = "trials"
#: Trials from which rows are rendered in worker processes, and how many go to a worker at once.
#: (Starting a worker costs about a second of CPU; one process renders ~2,000 trials/s.)
PARALLEL_FROM = 10_000
BATCH = 250
#: Seconds to wait for the reading thread to finish the batch under way when the export stops.
_READER_PATIENCE = 30.0

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


#: Columns of a vocabulary or of few distinct values (besides dates: a place, its
#: coordinates), whose cells are made once per distinct value (xlsxcells.Layout).
REPEATED = frozenset((
    "source", "overall_status", "last_known_status", "study_type", "allocation",
    "intervention_model", "primary_purpose", "masking", "observational_model",
    "time_perspective", "enrollment_type", "start_date_type", "primary_completion_date_type",
    "completion_date_type", "lead_sponsor_class", "sex", "minimum_age", "maximum_age",
    "kind", "type", "status", "city", "state", "country", "lat", "lon"))


def _layout(title: str, columns: Sequence[tuple[str, Kind]]) -> Layout:
    return Layout(title, columns, [_width(name, kind) for name, kind in columns],
                  repeated=REPEATED)


TRIALS = _layout(TRIALS_SHEET, [(c.name, c.kind) for c in TRIAL_COLUMNS])
CHILDREN = [_layout(t.name, [("nct_id", "str"), *t.columns]) for t in CHILD_TABLES]
VERSIONS = _layout(VERSIONS_SHEET, [(n, _VERSION_KINDS.get(n, "str")) for n in VERSION_FIELDS])
LAYOUTS = [TRIALS, *CHILDREN, VERSIONS]

#: What a trial renders to: (index in LAYOUTS, its rows there) per sheet with rows, in sheet
#: order; its rows as :meth:`Layout.render_rows` makes them.
Rendered = list[tuple[int, x.Chunk]]


def render_item(item: ExportItem) -> Rendered:
    record = item.view
    out: Rendered = [(0, TRIALS.render_rows([trial_row(record)]))]
    nct_cell = CHILDREN[0].first_cell(record.nct_id)  # column A of every child table
    for n, (table, layout) in enumerate(zip(CHILD_TABLES, CHILDREN, strict=True), 1):
        rows = layout.render_rows(table.rows(record), nct_cell)
        if rows[1]:
            out.append((n, rows))
    fields = version_fields(item)
    out.append((len(LAYOUTS) - 1,
                VERSIONS.render_rows([[fields.get(n) for n in VERSION_FIELDS]])))
    return out


def render_batch(versions: list[SelectedVersion]) -> list[x.Chunk | None]:
    """The rows of a batch of trials (run in a worker process): one chunk per sheet (None:
    no rows), so that few objects cross to the writing process."""
    bodies: list[list[bytes]] = [[] for _ in LAYOUTS]
    counts = [0] * len(LAYOUTS)
    links: list[list[tuple[int, str, str]]] = [[] for _ in LAYOUTS]
    for version in versions:
        for index, (body, count, row_links) in render_item(ExportItem(version)):
            bodies[index].append(body)
            if row_links:
                before = counts[index]
                links[index] += [(before + i, letter, url) for i, letter, url in row_links]
            counts[index] += count
    return [(b"".join(b), c, k) if c else None for b, c, k in zip(bodies, counts, links,
                                                                   strict=True)]


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

    def add(self, chunks: list[x.Chunk | None]) -> None:
        for index, chunk in enumerate(chunks):
            if chunk is None:
                continue
            parts = self.parts[index]
            if parts[-1].rows + chunk[1] <= EXCEL_MAX_ROWS:
                parts[-1].add_chunk(chunk)
                continue
            for row in _rows_of(chunk):  # the sheet fills up: row by row
                if parts[-1].rows >= EXCEL_MAX_ROWS:
                    parts.append(self._start(LAYOUTS[index], len(parts) + 1))
                parts[-1].add_chunk(row)

    def finish(self, log: SearchLog, out: IO[bytes]) -> None:
        self.log.add(x.header_row(["item", "value"]))
        for label, value in summary_rows(log.summary()):
            self.log.add(x.text_cell(label, x.LABEL)
                         + (x.text_cell(fit_excel(UNSAFE.sub("", value)), x.WRAPPED)
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
                queue: deque[Future[list[x.Chunk | None]] | list[x.Chunk | None]] = deque()
                workers = _workers(self.workers)
                # The next batch is read (the database releases the GIL) while this one
                # renders; on the way out, the reader ends before the connection is closed.
                ahead = Ahead(_batches(items, log), depth=1, name="xlsx-read")
                stack.callback(ahead.close, _READER_PATIENCE)
                # Rendering makes many objects and no cycles: collect them less often.
                stack.enter_context(relaxed_gc())
                for batch in ahead:
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


def _rows_of(chunk: x.Chunk) -> Iterator[x.Chunk]:
    """A chunk's rows, each as a chunk of its own."""
    body, count, links = chunk
    for n, xml in enumerate(body.split(b"</row>")[:count]):
        yield xml + b"</row>", 1, [(0, c, u) for i, c, u in links if i == n]


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


def _drain(done: Future[list[x.Chunk | None]] | list[x.Chunk | None],
           add: Callable[[list[x.Chunk | None]], None]) -> None:
    add(done.result() if isinstance(done, Future) else done)
