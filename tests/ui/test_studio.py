"""The studio window: state in → widgets show it; clicks → commands reach the room."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest
from livekit import rtc
from PySide6.QtWidgets import QAbstractButton, QApplication, QLineEdit
from pytestqt.qtbot import QtBot

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.link_stats import LayerStats, LinkStats
from desktop.session.room_events import DisconnectReason
from desktop.session.settings import Secrets, Settings
from desktop.session.state import ConnectionState, Quality, Source, TrackState
from desktop.session.studio import Studio
from desktop.ui.panels import card_text
from desktop.ui.studio_window import SHORTCUTS, StudioWindow
from tests.fixtures.backend import BackendServer
from tests.fixtures.livekit import LiveKitServer
from tests.participants import Feeder

ARTEFACTS = Path(os.environ.get("BROADCASTER_ARTEFACTS", "test-artefacts"))


def _secrets() -> Secrets:
    return Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]


@pytest.fixture
def studio_window(qtbot: QtBot) -> Iterator[tuple[Studio, StudioWindow]]:
    """A local studio with the synthetic camera and microphone, in a window."""
    camera, mic = SyntheticCamera(320, 180, 30), SyntheticMicrophone(level_dbfs=-10)
    camera.start()
    mic.start()
    studio = Studio(Settings(), _secrets())
    studio.use_devices(camera, mic)
    window = StudioWindow(studio)
    qtbot.addWidget(window)
    window.show()
    yield studio, window
    window.close()
    studio.live.direct.close()
    camera.stop()
    mic.stop()


def test_state_changes_show_in_the_window(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow]
) -> None:
    studio, window = studio_window
    store = studio.store
    qtbot.waitUntil(lambda: window.own_tile.frames_shown >= 3, timeout=5000)
    qtbot.waitUntil(lambda: window.meter.value() > -20, timeout=5000)
    assert window.room_label.text() == "Local studio"
    assert "Local studio" in window.connection.text()

    mic = TrackState("TR_mic", Source.MICROPHONE, False, muted=False)
    store.update_remote("ann", name="Ann Lee", tracks=(mic,), quality=Quality.EXCELLENT)
    assert set(window.tiles) == {"ann"}
    tile = window.tiles["ann"]
    assert tile.accessibleName() == "Ann Lee tile" and tile.quality_bars == 3
    assert not tile.participant.mic_muted and not tile.camera_on
    store.update_remote("ann", tracks=(TrackState("TR_mic", Source.MICROPHONE, False, True),))
    assert window.tiles["ann"].participant.mic_muted
    store.update_remote("ann", quality=Quality.POOR, is_speaking=True)
    assert window.tiles["ann"].quality_bars == 1
    assert "Connection: poor" in window.tiles["ann"].toolTip()
    assert "2 in room" in window.counts.text()
    store.update_remote("bob", name="Bob")
    assert window.grid.count() == 3  # own tile + two guests, reflowed into a 2x2 grid
    store.remove_remote("bob")
    assert set(window.tiles) == {"ann"}

    store.update(connection=ConnectionState.RECONNECTING)
    assert "Reconnecting" in window.connection.text()
    store.update(
        connection=ConnectionState.DISCONNECTED, disconnect_reason=DisconnectReason.ROOM_CLOSED
    )
    assert window.connection.text() == "Disconnected: the room was closed"
    store.update(is_live=True, live_since_ms=int(time.time() * 1000) - 65_000)
    window._tick_clock()
    assert window.live_badge.isVisible() and window.live_badge.text() == "LIVE 0:01:05"
    assert window.live_button.isChecked()

    layers = (LayerStats(Source.CAMERA, "f", 1280, 720, 30.0, 1_500_000),
              LayerStats(Source.CAMERA, "q", 320, 180, 15.0, 150_000, "bandwidth"),
              LayerStats(Source.SCREEN, "", 0, 0, 0.0, 0))  # fmt: skip
    store.update(link=LinkStats(layers, 48_000, rtt_ms=42.4, packet_loss_pct=2.5))
    window.stats.refresh()
    text = window.stats.text.text()
    assert "Round trip to the server: 42 ms; packet loss 2.5 %" in text
    assert "Sending camera layer f: 1280x720 30 fps 1.5 Mb/s" in text
    assert "Sending camera layer q: 320x180 15 fps 150 kb/s, held back by bandwidth" in text
    assert "Sending screen: paused" in text and "Sending microphone: 48 kb/s" in text


async def test_errors_show_as_words_and_go_live_without_destinations_says_what_to_do(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    studio, window = studio_window
    window.chat.entry.setText("hello")
    window.chat.send.click()
    await _pump(lambda: window.banner.isVisible())
    assert "Could not send the message: chat needs a room" in window.banner.text()
    window.live_button.click()
    await _pump(lambda: "No destination is switched on" in window.banner.text())
    assert not window.live_button.isChecked()


def test_every_control_has_an_accessible_name_and_a_tooltip(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    _, window = studio_window
    controls = window.findChildren(QAbstractButton) + window.findChildren(QLineEdit)
    assert len(controls) > 15
    missing = [
        f"{type(c).__name__}:{c.text() if hasattr(c, 'text') else ''}"
        for c in controls
        if c.isVisibleTo(window)
        and (not c.accessibleName() or not c.toolTip())
        # Qt's own tab-bar scroll arrows and menu arrows are not ours to name.
        and c.parent() is not None
        and type(c.parent()).__name__ not in ("QTabBar",)
    ]
    assert not missing, missing
    shortcuts = {b.shortcut().toString() for b in window.findChildren(QAbstractButton)}
    assert set(SHORTCUTS.values()) <= shortcuts


async def test_record_button_writes_a_file_and_the_card_follows(
    studio_window: tuple[Studio, StudioWindow], tmp_path: Path
) -> None:
    studio, window = studio_window
    studio.settings.recording_folder = str(tmp_path)
    window.record_button.click()
    await _pump(lambda: "local: Live" in window.outputs.recording.text())
    await _pump(lambda: window.rec_badge.isVisible())
    await asyncio.sleep(1.5)
    window.record_button.click()
    await _pump(lambda: "saved to" in window.outputs.recording.text())
    files = list(tmp_path.glob("Broadcast *.mp4"))
    assert len(files) == 1 and files[0].stat().st_size > 10_000
    status = next(s for s in studio.store.state.direct_outputs if s.output_id == "recording")
    assert card_text(status).startswith("Off — saved to")


async def _pump(predicate: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Let Qt and asyncio both run until ``predicate`` holds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        QApplication.processEvents()
        await asyncio.sleep(0.02)


async def test_clicks_reach_the_room_through_the_backend(
    qtbot: QtBot, backend_server: BackendServer, livekit_server: LiveKitServer
) -> None:
    secrets = _secrets()
    secrets.set("platform-credential", backend_server.host_credential)
    settings = Settings(connect_mode="platform", backend_url=backend_server.url,
                        appointment_id=backend_server.appointment_id)  # fmt: skip
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(settings, secrets)
    studio.use_devices(camera, mic)
    window = StudioWindow(studio)
    qtbot.addWidget(window)
    window.show()
    feeder = Feeder()
    guest = rtc.Room()
    try:
        await studio.connect()
        room_name = studio.store.state.room_name
        status, joined = await backend_server.call(
            "join_room", roomName=room_name, userId="ann", permissions={"canPublish": True},
        )  # fmt: skip
        assert status == 200, joined
        await guest.connect(joined["url"], joined["token"])
        source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.audio(source)
        await guest.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("mic", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        video = rtc.VideoSource(320, 180)
        feeder.video(video, 320, 180)
        await guest.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("cam", video),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
        )
        await _pump(lambda: "ann" in window.tiles
                    and not window.tiles["ann"].participant.mic_muted)  # fmt: skip
        await _pump(lambda: window.tiles["ann"].frames_shown >= 3)
        assert window.room_label.text() == room_name
        player = studio.player
        assert player is not None  # guests' voices play (or a note says why not)
        await _pump(lambda: player.blocks_played > 0 or bool(studio.notes))
        assert window.connection.text().startswith("Connected")
        # The stats panel shows the uplink as WebRTC measures it through the double.
        await _pump(lambda: studio.store.state.link is not None
                    and any(layer.active for layer in studio.store.state.link.layers))  # fmt: skip
        window.stats.refresh()
        assert "Round trip to the server: " in window.stats.text.text()
        assert "Sending camera: 320x180" in window.stats.text.text()

        muted = asyncio.Event()
        guest.on("track_muted", lambda *_: muted.set())
        window.participants.select("ann")
        window.participants.mute_mic.click()
        await asyncio.wait_for(muted.wait(), 10)
        await _pump(lambda: window.tiles["ann"].participant.mic_muted)

        chat: list[str] = []
        guest.register_text_stream_handler(
            "lk.chat",
            lambda reader, who: asyncio.ensure_future(reader.read_all()).add_done_callback(
                lambda f: chat.append(f.result())
            ),
        )
        window.chat.entry.setText("welcome, Ann")
        window.chat.send.click()
        await _pump(lambda: chat == ["welcome, Ann"])

        asked: list[str] = []

        def confirm(text: str) -> bool:
            asked.append(text)
            return True

        window.participants.confirm = confirm
        window.participants.select("ann")
        window.participants.remove.click()
        await _pump(lambda: "ann" not in window.tiles)
        assert asked and "Remove ann" in asked[0]

        window.end_button.click()
        await _pump(lambda: window.summary is not None)
        assert window.summary is not None and window.summary.peak_participants == 2
        assert window.summary.revenue["commissionRate"] == 20.0
        assert "Your share" in window.summary_label.text()
    finally:
        await feeder.aclose()
        await guest.disconnect()
        window.close()
        await studio.aclose()


async def test_screenshot_under_xvfb_with_two_guests(
    xvfb_display: str, livekit_server: LiveKitServer, unique_room: str
) -> None:
    feeder = Feeder()
    guests = []
    try:
        for identity in ("ann", "bob"):
            guest = rtc.Room()
            await guest.connect(livekit_server.ws_url, livekit_server.token(identity, unique_room))
            video = rtc.VideoSource(320, 180)
            feeder.video(video, 320, 180)
            await guest.local_participant.publish_track(
                rtc.LocalVideoTrack.create_video_track("cam", video),
                rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
            )
            guests.append(guest)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTEFACTS / "studio-two-guests.png"
        env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb",
               "BROADCASTER_CONFIG_DIR": str(ARTEFACTS / "config")}  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "desktop", "--synthetic-devices", "--url", livekit_server.ws_url,
            "--token", livekit_server.token("host", unique_room), "--quit-after-s", "8",
            "--screenshot", str(shot), env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()[-2000:]
    finally:
        await feeder.aclose()
        for guest in guests:
            await guest.disconnect()
    tiles = json.loads(Path(str(shot) + ".json").read_text())
    names = sorted(t["name"] for t in tiles)
    assert names == ["You tile", "ann tile", "bob tile"]
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() >= 800
    for tile in tiles:
        assert tile["frames"] > 0, tile
        centre = image.pixelColor(tile["x"] + tile["width"] // 2, tile["y"] + tile["height"] // 2)
        # Colour bars, not the tile backdrop: the video was painted.
        assert (centre.red(), centre.green(), centre.blue()) != (16, 19, 24), tile


async def test_share_a_window_from_the_menu_and_lose_it_cleanly(
    x_window: tuple[Any, Any], studio_window: tuple[Studio, StudioWindow]
) -> None:
    from desktop.media.windows import WindowSource
    from desktop.ui.app import _window_factories

    conn, x_win = x_window
    studio, window = studio_window
    window.windows = _window_factories
    window.share_menu.aboutToShow.emit()  # the menu lists the windows open right now
    entries = [action.text() for action in window.share_menu.actions()]
    assert "Screens" in entries and "Windows" in entries and "Slides" in entries
    slides = next(a for a in window.share_menu.actions() if a.text() == "Slides")
    slides.trigger()
    await _pump(lambda: isinstance(studio.screen, WindowSource))
    assert window.sharing_label == "Slides" and window.share_button.isChecked()
    assert window.share_button.text() == "Stop sharing"
    screen_tile = window.screen_tile
    assert screen_tile is not None
    await _pump(lambda: screen_tile.frames_shown >= 2)
    window.share_menu.aboutToShow.emit()
    assert "Stop sharing Slides" in [a.text() for a in window.share_menu.actions()]
    # The shared window closes: the banner says so and the share stops, nothing hangs.
    x_win.destroy()
    conn.sync()
    await _pump(lambda: not window.sharing_label)
    assert "the window was closed" in window.banner.text()
    assert "share another window" in window.banner.text()
    assert not window.share_button.isChecked() and window.screen_tile is None
    await _pump(lambda: studio.screen is None)


def test_outputs_cards_follow_egress_and_direct_states(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    from desktop.media.outputs.output import OutputKind, OutputPhase, OutputStatus
    from desktop.session.state import OutputState

    studio, window = studio_window
    store = studio.store
    store.update(outputs=(OutputState("youtube", "failed", "connection refused"),))
    assert window.outputs.cards["youtube"].status.text() == "Failed — connection refused"
    store.update(outputs=(OutputState("youtube", "active"),))
    assert window.outputs.cards["youtube"].status.text() == "Live"
    retrying = OutputStatus("twitch", "rtmp://host/app/••••", OutputKind.RTMP,
                            OutputPhase.RETRYING, error="the server refused the connection",
                            attempt=2, max_attempts=6, retry_in_s=4.0)  # fmt: skip
    store.update(direct_outputs=(retrying,))
    card = window.outputs.cards["twitch"]
    assert card.status.text().startswith("Retrying (attempt 3 of 6) in 4 s")
    assert card.retry.isVisibleTo(window.outputs)
    assert "••••" in card.key.toolTip() or card.key.accessibleName() == "Key"


def test_camera_menu_offers_the_synthetic_twin_and_a_bad_device_is_named(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    from desktop.media.camera import CameraSource

    studio, window = studio_window

    def broken() -> CameraSource:
        camera = CameraSource("/dev/video99")
        camera.start()
        return camera

    window.cameras["Broken camera"] = broken
    window._pick_camera("Broken camera")
    assert "Could not open Broken camera" in window.banner.text()
    assert "Pick another camera" in window.banner.text()
