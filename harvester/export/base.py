"""What every exporter shares: the item it is given, its protocol, text cleaning, safe output.

An exporter is a small class with a ``name``, a file ``suffix`` and ``write(items, out, log)``
that consumes an *iterator* of :class:`ExportItem` — one selected trial version at a time, in
NCT id order — and writes bytes to ``out`` as it goes, so memory stays flat however large the
catalogue.  Exporters are listed in :mod:`harvester.export` (the registry).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, ClassVar, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.catalogue.selection import SelectedVersion, Selection, iter_versions
from harvester.errors import CatalogueError, ExportError, UsageError
from harvester.records import TrialRecord

if TYPE_CHECKING:
    from harvester.export.log import SearchLog

#: Excel's limit on the characters of one cell.
EXCEL_CELL_LIMIT = 32_767
TRUNCATION_MARKER = " […truncated]"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class ExportItem:
    """One selected version of a trial; its record is decoded on first use."""

    version: SelectedVersion

    @cached_property
    def record(self) -> TrialRecord:
        return TrialRecord.model_validate_json(self.version.record_json)

    @cached_property
    def view(self) -> TrialRecord:
        """The record as the tabular exports read it: decoded without validation, ~9×
        faster (:func:`harvester.export.view.record_view`; not a :class:`TrialRecord`)."""
        from harvester.export.view import record_view

        return record_view(self.version.record_json)

    @property
    def nct_id(self) -> str:
        return self.version.nct_id


class Exporter(Protocol):
    """An export format.  Optional class attributes the command reads with ``getattr``:
    ``binary`` (default True: refused on a terminal; text formats set False) and
    ``supports_long`` (default False: accepts ``--long``, made with ``cls(long=True)``)."""

    name: ClassVar[str]  # the --format value
    suffix: ClassVar[str]  # the usual file suffix, with its dot
    description: ClassVar[str]  # one line for --help

    def write(self, items: Iterable[ExportItem], out: IO[bytes], log: SearchLog) -> int:
        """Write every item to ``out``; record each in ``log``; return how many."""
        ...


class ItemByItem:
    """The loop of an exporter whose items are independent byte strings (JSON Lines, RIS):
    a subclass gives ``render(item)``; ``write`` streams them in order."""

    binary: ClassVar[bool] = False

    def render(self, item: ExportItem) -> bytes:
        raise NotImplementedError

    def write(self, items: Iterable[ExportItem], out: IO[bytes], log: SearchLog) -> int:
        count = 0
        for item in items:
            out.write(self.render(item))
            log.add(item)
            count += 1
        return count


def clean_text(text: str) -> str:
    """Remove control characters (tab, newline and carriage return stay)."""
    return _CONTROL.sub("", text)


def neutralise(text: str) -> str:
    """Make a spreadsheet cell that would start a formula plain text (OWASP's advice: a
    leading apostrophe), so opening an export never runs anything."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def fit_cell(text: str, limit: int = EXCEL_CELL_LIMIT) -> str:
    """Cut text to a spreadsheet cell's limit, with a visible marker where it was cut."""
    if len(text) <= limit:
        return text
    return text[:limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def usual_mode(path: Path, *, folder: bool = False) -> None:
    """Give a file made by ``mkstemp`` (0600) or a folder by ``mkdtemp`` (0700) the
    permissions the umask gives any file a user writes."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


@contextmanager
def atomic_output(path: Path, *, force: bool = False) -> Iterator[IO[bytes]]:
    """A binary file that appears under ``path`` only once it is complete.

    Written to a temporary file beside ``path`` and renamed over it at the end; an error or
    an interruption leaves no file (and any earlier file) under the final name.  An existing
    file is refused unless ``force``; a write that fails (disk full, …) is an
    :class:`ExportError`.
    """
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a file")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; use --force to overwrite it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"{path}: no such folder {folder}")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    done = False
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        usual_mode(Path(temp))
        os.replace(temp, path)
        done = True
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if not done:
            Path(temp).unlink(missing_ok=True)


@contextmanager
def atomic_folder(path: Path, *, names: Iterable[str], force: bool = False) -> Iterator[Path]:
    """A folder of files that appears under ``path`` only once every file is written.

    Filled as a temporary folder beside ``path`` and renamed at the end.  An existing folder
    is replaced only with ``force``, and only when it holds nothing but files named in
    ``names`` (what this export writes), so that ``--force`` never deletes anything else.
    """
    names = set(names)
    if path.exists():
        if not force:
            raise UsageError(f"{path} exists; use --force to overwrite it")
        if not path.is_dir():
            raise UsageError(f"{path} is a file, not a folder")
        others = sorted(p.name for p in path.iterdir() if p.name not in names or p.is_dir())
        if others:
            raise UsageError(f"{path} holds other files ({', '.join(others[:3])}); "
                             "it is not replaced, even with --force")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{path}: no such folder {parent}")
    try:
        temp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=parent))
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None
    old: Path | None = None
    try:
        yield temp
        usual_mode(temp, folder=True)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=parent))
            os.replace(path, old / path.name)
        os.replace(temp, path)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def iter_items(conn: Connection, selection: Selection) -> Iterator[ExportItem]:
    """The selected versions as export items, streamed in NCT id order."""
    try:
        for version in iter_versions(conn, selection):
            yield ExportItem(version)
    except sa.exc.SQLAlchemyError as exc:
        raise CatalogueError(f"cannot read the catalogue: {exc}") from None
