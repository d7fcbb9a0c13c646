"""What a sync reports, and the HTTP client's counters: plain data, importable without the
HTTP stack or the database stack (the no-change sync, :mod:`harvester.fetch.quicksync`, fills
the same summary as :class:`~harvester.fetch.sync.Syncer`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FetchStats:
    requests: int = 0  # HTTP requests sent (each attempt counts)
    retries: int = 0  # attempts after a retryable failure
    give_ups: int = 0  # requests that failed after the last attempt
    deadlines: int = 0  # attempts ended by their overall deadline
    throttle_seconds: float = 0.0  # time spent waiting for the politeness limit
    backoff_seconds: float = 0.0  # time spent waiting between retries
    http_seconds: float = 0.0  # time inside HTTP calls


@dataclass
class SchemaReport:
    api_version: str
    data_timestamp: str
    previous_timestamp: str | None
    fields_added: list[str] = field(default_factory=list)
    fields_removed: list[str] = field(default_factory=list)
    enum_values_added: list[str] = field(default_factory=list)
    enum_values_removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.fields_added or self.fields_removed or self.enum_values_added
                    or self.enum_values_removed)

    def to_json(self) -> dict[str, Any]:
        return {"api_version": self.api_version, "data_timestamp": self.data_timestamp,
                "previous_timestamp": self.previous_timestamp,
                "fields_added": self.fields_added, "fields_removed": self.fields_removed,
                "enum_values_added": self.enum_values_added,
                "enum_values_removed": self.enum_values_removed}


@dataclass
class SyncSummary:
    run_id: int
    query: dict[str, str]
    mode: str = "full"  # full or incremental
    since: str | None = None
    resumed: bool = False
    pages: int = 0
    received: int = 0
    expected: int | None = None  # the API's totalCount
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    disappeared: list[str] = field(default_factory=list)
    history_versions: int = 0
    schema: SchemaReport | None = None
    status: str = "ok"  # ok, incomplete (received ≠ expected, or cut short), partial
    message: str | None = None
    seconds: float = 0.0
    parse_seconds: float = 0.0
    store_seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)  # the HTTP client's counters

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id, "status": self.status, "message": self.message,
            "query": self.query, "mode": self.mode, "since": self.since,
            "resumed": self.resumed, "pages": self.pages, "received": self.received,
            "expected": self.expected, "new": self.new, "changed": self.changed,
            "unchanged": self.unchanged, "failed": self.failed,
            "disappeared": self.disappeared, "history_versions": self.history_versions,
            "schema": self.schema.to_json() if self.schema else None,
            "seconds": round(self.seconds, 3), "parse_seconds": round(self.parse_seconds, 3),
            "store_seconds": round(self.store_seconds, 3), **self.stats,
        }
