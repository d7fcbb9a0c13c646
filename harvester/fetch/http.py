"""The one HTTP client of the harvester: it owns all network policy.

Politeness (a minimum interval between request starts per host, raised by robots.txt
``Crawl-delay``), retries (429, 5xx, timeouts, dropped connections, truncated bodies),
deadlines and error translation all live here, so callers only see :class:`Response`, decoded
JSON or the project's :class:`~harvester.errors.FetchError` tree.  ``sleep`` and ``clock`` are
injectable so tests never wait for real, and so is the transport: any ``requests``-compatible
session.  Not thread-safe: the politeness bookkeeping assumes one caller.

Every wait is bounded.  ``timeout`` is each request's overall deadline — connecting, the
headers and the whole body (a watchdog, :mod:`harvester.fetch.body`, ends a body that
trickles in) — so one request takes at most ``timeout`` × ``max_attempts`` plus the backoff.
``budget`` bounds all the requests of the client's life (a command): once spent, nothing more
is sent and the request under way ends with :class:`~harvester.errors.FetchError`.  Probes
(robots.txt, ``/version``) use a short deadline and two attempts.  Proxies come from the
standard variables (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``), as ``requests`` reads them.
"""

from __future__ import annotations

import time
import urllib.robotparser
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from email.utils import mktime_tz, parsedate_tz
from types import TracebackType
from typing import Any, TypeVar

import msgspec
import requests
from requests.structures import CaseInsensitiveDict
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type
from tenacity.stop import stop_after_attempt
from tenacity.wait import wait_random_exponential

from harvester.errors import FetchError, HttpStatusError, RefusedError
from harvester.fetch import DEFAULT_USER_AGENT as DEFAULT_USER_AGENT  # re-exported
from harvester.fetch.body import DeadlineExceeded, read_body
from harvester.fetch.pace import origin as _origin
from harvester.fetch.pace import take_turn
from harvester.fetch.summary import FetchStats as FetchStats  # re-exported

_MESSAGE_CHARS = 500
#: The overall deadline of one request, in seconds, unless told otherwise (--timeout).
DEFAULT_TIMEOUT = 60.0
#: Probes (robots.txt, /version) give up sooner: they must not hold up the harvest.
PROBE_TIMEOUT = 10.0
PROBE_ATTEMPTS = 2
_MAX_CONNECT = 10.0
T = TypeVar("T")

# Transport failures worth another attempt: the request may well succeed next time.
# ChunkedEncodingError is what requests raises when a body ends before its Content-Length;
# ContentDecodingError is a gzip stream cut short.
_TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    requests.Timeout,
    requests.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class Response:
    url: str
    status: int
    headers: Mapping[str, str] = field(repr=False, hash=False)  # case-insensitive, unhashable
    content: bytes = field(repr=False)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return msgspec.json.decode(self.content)
        except msgspec.DecodeError as exc:
            raise FetchError(f"invalid JSON from {self.url}: {exc}", url=self.url) from exc


class Incomplete(Exception):
    """Raised by a decode step given to :meth:`HttpClient.fetch`: the body looks cut short
    (a complete HTTP message can still carry half a document), so the request is retried."""


class _Retryable(Exception):
    """One failed attempt that may succeed if repeated; ``retry_after`` is the server's hint."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _server_message(content: bytes) -> str:
    # API v2 errors are text/plain one-liners; collapse whitespace so HTML error pages from a
    # proxy still give a readable (bounded) message.
    return " ".join(content.decode("utf-8", errors="replace").split())[:_MESSAGE_CHARS]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (delta-seconds or an HTTP date), or None."""
    value = headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        pass
    when = parsedate_tz(value)
    if when is None:
        return None  # unparseable: fall back to our own backoff
    # Measure a date against the server's own Date header when given: immune to clock skew.
    now = parsedate_tz(headers.get("Date", ""))
    return max(0.0, mktime_tz(when) - (mktime_tz(now) if now else time.time()))


class _WaitRetryAfterElseJitter:
    """tenacity wait: the server's Retry-After (capped) when given, else full-jitter backoff."""

    def __init__(self, fallback: wait_random_exponential, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.cap)
        return self.fallback(state)


