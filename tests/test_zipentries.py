"""Zips read defensively: every entry not imported is counted and named; bombs (overlapping
entries, impossible ratios) are refused before anything is inflated
(harvester/ingest/zipentries.py)."""

from __future__ import annotations

import random
import struct
import zipfile
from pathlib import Path

import pytest

import harvester.ingest.inputs as inputs_module
from harvester.catalogue import Catalogue
from harvester.ingest.importer import Importer
from harvester.ingest.inputs import InputProblem, Inputs, Payload, Skipped, ZipEntry
from harvester.ingest.zipentries import MAX_RATIO, survey
from tests.conftest import FIXTURES

STUDY = sorted((FIXTURES / "ctgov-v2-json" / "studies").glob("NCT*.json"))[0]


def overlapping_zip(path: Path, copies: int, data: bytes) -> None:
    """One deflated entry, and a central directory listing it ``copies`` times under
    different names: every entry points at the same compressed bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("NCT00000000.json", data)
    blob = path.read_bytes()
    eocd = blob.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<LL", blob, eocd + 12)
    record = blob[cd_offset:cd_offset + cd_size]
    name = b"NCT00000000.json"
    records = b"".join(record.replace(name, f"NCT{i:08d}.json".encode()) for i in range(copies))
    tail = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, copies, copies, len(records),
                       cd_offset, 0)
    path.write_bytes(blob[:cd_offset] + records + tail)


@pytest.fixture
def no_inflating(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything is inflated."""

    def refuse(*args: object) -> None:
        raise AssertionError("an entry was inflated")

    monkeypatch.setattr(inputs_module.zlib, "decompressobj", refuse)


def test_entries_sharing_their_data_are_refused_before_inflating(
        tmp_path: Path, no_inflating: None) -> None:
    data = random.Random(7).randbytes(50_000).hex().encode()  # compresses ~2:1: no ratio alarm
    zpath = tmp_path / "overlap.zip"
    overlapping_zip(zpath, 100, data)
    assert len(survey(zpath).overlapping) == 99
    items = list(Inputs([zpath], defer=True))
    assert isinstance(items[0], ZipEntry)  # the first holds the data; it alone is read
    assert len(items) == 100
    assert all(isinstance(i, InputProblem) and "overlaps another entry" in i.message
               for i in items[1:])
    assert items[1].name == f"{zpath}:NCT00000001.json"


def test_an_impossible_compression_ratio_is_refused_before_inflating(
        tmp_path: Path, no_inflating: None) -> None:
    zpath = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("NCT00000001.json", b"\0" * (8 << 20))  # 8 MiB of zeros: ~1000:1
        zf.writestr("NCT00000002.json", b"\0" * 10_000)  # small: not held to the ratio
    (bomb, small) = list(Inputs([zpath], defer=True))
    assert isinstance(bomb, InputProblem)
    assert f"above the {MAX_RATIO}:1 bound" in bomb.message and "not inflated" in bomb.message
    assert isinstance(small, ZipEntry)


def test_unsafe_names_are_refused_and_named(tmp_path: Path) -> None:
    zpath = tmp_path / "traversal.zip"
    body = STUDY.read_bytes()
    with zipfile.ZipFile(zpath, "w") as zf:
        for name in ("../../etc/NCT1.json", "/abs/NCT2.json", "a/../NCT3.json",
                     "C:/NCT4.json", "ok/NCT5.json"):
            info = zipfile.ZipInfo("x")
            info.filename = name  # ZipInfo() itself would clean these up
            zf.writestr(info, body)
    items = list(Inputs([zpath]))
    refused = [i.name.removeprefix(f"{zpath}:") for i in items if isinstance(i, InputProblem)]
    assert refused == ["../../etc/NCT1.json", "/abs/NCT2.json", "a/../NCT3.json",
                       "C:/NCT4.json"]
    assert all("unsafe entry name" in i.message for i in items if isinstance(i, InputProblem))
    assert items[-1] == Payload(f"{zpath}:ok/NCT5.json", body)


def test_an_import_counts_and_names_every_entry_it_does_not_read(tmp_path: Path) -> None:
    zpath = tmp_path / "mixed.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("studies/", b"")
        zf.write(STUDY, f"studies/{STUDY.name}")
        zf.writestr("__MACOSX/studies/._x.json", b"junk")
        zf.writestr("../evil.json", STUDY.read_bytes())
        link = zipfile.ZipInfo("studies/link.json")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, STUDY.name)
    problems: list[str] = []
    with Catalogue.open(f"sqlite:///{tmp_path / 'c.sqlite'}") as cat:
        summary = Importer(cat, on_problem=problems.append).run([zpath])
    assert (summary.new, summary.failed, summary.skipped) == (1, 1, 3)
    assert summary.to_json()["skipped"] == 3
    assert f"{zpath}:../evil.json: unsafe entry name (absolute, or with '..'); not read" \
        in problems
    assert f"warning: 1 zip entry skipped (a folder): {zpath}:studies/" in problems
    assert (f"warning: 1 zip entry skipped (a symbolic link, not a study): "
            f"{zpath}:studies/link.json") in problems
    assert any("hidden or macOS metadata" in p and "._x.json" in p for p in problems)


def test_a_stored_entry_with_two_sizes_is_refused(tmp_path: Path) -> None:
    zpath = tmp_path / "stored.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("NCT00000001.json", b"{}" * 100)
    blob = bytearray(zpath.read_bytes())
    central = blob.rindex(b"PK\x01\x02")
    struct.pack_into("<L", blob, central + 24, 10_000_000)  # the declared inflated size
    zpath.write_bytes(bytes(blob))
    (item,) = list(Inputs([zpath]))
    assert isinstance(item, InputProblem) and "stored with two different sizes" in item.message


def test_survey_counts_every_entry(tmp_path: Path) -> None:
    zpath = tmp_path / "s.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("a/", b"")
        zf.writestr("a/NCT1.json", b"12345")
    found = survey(zpath)
    assert (found.entries, found.declared, found.overlapping) == (2, 5, frozenset())
    assert Inputs([zpath]).count() == 2
    assert [type(i) for i in Inputs([zpath])] == [Skipped, Payload]
