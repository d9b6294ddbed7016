"""What the backend refuses and keeps to itself: the destination policy, exact validation with
nothing half-created, stream keys at rest, token lifetimes and scopes, ended streams."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import jwt
import pytest
from livekit import api

from backend.store import Appointment
from tests.fixtures.backend import SQLITE_ONLY, BackendServer
from tests.fixtures.egress import LiveKitWithEgress
from tests.fixtures.rtmp import RtmpServer, free_port


async def _room(server: BackendServer, credential: str | None = None, **extra: Any) -> str:
    status, body = await server.call(
        "create_room", credential, appointmentId=server.appointment_id, **extra
    )
    assert status == 200, body
    return str(body["room"]["name"])


async def _raw(server: BackendServer, data: bytes) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {server.host_credential}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/api/livekit", data=data, headers=headers) as response,
    ):
        return response.status, await response.json()


# --- destinations -------------------------------------------------------------------------------


@SQLITE_ONLY
@pytest.mark.parametrize(
    "url",
    [
        "rtmp://127.0.0.1:{closed}/x/y",
        "rtmp://127.0.0.1:{open}/x/y",
        "rtmp://[::1]:1/x",
        "rtmp://localhost/live/key",
        "rtmp://10.1.2.3/live/key",
        "rtmp://192.168.0.10:1935/live/key",
        "rtmp://169.254.169.254/live/key",
        "rtmp://224.0.0.1/live/key",
        "rtmp://[fe80::1]/live/key",
        "rtmp://0.0.0.0/live/key",
        "rtmp://[::ffff:127.0.0.1]/live/key",
        "rtmps://100.64.0.1/live/key",
    ],
)
async def test_non_public_destinations_are_refused_in_the_same_words(
    backend_server: BackendServer, url: str
) -> None:
    room = await _room(backend_server)
    url = url.format(closed=free_port(), open=backend_server.port)
    status, body = await backend_server.call("start_rtmp", roomName=room, destinations=[url])
    assert status == 400 and body["error"] == "destination_refused", body
    # The words depend on the URL's host only: nothing tells open from closed ports.
    assert body["details"].startswith("destinations[0]: its host is not a public address")
    status, _ = await backend_server.call(
        "create_room", appointmentId=backend_server.appointment_id, rtmpDestinations=[url]
    )
    assert status == 400


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://example.com/live/x", "'destinations[0]'"),
        ("rtmp://example.com/" + "k" * 20_000, "'destinations[0]'"),
        ("rtmp://user:pw@example.com/live/x", "'destinations[0]'"),
        ("rtmp://example.com", "'destinations[0]'"),
        ("rtmp://no-such-host.invalid/live/x", "could not be resolved"),
    ],
)
async def test_malformed_destinations_are_refused(
    backend_server: BackendServer, url: str, words: str
) -> None:
    room = await _room(backend_server)
    status, body = await backend_server.call("start_rtmp", roomName=room, destinations=[url])
    assert status == 400 and words in body["details"], body


async def test_failed_destinations_say_the_same_whatever_the_port(
    backend_server: BackendServer, rtmp_server: RtmpServer
) -> None:
    """A refused connection and an open port that speaks HTTP read the same to the caller."""
    closed = free_port()
    assert backend_server.service is not None
    backend_server.service.allowed_hosts |= {
        f"127.0.0.1:{closed}",
        f"127.0.0.1:{backend_server.port}",
    }
    room = await _room(backend_server)
    destinations = [
        {"name": "good", "url": rtmp_server.url("live", "fine")},
        {"name": "closed", "url": f"rtmp://127.0.0.1:{closed}/live/secret%2Fpart-k1"},
        {"name": "http", "url": f"rtmp://127.0.0.1:{backend_server.port}/live/se+cr=et/k2"},
    ]
    status, body = await backend_server.call("start_rtmp", roomName=room, destinations=destinations)
    assert status == 200, body
    errors: dict[str, str] = {}
    for _ in range(150):
        status, body = await backend_server.call("get_broadcast_status", roomName=room)
        states = {d["name"]: d for d in body["destinations"]}
        if all(states[n]["status"] == "failed" for n in ("closed", "http")):
            errors = {n: states[n]["error"] for n in ("closed", "http")}
            break
        await asyncio.sleep(0.2)
    assert errors, body
    assert errors["closed"] == errors["http"] and errors["closed"]
    # No key, whole, partial or encoded, reaches the caller: the egress's own words never do.
    shown = json.dumps(body)
    for fragment in ("secret", "part-k1", "%2F", "se+cr", "cr=et", "k2"):
        assert fragment not in shown, fragment
    await backend_server.call("stop_rtmp", roomName=room)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 30_000,
        b'{"a":' * 5_000,
        b'{"action": "get_room_status", "roomName": ' + b"[" * 20 + b"]" * 20 + b"}",
    ],
)
async def test_deep_bodies_are_400(backend_server: BackendServer, data: bytes) -> None:
    status, body = await _raw(backend_server, data)
    assert status == 400 and body["error"] in ("too_deep", "invalid_json"), body


@pytest.mark.parametrize(
    "fields",
    [
        {"action": "update_rtmp", "roomName": "r", "remove": [{"a": 1}]},
        {"action": "update_rtmp", "roomName": "r", "remove": [["x"]]},
        {"action": "join_room", "roomName": "r", "userId": "guest\n"},
        {"action": "join_room", "roomName": "r\n", "userId": "guest"},
        {"action": "get_room_status", "roomName": "r", "extra": 1},
        {"action": "create_room", "appointmentId": "a", "maxParticipants": True},
        {"action": "create_room", "appointmentId": "a", "emptyTimeout": 1e9},
        {"action": "start_recording", "roomName": "r", "quality": "ultra"},
        {"action": "mute_participant", "roomName": "r", "identity": "x", "source": ["mic"]},
    ],
)
async def test_invalid_fields_are_400_and_named(
    backend_server: BackendServer, fields: dict[str, Any]
) -> None:
    status, body = await _raw(backend_server, json.dumps(fields).encode())
    assert status == 400 and body["error"] in ("invalid_field", "missing_field"), body


async def test_a_refused_create_room_leaves_nothing_behind(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress
) -> None:
    lkapi = real_livekit.livekit.api()
    try:
        before = {r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms}
        for extra in (
            {"rtmpDestinations": ["rtmp://127.0.0.1:1/x/y"]},
            {"rtmpDestinations": [{"platform": "youtube"}]},
            {"metadata": "not json"},
            {"metadata": '["a list"]'},
        ):
            status, body = await backend_server.call(
                "create_room", appointmentId=backend_server.appointment_id, **extra
            )
            assert status == 400, body
        after = {r.name for r in (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms}
    finally:
        await lkapi.aclose()
    assert after == before
    rows = backend_server.query(
        "SELECT COUNT(*) FROM live_streams WHERE appointment_id = ?",
        (backend_server.appointment_id,),
    )
    assert rows == [(0,)]


async def test_create_room_honours_timeout_limit_and_metadata(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress
) -> None:
    custom = {"eventTitle": "Launch", "appointmentId": "spoofed"}
    room = await _room(
        backend_server, emptyTimeout=120, maxParticipants=7, metadata=json.dumps(custom)
    )
    lkapi = real_livekit.livekit.api()
    try:
        listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))
    finally:
        await lkapi.aclose()
    info = listed.rooms[0]
    assert info.empty_timeout == 120 and info.max_participants == 7
    metadata = json.loads(info.metadata)
    assert metadata["eventTitle"] == "Launch"
    assert metadata["appointmentId"] == backend_server.appointment_id  # the platform's keys win


# --- secrets and tokens ---------------------------------------------------------------------------


def _database_bytes(server: BackendServer) -> bytes:
    if server.config.database_url:  # PostgreSQL: every stored value, as text
        tables = ("appointments", "live_streams", "credentials", "webhook_events")
        rows = [r for t in tables for r in server.query(f"SELECT t::text FROM {t} t")]
        return "\n".join(str(r[0]) for r in rows).encode()
    path = server.config.database_path
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*") if p.is_file())


async def test_stream_keys_are_never_in_the_database_in_clear(
    backend_server: BackendServer, rtmp_server: RtmpServer
) -> None:
    room = await _room(backend_server)
    key = "sk-live-0123456789-secret"
    dead = free_port()
    assert backend_server.service is not None
    backend_server.service.allowed_hosts |= {f"127.0.0.1:{dead}"}
    status, body = await backend_server.call(
        "start_rtmp",
        roomName=room,
        destinations=[
            {"platform": "youtube", "streamKey": key},
            f"rtmp://127.0.0.1:{dead}/live/{key}-dead",
        ],
    )
    assert status == 200, body
    assert key.encode() not in _database_bytes(backend_server)
    # The service restarts mid-stream: the sealed keys still let it stop the destination.
    await backend_server.stop()
    await backend_server.start()
    status, body = await backend_server.call("update_rtmp", roomName=room, remove=["youtube"])
    assert status == 200 and body["destinations"] == ["custom-2"], body
    status, body = await backend_server.call("stop_rtmp", roomName=room)
    assert status == 200
    assert key.encode() not in _database_bytes(backend_server)
    assert backend_server.store is not None
    stream = backend_server.store.get_stream(room)
    assert stream is not None and stream.destinations == {}  # not kept past the egress


async def test_tokens_are_short_lived_scoped_and_never_for_ended_streams(
    backend_server: BackendServer,
) -> None:
    status, created = await backend_server.call(
        "create_room", appointmentId=backend_server.appointment_id
    )
    assert status == 200
    room = created["room"]["name"]
    host_claims = jwt.decode(created["room"]["token"], options={"verify_signature": False})
    assert host_claims["exp"] - host_claims["nbf"] <= 600
    status, joined = await backend_server.call(
        "join_room", backend_server.viewer_credential, roomName=room, userId="viewer-1"
    )
    assert status == 200, joined
    claims = jwt.decode(joined["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["nbf"] <= 600

    # host-2's appointment: the viewer of host-1's appointment cannot see its room.
    assert backend_server.store is not None
    backend_server.store.add_appointment(Appointment("appt-other", "host-2"))
    status, other = await backend_server.call(
        "create_room", backend_server.other_host_credential, appointmentId="appt-other"
    )
    assert status == 200, other
    status, body = await backend_server.call(
        "join_room",
        backend_server.viewer_credential,
        roomName=other["room"]["name"],
        userId="viewer-1",
    )
    assert status == 404, body

    status, _ = await backend_server.call("end_stream", roomName=room)
    assert status == 200
    for credential in (backend_server.viewer_credential, backend_server.host_credential):
        status, body = await backend_server.call(
            "join_room", credential, roomName=room, userId="viewer-1"
        )
        assert status == 404, body
    status, body = await backend_server.call("start_recording", roomName=room)
    assert status == 409 and body["error"] == "stream_ended"
