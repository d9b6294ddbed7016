"""One source, many sinks: a slow sink drops its oldest frames and never stalls the others."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

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


async def test_batched_consumer_is_woken_once_per_batch_and_gets_leftovers_on_close() -> None:
    """The microphone's pump takes two blocks per handoff: the capture thread wakes its loop
    once per two blocks, not per block, and a block left when the queue closes still comes."""
    queue: FrameQueue[int] = FrameQueue("mic", maxsize=10)
    loop = asyncio.get_running_loop()
    wakes: list[object] = []
    wake = loop.call_soon_threadsafe

    def counted(callback: Any, *args: Any) -> Any:
        wakes.append(callback)
        return wake(callback, *args)

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign,assignment]
    try:

        def put_from_capture_thread(item: int) -> None:
            thread = threading.Thread(target=queue.put, args=(item,), name="bc-test-capture")
            thread.start()
            thread.join(5)

        batch = asyncio.create_task(queue.aget_many(2))
        await asyncio.sleep(0.05)  # the consumer is waiting now
        put_from_capture_thread(0)
        await asyncio.sleep(0.05)
        assert not batch.done() and wakes == []  # one block: nothing to hand over yet
        put_from_capture_thread(1)
        assert await asyncio.wait_for(batch, 5) == [0, 1]
        assert len(wakes) == 1
        put_from_capture_thread(2)
        put_from_capture_thread(3)
        put_from_capture_thread(4)
        # Already waiting: taken without waking again.
        assert await asyncio.wait_for(queue.aget_many(2), 5) == [2, 3]
        assert len(wakes) == 1
        leftover = asyncio.create_task(queue.aget_many(2))
        await asyncio.sleep(0.05)
        assert not leftover.done()
        threading.Thread(target=queue.close, name="bc-test-close").start()
        assert await asyncio.wait_for(leftover, 5) == [4]
        assert await asyncio.wait_for(queue.aget_many(2), 5) is None
    finally:
        del loop.call_soon_threadsafe
