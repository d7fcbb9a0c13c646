"""The Excel export's zip container (``harvester/export/xlsxzip.py``): parts deflated as they
come and joined to their opening and closing, read back by :mod:`zipfile` byte for byte, with
ZIP64 fields where sizes or offsets need them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester.export import xlsxzip as z

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("combine", [z.crc32_combine, z._crc32_combine])
def test_crc32_combine_is_the_crc_of_the_whole(combine: Callable[[int, int, int], int]) -> None:
    """ISA-L's (the one used) and the pure-Python fallback (without ISA-L)."""
    for first, second in ((b"", b"x"), (b"abc", b""), (os.urandom(1000), os.urandom(12345)),
                          (b"<head>", b"<row/>" * 50_000)):
        assert combine(zlib.crc32(first), zlib.crc32(second),
                       len(second)) == zlib.crc32(first + second)


def test_isal_deflates_when_it_imports() -> None:
    from isal import isal_zlib

    assert z.crc32_combine is isal_zlib.crc32_combine and z.crc32 is isal_zlib.crc32
    assert z.crc32(b"<row/>" * 1000) == zlib.crc32(b"<row/>" * 1000)


#: Writes parts with isal made unimportable: the zlib fallback.
_WITHOUT_ISAL = """
import io, sys, zipfile
sys.modules["isal"] = None
from harvester.export import xlsxzip as z
assert z._zlib.__name__ == "zlib" and z.crc32_combine is z._crc32_combine
from tests.test_export_xlsxzip import _written
for threaded in (True, False):
    data, expected = _written(threaded=threaded, rows=20_000)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert zf.read("xl/worksheets/sheet1.xml") == expected
print("read back")
"""


def test_without_isal_zlib_writes_parts_that_read_back() -> None:
    done = subprocess.run([sys.executable, "-c", _WITHOUT_ISAL], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "read back"


def _written(*, threaded: bool, rows: int) -> tuple[bytes, bytes]:
    compressor = z.Compressor() if threaded else None
    part = z.DeflatedPart(compressor)
    body = b"".join(b"<row><c><v>%d</v></c></row>" % n for n in range(rows))
    for start in range(0, len(body), 4096):  # in pieces, as sheets are written
        part.write(body[start:start + 4096])
    out = io.BytesIO()
    writer = z.ZipWriter(out)
    writer.add("[Content_Types].xml", "<Types/>")
    writer.add_part("xl/worksheets/sheet1.xml", b"<worksheet><sheetData>", part,
                    b"</sheetData></worksheet>")
    writer.close()
    if compressor is not None:
        compressor.close()
    part.close()
    return out.getvalue(), b"<worksheet><sheetData>" + body + b"</sheetData></worksheet>"


@pytest.mark.parametrize("threaded", [True, False])
@pytest.mark.parametrize("rows", [0, 1, 20_000])
def test_parts_read_back_as_written(threaded: bool, rows: int) -> None:
    data, expected = _written(threaded=threaded, rows=rows)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == ["[Content_Types].xml", "xl/worksheets/sheet1.xml"]
        assert zf.read("[Content_Types].xml") == b"<Types/>"
        assert zf.read("xl/worksheets/sheet1.xml") == expected
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())


def test_zip64_fields_where_sizes_and_offsets_need_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the limit (4 GiB; lowered here), sizes and offsets go in ZIP64 fields."""
    monkeypatch.setattr(z, "ZIP64_LIMIT", 1000)
    data, expected = _written(threaded=True, rows=5000)
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data  # ZIP64 end records
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        info = zf.getinfo("xl/worksheets/sheet1.xml")
        assert info.file_size == len(expected) > 1000
        assert zf.read(info) == expected


def test_a_failure_while_deflating_is_raised() -> None:
    compressor = z.Compressor()
    part = z.DeflatedPart(compressor)
    part.spool.close()  # the temporary file is gone
    with pytest.raises(ValueError):
        for _ in range(z.PENDING + 2):
            part.write(b"<row/>")
        part.end()
    compressor.close()
