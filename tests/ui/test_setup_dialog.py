"""The setup dialog (green room): device pickers with live preview and meter, persistence."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

from desktop.media.base import SourceState
from desktop.media.camera import CameraSource, parse_camera_device
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone, SyntheticScreen
from desktop.session.settings import ConnectMode, Secrets, SettingsStore
from desktop.ui.setup_dialog import SetupDialog
from tests.fixtures.keyrings import FileKeyring


def _started(source: Any) -> Any:
    source.start()
    return source


@pytest.fixture
def opened() -> Iterator[list[Any]]:
    """Every source a factory opened, stopped at the end."""
    sources: list[Any] = []
    yield sources
    for source in sources:
        source.stop()


def _factory(opened: list[Any], make: Callable[[], Any]) -> Callable[[], Any]:
    def open_it() -> Any:
        source = _started(make())
        opened.append(source)
        return source

    return open_it


def test_pick_devices_with_live_preview_and_meter_and_keep_the_choice(
    qtbot: QtBot, tmp_path: Path, opened: list[Any]
) -> None:
    cameras = {
        "Small camera": _factory(opened, lambda: SyntheticCamera(320, 180, 30)),
        "Wide camera": _factory(opened, lambda: SyntheticCamera(640, 360, 30)),
        # A real device that cannot be opened: OpenCV is asked for a file that is not there.
        "Broken camera": _factory(
            opened, lambda: CameraSource(parse_camera_device(str(tmp_path / "gone.mp4")))
        ),
    }
    microphones = {
        "Quiet mic": _factory(opened, lambda: SyntheticMicrophone(level_dbfs=-50)),
        "Loud mic": _factory(opened, lambda: SyntheticMicrophone(level_dbfs=-6)),
    }
    screens = {"Synthetic screen": _factory(opened, lambda: SyntheticScreen(320, 180, 10))}
    store = SettingsStore(tmp_path / "config")
    settings = store.load()
    secrets = Secrets(FileKeyring(tmp_path / "keyring.json"))
    camera, mic = cameras["Small camera"](), microphones["Quiet mic"]()
    dialog = SetupDialog(settings, secrets, camera, mic, cameras=cameras,
                         microphones=microphones, screens=screens,
                         camera_label="Small camera", mic_label="Quiet mic")  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.show()
    # Live preview of the camera and the screen to share; the meter follows the microphone.
    qtbot.waitUntil(lambda: dialog.preview.frames_shown >= 2, timeout=5000)
    qtbot.waitUntil(lambda: dialog.screen_preview.frames_shown >= 2, timeout=5000)
    qtbot.waitUntil(lambda: dialog.meter.level_dbfs > -60, timeout=5000)
    assert dialog.meter.level_dbfs < -40
    assert dialog.camera_pick.currentText() == "Small camera"

    dialog.camera_pick.setCurrentText("Wide camera")
    assert dialog.camera is not camera and dialog.camera_label == "Wide camera"
    assert camera.state is SourceState.STOPPED  # the one switched away from is released
    shown = dialog.preview.frames_shown
    qtbot.waitUntil(lambda: dialog.preview.frames_shown > shown + 1, timeout=5000)
    assert dialog.preview.frame_size is not None and dialog.preview.frame_size[0] == 640

    # A camera that will not open is named with the next step; the working one stays.
    working = dialog.camera
    dialog.camera_pick.setCurrentText("Broken camera")
    assert not dialog.problem.isHidden()
    assert "Broken camera cannot be used" in dialog.problem.text()
    assert "Pick another camera" in dialog.problem.text()
    assert dialog.camera is working and dialog.camera_pick.currentText() == "Wide camera"

    dialog.mic_pick.setCurrentText("Loud mic")
    assert mic.state is SourceState.STOPPED and dialog.mic_label == "Loud mic"
    qtbot.waitUntil(lambda: dialog.meter.level_dbfs > -20, timeout=5000)
    assert not dialog.problem.text()

    # Connection details; the secret is typed masked and goes to the keyring, not the file.
    dialog.mode.setCurrentIndex(dialog.mode.findData("livekit"))
    assert dialog.url.isVisibleTo(dialog) and not dialog.backend.isVisibleTo(dialog)
    assert dialog.api_secret.echoMode() is QLineEdit.EchoMode.Password
    dialog.url.setText("wss://live.example.com")
    dialog.api_key.setText("APIkey")
    dialog.api_secret.setText("very-secret-value")
    dialog.apply()
    dialog.accept()
    assert dialog.screen_preview.frames_shown > 0
    assert all(s.state is not SourceState.RUNNING for s in opened if isinstance(s, SyntheticScreen))
    store.save(settings)
    again = store.load()
    assert (again.camera, again.microphone, again.screen) == (
        "Wide camera", "Loud mic", "Synthetic screen",
    )  # fmt: skip
    assert (again.connect_mode, again.livekit_url, again.livekit_api_key) == (
        ConnectMode.LIVEKIT, "wss://live.example.com", "APIkey",
    )  # fmt: skip
    assert "very-secret-value" not in "".join(
        p.read_text() for p in (tmp_path / "config").rglob("*") if p.is_file()
    )
    assert Secrets(FileKeyring(tmp_path / "keyring.json")).get("livekit-api-secret") == (
        "very-secret-value"
    )


def _setup(tmp_path: Path, **settings: Any) -> tuple[SetupDialog, Any]:
    from desktop.session.settings import Settings

    secrets = Secrets(FileKeyring(tmp_path / "keys.json"))
    return SetupDialog(Settings(**settings), secrets, None, None), secrets


def test_only_the_chosen_modes_fields_show_and_no_camera_is_said(
    qtbot: QtBot, tmp_path: Path, opened: list[Any]
) -> None:
    from desktop.session.settings import Settings

    dialog = SetupDialog(
        Settings(), Secrets(FileKeyring(tmp_path / "keys.json")), None, None,
        cameras={"Synthetic camera": _factory(opened, lambda: SyntheticCamera(320, 180, 10))},
        camera_label="Synthetic camera",
    )  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.show()
    assert "No camera was found" in dialog.device_note.text() and dialog.device_note.isVisible()
    livekit = (dialog.url, dialog.api_key, dialog.api_secret, dialog.room)
    platform = (dialog.backend, dialog.credential, dialog.appointment)
    assert not any(w.isVisible() for w in (*livekit, *platform))
    assert not dialog.test_button.isVisible()
    dialog.mode.setCurrentIndex(dialog.mode.findData("livekit"))
    assert all(w.isVisible() for w in livekit) and not any(w.isVisible() for w in platform)
    assert dialog.test_button.isVisible()
    dialog.mode.setCurrentIndex(dialog.mode.findData("platform"))
    assert all(w.isVisible() for w in platform) and not any(w.isVisible() for w in livekit)


async def test_test_connection_really_reaches_the_backend_and_says_what_failed(
    qtbot: QtBot, tmp_path: Path, backend_server: Any, livekit_server: Any
) -> None:
    from tests.fixtures.rtmp import free_port
    from tests.ui.driving import click, pump, type_text

    dialog, _ = _setup(tmp_path, connect_mode=ConnectMode.PLATFORM)
    qtbot.addWidget(dialog)
    dialog.show()
    type_text(qtbot, dialog.backend, backend_server.url)
    type_text(qtbot, dialog.credential, "wrong-token")
    click(qtbot, dialog.test_button)
    await pump(lambda: dialog.test_result.text().startswith("✗"), 30)
    assert "Could not connect" in dialog.test_result.text()
    dialog.credential.setText(backend_server.host_credential)
    click(qtbot, dialog.test_button)
    await pump(lambda: dialog.test_result.text().startswith("✓"), 30)
    assert "accepted" in dialog.test_result.text()
    dialog.mode.setCurrentIndex(dialog.mode.findData("livekit"))
    dialog.url.setText(f"ws://127.0.0.1:{free_port()}")
    dialog.api_key.setText("devkey")
    dialog.api_secret.setText("secret")
    click(qtbot, dialog.test_button)
    await pump(lambda: dialog.test_result.text().startswith("✗"), 30)
    assert "nothing answered" in dialog.test_result.text()
    dialog.url.setText(livekit_server.ws_url)
    dialog.api_key.setText(livekit_server.api_key)
    dialog.api_secret.setText("not-the-secret")
    click(qtbot, dialog.test_button)
    await pump(lambda: dialog.test_result.text().startswith("✗"), 30)
    assert "refused the API key or secret" in dialog.test_result.text()
    dialog.api_secret.setText(livekit_server.api_secret)
    click(qtbot, dialog.test_button)
    await pump(lambda: dialog.test_result.text().startswith("✓"), 30)
    assert "accepted your key" in dialog.test_result.text()


def test_a_camera_plugged_in_while_setup_is_open_appears_when_the_list_opens(
    qtbot: QtBot, tmp_path: Path, opened: list[Any]
) -> None:
    from desktop.session.settings import Settings

    cameras = {"Synthetic camera": _factory(opened, lambda: SyntheticCamera(320, 180, 10))}
    plugged = dict(cameras)
    dialog = SetupDialog(
        Settings(), Secrets(FileKeyring(tmp_path / "keys.json")), None, None,
        cameras=cameras, camera_label="Synthetic camera", list_cameras=lambda: plugged,
    )  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.show()
    plugged["USB camera"] = _factory(opened, lambda: SyntheticCamera(640, 360, 10))
    dialog.camera_pick.showPopup()  # the host opens the list
    dialog.camera_pick.hidePopup()
    assert dialog.camera_pick.findText("USB camera") >= 0
    dialog.camera_pick.setCurrentText("USB camera")
    assert dialog.camera is not None and dialog.camera.width == 640
    assert "No camera was found" not in dialog.device_note.text()
    dialog.reject()
