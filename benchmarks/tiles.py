"""3. Nine remote tiles at 30 fps, offscreen: the real tile widget against the naive path.

Both sides start from the same decoded I420 frames (what the SDK's decoder holds) and pay for
receiving them the way their ``VideoStream`` would: the SDK hands each frame over through its
FFI (``VideoFrame.convert``: I420 as is for ours, RGBA for the naive path), on a feeder thread
that stands in for the SDK's stream and whose CPU is counted. Then:

- ours: the real ``VideoTile`` with a one-frame queue; on each stage tick it takes the newest
  frame, scales the I420 planes to the tile's exact size and converts them into a reused
  ``Format_RGB32`` buffer, and repaints only if a frame arrived;
- naive (what a first version does): every frame → ``QImage`` RGBA → ``QPixmap.fromImage`` →
  smooth ``scaled()`` to the tile → repaint.

Both are smooth-scaled and opaque. Each side receives the layer it would receive from the SFU:
ours the simulcast layer its tile asks for (``layer_for_tile``: 320x180 for the 228 px tiles of
a 3x3 stage in 720p), the naive path the SDK's default, the top layer of a typical guest
(1280x720, a laptop's webcam) — which layer it takes is the lever the issue names, and feeding
both the small one would hide it. "UI work per frame shown" counts everything each side does on
the UI thread per frame shown: conversion, scaling and ``paintEvent``. Ours and the baseline
run in turns.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from typing import Any

import numpy as np
from livekit import rtc

from benchmarks.common import CpuClock, Row, interleaved, load_note, percentile, thread_cpu_s
from desktop.media.fanout import FrameQueue
from desktop.media.synthetic import SyntheticCamera

TILES = 9
WINDOW = (1280, 720)
FPS = 30.0
TICK_MS = 16
WARM_UP_S = 0.5
LAYERS = {"low": (320, 180), "medium": (640, 360), "high": (1280, 720)}
"""A typical guest's simulcast layers (a 720p laptop webcam; LiveKit's defaults for 16:9)."""
NAIVE_LAYER = "high"
"""What a ``VideoStream`` at the SDK's default gets: the top layer the guest sends."""


def run_queue_wait_s() -> float:
    """Seconds the calling thread has waited for a CPU while runnable (Linux schedstat).

    The second field of ``/proc/thread-self/schedstat`` is the time the thread spent on a run
    queue: ready to run, with no core free for it. On two cores shared with other work, that is
    what makes a display tick late without any code of the process being slow.
    """
    with open("/proc/thread-self/schedstat", encoding="ascii") as stat:
        return int(stat.read().split()[1]) / 1e9


class LoopLateness:
    """How late each display tick came, and how much of that the thread spent waiting for a CPU.

    Call :meth:`tick` on the ticking thread at every tick. A tick's lateness is its interval
    beyond the one asked for; the run-queue wait over the same interval is the part the machine
    caused (the thread was ready and no core was free). What is left is split by the thread's
    own CPU time over the interval (its work: painting, the loop's other callbacks) and the
    rest, when it was neither running nor ready beyond the sleep it asked for (blocked: waiting
    for the GIL or a lock).
    """

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self.late_ms: list[float] = []
        """Each measured tick's lateness, ms."""
        self.own_ms: list[float] = []
        """The same, less the run-queue wait over its interval, ms."""
        self.run_queue_s = 0.0
        """Run-queue wait over all measured intervals, s."""
        self.cpu_ms: list[float] = []
        """The thread's own CPU time over each measured interval, ms."""
        self._last: tuple[float, float, float] | None = None

    def restart(self) -> None:
        """Forget the previous tick (after a pause that is not to be measured)."""
        self._last = None

    def tick(self, measure: bool = True) -> None:
        """A tick now; recorded when ``measure`` and a previous tick is known."""
        now, waited, cpu_s = time.monotonic(), run_queue_wait_s(), time.thread_time()
        if measure and self._last is not None:
            late_ms = max(0.0, (now - self._last[0] - self.interval_s) * 1000)
            queued_s = waited - self._last[1]
            self.late_ms.append(late_ms)
            self.own_ms.append(max(0.0, late_ms - queued_s * 1000))
            self.cpu_ms.append((cpu_s - self._last[2]) * 1000)
            self.run_queue_s += queued_s
        self._last = (now, waited, cpu_s)

    def figures(self, wall_s: float) -> dict[str, float]:
        """p99 lateness, p99 lateness less the run-queue wait, the run-queue wait in %, and of
        the worst 1 % of ticks (by lateness less the run-queue wait) the median of the thread's
        own CPU and of its blocked time over their intervals (ms)."""
        own_p99 = percentile(self.own_ms, 99)
        worst = [(own, cpu) for own, cpu in zip(self.own_ms, self.cpu_ms, strict=True)
                 if own >= own_p99]  # fmt: skip
        return {
            "delay_p99": percentile(self.late_ms, 99),
            "own_delay_p99": own_p99,
            "run_queue": 100 * self.run_queue_s / max(1e-9, wall_s),
            "tail_cpu_ms": percentile([cpu for _, cpu in worst], 50),
            "tail_blocked_ms": percentile([max(0.0, own - cpu) for own, cpu in worst], 50),
        }


