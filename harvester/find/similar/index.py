"""Keeping the similarity index in step with the catalogue, and reading it.

**Refresh.**  The index holds one entry per trial, for the version that was current when it
was indexed.  New versions get higher ids, so the fast path compares the highest version id
with the one the index last caught up with (two indexed lookups: nothing to do is cheap).
Otherwise the trials with versions above that mark (or every trial, on a first build) are
compared with their entries, and those whose current version differs are (re)indexed in
batches, each in its own transaction: a refresh killed midway leaves every entry consistent
with its postings and term counts, and the next refresh carries on (the catalogue's version
pointer is the truth; the mark moves only when a refresh has finished).  Only one process
writes the index: refreshing takes the catalogue's writer lock.

**Reading.**  Candidates come from the postings of the query's discriminative terms, summed
IDF in SQL (``GROUP BY … ORDER BY … LIMIT``), never from a scan of the index; the most common
terms are skipped, so a query reads a bounded number of postings.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import secrets
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from harvester.catalogue import recordcodec
from harvester.catalogue import tables as t
from harvester.catalogue.engine import planner_settings
from harvester.catalogue.lock import writer_lock
from harvester.find.similar import features as fx
from harvester.find.similar import store
from harvester.find.similar.store import ENTRY, POSTING, TERM

V = t.Version.__table__  # type: ignore[attr-defined]
T = t.Trial.__table__  # type: ignore[attr-defined]

BATCH = 500  # trials a worker prepares at a time
#: Trials per transaction.  Each transaction rewrites every posting and term page it
#: touches (the tail of each term's postings, its document frequency), and a batch touches
#: much the same pages whatever its size: 500 trials a transaction wrote ~40 kB of pages per
#: trial, so a build slowed as the index outgrew the page cache.
WRITE = 5000
PAGE = 5000  # trials compared per query
CHUNK = 500  # values per IN (…) list

Progress = Callable[[int, int | None], None]


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


@dataclass(frozen=True)
class IndexState:
    features_version: str | None
    mark: int  # highest version id the index is up to date with
    top: int  # highest version id in the catalogue
    count: int  # trials indexed

    @property
    def current(self) -> bool:
        return self.features_version == fx.FEATURES_VERSION and self.mark >= self.top


def state(conn: Connection) -> IndexState:
    top = conn.execute(sa.select(sa.func.max(V.c.id))).scalar() or 0
    meta = dict(conn.execute(sa.select(store.META.c.key, store.META.c.value)).all())
    return IndexState(meta.get("features_version"), int(meta.get("mark") or 0), int(top),
                      int(meta.get("count") or 0))


def pending(conn: Connection) -> int:
    """How many trials have versions the index has not caught up with (an upper bound)."""
    now = state(conn)
    if now.features_version != fx.FEATURES_VERSION:
        return int(conn.execute(sa.select(sa.func.count()).select_from(T)).scalar_one())
    return int(conn.execute(sa.select(sa.func.count(sa.distinct(V.c.nct_id))).where(
        V.c.id > now.mark)).scalar_one())


# --- writing ----------------------------------------------------------------------------------

def reset(conn: Connection) -> None:
    """Empty the index (drop and create its tables) for the current features version."""
    store.drop(conn)
    store.create(conn)
    store.set_meta(conn, "features_version", fx.FEATURES_VERSION)
    store.set_meta(conn, "mark", "0")
    store.set_meta(conn, "count", "0")
    new_generation(conn)


def new_generation(conn: Connection) -> None:
    """Mark the index's terms as changed (in the transaction that changes them): the
    statistics other processes keep of them (termcache) are read anew."""
    store.set_meta(conn, "generation", secrets.token_hex(8))


def refresh(engine: Engine, *, rebuild: bool = False, on_progress: Progress | None = None,
            lock: bool = True) -> int:
    """Bring the index up to date; the number of trials (re)indexed.  Takes the writer lock
    (raises CatalogueBusyError when another writer holds it)."""
    with engine.connect() as conn:
        if not rebuild and state(conn).current:
            return 0
    if not lock:
        return _refresh(engine, rebuild, on_progress)
    with writer_lock(engine):
        return _refresh(engine, rebuild, on_progress)


def _refresh(engine: Engine, rebuild: bool, on_progress: Progress | None) -> int:
    with engine.begin() as conn:
        now = state(conn)
        if rebuild or now.features_version != fx.FEATURES_VERSION:
            reset(conn)
            now = state(conn)
        if now.current:
            return 0
        total = int(conn.execute(sa.select(sa.func.count()).select_from(T)).scalar_one())
        changed = int(conn.execute(sa.select(sa.func.count()).where(
            V.c.id > now.mark, V.c.id <= now.top)).scalar_one())
    # Few changes: look only at the trials that have them; many: compare every trial.
    only_changed = now.mark > 0 and changed < total // 5
    expected = min(changed, total) if only_changed else total
    if on_progress:
        on_progress(0, expected)
    done = 0
    after = ""
    workers = (os.cpu_count() or 1) if expected >= PARALLEL_FROM else 1
    writes = _Writes(engine)
    with _pool(workers) as pool:
        queue: deque[Future[list[Ready]] | list[Ready]] = deque()
        while True:
            with engine.connect() as conn:
                rows = conn.execute(_page(after, now.mark, now.top, only_changed)).all()
            if not rows:
                break
            after = rows[-1].nct_id
            todo = [(r.nct_id, r.current_version_id) for r in rows
                    if r.indexed != r.current_version_id]
            for batch in chunks(todo, BATCH):
                records = _load(engine, batch)
                queue.append(pool.submit(prepare, records) if pool else prepare(records))
                while len(queue) > workers:
                    done += writes.add(_result(queue.popleft()))
            if on_progress:
                on_progress(len(rows), None)
        while queue:
            done += writes.add(_result(queue.popleft()))
        done += writes.flush()
    with engine.begin() as conn:
        store.set_meta(conn, "mark", str(now.top))
    return done


PARALLEL_FROM = 2000  # trials to index from which features are worked out on every core


@contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    if workers <= 1:
        yield None
        return
    # spawn, not fork: a forked worker would inherit the writer lock and the connections.
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        yield pool


class _Writes:
    """Prepared trials written :data:`WRITE` at a time, each lot in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.held: list[Ready] = []

    def add(self, ready: list[Ready]) -> int:
        """Hold these; write what is held once there are enough.  How many were written."""
        self.held += ready
        return self.flush() if len(self.held) >= WRITE else 0

    def flush(self) -> int:
        held, self.held = self.held, []
        return _write(self.engine, held) if held else 0


