"""Which entries of a zip an import reads, and why it does not read the others.

A zip is read defensively, from its central directory alone, before anything is inflated:

* every entry not read is accounted for — *skipped* (folders, macOS and hidden metadata,
  symbolic links: not studies) or *refused* (hostile or unreadable: unsafe names, overlapping
  data, a compression ratio no study has, a zip inside the zip, encryption, methods other
  than stored and deflate, entries above the size limit) — so none vanishes silently;
* entries whose data overlaps another entry's are refused: the classic zip bomb packs one
  compressed stream once and points many entries at it;
* an entry claiming to inflate more than :data:`MAX_RATIO` times its compressed size is
  refused (deflate's own limit is about 1,032:1; JSON and XML records compress 5–20:1);
* inflation never goes past an entry's declared size (see
  :meth:`harvester.ingest.inputs.ZipEntry.read`), so the declared total, itself bounded,
  bounds the bytes inflated.
"""

from __future__ import annotations

import stat
import zipfile
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harvester.ingest import zipdir

#: The largest inflated:compressed ratio accepted for an entry of :data:`RATIO_FROM` bytes
#: or more (a small entry of repeated bytes may compress better, and costs nothing).
MAX_RATIO = 200
RATIO_FROM = 1 << 20
#: Bytes of the local header before the name (APPNOTE 4.3.7): where an entry's data starts is
#: at least this plus the name's length past its header offset.
_LOCAL_FIXED = 30
_SAFE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True)
class Verdict:
    """Why an entry is not read: ``skip`` (not a study) or ``refuse`` (a problem)."""

    kind: str
    reason: str


@dataclass
class Survey:
    """What the central directory says of a whole zip, read once before any entry."""

    entries: int = 0  # every entry, read or not
    declared: int = 0  # the declared inflated size of the entries that may be read
    overlapping: frozenset[int] = frozenset()  # positions of entries sharing data


def survey(path: str | Path) -> Survey:
    """Read the central directory of ``path`` once (streamed, a few bytes per entry kept)."""
    found = Survey()
    starts, ends = array("Q"), array("Q")
    for info in zipdir.entries(path):
        found.entries += 1
        if judge(info) is None:
            found.declared += info.file_size
        start = info.header_offset
        starts.append(start)
        ends.append(start + _LOCAL_FIXED + len(info.filename.encode()) + info.compress_size)
    found.overlapping = frozenset(_overlapping(starts, ends))
    return found


def _overlapping(starts: array[int], ends: array[int]) -> set[int]:
    """Positions of entries whose data starts before an earlier-placed entry's data ends."""
    order: Iterable[int] = range(len(starts))
    if any(starts[i] > starts[i + 1] for i in range(len(starts) - 1)):
        order = sorted(order, key=starts.__getitem__)  # rare: written out of order
    bad: set[int] = set()
    reach = -1
    for i in order:
        if starts[i] < reach:
            bad.add(i)
        reach = max(reach, ends[i])
    return bad


def _unsafe_name(name: str) -> bool:
    if "\x00" in name or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.replace("\\", "/").split("/")


def judge(info: zipfile.ZipInfo, overlapping: bool = False,
          max_payload: int | None = None) -> Verdict | None:
    """Why ``info`` is not read, or None when it is a payload to read."""
    name = info.filename
    if _unsafe_name(name):
        return Verdict("refuse", "unsafe entry name (absolute, or with '..'); not read")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if info.is_dir() or not parts:
        return Verdict("skip", "a folder")
    if parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
        return Verdict("skip", "hidden or macOS metadata, not a study")
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0: made where no mode is recorded
    if kind == stat.S_IFLNK:
        return Verdict("skip", "a symbolic link, not a study")
    if kind not in (0, stat.S_IFREG):
        return Verdict("skip", "not a regular file")
    if name.lower().endswith(".zip"):  # (not PurePosixPath: it interns every name)
        return Verdict("refuse", "a zip inside the zip is not expanded; unpack it and "
                                 "import it on its own")
    if overlapping:
        return Verdict("refuse", "its data overlaps another entry's (a zip bomb?); not "
                                 "inflated")
    if max_payload is not None and info.file_size > max_payload:
        return Verdict("refuse", f"entry is {info.file_size:,} bytes, above the "
                                 f"{max_payload:,} limit")
    if info.flag_bits & 0x1:
        return Verdict("refuse", "entry is encrypted")
    if info.compress_type not in _SAFE_METHODS:
        return Verdict("refuse", f"entry uses compression method {info.compress_type}; "
                                 "only stored and deflate are read")
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        return Verdict("refuse", "damaged entry: stored with two different sizes")
    if (info.file_size >= RATIO_FROM
            and info.file_size > MAX_RATIO * max(info.compress_size, 1)):
        ratio = info.file_size // max(info.compress_size, 1)
        return Verdict("refuse", f"would inflate {ratio:,} times its compressed size, above "
                                 f"the {MAX_RATIO}:1 bound (a zip bomb?); not inflated")
    return None