def tail_note(side: dict[str, list[float]]) -> str:
    """What the worst 1 % of a side's ticks were made of (median over its runs)."""
    return (
        f"in its worst 1 % of ticks the thread's own CPU was "
        f"{statistics.median(side['tail_cpu_ms']):.1f} ms (its work: painting, the loop's "
        f"callbacks) and it was blocked {statistics.median(side['tail_blocked_ms']):.1f} ms "
        f"(neither running nor ready to run beyond the sleep it asked for: the GIL or a lock)"
    )


class _FakeRemote:
    """Stands where ``RemoteVideo`` stands: a newest-frame queue and ``fit``."""

    def __init__(self) -> None:
        self.frames: FrameQueue[Any] = FrameQueue("tile", maxsize=1)
        self.tile_height_px = 0

    def fit(self, tile_height_px: int) -> None:
        """Remember the tile's height: the layer it asks for."""
        self.tile_height_px = tile_height_px


def _decoded(width: int, height: int) -> list[rtc.VideoFrame]:
    """A few different opaque I420 pictures, as the decoder would hold them."""
    camera = SyntheticCamera(width, height)
    frames = []
    for n in range(8):
        data = camera.make_frame(n, n * 33_000).data.copy()
        frames.append(rtc.VideoFrame(width, height, rtc.VideoBufferType.I420, data.data))
    return frames


