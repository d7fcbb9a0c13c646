"""Politeness between requests to one origin, shared by the HTTP client
(:mod:`harvester.fetch.http`) and the light no-change sync's client
(:mod:`harvester.fetch.quickhttp`): standard library only, so the light path stays light."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from harvester.fetch.summary import FetchStats


def origin(url: str) -> str:
    """The origin (scheme and host, lower case) whose pace a request to ``url`` keeps."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def take_turn(last_start: dict[str, float], origin: str, interval: float, *,
              clock: Callable[[], float], sleep: Callable[[float], None],
              stats: FetchStats) -> None:
    """Wait until ``interval`` seconds have passed since the origin's last request started
    (counted in ``stats.throttle_seconds``), then note this request's start."""
    last = last_start.get(origin)
    if last is not None and interval > 0:
        wait = last + interval - clock()
        if wait > 0:
            stats.throttle_seconds += wait
            sleep(wait)
    last_start[origin] = clock()
