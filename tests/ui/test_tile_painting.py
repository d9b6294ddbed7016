"""Tiles paint only when a new frame arrived, convert only the newest (on the tiles' worker
thread, not the UI thread), at their exact size."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from desktop.media.fanout import FrameQueue
from desktop.session.remote_video import RemoteFrame
from desktop.session.state import ParticipantState, Source, TrackState
from desktop.ui.frame_worker import new_key, worker
from desktop.ui.tile import TILE_WORKER, VideoTile

W, H = 640, 360
ORANGE_YUV = (151, 44, 201)  # BT.601 limited range for RGB (255, 128, 0), roughly


class Feed:
    """What a tile needs from a remote video."""

    def __init__(self) -> None:
        self.frames: FrameQueue[RemoteFrame] = FrameQueue("tile", maxsize=1)
        self.heights: list[int] = []

    def fit(self, tile_height_px: int) -> None:
        self.heights.append(tile_height_px)

    async def aclose(self) -> None:
        self.frames.close()


class PaintCounter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.paints = 0

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
        if event.type() == QEvent.Type.Paint:
            self.paints += 1
        return False


def _solid(yuv: tuple[int, int, int]) -> RemoteFrame:
    y, u, v = yuv
    data = np.concatenate((np.full(W * H, y, np.uint8), np.full(W * H // 4, u, np.uint8),
                           np.full(W * H // 4, v, np.uint8)))  # fmt: skip
    return RemoteFrame(data, W, H, 0)


def test_tile_paints_only_new_frames_scaled_to_its_size(qtbot: QtBot) -> None:
    camera = TrackState("TR", Source.CAMERA, True)
    tile = VideoTile(ParticipantState("ann", "Ann", tracks=(camera,)))
    qtbot.addWidget(tile)
    tile.resize(330, 240)
    feed = Feed()
    tile.set_remote_video(feed)
    tile.show()
    qtbot.waitExposed(tile)
    counter = PaintCounter()
    tile.installEventFilter(counter)
    qtbot.wait(200)  # the first exposure's paints
    counter.paints = 0

    # Nothing new: no repaint asked for, however often the stage ticks.
    assert tile.tick() is False
    qtbot.wait(50)
    assert counter.paints == 0

    # Three frames arrive between two ticks: only the newest is converted and painted.
    feed.frames.put(_solid((81, 90, 240)))  # red
    feed.frames.put(_solid((145, 54, 34)))  # green
    feed.frames.put(_solid(ORANGE_YUV))
    assert tile.tick() is True
    qtbot.waitUntil(lambda: counter.paints == 1, timeout=3000)
    assert tile.tick() is False
    qtbot.wait(50)
    assert counter.paints == 1
    assert tile.frames_shown == 1 and tile.frames_skipped == 2

    # The picture was made at the tile's exact size (letterboxed 16:9 in 330x240), so the
    # paint copies it without scaling; what the user sees is orange.
    image = tile._picture.image
    assert image is not None and (image.width(), image.height()) == (330, 184)
    shown = tile.grab().toImage()
    colour = shown.pixelColor(165, 100)
    assert abs(colour.red() - 255) < 12 and abs(colour.green() - 128) < 12 and colour.blue() < 12


def test_tile_rescales_the_next_frame_after_a_resize(qtbot: QtBot) -> None:
    camera = TrackState("TR", Source.CAMERA, True)
    tile = VideoTile(ParticipantState("ann", "Ann", tracks=(camera,)))
    qtbot.addWidget(tile)
    feed = Feed()
    tile.set_remote_video(feed)
    tile.resize(320, 180)
    tile.show()
    qtbot.waitExposed(tile)
    feed.frames.put(_solid(ORANGE_YUV))
    tile.tick()

    def image_size() -> tuple[int, int] | None:
        image: Any = tile._picture.image
        return None if image is None else (image.width(), image.height())

    qtbot.waitUntil(lambda: image_size() == (320, 180), timeout=3000)  # made by the worker
    tile.resize(160, 90)
    qtbot.waitUntil(lambda: tile.height() == 90, timeout=3000)
    assert feed.heights[-1] == 90  # the layer that fits is asked for
    feed.frames.put(_solid(ORANGE_YUV))
    tile.tick()
    qtbot.waitUntil(lambda: image_size() == (160, 90), timeout=3000)


def _hold_the_worker() -> threading.Event:
    """Keep the tiles' worker thread busy until the returned event is set (a worker that is
    still converting another tile's frame)."""
    started, release = threading.Event(), threading.Event()

    def busy() -> None:
        started.set()
        release.wait(10)

    worker(TILE_WORKER).submit(new_key(), busy, (16, 16), lambda _: None)
    assert started.wait(5)
    return release


