"""The defects an outside probe found, each held down by a test (issue 28).

Orphan egresses after a timeout, IPv6 forms embedding IPv4 addresses, header values in the log,
a crashed live stream, ``isRecording`` with RTMP only, whole numbers written ``679.0``, display
names with bidirectional or surrogate characters, the depth words of ``metadata``, a signed
webhook that is not JSON, and join times from before the stream.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import ipaddress
import logging
import os
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from livekit import api

from backend.destinations import check_destination, is_public
from backend.status import LIVE_FAILED_WORDS
from spaces_contract.codec import ApiError
from tests.backend.scripted_webhooks import MINUTE_MS, T0_MS
from tests.backend.scripted_webhooks import presence_service as _service
from tests.backend.scripted_webhooks import presence_stream as _stream
from tests.backend.scripted_webhooks import scripted_event as _event
from tests.fixtures.backend import SQLITE_ONLY, BackendServer, backend_config, seed
from tests.fixtures.egress import LiveKitWithEgress
from tests.fixtures.rtmp import RtmpServer, free_port

WAIT_S = 90.0
"""Bound on waits for the egress service to catch up (generous: a loaded machine)."""


async def _room(server: BackendServer) -> str:
    status, body = await server.call("create_room", appointmentId=server.appointment_id)
    assert status == 200, body
    return str(body["room"]["name"])


async def _active_egresses(pair: LiveKitWithEgress, room: str) -> list[api.EgressInfo]:
    lkapi = pair.egress.api()
    try:
        listed = await lkapi.egress.list_egress(api.ListEgressRequest(room_name=room, active=True))
    finally:
        await lkapi.aclose()
    return list(listed.items)


async def _until(check: Any, what: str) -> Any:
    """Poll an async check until it returns something true (bounded by WAIT_S)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    last: Any = None
    while loop.time() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {WAIT_S:g} s (last: {last!r})")


# --- 1. orphan egresses -------------------------------------------------------------------------


async def test_egresses_started_after_a_timeout_are_adopted_or_stopped(
    real_livekit: LiveKitWithEgress, rtmp_server: RtmpServer, tmp_path: Path
) -> None:
    """Freeze the Egress API, start recording and RTMP (each a 504), thaw it: the recording is
    adopted (status says recording, a retry answers the same egress), the unknown RTMP egress
    is stopped (a retried start_rtmp then gets the destination)."""
    config = backend_config(real_livekit, rtmp_server, tmp_path, livekit_timeout_s=2.0)
    appointment_id, host, viewer, other = seed(config)
    port = free_port()
    server = BackendServer(
        config, f"http://127.0.0.1:{port}", appointment_id, host, viewer, other, port=port
    )
    await server.start()
    egress_pid = real_livekit.egress.process.pid
    try:
        room = await _room(server)
        destination = rtmp_server.url("live", "orphan-key")
        os.kill(egress_pid, signal.SIGSTOP)
        try:
            status, body = await server.call("start_recording", roomName=room)
            assert status == 504 and "get_broadcast_status" in body["details"], body
            status, body = await server.call(
                "start_rtmp", roomName=room, destinations=[destination]
            )
            assert status == 504, body
        finally:
            os.kill(egress_pid, signal.SIGCONT)

        async def adopted() -> Any:
            code, answer = await server.call("get_broadcast_status", roomName=room)
            active = await _active_egresses(real_livekit, room)
            ok = code == 200 and answer["recording"].get("active") and len(active) == 1
            return (answer, active) if ok else None

        answer, active = await _until(adopted, "adopting the recording, stopping the RTMP")
        assert answer["recording"]["egressId"] == active[0].egress_id
        assert answer["live"] is False
        status, retry = await server.call("start_recording", roomName=room)
        assert status == 200 and retry["recording"]["egressId"] == active[0].egress_id
        status, body = await server.call("start_rtmp", roomName=room, destinations=[destination])
        assert status == 200, body
        assert len(await _active_egresses(real_livekit, room)) == 2
    finally:
        os.kill(egress_pid, signal.SIGCONT)
        await server.stop()


