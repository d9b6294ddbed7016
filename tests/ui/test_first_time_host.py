"""Issue #17, "done when": a first-time host sets up, goes live to two destinations plus a
custom one, records to a folder they chose, moderates, and ends the show — through the UI only.

Real parts: the LiveKit server (the studio in LiveKit-server mode, as Setup offers it),
nginx-rtmp standing in for YouTube, Twitch and a custom RTMP server (each stream is recorded
by nginx and read back with ffprobe), and a guest who is a real ``livekit`` SDK participant.
Everything the host does is a click, a key press or typing into the widgets a person sees.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest
from livekit import rtc
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog
from pytestqt.qtbot import QtBot

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.settings import Secrets, Settings
from desktop.session.studio import Studio
from desktop.ui.setup_dialog import SetupDialog
from desktop.ui.studio_window import StudioWindow
from tests.fixtures.livekit import LiveKitServer
from tests.fixtures.rtmp import RtmpServer, ffprobe_duration_s, ffprobe_streams
from tests.participants import Feeder
from tests.ui.driving import answer, click, press, pump, type_text

LIVE_WAIT_S = 40.0
"""Preflight checks and three RTMP handshakes on a loaded two-core machine."""


@pytest.fixture
def devices() -> Iterator[dict[str, Any]]:
    """The devices Setup offers on a machine without a camera or sound card: the twins."""
    opened: list[Any] = []

    def started(source: Any) -> Any:
        source.start()
        opened.append(source)
        return source

    offered = {
        "cameras": {"Synthetic camera": lambda: started(SyntheticCamera(320, 180, 15))},
        "microphones": {"Synthetic microphone": lambda: started(SyntheticMicrophone())},
    }
    yield offered
    for source in opened:
        source.stop()


def _set_text(qtbot: QtBot, line: Any, text: str) -> None:
    """Select what the field holds and type over it, as a person does."""
    line.selectAll()
    press(qtbot, line, Qt.Key.Key_Delete, Qt.KeyboardModifier.NoModifier)
    type_text(qtbot, line, text)


def _received(rtmp_server: RtmpServer, app: str, key: str) -> bool:
    """Whether the ingest has recorded a real stream (20 kB and more) for this key."""
    return any(p.name.startswith(key) and p.stat().st_size > 20_000
               for p in rtmp_server.recordings(app))  # fmt: skip


async def test_a_first_time_host_sets_up_goes_live_records_moderates_and_ends_the_show(
    qtbot: QtBot,
    livekit_server: LiveKitServer,
    rtmp_server: RtmpServer,
    unique_room: str,
    devices: dict[str, Any],
    tmp_path: Path,
) -> None:
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    settings = Settings()
    cameras, microphones = devices["cameras"], devices["microphones"]
    camera, mic = cameras["Synthetic camera"](), microphones["Synthetic microphone"]()

    # -- Setup: the mode's own fields, a connection test, OK. -------------------------------
    setup = SetupDialog(settings, secrets, camera, mic, cameras=cameras,
                        microphones=microphones)  # fmt: skip
    qtbot.addWidget(setup)
    setup.show()
    setup.mode.setCurrentIndex(setup.mode.findData("livekit"))
    assert setup.url.isVisible() and not setup.backend.isVisible()
    _set_text(qtbot, setup.name, "Maya")
    type_text(qtbot, setup.url, livekit_server.ws_url)
    type_text(qtbot, setup.api_key, livekit_server.api_key)
    type_text(qtbot, setup.api_secret, livekit_server.api_secret)
    _set_text(qtbot, setup.room, unique_room)
    click(qtbot, setup.test_button)
    await pump(lambda: setup.test_result.text() != "" and "Testing" not in
               setup.test_result.text(), 20)  # fmt: skip
    assert setup.test_result.text().startswith("✓"), setup.test_result.text()
    box = setup.findChild(QDialogButtonBox)
    assert box is not None
    click(qtbot, box.button(QDialogButtonBox.StandardButton.Ok))
    await pump(lambda: not setup.isVisible())
    setup.apply()
    camera, mic = setup.camera or camera, setup.mic or mic

    # -- The studio joins the room. ---------------------------------------------------------
    studio = Studio(settings, secrets)
    studio.use_devices(camera, mic)
    window = StudioWindow(studio, cameras=lambda: cameras, microphones=lambda: microphones)
    qtbot.addWidget(window)
    window.show()
    feeder = Feeder()
    guest = rtc.Room()
    try:
        window.bridge.run(studio.connect(), "connect")
        await pump(lambda: window.header.connection.text().startswith("Connected"), 30)
        await guest.connect(livekit_server.ws_url,
                            livekit_server.token("ann", unique_room, name="Ann Lee"))  # fmt: skip
        source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.audio(source)
        await guest.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("mic", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        await pump(lambda: "ann" in window.tiles, 30)

        # -- Destinations: YouTube and Twitch get their keys, a custom server is added. ----
        outputs = window.outputs
        window.side.setCurrentWidget(outputs)
        ingest = {"youtube": ("live", "yt-key-1111"), "twitch": ("live", "tw-key-2222")}
        for destination_id, (app, key) in ingest.items():
            click(qtbot, outputs.cards[destination_id].edit)
            editor = outputs.editor
            assert editor is not None and editor.isVisible()
            _set_text(qtbot, editor.url, rtmp_server.url(app))
            type_text(qtbot, editor.key, key)
            click(qtbot, editor.save)
            await pump(lambda: outputs.editor is None or not outputs.editor.isVisible())
            click(qtbot, outputs.cards[destination_id].switch)
        click(qtbot, outputs.add)
        editor = outputs.editor
        assert editor is not None
        type_text(qtbot, editor.name, "Studio B")
        type_text(qtbot, editor.url, rtmp_server.url("live2"))
        type_text(qtbot, editor.key, "custom-key-3333")
        click(qtbot, editor.save)
        await pump(lambda: "custom-1" in outputs.cards)
        assert "••••3333" in outputs.cards["custom-1"].where.text()
        await pump(lambda: all(studio.destination(d).enabled
                               for d in ("youtube", "twitch", "custom-1")))  # fmt: skip

        # -- Recording goes to a folder chosen in the folder picker. ------------------------
        chosen = tmp_path / "My shows"
        chosen.mkdir()
        controls = window.controls
        controls.record_menu.aboutToShow.emit()
        next(a for a in controls.record_menu.actions() if a.text() == "Choose folder…").trigger()
        picker = controls.findChild(QFileDialog, "RecordingFolder")
        assert picker is not None and picker.isVisible()
        picker.selectFile(str(chosen))
        picker.accept()
        click(qtbot, controls.record_button)
        await pump(lambda: window.header.rec_badge.isVisible(), 20)

        # -- Go live: all three destinations receive the program. ---------------------------
        click(qtbot, controls.live_button)
        await pump(lambda: all(f"{name} live" in window.header.health.text()
                               for name in ("YouTube", "Twitch", "Studio B")),
                   LIVE_WAIT_S)  # fmt: skip
        assert window.header.live_badge.text().startswith("LIVE")
        for key, app in (("yt-key-1111", "live"), ("tw-key-2222", "live"),
                         ("custom-key-3333", "live2")):  # fmt: skip
            await pump(functools.partial(_received, rtmp_server, app, key), 30)
        # The room's broadcast status (the backend's egress) knows nothing of the studio's
        # own program: asking it again must not switch LIVE off while all three stream.
        assert studio.monitor is not None
        await studio.monitor.refresh()
        assert window.header.live_badge.isVisible() and studio.store.state.is_live
        assert "YouTube live" in window.header.health.text()

        # -- Moderate: mute Ann's microphone, then remove her (both seen by Ann). -----------
        muted = asyncio.Event()
        guest.on("track_muted", lambda *_: muted.set())
        window.side.setCurrentWidget(window.participants)
        window.participants.select("ann")
        click(qtbot, window.participants.mute_mic)
        await asyncio.wait_for(muted.wait(), 15)
        await pump(lambda: window.tiles["ann"].participant.mic_muted)
        removed = asyncio.Event()
        guest.on("disconnected", lambda *_: removed.set())
        window.participants.select("ann")
        click(qtbot, window.participants.remove)
        await answer(qtbot, window, yes=True)
        await asyncio.wait_for(removed.wait(), 15)
        await pump(lambda: "ann" not in window.tiles)

        # -- End the show: it asks, then the summary. ----------------------------------------
        click(qtbot, controls.end_button)
        await answer(qtbot, window, yes=True)
        await pump(lambda: window.summary_widget is not None
                   and window.summary_widget.isVisible(), 30)  # fmt: skip
        assert window.summary_widget is not None
        assert "Time live: 0:00:" in window.summary_widget.text()
        assert not studio.store.state.is_live
    finally:
        await feeder.aclose()
        await guest.disconnect()
        window._close_confirmed = True
        window.close()
        await studio.aclose()
        camera.stop()
        mic.stop()

    # The recording is in the chosen folder and plays; each ingest got a real stream.
    recordings = sorted(chosen.glob("*.mp4"))
    assert len(recordings) == 1, list(chosen.iterdir())
    codecs = {s["codec_name"] for s in ffprobe_streams(recordings[0])}
    assert {"h264", "aac"} <= codecs and ffprobe_duration_s(recordings[0]) > 1.0
    for key, app in (("yt-key-1111", "live"), ("tw-key-2222", "live"),
                     ("custom-key-3333", "live2")):  # fmt: skip
        flv = next(p for p in rtmp_server.recordings(app) if p.name.startswith(key))
        assert "h264" in {s["codec_name"] for s in ffprobe_streams(flv)}, flv
