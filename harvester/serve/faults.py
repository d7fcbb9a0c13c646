"""Fault injection switches and request counters, flipped by tests while a harvest runs.

Faults are armed in order and consumed first-armed-first: each request takes at most one
fault, from the oldest armed switch whose path prefix matches its path.  So
``rate_limit(2); unavailable(1)`` answers the next three requests 429, 429, 503.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["rate_limit", "unavailable", "drop_connection", "truncate", "slow"]


@dataclass(frozen=True, slots=True)
class Fault:
    """What happens to one request."""

    kind: FaultKind
    retry_after: float | None = None  # rate_limit / unavailable: the Retry-After header
    seconds: float = 0.0  # slow: the delay before answering


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
