"""``trials sync``: harvest a ClinicalTrials.gov search into the catalogue — complete,
incremental, resumable, one page per transaction.

A query's first sync is a full pass; later ones ask only for studies whose last update was
posted on or after the previous success's high-water mark minus a day of overlap.  Pages come
sorted by last update, ascending, and each is stored in one transaction with the resume point
(the last update date reached), so a killed run resumes by date — page tokens may have expired
— re-reading at most the studies of one day.  Each run compares what it received with the
API's ``totalCount`` and says so when they differ.  A full pass also notes the trials that
have left the query's results.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from harvester.catalogue import Catalogue
from harvester.catalogue.lock import writer_lock
from harvester.catalogue.store import V
from harvester.catalogue.syncstate import (
    SyncState,
    load_state,
    mark_gone,
    mark_seen,
    query_key,
    save_state,
)
from harvester.errors import FetchError
from harvester.fetch.ahead import Ahead
from harvester.fetch.backfill import backfill
from harvester.fetch.ctgov import CtgovApi, Page, split_ids, updated_since
from harvester.fetch.params import MAX_PAGE_SIZE
from harvester.fetch.quicksync import Head
from harvester.fetch.schema_watch import SchemaReport, watch_schema
from harvester.fetch.summary import SyncSummary as SyncSummary  # re-exported
from harvester.ingest.preparing import PreparedBatch, prepare_page
from harvester.ingest.workers import process_pool, relaxed_gc

OVERLAP = timedelta(days=1)


@dataclass
class _Pass:
    """Where a pass over a query stands; stored as the resume point after every page."""

    pass_id: int
    mode: str
    since: str | None
    after: str | None  # the last update date reached; studies before it are done
    latest: str | None  # the latest last-update date received in the pass
    part: int = 0  # with many NCT ids, the request (of split_ids) under way

    def to_json(self) -> dict[str, Any]:
        return {"pass": self.pass_id, "mode": self.mode, "since": self.since,
                "after": self.after, "latest": self.latest, "part": self.part}


#: Studies per parsing task: a page is shared by every worker, so none idles at the end.
CHUNK = 125


def _parse_processes(workers: int | None) -> int:
    """Worker processes that parse pages: ``workers`` of them, but 1 means none (pages parse
    in this process); by default one per core: this process only stores what they prepared
    (and its thread downloads)."""
    if workers is None:
        return os.cpu_count() or 1
    return 0 if workers <= 1 else workers


Job = Future[tuple[PreparedBatch, float]] | tuple[PreparedBatch, float]


@dataclass(frozen=True)
class _Fetched:
    """A page received, and its preparation in chunks (under way in workers, or done)."""

    part: int
    expected: int | None
    size: int
    jobs: list[Job]
    known: list[tuple[str, str | None]]  # studies held already: (NCT id, last update)

    def result(self) -> tuple[PreparedBatch, float]:
        """The page prepared (its chunks in order), with the seconds its preparation took."""
        done = [job.result() if isinstance(job, Future) else job for job in self.jobs]
        if not done:
            return PreparedBatch([], [], []), 0.0
        if len(done) == 1:
            return done[0]
        return PreparedBatch([v for batch, _ in done for v in batch.versions],
                             [p for batch, _ in done for p in batch.problems],
                             [w for batch, _ in done for w in batch.warnings]), \
            sum(seconds for _, seconds in done)


class Syncer:
    """Runs syncs of one catalogue against one API; reports through callbacks."""

    def __init__(self, catalogue: Catalogue, api: CtgovApi, *, page_size: int = 1000,
                 with_history: bool = False, wait: float = 0.0, workers: int | None = None,
                 on_problem: Callable[[str], None] = lambda message: None,
                 on_progress: Callable[[int, int | None], None] = lambda n, total: None
                 ) -> None:
        self.catalogue = catalogue
        self.api = api
        self.page_size = page_size
        self.with_history = with_history
        self.wait = wait
        self._workers = _parse_processes(workers)
        self.on_problem = on_problem
        self.on_progress = on_progress
        self._stats_before: dict[str, Any] = {}
        self._head: Head | None = None

    def run(self, params: Mapping[str, str], *, full: bool = False,
            name: str | None = None, batch_id: int | None = None,
            head: Head | None = None) -> SyncSummary:
        """One sync run.  Within a batch (``batch_id``), the caller holds the writer lock.
        On PostgreSQL the writer lock is shared: syncs of other queries and imports run
        beside this one; a second sync of the same query waits (``wait``) or is refused.
        ``head``: what the light path (:mod:`harvester.fetch.quicksync`) fetched before it
        found work to do — robots.txt, the API's version, the first page — used instead of
        asking again (the first page only if the pass asks for the same one)."""
        self._head = head
        engine = self.catalogue.engine
        label = f"the query {name!r}" if name else "this query"
        query_lock = self.catalogue.session.query_lock
        if batch_id is not None:
            with query_lock(query_key(params), label, wait=self.wait):
                return self._run(dict(params), full, name, batch_id)
        with writer_lock(engine, wait=self.wait, shared=True), \
                query_lock(query_key(params), label, wait=self.wait):
            self.catalogue.mark_interrupted(self.catalogue.clock())
            return self._run(dict(params), full, name)

    def _respect_crawl_delay(self) -> None:
        """Below one request a second, let the site's robots.txt Crawl-delay raise the pace
        (ClinicalTrials.gov asks for 1 s: the default already honours it without asking)."""
        client = self.api.client
        if client.min_interval < 1.0:
            try:
                client.robots_allows(f"{self.api.base}/api/v2/studies",
                                     lines=self._head.robots if self._head else None)
            except FetchError as exc:  # no answer: be as polite as the site would ask
                client.min_interval = 1.0
                self.on_problem(f"warning: robots.txt unreachable ({exc}); one request a "
                                "second")

    def _watch_schema(self) -> SchemaReport | None:
        """The registry's schema check: a probe, so a failure is a warning and the harvest
        goes on (the search itself says soon enough whether the server answers)."""
        try:
            return watch_schema(self.catalogue, self.api,
                                self._head.version if self._head else None)
        except FetchError as exc:
            self.on_problem(f"warning: registry schema not checked ({exc})")
            return None

    def _run(self, params: dict[str, str], full: bool, name: str | None,
             batch_id: int | None = None) -> SyncSummary:
        cat = self.catalogue
        run_id = cat.start_run("sync", {"name": name, "query": params, "full": full,
                                        "base_url": self.api.base},
                               query_name=name, batch_id=batch_id)
        summary = SyncSummary(run_id, params)
        started = time.perf_counter()
        self._stats_before = asdict(self.api.client.stats)
        if self._head is not None:  # its requests are this run's
            self.api.client.took_over(self._head.stats, self._head.last_start)
        try:
            self._respect_crawl_delay()
            summary.schema = self._watch_schema()
            key = query_key(params)
            state = load_state(cat, key)
            current = self._plan(state, run_id, full, summary)
            self._harvest(params, key, current, state, summary)
            if self.with_history:
                summary.history_versions = backfill(cat, self.api, self._touched(run_id),
                                                    run_id=run_id,
                                                    on_problem=self.on_problem)
        except FetchError as exc:
            summary.status, summary.message = ("failed" if summary.pages == 0 else
                                               "incomplete"), str(exc)
            if summary.pages == 0:
                self._finish(summary, started)
                raise
        except BaseException as exc:
            summary.status, summary.message = "failed", f"{type(exc).__name__}: {exc}"
            self._finish(summary, started)
            raise
        self._finish(summary, started)
        return summary

    def _plan(self, state: SyncState | None, run_id: int, full: bool,
              summary: SyncSummary) -> _Pass:
        """Resume an unfinished pass, else start a full or an incremental one."""
        resume = state.resume if state else None
        if resume and (not full or resume["mode"] == "full"):
            summary.resumed = True
            current = _Pass(resume["pass"], resume["mode"], resume["since"], resume["after"],
                            resume["latest"], resume.get("part", 0))
        elif full or state is None or state.high_water is None:
            current = _Pass(run_id, "full", None, None, None)
        else:
            since = (date.fromisoformat(state.high_water) - OVERLAP).isoformat()
            current = _Pass(run_id, "incremental", since, since, None)
        summary.mode, summary.since = current.mode, current.since
        return current

    def _harvest(self, params: dict[str, str], key: str, current: _Pass,
                 state: SyncState | None, summary: SyncSummary) -> None:
        """Fetch, parse and store overlapped: the next page downloads (in a thread) while
        pages are parsed (in worker processes, when there is more than one page) and the
        page before them is stored — each page in its own transaction with the resume
        point, strictly in order."""
        pending: deque[_Fetched] = deque()
        # A full pass over a search usually has many pages: the workers start now, while
        # the first page downloads (spawning one and importing the parsers takes longer
        # than that request).  Otherwise they start with a first page that says more follow.
        pool = self._start_pool() if self._expect_many(params, current) else None
        ahead = Ahead(self._pages(params, current), name="sync-download")
        try:
            with relaxed_gc():
                try:
                    for number, (part, page, expected) in enumerate(ahead, start=1):
                        studies = [bytes(raw) for raw in page.studies]
                        todo, known = self._triage(studies)
                        starting = (pool is None and bool(todo)
                                    and self._more_pages(expected, studies))
                        if starting:
                            pool = self._start_pool()
                        pending.append(_Fetched(part, expected, len(studies),
                                                self._prepare(pool, number, todo, starting),
                                                known))
                        while len(pending) > (1 if pool is not None else 0):
                            self._store(pending.popleft(), params, key, current, summary)
                except FetchError:  # what was received before the failure is kept
                    while pending:
                        self._store(pending.popleft(), params, key, current, summary)
                    raise
                while pending:
                    self._store(pending.popleft(), params, key, current, summary)
        finally:
            ahead.close()
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        self._close_pass(params, key, current, state, summary)

    def _expect_many(self, params: Mapping[str, str], current: _Pass) -> bool:
        """Known before the first page: a full pass over more NCT ids than a page holds,
        with pages big enough to share among the workers.  A search's size is known only
        from its first page (:meth:`_more_pages`): starting the workers before it cost every
        small first sync of a query two interpreters for nothing."""
        ids = [i for i in params.get("filter.ids", "").split(",") if i]
        return (self._workers > 0 and current.mode == "full"
                and self.page_size >= CHUNK * self._workers and len(ids) > self.page_size)

    def _more_pages(self, expected: int | None, studies: list[bytes]) -> bool:
        """The first page says more follow: its count, or, without one, a full page."""
        if self._workers == 0:
            return False
        return len(studies) >= self.page_size if expected is None else expected > len(studies)

    def _triage(self, studies: list[bytes]) -> tuple[list[tuple[int, bytes, str]],
                                                     list[tuple[str, str | None]]]:
        """The studies to parse, and those received before byte for byte (by payload hash):
        unchanged, so not parsed at all — their NCT id and last update from the catalogue."""
        hashes = [hashlib.sha256(raw).hexdigest() for raw in studies]
        held = self.catalogue.known_versions(hashes)
        todo = [(i, raw, sha) for i, (raw, sha) in enumerate(zip(studies, hashes, strict=True))
                if sha not in held]
        return todo, [held[sha] for sha in hashes if sha in held]

    def _prepare(self, pool: ProcessPoolExecutor | None, number: int,
                 studies: list[tuple[int, bytes, str]], starting: bool) -> list[Job]:
        """Hand a page's studies to the workers in chunks (the first chunk of the first
        page is parsed here while they start); without workers, parse them here."""
        base = self.api.base
        if not studies:
            return []
        if pool is None:
            return [prepare_page(base, number, studies)]
        jobs: list[Job] = [pool.submit(prepare_page, base, number, studies[i:i + CHUNK])
                           for i in range(CHUNK if starting else 0, len(studies), CHUNK)]
        if starting:
            jobs.insert(0, prepare_page(base, number, studies[:CHUNK]))
        return jobs

    def _start_pool(self) -> ProcessPoolExecutor:
        pool = process_pool(self._workers, nice=True)  # the storing here goes first
        for _ in range(self._workers):  # start them all now (from this, the pool's thread)
            pool.submit(int)
        return pool

    def _store(self, fetched: _Fetched, params: dict[str, str], key: str, current: _Pass,
               summary: SyncSummary) -> None:
        cat = self.catalogue
        batch, seconds = fetched.result()
        if fetched.part != current.part:  # the next request of split_ids: from the start
            current.part, current.after = fetched.part, current.since
        summary.expected = fetched.expected
        summary.pages += 1
        summary.received += fetched.size
        summary.parse_seconds += seconds
        for problem in batch.problems:
            self.on_problem(problem)
        for note in batch.warnings:
            self.on_problem(f"warning: {note}")
        dates = [d for v in batch.versions if (d := v.columns["last_update_posted"])]
        dates += [d for _, d in fetched.known if d]
        if dates:  # sorted ascending: everything before the page's last date is done
            current.after = max(dates)
            current.latest = max(filter(None, [current.latest, *dates]))
        ncts = [v.nct_id for v in batch.versions] + [n for n, _ in fetched.known]
        resume = current.to_json()

        def also(conn: Any) -> None:
            now = cat.clock()
            mark_seen(conn, key, ncts, current.pass_id, now, summary.run_id)
            save_state(conn, key, params, now, resume=resume)

        tick = time.perf_counter()
        outcomes = cat.add(batch.versions, run_id=summary.run_id,
                           already_known=len(fetched.known), failed=len(batch.problems),
                           also=also)
        summary.unchanged += len(fetched.known)
        summary.store_seconds += time.perf_counter() - tick
        summary.failed += len(batch.problems)
        for outcome in outcomes:
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        self.on_progress(fetched.size, summary.expected)

    def _pages(self, params: dict[str, str],
               current: _Pass) -> Iterator[tuple[int, Page, int | None]]:
        """The query's pages, each with its part and the count expected so far (run in the
        download thread: reads ``current`` as it stood at the start, changes nothing).

        Many NCT ids go in several requests (:func:`split_ids`), one after the other, each
        sorted by date on its own: the part under way is in the resume point, a resumed pass
        skips the parts done, and a new part starts from the pass's start.  The expected
        count is the sum of the parts' totalCounts."""
        first_part, first_after = current.part, current.after
        counts: list[int | None] = []
        expected: int | None = None
        for part, asked in enumerate(split_ids(params)):
            if part < first_part:
                continue
            after = first_after if part == first_part else current.since
            query = updated_since(asked, after) if after else asked
            first = None
            head, self._head = self._head, None
            if head is not None and head.studies is not None and head.query == query \
                    and head.page_size == min(self.page_size, MAX_PAGE_SIZE):
                first = Page(head.studies, head.total_count, head.next_token)
            for number, page in enumerate(self.api.pages(query, page_size=self.page_size,
                                                         first=first)):
                if number == 0:
                    counts.append(page.total_count)
                    known = [c for c in counts if c is not None]
                    expected = sum(known) if len(known) == len(counts) else None
                yield part, page, expected

    def _close_pass(self, params: dict[str, str], key: str, current: _Pass,
                    state: SyncState | None, summary: SyncSummary) -> None:
        cat = self.catalogue
        if summary.expected is not None and summary.received != summary.expected:
            summary.status = "incomplete"
            summary.message = (f"received {summary.received} studies but the API counted "
                               f"{summary.expected}; the catalogue may miss some — run again")
        elif summary.failed:
            summary.status = "partial"
            summary.message = f"{summary.failed} studies could not be parsed"
        with cat.engine.begin() as conn:
            now = cat.clock()
            if summary.status == "incomplete":  # start this pass over next time
                save_state(conn, key, params, now, resume=None,
                           high_water=state.high_water if state else None,
                           success_run_id=state.last_success_run_id if state else None)
                return
            if current.mode == "full":
                summary.disappeared = mark_gone(conn, key, current.pass_id, now,
                                                summary.run_id, _describe(params))
            previous = state.high_water if state else None
            high_water = max(filter(None, [previous, current.latest]), default=None)
            save_state(conn, key, params, now, resume=None, high_water=high_water,
                       success_run_id=summary.run_id)

    def _touched(self, run_id: int) -> list[str]:
        """The trials that gained a version in this run."""
        with self.catalogue.engine.connect() as conn:
            return list(conn.execute(sa.select(V.c.nct_id).where(V.c.run_id == run_id)
                                     .distinct().order_by(V.c.nct_id)).scalars())

    def _finish(self, summary: SyncSummary, started: float) -> None:
        summary.seconds = time.perf_counter() - started
        # This run's share of the client's counters (one client may serve several syncs).
        summary.stats = {k: v - self._stats_before.get(k, 0)
                         for k, v in asdict(self.api.client.stats).items()}
        self.catalogue.finish_run(summary.run_id, summary.status, summary.message,
                                  stats={k: v for k, v in summary.to_json().items()
                                         if k not in ("run", "status", "message")})


def _describe(params: Mapping[str, str]) -> str:
    terms = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"no longer in the results of {terms or 'all studies'}"
