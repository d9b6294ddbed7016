"""Issue #17: each finding of the first studio session, driven as a host would drive it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import keyring.backends.fail
import numpy as np
import pytest
from livekit import rtc
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QFileDialog, QLineEdit, QMenu
from pytestqt.qtbot import QtBot

from desktop.media.outputs.output import OutputKind, OutputPhase, OutputStatus
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.settings import ConnectMode, Secrets, Settings
from desktop.session.state import ConnectionState, EgressOutputStatus, ProblemCode
from desktop.session.studio import Studio
from desktop.ui.studio_window import StudioWindow
from tests.fixtures.backend import BackendServer
from tests.fixtures.devices import SCREEN_QUADRANTS_RGB
from tests.fixtures.livekit import LiveKitServer
from tests.fixtures.rtmp import RtmpServer
from tests.ui.driving import answer, click, confirmation, press, pump, type_text


def _secrets() -> Secrets:
    return Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]


def _key(qtbot: QtBot, window: StudioWindow, key: Qt.Key, shift: bool = False) -> None:
    modifiers = Qt.KeyboardModifier.ControlModifier
    if shift:
        modifiers |= Qt.KeyboardModifier.ShiftModifier
    press(qtbot, window, key, modifiers)


async def test_hotkeys_work_every_time_and_a_muted_mic_is_red_and_says_so(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow]
) -> None:
    studio, window = studio_window
    mic, controls = window.controls.mic_button, window.controls
    for round_ in range(2):  # pressed twice each way: the shortcut survives the label change
        _key(qtbot, window, Qt.Key.Key_D)
        await pump(lambda: not studio.mic_on)
        assert mic.text() == "Mic off" and mic.property("tone") == "danger", round_
        assert "OFF" in mic.toolTip()
        assert controls.meter.readout() == "muted"
        _key(qtbot, window, Qt.Key.Key_D)
        await pump(lambda: studio.mic_on)
        assert mic.text() == "Mic" and mic.property("tone") == ""
        _key(qtbot, window, Qt.Key.Key_E)
        await pump(lambda: not studio.camera_on)
        assert controls.camera_button.text() == "Camera off"
        _key(qtbot, window, Qt.Key.Key_E)
        await pump(lambda: studio.camera_on)
        assert controls.camera_button.text() == "Camera"
    # Share and record hotkeys too, twice each way.
    from desktop.media.synthetic import SyntheticScreen

    controls.list_screens = lambda: {"Screen 1": lambda: _started(SyntheticScreen(320, 180, 10))}
    for _ in range(2):
        _key(qtbot, window, Qt.Key.Key_S, shift=True)
        await pump(lambda: studio.screen is not None)
        assert controls.share_button.text() == "Stop sharing"
        _key(qtbot, window, Qt.Key.Key_S, shift=True)
        await pump(lambda: studio.screen is None)
        assert controls.share_button.text() == "Share screen"
        _key(qtbot, window, Qt.Key.Key_R, shift=True)
        await pump(lambda: controls.record_button.text() == "Stop recording")
        _key(qtbot, window, Qt.Key.Key_R, shift=True)
        await pump(lambda: "saved to" in window.outputs.recording.text())
        assert controls.record_button.text() == "Record"
    # Go Live by hotkey, twice: nothing is switched on, and the notice says so once.
    for _ in range(2):
        _key(qtbot, window, Qt.Key.Key_L, shift=True)
        await pump(lambda: not controls.going_live)
    await pump(lambda: any("No destination is switched on" in t for t in window.notices.texts()))
    assert sum("No destination" in t for t in window.notices.texts()) == 1


async def test_the_meter_stops_while_muted_and_reads_dbfs(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow]
) -> None:
    studio, window = studio_window
    meter = window.controls.meter
    await pump(lambda: meter.level_dbfs > -20)
    assert meter.readout().endswith("dBFS")
    click(qtbot, window.controls.mic_button)
    await pump(lambda: not studio.mic_on)
    await asyncio.sleep(0.3)  # the synthetic mic keeps producing: the meter must not move
    assert meter.level_dbfs <= -90 and meter.readout() == "muted"


async def test_record_creates_the_missing_folder_and_the_button_agrees_with_outputs(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow], tmp_path: Path
) -> None:
    studio, window = studio_window
    folder = tmp_path / "rec"
    assert not folder.exists()  # like a fresh account without ~/Videos
    click(qtbot, window.controls.record_button)
    await pump(lambda: "local: Live" in window.outputs.recording.text())
    assert folder.is_dir()
    assert window.controls.record_button.text() == "Stop recording"
    # Closing while recording asks; Cancel keeps the window and the recording.
    window.close()
    text = await answer(qtbot, window, yes=False)
    assert "recording" in text
    assert window.isVisible() and "local: Live" in window.outputs.recording.text()
    click(qtbot, window.controls.record_button)
    await pump(lambda: "saved to" in window.outputs.recording.text())
    assert window.controls.record_button.text() == "Record"
    assert list(folder.glob("Broadcast *"))


async def test_a_recording_that_cannot_start_leaves_the_button_on_record_with_a_notice(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow], tmp_path: Path
) -> None:
    studio, window = studio_window
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    studio.settings.recording_folder = str(blocker / "inside")
    click(qtbot, window.controls.record_button)
    await pump(lambda: any("start recording" in t for t in window.notices.texts()))
    assert window.controls.record_button.text() == "Record"
    assert "Choose folder" in " ".join(window.notices.texts())


async def test_folder_picker_sets_where_recordings_go(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow], tmp_path: Path
) -> None:
    studio, window = studio_window
    chosen = tmp_path / "Shows"
    chosen.mkdir()
    window.controls.record_menu.aboutToShow.emit()
    entry = next(a for a in window.controls.record_menu.actions() if a.text() == "Choose folder…")
    entry.trigger()
    dialog = window.controls.findChild(QFileDialog, "RecordingFolder")
    assert dialog is not None and dialog.isVisible()
    dialog.selectFile(str(chosen))
    dialog.accept()
    assert studio.settings.recording_dir() == chosen
    window.controls.record_menu.aboutToShow.emit()
    assert any(str(chosen) in a.text() for a in window.controls.record_menu.actions())
    # Local mode has no cloud recording: the menu says why instead of offering it.
    texts = [a.text() for a in window.controls.record_menu.actions()]
    assert "Cloud recording needs the platform backend" in texts


async def test_going_live_checks_each_destination_and_live_and_end_ask_first(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow], rtmp_server: RtmpServer
) -> None:
    studio, window = studio_window
    outputs = window.outputs
    # Add a custom destination through the dialog: a bad URL is refused in words.
    click(qtbot, outputs.add)
    dialog = outputs.editor
    assert dialog is not None and dialog.isVisible()
    type_text(qtbot, dialog.name, "Studio B")
    type_text(qtbot, dialog.url, "http://example.invalid/app")
    type_text(qtbot, dialog.key, "secret-key-1234")
    assert dialog.key.echoMode() is QLineEdit.EchoMode.Password
    click(qtbot, dialog.save)
    assert dialog.problem.isVisible() and "rtmp://" in dialog.problem.text()
    dialog.url.clear()
    type_text(qtbot, dialog.url, rtmp_server.url("live"))
    click(qtbot, dialog.save)
    await pump(lambda: "custom-1" in outputs.cards)
    card = outputs.cards["custom-1"]
    assert "••••1234" in card.where.text() and "secret-key" not in card.where.text()
    assert studio.secrets.get("stream-key:custom-1") == "secret-key-1234"
    # Twitch switched on and pointing at a port where nothing listens: the check stops it
    # before it starts; the custom destination goes live.
    studio.secrets.set("stream-key:twitch", "twitch-key-5678")
    click(qtbot, outputs.cards["twitch"].edit)
    editor = outputs.editor
    assert editor is not None
    editor.url.setText("rtmp://127.0.0.1:9/app")
    click(qtbot, editor.save)
    await pump(lambda: "127.0.0.1:9" in outputs.cards["twitch"].where.text())
    outputs.cards["twitch"].switch.setChecked(True)
    await pump(lambda: studio.destination("twitch").enabled)
    click(qtbot, window.controls.live_button)
    await pump(lambda: studio.store.state.is_live, 30)
    await pump(lambda: any("Twitch did not start" in t for t in window.notices.texts()), 30)
    assert not any(s.output_id == "twitch" for s in studio.store.state.direct_outputs)
    assert outputs.cards["twitch"].status.text().startswith("Not sending: it did not start")
    await pump(lambda: "Studio B live" in window.header.health.text(), 30)
    # Clicking Live asks; Cancel keeps the broadcast on.
    click(qtbot, window.controls.live_button)
    assert "End broadcast" not in (await answer(qtbot, window, yes=False))
    assert studio.store.state.is_live
    click(qtbot, window.controls.live_button)
    await answer(qtbot, window, yes=True)
    await pump(lambda: not studio.store.state.is_live, 30)
    # Remove the custom destination (asks first) and its key goes too.
    click(qtbot, outputs.cards["custom-1"].remove)
    await answer(qtbot, window, yes=True)
    await pump(lambda: "custom-1" not in outputs.cards)
    assert studio.secrets.get("stream-key:custom-1") == ""


def test_notices_stack_dedupe_dismiss_and_clear_with_their_condition(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow]
) -> None:
    studio, window = studio_window
    store = studio.store
    studio.set_problem(ProblemCode.NO_SPEAKER, "Error querying device -1")
    window.show_error("Select a guest first")
    window.show_error("Select a guest first")  # the same words twice are shown once
    texts = window.notices.texts()
    assert sum("Select a guest first" in t for t in texts) == 1
    speaker = next(t for t in texts if "Guests cannot be heard" in t)
    assert "Speaker menu" in speaker and "None" not in speaker and "-1" not in speaker
    # Dismissing one leaves the other.
    widget = window.notices.widget("error:Select a guest first")
    assert widget is not None
    click(qtbot, widget.dismiss)
    assert not any("Select a guest" in t for t in window.notices.texts())
    assert any("Guests cannot be heard" in t for t in window.notices.texts())
    # A failed destination is a notice until it is live again.
    failed = OutputStatus("youtube", "rtmp://a/live2/••••", OutputKind.RTMP, OutputPhase.FAILED,
                          error="the server refused the stream key")  # fmt: skip
    store.update(is_live=True, live_since_ms=int(time.time() * 1000), direct_outputs=(failed,))
    assert any("YouTube stopped" in t for t in window.notices.texts())
    live = OutputStatus("youtube", "rtmp://a/live2/••••", OutputKind.RTMP, OutputPhase.LIVE,
                        live_since_us=time.monotonic_ns() // 1000)  # fmt: skip
    store.update(direct_outputs=(live,))
    assert not any("YouTube" in t for t in window.notices.texts())
    studio.clear_problem(ProblemCode.NO_SPEAKER)
    assert not any("Guests cannot be heard" in t for t in window.notices.texts())


def test_header_shows_live_time_and_each_destinations_health(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    studio, window = studio_window
    retrying = OutputStatus("twitch", "rtmp://live.twitch.tv/app/••••", OutputKind.RTMP,
                            OutputPhase.RETRYING, error="refused", attempt=3, max_attempts=6,
                            retry_in_s=2.0)  # fmt: skip
    studio.store.update(is_live=True, live_since_ms=int(time.time() * 1000) - 5_000,
                        direct_outputs=(retrying,),
                        outputs=(EgressOutputStatus("youtube", OutputKind.RTMP,
                                                    OutputPhase.LIVE),))  # fmt: skip
    header = window.header
    assert header.live_badge.isVisible() and header.live_badge.text().startswith("LIVE 0:00:0")
    assert "Twitch retrying (4 of 6)" in header.health.text()
    assert "YouTube live" in header.health.text()
    assert header.health.property("health") == "warn"


def test_stage_tiles_are_16_by_9_and_a_share_is_the_big_one(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    studio, window = studio_window
    for name in ("Ann", "Bob", "Cy"):
        studio.store.update_remote(name.lower(), name=name)
    window.stage.relayout()
    for tile in [window.own_tile, *window.tiles.values()]:
        assert abs(tile.width() / tile.height() - 16 / 9) < 0.03, tile.size()
    screen = SyntheticCamera(320, 180, 10)
    screen.start()
    try:
        window.stage.show_share(screen, "Screen 1")
        share = window.screen_tile
        assert share is not None
        assert abs(share.width() / share.height() - 16 / 9) < 0.03
        assert share.width() > 2 * max(t.width() for t in window.tiles.values())
        # Wide or narrow (the Program monitor beside it), no tile covers another.
        for width, height in ((900, 500), (430, 560)):
            window.stage.resize(width, height)
            window.stage.relayout()
            tiles = [share, window.own_tile, *window.tiles.values()]
            rects = [t.geometry() for t in tiles]
            for i, a in enumerate(rects):
                assert window.stage.rect().contains(a), (width, a)
                assert abs(a.width() / a.height() - 16 / 9) < 0.05, (width, a)
                for b in rects[i + 1 :]:
                    assert not a.intersects(b), (width, a, b)
            assert share.width() > max(t.width() for t in tiles[1:])
    finally:
        window.stage.show_share(None)
        screen.stop()


def test_chat_shows_names_and_counts_unread_messages(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    from desktop.session.state import ChatMessage

    studio, window = studio_window
    store = studio.store
    store.update_remote("u-123", name="Ann Lee")
    window.side.setCurrentWidget(window.participants)
    store.update(chat=(ChatMessage("u-123", "hello!", int(time.time() * 1000)),))
    assert "Ann Lee: hello!" in window.chat.messages.item(0).text()
    assert "u-123" not in window.chat.messages.item(0).text()
    assert window.side.tabText(window.side.indexOf(window.chat)) == "Chat (1)"
    window.side.setCurrentWidget(window.chat)
    assert window.side.tabText(window.side.indexOf(window.chat)) == "Chat"


def test_file_menu_has_settings_and_quit(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow]
) -> None:
    studio, window = studio_window
    menus = [a.text() for a in window.menuBar().actions()]
    assert menus[0] == "&File"
    file_menu = window.menuBar().actions()[0].menu()
    assert isinstance(file_menu, QMenu)
    assert [a.text() for a in file_menu.actions() if a.text()] == ["&Settings…", "&Quit"]
    opened: list[object] = []
    window._open_settings = opened.append
    window.settings_action.setEnabled(True)
    window.settings_action.trigger()
    assert opened == [window]


async def test_quit_while_live_asks_and_yes_closes(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow]
) -> None:
    studio, window = studio_window
    studio.store.update(is_live=True, live_since_ms=int(time.time() * 1000))
    window.quit_action.trigger()
    assert "live" in await answer(qtbot, window, yes=False)
    assert window.isVisible()
    window.quit_action.trigger()
    await answer(qtbot, window, yes=True)
    await pump(lambda: not window.isVisible())


async def test_end_stream_asks_then_shows_live_time_and_money_with_a_currency(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow]
) -> None:
    studio, window = studio_window
    click(qtbot, window.controls.end_button)
    await answer(qtbot, window, yes=False)
    assert not studio.store.state.ended and window.summary is None
    click(qtbot, window.controls.end_button)
    await answer(qtbot, window, yes=True)
    await pump(lambda: window.summary_widget is not None)
    assert window.summary_widget is not None
    assert "Time live: not live" in window.summary_widget.text()
    assert studio.store.state.ended
    assert not window.controls.end_action.isEnabled()
    assert not window.header.reconnect.isVisible()


def test_summary_money_has_its_currency() -> None:
    from desktop.session.studio import StreamSummary
    from desktop.ui.summary_widget import summary_lines

    summary = StreamSummary(
        duration_s=3725, peak_participants=30, peak_publishers=3, currency="EUR",
        revenue={"revenueMultiplier": 3.0, "durationBonus": 1.2, "totalRevenue": 15.0,
                 "commissionRate": 20.0, "platformCommission": 3.0, "creatorRevenue": 12.0},
    )  # fmt: skip
    rows = dict(summary_lines(summary))
    assert rows["Your share"] == "€12.00" and rows["Time live"] == "1:02:05"


async def test_real_screen_is_offered_and_share_sends_its_pixels(
    qtbot: QtBot,
    xvfb_display: str,
    monkeypatch: pytest.MonkeyPatch,
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    from desktop.ui.devices import screen_factories

    monkeypatch.setenv("DISPLAY", xvfb_display)
    studio, window = studio_window
    screens = screen_factories(False)
    real = [label for label in screens if label.startswith("Screen 1")]
    assert real, list(screens)
    window.controls.list_screens = lambda: screens
    click(qtbot, window.controls.share_button)
    await pump(lambda: studio.screen is not None)
    assert window.controls.sharing_label == real[0]
    assert studio.screen is not None
    queue = studio.screen.frames.subscribe("test", maxsize=2)
    frame = None
    deadline = time.monotonic() + 10
    while frame is None and time.monotonic() < deadline:
        frame = queue.get(timeout_s=0.2)
        await asyncio.sleep(0)
    assert frame is not None
    pixels = np.asarray(frame.data).reshape(frame.height, frame.width, -1)
    b, g, r = (int(v) for v in pixels[frame.height // 4, frame.width // 4][:3])
    assert (r, g, b) == SCREEN_QUADRANTS_RGB[0]  # red: the real screen, not colour bars
    studio.screen.frames.unsubscribe(queue)
    click(qtbot, window.controls.share_button)
    await pump(lambda: studio.screen is None)


async def test_reconnect_now_rejoins_the_same_platform_room_and_end_leaves_it(
    qtbot: QtBot, backend_server: BackendServer, livekit_server: LiveKitServer
) -> None:
    secrets = _secrets()
    secrets.set("platform-credential", backend_server.host_credential)
    settings = Settings(connect_mode=ConnectMode.PLATFORM, backend_url=backend_server.url,
                        appointment_id=backend_server.appointment_id)  # fmt: skip
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(settings, secrets)
    studio.use_devices(camera, mic)
    window = StudioWindow(studio)
    qtbot.addWidget(window)
    window.show()
    guest = rtc.Room()
    try:
        await studio.connect()
        room_name = studio.store.state.room_name
        status, joined = await backend_server.call(
            "join_room", roomName=room_name, userId="ann", userName="Ann",
        )  # fmt: skip
        assert status == 200, joined
        await guest.connect(joined["url"], joined["token"])
        await pump(lambda: "ann" in window.tiles)
        assert studio.session is not None
        await studio.session.aclose()  # the studio drops out of the room
        await pump(lambda: window.header.reconnect.isVisible())
        click(qtbot, window.header.reconnect)
        await pump(lambda: studio.store.state.connection is ConnectionState.CONNECTED, 30)
        assert studio.store.state.room_name == room_name  # the same room, not a new one
        await pump(lambda: "ann" in window.tiles)
        await pump(lambda: len(guest.remote_participants) == 1)  # the guest sees the host
        # End stream: the host leaves, the guest's tile goes, nothing offers to reconnect.
        click(qtbot, window.controls.end_button)
        await answer(qtbot, window, yes=True)
        await pump(lambda: studio.store.state.ended, 30)
        assert not window.tiles
        assert studio.session is None
        assert not window.header.reconnect.isVisible()
        assert "ended" in window.header.connection.text()
        assert confirmation(window) is None
    finally:
        await guest.disconnect()
        window._close_confirmed = True
        window.close()
        await studio.aclose()
        camera.stop()
        mic.stop()


def test_every_new_control_has_a_name_and_tooltip(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    _, window = studio_window
    buttons = [b for b in window.findChildren(QAbstractButton) if b.isVisibleTo(window)
               and type(b.parent()).__name__ != "QTabBar"]  # fmt: skip
    assert not [b.text() for b in buttons if not b.accessibleName() or not b.toolTip()]


async def test_end_stream_in_livekit_mode_leaves_the_room(
    qtbot: QtBot, livekit_server: LiveKitServer, unique_room: str
) -> None:
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(Settings(connect_mode=ConnectMode.LIVEKIT), _secrets())
    studio.use_devices(camera, mic)
    window = StudioWindow(studio)
    qtbot.addWidget(window)
    window.show()
    guest = rtc.Room()
    try:
        await studio.connect(livekit_server.ws_url, livekit_server.token("host", unique_room))
        await guest.connect(livekit_server.ws_url,
                            livekit_server.token("ann", unique_room, name="Ann"))  # fmt: skip
        await pump(lambda: "host" in guest.remote_participants, 30)
        await pump(lambda: "ann" in window.tiles)
        assert window.header.title.text() == f"Room “{unique_room}”"
        click(qtbot, window.controls.end_button)
        await answer(qtbot, window, yes=True)
        # The guest sees the host go: the studio does not linger in the room.
        await pump(lambda: "host" not in guest.remote_participants, 30)
        # The guest can hear of it before the studio has finished leaving (a loaded machine).
        await pump(lambda: studio.store.state.ended and not window.tiles, 30)
        assert not window.header.reconnect.isVisible()
    finally:
        await guest.disconnect()
        window._close_confirmed = True
        window.close()
        await studio.aclose()
        camera.stop()
        mic.stop()


async def test_record_in_the_cloud_from_the_record_menu(
    qtbot: QtBot, backend_server: BackendServer, tmp_path: Path
) -> None:
    backend = backend_server
    secrets = _secrets()
    secrets.set("platform-credential", backend.host_credential)
    settings = Settings(connect_mode=ConnectMode.PLATFORM, backend_url=backend.url,
                        appointment_id=backend.appointment_id,
                        recording_folder=str(tmp_path / "rec"))  # fmt: skip
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(settings, secrets)
    studio.use_devices(camera, mic)
    window = StudioWindow(studio)
    qtbot.addWidget(window)
    window.show()
    try:
        await studio.connect()
        controls = window.controls
        controls.record_menu.aboutToShow.emit()
        cloud = next(
            a for a in controls.record_menu.actions() if a.text().startswith("In the cloud")
        )
        cloud.trigger()
        click(qtbot, controls.record_button)
        # The platform records the room (egress); the button, REC and Outputs agree.
        await pump(lambda: studio.store.state.is_recording, 60)
        await pump(lambda: window.header.rec_badge.isVisible())
        assert controls.record_button.text() == "Stop recording"
        await pump(lambda: "cloud:" in window.outputs.recording.text(), 30)
        assert not (tmp_path / "rec").exists()  # cloud only: no local file
        click(qtbot, controls.record_button)
        await pump(lambda: not studio.store.state.is_recording, 60)
        assert controls.record_button.text() == "Record"
    finally:
        window._close_confirmed = True
        window.close()
        await studio.aclose()
        camera.stop()
        mic.stop()


async def test_a_camera_plugged_in_later_appears_in_the_menu_and_is_announced(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow]
) -> None:
    studio, window = studio_window
    plugged: dict[str, Any] = {"Synthetic camera": lambda: _started(SyntheticCamera(320, 180, 10))}
    window.controls.list_cameras = lambda: plugged
    window.check_devices()
    plugged["USB camera"] = lambda: _started(SyntheticCamera(640, 360, 10))
    # The studio looks by itself every few seconds (no menu needs to be opened).
    await pump(lambda: any("New camera: USB camera" in t for t in window.notices.texts()), 15)
    window.controls.camera_menu.aboutToShow.emit()
    entries = [a.text() for a in window.controls.camera_menu.actions()]
    assert "USB camera" in entries
    next(a for a in window.controls.camera_menu.actions() if a.text() == "USB camera").trigger()
    await pump(lambda: studio.camera is not None and studio.camera.width == 640)
    del plugged["USB camera"]
    window.check_devices()
    assert not any("USB camera" in t for t in window.notices.texts())
    await window.bridge.drain()
    assert studio.camera is not None
    studio.camera.stop()  # the fixture stops the camera it opened; this one is the test's


def _started(source: Any) -> Any:
    source.start()
    return source


async def test_file_settings_reopens_setup_and_a_new_camera_is_used(
    qtbot: QtBot, studio_window: tuple[Studio, StudioWindow], tmp_path: Path
) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    from desktop.session.settings import SettingsStore
    from desktop.ui.setup_again import reopen_setup
    from desktop.ui.setup_dialog import SetupDialog

    studio, window = studio_window
    opened: list[Any] = []

    def wide() -> Any:
        camera = _started(SyntheticCamera(640, 360, 10))
        opened.append(camera)
        return camera

    cameras = {"Synthetic camera": lambda: studio.camera, "Wide camera": wide}
    store = SettingsStore(tmp_path / "config")
    window._open_settings = lambda w: reopen_setup(
        w, studio, store, studio.secrets, lambda: cameras, lambda: {}, lambda: {}
    )
    window.settings_action.setEnabled(True)
    window.settings_action.trigger()
    dialog = window.findChild(SetupDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.windowTitle().startswith("Settings")
    dialog.camera_pick.setCurrentText("Wide camera")
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    ok = box.button(QDialogButtonBox.StandardButton.Ok)
    click(qtbot, ok)
    await pump(lambda: studio.camera is opened[0] if opened else False)
    await pump(lambda: window.own_tile.frames_shown > 0)
    assert (tmp_path / "config" / "settings.json").exists()
    assert studio.settings.camera == "Wide camera"
    await window.bridge.drain()  # the switch closes the old camera; let it finish
    for camera in opened:
        camera.stop()
