"""Every network wait is bounded: request deadlines (harvester/fetch/body.py), the command's
budget, fast probes, 403 hints and proxies, against the loopback replica's hostile faults."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from harvester.errors import FetchError, RefusedError
from harvester.fetch.body import DeadlineExceeded, read_body
from harvester.fetch.ctgov import CtgovApi
from harvester.fetch.http import HttpClient
from harvester.serve import ReplicaServer, StudyStore
from tests.test_sync import generated

STUDIES = "/api/v2/studies"


@pytest.fixture
def replica() -> Iterator[ReplicaServer]:
    with ReplicaServer(StudyStore(generated(30))) as server:
        yield server


def client(**kwargs: Any) -> HttpClient:
    session = requests.Session()
    session.trust_env = False  # never route 127.0.0.1 through an environment proxy
    kwargs.setdefault("min_interval", 0.0)
    kwargs.setdefault("max_attempts", 2)
    return HttpClient(session=session, sleep=lambda s: None, **kwargs)


def page_url(server: ReplicaServer) -> str:
    return f"{server.base_url}{STUDIES}?pageSize=30&format=json"


def test_a_trickling_body_is_cut_off_at_the_deadline(replica: ReplicaServer) -> None:
    replica.faults.trickle(2, interval=0.05, path=STUDIES)  # ~10 KB at 20 bytes a second
    http = client(timeout=0.4)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"within the 0.4 s deadline.*gave up after 2"):
        http.get(page_url(replica))
    assert time.monotonic() - started < 2.0  # 2 attempts × 0.4 s, not hours
    assert (http.stats.requests, http.stats.deadlines, http.stats.give_ups) == (2, 2, 1)


def test_a_trickle_then_an_answer_is_retried_whole(replica: ReplicaServer) -> None:
    replica.faults.trickle(1, interval=0.05, path=STUDIES)
    http = client(timeout=0.3)
    page = http.get_json(page_url(replica))
    assert len(page["studies"]) == 30
    assert (http.stats.requests, http.stats.retries, http.stats.deadlines) == (2, 1, 1)


def test_a_server_that_never_answers_is_bounded(replica: ReplicaServer) -> None:
    replica.faults.stall(3, path=STUDIES)
    http = client(timeout=0.3, max_attempts=3)
    started = time.monotonic()
    with pytest.raises(FetchError, match="gave up after 3 attempts"):
        http.get(page_url(replica))
    assert time.monotonic() - started < 3.0
    assert http.stats.requests == 3


def test_the_budget_bounds_a_whole_command(replica: ReplicaServer) -> None:
    replica.faults.stall(100, path=STUDIES)
    http = client(timeout=0.3, max_attempts=50, budget=1.0)
    http._sleep = time.sleep  # real backoff, so the budget really runs out
    http._retrying.wait = lambda state: 0.05  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"time budget of 1 s"):
        http.get(page_url(replica))
    assert time.monotonic() - started < 2.5
    assert 2 <= http.stats.requests < 10


def test_403_is_refused_at_once_with_what_to_try(replica: ReplicaServer) -> None:
    replica.faults.forbidden(1, path=STUDIES)
    http = client(max_attempts=6)
    with pytest.raises(RefusedError) as caught:
        http.get(page_url(replica))
    message = str(caught.value)
    assert "HTTP 403" in message and "refused by the server (possibly blocked)" in message
    for hint in ("User-Agent", "HTTPS_PROXY", "--min-interval"):
        assert hint in message
    assert caught.value.status == 403
    assert (http.stats.requests, http.stats.retries) == (1, 0)


@pytest.mark.parametrize("arm", [
    lambda f: f.reset(1, path=STUDIES),
    lambda f: f.wrong_length(1, delta=64, path=STUDIES),  # promises more than it sends
    lambda f: f.wrong_length(1, delta=-64, path=STUDIES),  # the client stops short
], ids=["reset", "length-too-long", "length-too-short"])
def test_broken_bodies_are_retried(replica: ReplicaServer, arm: Any) -> None:
    arm(replica.faults)
    api = CtgovApi(client(timeout=5.0), replica.base_url)
    (page,) = list(api.pages({}, page_size=30))
    assert len(page.studies) == 30
    assert (api.client.stats.requests, api.client.stats.retries) == (2, 1)


def test_probes_fail_fast_and_do_not_block_the_harvest(replica: ReplicaServer) -> None:
    replica.faults.stall(10, path="/api/v2/version")
    replica.faults.stall(10, path="/robots.txt")
    http = client(timeout=30.0, max_attempts=6)
    api = CtgovApi(http, replica.base_url)
    import harvester.fetch.http as module

    started = time.monotonic()
    old = module.PROBE_TIMEOUT
    module.PROBE_TIMEOUT = 0.2  # the probe deadline, shortened for the test
    try:
        with pytest.raises(FetchError, match="gave up after 2 attempts"):
            api.version()
        with pytest.raises(FetchError):
            http.robots_allows(f"{replica.base_url}{STUDIES}")
    finally:
        module.PROBE_TIMEOUT = old
    assert time.monotonic() - started < 2.0
    assert replica.faults.count("/api/v2/version") == 2 == replica.faults.count("/robots.txt")
    (page,) = list(api.pages({}, page_size=30))  # the search still answers
    assert len(page.studies) == 30


class _Proxy(BaseHTTPRequestHandler):
    """A forward HTTP proxy on 127.0.0.1 that records the absolute URLs it was asked for."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.path, timeout=5) as upstream:
            body = upstream.read()
            self.send_response(upstream.status)
            for name in ("Content-Type",):
                self.send_header(name, upstream.headers[name])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_standard_proxy_variables_are_honoured(replica: ReplicaServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), type("P", (_Proxy,), {"seen": seen}))
    proxy.daemon_threads = True
    thread = threading.Thread(target=proxy.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        with HttpClient(min_interval=0, max_attempts=1) as http:  # its own session
            api = CtgovApi(http, replica.base_url)
            assert api.version()["apiVersion"]
        assert seen == [f"{replica.base_url}/api/v2/version"]
    finally:
        proxy.shutdown()
        proxy.server_close()


class _Canned:
    """A response that reads from no socket, as an injected session might return."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.raw = None

    def close(self) -> None:
        pass


def test_read_body_without_a_socket() -> None:
    assert read_body(_Canned(b"whole"), 5.0) == b"whole"


def test_read_body_reports_a_deadline_that_fired() -> None:
    class Slow(_Canned):
        @property
        def content(self) -> bytes:  # type: ignore[override]
            time.sleep(0.2)
            return b"late"

        @content.setter
        def content(self, value: bytes) -> None:
            pass

    with pytest.raises(DeadlineExceeded):
        read_body(Slow(b""), 0.05)
