"""The studio window: state in → widgets show it; clicks → commands reach the room."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keyring.backends.fail
from livekit import rtc
from PySide6.QtWidgets import QAbstractButton, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from desktop.media.base import VideoCaptureSource
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.link_stats import LayerStats, LinkStats
from desktop.session.room_events import DisconnectReason
from desktop.session.settings import ConnectMode, Secrets, Settings
from desktop.session.state import ConnectionState, Quality, Source, TrackState
from desktop.session.studio import Studio
from desktop.ui.outputs_panel import card_text
from desktop.ui.studio_window import SHORTCUTS, StudioWindow
from tests.fixtures import processes
from tests.fixtures.backend import BackendServer
from tests.fixtures.livekit import LiveKitServer
from tests.participants import Feeder, accept_unmute_requests
from tests.ui.driving import answer, click, pump

ARTEFACTS = Path(os.environ.get("BROADCASTER_ARTEFACTS", "test-artefacts"))


def _secrets() -> Secrets:
    return Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]


def test_state_changes_show_in_the_window(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow]
) -> None:
    studio, window = studio_window
    store = studio.store
    qtbot.waitUntil(lambda: window.own_tile.frames_shown >= 3, timeout=5000)
    qtbot.waitUntil(lambda: window.controls.meter.level_dbfs > -20, timeout=5000)
    assert window.header.title.text() == "Local studio"
    assert "Local studio" in window.header.connection.text()

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
    assert "2 in room" in window.header.counts.text()
    store.update_remote("bob", name="Bob")
    assert set(window.tiles) == {"ann", "bob"}
    store.remove_remote("bob")
    assert set(window.tiles) == {"ann"}

    store.update(connection=ConnectionState.RECONNECTING)
    assert "Reconnecting" in window.header.connection.text()
    store.update(
        connection=ConnectionState.DISCONNECTED, disconnect_reason=DisconnectReason.ROOM_CLOSED
    )
    assert window.header.connection.text() == "Disconnected: the room was closed"
    store.update(is_live=True, live_since_ms=int(time.time() * 1000) - 65_000)
    window._tick_clock()
    badge = window.header.live_badge
    assert badge.isVisible() and badge.text() == "LIVE 0:01:05"
    assert window.controls.live_button.text() == "Live — End"

    layers = (LayerStats(Source.CAMERA, "f", 1280, 720, 30.0, 1_500_000),
              LayerStats(Source.CAMERA, "q", 320, 180, 15.0, 150_000, "bandwidth"),
              LayerStats(Source.SCREEN, "", 0, 0, 0.0, 0))  # fmt: skip
    store.update(link=LinkStats(layers, 48_000, rtt_ms=42.4, packet_loss_pct=2.5))
    window.stats.refresh()
    text = window.stats.text.text()
    assert "Round trip to the server: 42 ms" in text and "Packet loss: 2.5 %" in text
    assert "Sending camera layer f: 1280x720 30 fps 1.5 Mb/s" in text
    assert "Sending camera layer q: 320x180 15 fps 150 kb/s, held back by bandwidth" in text
    assert "Sending screen: paused" in text and "Sending microphone: 48 kb/s" in text
    assert window.stats.rows["Round trip to the server"].isVisibleTo(window.stats)
    stage = window.stats.rows["Stage frames"].text()
    assert stage.split()[0].isdigit() and int(stage.split()[0]) >= 3 and "skipped" in stage


async def test_local_chat_is_off_with_its_reason_and_go_live_without_destinations_says_what_to_do(
    qtbot: QtBot,
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    studio, window = studio_window
    # The local studio has no room: chat does not take text it would refuse; it says why.
    assert not window.chat.entry.isEnabled() and not window.chat.send.isEnabled()
    assert "Chat needs a room" in window.chat.reason.text()
    click(qtbot, window.controls.live_button)
    await pump(lambda: any("No destination is switched on" in t for t in window.notices.texts()))
    assert any("Switch one on in the Outputs tab" in t for t in window.notices.texts())
    assert not studio.store.state.is_live
    assert window.controls.live_button.text() == "Go Live"


async def test_a_chat_line_that_could_not_go_out_is_given_back_to_the_entry(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    """The room went away between the host typing and pressing Send: the line is not lost."""
    _, window = studio_window
    # The panel still takes text (its state lags behind the room by a moment), the studio has
    # no room to send it to.
    window.chat.set_enabled_reason("")
    window.chat.entry.setText("we start in five minutes")
    window.chat.send.click()
    assert window.chat.entry.text() == ""  # cleared at once, as a sent line is
    await pump(lambda: any("Could not send the message" in t for t in window.notices.texts()))
    await pump(lambda: window.chat.entry.text() == "we start in five minutes")


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
    shortcuts = {a.shortcut().toString() for a in window.controls.actions()}
    assert set(SHORTCUTS.values()) <= shortcuts


async def test_record_button_writes_a_file_and_the_card_follows(
    studio_window: tuple[Studio, StudioWindow], tmp_path: Path
) -> None:
    studio, window = studio_window
    studio.settings.recording_folder = str(tmp_path)
    window.controls.record_button.click()
    await pump(lambda: "local: Live" in window.outputs.recording.text())
    await pump(lambda: window.header.rec_badge.isVisible())
    assert window.controls.record_button.text() == "Stop recording"
    await asyncio.sleep(1.5)
    window.controls.record_button.click()
    await pump(lambda: "saved to" in window.outputs.recording.text())
    assert window.controls.record_button.text() == "Record"
    files = list(tmp_path.glob("Broadcast *.mp4"))
    assert len(files) == 1 and files[0].stat().st_size > 10_000
    status = next(s for s in studio.store.state.direct_outputs if s.output_id == "recording")
    assert card_text(status).startswith("Off — saved to")


async def test_clicks_reach_the_room_through_the_backend(
    qtbot: QtBot, backend_server: BackendServer, livekit_server: LiveKitServer
) -> None:
    secrets = _secrets()
    secrets.set("platform-credential", backend_server.host_credential)
    # A custom publish size equal to the camera's: the track is sent as the host set it.
    settings = Settings(connect_mode=ConnectMode.PLATFORM, backend_url=backend_server.url,
                        appointment_id=backend_server.appointment_id, preset="custom",
                        custom_width=320, custom_height=180, custom_fps=15)  # fmt: skip
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
            "join_room", roomName=room_name, userId="ann",
            permissions={"canPublish": True, "canPublishData": True},  # data: to answer
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
        await pump(lambda: "ann" in window.tiles
                   and not window.tiles["ann"].participant.mic_muted)  # fmt: skip
        await pump(lambda: window.tiles["ann"].frames_shown >= 3)
        # The title is the appointment, never the raw room id.
        assert window.header.title.text() == f"Appointment {backend_server.appointment_id}"
        assert room_name not in window.header.title.text()
        player = studio.player
        assert player is not None  # guests' voices play (or a notice says why not)
        await pump(lambda: player.blocks_played > 0 or bool(studio.store.state.problems))
        if studio.store.state.problems:
            texts = " ".join(window.notices.texts())
            assert "Guests cannot be heard" in texts and "Speaker menu" in texts
            assert "None" not in texts and "-1" not in texts
        assert window.header.connection.text().startswith("Connected")
        # The stats panel shows the uplink as WebRTC measures it through the double.
        await pump(lambda: studio.store.state.link is not None
                   and any(layer.active for layer in studio.store.state.link.layers))  # fmt: skip
        window.stats.refresh()
        assert "Round trip to the server: " in window.stats.text.text()
        assert "Sending camera: 320x180" in window.stats.text.text()

        muted = asyncio.Event()
        guest.on("track_muted", lambda *_: muted.set())
        window.participants.select("ann")
        window.participants.mute_mic.click()
        await asyncio.wait_for(muted.wait(), 10)
        await pump(lambda: window.tiles["ann"].participant.mic_muted)
        # Ask to unmute: Ann's client accepts, her mic is live again, the Log tab shows it all.
        accept_unmute_requests(guest)
        window.participants.select("ann")
        click(qtbot, window.participants.ask_unmute)
        await pump(lambda: not window.tiles["ann"].participant.mic_muted)
        await pump(lambda: window.moderation_log.table.rowCount() == 3)
        actions = [window.moderation_log.table.item(r, 2) for r in range(3)]
        assert [a.text() if a else "" for a in actions] == [
            "muted", "asked to unmute", "accepted and unmuted",
        ]  # fmt: skip

        chat: list[str] = []
        guest.register_text_stream_handler(
            "lk.chat",
            lambda reader, who: asyncio.ensure_future(reader.read_all()).add_done_callback(
                lambda f: chat.append(f.result())
            ),
        )
        window.chat.entry.setText("welcome, Ann")
        window.chat.send.click()
        await pump(lambda: chat == ["welcome, Ann"])

        # Remove asks first, Cancel is the default and keeps the guest.
        window.participants.select("ann")
        click(qtbot, window.participants.remove)
        asked = await answer(qtbot, window, yes=False)
        assert "Remove ann" in asked
        await asyncio.sleep(0.5)
        assert "ann" in window.tiles and "ann" in studio.store.state.remotes
        window.participants.select("ann")
        click(qtbot, window.participants.remove)
        await answer(qtbot, window, yes=True)
        await pump(lambda: "ann" not in window.tiles)

        click(qtbot, window.controls.end_button)
        await answer(qtbot, window, yes=True)
        await pump(lambda: window.summary is not None, 30)
        assert window.summary is not None and window.summary.peak_participants == 2
        assert window.summary.revenue["commissionRate"] == 20.0
        assert window.summary_widget is not None
        text = window.summary_widget.text()
        assert "Your share: $" in text and "Time live: not live" in text
    finally:
        await feeder.aclose()
        await guest.disconnect()
        window._close_confirmed = True
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
            *processes.child_command([sys.executable]), "-m", "desktop", "--synthetic-devices",
            "--url", livekit_server.ws_url,
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
    from desktop.ui.devices import window_factories

    conn, x_win = x_window
    studio, window = studio_window
    controls = window.controls
    controls.list_windows = window_factories
    controls.share_menu.aboutToShow.emit()  # the menu lists the windows open right now
    entries = [action.text() for action in controls.share_menu.actions()]
    assert "Screens" in entries and "Windows" in entries and "Slides" in entries
    slides = next(a for a in controls.share_menu.actions() if a.text() == "Slides")
    slides.trigger()
    await pump(lambda: isinstance(studio.screen, WindowSource))
    assert controls.sharing_label == "Slides"
    assert controls.share_button.text() == "Stop sharing"
    screen_tile = window.screen_tile
    assert screen_tile is not None
    await pump(lambda: screen_tile.frames_shown >= 2)
    controls.share_menu.aboutToShow.emit()
    assert "Stop sharing Slides" in [a.text() for a in controls.share_menu.actions()]
    # The shared window closes: a notice says so and the share stops, nothing hangs.
    x_win.destroy()
    conn.sync()
    await pump(lambda: not controls.sharing_label)
    texts = " ".join(window.notices.texts())
    assert "the window was closed" in texts
    assert "hare another" in texts
    assert controls.share_button.text() == "Share screen" and window.screen_tile is None
    await pump(lambda: studio.screen is None)


def test_outputs_cards_follow_egress_and_direct_states(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    from desktop.media.outputs.output import OutputKind, OutputPhase, OutputStatus
    from desktop.session.state import EgressOutputStatus

    studio, window = studio_window
    store = studio.store
    store.update(outputs=(EgressOutputStatus("youtube", OutputKind.RTMP, OutputPhase.FAILED,
                                             "connection refused"),))  # fmt: skip
    assert window.outputs.cards["youtube"].status.text() == "Failed — connection refused"
    store.update(outputs=(EgressOutputStatus("youtube", OutputKind.RTMP, OutputPhase.LIVE),))
    assert window.outputs.cards["youtube"].status.text() == "Live"
    retrying = OutputStatus("twitch", "rtmp://host/app/••••", OutputKind.RTMP,
                            OutputPhase.RETRYING, error="the server refused the connection",
                            attempt=2, max_attempts=6, retry_in_s=4.0)  # fmt: skip
    store.update(direct_outputs=(retrying,))
    card = window.outputs.cards["twitch"]
    assert card.status.text().startswith("Retrying (attempt 3 of 6) in 4 s")
    assert card.retry.isVisibleTo(window.outputs)


def test_camera_menu_offers_the_synthetic_twin_and_a_bad_device_is_named(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    from desktop.media.camera import CameraSource

    studio, window = studio_window

    def broken() -> CameraSource:
        camera = CameraSource("/dev/video99")
        camera.start()
        return camera

    cameras: dict[str, Callable[[], VideoCaptureSource]] = {"Broken camera": broken}
    window.controls.list_cameras = lambda: cameras
    window.controls.camera_menu.aboutToShow.emit()
    entry = next(a for a in window.controls.camera_menu.actions() if a.text() == "Broken camera")
    entry.trigger()
    texts = " ".join(window.notices.texts())
    assert "Could not open Broken camera" in texts
    assert "Pick another camera" in texts


def test_outputs_panel_reads_keys_and_keyring_when_first_opened(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    """The keyring is not touched while the window starts; opening Outputs shows the keys
    (masked) and, with no system keyring, says the keys last only until quitting."""
    studio, window = studio_window
    studio.secrets.set(Secrets.stream_key_name("youtube"), "yt-key-9876")
    card = window.outputs.cards["youtube"]
    assert "key" not in card.where.text() and not window.outputs.keyring_note.isVisible()
    window.side.setCurrentWidget(window.outputs)
    assert "key ••••9876" in card.where.text()
    assert window.outputs.keyring_note.isVisible()
    assert "until you quit" in window.outputs.keyring_note.text()


def test_session_starts_once_after_the_first_preview_frame_or_after_the_wait(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow]
) -> None:
    """The studio joins its room after the preview's first frame (LiveKit's import must not
    delay it), once; without a frame (a camera slow to start) it starts after the wait."""
    from desktop.ui.first_frame import after_first_frame

    class BlankTile(QWidget):
        """A tile whose camera never delivers."""

        frames_shown = 0

    _, window = studio_window
    frames_when_called: list[int] = []
    after_first_frame(
        window.own_tile, lambda: frames_when_called.append(window.own_tile.frames_shown), 60.0
    )
    qtbot.waitUntil(lambda: bool(frames_when_called), timeout=20_000)
    assert frames_when_called[0] > 0
    blank = BlankTile()
    qtbot.addWidget(blank)
    blank.show()
    called: list[bool] = []
    after_first_frame(blank, lambda: called.append(True), 0.2)
    qtbot.waitUntil(lambda: bool(called), timeout=20_000)
    qtbot.wait(300)
    assert called == [True] and frames_when_called == frames_when_called[:1]
