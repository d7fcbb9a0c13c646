"""Fault injection switches and request counters, flipped by tests while a harvest runs.

Faults are armed in order and consumed first-armed-first: each request takes at most one
fault, from the oldest armed switch whose path prefix matches its path.  So
``rate_limit(2); unavailable(1)`` answers the next three requests 429, 429, 503.

The hostile ones (``stall``, ``trickle``, ``forbidden``, ``reset``, ``wrong_length``) play the
networks a harvest meets in the wild: a server that accepts and never answers, one that sends
its headers then a byte at a time, a CDN that refuses the client, a connection reset mid-body,
a Content-Length that does not match the body.  Waits end early when the server stops
(:meth:`Faults.release`), so no test leaves a thread sleeping.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["rate_limit", "unavailable", "drop_connection", "truncate", "slow",
                    "stall", "trickle", "forbidden", "reset", "wrong_length"]


@dataclass(frozen=True, slots=True)
class Fault:
    """What happens to one request."""

    kind: FaultKind
    retry_after: float | None = None  # rate_limit / unavailable: the Retry-After header
    seconds: float = 0.0  # slow, stall: the delay before answering; trickle: between bytes
    length_delta: int = 0  # wrong_length: Content-Length minus the bytes actually sent


@dataclass
class _Armed:
    fault: Fault
    remaining: int
    path: str


class Faults:
    """Thread-safe fault switches plus counts of the requests the replica received."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self._requests: Counter[str] = Counter()
        self._log: list[tuple[str, str]] = []
        self._released = threading.Event()

    # --- switches -----------------------------------------------------------------------------

    def _arm(self, fault: Fault, n: int, path: str) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, not {n}")
        with self._lock:
            if n:
                self._armed.append(_Armed(fault, n, path))

    def rate_limit(self, n: int = 1, retry_after: float | None = None, *, path: str = "") -> None:
        """The next ``n`` requests get 429, with ``Retry-After: <retry_after>`` if given.

        The header is written as an integer when ``retry_after`` is whole, else as a decimal
        (``0.05``) so tests can stay fast; clients should accept both.
        """
        self._arm(Fault("rate_limit", retry_after=retry_after), n, path)

    def unavailable(self, n: int = 1, retry_after: float | None = None, *, path: str = "") -> None:
        """The next ``n`` requests get 503 (optionally with ``Retry-After``)."""
        self._arm(Fault("unavailable", retry_after=retry_after), n, path)

    def drop_connection(self, n: int = 1, *, path: str = "") -> None:
        """The next ``n`` responses send their headers and half their body, then hang up."""
        self._arm(Fault("drop_connection"), n, path)

    def truncate(self, n: int = 1, *, path: str = "") -> None:
        """The next ``n`` responses are complete HTTP messages whose body is cut in half."""
        self._arm(Fault("truncate"), n, path)

    def slow(self, seconds: float, n: int = 1, *, path: str = "") -> None:
        """The next ``n`` requests wait ``seconds`` before being answered normally."""
        self._arm(Fault("slow", seconds=seconds), n, path)

    def stall(self, n: int = 1, *, seconds: float = 3600.0, path: str = "") -> None:
        """The next ``n`` requests are accepted and get no answer at all for ``seconds`` (or
        until the server stops), then the connection is closed without a response."""
        self._arm(Fault("stall", seconds=seconds), n, path)

    def trickle(self, n: int = 1, *, interval: float = 0.2, path: str = "") -> None:
        """The next ``n`` responses send ``200`` and their headers at once, then the body one
        byte every ``interval`` seconds: no single socket read ever times out."""
        self._arm(Fault("trickle", seconds=interval), n, path)

    def forbidden(self, n: int = 1, *, path: str = "") -> None:
        """The next ``n`` requests get ``403 Forbidden`` with an HTML page, as a CDN or web
        application firewall answers a client it blocks."""
        self._arm(Fault("forbidden"), n, path)

    def reset(self, n: int = 1, *, path: str = "") -> None:
        """The next ``n`` responses send half their body, then the connection is reset (RST,
        not an orderly close)."""
        self._arm(Fault("reset"), n, path)

    def wrong_length(self, n: int = 1, *, delta: int = 64, path: str = "") -> None:
        """The next ``n`` responses declare a Content-Length ``delta`` bytes off the body
        they send in full (more: the client waits for bytes that never come until the server
        hangs up; fewer: the client stops reading early and holds a cut document)."""
        self._arm(Fault("wrong_length", length_delta=delta), n, path)

    def release(self) -> None:
        """End every stall and trickle now, and those to come (the server is stopping)."""
        self._released.set()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless released first; True when released."""
        return self._released.wait(seconds)

    def clear(self) -> None:
        """Disarm every pending fault (counters are kept: see :meth:`reset_counts`)."""
        with self._lock:
            self._armed.clear()

    @property
    def pending(self) -> int:
        """How many faulty responses are still armed."""
        with self._lock:
            return sum(armed.remaining for armed in self._armed)

    # --- used by the app ----------------------------------------------------------------------

    def take(self, path: str) -> Fault | None:
        """Consume the fault for a request to ``path``, if one is armed for it."""
        with self._lock:
            for i, armed in enumerate(self._armed):
                if path.startswith(armed.path):
                    armed.remaining -= 1
                    if armed.remaining == 0:
                        del self._armed[i]
                    return armed.fault
        return None

    def record(self, path: str, query: str) -> None:
        """Count a received request (faulty or not)."""
        with self._lock:
            self._requests[path] += 1
            self._log.append((path, query))

    # --- counters -----------------------------------------------------------------------------

    @property
    def requests(self) -> Counter[str]:
        """Requests received so far, by path (a copy)."""
        with self._lock:
            return Counter(self._requests)

    @property
    def log(self) -> list[tuple[str, str]]:
        """Every request received so far, in order, as ``(path, raw query string)`` (a copy)."""
        with self._lock:
            return list(self._log)

    def count(self, prefix: str = "") -> int:
        """Requests received whose path starts with ``prefix``."""
        with self._lock:
            return sum(n for path, n in self._requests.items() if path.startswith(prefix))

    def reset_counts(self) -> None:
        with self._lock:
            self._requests.clear()
            self._log.clear()
