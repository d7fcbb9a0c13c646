"""Inputs: files, folders, stdin and bulk-download zips as a bounded stream of payloads."""

from __future__ import annotations

import io
import os
import random
import struct
import sys
import tracemalloc
import types
import weakref
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from harvester.errors import UsageError
from harvester.ingest.inputs import InputProblem, Inputs, OpenFiles, Payload, Skipped, ZipEntry
from tests.conftest import FIXTURES

STUDIES = sorted((FIXTURES / "ctgov-v2-json" / "studies").glob("NCT*.json"))
XMLS = sorted((FIXTURES / "ctgov-xml").glob("NCT*.xml"))

Item = Payload | InputProblem


# -- helpers -----------------------------------------------------------------------------

def _entry(source: Path, ext: str) -> str:
    """``NCT0018xxxx/NCT00189228.json``: the shard layout of the bulk downloads."""
    nct = source.name[:11]
    return f"{nct[:7]}xxxx/{nct}.{ext}"


def _bulk_zip(path: Path, sources: list[Path], ext: str = "json") -> dict[str, bytes]:
    """Write a zip shaped like ctg-studies.json.zip / AllPublicXML.zip; entry -> bytes."""
    entries = {_entry(s, ext): s.read_bytes() for s in sources}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return entries


def _payloads(items: list[Item]) -> dict[str, bytes]:
    return {i.name: i.data for i in items if isinstance(i, Payload)}


def _problems(items: list[Item]) -> list[InputProblem]:
    return [i for i in items if isinstance(i, InputProblem)]


def _data_offset(blob: bytes, info: zipfile.ZipInfo) -> int:
    """Where an entry's compressed data starts (after its local header)."""
    name_len, extra_len = struct.unpack_from("<HH", blob, info.header_offset + 26)
    return int(info.header_offset + 30 + name_len + extra_len)


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(data)))


# -- plain files, folders, stdin ---------------------------------------------------------

def test_a_file_is_one_payload_with_its_exact_bytes() -> None:
    inputs = Inputs([STUDIES[0], str(XMLS[0])])
    assert list(inputs) == [Payload(str(STUDIES[0]), STUDIES[0].read_bytes()),
                            Payload(str(XMLS[0]), XMLS[0].read_bytes())]
    assert inputs.count() == 2


def test_a_folder_is_walked_sorted_recursively_skipping_hidden(tmp_path: Path) -> None:
    root = tmp_path / "downloads"
    (root / "b" / "deeper").mkdir(parents=True)
    (root / ".git").mkdir()
    files = {
        "a.json": STUDIES[0], "b/deeper/z.xml": XMLS[1], "b/c.xml": XMLS[0],
        "b.json": STUDIES[1], "B.json": STUDIES[2],
    }
    for rel, src in files.items():
        (root / rel).write_bytes(src.read_bytes())
    (root / ".DS_Store").write_bytes(b"junk")
    (root / "b" / ".hidden.json").write_bytes(b"junk")
    (root / ".git" / "config").write_bytes(b"junk")
    entries = _bulk_zip(root / "b" / "studies.zip", STUDIES[3:6])

    inputs = Inputs([root])
    items = list(inputs)
    zip_name = str(root / "b" / "studies.zip")
    expected = [str(root / r) for r in ("B.json", "a.json", "b/c.xml", "b/deeper/z.xml")]
    expected += [f"{zip_name}:{e}" for e in entries]  # "deeper" < "studies.zip"
    expected.append(str(root / "b.json"))  # parts order: "b" (folder) before "b.json"
    assert [i.name for i in items] == expected
    assert all(isinstance(i, Payload) for i in items)
    assert _payloads(items)[str(root / "b/deeper/z.xml")] == XMLS[1].read_bytes()
    assert inputs.count() == len(expected) == 8


def test_a_hidden_file_named_explicitly_is_read(tmp_path: Path) -> None:
    hidden = tmp_path / ".study.json"
    hidden.write_bytes(b"{}")
    assert list(Inputs([hidden])) == [Payload(str(hidden), b"{}")]


def test_dash_reads_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    data = STUDIES[0].read_bytes()
    _stdin(monkeypatch, data)
    inputs = Inputs(["-", XMLS[0]])
    assert inputs.count() == 2
    items = list(inputs)
    assert items == [Payload("<stdin>", data), Payload(str(XMLS[0]), XMLS[0].read_bytes())]


def test_dash_twice_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="only once"):
        Inputs(["-", "-"])


