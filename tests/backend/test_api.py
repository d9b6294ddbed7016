"""The /api/livekit contract over real HTTP, against the real livekit-server and the Egress
stand-in."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from livekit import rtc

from backend.service import revenue_split
from tests.fixtures.backend import BackendServer
from tests.fixtures.egress import CONNECT_TIMEOUT_S, LiveKitWithEgress
from tests.fixtures.rtmp import RtmpServer, ffprobe_streams
from tests.participants import Feeder


def _grants(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    video = claims["video"]
    assert isinstance(video, dict)
    return video


async def _create(server: BackendServer, **extra: Any) -> dict[str, object]:
    status, body = await server.call(
        "create_room",
        appointmentId=server.appointment_id,
        hostUserId="host-1",
        maxParticipants=25,
        **extra,
    )
    assert status == 200, body
    room = body["room"]
    assert isinstance(room, dict)
    return room


async def _connect(url: str, token: str) -> rtc.Room:
    room = rtc.Room()
    await room.connect(url, token, rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S))
    return room


async def test_create_room_and_tokens_with_least_privilege(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress
) -> None:
    room = await _create(backend_server)
    name = str(room["name"])
    assert name.startswith(f"appointment-{backend_server.appointment_id}-")
    assert room["url"] == real_livekit.livekit.ws_url and room["maxParticipants"] == 25
    host = _grants(str(room["token"]))
    assert host["room"] == name and host["roomJoin"] and host["canPublish"]
    assert not host.get("roomAdmin") and not host.get("roomRecord")
    lkapi = real_livekit.livekit.api()
    try:
        from livekit import api

        listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=[name]))
        metadata = json.loads(listed.rooms[0].metadata)
        assert metadata == {
            "appointmentId": backend_server.appointment_id,
            "hostUserId": "host-1",
            "productType": "livekit_stream",
            "tenantId": "tenant-9",
        }
        assert listed.rooms[0].empty_timeout == 1800
    finally:
        await lkapi.aclose()
    status, body = await backend_server.call(
        "join_room",
        backend_server.viewer_credential,
        roomName=name,
        userId="viewer-1",
        userName="Vi",
    )
    assert status == 200
    viewer = _grants(str(body["token"]))
    assert viewer["canPublish"] is False and viewer["canPublishData"] is False
    assert viewer["canSubscribe"] is True
    status, body = await backend_server.call(
        "join_room",
        backend_server.viewer_credential,
        roomName=name,
        userId="viewer-1",
        permissions={"canPublish": True},
    )
    assert status == 403, body
    status, body = await backend_server.call(
        "join_room",
        roomName=name,
        userId="guest-7",
        userName="Guest",
        permissions={"canPublish": True, "canPublishData": True},
    )
    assert status == 200 and _grants(str(body["token"]))["canPublish"] is True


@pytest.mark.parametrize(
    ("headers", "payload", "status", "error"),
    [
        ({}, {"action": "get_room_status", "roomName": "x"}, 401, "unauthorized"),
        ({"Authorization": "Bearer nope"}, {"action": "get_room_status"}, 401, "unauthorized"),
        (None, "not json", 400, "invalid_json"),
        (None, {"action": "launch_rockets"}, 400, "invalid_action"),
        (None, {"action": "create_room"}, 400, "missing_field"),
        (None, {"action": "create_room", "appointmentId": "bad id!"}, 400, "invalid_field"),
        (None, {"action": "create_room", "appointmentId": "no-such"}, 404, "not_found"),
        (None, {"action": "get_room_status", "roomName": "appointment-x-1"}, 404, "not_found"),
    ],
)
async def test_errors_have_status_code_and_words(
    backend_server: BackendServer,
    headers: dict[str, str] | None,
    payload: object,
    status: int,
    error: str,
) -> None:
    sent = (
        headers
        if headers is not None
        else {"Authorization": f"Bearer {backend_server.host_credential}"}
    )
    data = payload if isinstance(payload, str) else json.dumps(payload)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{backend_server.url}/api/livekit", data=data, headers=sent) as response,
    ):
        body = await response.json()
        assert response.status == status
        assert body["error"] == error and body["details"]
    if error == "missing_field":
        assert "appointmentId" in body["details"]


async def test_other_hosts_and_viewers_are_refused(backend_server: BackendServer) -> None:
    room = await _create(backend_server)
    for credential in (backend_server.other_host_credential, backend_server.viewer_credential):
        # 404, as for a room that does not exist: a 403 would tell that this one does.
        status, body = await backend_server.call(
            "get_room_status", credential, roomName=room["name"]
        )
        assert status == 404, body
        status, body = await backend_server.call(
            "create_room", credential, appointmentId=backend_server.appointment_id
        )
        assert status == 404


async def test_status_moderation_and_end_stream(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress
) -> None:
    room = await _create(backend_server)
    name = str(room["name"])
    _, joined = await backend_server.call(
        "join_room",
        roomName=name,
        userId="guest-1",
        userName="Guest",
        permissions={"canPublish": True},
    )
    host = await _connect(str(room["url"]), str(room["token"]))
    guest = await _connect(str(room["url"]), str(joined["token"]))
    feeder = Feeder()
    try:
        source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.audio(source)
        await guest.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("mic", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        for _ in range(50):
            status, body = await backend_server.call("get_room_status", roomName=name)
            if body["room"]["publisherCount"] == 1:
                break
            await asyncio.sleep(0.1)
        assert status == 200 and body["room"]["participantCount"] == 2
        assert {p["identity"] for p in body["room"]["participants"]} == {"host-1", "guest-1"}
        muted = asyncio.Event()
        guest.on("track_muted", lambda *_: muted.set())
        status, body = await backend_server.call(
            "mute_participant", roomName=name, identity="guest-1", source="microphone"
        )
        assert status == 200, body
        await asyncio.wait_for(muted.wait(), 10)
        status, body = await backend_server.call(
            "update_participant_permissions",
            roomName=name,
            identity="guest-1",
            permissions={"canPublish": False},
        )
        assert status == 200 and body["permissions"]["canPublish"] is False
        gone = asyncio.Event()
        guest.on("disconnected", lambda reason: gone.set())
        status, _ = await backend_server.call(
            "remove_participant", roomName=name, identity="guest-1"
        )
        assert status == 200
        await asyncio.wait_for(gone.wait(), 10)
        status, body = await backend_server.call(
            "end_stream", roomName=name, appointmentId=backend_server.appointment_id
        )
        assert status == 200, body
        assert body["stats"]["totalParticipants"] == 2 and body["stats"]["peakPublishers"] == 1
        assert body["revenue"] == revenue_split(2, body["stats"]["duration"] / 60_000, 50.0)
        status, _ = await backend_server.call("get_room_status", roomName=name)
        assert status == 404
    finally:
        await feeder.aclose()
        await host.disconnect()
        await guest.disconnect()


def test_revenue_rules() -> None:
    assert revenue_split(5, 30, 100.0) == {
        "basePrice": 100.0,
        "revenueMultiplier": 0.5,
        "durationBonus": 1.0,
        "totalRevenue": 50.0,
        "commissionRate": 20.0,
        "platformCommission": 10.0,
        "creatorRevenue": 40.0,
    }
    capped = revenue_split(100, 61, 100.0)
    assert capped["revenueMultiplier"] == 3.0 and capped["durationBonus"] == 1.2
    assert capped["totalRevenue"] == 360.0 and capped["creatorRevenue"] == 288.0


async def test_recording_to_a_file(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress
) -> None:
    room = await _create(backend_server)
    name = str(room["name"])
    host = await _connect(str(room["url"]), str(room["token"]))
    feeder = Feeder()
    try:
        camera = rtc.VideoSource(320, 180)
        feeder.video(camera, 320, 180, fps=15)
        await host.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", camera),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
        )
        status, body = await backend_server.call(
            "start_recording", roomName=name, output="mp4", layout="grid", quality="low"
        )
        assert status == 200, body
        # A retry answers the recording already running (the same egress), not a second one.
        status, again = await backend_server.call("start_recording", roomName=name)
        assert status == 200 and again["recording"]["egressId"] == body["recording"]["egressId"]
        await asyncio.sleep(3)
        status, body = await backend_server.call("stop_recording", roomName=name)
        assert status == 200, body
        recording = body["recording"]
        assert recording["status"] == "complete" and recording["sizeBytes"] > 5000
        # Named, not located: no server path in the answer.
        assert "/" not in recording["name"] and "file" not in recording
        assert str(real_livekit.egress.output_dir) not in json.dumps(body)
        path = real_livekit.egress.output_dir / "recordings" / recording["name"]
        assert {s["codec_name"] for s in ffprobe_streams(path)} == {"h264", "aac"}
        status, retry = await backend_server.call("stop_recording", roomName=name)
        assert status == 200 and retry["recording"] == recording
    finally:
        await feeder.aclose()
        await host.disconnect()


async def test_rtmp_go_live_update_and_restart(
    backend_server: BackendServer,
    real_livekit: LiveKitWithEgress,
    rtmp_server: RtmpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    room = await _create(backend_server)
    name = str(room["name"])
    host = await _connect(str(room["url"]), str(room["token"]))
    feeder = Feeder()
    secret_key = "yt-secret-key-0042"
    try:
        camera = rtc.VideoSource(320, 180)
        feeder.video(camera, 320, 180, fps=15)
        await host.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", camera),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
        )
        status, body = await backend_server.call(
            "start_rtmp",
            roomName=name,
            destinations=[{"platform": "youtube", "streamKey": secret_key}],
        )
        assert status == 200, body
        assert secret_key not in json.dumps(body)
        status, body = await backend_server.call(
            "start_rtmp", roomName=name, destinations=[rtmp_server.url("live2", "other")]
        )
        assert status == 409, body
        await asyncio.to_thread(rtmp_server.wait_for_recording, "live", 20_000)
        # The service restarts mid-stream: nothing is lost.
        await backend_server.stop()
        await backend_server.start()
        status, body = await backend_server.call(
            "update_rtmp", roomName=name, add=[rtmp_server.url("live2", "tw-key-7")]
        )
        assert status == 200, body
        second = await asyncio.to_thread(rtmp_server.wait_for_recording, "live2", 20_000)
        # The first destination keeps going while the second is added.
        first = rtmp_server.recordings("live")[0]
        size_before = first.stat().st_size
        await asyncio.sleep(2)
        assert first.stat().st_size > size_before and second.stat().st_size > 20_000
        status, body = await backend_server.call("update_rtmp", roomName=name, remove=["youtube"])
        assert status == 200 and body["destinations"] == ["custom-1"]
        status, body = await backend_server.call("get_broadcast_status", roomName=name)
        assert status == 200 and body["live"] is True
        states = {d["name"]: d["status"] for d in body["destinations"]}
        assert states["youtube"] == "stopped" and states["custom-1"] in ("starting", "live")
        assert secret_key not in json.dumps(body) and "tw-key-7" not in json.dumps(body)
        status, _ = await backend_server.call("stop_rtmp", roomName=name)
        assert status == 200
        status, body = await backend_server.call("get_broadcast_status", roomName=name)
        assert body["live"] is False
    finally:
        await feeder.aclose()
        await host.disconnect()
    assert secret_key not in caplog.text
    assert real_livekit.livekit.api_secret not in caplog.text


async def test_bad_destinations_are_named(backend_server: BackendServer) -> None:
    room = await _create(backend_server)
    for destinations, words in (
        ([{"platform": "youtube"}], "needs a streamKey"),
        (["http://example.com/live/x"], "'destinations[0]'"),
        ([], "at least 1"),
    ):
        status, body = await backend_server.call(
            "start_rtmp", roomName=room["name"], destinations=destinations
        )
        assert status == 400 and words in body["details"]


async def test_webhooks_verified_and_idempotent(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress
) -> None:
    import base64
    import hashlib

    from livekit import api

    room = await _create(backend_server)
    event = api.WebhookEvent(
        event="participant_joined",
        id="EV_test_1",
        room=api.Room(name=str(room["name"]), num_participants=7),
    )
    from google.protobuf import json_format

    body = json_format.MessageToJson(event)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    key, secret = real_livekit.livekit.api_key, real_livekit.livekit.api_secret
    good = api.AccessToken(key, secret).with_sha256(digest)
    forged = api.AccessToken(key, "x" * 40).with_sha256(digest)
    no_id = json_format.MessageToJson(api.WebhookEvent(event="room_started", room=event.room))
    no_id_digest = base64.b64encode(hashlib.sha256(no_id.encode()).digest()).decode()
    async with aiohttp.ClientSession() as session:
        url = f"{backend_server.url}/webhooks/livekit"
        async with session.post(url, data=body, headers={"Authorization": forged.to_jwt()}) as r:
            assert r.status == 401
        async with session.post(url, data=body, headers={"Authorization": good.to_jwt()}) as r:
            assert r.status == 200 and (await r.json()) == {"success": True}
        async with session.post(url, data=body, headers={"Authorization": good.to_jwt()}) as r:
            assert (await r.json()).get("duplicate") is True
        # Without an id a replay cannot be recognised: refused, not applied.
        signed = api.AccessToken(key, secret).with_sha256(no_id_digest).to_jwt()
        async with session.post(url, data=no_id, headers={"Authorization": signed}) as r:
            assert r.status == 400 and (await r.json())["error"] == "missing_field"
    assert backend_server.store is not None
    stream = backend_server.store.get_stream(str(room["name"]))
    assert stream is not None and stream.peak_participants == 7


async def test_openapi_is_served(backend_server: BackendServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{backend_server.url}/api/openapi.json") as response,
    ):
        document = await response.json()
    assert document["openapi"].startswith("3.")
    variants = document["paths"]["/api/livekit"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]["oneOf"]
    assert len(variants) == 14  # update_layout joined the 13 actions


async def test_unreachable_livekit_is_502_without_secrets(tmp_path: Path) -> None:
    from backend.config import BackendConfig
    from backend.service import ApiError, LiveKitBackendService, Principal
    from backend.store import Appointment, Role, SqliteStore

    store = SqliteStore(tmp_path / "db.sqlite3")
    store.add_appointment(Appointment("a1", "h1"))
    config = BackendConfig(
        "ws://127.0.0.1:1", "key", "super-secret-value-1234567890123456", tmp_path / "db.sqlite3"
    )
    service = LiveKitBackendService(config, store)
    try:
        with pytest.raises(ApiError) as info:
            await service.dispatch(
                Principal("h1", Role.HOST), {"action": "create_room", "appointmentId": "a1"}
            )
        assert info.value.status == 502, info.value
        assert "super-secret" not in json.dumps(info.value.body())
    finally:
        await service.aclose()
        store.close()
