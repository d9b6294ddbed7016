"""Guests' media read off the studio's event loop, on a private asyncio loop (``bc-receive``).

Every audio block and video frame the SDK decodes for us arrives as an FFI event that wakes the
loop its stream was made on, then costs a task step or two in Python to become a frame. With
four guests that is about a thousand events a second (each microphone in the speaker mix and in
the program mix, 100 blocks a second each; each camera in the program at 30 fps). On the UI's
loop they queued behind painting, and the room's own events queued behind them: in a soak on a
loaded machine the studio had 1070 cross-thread calls and 4229 SDK events waiting, and the
server's confirmation of a screen share was not read within 20 s, so the share failed.

Streams are made, read and closed here instead; what they produce goes into thread-safe places
(the mixers, the compositor's frame slots, frame queues), and the UI loop handles the room's
events and the window only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0
"""Longest wait for one reader to finish closing its stream."""


class Reader:
    """One coroutine running on a :class:`ReceiveLoop`; stop it with :meth:`ReceiveLoop.stop`."""

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None
        self.finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        """Resolved once the coroutine has ended (returned, raised or was cancelled)."""

    @property
    def done(self) -> bool:
        """Whether the coroutine has ended."""
        return self.finished.done()


class ReceiveLoop:
    """A private asyncio loop on its own daemon thread: guests' media streams are read here.

    Args:
        name: The thread's name (``bc-`` threads are checked for leaks by the tests).
    """

    def __init__(self, name: str = "bc-receive") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread:
        """The loop's thread (benchmarks count its CPU time)."""
        return self._thread

    def start(self, read: Callable[[Reader], Coroutine[Any, Any, Any]]) -> Reader:
        """Run ``read(reader)`` on the receive loop (from any thread; returns at once).

        The coroutine runs in a task made on the receive loop, so SDK streams it creates are
        bound to that loop; it is given its own :class:`Reader` (to tell which reader ended).
        A coroutine that raises is logged, not lost.
        """
        reader = Reader()
        coro = read(reader)

        def create() -> None:
            reader.task = self.loop.create_task(coro)
            reader.task.add_done_callback(lambda task: _finished(task, reader))

        try:
            self.loop.call_soon_threadsafe(create)
        except RuntimeError:  # the loop is closed: nothing will read
            coro.close()
            reader.finished.set_result(None)
        return reader

    async def stop(self, reader: Reader) -> None:
        """Cancel a reader and wait (without blocking the caller's loop) until it has ended."""
        if reader.done:
            return

        def cancel() -> None:
            # Runs after ``create`` (a thread's calls run in order), so the task exists.
            if reader.task is not None:
                reader.task.cancel()

        try:
            self.loop.call_soon_threadsafe(cancel)
        except RuntimeError:
            return  # closed: every task on it was cancelled with it
        await asyncio.wait([asyncio.wrap_future(reader.finished)], timeout=STOP_TIMEOUT_S)

    async def aclose(self) -> None:
        """Cancel every reader, stop the loop and join its thread (without blocking)."""
        if self.loop.is_closed():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self.loop.is_running():
            done = asyncio.run_coroutine_threadsafe(cancel_all(), self.loop)
            await asyncio.wait([asyncio.wrap_future(done)], timeout=STOP_TIMEOUT_S)
            self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, STOP_TIMEOUT_S)
        if not self._thread.is_alive():
            self.loop.close()


class _Closable(Protocol):
    async def aclose(self) -> None: ...


async def close_stream(stream: _Closable, what: str) -> None:
    """Close an SDK stream at the end of its reader (a track gone with its room is fine)."""
    try:
        await stream.aclose()
    except Exception as exc:  # noqa: BLE001
        logger.debug("closing %s: %r", what, exc)


def _finished(task: asyncio.Task[Any], reader: Reader) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("a guest's media reader failed", exc_info=task.exception())
    reader.finished.set_result(None)