def test_missing_paths_are_refused_up_front(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setattr(sys, "stdin", None)  # proves nothing is read before the check
    with pytest.raises(UsageError) as info:
        Inputs([STUDIES[0], "-", tmp_path / "nope.json", "also-missing.zip", ""])
    message = str(info.value)
    assert "\n" not in message
    assert "nope.json: No such file or directory" in message
    assert "also-missing.zip: No such file or directory" in message
    assert "'': No such file" in message  # "" is not the current folder


def test_a_file_that_cannot_be_read_is_a_problem_and_the_rest_goes_on(tmp_path: Path) -> None:
    doomed = tmp_path / "gone.json"
    doomed.write_bytes(b"{}")
    inputs = Inputs([doomed, STUDIES[0]])
    doomed.unlink()  # vanished between the command line and the reading
    items = list(inputs)
    assert items[0] == InputProblem(str(doomed), "cannot read: No such file or directory")
    assert items[1] == Payload(str(STUDIES[0]), STUDIES[0].read_bytes())


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_a_file_without_permission_is_a_problem(tmp_path: Path) -> None:
    locked = tmp_path / "locked.json"
    locked.write_bytes(b"{}")
    locked.chmod(0)
    assert list(Inputs([locked])) == [
        InputProblem(str(locked), "cannot read: Permission denied")]


# -- zips --------------------------------------------------------------------------------

def test_ctg_studies_zip_yields_every_entry_byte_for_byte(tmp_path: Path) -> None:
    zpath = tmp_path / "ctg-studies.json.zip"
    entries = _bulk_zip(zpath, STUDIES)
    inputs = Inputs([zpath])
    items = list(inputs)
    assert [i.name for i in items] == [f"{zpath}:{e}" for e in entries]
    assert _payloads(items) == {f"{zpath}:{e}": data for e, data in entries.items()}
    assert items[0].name.endswith(".json.zip:NCT0018xxxx/NCT00189228.json")
    assert inputs.count() == len(STUDIES)


def test_all_public_xml_zip_yields_every_entry(tmp_path: Path) -> None:
    zpath = tmp_path / "AllPublicXML.zip"
    entries = _bulk_zip(zpath, XMLS, ext="xml")
    inputs = Inputs([str(zpath)])
    assert _payloads(list(inputs)) == {f"{zpath}:{e}": d for e, d in entries.items()}
    assert inputs.count() == len(XMLS)


def test_zip_entries_come_in_central_directory_order_skipping_junk(tmp_path: Path) -> None:
    zpath = tmp_path / "mac.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("NCT0555xxxx/", b"")  # a directory entry
        zf.writestr("NCT0555xxxx/z.json", b"{1}")
        zf.writestr("NCT0555xxxx/.DS_Store", b"junk")
        zf.writestr("__MACOSX/NCT0555xxxx/._z.json", b"junk")
        zf.writestr(".git/config", b"junk")
        zf.writestr("./a.json", b"{2}")
        link = zipfile.ZipInfo("link.json")
        link.external_attr = 0o120777 << 16  # a symlink entry: its data is a path
        zf.writestr(link, "z.json")
    inputs = Inputs([zpath])
    hidden = "hidden or macOS metadata, not a study"
    assert list(inputs) == [Skipped(f"{zpath}:NCT0555xxxx/", "a folder"),
                            Payload(f"{zpath}:NCT0555xxxx/z.json", b"{1}"),
                            Skipped(f"{zpath}:NCT0555xxxx/.DS_Store", hidden),
                            Skipped(f"{zpath}:__MACOSX/NCT0555xxxx/._z.json", hidden),
                            Skipped(f"{zpath}:.git/config", hidden),
                            Payload(f"{zpath}:./a.json", b"{2}"),
                            Skipped(f"{zpath}:link.json", "a symbolic link, not a study")]
    assert inputs.count() == 7


def test_magic_bytes_decide_not_the_extension(tmp_path: Path) -> None:
    fake = tmp_path / "AllPublicXML.zip"
    fake.write_bytes(XMLS[0].read_bytes())
    real = tmp_path / "study.json"
    _bulk_zip(real, STUDIES[:2])
    inputs = Inputs([fake, real])
    items = list(inputs)
    assert items[0] == Payload(str(fake), XMLS[0].read_bytes())
    assert [i.name for i in items[1:]] == [f"{real}:{_entry(s, 'json')}" for s in STUDIES[:2]]
    assert inputs.count() == 3


def test_an_empty_zip_yields_nothing(tmp_path: Path) -> None:
    zpath = tmp_path / "empty.zip"
    zipfile.ZipFile(zpath, "w").close()  # just an end-of-central-directory record
    assert zpath.read_bytes()[:4] == b"PK\x05\x06"
    assert list(Inputs([zpath])) == [] and Inputs([zpath]).count() == 0


def test_a_zip_inside_a_zip_is_not_expanded(tmp_path: Path) -> None:
    inner = tmp_path / "inner.zip"
    _bulk_zip(inner, STUDIES[:2])
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as zf:
        zf.write(inner, "inner.zip")
    renamed = tmp_path / "renamed.zip"
    with zipfile.ZipFile(renamed, "w") as zf:
        zf.write(inner, "inner.json")  # a zip by its bytes, whatever its name
    why = "a zip inside the zip is not expanded; unpack it and import it on its own"
    assert list(Inputs([outer, renamed])) == [InputProblem(f"{outer}:inner.zip", why),
                                              InputProblem(f"{renamed}:inner.json", why)]


@pytest.mark.parametrize("cut", ["half", "all-but-22", "first-100"])
def test_a_truncated_zip_is_a_problem_never_an_exception(tmp_path: Path, cut: str) -> None:
    whole = tmp_path / "whole.zip"
    entries = _bulk_zip(whole, STUDIES)
    blob = whole.read_bytes()
    size = {"half": len(blob) // 2, "all-but-22": len(blob) - 22, "first-100": 100}[cut]
    zpath = tmp_path / "ctg-studies.json.zip"
    zpath.write_bytes(blob[:size])
    inputs = Inputs([zpath, STUDIES[0]])
    items = list(inputs)
    problems = _problems(items)
    assert problems and all(p.name.startswith(str(zpath)) for p in problems)
    assert all("\n" not in p.message for p in problems)
    assert any("not a readable zip (truncated?)" in p.message for p in problems)
    for name, data in _payloads(items).items():  # whatever did come out is intact
        entry = name.removeprefix(f"{zpath}:")
        assert data == (entries[entry] if entry != name else STUDIES[0].read_bytes())
    assert items[-1] == Payload(str(STUDIES[0]), STUDIES[0].read_bytes())
    assert inputs.count() == len(items)


def _flip_middle(blob: bytearray, offset: int, victim: zipfile.ZipInfo) -> None:
    start = offset + victim.compress_size // 2  # the stream's CRC no longer matches
    for i in range(start, start + 16):
        blob[i] ^= 0xFF


def _invalid_block(blob: bytearray, offset: int, victim: zipfile.ZipInfo) -> None:
    blob[offset] = 0xFF  # block type 3: no such deflate block (ISA-L's errors as zlib's)


@pytest.mark.parametrize("damage", [_flip_middle, _invalid_block])
def test_a_damaged_entry_is_a_problem_and_the_others_come_out(
        tmp_path: Path, damage: Callable[[bytearray, int, zipfile.ZipInfo], None]) -> None:
    zpath = tmp_path / "ctg-studies.json.zip"
    entries = _bulk_zip(zpath, STUDIES[:5])
    blob = bytearray(zpath.read_bytes())
    with zipfile.ZipFile(zpath) as zf:
        victim = zf.infolist()[2]
    damage(blob, _data_offset(bytes(blob), victim), victim)
    zpath.write_bytes(bytes(blob))
    items = list(Inputs([zpath]))
    assert len(items) == 5
    assert _problems(items) == [items[2]]
    assert items[2].name == f"{zpath}:{victim.filename}"
    assert isinstance(items[2], InputProblem) and items[2].message.startswith("damaged entry")
    assert _payloads(items) == {f"{zpath}:{e}": d for e, d in entries.items()
                                if e != victim.filename}


def test_an_entry_longer_than_declared_is_cut_off_and_reported(tmp_path: Path) -> None:
    zpath = tmp_path / "liar.zip"
    entries = _bulk_zip(zpath, STUDIES[:2])
    blob = bytearray(zpath.read_bytes())
    first = next(iter(entries))
    (central,) = struct.unpack_from("<L", blob, len(blob) - 22 + 16)  # from the EOCD record
    assert blob[central:central + 4] == b"PK\x01\x02"
    struct.pack_into("<L", blob, central + 24, 1000)  # claims 1,000 bytes, holds ~15,000
    zpath.write_bytes(bytes(blob))
    items = list(Inputs([zpath], max_payload_bytes=10_000))
    assert items[0] == InputProblem(f"{zpath}:{first}", "damaged entry: Bad CRC-32 for file "
                                                      f"{first!r}")
    assert items[1] == Payload(f"{zpath}:{_entry(STUDIES[1], 'json')}", STUDIES[1].read_bytes())


def test_oversized_payloads_are_refused_and_the_rest_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = STUDIES[1] if len(STUDIES[1].read_bytes()) < 10_000 else XMLS[0]
    limit = len(small.read_bytes())
    big = next(s for s in STUDIES if s.stat().st_size > limit)
    zpath = tmp_path / "mixed.zip"
    entries = _bulk_zip(zpath, [big, small])
    _stdin(monkeypatch, big.read_bytes())
    items = list(Inputs([big, zpath, small, "-"], max_payload_bytes=limit))
    big_entry, small_entry = (f"{zpath}:{e}" for e in entries)
    assert items == [
        InputProblem(str(big), f"file is {big.stat().st_size:,} bytes, above the {limit:,} limit"),
        InputProblem(big_entry,
                     f"entry is {big.stat().st_size:,} bytes, above the {limit:,} limit"),
        Payload(small_entry, small.read_bytes()),
        Payload(str(small), small.read_bytes()),
        InputProblem("<stdin>", f"larger than the {limit:,} limit"),
    ]


def test_a_zip_that_would_unpack_too_much_is_refused_whole(tmp_path: Path) -> None:
    zpath = tmp_path / "bomb.zip"
    entries = _bulk_zip(zpath, STUDIES)
    total = sum(len(d) for d in entries.values())
    refused = Inputs([zpath, XMLS[0]], max_unpacked_bytes=total - 1)
    assert list(refused) == [
        InputProblem(str(zpath), f"zip would unpack to {total:,} bytes, above the "
                                 f"{total - 1:,} limit; nothing read from it"),
        Payload(str(XMLS[0]), XMLS[0].read_bytes()),
    ]
    assert refused.count() == 2
    assert len(list(Inputs([zpath], max_unpacked_bytes=total))) == len(STUDIES)


def test_damaged_zips_never_raise(tmp_path: Path) -> None:
    whole = tmp_path / "whole.zip"
    _bulk_zip(whole, STUDIES[:3])
    blob = whole.read_bytes()
    (central,) = struct.unpack_from("<L", blob, len(blob) - 22 + 16)
    headers = [0] + [_data_offset(blob, i) for i in zipfile.ZipFile(whole).infolist()]
    rng = random.Random(20240501)
    zpath = tmp_path / "damaged.zip"
    for trial in range(400):
        damaged = bytearray(blob)
        if trial % 4 == 0:
            damaged = damaged[: rng.randrange(len(blob))]
        else:  # mostly in the headers and the central directory, where zipfile parses
            for _ in range(rng.randint(1, 4)):
                start = rng.choice([*headers, central, central, central])
                damaged[rng.randrange(start, min(start + 120, len(blob)))] = rng.randrange(256)
        zpath.write_bytes(bytes(damaged))
        inputs = Inputs([zpath])
        items = list(inputs)  # must not raise
        assert all(isinstance(i, Payload | InputProblem | Skipped) for i in items)
        assert isinstance(inputs.count(), int)


# -- memory --------------------------------------------------------------------------------

def test_iterating_a_big_zip_keeps_one_payload_at_a_time(tmp_path: Path) -> None:
    zpath = tmp_path / "many.zip"
    entry_size, n = 16_384, 2000
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(n):
            zf.writestr(f"NCT{i // 1000:04d}xxxx/NCT{i:08d}.json", f"{i:08d}".encode() * 2048)
    total = entry_size * n  # 32 MiB unpacked
    it = iter(Inputs([zpath]))
    seen = 0
    tracemalloc.start()
    try:
        for item in it:
            assert isinstance(item, Payload) and len(item.data) == entry_size
            ref = weakref.ref(item)
            del item
            assert ref() is None  # the paused iterator keeps no reference to it
            seen += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == n
    assert peak < total / 10, f"peak {peak:,} bytes for {total:,} unpacked"


def test_entries_read_through_open_files_are_those_read_one_by_one(tmp_path: Path) -> None:
    zpath = tmp_path / "ctg-studies.json.zip"
    entries = _bulk_zip(zpath, STUDIES[:4])
    deferred = list(Inputs([zpath], defer=True))
    assert all(isinstance(e, ZipEntry) for e in deferred)
    with OpenFiles() as files:
        kept = [e.read(10**8, files) for e in deferred if isinstance(e, ZipEntry)]
        (handle,) = files._files.values()  # one open file for the whole zip
    assert handle.closed
    alone = [e.read(10**8) for e in deferred if isinstance(e, ZipEntry)]
    assert kept == alone
    assert {p.name: p.data for p in kept if isinstance(p, Payload)} == {
        f"{zpath}:{e}": d for e, d in entries.items()}
    assert [p.deflated for p in kept if isinstance(p, Payload)] == [
        p.deflated for p in alone if isinstance(p, Payload)]
