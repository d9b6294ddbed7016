"""Headless tells the truth when it gives up: rejoin after outages, exit non-zero when it can't.

Each test runs ``broadcaster headless`` as a real process against a real livekit-server of its
own, and breaks things the way production does: a moderator removes it, the same identity joins
elsewhere, the server is killed for longer or shorter than the reconnect window.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from livekit import api

from tests.fixtures.livekit import LiveKitServer, restart_server
from tests.participants import join, wait_for

ROOT = Path(__file__).resolve().parents[2]


class Headless:
    """A running ``broadcaster headless`` with its JSON state lines collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.states: list[dict[str, object]] = []
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, server: LiveKitServer, room: str, *args: str) -> Headless:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "desktop", "headless", "--url", server.ws_url,
            "--token", server.token("host", room), "--width", "320", "--height", "180",
            "--connect-timeout", "5", *args,
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            event = json.loads(line)
            if event.get("event") == "state":
                self.states.append(event)

    @property
    def connection(self) -> str:
        return str(self.states[-1]["connection"]) if self.states else ""

    @property
    def publishing(self) -> bool:
        """Connected with camera and microphone published."""
        if not self.states or self.connection != "connected":
            return False
        tracks = self.states[-1].get("local_tracks", [])
        return isinstance(tracks, list) and len(tracks) >= 2

    async def until(self, predicate: Callable[[Headless], bool], timeout_s: float) -> None:
        await wait_for(lambda: predicate(self), timeout_s)

    async def finish(self, timeout_s: float) -> tuple[int, str]:
        """Wait for the exit; returns (status, stderr)."""
        assert self.proc.stderr is not None
        err = await asyncio.wait_for(self.proc.stderr.read(), timeout_s)
        await asyncio.wait_for(self.proc.wait(), 10)
        await self._reader
        assert self.proc.returncode is not None
        return self.proc.returncode, err.decode()


def _one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("broadcaster headless:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


async def test_removed_by_a_moderator_exits_at_once(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    headless = await Headless.start(livekit_server, unique_room, "--duration", "60")
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
    headless = await Headless.start(livekit_server, unique_room, "--duration", "60")
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
    headless = await Headless.start(server, unique_room, "--reconnect-window", "15")
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
    headless = await Headless.start(server, unique_room, "--duration", "75")
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
