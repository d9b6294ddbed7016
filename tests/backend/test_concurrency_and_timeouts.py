"""Races and frozen servers, against the real livekit-server and the Egress stand-in.

20 clients at once start, retry and stop recording and RTMP on one room: exactly one egress of
each kind exists, and the store, ``ListEgress`` and ``get_broadcast_status`` agree at every step.
A server frozen with SIGSTOP gives ``504 livekit_timeout`` within the configured bound.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from livekit import api

from tests.fixtures.backend import BackendServer, backend_config, seed
from tests.fixtures.egress import LiveKitWithEgress
from tests.fixtures.rtmp import RtmpServer, free_port

CLIENTS = 20


async def _all(server: BackendServer, action: str, **body: Any) -> list[tuple[int, Any]]:
    """The same request from CLIENTS separate clients at once."""
    return list(await asyncio.gather(*(server.call(action, **body) for _ in range(CLIENTS))))


async def _agree(server: BackendServer, pair: LiveKitWithEgress, room: str) -> dict[str, Any]:
    """Store, ListEgress and get_broadcast_status tell the same story; returns the status."""
    lkapi = pair.egress.api()
    try:
        listed = await lkapi.egress.list_egress(api.ListEgressRequest(room_name=room, active=True))
    finally:
        await lkapi.aclose()
    active = {
        "recording" if item.file_results or item.room_composite.file_outputs else "rtmp": item
        for item in listed.items
    }
    assert len(active) == len(listed.items), listed.items  # never two of one kind
    status_code, status = await server.call("get_broadcast_status", roomName=room)
    assert status_code == 200, status
    assert server.store is not None
    stream = server.store.get_stream(room)
    assert stream is not None
    recording = active.get("recording")
    rtmp = active.get("rtmp")
    assert stream.recording_egress_id == (recording.egress_id if recording else "")
    assert stream.rtmp_egress_id == (rtmp.egress_id if rtmp else "")
    assert bool(status["recording"].get("active")) == (recording is not None)
    assert status["live"] == (rtmp is not None)
    return dict(status)


async def test_twenty_clients_one_egress_and_everyone_agrees(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress, rtmp_server: RtmpServer
) -> None:
    status, body = await backend_server.call(
        "create_room", appointmentId=backend_server.appointment_id
    )
    assert status == 200, body
    room = body["room"]["name"]

    answers = await _all(backend_server, "start_recording", roomName=room)
    assert {code for code, _ in answers} == {200}, answers
    assert len({a["recording"]["egressId"] for _, a in answers}) == 1
    await _agree(backend_server, real_livekit, room)

    destination = rtmp_server.url("live", "race-key")
    answers = await _all(backend_server, "start_rtmp", roomName=room, destinations=[destination])
    assert {code for code, _ in answers} == {200}, answers
    assert len({a["egressId"] for _, a in answers}) == 1
    # Two different requests at once: one wins, the other is told to use update_rtmp.
    other = rtmp_server.url("live2", "other-key")
    second = await asyncio.gather(
        backend_server.call("start_rtmp", roomName=room, destinations=[other]),
        backend_server.call("start_rtmp", roomName=room, destinations=[other]),
    )
    assert [code for code, _ in second] == [409, 409]
    await _agree(backend_server, real_livekit, room)

    answers = await _all(backend_server, "update_rtmp", roomName=room, add=[other])
    assert {code for code, _ in answers} == {200}, answers
    final = await _agree(backend_server, real_livekit, room)
    assert [d["name"] for d in final["destinations"]] == ["custom-1", "custom-1-2"]

    answers = await _all(backend_server, "stop_recording", roomName=room)
    assert {code for code, _ in answers} == {200}, answers
    assert len({a["recording"]["egressId"] for _, a in answers}) == 1
    await _agree(backend_server, real_livekit, room)

    answers = await _all(backend_server, "stop_rtmp", roomName=room)
    assert {code for code, _ in answers} == {200}, answers
    final = await _agree(backend_server, real_livekit, room)
    assert final["live"] is False and not final["recording"]["active"]


@pytest.fixture
async def frozen_setup(
    real_livekit_factory: Any, rtmp_server: RtmpServer, tmp_path: Path
) -> AsyncIterator[tuple[BackendServer, LiveKitWithEgress]]:
    pair: LiveKitWithEgress = real_livekit_factory()
    config = backend_config(pair, rtmp_server, tmp_path, livekit_timeout_s=2.0)
    appointment_id, host, viewer, other = seed(config)
    port = free_port()
    server = BackendServer(
        config, f"http://127.0.0.1:{port}", appointment_id, host, viewer, other, port=port
    )
    await server.start()
    try:
        yield server, pair
    finally:
        pair.thaw_livekit()
        os.kill(pair.egress.process.pid, signal.SIGCONT)
        await server.stop()


async def _timed(server: BackendServer, action: str, **body: Any) -> tuple[int, Any, float]:
    started = time.monotonic()
    status, answer = await server.call(action, **body)
    return status, answer, time.monotonic() - started


async def test_frozen_livekit_answers_504_within_the_bound(
    frozen_setup: tuple[BackendServer, LiveKitWithEgress],
) -> None:
    server, pair = frozen_setup
    status, body = await server.call("create_room", appointmentId=server.appointment_id)
    assert status == 200, body
    room = body["room"]["name"]
    status, body = await server.call("start_recording", roomName=room)
    assert status == 200, body

    pair.freeze_livekit()
    for action, fields in (
        ("create_room", {"appointmentId": server.appointment_id}),
        ("get_room_status", {"roomName": room}),
        ("mute_participant", {"roomName": room, "identity": "nobody"}),
    ):
        status, answer, took_s = await _timed(server, action, **fields)
        assert status == 504 and answer["error"] == "livekit_timeout", (action, answer)
        assert "within 2 s" in answer["details"]
        assert took_s < 2.0 + 1.5, (action, took_s)
    pair.thaw_livekit()

    # The egress service frozen: its calls are bounded the same way.
    os.kill(pair.egress.process.pid, signal.SIGSTOP)
    status, answer, took_s = await _timed(server, "get_broadcast_status", roomName=room)
    assert status == 504 and answer["error"] == "livekit_timeout", answer
    assert took_s < 2.0 + 1.5
    # A room that was to record from the start is not left half-made when egress hangs.
    lkapi = pair.livekit.api()
    try:
        rooms_before = {r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms}
        status, answer, took_s = await _timed(
            server, "create_room", appointmentId=server.appointment_id, recordingEnabled=True
        )
        assert status == 504, answer
        rooms_after = {r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms}
    finally:
        await lkapi.aclose()
    assert rooms_after == rooms_before
    os.kill(pair.egress.process.pid, signal.SIGCONT)
    status, answer = await server.call("get_broadcast_status", roomName=room)
    assert status == 200 and answer["recording"]["active"] is True
