"""The nightly sync that finds nothing new, with the standard library's sqlite3 and
http.client: no SQLAlchemy, no table classes, no ``requests``.

Most nightly syncs of a query ask for the studies updated since the last success (a day of
overlap) and receive only studies held already, byte for byte.  Opening the catalogue the
usual way and importing the HTTP stack take several times longer than that work.
:func:`quick_sync` does it on a SQLite catalogue of the current schema: under the writer lock,
it reads the query's sync state, asks robots.txt (below one request a second), the API's
version and the first page of the incremental pass, exactly as
:class:`~harvester.fetch.sync.Syncer` would, and when the page is the only one, every study on
it is held already and the registry's data version is the one last seen, records the run in
one transaction: the same run row, schema snapshot, query members, sync state and summary as
the full path records.

Anything else is not decided here.  Before any request (PostgreSQL, another schema, a resume
point, a first or full pass, many NCT ids, a log file, a proxy, a budget): None, and the
caller takes the usual path.  After the requests (a study not held, more pages, a new data
version, a count that does not match): a :class:`Head` with what was fetched, which the full
``Syncer`` starts from instead of fetching it again.  A request that fails, is redirected or
answers oddly: None (the full path asks again, with its retries).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec

from harvester.catalogue.location import SCHEMA_VERSION, resolve_url, sqlite_file
from harvester.catalogue.lock import file_lock
from harvester.catalogue.statusinfo import query_key
from harvester.fetch.pace import origin
from harvester.fetch.params import MAX_PAGE_SIZE, split_ids, updated_since
from harvester.fetch.quickhttp import QuickClient, Unsure
from harvester.fetch.summary import FetchStats, SchemaReport, SyncSummary

#: As :data:`harvester.fetch.sync.OVERLAP`.
OVERLAP = timedelta(days=1)
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
_INTERRUPTED = "stopped before it finished (killed or crashed)"


class _Page(msgspec.Struct):
    studies: list[msgspec.Raw]
    totalCount: int | None = None
    nextPageToken: str | None = None


_PAGE = msgspec.json.Decoder(_Page)


@dataclass(frozen=True)
class Head:
    """What the light path fetched before finding work to do, for the full sync to start
    from: robots.txt's lines (None: not asked), the API's version answer, and the first page
    of ``query`` (the search narrowed to the update window, without paging parameters)."""

    robots: list[str] | None
    version: dict[str, Any] | None  # None: not received
    query: dict[str, str]
    page_size: int
    studies: list[bytes] | None  # None: not received
    total_count: int | None
    next_token: str | None
    stats: FetchStats
    last_start: dict[str, float]  # origin -> time.monotonic() of the last request start


@dataclass(frozen=True)
class Done:
    """A sync run recorded by the light path: its summary, and the NCT ids asked for
    (``filter.ids``) that the catalogue lacks."""

    summary: SyncSummary
    lacking: list[str]


def _stamp(moment: datetime) -> str:
    """A time as the catalogue's tables store it on SQLite: naive, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def utc_now() -> datetime:
    return datetime.now(UTC)


def _json(value: Any, *, order: Any = None) -> str:
    return msgspec.json.encode(value, order=order).decode()


def _eligible_environment(base_url: str) -> bool:
    """No logging configured (the full path logs runs), no proxy to go through (``requests``
    reads them), a base URL without credentials, no ``~/.netrc``."""
    if any(not isinstance(h, logging.NullHandler)
           for h in logging.getLogger("trials").handlers):
        return False
    if any(name.lower() in _PROXY_VARIABLES for name in os.environ):
        return False
    if "@" in base_url.split("://", 1)[-1].split("/", 1)[0]:
        return False
    return not os.path.exists(os.path.expanduser("~/.netrc"))


def quick_sync(db: str | None, name: str | None, given: Mapping[str, str], *,
               base_url: str, min_interval: float, timeout: float, user_agent: str,
               wait: float, page_size: int, save: bool = False,
               replace: bool = False) -> Done | Head | None:
    """A no-change incremental sync of the saved query ``name`` (or of the search
    ``given``; with ``save``, saved as ``name`` once synced, as ``--save`` does), recorded; a
    :class:`Head` for the full sync when there is work; None when the light path does not
    apply (see the module docstring)."""
    opened = connect(db, base_url)
    if opened is None:
        return None
    conn, database = opened
    client = QuickClient(user_agent=user_agent, timeout=timeout, min_interval=min_interval)
    try:
        quick = QuickSync(conn, base_url.rstrip("/"), client, page_size)
        params = quick.params(name, given, save=save, replace=replace)
        if params is None or len(split_ids(params)) != 1:
            return None
        with file_lock(database, wait=wait):
            return quick.sync(name, params, save=save)
    except (sqlite3.Error, Unsure):
        return None
    finally:
        client.close()
        conn.close()