def run(duration_s: float, repeats: int = 2) -> list[Row]:
    """Measure both paths in turns; returns the rows."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtGui import QImage, QPainter, QPixmap
    from PySide6.QtWidgets import QApplication, QGridLayout, QWidget

    from desktop.session.adaptation import layer_for_tile
    from desktop.session.remote_video import RemoteFrame
    from desktop.session.state import ParticipantState, Source, TrackState
    from desktop.ui.tile import VideoTile

    app = QApplication.instance() or QApplication([])

    class NaiveTile(QWidget):
        def __init__(self) -> None:
            super().__init__()
            self.queue: FrameQueue[Any] = FrameQueue("naive", maxsize=8)
            self.pixmap: QPixmap | None = None
            self.frames_shown = 0
            self.frame_height = 0
            self.work_s = 0.0

        def tick(self) -> None:
            while (frame := self.queue.get_nowait()) is not None:
                started = time.thread_time()
                self.frame_height = frame.height
                image = QImage(frame.data, frame.width, frame.height, frame.width * 4,
                               QImage.Format.Format_RGBA8888)  # fmt: skip
                self.pixmap = QPixmap.fromImage(image).scaled(
                    self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )  # fmt: skip
                self.frames_shown += 1
                self.work_s += time.thread_time() - started
                self.repaint()

        def paintEvent(self, event: Any) -> None:  # noqa: N802
            started = time.thread_time()
            painter = QPainter(self)
            if self.pixmap is not None:
                painter.drawPixmap(0, 0, self.pixmap)
            painter.end()
            self.work_s += time.thread_time() - started

    class TimedTile(VideoTile):
        work_s = 0.0

        def tick(self) -> bool:
            started = time.thread_time()
            asked = super().tick()
            self.work_s += time.thread_time() - started
            return asked

        def paintEvent(self, event: Any) -> None:  # noqa: N802
            started = time.thread_time()
            super().paintEvent(event)
            self.work_s += time.thread_time() - started

    layers = {name: _decoded(*size) for name, size in LAYERS.items()}
    chosen: dict[str, str] = {}

    def measure(ours: bool) -> dict[str, float]:
        window = QWidget()
        window.resize(*WINDOW)
        grid = QGridLayout(window)
        tiles: list[Any] = []
        for i in range(TILES):
            if ours:
                cam = TrackState("TR", Source.CAMERA, True)
                tile: Any = TimedTile(ParticipantState(f"guest-{i}", f"Guest {i}", tracks=(cam,)))
                tile.set_remote_video(_FakeRemote())
            else:
                tile = NaiveTile()
            tiles.append(tile)
            grid.addWidget(tile, i // 3, i % 3)
        window.show()
        app.processEvents()
        # Ours gets the layer its tiles ask for; the naive path the guest's top layer.
        height = tiles[0].height()
        name = layer_for_tile(height).value if ours else NAIVE_LAYER
        side = "ours" if ours else "naive"
        chosen[side] = f"{side} {'x'.join(map(str, LAYERS[name]))} ({name})"
        chosen["tile"] = f"{height} px tiles"
        decoded = layers[name]
        stop = threading.Event()
        produced = [0]
        measuring = [False]

        def feed() -> None:
            # The SDK's VideoStream: each decoded frame handed over through the FFI, for each
            # tile, in the format that side asked for.
            target = rtc.VideoBufferType.I420 if ours else rtc.VideoBufferType.RGBA
            next_s = time.monotonic()
            n = 0
            while not stop.is_set():
                next_s += 1 / FPS
                stop.wait(max(0.0, next_s - time.monotonic()))
                for tile in tiles:
                    frame = decoded[n % len(decoded)].convert(target)
                    if ours:
                        data = np.frombuffer(frame.data, np.uint8)
                        tile.remote_video.frames.put(
                            RemoteFrame(data, frame.width, frame.height, 0)
                        )
                    else:
                        tile.queue.put(frame)
                produced[0] += TILES * measuring[0]
                n += 1

        lateness = LoopLateness(TICK_MS / 1000)

        def tick() -> None:
            lateness.tick(measuring[0])
            for tile in tiles:
                tile.tick()

        timer = QTimer()
        timer.setInterval(TICK_MS)
        timer.timeout.connect(tick)
        feeder = threading.Thread(target=feed, name="bench-tiles")
        feeder.start()
        timer.start()
        loop = QEventLoop()
        QTimer.singleShot(int(WARM_UP_S * 1000), loop.quit)
        loop.exec()
        for tile in tiles:
            tile.work_s = 0.0
        shown_before = sum(t.frames_shown for t in tiles)
        measuring[0] = True
        clock = CpuClock()
        feeder_before = thread_cpu_s(feeder)
        QTimer.singleShot(int(duration_s * 1000), loop.quit)
        loop.exec()
        cpu = clock.cpu_per_wall()
        feeder_s = thread_cpu_s(feeder) - feeder_before
        wall_s = time.monotonic() - clock.wall_start_s
        measuring[0] = False
        timer.stop()
        stop.set()
        feeder.join()
        shown = sum(t.frames_shown for t in tiles) - shown_before
        work_s = sum(t.work_s for t in tiles)
        # The layer each side painted, read back from its tiles (not assumed).
        painted = sorted((t.frame_size or (0, 0))[1] if ours else t.frame_height for t in tiles)
        window.close()
        window.deleteLater()
        return {
            "cpu": cpu * 100,
            "receive": 100 * feeder_s / wall_s,
            "ui": 100 * work_s / wall_s,
            "paint_ms": work_s * 1000 / max(1, shown),
            "per_frame_ms": cpu * 1000 / max(1e-9, shown / wall_s),
            **lateness.figures(wall_s),
            "not_painted": 100 * max(0, produced[0] - shown) / max(1, produced[0]),
            "layer_height": painted[len(painted) // 2],
            # A side whose stream cannot keep up hands over fewer than 30 fps a tile, and its
            # CPU per second then reads low: shown, so that never passes for cheap.
            "received": 100 * produced[0] / (TILES * FPS * wall_s),
        }

    samples = interleaved(measure, repeats)

    def median(side: dict[str, list[float]], key: str) -> float:
        return statistics.median(side[key])

    why_cpu = (
        f"ours {median(samples.ours, 'cpu'):.1f} % (receive {median(samples.ours, 'receive'):.1f}"
        f", UI {median(samples.ours, 'ui'):.1f}) vs naive {median(samples.base, 'cpu'):.1f} % "
        f"(receive {median(samples.base, 'receive'):.1f}, UI {median(samples.base, 'ui'):.1f}); "
        f"frames handed over by the stream {median(samples.ours, 'received'):.0f} % vs "
        f"{median(samples.base, 'received'):.0f} % of 30 fps (a side that falls behind does "
        f"less work a second: see CPU per frame painted); frames not painted "
        f"{median(samples.ours, 'not_painted'):.0f} % vs "
        f"{median(samples.base, 'not_painted'):.0f} %; layers {chosen.get('ours', '?')}, "
        f"{chosen.get('naive', '?')} for {chosen.get('tile', '?')}; {load_note()}"
    )
    layers_note = (
        f"read back from the tiles painted: {chosen.get('ours', '?')} (the layer its "
        f"{chosen.get('tile', '?')} ask for), {chosen.get('naive', '?')} (the SDK's default: a "
        f"typical guest's top layer, a 720p webcam)"
    )
    why_delay = (
        f"worst run {max(samples.ours['delay_p99']):.1f} ms; less the time the UI thread waited "
        f"for a free core (run queue, schedstat) p99 {median(samples.ours, 'own_delay_p99'):.1f}"
        f" ms; it waited {median(samples.ours, 'run_queue'):.1f} % of the time; UI work "
        f"{median(samples.ours, 'paint_ms'):.2f} ms a frame; {tail_note(samples.ours)}; "
        f"{load_note()}"
    )
    return [
        samples.row(
            "tiles", "CPU, % of one core (9 tiles, 30 fps)", "cpu",
            target="≥ 5x cheaper", met=lambda o, b: b / max(o, 1e-9) >= 5, notes=why_cpu,
        ),  # fmt: skip
        samples.row("tiles", "  receiving (SDK handoff), % core", "receive",
                    notes="ours takes I420 as decoded; naive asks the SDK for RGBA"),
        samples.row("tiles", "  UI thread: convert + scale + paint, % core", "ui"),
        samples.row(
            "tiles", "CPU per frame painted, ms", "per_frame_ms", target="≥ 5x cheaper",
            met=lambda o, b: b / max(o, 1e-9) >= 5,
            notes=f"the whole process's CPU over the frames painted (all 9 tiles): the fair "
            f"figure when a side falls behind; {why_cpu}",
        ),  # fmt: skip
        samples.row("tiles", "frames handed over by the stream, % of 30 fps", "received",
                    notes="the SDK's stream stand-in: RGBA of 720p is slow to make"),
        samples.row("tiles", "UI work per frame shown, ms", "paint_ms",
                    notes="conversion, scaling and paintEvent, on both sides"),
        samples.row(
            "tiles", "event-loop delay p99, ms", "delay_p99", target="< 8 ms",
            met=lambda o, b: o < 8, notes=why_delay,
        ),  # fmt: skip
        samples.row(
            "tiles", "  delay p99 less the wait for a free core, ms", "own_delay_p99",
            target="< 8 ms", met=lambda o, b: o < 8,
            notes="each tick's lateness less the UI thread's run-queue wait over its interval: "
            "what the process itself caused",
        ),  # fmt: skip
        samples.row("tiles", "  UI thread waiting for a free core, % of time", "run_queue",
                    notes="ready to run, no core free (/proc/thread-self/schedstat)"),
        samples.row("tiles", "frames not painted, %", "not_painted",
                    notes="ours paints the newest frame per tick by design"),
        samples.row("tiles", "layer received (height), px", "layer_height", notes=layers_note),
    ]  # fmt: skip


def steps(batches: int = 5, frames: int = 60) -> dict[str, float]:
    """CPU ms per tile frame of each step, each side at the layer it receives (best batch).

    ``python -m benchmarks.tiles``: the per-step table of docs/benchmarks.md ("Tiles").
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter, QPixmap
    from PySide6.QtWidgets import QApplication

    from desktop.media.frames import PixelFormat
    from desktop.ui.preview_widget import FrameImage

    _app = QApplication.instance() or QApplication([])
    tile_w, tile_h = 404, 228

    def best_ms(step: Any) -> float:
        times = []
        for _ in range(batches):
            started = time.thread_time()
            for n in range(frames):
                step(n)
            times.append((time.thread_time() - started) * 1000 / frames)
        return min(times)

    big, small = _decoded(*LAYERS[NAIVE_LAYER]), _decoded(*LAYERS["low"])
    big_w, big_h = LAYERS[NAIVE_LAYER]
    rgba = [frame.convert(rtc.VideoBufferType.RGBA) for frame in big]
    images = [QImage(f.data, big_w, big_h, big_w * 4, QImage.Format.Format_RGBA8888) for f in rgba]
    pixmaps = [QPixmap.fromImage(image) for image in images]
    target = QPixmap(tile_w, tile_h)
    smooth = Qt.TransformationMode.SmoothTransformation
    keep = Qt.AspectRatioMode.KeepAspectRatio
    scaled = pixmaps[0].scaled(tile_w, tile_h, keep, smooth)
    picture = FrameImage()
    planes = [np.frombuffer(frame.data, np.uint8) for frame in small]
    image = picture.set_frame(planes[0], PixelFormat.I420, *LAYERS["low"], (tile_w, tile_h))

    def draw(what: Any) -> None:
        painter = QPainter(target)
        if isinstance(what, QPixmap):
            painter.drawPixmap(0, 0, what)
        else:
            painter.drawImage(0, 0, what)
        painter.end()

    n = len(big)
    return {
        "naive: SDK convert 720p I420 → RGBA": best_ms(
            lambda i: big[i % n].convert(rtc.VideoBufferType.RGBA)
        ),
        "naive: QPixmap.fromImage 720p": best_ms(lambda i: QPixmap.fromImage(images[i % n])),
        "naive: smooth scaled() to the tile": best_ms(
            lambda i: pixmaps[i % n].scaled(tile_w, tile_h, keep, smooth)
        ),
        "naive: drawPixmap": best_ms(lambda i: draw(scaled)),
        "ours: SDK handoff 180p I420": best_ms(
            lambda i: small[i % n].convert(rtc.VideoBufferType.I420)
        ),
        "ours: planes scaled + converted to the tile": best_ms(
            lambda i: picture.set_frame(
                planes[i % n], PixelFormat.I420, *LAYERS["low"], (tile_w, tile_h)
            )
        ),
        "ours: drawImage RGB32": best_ms(lambda i: draw(image)),
    }


if __name__ == "__main__":
    for name, ms in steps().items():
        print(f"{name:<48} {ms:6.3f} ms")
    print(load_note())
