"""The studio's asyncio loop: qasync, woken from other threads through one socket.

qasync's ``call_soon_threadsafe`` emits a Qt signal for every call. Capture threads and the
LiveKit SDK's FFI thread call it for every frame and every event (a camera at 30 fps, a screen,
the microphone's 10 ms blocks, every remote audio block): hundreds of cross-thread signal
emissions a second, each crossing PySide6's refcounting of its arguments. A binding that gets
that wrong (PySide6 6.12.0 drops a reference to ``None`` on such calls) aborts the whole studio
within a minute, and even a correct one pays for a queued-connection event per call.

:class:`StudioEventLoop` keeps qasync for everything else and replaces only that path: a call
from any thread appends a handle to a locked queue, and only the call that finds the queue
idle writes one byte to a socket pair. The loop reads the socket through a
``QSocketNotifier`` (qasync's ``add_reader``) and runs the whole batch. Python objects never
cross into Qt on the way, and a burst of N calls costs one wake-up.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVarTuple

import qasync

logger = logging.getLogger(__name__)

Ts = TypeVarTuple("Ts")


class StudioEventLoop(qasync.QEventLoop):  # type: ignore[misc]  # qasync is untyped
    """qasync's event loop with a socket-based, batching ``call_soon_threadsafe``.

    Args:
        app: The ``QApplication`` whose event loop drives asyncio.
    """

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._pending: collections.deque[asyncio.Handle] = collections.deque()
        self._pending_lock = threading.Lock()
        self._wake_armed = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self.threadsafe_calls = 0
        """Calls to ``call_soon_threadsafe`` so far (for tests and the stats panel)."""
        self.wakeups = 0
        """Times the loop was woken to run a batch of them."""
        self.add_reader(self._wake_reader.fileno(), self._run_pending)

    def call_soon_threadsafe(
        self,
        callback: Callable[[*Ts], object],
        *args: *Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        """Schedule ``callback(*args)`` from any thread; wakes the loop at most once per batch.

        Raises:
            RuntimeError: The loop is closed (as asyncio's own loops do).
        """
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        handle = asyncio.Handle(callback, args, self, context)
        with self._pending_lock:
            self._pending.append(handle)
            self.threadsafe_calls += 1
            if self._wake_armed:
                return handle
            self._wake_armed = True
        try:
            self._wake_writer.send(b"\0")
        except (BlockingIOError, InterruptedError):
            pass  # a byte is already waiting: the loop will wake anyway
        except OSError:
            pass  # closing: the loop will not run these any more
        return handle

    def _run_pending(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        with self._pending_lock:
            batch, self._pending = self._pending, collections.deque()
            # Re-armed before running the batch: a call made while it runs wakes us again.
            self._wake_armed = False
        self.wakeups += 1
        for handle in batch:
            if not handle.cancelled():
                # Handle._run reports a raising callback through the loop's exception handler,
                # exactly as asyncio does for call_soon.
                handle._run()

    def close(self) -> None:
        """Close the loop and its wake-up sockets (pending cross-thread calls are dropped)."""
        if self.is_closed():
            return
        self.remove_reader(self._wake_reader.fileno())
        super().close()
        self._wake_writer.close()
        self._wake_reader.close()
        with self._pending_lock:
            if self._pending:
                logger.debug("dropping %d cross-thread calls at close", len(self._pending))
            self._pending.clear()
