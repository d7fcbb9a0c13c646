"""The versioned catalogue: tables, store, diffs, change reports and migrations."""

from harvester.catalogue.prepared import Incoming, Prepared, prepare
from harvester.catalogue.store import Catalogue, Outcome, VersionInfo

__all__ = ["Catalogue", "Incoming", "Outcome", "Prepared", "VersionInfo", "prepare"]
