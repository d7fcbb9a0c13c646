"""The Excel export's cells (``harvester/export/xlsxcells.py``): each value makes the cell
that :mod:`harvester.export.xlsxml`'s cell functions write for it, and chunks of rows are
numbered where they are written."""

from __future__ import annotations

from datetime import UTC, date, datetime

from harvester.export import xlsxml as x
from harvester.export.base import EXCEL_CELL_LIMIT, TRUNCATION_MARKER
from harvester.export.xlsxcells import Layout


def _one(kind: str, value: object, name: str = "field") -> bytes:
    layout = Layout("t", [("nct_id", "str"), (name, kind)], [10, 10])  # type: ignore[list-item]
    body, _ = layout.render([None, value])
    return body


def test_text_is_escaped_cleaned_and_kept_as_written() -> None:
    assert _one("str", "a < b & c > d") == x.text_cell(b"B", "a < b & c > d")
    assert _one("str", " padded ") == x.text_cell(b"B", " padded ")  # xml:space
    assert b'xml:space="preserve"' in _one("str", " padded ")
    assert _one("str", "bell\x07 and\x00 nul\n") == x.text_cell(b"B", "bell and nul\n")
    assert _one("str", "\x07") == b"" and _one("str", "") == b""
    assert _one("str", "Ünïcödé ✓") == x.text_cell(b"B", "Ünïcödé ✓")


def test_formula_like_text_and_error_codes_are_quoted_text() -> None:
    for text in ("=1+2", "+3", "-5 mg", "@SUM(A1)", "\tx", "#N/A"):
        assert _one("str", text) == x.text_cell(b"B", text, x.QUOTED), text
    assert _one("str", "#hashtag") == x.text_cell(b"B", "#hashtag")


def test_text_over_the_limit_is_cut_in_utf16_units() -> None:
    cut = _one("str", "x" * 40_000)
    assert cut.count(b"x") == EXCEL_CELL_LIMIT - len(TRUNCATION_MARKER)
    assert TRUNCATION_MARKER.encode() in cut
    emoji = _one("str", "\N{GRINNING FACE}" * 20_000).decode()
    assert emoji.count("\N{GRINNING FACE}") * 2 + len(TRUNCATION_MARKER) <= EXCEL_CELL_LIMIT


def test_numbers_booleans_dates_and_lists() -> None:
    assert _one("int", 42) == x.number_cell(b"B", 42)
    assert _one("float", -33.5) == x.number_cell(b"B", -33.5)  # a number, not a formula
    assert _one("bool", True) == x.bool_cell(b"B", True)
    assert _one("bool", False) == x.bool_cell(b"B", False)
    assert _one("date", "2007-11-14") == x.day_cell(b"B", date(2007, 11, 14))
    assert _one("date", "2007-11") == x.text_cell(b"B", "2007-11")  # partial: text
    assert _one("date", "2023-02-30") == x.text_cell(b"B", "2023-02-30")  # not a day
    assert _one("date", date(2020, 1, 2)) == x.day_cell(b"B", date(2020, 1, 2))
    moment = datetime(2024, 5, 6, 7, 8, 9, 500_000, tzinfo=UTC)
    assert _one("date", moment) == x.moment_cell(b"B", moment)
    assert _one("list", ("a", "=b")) == x.text_cell(b"B", "a | =b")
    assert _one("list", ("=a", "b")) == x.text_cell(b"B", "=a | b", x.QUOTED)
    assert _one("list", ()) == b""


def test_urls_in_link_columns_are_links() -> None:
    layout = Layout("t", [("nct_id", "str"), ("url", "str")], [10, 10])
    body, links = layout.render(["NCT00000102", "https://example.org/a?b=1&c=2"])
    assert body == (x.text_cell(b"A", "NCT00000102")
                    + x.text_cell(b"B", "https://example.org/a?b=1&c=2", x.LINK))
    assert links == [("B", "https://example.org/a?b=1&c=2")]
    body, links = layout.render(["NCT00000102", "not a url"])
    assert links == [] and body.endswith(x.text_cell(b"B", "not a url"))


def test_a_first_cell_given_once_leads_each_row() -> None:
    layout = Layout("t", [("nct_id", "str"), ("n", "int")], [10, 10])
    first = layout.first_cell("NCT00000102")
    assert layout.render([7], first) == layout.render(["NCT00000102", 7])


def test_chunks_are_numbered_where_they_are_written() -> None:
    sheet = x.Sheet("t", [10, 10])
    sheet.add(x.header_row(["a", "b"]))
    rows = [x.text_cell(b"A", "one") + x.number_cell(b"B", 1), x.text_cell(b"A", "two")]
    body = b"".join(b'<row r="' + x.ROW + b'">' + r + b"</row>" for r in rows)
    sheet.add_chunk((body, [3, 2], [(1, "A", "https://example.org")]))
    sheet.spool.seek(0)
    written = sheet.spool.read()
    assert b'<row r="2"><c r="A2" t="inlineStr"><is><t>one</t></is></c><c r="B2"><v>1</v>' \
           in written
    assert b'<row r="3"><c r="A3" t="inlineStr"><is><t>two</t></is></c></row>' in written
    assert sheet.rows == 3 and sheet.links == [("A3", "https://example.org")]
    sheet.spool.close()
