"""The cells of the Excel export: a row of values as sheet XML, made safe, as fast as Python
allows (the export's hot loop: a trial is a few hundred cells).

Each :class:`Layout` column has its cell openings made once (``<c t="inlineStr"><is><t>``,
``<c s="2"><v>``…: cells carry no reference, an empty ``<c/>`` stands for a skipped column);
a row is one loop over its values that dispatches on the value's type, builds ``str`` pieces
and encodes the row once.
Numbers, booleans and dates need no escaping; text is checked with ``str.isprintable`` (the
common case: nothing to remove) before any regex, cut only when it may pass Excel's limit, and
escaped only for the characters it holds.

What a cell holds (the same as writing it with :mod:`harvester.export.xlsxml`'s cell
functions): whole numbers, decimals and booleans as such; full dates (``2007-11-14``) as
Excel dates; date-times as UTC date-times; partial dates as text; tuples joined with
``" | "``; text with control characters removed, cut at Excel's limit, and written with
Excel's quote prefix when it would start a formula or read as an error code; URLs in link
columns as links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from harvester.export import xlsxml as x
from harvester.export.base import EXCEL_CELL_LIMIT, TRUNCATION_MARKER, fit_cell
from harvester.export.rows import SEPARATOR, Kind

# Control characters and the two characters XML 1.0 cannot carry.
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ERROR_CODES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"))
#: Columns whose text is a URL, written as links.
LINK_COLUMNS = frozenset(("url", "version_url"))
_EPOCH = date(1899, 12, 30)
_EPOCH_MOMENT = datetime(1899, 12, 30)
_EMPTY = x.EMPTY.decode()
#: Text up to this length cannot pass Excel's limit, even in UTF-16 units.
_SHORT = EXCEL_CELL_LIMIT // 2
#: First characters that make printable text a special case (formula, error code, space).
_SPECIAL_START = frozenset("=+-@# ")
_TEXT_END = "</t></is></c>"
#: At most this many distinct values of one column keep their cell (memory stays flat).
CACHED_VALUES = 4096
_VALUE_END = "</v></c>"


def fit_excel(text: str) -> str:
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


class _Column:
    """One column's cell openings, made once."""

    __slots__ = (
        "cache",
        "date",
        "day",
        "false",
        "letter",
        "link",
        "link_kept",
        "link_open",
        "moment",
        "number",
        "quoted",
        "quoted_kept",
        "text",
        "text_kept",
        "true",
    )

    def __init__(self, letter: str, kind: Kind, link: bool, repeated: bool = False) -> None:
        def opening(style: int, extra: str) -> str:
            s = f' s="{style}"' if style else ""
            return f"<c{s}{extra}"

        def text(style: int, preserve: bool) -> str:
            space = ' xml:space="preserve"' if preserve else ""
            return opening(style, ' t="inlineStr"><is>') + f"<t{space}>"

        self.letter = letter
        self.date = kind == "date"
        self.link = link
        #: A column of few distinct values: its cells by text (or float), up to
        #: CACHED_VALUES of them (None: every cell is made anew).
        self.cache: dict[object, str] | None = {} if repeated and not link else None
        self.text, self.text_kept = text(x.PLAIN, False), text(x.PLAIN, True)
        self.quoted, self.quoted_kept = text(x.QUOTED, False), text(x.QUOTED, True)
        self.link_open, self.link_kept = text(x.LINK, False), text(x.LINK, True)
        self.number = opening(x.PLAIN, "><v>")
        self.day = opening(x.DAY, "><v>")
        self.moment = opening(x.MOMENT, "><v>")
        self.true = opening(x.PLAIN, ' t="b"><v>1</v></c>')
        self.false = opening(x.PLAIN, ' t="b"><v>0</v></c>')


def _text(col: _Column, text: str) -> str | None:
    """A text cell, made safe (None: nothing left to write)."""
    if not text.isprintable():  # most values are short printable text: no regex
        text = UNSAFE.sub("", text)
    if len(text) * 2 > EXCEL_CELL_LIMIT:
        text = fit_excel(text)
    if not text:
        return None
    kept = text[0].isspace() or text[-1].isspace()
    if text.startswith(_FORMULA_START) or (text[0] == "#" and text in _ERROR_CODES):
        return (col.quoted_kept if kept else col.quoted) + x.escape(text) + _TEXT_END
    return (col.text_kept if kept else col.text) + x.escape(text) + _TEXT_END


def _day(col: _Column, text: str) -> str | None:
    """A full ISO date as an Excel date (None: not a calendar day, such as 2023-02-30)."""
    try:
        return col.day + str((date.fromisoformat(text) - _EPOCH).days) + _VALUE_END
    except ValueError:
        return None


def _moment(col: _Column, moment: datetime) -> str:
    # Excel has no time zones: UTC, as the catalogue keeps it.
    if moment.tzinfo:
        moment = moment.astimezone(UTC)
    delta = moment.replace(tzinfo=None) - _EPOCH_MOMENT
    serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
    return col.moment + repr(round(serial, 10)) + _VALUE_END


