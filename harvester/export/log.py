"""The search log of an export: what was selected, when, from which registry data, and the
exact version of every trial exported — what a PRISMA-S methods section reports.

Every exporter calls :meth:`SearchLog.add` for each item it writes; the log counts them and,
when it has a file (``--log FILE``), spools one line per version to a temporary file, so its
memory stays flat.  The file is written at the end, atomically, in the format its name asks
for:

- ``*.json``: one JSON object, ``{"search": {…summary…}, "versions": [{…}, …]}``;
- ``*.jsonl``: JSON Lines, the summary on the first line, then one line per version;
- anything else (``.md``, ``.txt``, …): Markdown a person can read and paste into a methods
  section — the summary as a list, then a table of the versions.

The summary (:meth:`SearchLog.summary`) and each version's fields (:func:`version_fields`)
are the same in every format.
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
from harvester.export.base import ExportItem, atomic_output
from harvester.export.rows import HISTORY_URL, VERSION_URL

#: The fields of :func:`version_fields`, in order (the columns of a log's version table).
VERSION_FIELDS = ("nct_id", "version", "version_id", "source", "registry_date",
                  "registry_version", "content_hash", "seen_at", "version_url")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_LABELS = {"ids": "NCT ids", "query": "saved query", "statuses": "status", "phases": "phase",
           "study_types": "study type", "conditions": "condition",
           "interventions": "intervention", "countries": "country", "sponsors": "sponsor",
           "start_after": "start on or after", "start_before": "start on or before",
           "updated_since": "last update posted on or after", "has_results": "has results",
           "as_of": "as of"}


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
        self.created_at = as_utc(clock()).replace(microsecond=0)
        self.exported = 0
        self._newest_holder: str | None = None
        self._spool: IO[bytes] | None = None

    @classmethod
    def for_selection(cls, catalogue: Catalogue, selection: Selection, *, fmt: str,
                      output: str | None = None, command: str | None = None,
                      clock: Callable[[], datetime] | None = None) -> SearchLog:
        """A log with everything looked up: the counts before and after the filters, the
        saved query's parameters, the registry's data version, the NCT ids asked for that
        the catalogue does not hold (on the ``as_of`` date)."""
        everything = Selection(as_of=selection.as_of)
        with catalogue.engine.connect() as conn:
            catalogue_trials = count_selected(conn, everything)
            selected = count_selected(conn, selection)
            missing: list[str] = []
            if selection.ids:
                held = {nct for nct, _ in iter_selected(conn, replace(everything,
                                                                      ids=selection.ids))}
                missing = sorted(set(selection.ids) - held)
        query = None
        if selection.query is not None:
            query = {"name": selection.query,
                     "parameters": saved_query(catalogue, selection.query)}
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
                   selected=selected, missing_ids=missing, clock=clock or catalogue.clock)

    def add(self, item: ExportItem) -> None:
        """Count one exported version and note it in the log file, if there is one."""
        self.exported += 1
        holder = item.version.registry_version
        if holder and _DATE.match(holder) and (self._newest_holder or "") < holder:
            self._newest_holder = holder
        if self._spool is not None:
            self._spool.write(msgspec.json.encode(version_fields(item)) + b"\n")

    def summary(self) -> dict[str, Any]:
        """The search, JSON-ready: tool, date, command, selection, saved query, registry data
        version (the API's at the last sync, else the newest ``versionHolder`` among the
        records exported: ``basis`` says which), catalogue, counts, format and output."""
        data_version = self.data_version
        if data_version is None and self._newest_holder is not None:
            data_version = {"value": self._newest_holder, "api_version": None,
                            "basis": "the newest versionHolder among the exported records"}
        return {
            "tool": "trial-harvester", "tool_version": __version__,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "command": self.command, "catalogue": self.catalogue,
            "selection": self.selection.describe(), "saved_query": self.query,
            "registry_data_version": data_version,
            "counts": {"catalogue": self.catalogue_trials, "selected": self.selected,
                       "exported": self.exported, "missing_ids": self.missing_ids},
            "format": self.format, "output": self.output or "stdout",
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
    out.write("\n".join(_markdown_head(summary)).encode() + b"\n")
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


def summary_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary as (label, value) rows a person reads: the Markdown log's list and the
    workbook's ``search log`` sheet."""
    counts = s["counts"]
    as_of = s["selection"].get("as_of")
    filters = "; ".join(f"{_LABELS.get(k, k)}: {_value(v)}" for k, v in s["selection"].items())
    rows = [("Date of export", s["created_at"]),
            ("Tool", f"{s['tool']} {s['tool_version']}")]
    if s["command"]:
        rows.append(("Command", s["command"]))
    rows.append(("Catalogue", s["catalogue"]))
    data = s["registry_data_version"]
    if data:
        api = f", API {data['api_version']}" if data.get("api_version") else ""
        rows.append(("Registry data version", f"{data['value']} ({data['basis']}{api})"))
    if s["saved_query"]:
        params = ", ".join(f"{k}={v}" for k, v in s["saved_query"]["parameters"].items())
        rows.append(("Saved query", f"{s['saved_query']['name']} ({params})"))
    rows += [("Selection", filters or "every trial in the catalogue"),
             (f"Trials in the catalogue{f' as of {as_of}' if as_of else ''}",
              str(counts["catalogue"])),
             ("Selected by the filters", str(counts["selected"])),
             ("Exported", f"{counts['exported']} ({s['format']}, to {s['output']})")]
    if counts["missing_ids"]:
        rows.append(("Asked for but not in the catalogue", ", ".join(counts["missing_ids"])))
    return rows


def _markdown_head(s: dict[str, Any]) -> list[str]:
    return ["# Search log: trials export", "",
            *(f"- {label}: {value}" for label, value in summary_rows(s))]


def _value(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


_WRITERS: dict[str, Callable[[dict[str, Any], IO[bytes], IO[bytes]], None]] = {
    "json": _write_json, "jsonl": _write_jsonl, "markdown": _write_markdown}
