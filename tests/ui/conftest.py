"""What the studio window tests share: one studio in a shown, active window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring.backends.fail
import pytest
from pytestqt.qtbot import QtBot

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.settings import Secrets, Settings
from desktop.session.studio import Studio
from desktop.ui.studio_window import StudioWindow


@pytest.fixture
def studio_window(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[Studio, StudioWindow]]:
    """A local studio (synthetic camera and mic, recordings in a test folder) in a shown,
    active window; closed without asking at the end."""
    camera, mic = SyntheticCamera(320, 180, 30), SyntheticMicrophone(level_dbfs=-10)
    camera.start()
    mic.start()
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    studio = Studio(Settings(recording_folder=str(tmp_path / "rec")), secrets)
    studio.use_devices(camera, mic)
    window = StudioWindow(studio)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    yield studio, window
    window._close_confirmed = True
    window.close()
    studio.live.direct.close()
    camera.stop()
    mic.stop()
