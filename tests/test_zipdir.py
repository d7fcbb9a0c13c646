"""The streamed central directory agrees with zipfile's, Zip64 and prepended bytes included."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from harvester.ingest import zipdir
from tests.conftest import FIXTURES


def _fields(info: zipfile.ZipInfo) -> tuple[object, ...]:
    return (info.filename, info.header_offset, info.compress_size, info.file_size, info.CRC,
            info.compress_type, info.flag_bits, info.external_attr)


def _same_as_zipfile(path: Path) -> int:
    ours = [_fields(i) for i in zipdir.entries(path)]
    with zipfile.ZipFile(path) as zf:
        assert ours == [_fields(i) for i in zf.infolist()]
    return len(ours)


def test_an_ordinary_zip_of_real_studies(tmp_path: Path) -> None:
    archive = tmp_path / "ctg-studies.json.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((FIXTURES / "ctgov-v2-json/studies").glob("*.json")):
            zf.write(path, f"{path.name[9:11]}/{path.name[:11]}.json")
        zf.writestr("empty/", b"")
        zf.writestr("ünïcode name.json", b"{}")
    assert _same_as_zipfile(archive) == 30


def test_zip64_with_more_than_65535_entries_and_prepended_bytes(tmp_path: Path) -> None:
    # The real bulk download has ~600,000 entries: its directory needs the Zip64 records.
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for i in range(66_000):
            zf.writestr(f"{i % 100:02d}/NCT{i:08d}.json", b"{}")
    assert _same_as_zipfile(archive) == 66_000
    shifted = tmp_path / "shifted.zip"
    shifted.write_bytes(b"#!/bin/sh prefix\n" * 10 + archive.read_bytes())
    assert _same_as_zipfile(shifted) == 66_000


def test_forced_zip64_extra_fields(tmp_path: Path) -> None:
    archive = tmp_path / "forced.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            with zf.open(f"NCT0000000{i}.json", "w", force_zip64=True) as entry:
                entry.write(b'{"n": %d}' % i)
    assert _same_as_zipfile(archive) == 3


@pytest.mark.parametrize("cut", [1, 10, 21, 100])
def test_a_truncated_zip_is_a_bad_zip(tmp_path: Path, cut: int) -> None:
    archive = tmp_path / "cut.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("NCT00000001.json", b"{}" * 100)
    archive.write_bytes(archive.read_bytes()[:-cut])
    with pytest.raises(zipfile.BadZipFile):
        list(zipdir.entries(archive))
