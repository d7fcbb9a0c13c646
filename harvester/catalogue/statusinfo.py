"""What ``trials status`` reports, as plain data: the catalogue's health, each saved query's
state and the last sync — kept apart from SQLAlchemy so that the quick reader
(:mod:`harvester.catalogue.quick`) can fill them from a SQLite file with :mod:`sqlite3`, and
:mod:`harvester.catalogue.health` from any catalogue."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from harvester.errors import UsageError

if TYPE_CHECKING:
    from harvester.catalogue.lock import LockHolder

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "": 3600, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(value: str, what: str = "--max-age") -> timedelta:
    """``36h``, ``90m``, ``2d``, ``1w``, ``45s``; a bare number is hours."""
    found = _DURATION.match(value)
    if not found:
        raise UsageError(f"{what}: {value!r} is not a duration (such as 36h, 90m, 2d)")
    return timedelta(seconds=float(found.group(1)) * _UNIT[found.group(2).lower()])


@dataclass(frozen=True)
class QueryInfo:
    name: str
    params: dict[str, str]
    created_at: datetime | None
    last_success_at: datetime | None  # the end of its last sync that completed
    last_success_run: int | None
    trials: int  # in its results, as of its last full pass
    last_run: dict[str, Any] | None  # its latest sync run: id, status, message, times, batch

    def age(self, now: datetime) -> timedelta | None:
        return now - self.last_success_at if self.last_success_at else None

    def to_json(self, now: datetime) -> dict[str, Any]:
        age = self.age(now)
        return {"name": self.name, "params": self.params, "created_at": self.created_at,
                "last_success_at": self.last_success_at,
                "last_success_run": self.last_success_run,
                "age_seconds": round(age.total_seconds()) if age is not None else None,
                "trials": self.trials, "last_run": self.last_run}


@dataclass
class LastRun:
    """What ``--since-last-sync``/``--since-last-run`` looks back to."""

    run_id: int
    kind: str  # batch, sync, import
    started_at: datetime
    status: str
    message: str | None
    queries: list[str] = field(default_factory=list)  # the queries it synced
    failed: list[dict[str, Any]] = field(default_factory=list)  # their runs not "ok"

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run_id, "kind": self.kind, "started_at": self.started_at,
                "status": self.status, "message": self.message, "queries": self.queries,
                "failed": self.failed}

    def describe(self) -> str:
        what = (f"sync batch {self.run_id} ({len(self.queries)} "
                f"quer{'y' if len(self.queries) == 1 else 'ies'}: {', '.join(self.queries)})"
                if self.kind == "batch" else
                f"{self.kind} run {self.run_id}"
                + (f" ({', '.join(self.queries)})" if self.queries else ""))
        return f"{what}, started {self.started_at:%Y-%m-%d %H:%M} UTC: {self.status}"

    def add_parts(self, parts: list[tuple[int, str | None, str, str | None]],
                  asked: list[str]) -> None:
        """Its sync runs (id, query name, status, message) and, for a batch, the queries it
        was asked to run: each query it synced, and each part that did not end "ok" (a query
        of the batch that could not start has no run: the batch says so)."""
        for run_id, query_name, status, message in parts:
            if query_name:
                self.queries.append(query_name)
            if status != "ok":
                self.failed.append({"query": query_name, "run": run_id, "status": status,
                                    "message": message})
        for name in asked:
            if name not in self.queries:
                self.queries.append(name)
                self.failed.append({"query": name, "run": None, "status": "failed",
                                    "message": "could not run"})


@dataclass
class Status:
    now: datetime
    location: str
    backend: str
    size_bytes: int | None
    schema_version: int
    trials: int
    versions: int
    registry_data_version: str | None
    registry_checked_at: datetime | None
    queries: list[QueryInfo]
    lock: LockHolder | None
    similarity_pending: int | None  # trials not yet (re)indexed; None: no index yet
    last_sync: LastRun | None
    stale: list[str] = field(default_factory=list)  # set by check()

    def check(self, max_age: timedelta) -> list[str]:
        """The saved queries whose last good sync is older than ``max_age`` (or never)."""
        self.stale = []
        for query in self.queries:
            age = query.age(self.now)
            if age is None:
                self.stale.append(f"{query.name}: never synced successfully")
            elif age > max_age:
                self.stale.append(f"{query.name}: last good sync {_ago(age)} ago, older "
                                  f"than {_ago(max_age)}")
        return self.stale

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now,
            "catalogue": {"location": self.location, "backend": self.backend,
                          "size_bytes": self.size_bytes, "schema_version": self.schema_version,
                          "trials": self.trials, "versions": self.versions},
            "registry": {"data_version": self.registry_data_version,
                         "checked_at": self.registry_checked_at},
            "queries": [q.to_json(self.now) for q in self.queries],
            "lock": self.lock.to_json() if self.lock else None,
            "indexes": {"similarity_pending": self.similarity_pending,
                        "fulltext_pending": 0},
            "last_sync": self.last_sync.to_json() if self.last_sync else None,
            "stale": self.stale, "healthy": not self.stale,
        }


def query_key(params: Mapping[str, str]) -> str:
    """The identity of a query: a hash of its parameters, whatever their order."""
    text = msgspec.json.encode(dict(params), order="sorted").decode()
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def asked_queries(arguments: str) -> list[str]:
    """The queries a batch run was asked to sync, from its arguments (JSON)."""
    queries = msgspec.json.decode(arguments).get("queries") or []
    return [q for q in queries if q]


def _ago(age: timedelta) -> str:
    seconds = age.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def describe_age(age: timedelta | None) -> str:
    return "never" if age is None else _ago(age)