def test_frames_replaced_before_the_worker_takes_them_are_never_converted(qtbot: QtBot) -> None:
    camera = TrackState("TR", Source.CAMERA, True)
    tile = VideoTile(ParticipantState("ann", "Ann", tracks=(camera,)))
    qtbot.addWidget(tile)
    tile.resize(330, 240)
    feed = Feed()
    tile.set_remote_video(feed)
    tile.show()
    qtbot.waitExposed(tile)
    tiles_worker = worker(TILE_WORKER)
    converted_before = tiles_worker.converted
    # Two stage ticks hand over a frame each while the worker is busy: the first one is
    # replaced unseen, so only the second is converted, off the UI thread, and painted.
    release = _hold_the_worker()
    feed.frames.put(_solid((81, 90, 240)))  # red
    assert tile.tick() is True
    feed.frames.put(_solid(ORANGE_YUV))
    assert tile.tick() is True
    assert tile.frames_shown == 0  # nothing shown before the worker made it
    release.set()
    qtbot.waitUntil(lambda: tile.frames_shown == 1, timeout=3000)
    qtbot.wait(50)
    assert tiles_worker.converted - converted_before == 1
    assert tile.frames_shown == 1 and tile.frames_skipped == 1
    colour = tile.grab().toImage().pixelColor(165, 100)
    assert abs(colour.red() - 255) < 12 and abs(colour.green() - 128) < 12

    # A tile nobody can see (hidden: another page of the stage) takes frames but converts none.
    tile.hide()
    for _ in range(3):
        feed.frames.put(_solid((81, 90, 240)))
        tile.tick()
        qtbot.wait(20)
    assert tiles_worker.converted - converted_before == 1


def test_a_new_frame_repaints_its_tile_only(qtbot: QtBot) -> None:
    stage = QWidget()
    qtbot.addWidget(stage)
    stage.resize(660, 240)
    feeds, tiles = [], []
    for n, name in enumerate(("Ann", "Bob")):
        camera = TrackState(f"TR{n}", Source.CAMERA, True)
        tile = VideoTile(ParticipantState(name.lower(), name, tracks=(camera,)), parent=stage)
        tile.setGeometry(n * 330, 0, 330, 240)
        feed = Feed()
        tile.set_remote_video(feed)
        feeds.append(feed)
        tiles.append(tile)
    stage.show()
    qtbot.waitExposed(stage)
    counters = {}
    for name, widget in (("stage", stage), ("ann", tiles[0]), ("bob", tiles[1])):
        counters[name] = PaintCounter()
        widget.installEventFilter(counters[name])
    qtbot.wait(200)  # the first exposure's paints
    for counter in counters.values():
        counter.paints = 0
    feeds[0].frames.put(_solid(ORANGE_YUV))
    assert tiles[0].tick() is True and tiles[1].tick() is False
    qtbot.waitUntil(lambda: counters["ann"].paints == 1, timeout=3000)
    qtbot.wait(50)
    # The tile is opaque: Qt paints neither the stage beneath it nor the tile beside it.
    assert (counters["stage"].paints, counters["bob"].paints) == (0, 0)
    assert tiles[0].testAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)


def _red_pixels_in_strip(tile: VideoTile) -> int:
    shown = tile.grab().toImage()
    count = 0
    for y in range(shown.height() - 24, shown.height()):
        for x in range(shown.width()):
            colour = shown.pixelColor(x, y)
            count += colour.red() > 180 and colour.green() < 140 and colour.blue() < 140
    return count


def test_name_strip_follows_the_participant_though_it_is_drawn_once(qtbot: QtBot) -> None:
    camera = TrackState("TR", Source.CAMERA, True)
    mic_on, mic_off = (TrackState("MI", Source.MICROPHONE, False, muted=m) for m in (False, True))
    tile = VideoTile(ParticipantState("ann", "Ann", tracks=(camera, mic_on)))
    qtbot.addWidget(tile)
    tile.resize(180, 120)  # narrow: a muted mic is a red dot (words need fonts, shapes do not)
    tile.show()
    qtbot.waitExposed(tile)
    assert _red_pixels_in_strip(tile) == 0
    tile.set_participant(ParticipantState("ann", "Ann", tracks=(camera, mic_off)))
    qtbot.waitUntil(lambda: _red_pixels_in_strip(tile) > 20, timeout=3000)
