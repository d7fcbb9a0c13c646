"""Read a response body under an overall deadline.

A socket read timeout bounds each ``recv``, not the whole body: a server that sends its
headers and then one byte every few seconds never trips it and holds a harvest for ever.
:func:`read_body` reads a streamed response (``stream=True``) while a watchdog timer waits
for the deadline; when it fires, it shuts the response's socket down, so the blocked read
returns at once, and the read is reported as :class:`DeadlineExceeded` — never as a short
body taken for a whole one (a body without a Content-Length ends at EOF).

The watchdog only needs the standard ``requests.Response`` interface (``content``,
``close``); it reaches the socket through urllib3's response when there is one, so an
injected, ``requests``-compatible session that does not read from a socket works unchanged.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any


class DeadlineExceeded(Exception):
    """The body did not arrive in full before the deadline."""


def _socket_of(response: Any) -> socket.socket | None:
    """The socket a urllib3-backed ``requests`` response reads from, if it can be found."""
    raw = getattr(response, "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:  # the connection may already be detached: go through the file object
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


class _Watchdog:
    def __init__(self, response: Any, seconds: float) -> None:
        self.response = response
        self.fired = threading.Event()
        self.sock = _socket_of(response)
        self.timer = threading.Timer(max(seconds, 0.0), self._fire)
        self.timer.daemon = True  # never keeps the process alive

    def _fire(self) -> None:
        self.fired.set()
        if self.sock is not None:
            # shutdown, not close: it wakes a recv blocked in another thread (OSError: it
            # was closed already, so no reader is blocked on it).
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)


def read_body(response: Any, seconds: float) -> bytes:
    """``response.content``, or :class:`DeadlineExceeded` if it takes over ``seconds``."""
    dog = _Watchdog(response, seconds)
    dog.timer.start()
    try:
        content = response.content
    except Exception:
        if dog.fired.is_set():
            raise DeadlineExceeded(f"body not complete within {seconds:.3g} s") from None
        raise
    finally:
        dog.timer.cancel()
    if dog.fired.is_set():  # the read may have ended "cleanly" at the EOF we caused
        response.close()
        raise DeadlineExceeded(f"body not complete within {seconds:.3g} s")
    return bytes(content or b"")
