"""The preview window shows the camera's frames and the microphone's level."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktop.media.meter import SILENCE_DBFS
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.ui.main_window import MainWindow


def test_preview_paints_frames_and_meter_moves(qtbot: QtBot) -> None:
    camera = SyntheticCamera(320, 180, fps=30)
    mic = SyntheticMicrophone(level_dbfs=-10)
    window = MainWindow(camera, mic, ["camera 3: there is no camera with this number"])
    qtbot.addWidget(window)
    camera.start()
    mic.start()
    try:
        window.show()
        qtbot.waitUntil(lambda: window.preview.frames_shown >= 5, timeout=5000)
        qtbot.waitUntil(lambda: window.meter.value() > -12, timeout=5000)
        assert window.meter.value() <= -9
        assert not window.notes.isHidden()
        assert "no camera with this number" in window.notes.text()
        grabbed = window.preview.grab().toImage()
        centre = grabbed.pixelColor(grabbed.width() // 2, grabbed.height() // 2)
        assert (centre.red(), centre.green(), centre.blue()) != (16, 19, 24)  # not the backdrop
    finally:
        window.close()
        camera.stop()
        mic.stop()
    assert window.meter.minimum() == int(SILENCE_DBFS)


def test_about_shows_the_package_version(qtbot: QtBot) -> None:
    from importlib.metadata import version

    camera, mic = SyntheticCamera(320, 180), SyntheticMicrophone()
    window = MainWindow(camera, mic, [])
    qtbot.addWidget(window)
    assert f"Spaces Broadcaster {version('spaces-broadcaster')}" in window.about_text()
    assert window.about_action.text().replace("&", "") == "About Spaces Broadcaster"
    window.close()
