"""A loopback replica of the ClinicalTrials.gov API v2 (the future ``trials serve``).

It serves the paths the harvester uses from an in-memory :class:`StudyStore`, answers like the
real API (byte-level page shape, error wording, paging rules) and misbehaves on demand through
:class:`Faults`, so harvests can be tested end to end without the internet::

    store = StudyStore.from_folder("fixtures/ctgov-v2-json/studies")
    with ReplicaServer(store) as server:
        server.faults.rate_limit(2, retry_after=0.01)
        harvest(base_url=server.base_url)
        assert server.faults.count("/api/v2/studies") == …
"""

from .app import ReplicaApp, make_app
from .faults import Fault, Faults
from .query import Query, QueryError, parse_query
from .server import ReplicaServer
from .store import Snapshot, StudyStore, StudyVersion, canonical_nct

__all__ = [
    "Fault",
    "Faults",
    "Query",
    "QueryError",
    "ReplicaApp",
    "ReplicaServer",
    "Snapshot",
    "StudyStore",
    "StudyVersion",
    "canonical_nct",
    "make_app",
    "parse_query",
]