async def test_an_instance_starting_stops_egresses_its_records_do_not_know(
    real_livekit: LiveKitWithEgress, rtmp_server: RtmpServer, tmp_path: Path
) -> None:
    """An instance that stopped before the Egress API came back leaves an orphan; the next
    instance to start finds it (start-up reconciliation) and stops it."""
    config = backend_config(real_livekit, rtmp_server, tmp_path, livekit_timeout_s=2.0)
    appointment_id, host, viewer, other = seed(config)
    port = free_port()
    server = BackendServer(
        config, f"http://127.0.0.1:{port}", appointment_id, host, viewer, other, port=port
    )
    await server.start()
    egress_pid = real_livekit.egress.process.pid
    try:
        room = await _room(server)
        os.kill(egress_pid, signal.SIGSTOP)
        try:
            status, body = await server.call(
                "start_rtmp", roomName=room, destinations=[rtmp_server.url("live", "boot-key")]
            )
            assert status == 504, body
            await server.stop()  # its own reconciliation is cancelled with it
        finally:
            os.kill(egress_pid, signal.SIGCONT)

        async def orphan() -> list[api.EgressInfo]:
            return await _active_egresses(real_livekit, room)

        await _until(orphan, "the timed-out start reaching the egress service")
        await server.start()

        async def gone() -> bool:
            return not await _active_egresses(real_livekit, room)

        await _until(gone, "the restarted instance stopping the orphan")
    finally:
        os.kill(egress_pid, signal.SIGCONT)
        await server.stop()


# --- 2. IPv6 forms that embed IPv4 --------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[64:ff9b:1::a00:1]",  # local-use NAT64
        "[::127.0.0.1]",  # IPv4-compatible
        "[::a9fe:a9fe]",
        "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254
        "[2002:7f00:1::1]",
        "[::ffff:0:a9fe:a9fe]",  # SIIT
        "[::ffff:a9fe:a9fe]",  # IPv4-mapped
        "[fec0::1]",  # site-local
    ],
)
async def test_ipv6_forms_are_judged_by_their_embedded_ipv4(host: str) -> None:
    with pytest.raises(ApiError) as refused:
        await check_destination(f"rtmp://{host}/live/key", "destinations[0]", frozenset())
    assert refused.value.error == "destination_refused"
    assert "not a public address" in refused.value.details


def test_public_addresses_behind_ipv6_forms_stay_allowed() -> None:
    for text in ("64:ff9b::808:808", "2002:808:808::1", "2606:4700:4700::1111", "8.8.8.8"):
        assert is_public(ipaddress.ip_address(text)), text


# --- 3. no header value in the log --------------------------------------------------------------


async def _raw_request(port: int, head: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()


@SQLITE_ONLY
async def test_no_header_value_reaches_the_log(
    backend_server: BackendServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sb_TopSecretCredential42"
    bad = [
        f"Authorization: Bearer {secret}\x01tail".encode(),  # a control byte
        f"Authorization: Bearer {secret}{'A' * 9000}".encode(),  # over 8 KB
    ]
    for header in bad:
        answer = await _raw_request(
            backend_server.port,
            b"POST /api/livekit HTTP/1.1\r\nHost: x\r\n"
            + header
            + b"\r\nContent-Length: 2\r\n\r\n{}",
        )
        assert answer.split(b" ")[1] == b"400", answer[:100]
    # A well-formed request: its User-Agent and Referer are not logged either.
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{backend_server.url}/api/livekit",
            json={"action": "nope"},
            headers={
                "Authorization": f"Bearer {secret}",
                "User-Agent": f"agent-{secret}",
                "Referer": f"http://x/{secret}",
            },
        ) as response,
    ):
        assert response.status == 401
    assert any(r.name == "aiohttp.access" for r in caplog.records)  # the access log ran
    assert secret not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith("aiohttp") and r.exc_info]


# --- 4. a crashed live stream -------------------------------------------------------------------


async def test_a_crashed_live_stream_says_failed_with_words(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress, rtmp_server: RtmpServer
) -> None:
    room = await _room(backend_server)
    status, body = await backend_server.call(
        "start_rtmp", roomName=room, destinations=[rtmp_server.url("live", "crash-key")]
    )
    assert status == 200, body
    # 5. LiveKit's active_recording is true for any egress; isRecording is not.
    status, room_status = await backend_server.call("get_room_status", roomName=room)
    assert status == 200 and room_status["room"]["isRecording"] is False, room_status
    await real_livekit.egress.fail_egress(body["egressId"], "encoder crashed")

    async def failed() -> Any:
        _, answer = await backend_server.call("get_broadcast_status", roomName=room)
        done = answer["destinations"] and answer["destinations"][0]["status"] != "starting"
        return answer if done and not answer["live"] else None

    answer = await _until(failed, "the crash showing in the status")
    assert answer["destinations"] == [
        {"name": "custom-1", "status": "failed", "error": LIVE_FAILED_WORDS}
    ]


