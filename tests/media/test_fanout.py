"""One source, many sinks: a slow sink drops its oldest frames and never stalls the others."""

from __future__ import annotations

import asyncio
import threading
import time

from desktop.media.fanout import FanOut, FrameQueue


def test_full_queue_drops_oldest_and_counts() -> None:
    queue: FrameQueue[int] = FrameQueue("slow", maxsize=3)
    for item in range(10):
        queue.put(item)
    assert [queue.get_nowait() for _ in range(3)] == [7, 8, 9]
    stats = queue.stats()
    assert (stats.delivered, stats.dropped, stats.pending) == (3, 7, 0)


def test_slow_sink_never_stalls_publisher_or_fast_sink() -> None:
    fanout: FanOut[int] = FanOut()
    fast = fanout.subscribe("fast", maxsize=1000)
    slow = fanout.subscribe("slow", maxsize=2)
    seen_fast: list[int] = []
    stop = threading.Event()

    def consume_fast() -> None:
        while not stop.is_set() or fast.stats().pending:
            item = fast.get(timeout_s=0.05)
            if item is not None:
                seen_fast.append(item)

    consumer = threading.Thread(target=consume_fast, name="bc-test-fast")
    consumer.start()
    for item in range(500):
        fanout.publish(item)  # nobody reads `slow`: publish must still return at once
    stop.set()
    consumer.join(5)
    assert seen_fast == list(range(500))
    assert slow.stats().dropped == 498
    assert [slow.get_nowait(), slow.get_nowait()] == [498, 499]


def test_take_latest_skips_to_newest() -> None:
    queue: FrameQueue[str] = FrameQueue("preview", maxsize=4)
    for item in "abcd":
        queue.put(item)
    assert queue.take_latest() == "d"
    assert queue.stats().dropped == 3
    assert queue.take_latest() is None


async def test_async_consumer_woken_from_capture_thread() -> None:
    fanout: FanOut[int] = FanOut()
    queue = fanout.subscribe("publisher", maxsize=8)

    def capture() -> None:
        for item in range(20):
            fanout.publish(item)
            time.sleep(0.002)
        fanout.close()

    thread = threading.Thread(target=capture, name="bc-test-capture")
    thread.start()
    received = []
    while (item := await asyncio.wait_for(queue.aget(), 5)) is not None:
        received.append(item)
    thread.join(5)
    # Order is kept; only overflow may drop, and nothing arrives after close.
    assert received == sorted(received)
    assert received[-1] == 19
    assert len(received) + queue.stats().dropped == 20


async def test_close_wakes_async_waiter() -> None:
    queue: FrameQueue[int] = FrameQueue("x")
    waiter = asyncio.create_task(queue.aget())
    await asyncio.sleep(0.01)
    threading.Thread(target=queue.close, name="bc-test-close").start()
    assert await asyncio.wait_for(waiter, 5) is None
