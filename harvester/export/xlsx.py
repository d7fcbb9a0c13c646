"""The Excel export: one workbook, streamed sheet by sheet.

Sheets, in this order: ``search log`` (what a methods section needs, as key/value rows),
``trials`` (one row per trial, the columns of :data:`~harvester.export.rows.TRIAL_COLUMNS`;
the sheet the workbook opens on), one sheet per child table (``arms``, ``interventions``,
``conditions``, ``sites``, ``criteria``: one row per item, led by the NCT id) and ``versions``
(one row per exported record: which version of it, from where, with its content hash).

openpyxl's *write-only* mode streams each sheet to its own temporary file as rows arrive, so
memory stays flat however many trials are exported; the sheets are zipped into ``out`` at the
end.  A sheet that would pass Excel's 1,048,576 rows goes on in ``sites (2)``, ``sites (3)``, …

Cells keep the record's types: whole numbers, decimals and booleans as such; full dates
(``2007-11-14``) as Excel dates formatted ``yyyy-mm-dd``; partial dates (``2007-11``,
``2007``) as the text the registry gave, since they are not a day; multi-valued fields joined
with ``" | "`` as in the CSV.  Text is made safe for Excel: control characters removed, cut at
Excel's 32,767-character limit with a visible marker, and a value that would start a formula
(``=``, ``+``, ``-``, ``@``) or read as an error code (``#N/A``) is written as a *text* cell
with Excel's quote prefix — what Excel itself stores when one types a leading apostrophe — so
opening (or editing) the workbook never runs anything, and the value is the record's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import IO, TYPE_CHECKING, Any, ClassVar

import msgspec

from harvester.export.base import (
    EXCEL_CELL_LIMIT,
    TRUNCATION_MARKER,
    ExportItem,
    clean_text,
    fit_cell,
)
from harvester.export.log import VERSION_FIELDS, SearchLog, version_fields
from harvester.export.rows import CHILD_TABLES, SEPARATOR, TRIAL_COLUMNS, Kind, trial_row

# openpyxl is imported when a workbook is written, not by every `trials` command.
if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

#: Rows of one Excel worksheet, its header included.
EXCEL_MAX_ROWS = 1_048_576
LOG_SHEET = "search log"
VERSIONS_SHEET = "versions"
TRIALS_SHEET = "trials"

# Characters XML 1.0 cannot carry (clean_text removes the control characters).
_NON_XML = re.compile("[\ufffe\uffff]")
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ERROR_CODES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"))

# Column widths (in characters), chosen before any row is written (write-only mode).
_WIDTH_BY_NAME = {
    "nct_id": 13, "brief_title": 60, "official_title": 60, "brief_summary": 80,
    "description": 80, "text": 80, "url": 42, "version_url": 56, "content_hash": 20,
    "facility": 40, "label": 30, "name": 30, "term": 40, "lead_sponsor": 36,
    "collaborators": 36, "conditions": 40, "interventions": 40, "key": 30, "value": 80,
}
_WIDTH_BY_KIND: dict[Kind, int] = {
    "str": 18, "int": 10, "float": 11, "bool": 9, "date": 11, "list": 30}


def _width(name: str, kind: Kind) -> int:
    # Room for the header and its filter button, up to a point.
    return _WIDTH_BY_NAME.get(name) or max(_WIDTH_BY_KIND[kind], min(len(name) + 3, 30))


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


class _Sheet:
    """A write-only worksheet with a bold, frozen, filtered header and fixed widths; it goes
    on in a continuation sheet when Excel's row limit is reached."""

    def __init__(self, wb: Workbook, title: str, columns: Sequence[tuple[str, Kind]]) -> None:
        self.wb = wb
        self.title = title
        self.columns = tuple(columns)
        self.sheets: list[WriteOnlyWorksheet] = []
        self.rows = 0  # data rows in the current worksheet
        self._start()

    def _start(self) -> None:
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        n = len(self.sheets) + 1
        ws: WriteOnlyWorksheet = self.wb.create_sheet(
            self.title if n == 1 else f"{self.title} ({n})")
        # Set up by Worksheet._setup in write-only mode too; types-openpyxl omits them.
        dimensions = ws.column_dimensions  # type: ignore[attr-defined]
        for index, (name, kind) in enumerate(self.columns, 1):
            dimensions[get_column_letter(index)].width = _width(name, kind)
        ws.freeze_panes = "A2"
        header = []
        for name, _ in self.columns:
            cell = WriteOnlyCell(ws, name)
            cell.font = Font(bold=True)
            header.append(cell)
        ws.append(header)
        self.sheets.append(ws)
        self.rows = 0

    def append(self, values: Iterable[object]) -> None:
        if self.rows + 1 >= EXCEL_MAX_ROWS:
            self._close_filter()
            self._start()
        ws = self.sheets[-1]
        self.rows += 1
        ws.append([_cell(ws, value, kind) for value, (_, kind) in zip(
            values, self.columns, strict=True)])

    def _close_filter(self) -> None:
        from openpyxl.utils import get_column_letter

        last = get_column_letter(len(self.columns))
        ws = self.sheets[-1]
        ws.auto_filter.ref = f"A1:{last}{self.rows + 1}"  # type: ignore[attr-defined]

    def finish(self) -> list[str]:
        """Set the filter of the last worksheet; the titles of every worksheet."""
        self._close_filter()
        return [ws.title for ws in self.sheets]


