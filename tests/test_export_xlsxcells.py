"""The Excel export's cells (``harvester/export/xlsxcells.py``): each value makes the cell
that :mod:`harvester.export.xlsxml`'s cell functions write for it, a skipped column is an
empty cell, chunks of rows follow the rows written before, and a repeated column's kept cells
are those made anew."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.export import xlsxml as x
from harvester.export.base import EXCEL_CELL_LIMIT, TRUNCATION_MARKER
from harvester.export.log import VERSION_FIELDS, version_fields
from harvester.export.rows import CHILD_TABLES, trial_row
from harvester.export.xlsx import CHILDREN, LAYOUTS, TRIALS, VERSIONS
from harvester.export.xlsxcells import CACHED_VALUES, Layout
from tests.exportdata import selected_items, shared


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


# --- cells kept for repeated values -------------------------------------------------------


def _uncached(layout: Layout) -> Layout:
    """The same layout, every cell made anew."""
    twin = Layout(layout.title, list(zip(layout.names, layout.kinds, strict=True)),
                  layout.widths)
    for col in twin.columns:
        col.cache = None
    return twin


def test_kept_cells_are_those_made_anew_for_every_fixture_record(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    items = selected_items(shared(tmp_path_factory))
    fresh = {layout.title: _uncached(layout) for layout in LAYOUTS}
    assert any(col.cache is not None for col in TRIALS.columns)
    for _ in range(2):  # the second time, every repeated value's cell is a kept one
        for item in items:
            view = item.view
            rows: list[Any] = [trial_row(view)]
            assert TRIALS.render_rows(rows) == fresh[TRIALS.title].render_rows(rows)
            first = CHILDREN[0].first_cell(view.nct_id)
            for table, layout in zip(CHILD_TABLES, CHILDREN, strict=True):
                rows = list(table.rows(view))
                assert layout.render_rows(rows, first) == fresh[layout.title].render_rows(
                    rows, first), (item.nct_id, table.name)
            fields = version_fields(item)
            rows = [[fields.get(n) for n in VERSION_FIELDS]]
            assert VERSIONS.render_rows(rows) == fresh[VERSIONS.title].render_rows(rows)


_TEXT = st.text(st.sampled_from(["a", "Z", " ", "&", "<", ">", "=", "+", "-", "@", "#", "\t",
                                 "\n", "\x07", "\x00", "é", "\N{GRINNING FACE}", "2", "|"]),
                max_size=12)
_VALUES = st.one_of(
    st.none(), _TEXT, st.sampled_from(["#N/A", "2007-11-14", "2023-02-30", "2007-11",
                                       "https://example.org/a?b=1&c=2", "RECRUITING"]),
    st.integers(-10**12, 10**12), st.floats(), st.sampled_from([0.0, -0.0, 1.0, 1, True]),
    st.booleans(), st.tuples(_TEXT, _TEXT), st.just(()),
    st.dates(min_value=date(1900, 1, 1)),
    st.datetimes(min_value=datetime(1900, 1, 1), timezones=st.just(UTC)))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_kept_cells_are_those_made_anew_for_any_value(data: st.DataObject) -> None:
    """Each layout of the workbook (its kinds, dates, links and repeated columns), rows of
    any value, each rendered twice."""
    layout = data.draw(st.sampled_from(LAYOUTS))
    led = layout is not TRIALS and layout is not VERSIONS and data.draw(st.booleans())
    width = len(layout.columns) - led
    rows = data.draw(st.lists(st.lists(_VALUES, min_size=width, max_size=width).map(tuple),
                              min_size=1, max_size=4))
    first = layout.first_cell("NCT00000102") if led else None
    fresh = _uncached(layout)
    for _ in range(2):
        assert layout.render_rows(rows, first) == fresh.render_rows(rows, first)


def test_a_column_keeps_at_most_so_many_values() -> None:
    layout = Layout("t", [("nct_id", "str"), ("status", "str")], [10, 10],
                    repeated=["status"])
    rows = [("NCT00000102", f"S{n}") for n in range(CACHED_VALUES + 10)]
    assert layout.render_rows(rows) == _uncached(layout).render_rows(rows)
    assert len(layout.columns[1].cache or ()) == CACHED_VALUES
    assert layout.columns[0].cache is None
    assert layout.render_rows(rows[::-1]) == _uncached(layout).render_rows(rows[::-1])
