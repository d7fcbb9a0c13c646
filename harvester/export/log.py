"""The search log of an export: what was selected, when, from which registry data, and the
exact version of every trial exported — what a PRISMA-S methods section reports.

Every exporter calls :meth:`SearchLog.add` for each item it writes; the log counts them and,
when it has a file (``--log FILE``), spools one line per version to a temporary file, so its
memory stays flat.  The file is written at the end, atomically, in the format its name asks
for:

- ``*.json``: one JSON object, ``{"search": {…summary…}, "versions": [{…}, …]}``;
- ``*.jsonl``: JSON Lines, the summary on the first line, then one line per version;
- anything else (``.md``, ``.txt``, …): Markdown a person can read and paste into a methods
  section — a methods paragraph, the summary as a list, the duplicates removed, a glossary of
  the dates, then a table of the versions (see :mod:`harvester.export.methods`).

The summary (:meth:`SearchLog.summary`) and each version's fields (:func:`version_fields`)
are the same in every format; the Markdown log and the workbook's ``search log`` sheet show
the same rows (:func:`summary_rows`).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgspec
from sqlalchemy.engine import Connection

from harvester import __version__
from harvester.catalogue.selection import (
    SelectedVersion,
    Selection,
    count_selected,
    iter_selected,
)
from harvester.catalogue.store import Catalogue, utcnow
from harvester.catalogue.syncstate import latest_snapshot, saved_query
from harvester.errors import UsageError
from harvester.export.base import ExportItem, atomic_output, iter_items
from harvester.export.dedupe import Deduplication, find_duplicates
from harvester.export.methods import GLOSSARY, markdown_head, summary_rows
from harvester.export.provenance import QUERIES_SHOWN, information_source, query_history
from harvester.export.rows import HISTORY_URL, VERSION_URL

__all__ = ["VERSION_FIELDS", "SearchLog", "summary_rows", "version_fields"]

#: The fields of :func:`version_fields`, in order (the columns of a log's version table).
VERSION_FIELDS = ("nct_id", "version", "version_id", "source", "registry_date",
                  "registry_version", "content_hash", "seen_at", "version_url")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

def as_utc(moment: datetime) -> datetime:
    """A catalogue time (naive values are UTC) as an aware UTC datetime."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def version_url(version: SelectedVersion) -> str:
    """The registry's page of this exact version, when its number there is known.

    The registry numbers versions from 0; its page shows them from 1.  Only a version
    fetched from the record history (``trials history --backfill``, ``sync --with-history``)
    knows its registry number; for any other, the catalogue's own numbering need not match
    the registry's (it holds only the versions it saw), so the link is to the record's
    history list, where the registry date (in the log) identifies the version.
    """
    known = version.registry_version
    if known and known.isdigit():
        return VERSION_URL.format(nct_id=version.nct_id, number=int(known) + 1)
    return HISTORY_URL.format(nct_id=version.nct_id)


def version_fields(item: ExportItem) -> dict[str, Any]:
    """What pins one exported version: ``nct_id``, ``version`` (its number in ``trials
    history``), ``version_id`` (the catalogue's), ``source``, ``registry_date`` (last update
    posted), ``registry_version`` (the registry's version number or data version),
    ``content_hash`` (sha256 of the record's canonical form), ``seen_at`` (when it was
    retrieved: an aware UTC datetime) and ``version_url``."""
    v = item.version
    return {"nct_id": v.nct_id, "version": v.number, "version_id": v.version_id,
            "source": v.source, "registry_date": v.registry_date,
            "registry_version": v.registry_version, "content_hash": v.content_hash,
            "seen_at": as_utc(v.seen_at), "version_url": version_url(v)}


def log_kind(path: Path) -> str:
    """``json``, ``jsonl`` or ``markdown``, from the log file's name."""
    suffix = path.suffix.lower()
    return {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix, "markdown")


def catalogue_location(catalogue: Catalogue) -> str:
    """The catalogue's URL without its password."""
    return catalogue.engine.url.set(password=None).render_as_string(hide_password=False)


