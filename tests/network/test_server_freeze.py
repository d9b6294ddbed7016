"""A server frozen with SIGSTOP for 10 s: the studio and headless say "reconnecting", then
come back publishing, and never claim "connected" while the server is not answering.

The SDK alone misses such a freeze (its pings time out after 15 s): measured, it stayed
"connected" throughout. ``desktop/session/liveness.py`` notices the silence from the peer
connection's received-packet counter. (Killing and restarting the server is covered by the
session tests of the real-server branch and by ``tests/session/test_headless_outages.py``.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator

import keyring.backends.fail
import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.settings import Secrets, Settings
from desktop.session.state import ConnectionState, RoomState
from desktop.session.studio import Studio
from desktop.ui.studio_window import StudioWindow
from tests.fixtures.headless import HeadlessProcess
from tests.fixtures.livekit import LiveKitServer, freeze_process
from tests.participants import join, read_video_stamps, wait_for
from tests.ui.driving import pump

FREEZE_S = 10.0
NOTICE_WITHIN_S = 7.0
"""The freeze must show within this (the silence limit is 4 s, read every 0.5 s)."""


class Frozen:
    """SIGSTOP a server now; SIGCONT it on :meth:`thaw` (or at the end, whatever happens)."""

    def __init__(self, server: LiveKitServer) -> None:
        self.server = server
        freeze_process(server.pid)
        self.at_s = time.monotonic()
        self.thawed_at_s: float | None = None

    async def thaw_after(self, freeze_s: float) -> None:
        await asyncio.sleep(max(0.0, self.at_s + freeze_s - time.monotonic()))
        self.thaw()

    def thaw(self) -> None:
        if self.thawed_at_s is None:
            os.kill(self.server.pid, signal.SIGCONT)
            self.thawed_at_s = time.monotonic()


@pytest.fixture
def frozen_servers() -> Iterator[list[Frozen]]:
    """Thaws every server a test froze, even when the test fails."""
    frozen: list[Frozen] = []
    yield frozen
    for item in frozen:
        item.thaw()


async def _guest_sees_host_camera(server: LiveKitServer, room: str) -> list[int]:
    guest = await join(server, "guest", room)
    try:

        def camera() -> object:
            host = guest.remote_participants.get("host")
            tracks = [p.track for p in host.track_publications.values()] if host else []
            return next((t for t in tracks if t is not None and t.kind == 2), None)

        await wait_for(lambda: camera() is not None, 30)
        track = camera()
        from livekit import rtc

        assert isinstance(track, rtc.RemoteVideoTrack)
        return await read_video_stamps(track, 5)
    finally:
        await guest.disconnect()


async def test_the_studio_says_reconnecting_while_the_server_is_frozen(
    qtbot: QtBot,
    livekit_server_factory: Callable[..., LiveKitServer],
    frozen_servers: list[Frozen],
    unique_room: str,
) -> None:
    server = livekit_server_factory()
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(Settings(), Secrets(keyring.backends.fail.Keyring()))  # type: ignore[no-untyped-call]
    studio.use_devices(camera, mic)
    window = StudioWindow(studio)
    qtbot.addWidget(window)
    window.show()
    timeline: list[tuple[float, ConnectionState]] = []
    studio.store.subscribe(
        lambda old, new: (
            timeline.append((time.monotonic(), new.connection))
            if old.connection is not new.connection
            else None
        )
    )

    def publishing(state: RoomState) -> bool:
        return state.connection is ConnectionState.CONNECTED and bool(
            state.local and len(state.local.tracks) >= 2
        )

    try:
        await studio.connect(server.ws_url, server.token("host", unique_room))
        await pump(lambda: publishing(studio.store.state), 30)
        await pump(lambda: window.header.connection.text().startswith("Connected"), 10)
        freeze = Frozen(server)
        frozen_servers.append(freeze)
        await pump(lambda: "Reconnecting" in window.header.connection.text(), NOTICE_WITHIN_S)
        assert studio.store.state.connection is ConnectionState.RECONNECTING
        # Still frozen: the window keeps saying so.
        while time.monotonic() < freeze.at_s + FREEZE_S:
            assert "Reconnecting" in window.header.connection.text(), (
                window.header.connection.text()
            )
            QApplication.processEvents()
            await asyncio.sleep(0.1)
        freeze.thaw()
        await pump(lambda: publishing(studio.store.state), 30)
        await pump(lambda: window.header.connection.text().startswith("Connected"), 10)
        assert freeze.thawed_at_s is not None
        # Never "connected" between the first sign of the freeze and the thaw.
        during = [c for t, c in timeline if freeze.at_s <= t <= freeze.thawed_at_s]
        assert ConnectionState.RECONNECTING in during, timeline
        assert ConnectionState.CONNECTED not in during, timeline
        # Publishing again: a guest receives the studio's camera.
        stamps = await _guest_sees_host_camera(server, unique_room)
        assert stamps == sorted(stamps) and len(set(stamps)) == 5
    finally:
        window.close()
        await studio.aclose()  # the room, the guests' player (its speaker stream), the devices


async def test_headless_says_reconnecting_while_the_server_is_frozen(
    livekit_server_factory: Callable[..., LiveKitServer],
    frozen_servers: list[Frozen],
    unique_room: str,
) -> None:
    server = livekit_server_factory()
    headless = await HeadlessProcess.start(
        "--url", server.ws_url, "--token", server.token("host", unique_room),
        "--width", "320", "--height", "180", "--duration", "90",
    )  # fmt: skip
    try:
        await headless.until(lambda h: h.publishing, 30)
        seen_before = len(headless.states)
        freeze = Frozen(server)
        frozen_servers.append(freeze)
        await headless.until(lambda h: h.connection == "reconnecting", NOTICE_WITHIN_S)
        noticed_after_s = time.monotonic() - freeze.at_s
        await freeze.thaw_after(FREEZE_S)
        during = [str(s["connection"]) for s in headless.states[seen_before:]]
        assert "connected" not in during, during
        await headless.until(lambda h: h.publishing, 30)
        stamps = await _guest_sees_host_camera(server, unique_room)
        assert stamps == sorted(stamps) and len(set(stamps)) == 5
        print(f"headless said reconnecting {noticed_after_s:.1f} s into the freeze")
    finally:
        status = await headless.stop()
    assert status == 0, headless.stderr.decode(errors="replace")[-3000:]