class HttpClient:
    """GET with politeness, retries and error translation; see the module docstring."""

    def __init__(
        self,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        budget: float | None = None,
        min_interval: float = 1.0,
        max_attempts: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        max_retry_after: float = 300.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.user_agent = user_agent
        # A (connect, deadline) pair is accepted too, as the older (connect, read) one was.
        if isinstance(timeout, tuple):
            self.connect_timeout, self.timeout = float(timeout[0]), float(timeout[1])
        else:
            self.timeout = float(timeout)
            self.connect_timeout = min(self.timeout, _MAX_CONNECT)
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.budget = budget
        self._budget_end = None if budget is None else clock() + budget
        self.min_interval = min_interval
        self.max_retry_after = max_retry_after
        self.stats = FetchStats()
        self._sleep = sleep
        self._clock = clock
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        # requests' default Accept is */*; the API answers JSON and we want to say so.
        self._session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        # Shared pacing (several clients or processes keeping one interval between them):
        # called as pacer(origin, interval), it reserves the next slot and says how long to
        # wait for it.  None: this client keeps the interval on its own.
        self.pacer: Callable[[str, float], float] | None = None
        self._last_start: dict[str, float] = {}  # origin -> clock() at the last request start
        self._interval: dict[str, float] = {}  # origin -> interval raised by Crawl-delay
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        # The whole retry policy, declared once.  reraise=False so exhaustion surfaces as
        # RetryError (counted as a give-up); non-retryable errors propagate unchanged.
        self._retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            stop=stop_after_attempt(max(max_attempts, 1)),
            wait=_WaitRetryAfterElseJitter(
                wait_random_exponential(multiplier=backoff_base, max=backoff_max),
                cap=max_retry_after,
            ),
            sleep=self._backoff_sleep,
            before_sleep=self._count_retry,
            reraise=False,
        )
        # Probes: the same policy, but fewer attempts (and a shorter deadline per attempt).
        self._probing = self._retrying.copy(stop=stop_after_attempt(
            min(max(max_attempts, 1), PROBE_ATTEMPTS)))

    # -- public API ----------------------------------------------------------------------

    def get(
        self, url: str, params: Mapping[str, str] | None = None, *, allow_404: bool = False,
        accept: str = "application/json", probe: bool = False,
    ) -> Response:
        """GET ``url``; a 404 is returned rather than raised when ``allow_404``.  A ``probe``
        (a request the work can do without) gets a short deadline and two attempts."""
        return self._run(self._attempt, url, params, allow_404, accept, probe=probe)

    def fetch(
        self, url: str, decode: Callable[[Response], T],
        params: Mapping[str, str] | None = None, *, allow_404: bool = False,
        accept: str = "application/json", probe: bool = False,
    ) -> T:
        """GET ``url`` and ``decode`` the response, both under the retry policy: a decode
        that raises :class:`Incomplete` retries the request.  With ``allow_404``, a 404
        response is decoded too (``decode`` sees its status)."""

        def attempt(*args: Any) -> T:
            response = self._attempt(*args)
            try:
                return decode(response)
            except Incomplete as exc:
                raise _Retryable(str(exc)) from None

        return self._run(attempt, url, params, allow_404, accept, probe=probe)

    def get_json(self, url: str, params: Mapping[str, str] | None = None, *,
                 probe: bool = False) -> Any:
        """GET ``url`` and decode its JSON; an undecodable body is retried like a dropped one."""

        def decode(response: Response) -> Any:
            try:
                return response.json()
            except FetchError as exc:  # most likely a page cut short: try again
                raise Incomplete(str(exc)) from exc

        return self.fetch(url, decode, params, probe=probe)

    def robots_allows(self, url: str, *, lines: list[str] | None = None) -> bool:
        """Whether robots.txt lets our user agent fetch ``url`` (fetched once per origin;
        ``lines``: its lines as fetched already, by :mod:`harvester.fetch.quickhttp`)."""
        origin = _origin(url)
        parser = self._robots.get(origin)
        if parser is None:
            parser = urllib.robotparser.RobotFileParser()
            robots_url = f"{origin}/robots.txt"
            try:
                if lines is None:
                    lines = self._run(
                        self._attempt, robots_url, None, False, "text/plain", probe=True
                    ).text.splitlines()
            except HttpStatusError:
                lines = []  # RFC 9309 §2.3.1.3: a 4xx robots.txt is "unavailable": allow all
            parser.parse(lines)  # no lines, no rules: everything is allowed
            delay = parser.crawl_delay(self.user_agent)
            if delay is not None:
                # Never below our own floor; capped like Retry-After so a hostile value
                # cannot stall the harvest.
                raised = min(float(delay), self.max_retry_after)
                self._interval[origin] = max(self.min_interval, raised)
            self._robots[origin] = parser  # failures above raise and are not cached
        return parser.can_fetch(self.user_agent, url)

    def took_over(self, stats: FetchStats, last_start: Mapping[str, float]) -> None:
        """Count the requests another client made for this one (the light path of a sync,
        :mod:`harvester.fetch.quicksync`), and keep the pace from its last request."""
        for name, value in asdict(stats).items():
            setattr(self.stats, name, getattr(self.stats, name) + value)
        self._last_start.update(last_start)

    def close(self) -> None:
        if self._owns_session:  # an injected session belongs to whoever injected it
            self._session.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- machinery -----------------------------------------------------------------------

    def _run(self, attempt: Callable[..., T], url: str, *args: Any, probe: bool = False) -> T:
        retrying = self._probing if probe else self._retrying
        try:
            return retrying(attempt, url, *args, PROBE_TIMEOUT if probe else None)
        except RetryError as exc:
            self.stats.give_ups += 1
            last = exc.last_attempt
            reason = last.exception()
            raise FetchError(
                f"{reason} (gave up after {last.attempt_number} attempts)", url=url
            ) from reason

    def _attempt(
        self, url: str, params: Mapping[str, str] | None, allow_404: bool, accept: str,
        limit: float | None = None,
    ) -> Response:
        self._throttle(url)
        deadline = min(self.timeout, limit or self.timeout, self._budget_left(url))
        self.stats.requests += 1
        started = self._clock()
        wall = time.monotonic()  # the watchdog's real time, whatever clock is injected
        try:
            r = self._session.get(
                url, params=params, timeout=(min(self.connect_timeout, deadline), deadline),
                headers={"Accept": accept}, stream=True,
            )
            content = read_body(r, deadline - (time.monotonic() - wall))
        except DeadlineExceeded as exc:
            self.stats.deadlines += 1
            raise _Retryable(f"no complete answer from {url} within the {deadline:g} s "
                             f"deadline ({exc})") from None
        except requests.exceptions.SSLError as exc:  # a bad certificate does not heal itself
            raise FetchError(f"TLS error fetching {url}: {exc}", url=url) from exc
        except requests.Timeout as exc:  # no connection, or no headers, within the deadline
            self.stats.deadlines += 1
            raise _Retryable(f"no answer from {url} within the {deadline:g} s deadline "
                             f"({type(exc).__name__})") from exc
        except requests.exceptions.ProxyError as exc:  # a proxy we were told to use
            raise _Retryable(f"proxy error fetching {url}: {exc}") from exc
        except _TRANSIENT_ERRORS as exc:
            raise _Retryable(f"{type(exc).__name__} fetching {url}: {exc}") from exc
        except requests.RequestException as exc:  # bad URL, redirect loop …: retrying won't help
            raise FetchError(f"cannot fetch {url}: {exc}", url=url) from exc
        finally:
            self.stats.http_seconds += self._clock() - started
        response = Response(r.url or url, r.status_code, CaseInsensitiveDict(r.headers), content)
        status = response.status
        if status == 403:  # a CDN or firewall turning this client away: asking again won't help
            raise RefusedError(status, response.url, _server_message(response.content))
        if status == 429 or status >= 500:
            raise _Retryable(
                f"HTTP {status} from {response.url}: {_server_message(response.content)}",
                _retry_after(response.headers),
            )
        if status >= 400 and not (status == 404 and allow_404):
            raise HttpStatusError(status, response.url, _server_message(response.content))
        declared = response.headers.get("Content-Length", "")
        encoded = response.headers.get("Content-Encoding", "identity") != "identity"
        # requests already raises for short bodies on a real socket; this also covers any
        # transport that does not (the length only matches the bytes when not gzip-encoded).
        if declared.isdigit() and not encoded and len(response.content) < int(declared):
            raise _Retryable(
                f"body from {response.url} cut short: {len(response.content)} of {declared} bytes"
            )
        return response

    def _throttle(self, url: str) -> None:
        origin = _origin(url)
        interval = self._interval.get(origin, self.min_interval)
        if self.pacer is not None and interval > 0:
            wait = self.pacer(origin, interval)
            if wait > 0:
                self.stats.throttle_seconds += wait
                self._sleep(wait)
            self._last_start[origin] = self._clock()
            return
        take_turn(self._last_start, origin, interval, clock=self._clock, sleep=self._sleep,
                  stats=self.stats)

    def _budget_left(self, url: str) -> float:
        """Seconds left of the budget (infinite without one); FetchError when spent."""
        if self._budget_end is None:
            return float("inf")
        left = self._budget_end - self._clock()
        if left <= 0:
            raise FetchError(f"the time budget of {self.budget:g} s is spent (--budget); "
                             f"not fetching {url}", url=url)
        return left

    def _backoff_sleep(self, seconds: float) -> None:
        if self._budget_end is not None and self._clock() + seconds >= self._budget_end:
            raise FetchError(f"the time budget of {self.budget:g} s would be spent waiting "
                             f"{seconds:.3g} s to retry (--budget)")
        self.stats.backoff_seconds += seconds
        self._sleep(seconds)

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1


class LocalPace:
    """A pacer (see ``HttpClient.pacer``) shared by the clients of one process's threads:
    together they keep one interval per origin."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        import threading

        self._clock = clock
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, origin: str, interval: float) -> float:
        with self._lock:
            now = self._clock()
            slot = max(self._next.get(origin, now), now)
            self._next[origin] = slot + interval
            return slot - now