def connect(db: str | None, base_url: str) -> tuple[sqlite3.Connection, str] | None:
    """The SQLite catalogue ``db`` names, opened as ``engine.py`` opens it, and its path;
    None when the light path does not apply to it or to this environment."""
    if not _eligible_environment(base_url.rstrip("/")):
        return None
    path = sqlite_file(resolve_url(db))
    if path is None or not path.expanduser().is_file():
        return None
    try:
        conn = sqlite3.connect(path.expanduser(), timeout=30, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                       "busy_timeout=30000", "wal_autocheckpoint=16384"):  # as engine.py
            conn.execute(f"PRAGMA {pragma}")
        version = conn.execute("SELECT value FROM schema_info "
                               "WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error:
        conn.close()
        return None
    if version is None or str(version[0]) != str(SCHEMA_VERSION):
        conn.close()
        return None
    return conn, str(path)


class QuickSync:
    """The no-change syncs of one catalogue (an open connection of :func:`connect`) through
    one client, one query at a time: the caller holds the writer lock.  In a batch
    (``sync --all``) the client serves every query, as the full path's does: robots.txt is
    asked once, each run counts its own requests."""

    def __init__(self, conn: sqlite3.Connection, base: str, client: QuickClient,
                 page_size: int) -> None:
        self.conn = conn
        self.base = base
        self.client = client
        self.page_size = min(page_size, MAX_PAGE_SIZE)
        self._before: dict[str, Any] = {}

    def _one(self, sql: str, *args: Any) -> Any:
        row = self.conn.execute(sql, args).fetchone()
        return row[0] if row is not None else None

    def params(self, name: str | None, given: Mapping[str, str], *, save: bool = False,
               replace: bool = False) -> dict[str, str] | None:
        """The query to sync: the saved query ``name``, else ``given`` (with ``save``: when
        ``name`` is free, holds ``given`` already, or is to be replaced — else None, and the
        full path refuses)."""
        if name is None or save:
            if save:
                held = self._one("SELECT params FROM saved_query WHERE name = ?", name)
                if held is not None and msgspec.json.decode(held) != dict(given) \
                        and not replace:
                    return None
            return dict(given)
        saved = self._one("SELECT params FROM saved_query WHERE name = ?", name)
        return msgspec.json.decode(saved) if saved is not None else None

    def stats(self) -> FetchStats:
        """The client's counters since this query's sync started (the full path's
        ``Syncer._finish`` takes the same difference)."""
        return FetchStats(**{k: v - self._before.get(k, 0)
                             for k, v in asdict(self.client.stats).items()})

    def sync(self, name: str | None, params: dict[str, str], *, save: bool = False,
             batch_id: int | None = None) -> Done | Head | None:
        """Sync ``params`` (the query ``name``; ``batch_id``: the ``sync --all`` run it is
        part of) if it finds nothing new; see the module docstring."""
        self._before = asdict(self.client.stats)
        key = query_key(params)
        state = self.conn.execute("SELECT high_water, resume FROM sync_state "
                                  "WHERE query_key = ?", (key,)).fetchone()
        if state is None or state[0] is None or state[1] is not None:
            return None  # a first pass, or an unfinished one to resume
        high_water: str = state[0]
        previous = self.conn.execute(
            "SELECT data_timestamp FROM schema_snapshot WHERE kind = 'version' "
            "ORDER BY id DESC LIMIT 1").fetchone()
        since = (date.fromisoformat(high_water) - OVERLAP).isoformat()
        query = updated_since(params, since)
        started_at, started = utc_now(), time.perf_counter()
        head = self._fetch(query)
        if head.version is None or head.studies is None:
            return head
        stamp = str(head.version.get("dataTimestamp") or head.version["apiVersion"])
        hashes = [hashlib.sha256(raw).hexdigest() for raw in head.studies]
        held = self._held(hashes)
        if (head.next_token or len(held) < len(set(hashes)) or previous is None
                or previous[0] != stamp
                or (head.total_count is not None and head.total_count != len(hashes))):
            return head
        known = [held[sha] for sha in hashes]
        summary = SyncSummary(0, params, mode="incremental", since=since, pages=1,
                              received=len(hashes), expected=head.total_count,
                              unchanged=len(known),
                              schema=SchemaReport(str(head.version["apiVersion"]), stamp,
                                                  previous[0]))
        self._record(summary, name, key, since, known, head, started_at, started,
                     high_water, save=save, batch_id=batch_id)
        asked = [i for i in params.get("filter.ids", "").split(",") if i]
        lacking = [i for i in asked
                   if self._one("SELECT 1 FROM trial WHERE nct_id = ?", i) is None]
        return Done(summary, lacking)

    def _fetch(self, query: dict[str, str]) -> Head:
        """robots.txt (below one request a second, as ``Syncer`` asks it), the API's version
        and the first page of ``query``: as many as were received when a request fails.
        The full client goes on from there: a request that failed for a passing reason is
        counted, and waited for, as its first attempt; any other failure is left for the
        full client to meet (and count) itself."""
        got: dict[str, Any] = {}
        try:
            self._requests(query, got)
        except Unsure as exc:
            if exc.retryable:
                self.client.backoff(exc.retry_after)
            else:
                self.client.stats.requests -= 1
        page = got.get("page")
        return Head(self.client.robots.get(self._origin()), got.get("version"), query,
                    self.page_size, [bytes(s) for s in page.studies] if page else None,
                    page.totalCount if page else None, page.nextPageToken if page else None,
                    self.stats(), dict(self.client.last_start))

    def _origin(self) -> str:
        return origin(self.base)

    def handing_over(self) -> Head:
        """What the full path needs to go on from this client when this query was not
        fetched: robots.txt as asked already, the pace (nothing of this query's)."""
        return Head(self.client.robots.get(self._origin()), None, {}, self.page_size, None,
                    None, None, self.stats(), dict(self.client.last_start))

    def _requests(self, query: dict[str, str], got: dict[str, Any]) -> None:
        client = self.client
        origin = self._origin()
        if client.min_interval < 1.0 and origin not in client.robots:  # once per origin
            status, body = client.get(f"{origin}/robots.txt", accept="text/plain",
                                      probe=True, allow_4xx=True)
            client.robots[origin] = robots = (body.decode("utf-8", "replace").splitlines()
                                              if status == 200 else [])
            client.crawl_delay(origin, robots)
        _, body = client.get(f"{self.base}/api/v2/version", probe=True)
        try:
            version = msgspec.json.decode(body)
        except msgspec.DecodeError:  # most likely cut short: the full client asks again
            raise Unsure("the API's version is not JSON", retryable=True) from None
        if not isinstance(version, dict) or "apiVersion" not in version:
            raise Unsure("not an API version answer")
        got["version"] = version
        _, body = client.get(f"{self.base}/api/v2/studies", {
            **query, "pageSize": str(self.page_size), "countTotal": "true", "format": "json",
            "sort": "LastUpdatePostDate:asc"})
        try:
            got["page"] = _PAGE.decode(body)
        except msgspec.ValidationError:
            raise Unsure("not a page of studies") from None
        except msgspec.DecodeError:
            raise Unsure("a page of studies cut short", retryable=True) from None

    def _held(self, hashes: list[str]) -> dict[str, tuple[str, str | None]]:
        """As ``Catalogue.known_versions``."""
        wanted = sorted(set(hashes))
        found: dict[str, tuple[str, str | None]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            for sha, nct, updated in self.conn.execute(
                    "SELECT payload.sha256, version.nct_id, version.last_update_posted "
                    "FROM payload JOIN version ON version.id = payload.version_id "
                    f"WHERE payload.sha256 IN ({', '.join('?' * len(chunk))})", chunk):
                found[sha] = (nct, updated)
        return found

    def _record(self, summary: SyncSummary, name: str | None, key: str, since: str,
                known: list[tuple[str, str | None]], head: Head, started_at: datetime,
                started: float, high_water: str, *, save: bool,
                batch_id: int | None) -> None:
        """What ``Syncer.run`` records of a pass that found nothing new, in one
        transaction: the run, the version snapshot, the query's members and sync state (and
        with ``save``, the saved query, as ``--save`` saves it after the sync)."""
        conn, params = self.conn, summary.query
        params_json = _json(params, order="sorted")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if batch_id is None:  # a batch marked them when it started
                mark_interrupted(conn, started_at)
            run_id = start_run(conn, "sync", {"name": name, "query": params, "full": False,
                                              "base_url": self.base}, started_at,
                               query_name=name, batch_id=batch_id)
            summary.run_id = run_id
            conn.execute("INSERT INTO schema_snapshot (kind, data_timestamp, fetched_at, body) "
                         "VALUES ('version', ?, ?, ?)",
                         (summary.schema.data_timestamp if summary.schema else None,
                          _stamp(utc_now()), _json(head.version)))
            tick = time.perf_counter()
            dates = [d for _, d in known if d]
            after, latest = (max(dates), max(dates)) if dates else (since, None)
            now = _stamp(utc_now())
            self._mark_seen(key, sorted({n for n, _ in known}), run_id, now)
            resume = {"pass": run_id, "mode": "incremental", "since": since, "after": after,
                      "latest": latest, "part": 0}
            conn.execute(_SAVE_RESUME, (key, params_json, _json(resume, order="sorted"), now))
            conn.execute("UPDATE run SET heartbeat_at = ?, unchanged = unchanged + ? "
                         "WHERE id = ?", (now, len(known), run_id))
            summary.store_seconds = time.perf_counter() - tick
            now = _stamp(utc_now())
            conn.execute(_SAVE_SUCCESS, (key, params_json, max(filter(None, [
                high_water, latest])), run_id, now, now))
            summary.seconds = time.perf_counter() - started
            summary.stats = asdict(self.stats())
            now = _stamp(utc_now())
            conn.execute("UPDATE run SET heartbeat_at = ?, finished_at = ?, status = 'ok', "
                         "message = NULL, stats = ? WHERE id = ?",
                         (now, now, _json({k: v for k, v in summary.to_json().items()
                                           if k not in ("run", "status", "message")}),
                          run_id))
            if save:
                now = _stamp(utc_now())
                conn.execute(_SAVE_QUERY, (name, params_json, now, now))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _mark_seen(self, key: str, ids: list[str], run_id: int, now: str) -> None:
        """As ``syncstate.mark_seen``: these trials are in the query's results in this
        pass; note any that came back."""
        conn = self.conn
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            back = [row[0] for row in conn.execute(
                "SELECT nct_id FROM query_member WHERE query_key = ? AND present IS 0 AND "
                f"nct_id IN ({', '.join('?' * len(chunk))})", (key, *chunk))]
            conn.executemany("INSERT INTO trial_event (nct_id, kind, at, run_id, detail) "
                             "VALUES (?, 'reappeared', ?, ?, NULL)",
                             [(n, now, run_id) for n in back])
        conn.executemany(
            "INSERT INTO query_member (query_key, nct_id, present, last_seen_pass, changed_at) "
            "VALUES (?, ?, 1, ?, ?) ON CONFLICT (query_key, nct_id) DO UPDATE SET "
            "present = excluded.present, last_seen_pass = excluded.last_seen_pass, "
            "changed_at = excluded.changed_at", [(key, n, run_id, now) for n in ids])


def mark_interrupted(conn: sqlite3.Connection, stale_before: datetime) -> None:
    """As ``Catalogue.mark_interrupted``: under the writer lock, every run still running
    has died."""
    conn.execute("UPDATE run SET status = 'interrupted', message = ? WHERE status = "
                 "'running' AND heartbeat_at <= ? AND id != -1",
                 (_INTERRUPTED, _stamp(stale_before)))


def start_run(conn: sqlite3.Connection, kind: str, arguments: dict[str, Any],
              started_at: datetime, *, query_name: str | None = None,
              batch_id: int | None = None) -> int:
    """As ``Catalogue.start_run``."""
    return int(conn.execute(
        "INSERT INTO run (kind, arguments, started_at, heartbeat_at, status, new, changed, "
        "unchanged, failed, query_name, batch_id) VALUES (?, ?, ?, ?, 'running', 0, 0, 0, 0, "
        "?, ?)", (kind, _json(arguments), _stamp(started_at), _stamp(started_at), query_name,
                  batch_id)).lastrowid or 0)



def finish_run(conn: sqlite3.Connection, run_id: int, status: str, message: str | None) -> None:
    """As ``Catalogue.finish_run``: the run's outcome, now."""
    now = _stamp(utc_now())
    conn.execute("UPDATE run SET status = ?, message = ?, finished_at = ?, heartbeat_at = ? "
                 "WHERE id = ?", (status, message, now, now, run_id))


_SAVE_QUERY = (  # as syncstate.save_query
    "INSERT INTO saved_query (name, params, created_at, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (name) DO UPDATE SET params = excluded.params, "
    "created_at = excluded.created_at, updated_at = excluded.updated_at")
_SAVE_RESUME = (
    "INSERT INTO sync_state (query_key, params, resume, updated_at) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (query_key) DO UPDATE SET params = excluded.params, "
    "resume = excluded.resume, updated_at = excluded.updated_at")
_SAVE_SUCCESS = (
    "INSERT INTO sync_state (query_key, params, high_water, last_success_run_id, "
    "last_success_at, resume, updated_at) VALUES (?, ?, ?, ?, ?, NULL, ?) "
    "ON CONFLICT (query_key) DO UPDATE SET params = excluded.params, "
    "high_water = excluded.high_water, last_success_run_id = excluded.last_success_run_id, "
    "last_success_at = excluded.last_success_at, resume = excluded.resume, "
    "updated_at = excluded.updated_at")