def _result(item: Future[list[Ready]] | list[Ready]) -> list[Ready]:
    return item.result() if isinstance(item, Future) else item


def _page(after: str, mark: int, top: int, only_changed: bool) -> sa.Select[Any]:
    stmt = (sa.select(T.c.nct_id, T.c.current_version_id, ENTRY.c.version_id.label("indexed"))
            .outerjoin(ENTRY, ENTRY.c.nct_id == T.c.nct_id)
            .where(T.c.nct_id > after).order_by(T.c.nct_id).limit(PAGE))
    if only_changed:
        stmt = stmt.where(T.c.nct_id.in_(sa.select(V.c.nct_id).where(V.c.id > mark,
                                                                     V.c.id <= top)))
    return stmt


@dataclass(frozen=True, slots=True)
class Ready:
    """A trial's features, encoded, with its index terms: what a worker hands back."""

    nct_id: str
    version_id: int
    data: bytes
    posted: frozenset[str]
    counted: frozenset[str]


def _load(engine: Engine, batch: Sequence[tuple[str, int]]) -> list[tuple[str, int, bytes]]:
    """``(nct_id, version_id, stored record)`` of these trials' versions (decompressed by
    :func:`prepare`, in the workers)."""
    wanted = {version_id: nct_id for nct_id, version_id in batch}
    with engine.connect() as conn:
        return [(wanted[row.id], row.id, row.record)
                for chunk in chunks(list(wanted))
                for row in conn.execute(sa.select(V.c.id, V.c.record).where(V.c.id.in_(chunk)))]


def prepare(records: Sequence[tuple[str, int, str | bytes]]) -> list[Ready]:
    """Features and index terms of records (pure; runs in a worker process)."""
    ready = []
    for nct_id, version_id, stored in records:
        features = fx.stored_features(recordcodec.unpack(stored))
        posted, counted = fx.index_terms(features)
        ready.append(Ready(nct_id, version_id, fx.encode(features), frozenset(posted),
                           frozenset(counted)))
    return ready


