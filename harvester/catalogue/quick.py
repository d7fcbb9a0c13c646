"""Reading one trial, or the catalogue's health, from a SQLite catalogue with the standard
library alone.

``trials show`` and ``trials status`` read a few small queries' worth of data, yet opening
the catalogue the usual way imports SQLAlchemy, SQLModel and builds every table class — over
half a second before any work.  :meth:`QuickReader.open` reads a plain SQLite catalogue of the
current schema with :mod:`sqlite3` instead, picking the version to show with the same rules
(:mod:`harvester.catalogue.versioninfo`) and returning the same records, and filling the same
:class:`~harvester.catalogue.statusinfo.Status` as :mod:`harvester.catalogue.health`.

Anything else — PostgreSQL, a file that is missing, an older or newer schema, a database
error — gives None, and the caller takes the usual path, which upgrades the schema or reports
the problem as it always has.  The reader never writes.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvester.catalogue.location import SCHEMA_VERSION, resolve_url, sqlite_file
from harvester.catalogue.versioninfo import INFO_COLUMNS, VersionInfo, listed, pick
from harvester.errors import NotFoundError

if TYPE_CHECKING:
    from harvester.catalogue.recordview import RecordView
    from harvester.catalogue.statusinfo import LastRun, QueryInfo, Status
    from harvester.records import TrialRecord

_SELECT_INFO = f"SELECT {', '.join(INFO_COLUMNS)} FROM version WHERE nct_id = ?"
_SEEN_AT = INFO_COLUMNS.index("seen_at")
#: The similarity index's features version (``find.similar.features.FEATURES_VERSION``, which
#: imports the records; tests/test_quick.py checks they agree): an index of another version
#: is rebuilt whole, so every trial is behind.
FEATURES_VERSION = "1"


def _utc(value: str | None) -> datetime | None:
    """A time as the catalogue's tables read it: stored naive, in UTC."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class QuickReader:
    """The read side of :class:`~harvester.catalogue.store.Catalogue` that ``trials show``
    uses, on a SQLite file through :mod:`sqlite3`."""

    def __init__(self, conn: sqlite3.Connection, database: str) -> None:
        self.conn = conn
        self.database = database  # the file's path as the URL gives it

    @classmethod
    def open(cls, db: str | None) -> QuickReader | None:
        """A reader of the catalogue ``db`` names, or None when the usual path must be
        taken (not a SQLite file of this release's schema, or it cannot be read)."""
        url = resolve_url(db)
        path = sqlite_file(url)
        if path is None or not path.expanduser().is_file():
            return None
        try:
            conn = sqlite3.connect(path.expanduser(), timeout=30)
        except sqlite3.Error:
            return None
        try:
            row = conn.execute("SELECT value FROM schema_info "
                               "WHERE key = 'schema_version'").fetchone()
            if row is not None and str(row[0]) == str(SCHEMA_VERSION):
                return cls(conn, url.removeprefix("sqlite:///"))
        except sqlite3.Error:
            pass
        conn.close()
        return None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> QuickReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def has_trial(self, nct_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM trial WHERE nct_id = ?",
                                 (nct_id,)).fetchone() is not None

    def versions(self, nct_id: str, *, include_superseded: bool = False) -> list[VersionInfo]:
        """As :meth:`Catalogue.versions` (times stored naive are in UTC, as the
        catalogue's tables read them)."""
        infos = []
        for row in self.conn.execute(_SELECT_INFO, (nct_id,)):
            values = list(row)
            values[_SEEN_AT] = _utc(values[_SEEN_AT])
            infos.append(VersionInfo(number=0, **dict(zip(INFO_COLUMNS, values, strict=True))))
        return listed(infos, include_superseded=include_superseded)

    def current(self, nct_id: str, *, source: str | None = None,
                as_of: date | None = None) -> VersionInfo | None:
        return pick(self.versions(nct_id), source, as_of.isoformat() if as_of else None)

    def record(self, version_id: int) -> TrialRecord:
        from harvester.records import TrialRecord

        return TrialRecord.model_validate_json(self._record_json(version_id))

    def record_view(self, version_id: int) -> RecordView:
        """The stored record read as it is, without the record classes (for printing)."""
        from harvester.catalogue.recordview import RecordView

        return RecordView.of_json(self._record_json(version_id))

    def _record_json(self, version_id: int) -> str | bytes:
        from harvester.catalogue.recordcodec import unpack

        row = self.conn.execute("SELECT record FROM version WHERE id = ?",
                                (version_id,)).fetchone()
        if row is None or row[0] is None:
            raise NotFoundError(f"no version with id {version_id}")
        return unpack(row[0])

    # --- trials status ------------------------------------------------------------------

    def status(self) -> Status:
        """As :func:`harvester.catalogue.health.catalogue_status`."""
        from harvester.catalogue.lock import file_holder
        from harvester.catalogue.statusinfo import Status

        one = self._one
        registry = self.conn.execute(
            "SELECT data_timestamp, fetched_at FROM schema_snapshot WHERE kind = 'version' "
            "ORDER BY id DESC LIMIT 1").fetchone()
        path = Path(self.database)
        return Status(
            now=datetime.now(UTC), location=self.database, backend="sqlite",
            size_bytes=sum(p.stat().st_size for p in (path, Path(f"{path}-wal"))
                           if p.exists()),
            schema_version=SCHEMA_VERSION, trials=one("SELECT count(*) FROM trial"),
            versions=one("SELECT count(*) FROM version"),
            registry_data_version=registry[0] if registry else None,
            registry_checked_at=_utc(registry[1]) if registry else None,
            queries=self.query_infos(), lock=file_holder(self.database),
            similarity_pending=self._similarity_pending(), last_sync=self.last_sync())

    def _one(self, sql: str, *args: Any) -> Any:
        return self.conn.execute(sql, args).fetchone()[0]

    def _similarity_pending(self) -> int | None:
        """As :func:`harvester.find.similar.index.pending`; None when there is no index."""
        try:
            meta = dict(self.conn.execute("SELECT key, value FROM sim_meta").fetchall())
        except sqlite3.OperationalError:
            return None
        if meta.get("features_version") != FEATURES_VERSION:
            return int(self._one("SELECT count(*) FROM trial"))
        return int(self._one("SELECT count(DISTINCT nct_id) FROM version WHERE id > ?",
                             int(meta.get("mark") or 0)))

    def query_infos(self) -> list[QueryInfo]:
        """As :func:`harvester.catalogue.queries.query_infos`."""
        from harvester.catalogue.statusinfo import QueryInfo, query_key

        infos = []
        for name, params_json, created in self.conn.execute(
                "SELECT name, params, created_at FROM saved_query ORDER BY name").fetchall():
            params = json.loads(params_json)
            key = query_key(params)
            state = self.conn.execute(
                "SELECT last_success_at, last_success_run_id FROM sync_state "
                "WHERE query_key = ?", (key,)).fetchone()
            trials = self._one("SELECT count(*) FROM query_member WHERE query_key = ? "
                               "AND present = 1", key)
            last = self.conn.execute(
                "SELECT id, status, message, started_at, finished_at, batch_id FROM run "
                "WHERE kind = 'sync' AND query_name = ? ORDER BY id DESC LIMIT 1",
                (name,)).fetchone()
            infos.append(QueryInfo(
                name, params, _utc(created), _utc(state[0]) if state else None,
                state[1] if state else None, int(trials),
                {"id": last[0], "status": last[1], "message": last[2],
                 "started_at": _utc(last[3]), "finished_at": _utc(last[4]),
                 "batch": last[5]} if last else None))
        return infos

    def last_sync(self) -> LastRun | None:
        """As :func:`harvester.catalogue.batches.last_run` with ``syncs_only``."""
        from harvester.catalogue.statusinfo import LastRun, asked_queries

        row = self.conn.execute(
            "SELECT id, kind, started_at, status, message, query_name, arguments FROM run "
            "WHERE kind IN ('batch', 'sync') AND batch_id IS NULL AND status != 'running' "
            "ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        run_id, kind, started, status, message, query_name, arguments = row
        found = LastRun(run_id, kind, _utc(started), status, message)  # type: ignore[arg-type]
        if kind == "batch":
            parts = self.conn.execute("SELECT id, query_name, status, message FROM run "
                                      "WHERE batch_id = ? ORDER BY id", (run_id,)).fetchall()
            found.add_parts(parts, asked_queries(arguments))
        else:
            found.add_parts([(run_id, query_name, status, message)], [])
        return found
