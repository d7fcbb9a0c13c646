"""The zip container of the Excel export, with each worksheet compressed while it is written.

A worksheet's rows are deflated as they come (:class:`DeflatedPart`, in a background thread:
``zlib`` lets go of the GIL, so on a second core compression overlaps rendering) into a
temporary file, and :class:`ZipWriter` writes the package at the end from those compressed
bytes, never inflating or compressing them again.  A part's opening (which names the sheet's
last row) is known only at the end: it is deflated then as a stream of its own and put in
front — raw deflate streams ended with a sync flush join into one, and the CRC-32 of the
whole comes from the pieces' (:func:`crc32_combine`).  Sizes past 4 GiB, offsets past 4 GiB
and more than 65,535 entries are written as ZIP64, as :mod:`zipfile` reads them.

Deflating and CRC-32 go through ISA-L (:mod:`isal.isal_zlib`, a dependency) when it imports:
at level 1 it deflates a sheet three times as fast as :mod:`zlib` (and a little smaller), so
the deflating thread keeps up with rendering on a shared core.  Without it, :mod:`zlib` and
the pure-Python :func:`crc32_combine` write the same workbook, deflated a little differently.
"""

from __future__ import annotations

import struct
import tempfile
import time
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain
from types import ModuleType
from typing import IO, Any

_zlib: ModuleType
try:
    from isal import isal_zlib as _zlib
except ImportError:  # isal is a dependency; tests/test_export_xlsxzip.py tries without
    _zlib = zlib

#: The deflate level: 1 is several times faster than the default for a few percent more bytes
#: (ISA-L's levels go from 0 to 3; 1 is its fast one too).
LEVEL = 1
#: Sizes and offsets from which ZIP64 fields are needed.
ZIP64_LIMIT = 0xFFFFFFFF
_ZIP64_COUNT = 0xFFFF
#: Parts deflated in the background at most waiting at once (flat memory).
PENDING = 8


def _deflater() -> Any:
    return _zlib.compressobj(LEVEL, zlib.DEFLATED, -15)


#: CRC-32, as :func:`zlib.crc32` (ISA-L's is several times faster).
crc32 = _zlib.crc32


def deflated(data: bytes, *, final: bool) -> bytes:
    """``data`` as a raw deflate stream of its own: ended (``final``), or open to be followed
    by another stream (sync flush: byte-aligned, no final block)."""
    deflater = _deflater()
    packed: bytes = deflater.compress(data) + deflater.flush(
        _zlib.Z_FINISH if final else _zlib.Z_SYNC_FLUSH)
    return packed


def _gf2_times(matrix: list[int], vector: int) -> int:
    total = 0
    row = 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def _crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of A+B from A's, B's and B's length (zlib's ``crc32_combine``, in Python:
    used only without ISA-L)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


#: The CRC-32 of A+B from A's, B's and B's length: ISA-L's, else :func:`_crc32_combine`.
crc32_combine = getattr(_zlib, "crc32_combine", _crc32_combine)


class Compressor:
    """One background thread that deflates parts' data in the order it was given."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="xlsx-deflate")
        self._pending: deque[Future[None]] = deque()

    def submit(self, part: DeflatedPart, data: bytes) -> None:
        self._pending.append(self._pool.submit(part.feed, data))
        while len(self._pending) > PENDING:
            self._pending.popleft().result()

    def wait(self) -> None:
        """Until every part's data given so far is deflated (raises what went wrong)."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DeflatedPart:
    """A part's body, deflated as it comes into a temporary file."""

    def __init__(self, compressor: Compressor | None = None) -> None:
        self.spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close)
        self.size = 0
        self.crc = 0
        self._deflater = _deflater()
        self._compressor = compressor
        self._ended = False

    def write(self, data: bytes) -> None:
        if self._compressor is None:
            self.feed(data)
        else:
            self._compressor.submit(self, data)

    def feed(self, data: bytes) -> None:
        self.crc = crc32(data, self.crc)
        self.size += len(data)
        self.spool.write(self._deflater.compress(data))

    def end(self) -> None:
        """No more data (once everything submitted is deflated): flush the stream, open-ended
        so that the part's closing can follow it."""
        if self._compressor is not None:
            self._compressor.wait()
        if not self._ended:
            self.spool.write(self._deflater.flush(_zlib.Z_SYNC_FLUSH))
            self._ended = True

    def close(self) -> None:
        self.spool.close()