async def test_is_recording_is_false_when_only_rtmp_runs(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress, rtmp_server: RtmpServer
) -> None:
    room = await _room(backend_server)
    status, body = await backend_server.call(
        "start_rtmp", roomName=room, destinations=[rtmp_server.url("live", "only-rtmp")]
    )
    assert status == 200, body
    lkapi = real_livekit.livekit.api()
    try:

        async def recorder_in() -> bool:
            listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=[room]))
            return bool(listed.rooms and listed.rooms[0].active_recording)

        # LiveKit itself calls the room recorded once the live stream's recorder is in.
        await _until(recorder_in, "LiveKit marking the room as recorded")
    finally:
        await lkapi.aclose()
    status, answer = await backend_server.call("get_room_status", roomName=room)
    assert status == 200 and answer["room"]["isRecording"] is False, answer


# --- 6 and 7. the smaller ones ------------------------------------------------------------------


@SQLITE_ONLY
async def test_whole_numbers_may_be_written_with_a_point(backend_server: BackendServer) -> None:
    status, body = await backend_server.call(
        "create_room", appointmentId=backend_server.appointment_id, maxParticipants=679.0
    )
    assert status == 200 and body["room"]["maxParticipants"] == 679, body
    status, body = await backend_server.call(
        "create_room", appointmentId=backend_server.appointment_id, maxParticipants=679.5
    )
    assert status == 400 and "whole number" in body["details"], body


async def _post_raw(server: BackendServer, data: bytes) -> tuple[int, dict[str, Any]]:
    headers = {
        "Authorization": f"Bearer {server.host_credential}",
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/api/livekit", data=data, headers=headers) as response,
    ):
        return response.status, await response.json()


@SQLITE_ONLY
@pytest.mark.parametrize("name", ["Evil\\u202eroF", "half \\ud800 pair", "zero\\u200bwidth"])
async def test_display_names_refuse_bidi_and_surrogates(
    backend_server: BackendServer, name: str
) -> None:
    room = await _room(backend_server)
    body = f'{{"action": "join_room", "roomName": "{room}", "userId": "g1", "userName": "{name}"}}'
    status, answer = await _post_raw(backend_server, body.encode())
    assert status == 400 and "'userName'" in answer["details"], answer
    fine = body.replace(name, "Zoë 🎥 Ünal")
    status, answer = await _post_raw(backend_server, fine.encode())
    assert status == 200, answer


@SQLITE_ONLY
async def test_too_deep_metadata_is_named(backend_server: BackendServer) -> None:
    status, body = await backend_server.call(
        "create_room", appointmentId=backend_server.appointment_id, metadata="[" * 9 + "]" * 9
    )
    assert status == 400 and body["error"] == "too_deep", body
    assert body["details"].startswith("'metadata' nests deeper"), body


@SQLITE_ONLY
async def test_a_signed_webhook_that_is_not_json_is_told_so(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress
) -> None:
    key, secret = real_livekit.livekit.api_key, real_livekit.livekit.api_secret
    url = f"{backend_server.url}/webhooks/livekit"
    async with aiohttp.ClientSession() as session:
        for raw in (b"this is not json", b"\xff\xfe not utf-8", b'{"event": 5}'):
            digest = base64.b64encode(hashlib.sha256(raw).digest()).decode()
            token = api.AccessToken(key, secret).with_sha256(digest).to_jwt()
            async with session.post(url, data=raw, headers={"Authorization": token}) as response:
                answer = await response.json()
                assert response.status == 400 and answer["error"] == "invalid_json", answer
                assert "signed" in answer["details"] and "not a LiveKit" in answer["details"]
            async with session.post(url, data=raw, headers={"Authorization": "x"}) as response:
                assert response.status == 401


async def test_a_join_from_before_the_stream_is_billed_from_its_start(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    early = _event("participant_joined", T0_MS, "guest-1")
    early.participant.joined_at_ms = T0_MS - 60 * MINUTE_MS  # signed, but before the stream
    await svc.handle_webhook(early)
    await svc.handle_webhook(_event("participant_left", T0_MS + 2 * MINUTE_MS, "guest-1"))
    assert _stream(svc).participant_ms == 2 * MINUTE_MS
