"""Issue #17: audio devices plugged in and out mid-show, and the system default followed.

A private PulseAudio daemon stands for the computer's sound system: null sinks and sources
appear and disappear as a USB headset would, and ``pactl set-default-source`` is what the
system's sound settings do. The studio window runs with the app's own device lists.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest
from PySide6.QtGui import QAction
from pytestqt.qtbot import QtBot

from desktop.media.synthetic import SyntheticCamera
from desktop.session.settings import Secrets, Settings
from desktop.session.studio import Studio
from desktop.ui.devices import SYSTEM_DEFAULT_MIC, default_microphone, device_factories
from desktop.ui.studio_window import StudioWindow
from tests.fixtures.devices import PrivatePulse
from tests.ui.driving import pump

HOTPLUG_WAIT_S = 20.0
"""The studio looks every 3 s; generous for a loaded machine."""


def _throttled(predicate: Callable[[], bool], interval_s: float = 0.3) -> Callable[[], bool]:
    """``predicate`` asked at most every ``interval_s`` (it runs pactl: cheap, not free)."""
    last = [0.0]

    def ask() -> bool:
        if time.monotonic() - last[0] < interval_s:
            return False
        last[0] = time.monotonic()
        return predicate()

    return ask


def _menu(menu: Any) -> dict[str, QAction]:
    menu.aboutToShow.emit()
    return {action.text(): action for action in menu.actions()}


@pytest.fixture
def pulse_studio(
    qtbot: QtBot, private_pulse: PrivatePulse, tmp_path: Path
) -> Iterator[tuple[Studio, StudioWindow, PrivatePulse]]:
    """The studio on "System default microphone", with the app's own device lists."""
    private_pulse.plug_sink("desk", "Desk_speakers")
    private_pulse.pactl("set-default-sink", "desk")
    private_pulse.pactl("set-default-source", "desk.monitor")
    camera = SyntheticCamera(320, 180, 10)
    camera.start()
    microphones = device_factories(False)[1]
    mic = microphones[SYSTEM_DEFAULT_MIC]()
    settings = Settings(recording_folder=str(tmp_path / "rec"), microphone=SYSTEM_DEFAULT_MIC)
    studio = Studio(settings, Secrets(keyring.backends.fail.Keyring()))  # type: ignore[no-untyped-call]
    studio.use_devices(camera, mic)
    window = StudioWindow(
        studio,
        cameras=lambda: {"Synthetic camera": lambda: camera},
        microphones=lambda: device_factories(False)[1],
        speakers=lambda: device_factories(False)[2],
        default_microphone=default_microphone,
    )
    qtbot.addWidget(window)
    window.show()
    try:
        yield studio, window, private_pulse
    finally:
        window._close_confirmed = True
        window.close()
        studio.live.direct.close()
        camera.stop()
        if studio.mic is not None:
            studio.mic.stop()


async def test_a_headset_plugged_in_and_out_mid_show_comes_and_goes_and_the_mic_falls_back(
    pulse_studio: tuple[Studio, StudioWindow, PrivatePulse],
) -> None:
    studio, window, pulse = pulse_studio
    controls = window.controls
    assert "USB_Mic" not in _menu(controls.mic_menu)
    # A USB microphone and a headset are plugged in while the studio runs: both are announced
    # and offered without reopening Setup.
    mic_module = pulse.plug_source("usbmic", "USB_Mic")
    headset_module = pulse.plug_sink("headset", "Headset")
    await pump(lambda: any("New microphone: USB_Mic." in t for t in window.notices.texts()),
               HOTPLUG_WAIT_S)  # fmt: skip
    await pump(lambda: any("New speaker: Headset." in t for t in window.notices.texts()),
               HOTPLUG_WAIT_S)  # fmt: skip
    assert "Headset" in _menu(controls.speaker_menu)
    # The host picks the USB microphone: the studio records from that very device.
    _menu(controls.mic_menu)["USB_Mic"].trigger()
    await pump(lambda: studio.mic is not None and studio.mic.name == "USB_Mic")
    await pump(_throttled(lambda: pulse.source_of_our_streams() == ["usbmic"]))
    assert _menu(controls.mic_menu)["USB_Mic"].isChecked()
    # It is unplugged mid-show: a notice names it and says what to do, and the studio falls
    # back to the system default, which it really records from.
    pulse.unplug(mic_module)
    await pump(lambda: any("“USB_Mic” was unplugged" in t for t in window.notices.texts()),
               HOTPLUG_WAIT_S)  # fmt: skip
    notice = next(t for t in window.notices.texts() if "“USB_Mic” was unplugged" in t)
    assert "system default microphone" in notice and "Mic menu" in notice
    assert controls.mic_label == SYSTEM_DEFAULT_MIC
    await pump(_throttled(lambda: pulse.source_of_our_streams() == ["desk.monitor"]))
    assert studio.mic is not None and studio.mic.name != "USB_Mic"
    assert "USB_Mic" not in _menu(controls.mic_menu)
    # The host plays guests on the headset; it is unplugged too: it leaves the Speaker menu,
    # a notice names it, and guests play on the system default again.
    _menu(controls.speaker_menu)["Headset"].trigger()
    await pump(lambda: studio.settings.speaker == "Headset")
    pulse.unplug(headset_module)
    await pump(lambda: "Headset" not in _menu(controls.speaker_menu), HOTPLUG_WAIT_S)
    await pump(lambda: any("speaker “Headset” was unplugged" in t
                           for t in window.notices.texts()))  # fmt: skip
    await pump(lambda: studio.settings.speaker == "")
    await window.bridge.drain()


async def test_guests_play_on_the_speaker_picked_by_its_name(private_pulse: PrivatePulse) -> None:
    from desktop.session.playback import GuestAudioPlayer

    private_pulse.plug_sink("desk", "Desk_speakers")
    private_pulse.plug_sink("headset", "Headset")
    private_pulse.pactl("set-default-sink", "desk")
    # The sound server's name for it, as the Speaker menu shows it (PortAudio does not list it).
    player = GuestAudioPlayer("Headset")
    player.start()
    try:
        assert private_pulse.sink_of_our_streams() == ["headset"]
    finally:
        await player.aclose()


async def test_system_default_microphone_follows_the_os_default_live(
    pulse_studio: tuple[Studio, StudioWindow, PrivatePulse],
) -> None:
    studio, window, pulse = pulse_studio
    controls = window.controls
    pulse.plug_sink("headset", "Headset")
    await pump(_throttled(lambda: pulse.source_of_our_streams() == ["desk.monitor"]))
    entries = _menu(controls.mic_menu)
    assert f"{SYSTEM_DEFAULT_MIC} (now Monitor of Desk_speakers)" in entries
    assert entries[f"{SYSTEM_DEFAULT_MIC} (now Monitor of Desk_speakers)"].isChecked()
    before = studio.mic
    # The system's sound settings make the headset the default input: the studio follows,
    # on the same microphone choice, and says so.
    pulse.pactl("set-default-source", "headset.monitor")
    await pump(_throttled(lambda: pulse.source_of_our_streams() == ["headset.monitor"]),
               HOTPLUG_WAIT_S)  # fmt: skip
    await pump(lambda: any("default microphone is now “Monitor of Headset”" in t
                           for t in window.notices.texts()), HOTPLUG_WAIT_S)  # fmt: skip
    assert studio.mic is before and controls.mic_label == SYSTEM_DEFAULT_MIC
    assert f"{SYSTEM_DEFAULT_MIC} (now Monitor of Headset)" in _menu(controls.mic_menu)
