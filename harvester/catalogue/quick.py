"""Reading one trial from a SQLite catalogue with the standard library alone.

``trials show`` reads two small queries' worth of data, yet opening the catalogue the usual
way imports SQLAlchemy, SQLModel and builds every table class — over half a second before
any work.  :meth:`QuickReader.open` reads a plain SQLite catalogue of the current schema with
:mod:`sqlite3` instead, picking the version to show with the same rules
(:mod:`harvester.catalogue.versioninfo`) and returning the same records.

Anything else — PostgreSQL, a file that is missing, an older or newer schema, a database
error — gives None, and the caller takes the usual path, which upgrades the schema or reports
the problem as it always has.  The reader never writes.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from harvester.catalogue.location import SCHEMA_VERSION, resolve_url, sqlite_file
from harvester.catalogue.recordcodec import unpack
from harvester.catalogue.versioninfo import INFO_COLUMNS, VersionInfo, listed, pick
from harvester.errors import NotFoundError

if TYPE_CHECKING:
    from harvester.records import TrialRecord

_SELECT_INFO = f"SELECT {', '.join(INFO_COLUMNS)} FROM version WHERE nct_id = ?"
_SEEN_AT = INFO_COLUMNS.index("seen_at")


class QuickReader:
    """The read side of :class:`~harvester.catalogue.store.Catalogue` that ``trials show``
    uses, on a SQLite file through :mod:`sqlite3`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    @classmethod
    def open(cls, db: str | None) -> QuickReader | None:
        """A reader of the catalogue ``db`` names, or None when the usual path must be
        taken (not a SQLite file of this release's schema, or it cannot be read)."""
        path = sqlite_file(resolve_url(db))
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
                return cls(conn)
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
            seen = datetime.fromisoformat(values[_SEEN_AT])
            values[_SEEN_AT] = seen if seen.tzinfo else seen.replace(tzinfo=UTC)
            infos.append(VersionInfo(number=0, **dict(zip(INFO_COLUMNS, values, strict=True))))
        return listed(infos, include_superseded=include_superseded)

    def current(self, nct_id: str, *, source: str | None = None,
                as_of: date | None = None) -> VersionInfo | None:
        return pick(self.versions(nct_id), source, as_of.isoformat() if as_of else None)

    def record(self, version_id: int) -> TrialRecord:
        from harvester.records import TrialRecord

        row = self.conn.execute("SELECT record FROM version WHERE id = ?",
                                (version_id,)).fetchone()
        if row is None or row[0] is None:
            raise NotFoundError(f"no version with id {version_id}")
        return TrialRecord.model_validate_json(unpack(row[0]))
