"""The real livekit-server fixture: media flows, and no ICE traffic can leave loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import rtc

from tests.fixtures.livekit import CandidateSide, LiveKitServer
from tests.participants import Feeder, join, read_video_stamps, wait_for


async def test_media_flows_and_every_candidate_is_loopback(
    livekit_server_factory: Callable[..., LiveKitServer], unique_room: str
) -> None:
    server = livekit_server_factory()
    if server.is_remote:
        pytest.skip("a remote LiveKit's log is not readable here")
    host = await join(server, "host", unique_room)
    viewer = await join(server, "viewer", unique_room)
    feeder = Feeder()
    tracks: list[rtc.Track] = []
    viewer.on("track_subscribed", lambda track, *_: tracks.append(track))
    try:
        source = rtc.VideoSource(640, 360)
        feeder.video(source, 640, 360)
        await host.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=True),
        )
        await wait_for(lambda: bool(tracks), timeout_s=20)
        stamps = await read_video_stamps(tracks[0], 5)
        assert stamps == sorted(stamps) and stamps[-1] > stamps[0]
    finally:
        await feeder.aclose()
        await viewer.disconnect()
        await host.disconnect()
    offered = [c for c in server.ice_candidates() if c.side is CandidateSide.SERVER]
    assert offered, "the server's log shows no candidates: the check would be blind"
    assert {c.address for c in offered} == {"127.0.0.1"}
    assert server.ice_server_hosts() == {"127.0.0.1"}, "clients were given a foreign STUN"
    assert server.stray_addresses() == []


def test_the_check_names_a_candidate_that_would_leave_loopback(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    lines = [
        {
            "msg": "sending ICE candidate",
            "trickle": {
                "candidateInit": json.dumps(
                    {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 7882 typ host"}
                )
            },
        },
        {
            "msg": "added ICE candidate",
            "candidate": {
                "candidate": "candidate:2 1 udp 1686052607 203.0.113.9 40000 typ srflx "
                "raddr 0.0.0.0 rport 0"
            },
        },
        {
            "msg": "added ICE candidate",
            "candidate": {"candidate": "candidate:3 1 udp 2122260223 10.77.0.1 5000 typ host"},
        },
        {
            "msg": "added ICE candidate",
            "candidate": {"candidate": "candidate:4 1 udp 2122260223 8.8.4.4 5001 typ host"},
        },
        {
            "msg": "sending ICE candidate",
            "trickle": {
                "candidateInit": json.dumps(
                    {"candidate": "candidate:5 1 udp 2130706431 10.77.0.2 7882 typ host"}
                )
            },
        },
        {"msg": "sending signal response", "iceServers": [{"urls": ["stun:stun.l.google.com"]}]},
    ]
    log.write_text("\n".join(json.dumps(line) for line in lines))
    server = LiveKitServer("ws://127.0.0.1:1", "k", "s", log_path=log)
    strays = server.stray_addresses()
    # A client's own private address passes; a public one, a reflexive one, a server
    # candidate off loopback and a public STUN server do not.
    assert len(strays) == 4, strays
    assert "203.0.113.9" in strays[0] and "8.8.4.4" in strays[1]
    assert "server offered" in strays[2] and "10.77.0.2" in strays[2]
    assert "stun.l.google.com" in strays[3]
    # The address of a namespace the test made is allowed for the server too.
    assert len(server.stray_addresses(allowed=["10.77.0.2"])) == 3
    clean = LiveKitServer("ws://127.0.0.1:1", "k", "s", log_path=tmp_path / "missing.log")
    assert clean.stray_addresses() == []


async def test_data_packets_both_ways_and_from_the_room_service(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    from livekit import api

    host = await join(livekit_server, "host", unique_room)
    guest = await join(livekit_server, "guest", unique_room)
    got: dict[str, list[tuple[str, bytes, str]]] = {"host": [], "guest": []}
    for name, room in (("host", host), ("guest", guest)):
        room.on(
            "data_received",
            lambda packet, name=name: got[name].append(
                (
                    packet.participant.identity if packet.participant else "",
                    packet.data,
                    packet.topic or "",
                )
            ),
        )
    lkapi = livekit_server.api()
    try:
        await wait_for(lambda: "guest" in host.remote_participants)
        await wait_for(lambda: "host" in guest.remote_participants)
        await host.local_participant.publish_data(b"cue:intro", reliable=True, topic="cues")
        await guest.local_participant.publish_data(b"ready", reliable=True, topic="cues")
        await wait_for(lambda: ("host", b"cue:intro", "cues") in got["guest"])
        await wait_for(lambda: ("guest", b"ready", "cues") in got["host"])
        # The server itself can speak to one participant (no sender identity).
        await lkapi.room.send_data(
            api.SendDataRequest(
                room=unique_room,
                data=b"only-guest",
                kind=api.DataPacket.Kind.RELIABLE,
                destination_identities=["guest"],
                topic="server",
            )
        )
        await wait_for(lambda: any(data == b"only-guest" for _, data, _ in got["guest"]))
        await asyncio.sleep(1.0)
        assert all(data != b"only-guest" for _, data, _ in got["host"])
    finally:
        await lkapi.aclose()
        await guest.disconnect()
        await host.disconnect()


async def test_webhooks_are_signed_with_the_test_key_so_a_receiver_accepts_them(
    livekit_server_factory: Callable[..., LiveKitServer], unique_room: str
) -> None:
    from aiohttp import web
    from livekit import api

    from tests.fixtures.rtmp import free_port

    events: list[api.WebhookEvent] = []
    port = free_port()

    async def receive(request: web.Request) -> web.Response:
        receiver = api.WebhookReceiver(api.TokenVerifier(server.api_key, server.api_secret))
        events.append(receiver.receive(await request.text(), request.headers["Authorization"]))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = livekit_server_factory(webhook_urls=[f"http://127.0.0.1:{port}/hook"])
    feeder = Feeder()
    try:
        guest = await join(server, "guest", unique_room)
        source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.audio(source)
        await guest.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("mic", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        await wait_for(lambda: "track_published" in [e.event for e in events], timeout_s=20)
        await guest.disconnect()
        await wait_for(lambda: "participant_left" in [e.event for e in events], timeout_s=20)
        names = [e.event for e in events]
        assert {"room_started", "participant_joined"} <= set(names)
        assert all(e.room.name == unique_room for e in events)
        joined = next(e for e in events if e.event == "participant_joined")
        assert joined.participant.identity == "guest"
    finally:
        await feeder.aclose()
        await runner.cleanup()


async def test_server_apis_check_grants(livekit_server: LiveKitServer, unique_room: str) -> None:
    import aiohttp
    from livekit import api

    wrong = api.LiveKitAPI(livekit_server.http_url, livekit_server.api_key, "wrong-secret" * 3)
    try:
        with pytest.raises(api.TwirpError) as info:
            await wrong.room.list_rooms(api.ListRoomsRequest())
        assert info.value.status == 401
    finally:
        await wrong.aclose()
    url = f"{livekit_server.http_url}/twirp/livekit.RoomService/ListParticipants"
    viewer = livekit_server.token("viewer", unique_room)  # roomJoin only, no roomAdmin
    other_room_admin = livekit_server.token("mod", "another-room", room_admin=True)
    for token in (viewer, other_room_admin):
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url, json={"room": unique_room}, headers={"Authorization": f"Bearer {token}"}
            ) as response,
        ):
            assert response.status in (401, 403)  # not an admin of this room


async def test_an_h264_camera_reaches_a_viewer(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    host = await join(livekit_server, "host", unique_room)
    viewer = await join(livekit_server, "viewer", unique_room)
    tracks: list[rtc.Track] = []
    viewer.on("track_subscribed", lambda track, *_: tracks.append(track))
    feeder = Feeder()
    try:
        camera = rtc.VideoSource(320, 180)
        feeder.video(camera, 320, 180)
        publication = await host.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", camera),
            rtc.TrackPublishOptions(
                source=rtc.TrackSource.SOURCE_CAMERA, video_codec=rtc.VideoCodec.H264
            ),
        )
        await wait_for(lambda: bool(tracks), timeout_s=20)
        stamps = await read_video_stamps(tracks[0], 5)
        assert stamps == sorted(stamps) and len(set(stamps)) == 5
        assert publication.mime_type.lower() in ("", "video/h264")
    finally:
        await feeder.aclose()
        await host.disconnect()
        await viewer.disconnect()
