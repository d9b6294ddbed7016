"""The desktop's backends: HttpBackend against the reference service over HTTP, LocalBackend
in-process, both against the LiveKit double; failures arrive as typed errors."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from aiohttp import web

from desktop.media.outputs.output import OutputPhase
from desktop.session.backend_client import HttpBackend, LocalBackend
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.room_session import RoomSession
from desktop.session.state import ConnectionState
from spaces_contract.recording import RecordingState
from spaces_contract.rooms import CreatedRoom, StreamEnded
from tests.fixtures.backend import BackendServer
from tests.fixtures.egress import LiveKitWithEgress
from tests.fixtures.rtmp import free_port


async def test_http_backend_hosts_a_room(backend_server: BackendServer) -> None:
    backend = HttpBackend(backend_server.url, backend_server.host_credential)
    session = RoomSession()
    try:
        created = await backend.call("create_room", appointmentId=backend_server.appointment_id)
        room = created["room"]
        await session.connect(room["url"], room["token"])
        assert session.store.state.connection is ConnectionState.CONNECTED
        status = await backend.call("get_room_status", roomName=room["name"])
        assert status["room"]["participantCount"] == 1
        with pytest.raises(SessionError) as info:
            await backend.call("stop_rtmp", roomName=room["name"])
        assert info.value.code is SessionErrorCode.ALREADY_ACTIVE
        with pytest.raises(SessionError) as missing:
            await backend.call("get_room_status", roomName="appointment-none-1")
        assert missing.value.code is SessionErrorCode.NOT_FOUND
    finally:
        await session.aclose()
        await backend.aclose()


async def test_http_backend_wrong_credential_says_sign_in(backend_server: BackendServer) -> None:
    backend = HttpBackend(backend_server.url, "sb_wrong")
    try:
        with pytest.raises(SessionError) as info:
            await backend.call("get_room_status", roomName="x")
        assert info.value.code is SessionErrorCode.SIGN_IN_AGAIN
        assert info.value.hint == "sign in again"
        assert "sb_wrong" not in str(info.value)
    finally:
        await backend.aclose()


async def test_unavailable_backend_retries_only_idempotent_actions() -> None:
    hits: dict[str, int] = {}

    async def flaky(request: web.Request) -> web.Response:
        action = (await request.json())["action"]
        hits[action] = hits.get(action, 0) + 1
        if hits[action] < 3:
            return web.json_response({"error": "unavailable", "details": "restarting"}, status=503)
        return web.json_response({"success": True})

    app = web.Application()
    app.router.add_post("/api/livekit", flaky)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    backend = HttpBackend(f"http://127.0.0.1:{port}", "cred", retry_delays_s=(0.05, 0.05, 0.05))
    try:
        assert await backend.call("get_room_status", roomName="r") == {"success": True}
        assert hits["get_room_status"] == 3
        with pytest.raises(SessionError) as info:
            await backend.call("create_room", appointmentId="a")
        assert info.value.code is SessionErrorCode.BACKEND_UNAVAILABLE
        assert hits["create_room"] == 1  # never sent twice: a second room would be made
        # Starting an output is safe to repeat: the backend answers a repeat with what it did.
        assert await backend.call("start_rtmp", roomName="r", destinations=["rtmp://a/b/c"])
        assert hits["start_rtmp"] == 3
    finally:
        await backend.aclose()
        await runner.cleanup()


async def test_unreachable_backend_and_timeout() -> None:
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        backend = HttpBackend(
            f"http://127.0.0.1:{port}", "c", timeout_s=0.5, retry_delays_s=(0.05,)
        )
        try:
            started = asyncio.get_running_loop().time()
            with pytest.raises(SessionError) as info:
                await backend.call("get_room_status", roomName="r")
            assert info.value.code is SessionErrorCode.BACKEND_UNAVAILABLE
            assert asyncio.get_running_loop().time() - started < 5
        finally:
            await backend.aclose()
    with pytest.raises(SessionError) as bad:
        HttpBackend("spaces.example.com", "c")
    assert bad.value.code is SessionErrorCode.BAD_URL


async def test_local_backend_runs_the_service_in_process(
    real_livekit: LiveKitWithEgress, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVEKIT_URL", real_livekit.livekit.ws_url)
    monkeypatch.setenv("LIVEKIT_API_KEY", real_livekit.livekit.api_key)
    monkeypatch.setenv("LIVEKIT_API_SECRET", real_livekit.livekit.api_secret)
    backend = LocalBackend("me", tmp_path / "local.sqlite3")
    session = RoomSession()
    try:
        created = await backend.create_room("rehearsal")
        assert isinstance(created, CreatedRoom) and created.room.name == "rehearsal"
        await session.connect(created.room.url, created.room.token)
        assert session.store.state.room_name == created.room.name
        status = await backend.get_room_status(created.room.name)
        assert status.room.participant_count == 1
        ended = await backend.end_stream(created.room.name)
        assert isinstance(ended, StreamEnded) and ended.stats.total_participants >= 1
    finally:
        await session.aclose()
        await backend.aclose()


async def test_broadcast_status_reaches_the_state(backend_server: BackendServer) -> None:
    from desktop.session.broadcast_monitor import BroadcastMonitor

    backend = HttpBackend(backend_server.url, backend_server.host_credential)
    session = RoomSession()
    try:
        room = (await backend.call("create_room", appointmentId=backend_server.appointment_id))[
            "room"
        ]
        await session.connect(room["url"], room["token"])
        monitor = BroadcastMonitor(backend, session.store, room["name"], interval_s=0.2)
        await monitor.refresh()
        assert not session.store.state.is_recording and not session.store.state.outputs
        started = await backend.start_recording(room["name"])
        assert started.recording.status is RecordingState.STARTING
        monitor.start()
        for _ in range(50):
            if session.store.state.is_recording:
                break
            await asyncio.sleep(0.1)
        assert session.store.state.is_recording
        assert session.store.state.outputs[0].name == "recording"
        stopped = await backend.stop_recording(room["name"])
        assert stopped.recording.name and stopped.recording.name.endswith(".mp4")
        for _ in range(50):
            if not session.store.state.is_recording:
                break
            await asyncio.sleep(0.1)
        recording = session.store.state.outputs[0]
        assert recording.phase is OutputPhase.FINISHED and recording.detail.endswith(".mp4")
        await monitor.aclose()
    finally:
        await session.aclose()
        await backend.aclose()
