"""One source, many sinks: bounded drop-oldest queues between capture and consumers.

The capture thread calls :meth:`FanOut.publish`, which never blocks: each sink has its own
:class:`FrameQueue`, and a full queue drops its oldest item (counted) rather than stalling the
capture or the other sinks. Consumers are either threads (``get``) or asyncio tasks (``aget``);
the only way into the event loop is ``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Counters of one sink queue."""

    name: str
    """Name the sink subscribed with."""
    delivered: int
    """Items taken by the consumer."""
    dropped: int
    """Items discarded because the consumer was too slow (oldest first)."""
    pending: int
    """Items waiting now."""


class FrameQueue(Generic[T]):
    """A bounded, thread-safe queue that drops its oldest item when full.

    Args:
        name: Name of the sink, for stats and logs.
        maxsize: Items kept at most; 1 means "only the newest frame".
    """

    def __init__(self, name: str, maxsize: int = 2) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.name = name
        self._items: collections.deque[T] = collections.deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._closed = False
        self._dropped = 0
        self._delivered = 0
        # The async consumer's wake-up future and its loop; only touched under the lock.
        self._waiter: asyncio.Future[None] | None = None
        self._waiter_loop: asyncio.AbstractEventLoop | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def put(self, item: T) -> None:
        """Add an item without blocking; drop the oldest one if the queue is full."""
        with self._cond:
            if self._closed:
                return
            if len(self._items) >= self._maxsize:
                self._items.popleft()
                self._dropped += 1
            self._items.append(item)
            self._cond.notify()
            self._wake_async_locked()

    def get(self, timeout_s: float | None = None) -> T | None:
        """Take the oldest item, waiting up to ``timeout_s``; ``None`` on timeout or close."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait_for(lambda: bool(self._items) or self._closed, timeout_s)
            if not self._items:
                return None
            self._delivered += 1
            return self._items.popleft()

    def get_nowait(self) -> T | None:
        """Take the oldest item if there is one."""
        with self._cond:
            if not self._items:
                return None
            self._delivered += 1
            return self._items.popleft()

    def take_latest(self) -> T | None:
        """Take the newest item and discard older ones (counted as dropped), for displays."""
        with self._cond:
            if not self._items:
                return None
            self._dropped += len(self._items) - 1
            item = self._items.pop()
            self._items.clear()
            self._delivered += 1
            return item

    async def aget(self) -> T | None:
        """Wait in the event loop for the oldest item; ``None`` once the queue is closed."""
        while True:
            with self._cond:
                if self._items:
                    self._delivered += 1
                    return self._items.popleft()
                if self._closed:
                    return None
                loop = asyncio.get_running_loop()
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiter = waiter
                self._waiter_loop = loop
            try:
                await waiter
            finally:
                with self._cond:
                    if self._waiter is waiter:
                        self._waiter = None

    def close(self) -> None:
        """Wake every consumer; later ``put`` calls are ignored and getters return ``None``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            self._wake_async_locked()

    def stats(self) -> QueueStats:
        """Return the queue's counters."""
        with self._cond:
            return QueueStats(self.name, self._delivered, self._dropped, len(self._items))

    def _wake_async_locked(self) -> None:
        waiter, loop = self._waiter, self._waiter_loop
        if waiter is None or loop is None or waiter.done():
            return
        self._waiter = None
        try:
            loop.call_soon_threadsafe(_resolve, waiter)
        except RuntimeError:  # the consumer's loop is closed: nobody is waiting any more
            pass


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class FanOut(Generic[T]):
    """Delivers every published item to each subscribed sink's own bounded queue."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: tuple[FrameQueue[T], ...] = ()

    def subscribe(self, name: str, maxsize: int = 2) -> FrameQueue[T]:
        """Add a sink and return its queue; the sink sees items published from now on."""
        queue: FrameQueue[T] = FrameQueue(name, maxsize)
        with self._lock:
            self._queues = (*self._queues, queue)
        return queue

    def unsubscribe(self, queue: FrameQueue[T]) -> None:
        """Remove a sink and close its queue."""
        with self._lock:
            self._queues = tuple(q for q in self._queues if q is not queue)
        queue.close()

    def publish(self, item: T) -> None:
        """Hand an item to every sink; never blocks (called on capture threads)."""
        # Copy-on-write tuple: publish reads it without taking the lock.
        for queue in self._queues:
            queue.put(item)

    @property
    def sink_count(self) -> int:
        """Number of subscribed sinks."""
        return len(self._queues)

    def stats(self) -> list[QueueStats]:
        """Counters of every sink."""
        return [q.stats() for q in self._queues]

    def close(self) -> None:
        """Close every sink queue (end of stream)."""
        with self._lock:
            queues, self._queues = self._queues, ()
        for queue in queues:
            queue.close()
