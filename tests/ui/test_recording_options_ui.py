"""File ▸ Settings' recording file and quality reach the local recording the Record button makes
(through the real dialog, window and studio; the file read back with ffprobe)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from desktop.media.outputs.output import OutputPhase
from desktop.session.settings import SettingsStore
from desktop.session.studio import Studio
from desktop.ui.setup_again import reopen_setup
from desktop.ui.setup_dialog import SetupDialog
from desktop.ui.studio_window import StudioWindow
from tests.ui.driving import pump


async def test_webm_and_low_quality_chosen_in_settings_make_the_local_recording(
    qtbot: QtBot, tmp_path: Path, studio_window: tuple[Studio, StudioWindow]
) -> None:
    studio, window = studio_window
    dialogs: list[SetupDialog] = []
    window._open_settings = lambda w: dialogs.append(
        reopen_setup(
            w, studio, SettingsStore(tmp_path / "config"), studio.secrets, dict, dict, dict
        )
    )
    window.open_settings()
    (dialog,) = dialogs
    dialog.recording_output.setCurrentIndex(dialog.recording_output.findData("webm"))
    # By default the local recording shares the stream's encoder; "low" asks for its own.
    assert dialog.local_recording_quality.currentData() == "stream"
    dialog.local_recording_quality.setCurrentIndex(dialog.local_recording_quality.findData("low"))
    buttons = dialog.findChild(QDialogButtonBox)
    assert buttons is not None
    ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    await pump(lambda: not dialog.isVisible(), 10)

    window.controls.record_action.trigger()
    direct = studio.live.direct
    await pump(lambda: direct.statuses().get("recording") is not None
               and direct.statuses()["recording"].video_frames >= 60, 60.0)  # fmt: skip
    status = direct.statuses()["recording"]
    assert status.phase is OutputPhase.LIVE, status
    assert Path(status.path).suffix == ".webm"
    size = f"{direct.settings.width}x{direct.settings.height}"  # the program's size
    assert status.encoding.startswith(f"VP8 + Opus, {size}"), status.encoding
    assert "3.0 Mb/s" in status.encoding  # low, not the preset's bitrate
    # Stats says which encoder runs and what it feeds.
    window.side.setCurrentWidget(window.stats)
    await pump(lambda: "Encoders" in window.stats.rows
               and "libvpx" in window.stats.rows["Encoders"].text(), 60.0)  # fmt: skip
    assert "for the recording" in window.stats.rows["Encoders"].text()
    window.outputs.refresh(studio.store.state)
    assert "VP8 + Opus" in window.outputs.recording.text()
    assert "its own encoder" in window.outputs.recording.text()

    window.controls.record_action.trigger()
    await pump(lambda: "recording" not in direct.statuses(), 60.0)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=format_name,size:stream=codec_name",
         "-of", "json", status.path],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    probed = json.loads(out)
    assert probed["format"]["format_name"] == "matroska,webm"
    assert int(probed["format"]["size"]) > 0
    assert sorted(s["codec_name"] for s in probed["streams"]) == ["opus", "vp8"]