def _write(engine: Engine, fresh: Sequence[Ready]) -> int:
    """(Re)index these trials, in one transaction; how many."""
    with engine.begin() as conn:
        old: dict[str, tuple[int, set[str], set[str]]] = {}
        for chunk in chunks(sorted(r.nct_id for r in fresh)):
            for row in conn.execute(sa.select(ENTRY.c.doc_id, ENTRY.c.nct_id, ENTRY.c.features)
                                    .where(ENTRY.c.nct_id.in_(chunk))):
                old[row.nct_id] = (row.doc_id, *fx.index_terms(fx.decode(row.features)))
        delta: Counter[str] = Counter()
        for item in fresh:
            delta.update(item.posted | item.counted)
        for _, posted, counted in old.values():
            delta.subtract(posted | counted)
        ids = _term_ids(conn, delta)
        # Postings: remove the old ones of re-indexed trials, then add the new ones.
        removed = [{"t": ids[term], "d": doc} for doc, posted, _ in old.values()
                   for term in posted]
        if removed:
            conn.execute(sa.delete(POSTING).where(POSTING.c.term_id == sa.bindparam("t"),
                                                  POSTING.c.doc_id == sa.bindparam("d")),
                         removed)
        updates = [{"key": r.nct_id, "v": r.version_id, "f": r.data}
                   for r in fresh if r.nct_id in old]
        if updates:
            conn.execute(sa.update(ENTRY).where(ENTRY.c.nct_id == sa.bindparam("key")).values(
                version_id=sa.bindparam("v"), features=sa.bindparam("f")), updates)
        inserts = [{"nct_id": r.nct_id, "version_id": r.version_id, "features": r.data}
                   for r in fresh if r.nct_id not in old]
        docs = {nct: doc for nct, (doc, _, _) in old.items()}
        if inserts:
            conn.execute(sa.insert(ENTRY), inserts)
            for chunk in chunks([row["nct_id"] for row in inserts]):
                docs.update(conn.execute(sa.select(ENTRY.c.nct_id, ENTRY.c.doc_id).where(
                    ENTRY.c.nct_id.in_(chunk))).all())
        postings = sorted({(ids[term], docs[r.nct_id]) for r in fresh for term in r.posted})
        if postings:
            conn.exec_driver_sql(_insert_sql(conn, POSTING), postings)
        count = int(store.get_meta(conn, "count") or 0) + len(inserts)
        store.set_meta(conn, "count", str(count))
        new_generation(conn)
    return len(fresh)


def _term_ids(conn: Connection, delta: Counter[str]) -> dict[str, int]:
    """Ids of these terms (new ones inserted), their document frequencies moved by
    ``delta``."""
    terms = sorted(delta)
    ids = {term: found[0] for term, found in term_stats(conn, terms).items()}
    missing = [(term, delta[term]) for term in terms if term not in ids]
    if missing:
        conn.exec_driver_sql(_insert_sql(conn, TERM, ("term", "df")), missing)
        ids.update((term, found[0]) for term, found in term_stats(
            conn, [term for term, _ in missing]).items())
    missing_set = {term for term, _ in missing}
    changes = sorted((ids[term], change) for term, change in delta.items()
                     if change and term not in missing_set)
    if changes:  # one driver-level executemany (in id order: the index pages in turn)
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(f"UPDATE {TERM.name} SET df = df + {mark} WHERE id = {mark}",
                             [(change, term_id) for term_id, change in changes])
    return ids


def _insert_sql(conn: Connection, table: sa.Table, columns: Sequence[str] | None = None) -> str:
    """A driver-level INSERT for executemany (much faster than SQLAlchemy's per-row work)."""
    names = list(columns or [c.name for c in table.columns])
    marks = {"qmark": "?", "numeric": ":{}", "named": ":{}"}.get(conn.dialect.paramstyle, "%s")
    values = ", ".join(marks.format(i + 1) for i in range(len(names)))
    return f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({values})"


# --- reading ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    doc_id: int
    nct_id: str
    version_id: int
    features: fx.Features


LOOKUP = 2000  # values per IN (…) list (SQLite allows 32,766 variables)


def _lookup(conn: Connection, sql: str, column: str, values: Sequence[Any]) -> Iterator[Any]:
    """Rows of ``sql`` (ending in ``WHERE``) for ``column`` in ``values``, at the driver
    level: PostgreSQL gets one array parameter (psycopg would parse thousands of
    placeholders), SQLite an IN list."""
    postgres = conn.dialect.name == "postgresql"
    for chunk in chunks(values, LOOKUP * 5 if postgres else LOOKUP):
        if postgres:
            yield from _driver_rows(conn, f"{sql} {column} = ANY(%s)", (list(chunk),))
        else:
            yield from _driver_rows(conn, f"{sql} {column} IN ({', '.join('?' * len(chunk))})",
                                    tuple(chunk))


