"""The paths given to ``trials import`` as a stream of payloads.

A path is a file, a zip (one payload per file entry, as in the bulk downloads
``ctg-studies.json.zip`` and ``AllPublicXML.zip``), a folder (its files, zips expanded) or
``-`` (stdin).  Zips are read entry by entry, never unpacked to disk, and one payload is held
at a time: the bulk JSON download unpacks to about 10 GB.  Bad input becomes an
:class:`InputProblem` and the stream goes on; only a missing path is an error, raised up
front so that a typo does not surface after an hour of importing.  Zip entries that are not
studies come out as :class:`Skipped`, hostile ones as problems (see
:mod:`harvester.ingest.zipentries`): none is dropped silently.
"""

from __future__ import annotations

import itertools
import os
import stat
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO

from harvester.errors import UsageError
from harvester.ingest import zipdir, zipentries

try:  # ISA-L inflates a deflate entry in half of zlib's time, checks CRC-32 in a fifth;
    # an environment made before it was a dependency reads with zlib, to the same bytes.
    from isal import isal_zlib as _isal

    _inflating: ModuleType = _isal
except ImportError:  # pragma: no cover
    _inflating = zlib

STDIN_NAME = "<stdin>"

# Local file header (an ordinary zip), end of central directory (an empty one).
_ZIP_MAGIC = zipentries.ZIP_MAGIC

# Payloads are read in chunks of this size, so a small file never costs a buffer the size of
# the limit and a deflate entry never inflates more than this per step.
_CHUNK = 1 << 20

# Everything the standard library raises on damaged or unreadable input.  ``ValueError``
# covers undecodable UTF-8 entry names; ``struct.error`` malformed headers.
_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, _inflating.error,
                NotImplementedError, ValueError, struct.error)


@dataclass(frozen=True)
class Payload:
    """The bytes of one input: a file, a zip entry or standard input.

    ``quick`` is a zip entry's cheap identity (name, size and CRC-32 from the central
    directory), known without inflating it; None for other inputs.
    """

    name: str
    data: bytes
    quick: str | None = field(default=None, compare=False)
    # The zip entry's own raw deflate stream of ``data``, when it was deflated: a catalogue
    # can keep it as the compressed payload instead of compressing ``data`` again.
    deflated: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Known:
    """A zip entry not read, because its ``quick`` identity was reported as known."""

    name: str
    quick: str


@dataclass(frozen=True)
class Skipped:
    """A zip entry that is not a study (a folder, macOS metadata, a link), not read."""

    name: str
    reason: str


@dataclass(frozen=True)
class InputProblem:
    """An input that was skipped, with a one-line reason."""

    name: str
    message: str


@dataclass(frozen=True)
class ZipEntry:
    """A zip entry not read yet: where it lies, enough to read it in another process.

    Given out instead of a :class:`Payload` when :class:`Inputs` is asked to ``defer``, so
    that inflating (the costly part) happens where the entry is parsed.
    """

    name: str
    path: str
    filename: str
    offset: int  # of the entry's local header
    compress_size: int
    file_size: int
    crc: int
    method: int
    quick: str

    def read(self, max_payload: int, files: OpenFiles | None = None) -> Payload | InputProblem:
        """The entry's bytes, checked against its size and CRC-32 (APPNOTE 4.3.7); the zip
        opened for this read alone, or kept open in ``files`` for the entries after it."""
        try:
            if files is None:
                with open(self.path, "rb") as f:
                    raw = self._raw(f)
            else:
                raw = self._raw(files.get(self.path))
            if raw is None:
                return InputProblem(self.name, "damaged entry: bad local header")
            if len(raw) < self.compress_size:
                return InputProblem(self.name, "damaged entry: data ends early (truncated?)")
            # Inflating at most one byte past the declared size (itself within the limit)
            # proves a lying header without letting it exhaust memory.
            cap = min(self.file_size, max_payload) + 1
            data = (raw if self.method == zipfile.ZIP_STORED
                    else _inflating.decompressobj(-15).decompress(raw, cap))
        except _READ_ERRORS as exc:
            return InputProblem(self.name, f"damaged entry: {_reason(exc)}")
        if len(data) > max_payload:
            return InputProblem(self.name, f"larger than the {max_payload:,} limit")
        if len(data) != self.file_size or _inflating.crc32(data) != self.crc:
            return InputProblem(self.name,
                                f"damaged entry: Bad CRC-32 for file {self.filename!r}")
        if data[:4] in _ZIP_MAGIC:
            return InputProblem(self.name, "a zip inside the zip is not expanded; unpack it "
                                           "and import it on its own")
        deflated = raw if self.method == zipfile.ZIP_DEFLATED else None
        return Payload(self.name, data, self.quick, deflated)

    def _raw(self, f: IO[bytes]) -> bytes | None:
        """The entry's stored bytes (at most ``compress_size``); None for a bad header."""
        f.seek(self.offset)
        header = f.read(_LOCAL_HEADER.size)
        if len(header) < _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            return None
        name_len, extra_len = _LOCAL_HEADER.unpack(header)[-2:]
        f.seek(name_len + extra_len, os.SEEK_CUR)
        return f.read(self.compress_size)


