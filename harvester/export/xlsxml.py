"""A streaming writer of Office Open XML workbooks (``.xlsx``): just what the Excel export
needs, written as the sheet XML itself, so memory stays flat and a row costs a few string
operations.

Each worksheet's rows are deflated into a temporary file as they come (``<row>`` elements;
cells as *inline strings*, so no shared-string table has to be held in memory), in a
background thread (:mod:`harvester.export.xlsxzip`); :meth:`Workbook.save` writes the package
at the end from the deflated parts.  Every sheet is set up to be read and printed: a bold
header row, frozen and filtered, repeated on every printed page (``_xlnm.Print_Titles``),
landscape, fit to one page wide, grid lines and "sheet — page n of m" in the footer.  Cells
are text, numbers, booleans, dates (``yyyy-mm-dd``), date-times (``yyyy-mm-dd hh:mm:ss``) and
links (a ``<hyperlink>`` to an external relationship; Excel allows 65,530 per sheet, later
URLs stay text).  Nothing is ever a formula.

Rows and cells carry no reference (``r``, optional in the format): a row follows the one before
and a cell the one before it, an empty ``<c/>`` standing for each skipped column (none after
the last value) — so rows rendered as bytes (:func:`text_cell`, …) in worker processes are
written as they are, without numbering, and the sheet XML is a third smaller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO
from xml.sax.saxutils import quoteattr

from harvester.export.xlsxzip import Compressor, DeflatedPart, ZipWriter

#: A skipped column: an empty cell, so that the next cell falls in its own column.
EMPTY = b"<c/>"
#: Rows rendered together: their XML (each ``<row>…</row>``), how many rows, and their links
#: as (row index in the chunk, column letter, url).
Chunk = tuple[bytes, int, list[tuple[int, str, str]]]
#: Hyperlinks Excel accepts in one worksheet.
MAX_LINKS = 65_530
_EPOCH = date(1899, 12, 30)

# Cell formats (cellXfs in styles.xml), by index.
PLAIN, HEADER, DAY, MOMENT, QUOTED, LINK, WRAPPED, LABEL = range(8)


def column_letter(index: int) -> str:
    """1 → ``A``, 27 → ``AA``."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def text_cell(text: str, style: int = PLAIN) -> bytes:
    """An inline-string cell (``text`` already cleaned and cut to Excel's limit)."""
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    s = f' s="{style}"' if style else ""
    return f'<c{s} t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'.encode()


def number_cell(value: int | float, style: int = PLAIN) -> bytes:
    s = f' s="{style}"' if style else ""
    return f"<c{s}><v>{value!r}</v></c>".encode()


def bool_cell(value: bool) -> bytes:
    return b'<c t="b"><v>1</v></c>' if value else b'<c t="b"><v>0</v></c>'


def day_cell(day: date) -> bytes:
    return number_cell((day - _EPOCH).days, DAY)


def moment_cell(moment: datetime) -> bytes:
    """A date-time (naive, or converted to UTC by the caller) as an Excel serial number."""
    delta = moment.replace(tzinfo=None) - datetime(1899, 12, 30)
    serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    return number_cell(round(serial, 10), MOMENT)


def header_row(names: Sequence[str]) -> bytes:
    return b"".join(text_cell(name, HEADER) for name in names)


@dataclass
class Sheet:
    """One worksheet being written: its rows are deflated into a temporary file."""

    title: str
    widths: Sequence[float]
    header: bool = True  # a header row: frozen, filtered, repeated on printed pages
    rows: int = 0
    body: DeflatedPart = field(default_factory=DeflatedPart)
    links: list[tuple[str, str]] = field(default_factory=list)  # (cell, url)

    def add(self, body: bytes, link_cells: Iterable[tuple[str, str]] = ()) -> int:
        """Write one rendered row (its cells); ``link_cells`` are (column letter, url) of
        this row's links.  Returns the row's number."""
        self.rows += 1
        self.body.write(b"<row>" + body + b"</row>")
        for column, url in link_cells:
            if len(self.links) < MAX_LINKS:
                self.links.append((f"{column}{self.rows}", url))
        return self.rows

    def add_chunk(self, chunk: Chunk) -> None:
        """Write rows rendered together (see :data:`Chunk`), after the rows written."""
        body, count, link_cells = chunk
        self.body.write(body)
        for offset, column, url in link_cells:
            if len(self.links) < MAX_LINKS:
                self.links.append((f"{column}{self.rows + offset + 1}", url))
        self.rows += count

    @property
    def last_column(self) -> str:
        return column_letter(len(self.widths))

    @property
    def last_cell(self) -> str:
        return f"{self.last_column}{max(self.rows, 1)}"

    def head(self, selected: bool) -> bytes:
        cols = "".join(f'<col min="{n}" max="{n}" width="{w}" customWidth="1"/>'
                       for n, w in enumerate(self.widths, 1))
        pane = ('<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/>'
                if self.header else "")
        tab = ' tabSelected="1"' if selected else ""
        return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
                f'<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
                f'<dimension ref="A1:{self.last_cell}"/>'
                f'<sheetViews><sheetView workbookViewId="0"{tab}>{pane}</sheetView>'
                f'</sheetViews>'
                f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
                ).encode()

    def tail(self) -> bytes:
        parts = ["</sheetData>"]
        if self.header:
            parts.append(f'<autoFilter ref="A1:{self.last_cell}"/>')
        if self.links:
            parts.append("<hyperlinks>" + "".join(
                f'<hyperlink ref="{cell}" r:id="rId{n}"/>'
                for n, (cell, _) in enumerate(self.links, 1)) + "</hyperlinks>")
        parts.append('<printOptions gridLines="1"/>'
                     '<pageMargins left="0.4" right="0.4" top="0.6" bottom="0.6" '
                     'header="0.3" footer="0.3"/>'
                     '<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
                     '<headerFooter><oddFooter>&amp;L&amp;A&amp;RPage &amp;P of &amp;N'
                     '</oddFooter></headerFooter></worksheet>')
        return "".join(parts).encode()

    def rels(self) -> bytes | None:
        if not self.links:
            return None
        return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<Relationships xmlns="{_PKG_REL}">' + "".join(
                    f'<Relationship Id="rId{n}" Type="{_REL}/hyperlink" '
                    f'Target={quoteattr(url)} TargetMode="External"/>'
                    for n, (_, url) in enumerate(self.links, 1))
                + "</Relationships>").encode()


