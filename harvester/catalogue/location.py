"""Where the catalogue is: a URL from ``--db``, ``TRIALS_DB`` or the user's data directory.

Kept apart from :mod:`harvester.catalogue.engine` (and SQLAlchemy) so that commands which only
read a SQLite catalogue can find it without importing the database stack.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "TRIALS_DB"
#: The schema version this release writes, for readers that do not import the engine: the
#: number of steps in ``engine.MIGRATIONS`` (tests/test_quick.py fails until both agree).
SCHEMA_VERSION = 20


def default_url() -> str:
    """``TRIALS_DB`` if set, else a SQLite file in the user's data directory."""
    if os.environ.get(ENV_VAR):
        return resolve_url(os.environ[ENV_VAR])
    from platformdirs import user_data_path

    folder = user_data_path("trial-harvester", appauthor=False)
    return f"sqlite:///{folder / 'catalogue.sqlite'}"


def resolve_url(value: str | None) -> str:
    """A database URL from what a user gave: a URL as it is, a plain file path (as
    sqlite-utils and datasette take) as the SQLite file at that path; None: the default."""
    if not value:
        return default_url()
    if "://" in value or value == "sqlite:":
        return value
    return f"sqlite:///{Path(value).expanduser().absolute()}"


def sqlite_file(url: str) -> Path | None:
    """The file of a plain ``sqlite:///PATH`` URL (no query, no escapes), else None."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///")
    if not path or path == ":memory:" or any(c in path for c in "?%#"):
        return None
    return Path(path)
