"""Issue #17: Stats counts the program encoder's skipped frames and the outputs' dropped frames
for real, as OBS does ("skipped n of m (x %)", "dropped n of m"), and shows them."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.media.outputs.encoder import ProgramEncoder
from desktop.media.outputs.sinks import FileSink
from desktop.session.studio import Studio
from desktop.ui.studio_window import StudioWindow
from tests.ui.driving import pump

SLOW_ENCODE_S = 0.12
"""Longer than a frame at 30 fps: the encoder cannot keep up, so frames must be skipped."""


@pytest.fixture
def stalled_recording(tmp_path: Path) -> Iterator[Path]:
    """A recording target whose "disk" stops taking data: a pipe nobody reads (4 KiB deep)."""
    path = tmp_path / "stalled.mkv"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(reader, fcntl.F_SETPIPE_SZ, 4096)
    try:
        yield path
    finally:
        os.close(reader)  # the writer gets EPIPE and the output ends


def _counts(text: str, verb: str) -> tuple[int, int]:
    found = re.search(rf"{verb} (\d+) of (\d+)", text)
    assert found, text
    return int(found[1]), int(found[2])


async def test_stats_show_skipped_encoder_frames_and_dropped_output_frames(
    qtbot: QtBot,
    studio_window: tuple[Studio, StudioWindow],
    stalled_recording: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    studio, window = studio_window
    real_encode = ProgramEncoder.encode_video

    def slow_encode(self: ProgramEncoder, *args: Any) -> Any:
        time.sleep(SLOW_ENCODE_S)  # an encoder too slow for the frame rate
        return real_encode(self, *args)

    monkeypatch.setattr(ProgramEncoder, "encode_video", slow_encode)
    direct = studio.live.direct
    # Recording never writes over an existing file (the pipe is one): the output is added as
    # Record would add it, with its status reported into the studio's state on this loop.
    studio.live._loop = asyncio.get_running_loop()
    direct._add("recording", FileSink(stalled_recording))
    window.side.setCurrentWidget(window.stats)
    rows = window.stats.rows
    # The encoder falls behind: Stats says how many frames it skipped of how many were due.
    await pump(lambda: "Encoder frames" in rows and _counts(rows["Encoder frames"].text(),
                                                           "skipped")[0] > 0, 30)  # fmt: skip
    skipped, due = _counts(rows["Encoder frames"].text(), "skipped")
    assert 0 < skipped < due
    assert re.search(r"skipped \d+ of \d+ \(\d+\.\d %\)", rows["Encoder frames"].text())
    # The output stalls: frames waiting too long are dropped, and counted.
    await pump(lambda: "Recording" in rows and _counts(rows["Recording"].text(),
                                                      "dropped")[0] > 0, 30)  # fmt: skip
    dropped, handed = _counts(rows["Recording"].text(), "dropped")
    assert 0 < dropped <= handed
    status = direct.statuses()["recording"]
    assert status.dropped_frames >= dropped and status.video_frames >= handed
    assert direct.frames_skipped >= skipped


def test_stats_words_for_dropped_receive_frames_name_each_video() -> None:
    from desktop.session.receive_drops import ReceiveDrops
    from desktop.ui import words

    class Stream:
        received, dropped = 0, 0

    drops = ReceiveDrops()
    assert words.receive_drops(drops) == "none"
    ada, ben = Stream(), Stream()
    drops.track("ada's camera (tile)", ada)
    drops.track("ben's camera (program)", ben)
    ada.received, ada.dropped = 990, 10
    ben.received = 500
    drops.add_native("video", 42)
    text = words.receive_drops(drops)
    assert text.startswith("ada's camera (tile): dropped 10 of 1000 (1.0 %)"), text
    assert "ben" not in text and "before reaching the studio: 42 frames" in text
