"""The Excel export's cells (``harvester/export/xlsxcells.py``): each value makes the cell
that :mod:`harvester.export.xlsxml`'s cell functions write for it, a skipped column is an
empty cell, and chunks of rows follow the rows written before."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime

from harvester.export import xlsxml as x
from harvester.export.base import EXCEL_CELL_LIMIT, TRUNCATION_MARKER
from harvester.export.xlsxcells import Layout


def _one(kind: str, value: object, name: str = "field") -> bytes:
    layout = Layout("t", [("nct_id", "str"), (name, kind)], [10, 10])  # type: ignore[list-item]
    body, _ = layout.render([None, value])
    if body:  # the first column is empty
        assert body.startswith(x.EMPTY)
    return body.removeprefix(x.EMPTY)


def test_text_is_escaped_cleaned_and_kept_as_written() -> None:
    assert _one("str", "a < b & c > d") == x.text_cell("a < b & c > d")
    assert _one("str", " padded ") == x.text_cell(" padded ")  # xml:space
    assert b'xml:space="preserve"' in _one("str", " padded ")
    assert _one("str", "bell\x07 and\x00 nul\n") == x.text_cell("bell and nul\n")
    assert _one("str", "\x07") == b"" and _one("str", "") == b""
    assert _one("str", "Ünïcödé ✓") == x.text_cell("Ünïcödé ✓")


def test_formula_like_text_and_error_codes_are_quoted_text() -> None:
    for text in ("=1+2", "+3", "-5 mg", "@SUM(A1)", "\tx", "#N/A"):
        assert _one("str", text) == x.text_cell(text, x.QUOTED), text
    assert _one("str", "#hashtag") == x.text_cell("#hashtag")


def test_text_over_the_limit_is_cut_in_utf16_units() -> None:
    cut = _one("str", "x" * 40_000)
    assert cut.count(b"x") == EXCEL_CELL_LIMIT - len(TRUNCATION_MARKER)
    assert TRUNCATION_MARKER.encode() in cut
    emoji = _one("str", "\N{GRINNING FACE}" * 20_000).decode()
    assert emoji.count("\N{GRINNING FACE}") * 2 + len(TRUNCATION_MARKER) <= EXCEL_CELL_LIMIT


def test_numbers_booleans_dates_and_lists() -> None:
    assert _one("int", 42) == x.number_cell(42)
    assert _one("float", -33.5) == x.number_cell(-33.5)  # a number, not a formula
    assert _one("bool", True) == x.bool_cell(True)
    assert _one("bool", False) == x.bool_cell(False)
    assert _one("date", "2007-11-14") == x.day_cell(date(2007, 11, 14))
    assert _one("date", "2007-11") == x.text_cell("2007-11")  # partial: text
    assert _one("date", "2023-02-30") == x.text_cell("2023-02-30")  # not a day
    assert _one("date", date(2020, 1, 2)) == x.day_cell(date(2020, 1, 2))
    moment = datetime(2024, 5, 6, 7, 8, 9, 500_000, tzinfo=UTC)
    assert _one("date", moment) == x.moment_cell(moment)
    assert _one("list", ("a", "=b")) == x.text_cell("a | =b")
    assert _one("list", ("=a", "b")) == x.text_cell("=a | b", x.QUOTED)
    assert _one("list", ()) == b""


def test_urls_in_link_columns_are_links() -> None:
    layout = Layout("t", [("nct_id", "str"), ("url", "str")], [10, 10])
    body, links = layout.render(["NCT00000102", "https://example.org/a?b=1&c=2"])
    assert body == (x.text_cell("NCT00000102")
                    + x.text_cell("https://example.org/a?b=1&c=2", x.LINK))
    assert links == [("B", "https://example.org/a?b=1&c=2")]
    body, links = layout.render(["NCT00000102", "not a url"])
    assert links == [] and body.endswith(x.text_cell("not a url"))


def test_a_first_cell_given_once_leads_each_row() -> None:
    layout = Layout("t", [("nct_id", "str"), ("n", "int")], [10, 10])
    first = layout.first_cell("NCT00000102")
    assert layout.render([7], first) == layout.render(["NCT00000102", 7])


def test_skipped_columns_are_empty_cells_and_none_follow_the_last_value() -> None:
    layout = Layout("t", [("nct_id", "str"), ("a", "int"), ("b", "list"), ("c", "str"),
                          ("d", "int")], [10] * 5)  # type: ignore[list-item]
    body, _ = layout.render(["NCT00000102", None, (), "x", None])
    assert body == (x.text_cell("NCT00000102") + x.EMPTY + x.EMPTY + x.text_cell("x"))
    first = layout.first_cell("NCT00000102")
    assert layout.render([None, None, None, None], first)[0] == x.text_cell("NCT00000102")


def test_chunks_are_written_after_the_rows_before() -> None:
    book = x.Workbook()
    sheet = book.add_sheet("t", [10, 10])
    sheet.add(x.header_row(["a", "b"]))
    rows = [x.text_cell("one") + x.number_cell(1), x.text_cell("two")]
    body = b"".join(b"<row>" + r + b"</row>" for r in rows)
    sheet.add_chunk((body, 2, [(1, "A", "https://example.org")]))
    assert sheet.rows == 3 and sheet.links == [("A3", "https://example.org")]
    out = io.BytesIO()
    book.save(out, active="t")
    book.close()
    written = zipfile.ZipFile(out).read("xl/worksheets/sheet1.xml")
    assert (b'<row><c t="inlineStr"><is><t>one</t></is></c><c><v>1</v></c></row>'
            b'<row><c t="inlineStr"><is><t>two</t></is></c></row></sheetData>') in written
    assert b'<dimension ref="A1:B3"/>' in written