class Workbook:
    """Sheets in order; :meth:`save` writes the package to a binary file."""

    def __init__(self) -> None:
        self.sheets: list[Sheet] = []
        self.compressor = Compressor()

    def add_sheet(self, title: str, widths: Sequence[float], *, header: bool = True) -> Sheet:
        sheet = Sheet(title, widths, header, body=DeflatedPart(self.compressor))
        self.sheets.append(sheet)
        return sheet

    def save(self, out: IO[bytes], *, active: str, order: Sequence[str] | None = None) -> None:
        """Zip the workbook into ``out`` (seekable or not), sheets in ``order`` (titles)."""
        sheets = ([next(s for s in self.sheets if s.title == t) for t in order]
                  if order else self.sheets)
        zf = ZipWriter(out)
        zf.add("[Content_Types].xml", _content_types(len(sheets)))
        zf.add("_rels/.rels", _ROOT_RELS)
        zf.add("docProps/app.xml", _APP)
        zf.add("xl/workbook.xml", _workbook(sheets, active))
        zf.add("xl/_rels/workbook.xml.rels", _workbook_rels(len(sheets)))
        zf.add("xl/styles.xml", _STYLES)
        for n, sheet in enumerate(sheets, 1):
            zf.add_part(f"xl/worksheets/sheet{n}.xml", sheet.head(sheet.title == active),
                        sheet.body, sheet.tail())
            rels = sheet.rels()
            if rels is not None:
                zf.add(f"xl/worksheets/_rels/sheet{n}.xml.rels", rels)
        zf.close()

    def close(self) -> None:
        self.compressor.close()
        for sheet in self.sheets:
            sheet.body.close()


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_ROOT_RELS = (
    f'{_XML}<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/extended-properties" Target="docProps/app.xml"/>'
    "</Relationships>")
_APP = (f'{_XML}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
        'extended-properties"><Application>trial-harvester</Application></Properties>')


def _content_types(count: int) -> str:
    sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
    return (f'{_XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types">'
            '<Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/styles.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
            '<Override PartName="/docProps/app.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.extended-properties+xml"/>'
            + "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
                      f'ContentType="{sheet}"/>' for n in range(1, count + 1))
            + "</Types>")


def _quoted(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _workbook(sheets: Sequence[Sheet], active: str) -> str:
    index = next((n for n, s in enumerate(sheets) if s.title == active), 0)
    names = []
    for n, sheet in enumerate(sheets):
        if not sheet.header:
            continue
        ref = f"{_quoted(sheet.title)}!$A$1:${sheet.last_column}${max(sheet.rows, 1)}"
        names.append(f'<definedName name="_xlnm._FilterDatabase" localSheetId="{n}" '
                     f'hidden="1">{escape(ref)}</definedName>')
        names.append(f'<definedName name="_xlnm.Print_Titles" localSheetId="{n}">'
                     f"{escape(_quoted(sheet.title))}!$1:$1</definedName>")
    defined = f"<definedNames>{''.join(names)}</definedNames>" if names else ""
    return (f'{_XML}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
            f'<bookViews><workbookView activeTab="{index}" firstSheet="0"/></bookViews>'
            "<sheets>" + "".join(
                f'<sheet name={quoteattr(s.title)} sheetId="{n}" r:id="rId{n}"/>'
                for n, s in enumerate(sheets, 1)) + f"</sheets>{defined}</workbook>")


def _workbook_rels(count: int) -> str:
    return (f'{_XML}<Relationships xmlns="{_PKG_REL}">' + "".join(
        f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" '
        f'Target="worksheets/sheet{n}.xml"/>' for n in range(1, count + 1))
        + f'<Relationship Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
        "</Relationships>")


# Fonts: 0 body, 1 bold, 2 link (blue, underlined).  cellXfs in the order of PLAIN … LABEL.
_STYLES = (
    f'{_XML}<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
    '<fonts count="3"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><u/><sz val="11"/><color rgb="FF0563C1"/><name val="Calibri"/><family val="2"/>'
    "</font></fonts>"
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
    "</cellStyleXfs>"
    '<cellXfs count="8">'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" '
    'applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/>'
    '<xf numFmtId="0" fontId="2" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1">'
    '<alignment vertical="top" wrapText="1"/></xf>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" '
    'applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>")