def _cell(ws: WriteOnlyWorksheet, value: object, kind: Kind) -> object:
    """The value as openpyxl should write it (a styled cell where plain text would not do)."""
    if type(value) is str and kind != "date":  # the most common case first
        return _text(ws, value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, tuple | list):
        return _text(ws, SEPARATOR.join(str(v) for v in value)) if value else None
    if isinstance(value, datetime):
        # Excel has no time zones: UTC, as the catalogue keeps it.
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return value
    text = str(value)
    if kind == "date" and _FULL_DATE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass  # not a calendar day (2023-02-30): keep the text
    return _text(ws, text)


def _text(ws: WriteOnlyWorksheet, text: str) -> object:
    text = _fit_excel(_NON_XML.sub("", clean_text(text)))
    if not text.startswith(_FORMULA_START) and not (text[:1] == "#" and text in _ERROR_CODES):
        return text or None
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, text)
    cell.data_type = "s"  # openpyxl would make "=…" a formula and "#N/A" an error
    cell.quotePrefix = True
    return cell


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, object]]:
    """Key/value rows of a search log summary: nested keys dotted, lists of plain values
    joined, anything else as JSON."""
    if isinstance(value, Mapping):
        if not value:
            yield prefix, None
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list | tuple):
        if all(v is None or isinstance(v, str | int | float) for v in value):
            yield prefix, SEPARATOR.join(str(v) for v in value if v is not None) or None
        else:
            yield prefix, msgspec.json.encode(value).decode()
    elif value is None or isinstance(value, str | int | float | date):
        yield prefix, value
    else:
        yield prefix, msgspec.json.encode(value).decode()


# The versions sheet: registry_date is a day, seen_at a moment (UTC); registry_version stays
# text (a version number or a data version date, as the registry gave it).
_VERSION_KINDS: dict[str, Kind] = {
    "version": "int", "version_id": "int", "registry_date": "date", "seen_at": "date"}


class XlsxExporter:
    """Excel workbook: search log, trials, one sheet per child table, versions."""

    name: ClassVar[str] = "xlsx"
    suffix: ClassVar[str] = ".xlsx"
    description: ClassVar[str] = (
        "Excel workbook: trials, one sheet per child table, versions and the search log")

    def write(self, items: Iterable[ExportItem], out: IO[bytes], log: SearchLog) -> int:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        trials = _Sheet(wb, TRIALS_SHEET, [(c.name, c.kind) for c in TRIAL_COLUMNS])
        children = [(table, _Sheet(wb, table.name, [("nct_id", "str"), *table.columns]))
                    for table in CHILD_TABLES]
        versions = _Sheet(wb, VERSIONS_SHEET,
                          [(name, _VERSION_KINDS.get(name, "str")) for name in VERSION_FIELDS])
        count = 0
        for item in items:
            record = item.record
            trials.append(trial_row(record))
            for table, sheet in children:
                for row in table.rows(record):
                    sheet.append((record.nct_id, *row))
            fields = version_fields(item)
            versions.append([fields.get(name) for name in VERSION_FIELDS])
            log.add(item)
            count += 1
        summary = _Sheet(wb, LOG_SHEET, [("key", "str"), ("value", "str")])
        for key, value in _flatten("", log.summary()):
            summary.append((key, value))
        order = [*summary.finish(), *trials.finish()]
        for _, sheet in children:
            order += sheet.finish()
        order += versions.finish()
        for position, title in enumerate(order):
            wb.move_sheet(title, position - wb.sheetnames.index(title))
        wb.active = order.index(TRIALS_SHEET)
        wb.save(out)
        return count
