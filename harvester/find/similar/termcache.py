"""The similarity index's term statistics, kept across the similar queries of one process.

Scoring a query's 200 candidates needs the document frequency of every word they use: a
thousand to three thousand terms a query, looked up one by one in ``sim_term`` (a third of a
query's time on PostgreSQL at 60,000 trials).  Queries answered by one process — the web
server, the assistant, a bench — share most of those words (after a hundred queries, nine
lookups in ten are of a term an earlier query read), so the statistics read are kept, for
each catalogue, while the index stays as they were read from.

Every transaction that changes the index's terms (:func:`index._write`, :func:`index.reset`)
sets the index's ``generation`` to a new value; a query reads it first, and the kept
statistics of another generation are dropped.  So what is kept is what the index holds, or
held when this query began (a refresh committing meanwhile is seen by the next query).  An
index written before generations existed has none: nothing is kept for it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from harvester.find.similar import index as ix

Stats = dict[str, tuple[int, int]]  # term → (id, df)


class TermCache:
    """``term → (id, df)`` of one index generation (and the terms it does not hold)."""

    LIMIT = 200_000  # terms kept at most (~225 bytes each: 45 MB), then kept anew; 200
    # random queries at 60,000 trials read 44,000 distinct terms

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the web server answers in threads
        self._generation: str | None = None
        self._found: Stats = {}
        self._absent: set[str] = set()

    def stats(self, conn: Connection, terms: Iterable[str], generation: str | None) -> Stats:
        """As :func:`index.term_stats`, reading only what this generation has not read."""
        wanted = set(terms)
        if generation is None:
            return ix.term_stats(conn, wanted)
        with self._lock:
            if (generation != self._generation
                    or len(self._found) + len(self._absent) > self.LIMIT):
                self._generation, self._found, self._absent = generation, {}, set()
            found, absent = self._found, self._absent
            todo = wanted - found.keys() - absent
        read = ix.term_stats(conn, todo) if todo else {}
        with self._lock:
            if self._generation == generation:
                found.update(read)
                absent.update(todo - read.keys())
            kept = {term: found[term] for term in wanted - todo if term in found}
        return kept | read


_CACHES: weakref.WeakKeyDictionary[sa.Engine, TermCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def for_engine(engine: sa.Engine) -> TermCache:
    """The cache of this catalogue's engine (made on first use)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = TermCache()
        return cache
