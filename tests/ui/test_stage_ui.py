"""The studio's rehearsal bar, moderation log, quality sparklines, recording-gap notice and the
summary's gaps and sparklines: real state, real widgets, real clicks (and a real nginx-rtmp)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.session import stage_control
from desktop.session.state import (
    Problem,
    ProblemCode,
    Quality,
    QualitySample,
    RecordingGap,
)
from desktop.session.studio import StreamSummary, Studio
from desktop.ui.studio_window import StudioWindow
from desktop.ui.summary_widget import summary_lines
from tests.fixtures.rtmp import RtmpServer
from tests.ui.driving import pump


async def test_rehearse_then_go_live_from_the_window(
    qtbot: QtBot,
    studio_window: tuple[Studio, StudioWindow],
    rtmp_server: RtmpServer,
) -> None:
    studio, window = studio_window
    studio.add_destination("Show", rtmp_server.url("live"), "show-key")
    bar = window.rehearsal
    assert "private file" in bar.words.text() and bar.button.text() == "Rehearse"
    qtbot.mouseClick(bar.button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    await pump(lambda: bar.button.text() == "End rehearsal")
    assert bar.words.text().startswith("REHEARSING — only you see this")
    assert "Rehearsal " in bar.words.text() and not bar.sink.isEnabled()
    rehearsal_file = next(studio.settings.recording_dir().glob("Rehearsal *.mp4"))
    await pump(lambda: rehearsal_file.stat().st_size > 20_000)

    qtbot.mouseClick(window.controls.live_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    await pump(lambda: studio.store.state.is_live)
    await pump(lambda: bar.words.text() == "On air.")
    assert not bar.button.isEnabled() and studio.store.state.rehearsal == ""
    rtmp_server.wait_for_recording("live", min_bytes=10_000, timeout_s=20)
    await studio.end_live()
    await pump(lambda: bar.button.isEnabled() and bar.button.text() == "Rehearse")

    # A private stream instead of a file: the URL is checked; the key never shows.
    dialog = bar.open_sink_dialog()
    dialog.url.setText("http://not-rtmp/app")
    dialog.key.setText("secret-key")
    dialog._save()
    assert dialog.isVisible() and "rtmp://" in dialog.problem.text()
    dialog.url.setText(rtmp_server.url("live2"))
    dialog._save()
    assert not dialog.isVisible()
    assert "private stream to rtmp://127.0.0.1" in bar.words.text()
    assert "secret-key" not in bar.words.text()
    # A private sink that refuses the stream is said, not hidden behind "REHEARSING".
    studio.set_rehearsal_url(rtmp_server.url("locked"), "secret-key")
    qtbot.mouseClick(bar.button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    await pump(lambda: "not receiving" in bar.words.text(), 30)
    assert "secret-key" not in bar.words.text()
    await studio.end_rehearsal()
    await pump(lambda: bar.button.text() == "Rehearse")


def test_log_sparklines_gap_notice_and_summary(
    studio_window: tuple[Studio, StudioWindow], tmp_path: Path
) -> None:
    studio, window = studio_window
    store = studio.store
    log = window.moderation_log
    assert log.table.rowCount() == 0 and not log.export.isEnabled()
    stage_control.log_action(store, "mute", "ann", "microphone", actor="host-1")
    stage_control.log_action(store, "ask-to-unmute", "ann", "request UR_1", actor="host-1")
    stage_control.log_action(store, "unmute-accepted", "ann", actor="ann")
    assert log.table.rowCount() == 3 and log.export.isEnabled()
    assert [log.table.item(r, 2).text() for r in range(3)] == [  # type: ignore[union-attr]
        "muted", "asked to unmute", "accepted and unmuted",
    ]  # fmt: skip
    with log.export_to(tmp_path / "log.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        ("host-1", "mute", "ann"), ("host-1", "ask-to-unmute", "ann"),
        ("ann", "unmute-accepted", "ann"),
    ]  # fmt: skip

    # The People panel draws each guest's grades over time.
    store.update_remote("ann", name="Ann", quality=Quality.GOOD)
    now_ms = int(time.time() * 1000)
    history = (
        QualitySample(now_ms - 60_000, Quality.EXCELLENT),
        QualitySample(now_ms - 33_000, Quality.POOR),
        QualitySample(now_ms - 8_000, Quality.GOOD),
    )
    store.update(quality_history={"ann": history})
    item = window.participants.list.item(0)
    # 60 s in 8 stretches of 7.5 s, each its worst grade: excellent 27 s, poor 25 s, good 8 s.
    assert item.text().endswith("███▃▃▃▃▆"), item.text()
    assert item.toolTip() == ("Connection over time: excellent, then poor, now good (worst: poor)")

    # A cloud recording gap is a notice with its next step until the guard clears it.
    store.update(problems=(Problem(ProblemCode.CLOUD_RECORDING_INTERRUPTED, "it failed"),))
    assert any("The cloud recording stopped" in t for t in window.notices.texts())
    store.update(problems=())
    assert not any("The cloud recording stopped" in t for t in window.notices.texts())

    summary = StreamSummary(
        60.0, 2, 2,
        quality_history={"ann": history},
        recording_gaps=[RecordingGap(now_ms - 20_000, now_ms - 14_000)],
        ended_ms=now_ms,
    )  # fmt: skip
    lines = dict(summary_lines(summary))
    assert "(6 s missing)" in lines["Cloud recording gap"]
    assert lines["Connection: ann"].startswith("█████▃▃▃▃▃▃▆")
    shown = window.show_summary(summary)
    assert "Cloud recording gap" in shown.text()
