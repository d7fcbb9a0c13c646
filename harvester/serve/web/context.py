"""What the web pages, the API and the MCP server share: one read-only view of a catalogue.

Each method is the library call a CLI command makes (``trials show``, ``history``, ``diff``,
``search``, ``similar``, ``compare``), with the same errors (:class:`NotFoundError`,
:class:`UsageError`), so the three front ends answer alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from harvester.catalogue import Catalogue, VersionInfo
from harvester.catalogue.diff import Change, diff_records, summarise
from harvester.errors import NotFoundError, UsageError
from harvester.records import TrialRecord
from harvester.serve.web.studies import CatalogueStudies


@dataclass(frozen=True)
class Shown:
    """A trial's version picked for display, with its record."""

    info: VersionInfo
    record: TrialRecord
    versions: list[VersionInfo]


class ServerContext:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.studies = CatalogueStudies(catalogue)

    def show(self, nct: str, as_of: date | None = None, version: int | None = None) -> Shown:
        """The trial's preferred version (``trials show``), as of a date, or by number."""
        versions = self.catalogue.versions(nct)
        if not versions:
            raise NotFoundError(f"{nct} is not in the catalogue")
        if version is not None:
            found = [v for v in versions if v.number == version]
            if not found:
                raise NotFoundError(f"{nct} has no version {version}")
            info = found[0]
        else:
            picked = self.catalogue.current(nct, as_of=as_of)
            if picked is None:
                raise NotFoundError(f"{nct} has no version on {as_of} (first published later)")
            info = picked
        return Shown(info, self.catalogue.record(info.id), versions)

    def history(self, nct: str) -> list[dict[str, Any]]:
        """Each version with what changed since the one before from its source
        (``trials history --format json``), plus the values a timeline draws."""
        versions = self.catalogue.versions(nct)
        if not versions:
            raise NotFoundError(f"{nct} is not in the catalogue")
        rows: list[dict[str, Any]] = []
        previous: dict[str, TrialRecord] = {}
        for info in versions:
            record = self.catalogue.record(info.id)
            before = previous.get(info.source)
            changes = [] if before is None else diff_records(before, record)
            summary = (f"first version from {info.source}" if before is None
                       else summarise(changes) or "no content change")
            rows.append({**info.to_json(), "summary": summary,
                         "effective_date": info.effective_date,
                         "status": str(record.overall_status) if record.overall_status else None,
                         "enrollment": record.enrollment.count if record.enrollment else None,
                         "changed_fields": sorted({c.field for c in changes})})
            previous[info.source] = record
        return rows

    def diff(self, nct: str, from_: int | None, to: int | None
             ) -> tuple[VersionInfo, VersionInfo, list[Change]]:
        """``trials diff``: ``to`` (default the current version) against ``from_`` (default
        the version before it from the same source)."""
        versions = self.catalogue.versions(nct)
        if not versions:
            raise NotFoundError(f"{nct} is not in the catalogue")
        by_number = {v.number: v for v in versions}
        if to is not None and to not in by_number:
            raise NotFoundError(f"{nct} has no version {to}")
        if from_ is not None and from_ not in by_number:
            raise NotFoundError(f"{nct} has no version {from_}")
        newer = by_number[to] if to is not None else self.show(nct).info
        if from_ is not None:
            older = by_number[from_]
            if older.id == newer.id:
                raise UsageError(f"{nct}: version {from_} is the version it would be compared "
                                 "with; pick two different versions")
        else:
            earlier = [v for v in versions if v.source == newer.source
                       and v.number < newer.number]
            if not earlier:
                raise UsageError(f"{nct} has no earlier {newer.source} version than "
                                 f"{newer.number}; pick the version to compare with")
            older = earlier[-1]
        changes = diff_records(self.catalogue.record(older.id), self.catalogue.record(newer.id))
        return older, newer, changes
