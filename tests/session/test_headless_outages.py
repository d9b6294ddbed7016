"""Headless tells the truth when it gives up: rejoin after outages, exit non-zero when it can't.

Each test runs ``broadcaster headless`` as a real process against a real livekit-server of its
own, and breaks things the way production does: a moderator removes it, the same identity joins
elsewhere, the server is killed for longer or shorter than the reconnect window.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable

from livekit import api

from tests.fixtures.headless import HeadlessProcess
from tests.fixtures.livekit import LiveKitServer, restart_server
from tests.participants import join, wait_for


def _one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("broadcaster headless:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


async def test_removed_by_a_moderator_exits_at_once(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    headless = await HeadlessProcess.join(livekit_server, unique_room, "--duration", "60")
    await headless.until(lambda h: h.connection == "connected", 30)
    # Removed at once, even while it is still publishing its tracks.
    async with api.LiveKitAPI(
        livekit_server.http_url, livekit_server.api_key, livekit_server.api_secret
    ) as lk:
        await lk.room.remove_participant(
            api.RoomParticipantIdentity(room=unique_room, identity="host")
        )
    removed_at = time.monotonic()
    status, stderr = await headless.finish(30)
    assert status == 6, stderr[-3000:]
    assert time.monotonic() - removed_at < 10
    assert "removed you from the room; not rejoining" in _one_sentence(stderr)


async def test_replaced_by_the_same_identity_exits_at_once(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    headless = await HeadlessProcess.join(livekit_server, unique_room, "--duration", "60")
    await headless.until(lambda h: h.connection == "connected", 30)
    twin = await join(livekit_server, "host", unique_room)
    try:
        status, stderr = await headless.finish(30)
    finally:
        await twin.disconnect()
    assert status == 6, stderr[-3000:]
    assert "joined from somewhere else; not rejoining" in _one_sentence(stderr)


async def test_an_outage_longer_than_the_window_exits_with_the_reason(
    livekit_server_factory: Callable[..., LiveKitServer], unique_room: str
) -> None:
    server = livekit_server_factory()
    headless = await HeadlessProcess.join(server, unique_room, "--reconnect-window", "15")
    await headless.until(lambda h: h.publishing, 30)
    assert server.process is not None
    os.kill(server.pid, signal.SIGKILL)
    killed_at, seen_before_kill = time.monotonic(), len(headless.states)
    status, stderr = await headless.finish(60)
    waited_s = time.monotonic() - killed_at
    assert status == 7, stderr[-3000:]
    assert 15 <= waited_s < 30, waited_s
    sentence = _one_sentence(stderr)
    assert "could not get back in within 15 s" in sentence
    assert server.ws_url in sentence
    # It never claimed to be connected while the server was gone.
    after_kill = [s["connection"] for s in headless.states[seen_before_kill:]]
    assert "reconnecting" in after_kill or "disconnected" in after_kill, after_kill
    first_drop = next(i for i, c in enumerate(after_kill) if c != "connected")
    assert "connected" not in after_kill[first_drop:], after_kill


async def test_an_outage_shorter_than_the_window_rejoins_and_publishes_again(
    livekit_server_factory: Callable[..., LiveKitServer], unique_room: str
) -> None:
    server = livekit_server_factory()
    headless = await HeadlessProcess.join(server, unique_room, "--duration", "75")
    await headless.until(lambda h: h.publishing, 30)
    os.kill(server.pid, signal.SIGKILL)
    await headless.until(lambda h: h.connection in ("reconnecting", "disconnected"), 30)
    # Down for longer than the SDK's own resume and rejoin take to give up.
    await asyncio.sleep(25)
    assert headless.connection != "connected"
    server = restart_server(server)
    try:
        await headless.until(lambda h: h.publishing, 45)
        # Publishing again: a guest receives its camera and microphone.
        guest = await join(server, "guest", unique_room)
        try:
            await wait_for(
                lambda: any(
                    len(p.track_publications) >= 2 for p in guest.remote_participants.values()
                ),
                20,
            )
        finally:
            await guest.disconnect()
        headless.proc.send_signal(signal.SIGINT)
        status, stderr = await headless.finish(30)
        assert status == 0, stderr[-3000:]
    finally:
        from tests.fixtures.livekit import stop_server

        stop_server(server)
