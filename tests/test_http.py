"""HttpClient: retry, politeness and robots policy, with a scripted transport and a fake clock.

The scripted tests mount an ``HTTPAdapter`` whose ``send`` replays a script, so requests'
own machinery (params, headers, timeouts, Response) is exercised without any socket.  The
last tests use a real HTTP server on 127.0.0.1 to prove the socket-level failure paths.
"""

from __future__ import annotations

import io
import pickle
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict

from harvester import __version__
from harvester.errors import FetchError, HarvesterError, HttpStatusError
from harvester.fetch.http import DEFAULT_USER_AGENT, HttpClient, Response

API = "https://api.test/api/v2"
Reply = tuple[int, Mapping[str, str], bytes]
Step = Reply | BaseException


class FakeTime:
    """A monotonic clock that only moves when slept on (or when a request 'takes' time)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ScriptedAdapter(HTTPAdapter):
    """Answers each request with the next step of a script: a reply or an exception."""

    def __init__(self, script: list[Step], fake: FakeTime, latency: float = 0.0) -> None:
        super().__init__()
        self.script = list(script)
        self.fake = fake
        self.latency = latency
        self.sent: list[PreparedRequest] = []
        self.timeouts: list[object] = []

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        self.sent.append(request)
        self.timeouts.append(timeout)
        self.fake.now += self.latency
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        status, headers, body = step
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response.raw = io.BytesIO(body)
        response.url = request.url or ""
        response.request = request
        return response


def ok(body: bytes = b'{"ok": true}', **headers: str) -> Reply:
    return (200, {"Content-Type": "application/json", **headers}, body)


def status(code: int, body: bytes = b"", **headers: str) -> Reply:
    return (code, {"Content-Type": "text/plain", **headers}, body)


def retry_after(value: str, **headers: str) -> Reply:
    return status(429, b"Too many requests", **{"Retry-After": value, **headers})


Make = Callable[..., tuple[HttpClient, ScriptedAdapter, FakeTime]]


@pytest.fixture
def make() -> Make:
    """Build a client over a scripted transport: ``make(script, **client_kwargs)``."""

    def build(
        script: list[Step], latency: float = 0.0, **kwargs: Any
    ) -> tuple[HttpClient, ScriptedAdapter, FakeTime]:
        fake = FakeTime()
        adapter = ScriptedAdapter(script, fake, latency)
        session = requests.Session()
        session.mount("https://", adapter)
        kwargs.setdefault("min_interval", 0.0)
        client = HttpClient(session=session, sleep=fake.sleep, clock=fake.clock, **kwargs)
        return client, adapter, fake

    return build


def counts(client: HttpClient) -> tuple[int, int, int]:
    return client.stats.requests, client.stats.retries, client.stats.give_ups


# -- plain success -------------------------------------------------------------------------


def test_get_sends_policy_headers_and_timeout(make: Make) -> None:
    client, adapter, fake = make([ok(b'{"a": [1]}')], latency=0.25, timeout=(3.0, 7.0))
    response = client.get(f"{API}/studies", {"pageSize": "2"})
    assert response.status == 200 and response.content == b'{"a": [1]}'
    assert response.url == f"{API}/studies?pageSize=2"
    assert response.headers["content-type"] == "application/json"  # case-insensitive
    assert response.json() == {"a": [1]}
    sent = adapter.sent[0]
    assert sent.headers["User-Agent"] == DEFAULT_USER_AGENT
    assert f"trial-harvester/{__version__} (clinical-trial registry harvester" in \
        DEFAULT_USER_AGENT
    assert sent.headers["Accept"] == "application/json"
    assert adapter.timeouts == [(3.0, 7.0)]
    assert counts(client) == (1, 0, 0) and fake.sleeps == []
    assert client.stats.http_seconds == pytest.approx(0.25)


def test_get_json_decodes(make: Make) -> None:
    client, _, _ = make([ok(b'{"studies": [], "totalCount": 0}')])
    assert client.get_json(f"{API}/studies") == {"studies": [], "totalCount": 0}


# -- retries -------------------------------------------------------------------------------


def test_429_retry_after_seconds_is_honoured(make: Make) -> None:
    client, _, fake = make([retry_after("7"), ok()], min_interval=1.0)
    assert client.get(API).status == 200
    # One wait of 7 s; the politeness interval (1 s) has long passed by then.
    assert fake.sleeps == [7.0]
    assert counts(client) == (2, 1, 0)
    assert client.stats.backoff_seconds == 7.0 and client.stats.throttle_seconds == 0.0


def test_429_without_retry_after_backs_off_with_full_jitter(make: Make) -> None:
    client, _, fake = make([status(429)] * 5 + [ok()], backoff_base=0.5, backoff_max=3.0)
    client.get(API)
    bounds = [0.5, 1.0, 2.0, 3.0, 3.0]  # 0.5·2^n capped at backoff_max; jitter picks below
    assert len(fake.sleeps) == 5
    assert all(0.0 <= w <= b for w, b in zip(fake.sleeps, bounds, strict=True))
    assert counts(client) == (6, 5, 0)
    assert client.stats.backoff_seconds == pytest.approx(sum(fake.sleeps))


def test_backoff_window_is_exponential(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pin the jitter to the top of its window to see the window itself.
    monkeypatch.setattr("tenacity.wait.random.uniform", lambda low, high: high)
    client, _, fake = make([status(503)] * 4 + [ok()], backoff_base=1.0, backoff_max=5.0)
    client.get(API)
    assert fake.sleeps == [1.0, 2.0, 4.0, 5.0]


def test_retry_after_http_date_against_server_date(make: Make) -> None:
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    client, _, fake = make([retry_after("Wed, 21 Oct 2026 07:28:30 GMT", Date=date), ok()])
    client.get(API)
    assert fake.sleeps == [30.0]


def test_retry_after_http_date_in_the_past_retries_at_once(make: Make) -> None:
    client, _, fake = make([retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), ok()])
    client.get(API)
    assert fake.sleeps == [0.0]


def test_retry_after_is_capped(make: Make) -> None:
    client, _, fake = make([retry_after("86400"), ok()], max_retry_after=120.0)
    client.get(API)
    assert fake.sleeps == [120.0]


def test_unparseable_retry_after_falls_back_to_backoff(make: Make) -> None:
    client, _, fake = make([retry_after("soon"), ok()], backoff_base=1.0)
    client.get(API)
    assert len(fake.sleeps) == 1 and 0.0 <= fake.sleeps[0] <= 1.0


def test_503_three_times_then_200(make: Make) -> None:
    client, _, fake = make([status(503, b"busy")] * 3 + [ok()])
    assert client.get(API).status == 200
    assert counts(client) == (4, 3, 0) and len(fake.sleeps) == 3


@pytest.mark.parametrize(
    "failure",
    [
        requests.ReadTimeout("read timed out"),
        requests.ConnectTimeout("connect timed out"),
        requests.ConnectionError("connection refused"),
        requests.exceptions.ChunkedEncodingError("connection broken: IncompleteRead"),
    ],
    ids=["read-timeout", "connect-timeout", "connection-error", "dropped-mid-body"],
)
def test_transport_failure_then_success(make: Make, failure: Exception) -> None:
    client, _, _ = make([failure, ok()])
    assert client.get(API).status == 200
    assert counts(client) == (2, 1, 0)


def test_body_shorter_than_content_length_is_retried(make: Make) -> None:
    client, _, _ = make([ok(b'{"stud', **{"Content-Length": "40"}), ok(b"{}")])
    assert client.get_json(API) == {}
    assert counts(client) == (2, 1, 0)


def test_give_up_after_max_attempts(make: Make) -> None:
    client, _, fake = make([status(503, b"down for maintenance")] * 3, max_attempts=3)
    with pytest.raises(FetchError) as caught:
        client.get(API)
    err = caught.value
    assert type(err) is FetchError  # exhausted retries are not a final status
    assert err.url == API
    assert "HTTP 503" in str(err) and "down for maintenance" in str(err)
    assert "gave up after 3 attempts" in str(err)
    assert counts(client) == (3, 2, 1) and len(fake.sleeps) == 2


def test_give_up_on_connection_errors(make: Make) -> None:
    client, _, _ = make([requests.ConnectionError("refused")] * 2, max_attempts=2)
    with pytest.raises(FetchError, match="ConnectionError"):
        client.get(API)
    assert counts(client) == (2, 1, 1)


def test_invalid_json_is_retried_then_given_up(make: Make) -> None:
    client, _, _ = make([ok(b'{"studies": [')] * 2 + [ok(b"[]")], max_attempts=3)
    assert client.get_json(API) == []
    client, _, _ = make([ok(b"<html>")] * 2, max_attempts=2)
    with pytest.raises(FetchError, match=f"^invalid JSON from {API}"):
        client.get_json(API)
    assert counts(client) == (2, 1, 1)


def test_response_json_raises_fetch_error() -> None:
    with pytest.raises(FetchError, match="invalid JSON from u: "):
        Response("u", 200, {}, b"nope").json()


# -- final statuses ------------------------------------------------------------------------


def test_404_raises_at_once_with_server_message(make: Make) -> None:
    client, _, fake = make([status(404, b"NCT number NCT99999999 not found")])
    url = f"{API}/studies/NCT99999999"
    with pytest.raises(HttpStatusError) as caught:
        client.get(url)
    assert (caught.value.status, caught.value.url) == (404, url)
    assert caught.value.message == "NCT number NCT99999999 not found"
    assert counts(client) == (1, 0, 0) and fake.sleeps == []


def test_404_allowed_is_returned(make: Make) -> None:
    client, _, _ = make([status(404, b"not found")])
    response = client.get(API, allow_404=True)
    assert (response.status, response.content) == (404, b"not found")
    assert counts(client) == (1, 0, 0)


def test_400_carries_collapsed_truncated_message_and_is_not_retried(make: Make) -> None:
    body = b"`bogusParam`  is\n unknown\tparameter " + b"x" * 1000
    client, _, _ = make([status(400, body), ok()])
    with pytest.raises(HttpStatusError) as caught:
        client.get(API, {"bogusParam": "1"})
    assert caught.value.status == 400
    assert caught.value.message.startswith("`bogusParam` is unknown parameter xxx")
    assert len(caught.value.message) == 500
    assert counts(client) == (1, 0, 0)


def test_library_errors_are_translated(make: Make) -> None:
    client, _, _ = make([])
    with pytest.raises(FetchError, match="cannot fetch"):
        client.get("not a url")  # requests' MissingSchema, raised before any transport
    assert counts(client) == (1, 0, 0)
    assert issubclass(HttpStatusError, FetchError) and issubclass(FetchError, HarvesterError)


def test_http_status_error_pickles() -> None:
    err = pickle.loads(pickle.dumps(HttpStatusError(400, "u", "bad")))
    assert (err.status, err.url, err.message, str(err)) == (400, "u", "bad", "HTTP 400 from u: bad")


# -- politeness ----------------------------------------------------------------------------


def test_min_interval_spaces_request_starts(make: Make) -> None:
    client, _, fake = make([ok()] * 3, min_interval=1.0)
    for _ in range(3):
        client.get(f"{API}/studies")
    assert fake.sleeps == [1.0, 1.0]
    assert client.stats.throttle_seconds == 2.0 and client.stats.backoff_seconds == 0.0


def test_min_interval_counts_from_request_start(make: Make) -> None:
    client, _, fake = make([ok()] * 3, latency=0.25, min_interval=1.0)
    for _ in range(3):
        client.get(API)
    assert fake.sleeps == [0.75, 0.75]


def test_min_interval_is_per_host_and_zero_disables(make: Make) -> None:
    client, _, fake = make([ok()] * 4, min_interval=1.0)
    client.get("https://a.test/x")
    client.get("https://b.test/x")
    assert fake.sleeps == []
    client, _, fake = make([ok()] * 3, min_interval=0.0)
    for _ in range(3):
        client.get(API)
    assert fake.sleeps == []


def test_short_backoff_is_topped_up_to_min_interval(make: Make) -> None:
    client, _, fake = make([retry_after("0.25"), ok()], min_interval=1.0)
    client.get(API)
    assert fake.sleeps == [0.25, 0.75]
    assert client.stats.backoff_seconds == 0.25 and client.stats.throttle_seconds == 0.75


# -- robots.txt ----------------------------------------------------------------------------


ROBOTS = b"User-agent: *\nDisallow: /private/\n"


def test_robots_disallow(make: Make) -> None:
    client, adapter, _ = make([ok(ROBOTS, **{"Content-Type": "text/plain"})])
    assert client.robots_allows(f"{API}/studies")
    assert not client.robots_allows("https://api.test/private/page")
    assert len(adapter.sent) == 1  # cached per origin
    assert adapter.sent[0].url == "https://api.test/robots.txt"
    assert adapter.sent[0].headers["Accept"] == "text/plain"
    assert counts(client) == (1, 0, 0)


def test_robots_crawl_delay_raises_interval(make: Make) -> None:
    robots = ok(b"User-agent: *\nCrawl-delay: 3\n")
    client, _, fake = make([robots, ok(), ok()], min_interval=1.0)
    assert client.robots_allows(API)
    client.get(API)
    client.get(API)
    assert fake.sleeps == [3.0, 3.0]  # the robots.txt fetch itself counts as a request start
    assert client.stats.throttle_seconds == 6.0 and counts(client) == (3, 0, 0)


def test_robots_crawl_delay_never_lowers_interval(make: Make) -> None:
    robots = ok(b"User-agent: *\nCrawl-delay: 3\n")
    client, _, fake = make([robots, ok()], min_interval=5.0)
    client.robots_allows(API)
    client.get(API)
    assert fake.sleeps == [5.0]


def test_robots_crawl_delay_for_another_agent_is_ignored(make: Make) -> None:
    robots = ok(b"User-agent: otherbot\nCrawl-delay: 30\n\nUser-agent: *\nAllow: /\n")
    client, _, fake = make([robots, ok()], min_interval=1.0)
    client.robots_allows(API)
    client.get(API)
    assert fake.sleeps == [1.0]


def test_robots_rules_for_our_agent_apply(make: Make) -> None:
    robots = ok(b"User-agent: trial-harvester\nDisallow: /api/\n\nUser-agent: *\nAllow: /\n")
    client, _, _ = make([robots])
    assert not client.robots_allows(API)


@pytest.mark.parametrize("code", [404, 403])
def test_robots_4xx_allows_everything(make: Make, code: int) -> None:
    client, _, fake = make([status(code, b"nope"), ok()], min_interval=1.0)
    assert client.robots_allows("https://api.test/private/anything")
    client.get(API)
    assert fake.sleeps == [1.0] and counts(client) == (2, 0, 0)


def test_robots_unreachable_raises_and_is_not_cached(make: Make) -> None:
    client, _, _ = make([status(503)] * 2 + [ok(ROBOTS)], max_attempts=2)
    with pytest.raises(FetchError):
        client.robots_allows(API)
    assert client.robots_allows(API)  # fetched again, now successfully
    assert counts(client) == (3, 1, 1)


def test_close_closes_only_a_session_it_owns(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[requests.Session] = []
    monkeypatch.setattr(requests.Session, "close", lambda self: closed.append(self))
    injected = requests.Session()
    with HttpClient(session=injected):
        pass
    assert closed == []  # the injector owns it
    with HttpClient() as client:
        pass
    assert closed == [client._session]


# -- a real socket on 127.0.0.1 ------------------------------------------------------------

BODY = b'{"studies": [' + b'{"n": 1},' * 200 + b'{"n": 2}]}'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: dict[str, int]

    def do_GET(self) -> None:
        hit = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        first = hit == 1
        if self.path == "/slow" and first:
            time.sleep(0.4)  # longer than the client's read timeout
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        try:
            if self.path == "/drop" and first:
                self.wfile.write(BODY[:100])  # then hang up: the body is cut short
                self.close_connection = True
            else:
                self.wfile.write(BODY)
        except OSError:
            self.close_connection = True  # the client gave up on us already

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, int]]]:
    hits: dict[str, int] = {}
    handler = type("Handler", (_Handler,), {"hits": hits})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def real_client(read_timeout: float) -> tuple[HttpClient, list[float]]:
    waits: list[float] = []
    session = requests.Session()
    session.trust_env = False  # never route 127.0.0.1 through an environment proxy
    client = HttpClient(
        session=session, timeout=(1.0, read_timeout), min_interval=0.0, sleep=waits.append
    )
    return client, waits


def test_real_connection_dropped_mid_body_is_retried(
    server: tuple[str, dict[str, int]],
) -> None:
    base, hits = server
    client, waits = real_client(read_timeout=2.0)
    with client:
        assert client.get(f"{base}/drop").content == BODY
        assert client.get_json(f"{base}/whole")["studies"][-1] == {"n": 2}
    assert hits == {"/drop": 2, "/whole": 1}
    assert counts(client) == (3, 1, 0) and len(waits) == 1


def test_real_read_timeout_is_retried(server: tuple[str, dict[str, int]]) -> None:
    base, hits = server
    client, waits = real_client(read_timeout=0.1)
    with client:
        assert client.get(f"{base}/slow").content == BODY
    assert hits == {"/slow": 2}
    assert counts(client) == (2, 1, 0) and len(waits) == 1
