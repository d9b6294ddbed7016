"""Record ▸ Write HLS to the folder: the host starts and stops the program's HLS from the menu."""

from __future__ import annotations

from pathlib import Path

import keyring.backends.fail
from pytestqt.qtbot import QtBot

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.settings import Secrets, Settings
from desktop.session.studio import Studio
from desktop.ui.studio_window import StudioWindow
from tests.ui.driving import pump


def _menu_action(window: StudioWindow, text: str) -> None:
    window.controls.record_menu.aboutToShow.emit()
    actions = {a.text(): a for a in window.controls.record_menu.actions()}
    assert text in actions, list(actions)
    actions[text].trigger()


async def test_hls_from_the_record_menu(qtbot: QtBot, tmp_path: Path) -> None:
    camera, mic = SyntheticCamera(320, 180, 30), SyntheticMicrophone()
    camera.start()
    mic.start()
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    studio = Studio(Settings(recording_folder=str(tmp_path)), secrets)
    studio.use_devices(camera, mic)
    window = StudioWindow(studio)
    qtbot.addWidget(window)
    window.show()
    try:
        _menu_action(window, "Write HLS to the folder")
        await pump(lambda: any(tmp_path.glob("HLS */segment_00000.ts")), 30.0)
        playlist = next(tmp_path.glob("HLS */index.m3u8"))
        await pump(lambda: "#EXTINF" in playlist.read_text(), 30.0)
        window.outputs.refresh(studio.store.state)
        assert "HLS: " in window.outputs.recording.text()
        _menu_action(window, "Stop HLS")
        await pump(lambda: "#EXT-X-ENDLIST" in playlist.read_text(), 30.0)
    finally:
        window._close_confirmed = True
        window.close()
        await studio.aclose()
        camera.stop()
        mic.stop()
