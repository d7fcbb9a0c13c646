"""The versioned catalogue: tables, store, diffs, change reports and migrations."""

from harvester.catalogue.store import Catalogue, Incoming, Outcome, VersionInfo

__all__ = ["Catalogue", "Incoming", "Outcome", "VersionInfo"]
