"""One source, many sinks: bounded drop-oldest queues between capture and consumers.

The capture thread calls :meth:`FanOut.publish`, which never blocks: each sink has its own
:class:`FrameQueue`, and a full queue drops its oldest item (counted) rather than stalling the
capture or the other sinks. Consumers are either threads (``get``) or asyncio tasks (``aget``);
the only way into the event loop is ``loop.call_soon_threadsafe``.

A sink whose work is a short, thread-safe, non-blocking call (handing a frame to LiveKit's
``VideoSource.capture_frame``, a synchronous copy into the SDK) can instead be attached as a
:class:`DirectSink`: it is called on the capture thread itself, so the frame never waits for
the event loop and the loop never wakes for it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import Callable
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


class DirectSink(Generic[T]):
    """A sink called on the publishing (capture) thread with each item.

    ``deliver`` must be quick and thread-safe. An exception from it is logged once and counted
    as a dropped item; it never reaches the capture thread. After :meth:`close` returns,
    ``deliver`` is not running and is never called again.

    Args:
        name: Name of the sink, for stats and logs.
        deliver: Called with each item, on the publishing thread.
    """

    def __init__(self, name: str, deliver: Callable[[T], None]) -> None:
        self.name = name
        self._deliver = deliver
        self._lock = threading.Lock()
        self._closed = False
        self._delivered = 0
        self._dropped = 0
        self._warned = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def put(self, item: T) -> None:
        """Deliver an item now (on the caller's thread)."""
        with self._lock:
            if self._closed:
                return
            try:
                self._deliver(item)
            except Exception:
                self._dropped += 1
                if not self._warned:
                    self._warned = True
                    logger.warning("sink %s failed; dropping its items", self.name, exc_info=True)
                return
            self._delivered += 1

    def close(self) -> None:
        """Stop delivering; waits for a delivery in progress to end."""
        with self._lock:
            self._closed = True

    def stats(self) -> QueueStats:
        """Return the sink's counters (never anything pending)."""
        with self._lock:
            return QueueStats(self.name, self._delivered, self._dropped, 0)


class FanOut(Generic[T]):
    """Delivers every published item to each subscribed sink (own bounded queue, or direct)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: tuple[FrameQueue[T] | DirectSink[T], ...] = ()

    def subscribe(self, name: str, maxsize: int = 2) -> FrameQueue[T]:
        """Add a sink and return its queue; the sink sees items published from now on."""
        queue: FrameQueue[T] = FrameQueue(name, maxsize)
        with self._lock:
            self._queues = (*self._queues, queue)
        return queue

    def attach(self, name: str, deliver: Callable[[T], None]) -> DirectSink[T]:
        """Add a sink called on the publishing thread with each item (see :class:`DirectSink`)."""
        sink = DirectSink(name, deliver)
        with self._lock:
            self._queues = (*self._queues, sink)
        return sink

    def unsubscribe(self, queue: FrameQueue[T] | DirectSink[T]) -> None:
        """Remove a sink and close it."""
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