def _driver_rows(conn: Connection, sql: str, params: Any) -> list[Any]:
    """The rows of ``sql`` from the driver's own cursor (no SQLAlchemy row for each); a
    driver error as any statement's: wrapped by SQLAlchemy, through the engine's error
    hooks (harvester.catalogue.storage), so a lost server reads as one."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    except conn.dialect.loaded_dbapi.Error as exc:
        conn._handle_dbapi_exception(exc, sql, params, cursor, None)
        raise  # not reached: the call above raises
    finally:
        cursor.close()


def term_stats(conn: Connection, terms: Iterable[str]) -> dict[str, tuple[int, int]]:
    """``term → (id, df)`` for the terms the index knows."""
    return {term: (term_id, df) for term, term_id, df in _lookup(
        conn, f"SELECT term, id, df FROM {TERM.name} WHERE", "term", sorted(set(terms)))}


def entries(conn: Connection, *, doc_ids: Iterable[int] = (),
            nct_ids: Iterable[str] = ()) -> list[Entry]:
    sql = f"SELECT doc_id, nct_id, version_id, features FROM {ENTRY.name} WHERE"
    rows = [*_lookup(conn, sql, "doc_id", sorted(set(doc_ids))),
            *_lookup(conn, sql, "nct_id", sorted(set(nct_ids)))]
    return [Entry(doc_id, nct_id, version_id, fx.decode(bytes(data)))
            for doc_id, nct_id, version_id, data in rows]


def nct_ids(conn: Connection, doc_ids: Iterable[int]) -> dict[str, int]:
    """``nct_id → doc_id`` of these index entries."""
    return dict(_lookup(conn, f"SELECT nct_id, doc_id FROM {ENTRY.name} WHERE", "doc_id",
                        sorted(set(doc_ids))))


def docs_with(conn: Connection, term_ids: Iterable[int], limit: int) -> list[int]:
    """Trials posted under any of these terms (at most ``limit``)."""
    wanted = sorted(set(term_ids))
    if not wanted:
        return []
    return list(conn.execute(sa.select(POSTING.c.doc_id).distinct().where(
        POSTING.c.term_id.in_(wanted)).limit(limit)).scalars())


def prescore(conn: Connection, weights: dict[int, float], *,
             limit: int | None) -> list[tuple[int, float]]:
    """``(doc_id, summed weight)`` of the trials posted under the weighted terms, best first
    (the ``limit`` best, or all)."""
    if not weights:
        return []
    wanted = sa.values(sa.column("term_id", sa.Integer), sa.column("weight", sa.Float),
                       name="w").data(sorted(weights.items())).cte("w")
    total = sa.func.sum(wanted.c.weight).label("s")
    stmt = (sa.select(POSTING.c.doc_id, total).select_from(wanted)
            .join(POSTING, POSTING.c.term_id == wanted.c.term_id)
            .group_by(POSTING.c.doc_id).order_by(total.desc(), POSTING.c.doc_id).limit(limit))
    if conn.dialect.name != "postgresql":
        return _rows(conn, stmt)
    # PostgreSQL cannot tell how many postings the listed terms have (a VALUES list) and,
    # at the registry's size, scans every posting (27 million: 1.3-2.6 s) where the primary
    # key (term_id, doc_id) reads the few thousand wanted (25 ms): no sequential scan for
    # this statement, the setting as it was after it.
    with planner_settings(conn, enable_seqscan="off"):
        return _rows(conn, stmt)


def _rows(conn: Connection, stmt: sa.Select[Any]) -> list[tuple[int, float]]:
    """The ``(doc_id, sum)`` rows of ``stmt``, read by the driver's own cursor: a filtered
    query reads 4,000 to 20,000 of them, and SQLAlchemy's rows cost more than the
    statement (20,000: 67 against 43 ms at 600,000 trials)."""
    compiled = stmt.compile(dialect=conn.dialect)
    params = compiled.params
    values = ([params[name] for name in compiled.positiontup or ()]
              if compiled.positional else params)
    return [(int(doc), float(total)) for doc, total in _driver_rows(conn, str(compiled), values)]