class Layout:
    """The columns of one logical sheet: names, kinds, widths, and how each makes a cell."""

    def __init__(self, title: str, columns: Sequence[tuple[str, Kind]],
                 widths: Sequence[int], repeated: Iterable[str] = ()) -> None:
        """``repeated``: the names of columns of few distinct values (a vocabulary, a place,
        its coordinates), whose cells are made once per value; date columns are too."""
        self.title = title
        self.names = [name for name, _ in columns]
        self.kinds = [kind for _, kind in columns]
        self.letters = [x.column_letter(n) for n in range(1, len(columns) + 1)]
        self.widths = list(widths)
        again = set(repeated)
        self.columns = [_Column(letter, kind, name in LINK_COLUMNS,
                                name in again or kind == "date")
                        for letter, (name, kind) in zip(self.letters, columns, strict=True)]
        self.rest = self.columns[1:]

    def first_cell(self, text: str) -> str:
        """The cell of the first column for ``text`` (to be given to :meth:`render` as
        ``first``: a child table's NCT id, the same on each of a trial's rows)."""
        return _text(self.columns[0], text) or _EMPTY

    def render(self, values: Iterable[object],
               first: str | None = None) -> tuple[bytes, list[tuple[str, str]]]:
        """A row's cells and its links; with ``first`` (from :meth:`first_cell`), ``values``
        start at the second column.  A column without a value is an empty cell (none
        after the last value)."""
        cells: list[str] = []
        links: list[tuple[int, str, str]] = []
        self._cells(cells, links, 0, values, first)
        return "".join(cells).encode(), [(letter, url) for _, letter, url in links]

    def render_rows(self, rows: Iterable[Iterable[object]], first: str | None = None
                    ) -> tuple[bytes, int, list[tuple[int, str, str]]]:
        """Rows as sheet XML (``<row>…</row>`` each, as :meth:`render` makes their cells),
        how many, and their links as (row index, column letter, url)."""
        cells: list[str] = []
        links: list[tuple[int, str, str]] = []
        add = cells.append
        count = 0
        for values in rows:
            add("<row>")
            self._cells(cells, links, count, values, first)
            add("</row>")
            count += 1
        return "".join(cells).encode(), count, links

    def _cells(self, cells: list[str], links: list[tuple[int, str, str]], index: int,
               values: Iterable[object], first: str | None) -> None:
        """Append a row's cells to ``cells`` and its links (as row ``index``) to ``links``."""
        add = cells.append
        extend = cells.extend
        if first is not None:
            add(first)
        for col, value in zip(self.rest if first is not None else self.columns, values,
                              strict=False):
            if value is None:
                add(_EMPTY)
                continue
            kind = type(value)
            cache = col.cache
            if cache is not None and (kind is str or (kind is float and value)):
                # A value of a repeated column (0.0 and -0.0, one key, are left out).
                made = cache.get(value)
                if made is None:
                    made = cell(col, value, links, index)
                    if len(cache) < CACHED_VALUES:
                        cache[value] = made
                add(made)
                continue
            if kind is str:
                text: str = value  # type: ignore[assignment]
                # The common case inline: short printable text that starts no formula, with
                # no space to keep at either end (printable: no other whitespace).
                if (0 < len(text) <= _SHORT and text.isprintable() and not col.date
                        and not col.link and text[0] not in _SPECIAL_START
                        and text[-1] != " "):
                    if "&" in text or "<" in text or ">" in text:
                        text = x.escape(text)
                    extend((col.text, text, _TEXT_END))
                    continue
            elif kind is int or kind is float:
                extend((col.number, repr(value), _VALUE_END))
                continue
            add(cell(col, value, links, index))
        while cells and cells[-1] is _EMPTY:
            cells.pop()


def cell(col: _Column, value: object, links: list[tuple[int, str, str]], index: int) -> str:
    """The cell of ``value`` (not None) in column ``col`` (``_EMPTY`` when there is nothing
    to write); a link's (row ``index``, column letter, url) goes to ``links``."""
    kind = type(value)
    made: str | None
    if kind is str:
        text: str = value  # type: ignore[assignment]
        if col.date and _FULL_DATE.match(text) and (made := _day(col, text)):
            return made
        if col.link and text.startswith("https://"):
            clean = UNSAFE.sub("", text)
            kept = clean[0].isspace() or clean[-1].isspace()
            links.append((index, col.letter, text))
            return (col.link_kept if kept else col.link_open) + x.escape(clean) + _TEXT_END
        if (0 < len(text) <= _SHORT and text.isprintable()
                and text[0] not in _SPECIAL_START and text[-1] != " "):
            return col.text + (x.escape(text) if "&" in text or "<" in text or ">" in text
                               else text) + _TEXT_END
        made = _text(col, text)
    elif kind is int or kind is float:
        return col.number + repr(value) + _VALUE_END
    elif kind is bool:
        return col.true if value else col.false
    elif kind is tuple or kind is list:
        if not value:
            return _EMPTY
        made = _text(col, SEPARATOR.join(map(str, value)))  # type: ignore[call-overload]
    elif isinstance(value, bool):
        return col.true if value else col.false
    elif isinstance(value, int | float):
        return col.number + repr(value) + _VALUE_END
    elif isinstance(value, tuple | list):
        if not value:
            return _EMPTY
        made = _text(col, SEPARATOR.join(str(v) for v in value))
    elif isinstance(value, datetime):
        return _moment(col, value)
    elif isinstance(value, date):
        return col.day + str((value - _EPOCH).days) + _VALUE_END
    else:
        text = str(value)
        if col.date and _FULL_DATE.match(text) and (made := _day(col, text)):
            return made
        made = _text(col, text)
    return _EMPTY if made is None else made
