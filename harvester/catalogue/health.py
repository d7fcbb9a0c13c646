"""The catalogue's health on one screen, for a person or a monitoring check (``trials
status``; the web status page can show the same): where it is and how big, what it holds,
the registry data version, each saved query's last good sync and its age, who holds the
writer lock, and how far the similarity index lags."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from harvester.catalogue.batches import LastRun, last_run
from harvester.catalogue.engine import SCHEMA_VERSION, describe, schema_version
from harvester.catalogue.lock import LockHolder, lock_holder
from harvester.catalogue.queries import QueryInfo, query_infos
from harvester.catalogue.store import Catalogue, T, V
from harvester.catalogue.syncstate import X
from harvester.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "": 3600, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(value: str, what: str = "--max-age") -> timedelta:
    """``36h``, ``90m``, ``2d``, ``1w``, ``45s``; a bare number is hours."""
    found = _DURATION.match(value)
    if not found:
        raise UsageError(f"{what}: {value!r} is not a duration (such as 36h, 90m, 2d)")
    return timedelta(seconds=float(found.group(1)) * _UNIT[found.group(2).lower()])


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


def catalogue_status(catalogue: Catalogue) -> Status:
    engine = catalogue.engine
    with engine.connect() as conn:
        trials = int(conn.execute(sa.select(sa.func.count()).select_from(T)).scalar_one())
        versions = int(conn.execute(sa.select(sa.func.count()).select_from(V)).scalar_one())
        registry = conn.execute(sa.select(X.c.data_timestamp, X.c.fetched_at)
                                .where(X.c.kind == "version")
                                .order_by(X.c.id.desc()).limit(1)).first()
        version = schema_version(conn)
        pending = _similarity_pending(conn)
        size = _size(catalogue, conn)
    return Status(
        now=catalogue.clock(), location=describe(engine.url),
        backend=engine.url.get_backend_name(), size_bytes=size,
        schema_version=version if version else SCHEMA_VERSION, trials=trials,
        versions=versions,
        registry_data_version=registry.data_timestamp if registry else None,
        registry_checked_at=registry.fetched_at if registry else None,
        queries=query_infos(catalogue), lock=lock_holder(engine),
        similarity_pending=pending, last_sync=last_run(catalogue, syncs_only=True))


def _similarity_pending(conn: sa.Connection) -> int | None:
    from harvester.find.similar import index as ix

    try:
        return ix.pending(conn)
    except sa.exc.SQLAlchemyError:
        conn.rollback()
        return None


def _size(catalogue: Catalogue, conn: sa.Connection) -> int | None:
    url = catalogue.engine.url
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            return None
        path = Path(url.database)
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    value = conn.execute(sa.text(
        "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'"
    )).scalar()
    return int(value) if value is not None else None


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
