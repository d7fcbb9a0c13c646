"""A few GET requests with the standard library's :mod:`http.client`, for a sync that most
likely finds nothing new (:mod:`harvester.fetch.quicksync`).

``requests``, ``urllib3`` and ``tenacity`` take longer to import than such a sync takes to
run.  This client keeps the same politeness (an interval between request starts per origin,
raised by robots.txt ``Crawl-delay``), sends the same headers and counts into the same
:class:`~harvester.fetch.summary.FetchStats`, but never retries and never follows a
redirect: anything but a plain answer raises :class:`Unsure`, and the caller hands the work to
:class:`~harvester.fetch.http.HttpClient` and its retry policy.
"""

from __future__ import annotations

import http.client
import os
import time
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from harvester.fetch.pace import origin, take_turn
from harvester.fetch.summary import FetchStats

if TYPE_CHECKING:
    import ssl

#: As :mod:`harvester.fetch.http` (tests/test_quicksync.py checks they agree).
PROBE_TIMEOUT = 10.0
MAX_RETRY_AFTER = 300.0


class Unsure(Exception):
    """The light path cannot tell: a failed, redirected or unexpected answer.  ``retryable``:
    the full client would try again (429, 5xx, a dropped or cut-short answer, a deadline),
    after ``retry_after`` seconds when the server said so."""

    def __init__(self, reason: str, *, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after


class QuickClient:
    """GET over one kept-alive connection per origin; see the module docstring."""

    def __init__(self, *, user_agent: str, timeout: float, min_interval: float) -> None:
        self.user_agent = user_agent
        self.timeout = timeout
        self.min_interval = min_interval
        self.stats = FetchStats()
        self.last_start: dict[str, float] = {}  # origin -> time.monotonic() of the last start
        self.interval: dict[str, float] = {}  # origin -> interval raised by Crawl-delay
        self.robots: dict[str, list[str]] = {}  # origin -> robots.txt's lines, once asked
        self._connections: dict[str, http.client.HTTPConnection] = {}

    def get(self, url: str, params: Mapping[str, str] | None = None, *,
            accept: str = "application/json", probe: bool = False,
            allow_4xx: bool = False) -> tuple[int, bytes]:
        """(status, body) of a 200 answer (or of a 4xx one, with ``allow_4xx``)."""
        parts = urlsplit(url)
        here = origin(url)
        self._throttle(here)
        deadline = min(self.timeout, PROBE_TIMEOUT) if probe else self.timeout
        target = (parts.path or "/") + (f"?{urlencode(params)}" if params else "")
        self.stats.requests += 1
        started = time.monotonic()
        try:
            conn = self._connection(here, parts.scheme.lower(), parts.netloc, deadline)
            conn.request("GET", target, headers={
                "User-Agent": self.user_agent, "Accept": accept,
                "Accept-Encoding": "gzip, deflate", "Connection": "keep-alive"})
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Unsure(f"{type(exc).__name__} fetching {url}: {exc}",
                         retryable=True) from None
        finally:
            self.stats.http_seconds += time.monotonic() - started
        if time.monotonic() - started > deadline:
            raise Unsure(f"no complete answer from {url} within {deadline:g} s",
                         retryable=True)
        status = response.status
        if status == 429 or status >= 500:
            raise Unsure(f"HTTP {status} from {url}", retryable=True,
                         retry_after=_retry_after(response.getheader("Retry-After", "")))
        if not (status == 200 or (allow_4xx and 400 <= status < 500 and status != 403)):
            raise Unsure(f"HTTP {status} from {url}")
        return status, _decoded(body, response.getheader("Content-Encoding", "identity"))

    def backoff(self, retry_after: float | None) -> None:
        """Wait before the full client's first retry as it would have waited (the server's
        Retry-After, capped, else full jitter for a first retry), counted as it counts it."""
        import random

        seconds = (min(retry_after, MAX_RETRY_AFTER) if retry_after is not None
                   else random.uniform(0, 1.0))
        self.stats.retries += 1
        self.stats.backoff_seconds += seconds
        time.sleep(seconds)

    def _connection(self, origin: str, scheme: str, netloc: str,
                    deadline: float) -> http.client.HTTPConnection:
        conn = self._connections.get(origin)
        if conn is None:
            if scheme == "http":
                conn = http.client.HTTPConnection(netloc, timeout=deadline)
            elif scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=deadline,
                                                   context=_tls_context())
            else:
                raise Unsure(f"not an HTTP URL: {origin}")
            self._connections[origin] = conn
        conn.timeout = deadline
        if conn.sock is not None:
            conn.sock.settimeout(deadline)
        return conn

    def _throttle(self, origin: str) -> None:
        take_turn(self.last_start, origin, self.interval.get(origin, self.min_interval),
                  clock=time.monotonic, sleep=time.sleep, stats=self.stats)

    def crawl_delay(self, origin: str, lines: list[str]) -> None:
        """Let robots.txt's ``Crawl-delay`` for our user agent raise the origin's interval,
        as :meth:`HttpClient.robots_allows` does."""
        if not any("crawl-delay" in line.lower() for line in lines):
            return
        import urllib.robotparser

        parser = urllib.robotparser.RobotFileParser()
        parser.parse(lines)
        delay = parser.crawl_delay(self.user_agent)
        if delay is not None:
            self.interval[origin] = max(self.min_interval,
                                        min(float(delay), MAX_RETRY_AFTER))

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()


def _tls_context() -> ssl.SSLContext:
    """Certificates checked as ``requests`` checks them: against ``REQUESTS_CA_BUNDLE`` or
    ``CURL_CA_BUNDLE`` when set, else certifi's bundle."""
    import ssl

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle is None:
        import certifi

        bundle = certifi.where()
    if os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle)


def _retry_after(value: str) -> float | None:
    """Retry-After in seconds (an HTTP date is left to the full client's rules: None)."""
    try:
        return max(0.0, float(value)) if value.strip() else None
    except ValueError:
        return None


def _decoded(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding == "gzip":
            return zlib.decompress(body, 47)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -15)
    except zlib.error as exc:
        raise Unsure(f"a {encoding} body that does not inflate: {exc}",
                     retryable=True) from None
    if encoding != "identity":
        raise Unsure(f"an answer in {encoding}")
    return body