class OpenFiles:
    """Zips kept open while a batch of their entries is read: one ``open`` per zip and
    batch rather than one per entry (a fortieth of a worker's time went to opening)."""

    def __init__(self) -> None:
        self._files: dict[str, IO[bytes]] = {}

    def get(self, path: str) -> IO[bytes]:
        f = self._files.get(path)
        if f is None:
            f = self._files[path] = open(path, "rb")  # noqa: SIM115 (closed by close())
        return f

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self) -> OpenFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# signature, version, flags, method, time, date, CRC-32, sizes, name and extra lengths
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")

Item = Payload | InputProblem | Known | ZipEntry | Skipped
#: Asked with a chunk of zip entries' quick identities; answers those already imported.
KnownQuick = Callable[[list[str]], set[str]]
_QUICK_CHUNK = 500
# A file to read, or standard input (path ``None``), with the name to show for it.
_Leaf = tuple[Path | None, str]


class Inputs:
    """The payloads found in ``paths``, in order; see the module docstring."""

    def __init__(self, paths: Sequence[str | Path], *, max_payload_bytes: int = 128 * 2**20,
                 max_unpacked_bytes: int = 64 * 2**30, known: KnownQuick | None = None,
                 defer: bool = False) -> None:
        if max_payload_bytes < 0 or max_unpacked_bytes < 0:
            raise UsageError("input size limits must not be negative")
        self._max_payload = max_payload_bytes
        self._max_unpacked = max_unpacked_bytes
        self._roots = _check_paths(paths)
        self._count: int | None = None
        self._known = known
        self._defer = defer

    def count(self) -> int | None:
        """How many items (payloads and problems) iterating yields, for a progress bar.

        Walks the folders and reads the zips' central directories, once.  Never ``None`` yet:
        that is kept for inputs whose size cannot be known ahead.
        """
        if self._count is None:
            self._count = sum(self._count_leaf(leaf) for leaf in self._leaves())
        return self._count

    def __iter__(self) -> Iterator[Item]:
        for leaf in self._leaves():
            if isinstance(leaf, InputProblem):
                yield leaf
            else:
                yield from self._from_leaf(*leaf)

    def _leaves(self) -> Iterator[_Leaf | InputProblem]:
        for path, is_dir in self._roots:
            if path is None:
                yield None, STDIN_NAME
            elif is_dir:
                for item in _walk(path):
                    yield item if isinstance(item, InputProblem) else (item, str(item))
            else:
                yield path, str(path)

    def _count_leaf(self, leaf: _Leaf | InputProblem) -> int:
        if isinstance(leaf, InputProblem) or leaf[0] is None:
            return 1
        try:
            if not _is_zip(leaf[0]):
                return 1
            survey = zipentries.survey(leaf[0])
        except _READ_ERRORS:
            return 1  # iterating will report it as one problem
        return 1 if survey.declared > self._max_unpacked else survey.entries

    def _from_leaf(self, path: Path | None, name: str) -> Iterator[Item]:
        try:
            zipped = path is not None and _is_zip(path)
        except OSError as exc:
            yield InputProblem(name, f"cannot read: {_reason(exc)}")
            return
        if zipped and path is not None:
            yield from self._from_zip(path, name)
        else:
            yield self._read_whole(path, name)

    def _read_whole(self, path: Path | None, name: str) -> Item:
        """A plain file, or stdin when ``path`` is None, as one payload."""
        try:
            if path is None:
                return self._checked(name, _read_capped(sys.stdin.buffer, self._max_payload))
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > self._max_payload:  # refused unread; 0 for pipes, caught below
                    return InputProblem(name, _too_large("file", size, self._max_payload))
                return self._checked(name, _read_capped(f, self._max_payload))
        except OSError as exc:
            return InputProblem(name, f"cannot read: {_reason(exc)}")

    def _from_zip(self, path: Path, name: str) -> Iterator[Item]:
        # Two streaming passes over the central directory: the first adds up the sizes and
        # finds overlapping entries (the zip-bomb guards refuse before inflating anything),
        # the second hands out entries; neither keeps the directory in memory.
        try:
            survey = zipentries.survey(path)
        except _READ_ERRORS as exc:
            yield InputProblem(name, f"not a readable zip (truncated?): {_reason(exc)}")
            return
        if survey.declared > self._max_unpacked:
            yield InputProblem(name, f"zip would unpack to {survey.declared:,} bytes, above "
                                     f"the {self._max_unpacked:,} limit; nothing read from it")
            return
        members = enumerate(zipdir.entries(path))
        while chunk := list(itertools.islice(members, _QUICK_CHUNK)):
            judged = [(info, zipentries.judge(info, at in survey.overlapping, self._max_payload))
                      for at, info in chunk]
            keys = [quick_identity(info) for info, verdict in judged if verdict is None]
            known = self._known(keys) if self._known and keys else set()
            for info, verdict in judged:
                entry_name = f"{name}:{info.filename}"
                if verdict is not None:
                    yield (Skipped(entry_name, verdict.reason) if verdict.kind == "skip"
                           else InputProblem(entry_name, verdict.reason))
                    continue
                key = quick_identity(info)
                if key in known:
                    yield Known(entry_name, key)
                else:
                    # Yielded straight from the call so that no local keeps the last payload
                    # alive.
                    yield self._entry(path, info, entry_name, key)

    def _entry(self, path: Path, info: zipfile.ZipInfo, name: str, quick: str) -> Item:
        entry = ZipEntry(name, str(path), info.filename, info.header_offset,
                         info.compress_size, info.file_size, info.CRC, info.compress_type,
                         quick)
        return entry if self._defer else entry.read(self._max_payload)

    def _checked(self, name: str, data: bytes, quick: str | None = None) -> Item:
        if len(data) > self._max_payload:  # only known by reading: stdin, pipes, lying zips
            return InputProblem(name, f"larger than the {self._max_payload:,} limit")
        return Payload(name, data, quick)


