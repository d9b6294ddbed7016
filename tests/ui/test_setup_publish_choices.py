"""The green room's publish and recording choices land in the settings the studio uses."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from desktop.session.settings import Secrets, Settings, preset_values
from desktop.session.studio import Studio
from desktop.ui.setup_dialog import SetupDialog
from tests.fixtures.keyrings import FileKeyring


def test_custom_video_audio_bitrate_receiving_and_recording_choices(
    qtbot: QtBot, tmp_path: Path
) -> None:
    settings = Settings()
    dialog = SetupDialog(settings, Secrets(FileKeyring(tmp_path / "keys.json")), None, None)
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentIndex(dialog.preset.findData("custom"))
    dialog.custom_size.setText("854x480@24 1200 kb/s")
    dialog.audio_bitrate.setCurrentIndex(dialog.audio_bitrate.findData("32000"))
    dialog.auto_subscribe.setChecked(False)
    dialog.recording_output.setCurrentIndex(dialog.recording_output.findData("webm"))
    dialog.recording_layout.setCurrentIndex(dialog.recording_layout.findData("grid"))
    dialog.recording_quality.setCurrentIndex(dialog.recording_quality.findData("low"))
    dialog.apply()
    # Sizes are made even for the encoder: 854 stays, 480 stays.
    assert preset_values(settings) == (854, 480, 24, 1_200_000)
    assert (settings.audio_bitrate_bps, settings.auto_subscribe) == (32_000, False)
    assert (settings.recording_output, settings.recording_layout, settings.recording_quality) == (
        "webm", "grid", "low")  # fmt: skip
    studio = Studio(settings, Secrets(FileKeyring(tmp_path / "keys.json")))
    session = studio._new_session()
    assert (session.defaults.width, session.defaults.height, session.defaults.fps) == (854, 480, 24)
    assert session.defaults.video_bitrate_bps == 1_200_000
    assert session.defaults.audio_bitrate_bps == 32_000 and not session.auto_subscribe
    # A malformed custom entry keeps the last good values.
    dialog.custom_size.setText("big and fast")
    dialog.apply()
    assert preset_values(settings) == (854, 480, 24, 1_200_000)