class SearchLog:
    """What an export selected and wrote; see the module's docstring."""

    def __init__(self, selection: Selection, *, fmt: str, output: str | None = None,
                 command: str | None = None, catalogue: str | None = None,
                 query: dict[str, Any] | None = None,
                 data_version: dict[str, Any] | None = None,
                 catalogue_trials: int | None = None, selected: int | None = None,
                 missing_ids: Sequence[str] = (),
                 deduplication: Deduplication | None = None,
                 source: dict[str, Any] | None = None,
                 queries: Sequence[dict[str, Any]] = (),
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.selection = selection
        self.format = fmt
        self.output = output
        self.command = command
        self.catalogue = catalogue
        self.query = query
        self.data_version = data_version
        self.catalogue_trials = catalogue_trials
        self.selected = selected
        self.missing_ids = list(missing_ids)
        self.deduplication = deduplication
        self.source = source
        self.queries = list(queries)  # saved query histories (provenance.query_history)
        self.created_at = as_utc(clock()).replace(microsecond=0)
        self.exported = 0
        self._newest_holder: str | None = None
        self._spool: IO[bytes] | None = None

    @classmethod
    def for_selection(cls, catalogue: Catalogue, selection: Selection, *, fmt: str,
                      output: str | None = None, command: str | None = None,
                      deduplicate: bool = True,
                      clock: Callable[[], datetime] | None = None) -> SearchLog:
        """A log with everything looked up: the counts before and after the filters, the
        duplicate registrations among the selected trials (unless not ``deduplicate``), where
        the records came from, the saved queries' parameters and last complete runs, the
        registry's data version, the NCT ids asked for that the catalogue does not hold (on
        the ``as_of`` date)."""
        everything = Selection(as_of=selection.as_of)
        with catalogue.engine.connect() as conn:
            catalogue_trials = count_selected(conn, everything)
            selected = count_selected(conn, selection)
            missing: list[str] = []
            if selection.ids:
                held = {nct for nct, _ in iter_selected(conn, replace(everything,
                                                                      ids=selection.ids))}
                missing = sorted(set(selection.ids) - held)
            dedup = (find_duplicates(conn, selection) if deduplicate and selected
                     else Deduplication(enabled=deduplicate))
            source = information_source(conn, selection, dedup.removed)
            names = [selection.query] if selection.query is not None else \
                source["queries"][:QUERIES_SHOWN]
            queries = [query_history(conn, name, saved_query(catalogue, name))
                       for name in names]
        query = queries[0] if selection.query is not None else None
        data_version = None
        snapshot = latest_snapshot(catalogue, "version")
        if snapshot is not None:
            timestamp, body = snapshot
            try:
                api = msgspec.json.decode(body).get("apiVersion")
            except (msgspec.DecodeError, AttributeError):
                api = None
            data_version = {"value": timestamp, "api_version": api,
                            "basis": "the API's /version at the catalogue's last sync"}
        return cls(selection, fmt=fmt, output=output, command=command,
                   catalogue=catalogue_location(catalogue), query=query,
                   data_version=data_version, catalogue_trials=catalogue_trials,
                   selected=selected, missing_ids=missing, deduplication=dedup,
                   source=source, queries=queries, clock=clock or catalogue.clock)

    def add(self, item: ExportItem) -> None:
        """Count one exported version and note it in the log file, if there is one."""
        self.exported += 1
        holder = item.version.registry_version
        if holder and _DATE.match(holder) and (self._newest_holder or "") < holder:
            self._newest_holder = holder
        if self._spool is not None:
            self._spool.write(msgspec.json.encode(version_fields(item)) + b"\n")

    def items(self, conn: Connection) -> Iterator[ExportItem]:
        """What the export writes: the selected versions, streamed in NCT id order, less the
        duplicate registrations removed."""
        removed = self.deduplication.removed if self.deduplication else frozenset()
        return (item for item in iter_items(conn, self.selection)
                if item.nct_id not in removed)

    @property
    def deduplicated(self) -> int | None:
        """The selected trials less the duplicates removed."""
        if self.selected is None:
            return None
        return self.selected - len(self.deduplication.removed if self.deduplication else ())

    def summary(self) -> dict[str, Any]:
        """The search, JSON-ready: tool, date, command, information source, saved query (the
        one exported, with its equivalent searches and last complete runs) and the saved
        queries whose syncs brought the records, registry data version (the API's at the
        last sync, else the newest ``versionHolder`` among the records exported: ``basis``
        says which), catalogue, selection (the filters applied locally), deduplication,
        counts at each step, format, output and the glossary of dates."""
        data_version = self.data_version
        if data_version is None and self._newest_holder is not None:
            data_version = {"value": self._newest_holder, "api_version": None,
                            "basis": "the newest versionHolder among the exported records"}
        return {
            "tool": "trial-harvester", "tool_version": __version__,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "command": self.command, "catalogue": self.catalogue,
            "information_source": self.source,
            "selection": self.selection.describe(), "saved_query": self.query,
            "saved_queries": self.queries,
            "registry_data_version": data_version,
            "deduplication": self.deduplication.to_json() if self.deduplication else None,
            "counts": {"catalogue": self.catalogue_trials, "selected": self.selected,
                       "duplicates_removed": (len(self.deduplication.removed)
                                              if self.deduplication else 0),
                       "deduplicated": self.deduplicated,
                       "exported": self.exported, "missing_ids": self.missing_ids},
            "format": self.format, "output": self.output or "stdout",
            "glossary": GLOSSARY,
        }

    @contextmanager
    def writing(self, path: Path | None, *, force: bool = False) -> Iterator[SearchLog]:
        """Spool the versions while the export runs; write the log to ``path`` when it ends
        well (atomically: an export that fails leaves no log)."""
        if path is None:
            yield self
            return
        if path.exists() and not force:
            raise UsageError(f"{path} exists; use --force to overwrite it")
        if path.is_dir() or not path.absolute().parent.is_dir():
            raise UsageError(f"--log {path}: not a file in an existing folder")
        with tempfile.TemporaryFile() as spool:
            self._spool = spool
            try:
                yield self
            finally:
                self._spool = None
            spool.seek(0)
            with atomic_output(path, force=force) as out:
                _WRITERS[log_kind(path)](self.summary(), spool, out)


def _write_json(summary: dict[str, Any], spool: IO[bytes], out: IO[bytes]) -> None:
    out.write(b'{"search": ' + msgspec.json.format(msgspec.json.encode(summary), indent=2)
              + b',\n"versions": [')
    for n, line in enumerate(spool):
        out.write((b",\n" if n else b"\n") + line.rstrip(b"\n"))
    out.write(b"\n]}\n")


def _write_jsonl(summary: dict[str, Any], spool: IO[bytes], out: IO[bytes]) -> None:
    out.write(msgspec.json.encode(summary) + b"\n")
    for line in spool:
        out.write(line)


def _write_markdown(summary: dict[str, Any], spool: IO[bytes], out: IO[bytes]) -> None:
    out.write("\n".join(markdown_head(summary)).encode() + b"\n")
    columns = ("NCT id", "version", "registry date", "registry version", "source",
               "retrieved (UTC)", "content hash (sha256)", "version URL")
    out.write(b"\n## Versions exported\n\n| " + " | ".join(columns).encode() + b" |\n|"
              + b"---|" * len(columns) + b"\n")
    for line in spool:
        v = msgspec.json.decode(line)
        cells = (v["nct_id"], v["version"], v["registry_date"], v["registry_version"],
                 v["source"], v["seen_at"], v["content_hash"], v["version_url"])
        text = " | ".join("" if c is None else str(c).replace("|", "\\|") for c in cells)
        out.write(f"| {text} |\n".encode())


_WRITERS: dict[str, Callable[[dict[str, Any], IO[bytes], IO[bytes]], None]] = {
    "json": _write_json, "jsonl": _write_jsonl, "markdown": _write_markdown}