@dataclass
class _Entry:
    name: bytes
    crc: int
    compressed: int
    size: int
    offset: int
    stamp: tuple[int, int]


class ZipWriter:
    """A zip file written straight through (``out`` need not be seekable), every entry
    deflated, its sizes and CRC-32 known before it is written."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.offset = 0
        self.entries: list[_Entry] = []
        moment = time.localtime()
        self.stamp = ((moment.tm_hour << 11) | (moment.tm_min << 5) | (moment.tm_sec // 2),
                      ((moment.tm_year - 1980) << 9) | (moment.tm_mon << 5) | moment.tm_mday)

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.offset += len(data)

    def add(self, name: str, data: bytes | str) -> None:
        """A small entry, deflated here."""
        raw = data.encode() if isinstance(data, str) else data
        packed = deflated(raw, final=True)
        self.add_deflated(name, [packed], crc32(raw), len(raw), len(packed))

    def add_part(self, name: str, head: bytes, body: DeflatedPart, tail: bytes) -> None:
        """An entry made of ``head``, the deflated ``body`` and ``tail``."""
        body.end()
        crc = crc32(tail, crc32_combine(crc32(head), body.crc, body.size))
        first, last = deflated(head, final=False), deflated(tail, final=True)
        compressed = len(first) + body.spool.seek(0, 2) + len(last)
        body.spool.seek(0)
        self.add_deflated(name, chain([first], _chunks(body.spool), [last]), crc,
                          len(head) + body.size + len(tail), compressed)

    def add_deflated(self, name: str, pieces: Iterable[bytes], crc: int, size: int,
                     compressed: int) -> None:
        """An entry from its raw deflate stream (``pieces``, ``compressed`` bytes in all),
        CRC-32 and inflated size."""
        entry = _Entry(name.encode(), crc, compressed, size, self.offset, self.stamp)
        zip64 = size >= ZIP64_LIMIT or compressed >= ZIP64_LIMIT
        self._write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0, 8,
                                *self.stamp, crc, 0xFFFFFFFF if zip64 else compressed,
                                0xFFFFFFFF if zip64 else size, len(entry.name),
                                20 if zip64 else 0))
        self._write(entry.name)
        if zip64:
            self._write(struct.pack("<HHQQ", 1, 16, size, compressed))
        written = 0
        for data in pieces:
            self._write(data)
            written += len(data)
        if written != compressed:
            raise ValueError(f"{name}: {written} bytes written, {compressed} announced")
        self.entries.append(entry)

    def close(self) -> None:
        """Write the central directory."""
        start = self.offset
        for e in self.entries:
            extra = b""
            sizes = (e.size, e.compressed)
            if e.size >= ZIP64_LIMIT or e.compressed >= ZIP64_LIMIT:
                extra += struct.pack("<QQ", e.size, e.compressed)
                sizes = (0xFFFFFFFF, 0xFFFFFFFF)
            offset = e.offset
            if offset >= ZIP64_LIMIT:
                extra += struct.pack("<Q", offset)
                offset = 0xFFFFFFFF
            if extra:
                extra = struct.pack("<HH", 1, len(extra)) + extra
            version = 45 if extra else 20
            self._write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0x0300 | version,
                                    version, 0, 8, *e.stamp, e.crc, sizes[1], sizes[0],
                                    len(e.name), len(extra), 0, 0, 0, 0o600 << 16, offset))
            self._write(e.name)
            self._write(extra)
        size = self.offset - start
        count = len(self.entries)
        if count >= _ZIP64_COUNT or start >= ZIP64_LIMIT or size >= ZIP64_LIMIT:
            end64 = self.offset
            self._write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count,
                                    size, start))
            self._write(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
            self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, _ZIP64_COUNT, _ZIP64_COUNT,
                                    0xFFFFFFFF, 0xFFFFFFFF, 0))
        else:
            self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start,
                                    0))


def _chunks(file: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    while data := file.read(size):
        yield data