def quick_identity(info: zipfile.ZipInfo) -> str:
    """A zip entry's identity from its central directory: base name, size and CRC-32.

    Two entries with the same identity hold the same bytes unless a change kept both the
    length and the CRC-32 (a chance of one in 2³² per changed entry): cheap enough to skip
    re-reading a bulk download imported before, with ``--verify`` to read everything.
    """
    # The base name as PurePosixPath(...).name gives it, without pathlib: it interns every
    # part, and the interned-string table would grow with the entries of a bulk zip.
    base = next((p for p in reversed(info.filename.split("/")) if p not in ("", ".")), "")
    return f"{base}:{info.file_size}:{info.CRC:08x}"


def _check_paths(paths: Sequence[str | Path]) -> list[tuple[Path | None, bool]]:
    """Each path (``None`` for stdin) and whether it is a folder; UsageError for bad ones."""
    roots: list[tuple[Path | None, bool]] = []
    bad: list[str] = []
    for given in paths:
        if isinstance(given, str) and given == "-":
            roots.append((None, False))
            continue
        try:  # os.stat, not Path: Path("") would silently mean the current folder
            mode = os.stat(given).st_mode
        except (OSError, ValueError) as exc:
            bad.append(f"{given or repr(given)}: {_reason(exc)}")
            continue
        roots.append((Path(given), stat.S_ISDIR(mode)))
    if bad:
        raise UsageError("cannot import " + "; ".join(bad))
    if sum(root[0] is None for root in roots) > 1:
        raise UsageError("standard input ('-') can be given only once")
    return roots


def _walk(root: Path) -> Iterator[Path | InputProblem]:
    """Files under ``root`` in path order, hidden names skipped; lazy, without recursion."""
    pending: list[tuple[Path, bool]] = [(root, True)]
    while pending:
        path, is_dir = pending.pop()
        if not is_dir:
            yield path
            continue
        try:
            pending.extend(reversed(_listing(path)))
        except OSError as exc:
            yield InputProblem(str(path), f"cannot list folder: {_reason(exc)}")


def _listing(folder: Path) -> list[tuple[Path, bool]]:
    """The visible files and sub-folders of ``folder``, by name, as (path, is_dir)."""
    with os.scandir(folder) as it:
        entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    found = []
    for entry in entries:
        try:
            # Symlinked folders are not followed (they can loop); symlinked files are read.
            # Pipes, sockets and devices under a folder are not inputs, so they are skipped.
            is_dir = entry.is_dir(follow_symlinks=False)
            wanted = is_dir or entry.is_file()
        except OSError:
            is_dir, wanted = False, True  # reading it will report why
        if wanted:
            found.append((folder / entry.name, is_dir))
    return found


def _is_zip(path: Path) -> bool:
    """Whether ``path`` is a zip by its magic bytes, whatever its name.

    Only regular files count: zipfile must seek, and sniffing a pipe would consume it."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        return False
    with open(path, "rb") as f:
        return f.read(4) in _ZIP_MAGIC


def _read_capped(stream: IO[bytes], limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``stream``: one more than allowed proves it too big."""
    chunks: list[bytes] = []
    left = limit + 1
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)  # a single chunk is returned as is, not copied


def _too_large(kind: str, size: int, limit: int) -> str:
    return f"{kind} is {size:,} bytes, above the {limit:,} limit"


def _reason(exc: BaseException) -> str:
    """One line saying why, without the traceback."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, EOFError):
        return "data ends early (truncated?)"
    return " ".join(str(exc).split()) or type(exc).__name__
