"""The versioned catalogue: tables, store, diffs, change reports and migrations.

The names below are loaded on first use, so that importing a light module of this package
(``location``, ``versioninfo``, ``quick``) does not import SQLAlchemy and the table classes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harvester.catalogue.prepared import Incoming, Prepared, prepare
    from harvester.catalogue.store import Catalogue, Outcome
    from harvester.catalogue.versioninfo import VersionInfo

__all__ = ["Catalogue", "Incoming", "Outcome", "Prepared", "VersionInfo", "prepare"]
_HOME = {"Catalogue": "store", "Outcome": "store", "VersionInfo": "versioninfo",
         "Incoming": "prepared", "Prepared": "prepared", "prepare": "prepared"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value
