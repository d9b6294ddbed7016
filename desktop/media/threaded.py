"""A capture source that reads its device on one named thread.

Subclasses implement ``_open`` (raise :class:`MediaError` if the device cannot be used),
``_read`` (block until the next frame and return it, or ``None`` at the end of a finite input)
and ``_close``. The thread stamps nothing itself: subclasses stamp at the moment the device
delivered, which is the truest capture time they know.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import threading
from typing import Generic

from desktop.media.base import FrameT, SourceEvent, SourceKind, SourceListener, SourceState
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.fanout import FanOut

logger = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 5.0


class ThreadedSource(abc.ABC, Generic[FrameT]):
    """Base of every capture source: a named ``bc-`` thread, a fan-out and state events.

    Args:
        name: Human-readable name of the device.
        kind: What it captures.
    """

    def __init__(self, name: str, kind: SourceKind) -> None:
        self._name = name
        self._kind = kind
        self._state = SourceState.IDLE
        self._frames: FanOut[FrameT] = FanOut()
        self._listeners: list[SourceListener] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last_error: MediaError | None = None
        """The error that made the source FAILED, if any."""

    @property
    def name(self) -> str:
        """Human-readable name of the device."""
        return self._name

    @property
    def kind(self) -> SourceKind:
        """What the source captures."""
        return self._kind

    @property
    def state(self) -> SourceState:
        """Current life-cycle state."""
        return self._state

    @property
    def frames(self) -> FanOut[FrameT]:
        """Where frames are published; subscribe sinks here."""
        return self._frames

    def add_listener(self, listener: SourceListener) -> None:
        """Be told of state changes (called on the capture thread or the caller's)."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Open the device and start the capture thread.

        Raises:
            MediaError: The device cannot be opened; nothing keeps running.
        """
        with self._lock:
            if self._state is SourceState.RUNNING:
                return
            self._stop.clear()
            try:
                self._open()
            except MediaError as error:
                self._set_state(SourceState.FAILED, error)
                raise
            self._thread = threading.Thread(
                target=self._run, name=f"bc-{self._kind.name.lower()}-capture", daemon=True
            )
            self.last_error = None
            self._set_state(SourceState.RUNNING)
            self._thread.start()

    def stop(self) -> None:
        """Stop capturing, join the thread and release the device. Idempotent."""
        with self._lock:
            self._stop.set()
            thread, self._thread = self._thread, None
            if thread is not None and thread is not threading.current_thread():
                thread.join(JOIN_TIMEOUT_S)
                if thread.is_alive():
                    logger.warning(
                        "%s: capture thread did not stop in %.0f s", self, JOIN_TIMEOUT_S
                    )
            if self._state is SourceState.RUNNING:
                self._set_state(SourceState.STOPPED)

    async def aclose(self) -> None:
        """Stop without blocking the event loop and close every sink queue."""
        await asyncio.get_running_loop().run_in_executor(None, self.stop)
        self._frames.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self._read()
                if frame is None:
                    # A finite input ended (a file without looping): a normal stop.
                    self._set_state(SourceState.STOPPED)
                    return
                self._frames.publish(frame)
        except MediaError as error:
            logger.warning("%s failed: %s", self._name, error)
            self._set_state(SourceState.FAILED, error)
        except Exception as exc:  # a device library raised something unexpected
            logger.exception("%s: capture failed", self._name)
            lost = MediaError(
                MediaErrorCode.DEVICE_LOST,
                self._name,
                f"capture stopped unexpectedly ({type(exc).__name__})",
                "check the device and start it again",
            )
            self._set_state(SourceState.FAILED, lost)
        finally:
            try:
                self._close()
            except Exception:
                logger.exception("%s: releasing the device failed", self._name)

    def _set_state(self, state: SourceState, error: MediaError | None = None) -> None:
        self._state = state
        if error is not None:
            self.last_error = error
        event = SourceEvent(self._name, state, error)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("source listener raised")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r} {self._state.name}>"

    @abc.abstractmethod
    def _open(self) -> None:
        """Acquire the device; raise :class:`MediaError` when it cannot be used."""

    @abc.abstractmethod
    def _read(self) -> FrameT | None:
        """Block until the next frame; ``None`` when a finite input has ended."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the device (called on the capture thread when it ends)."""


class Pacer:
    """Sleeps until absolute deadlines so a generated stream keeps its rate without drift.

    Args:
        interval_s: Time between frames.
        stop: Event that cuts a wait short.
    """

    def __init__(self, interval_s: float, stop: threading.Event) -> None:
        import time

        self._clock = time.monotonic
        self._interval_s = interval_s
        self._stop = stop
        self._next_s = self._clock()
        self.missed = 0
        """Deadlines given up because the caller fell far behind (frames never made)."""

    def wait(self) -> bool:
        """Wait for the next deadline; ``False`` if stopped meanwhile."""
        self._next_s += self._interval_s
        delay_s = self._next_s - self._clock()
        if delay_s < -self._interval_s * 5:
            # Far behind (machine suspended, debugger): restart the schedule instead of bursting.
            self.missed += int(-delay_s / self._interval_s)
            self._next_s = self._clock()
            delay_s = 0.0
        if delay_s > 0:
            return not self._stop.wait(delay_s)
        return not self._stop.is_set()
