"""Pictures converted off the UI thread: a worker thread per kind (tiles, the Program monitor).

During a show the UI thread used to spend almost all its time turning frames into pixels: the
whole 1280x720 program converted and scaled for the monitor, and every tile's frame converted
in its ``paintEvent`` (measured: ``docs/benchmarks.md``, "show"). A click then waited for that.

Now a widget hands the newest frame to a :class:`PictureWorker` and goes on; the worker scales
and converts it (:class:`~desktop.media.display.DisplayConverter`: OpenCV, without the GIL) into
a BGRA buffer of the size shown, and wakes the UI thread once per batch of finished pictures
(one queued Qt signal, no arguments). The UI thread then only wraps the buffer in a
``Format_RGB32`` image and draws it.

- **Newest wins.** Each widget has at most one job waiting; a newer frame replaces it unseen
  (the caller counts it as skipped), so a worker that falls behind converts fewer frames, never
  older ones.
- **Never drawn while written.** Each widget's buffers are a small ring: the worker writes only
  a buffer that neither the screen nor a finished-but-undelivered picture refers to (CPython's
  reference count says so exactly), so no picture tears.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, Signal

from desktop.media.display import DisplayConverter, fitted_wh
from desktop.media.frames import PixelFormat

logger = logging.getLogger(__name__)

RING_SIZE = 3
"""Buffers per widget: one on screen, one finished and waiting, one being written."""
IDLE_EXIT_S = 1.0
"""A worker with nothing to do this long ends its thread; the next frame starts a new one."""

Fetch = Callable[[], "tuple[npt.NDArray[np.uint8], PixelFormat, int, int] | None"]
"""Returns the frame to convert (flat data, format, width, height), or None: nothing new.
Called on the worker thread, so an expensive copy (the program's) is made there too."""

_keys = itertools.count(1)


def new_key() -> int:
    """A key naming one widget's pictures at a worker (ints: a key keeps nothing alive)."""
    return next(_keys)


@dataclass(frozen=True, slots=True)
class Converted:
    """A finished picture."""

    bgra: npt.NDArray[np.uint8]
    """(h, w, 4) BGRA of the size shown; not written again while anything refers to it."""
    source_w: int
    """Width of the frame it was made from."""
    source_h: int
    """Height of the frame it was made from."""


@dataclass(slots=True)
class _Job:
    fetch: Fetch
    area: tuple[int, int]
    deliver: Callable[[Converted], None]


class PictureWorker(QObject):
    """One thread that converts frames for the widgets of one kind, newest frame first.

    Create it on the UI thread (its finished pictures are delivered there).

    Args:
        name: The thread's name (``bc-ui-<name>``).
    """

    _finished = Signal()

    def __init__(self, name: str) -> None:
        super().__init__()
        self._lock = threading.Condition()
        self._jobs: OrderedDict[int, _Job] = OrderedDict()
        self._results: dict[int, tuple[Converted, Callable[[Converted], None]]] = {}
        self._rings: dict[int, list[npt.NDArray[np.uint8]]] = {}
        self._working: int | None = None
        self._forgotten: set[int] = set()
        """Keys forgotten while the worker was making their picture (not delivered)."""
        self._woken = False
        self._closed = False
        self.converted = 0
        """Pictures converted so far (tests, benchmarks)."""
        self.replaced = 0
        """Jobs replaced by a newer frame before the worker took them."""
        self.cpu_s = 0.0
        """CPU seconds spent converting, over every thread this worker ran (benchmarks: an
        idle worker's thread ends, and its time would go with it)."""
        self.name = f"bc-ui-{name}"
        """The worker thread's name."""
        self._thread: threading.Thread | None = None
        self._finished.connect(self._deliver)

    def submit(
        self, key: int, fetch: Fetch, area: tuple[int, int],
        deliver: Callable[[Converted], None],
    ) -> bool:  # fmt: skip
        """Convert ``fetch()``'s frame to fit ``area`` (w, h); ``deliver`` gets it on the UI
        thread. Returns True when this replaced a job of ``key`` the worker had not taken."""
        with self._lock:
            replaced = key in self._jobs
            self._jobs[key] = _Job(fetch, area, deliver)
            self.replaced += replaced
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._lock.notify()
        return replaced

    def forget(self, key: int) -> None:
        """Drop ``key``'s waiting job, undelivered picture and buffers (a widget going away or
        its video turned off); a picture being made for it now is not delivered."""
        with self._lock:
            self._jobs.pop(key, None)
            self._results.pop(key, None)
            self._rings.pop(key, None)
            if key == self._working:
                self._forgotten.add(key)

    def close(self) -> None:
        """Stop the thread (after the picture it is making)."""
        with self._lock:
            self._closed = True
            self._jobs.clear()
            self._lock.notify()
            thread = self._thread
        if thread is not None:
            thread.join(5.0)

    # -- the worker thread -------------------------------------------------------------------

    def _run(self) -> None:
        converter = DisplayConverter()
        while True:
            with self._lock:
                if not self._jobs and not self._closed:
                    self._lock.wait(IDLE_EXIT_S)
                if self._closed or not self._jobs:
                    self._thread = None  # idle (or closed): the next submit starts another
                    return
                key, job = self._jobs.popitem(last=False)
                self._working = key
            started_s = time.thread_time()
            try:
                converted = self._convert(converter, key, job)
            except Exception:  # a bad frame must not end the thread every widget relies on
                logger.exception("converting a picture for the screen failed")
                converted = None
            with self._lock:
                self.cpu_s += time.thread_time() - started_s
                self._working = None
                if key in self._forgotten:
                    self._forgotten.discard(key)
                    continue
                if converted is None:
                    continue
                self._results[key] = (converted, job.deliver)
                self.converted += 1
                wake, self._woken = not self._woken, True
            if wake:
                self._finished.emit()

    def _convert(self, converter: DisplayConverter, key: int, job: _Job) -> Converted | None:
        frame = job.fetch()
        if frame is None:
            return None
        data, pixel_format, width, height = frame
        out_w, out_h = fitted_wh(width, height, *job.area)
        out = self._free_buffer(key, out_w, out_h)
        converter.convert(data, pixel_format, width, height, out)
        return Converted(out, width, height)

    def _free_buffer(self, key: int, out_w: int, out_h: int) -> npt.NDArray[np.uint8]:
        with self._lock:
            ring = self._rings.get(key)
            if ring is None or ring[0].shape[:2] != (out_h, out_w):
                ring = self._rings[key] = []
            for buffer in ring:
                # References: the ring's, the loop variable's and getrefcount's argument.
                if sys.getrefcount(buffer) <= 3:
                    return buffer
            buffer = np.empty((out_h, out_w, 4), np.uint8)
            if len(ring) < RING_SIZE:
                ring.append(buffer)
            return buffer

    # -- the UI thread -----------------------------------------------------------------------

    def _deliver(self) -> None:
        with self._lock:
            results, self._results = self._results, {}
            self._woken = False
        for key, (converted, deliver) in results.items():
            try:
                deliver(converted)
            except RuntimeError as error:  # the widget was deleted meanwhile
                logger.debug("a finished picture had no widget left: %s", error)
                self.forget(key)


_workers: dict[str, PictureWorker] = {}


def workers() -> dict[str, PictureWorker]:
    """Every worker started so far, by kind (benchmarks read their CPU)."""
    return dict(_workers)


def worker(kind: str) -> PictureWorker:
    """The worker for one kind of widget ("tiles", "program", "preview"), started on first
    use; call on the UI thread."""
    found = _workers.get(kind)
    if found is None:
        found = _workers[kind] = PictureWorker(kind)
    return found


def forget_when_destroyed(widget: QObject, kind: str, key: int) -> None:
    """Free ``key``'s buffers at ``kind``'s worker when ``widget`` is destroyed."""
    # The slot holds only the kind and key: a connection must not keep the widget alive.
    widget.destroyed.connect(lambda *_: worker(kind).forget(key))
