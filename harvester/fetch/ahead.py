"""Read an iterator ahead in a background thread: the next page downloads while this one is
parsed and the one before it is stored.

The thread holds at most ``depth`` items; an exception raised by the iterator is raised by
:class:`Ahead` in the consuming thread after every item produced before it, in order.
:meth:`Ahead.close` asks the thread to stop after the item it is producing; it is a daemon
thread, so a process that ends does not wait for it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_POLL = 0.1  # seconds between checks of the stop flag while the queue is full


class Ahead(Generic[T]):
    def __init__(self, source: Iterator[T], depth: int = 2, name: str = "read-ahead") -> None:
        self._queue: queue.Queue[tuple[bool, T | BaseException | None]] = queue.Queue(depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, args=(source,), name=name,
                                        daemon=True)
        self._thread.start()

    def _fill(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put((True, item)):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((False, exc))
            return
        self._put((False, None))

    def _put(self, entry: tuple[bool, T | BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            ok, item = self._queue.get()
            if ok:
                yield item  # type: ignore[misc]
            elif item is None:
                return
            else:
                assert isinstance(item, BaseException)
                raise item

    def close(self, wait: float = 0.0) -> None:
        """Stop reading ahead (the item under way is dropped); wait up to ``wait`` seconds
        for the thread to end."""
        self._stop.set()
        if wait:
            self._thread.join(wait)

    def __enter__(self) -> Ahead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
