"""RoomService over Twirp (the real livekit-api client) and webhooks the real receiver accepts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from aiohttp import web
from livekit import api, rtc

from tests.double.helpers import Feeder, join, wait_for
from tests.fixtures.livekit_double import LiveKitDouble
from tests.fixtures.rtmp import free_port


def on_disconnected(reason: int, reasons: list[int], event: asyncio.Event) -> None:
    """Record why the SDK says it was disconnected."""
    reasons.append(reason)
    event.set()


async def _publish_mic(room: rtc.Room, feeder: Feeder) -> rtc.LocalTrackPublication:
    source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
    feeder.audio(source)
    return await room.local_participant.publish_track(
        rtc.LocalAudioTrack.create_audio_track("mic", source),
        rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
    )


async def test_create_list_and_delete_rooms(
    livekit_double: LiveKitDouble, unique_room: str
) -> None:
    lkapi = livekit_double.api()
    guest = None
    try:
        created = await lkapi.room.create_room(
            api.CreateRoomRequest(
                name=unique_room,
                empty_timeout=1800,
                max_participants=7,
                metadata='{"appointmentId": "42"}',
            )  # fmt: skip
        )
        assert created.name == unique_room and created.sid.startswith("RM_")
        assert created.max_participants == 7 and created.empty_timeout == 1800
        listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=[unique_room]))
        assert [r.metadata for r in listed.rooms] == ['{"appointmentId": "42"}']
        guest = await join(livekit_double, "guest", unique_room)
        disconnected = asyncio.Event()
        reasons: list[int] = []
        guest.on("disconnected", lambda reason: on_disconnected(reason, reasons, disconnected))
        await lkapi.room.delete_room(api.DeleteRoomRequest(room=unique_room))
        await asyncio.wait_for(disconnected.wait(), 10)
        assert reasons == [rtc.DisconnectReason.ROOM_DELETED]
        listed = await lkapi.room.list_rooms(api.ListRoomsRequest(names=[unique_room]))
        assert not listed.rooms
    finally:
        if guest is not None:
            await guest.disconnect()
        await lkapi.aclose()


async def test_participants_mute_and_remove(
    livekit_double: LiveKitDouble, unique_room: str
) -> None:
    lkapi = livekit_double.api()
    guest = await join(livekit_double, "guest", unique_room)
    feeder = Feeder()
    try:
        publication = await _publish_mic(guest, feeder)
        listing = await lkapi.room.list_participants(api.ListParticipantsRequest(room=unique_room))
        assert [p.identity for p in listing.participants] == ["guest"]
        await wait_for_track(lkapi, unique_room, "guest")
        info = await lkapi.room.get_participant(
            api.RoomParticipantIdentity(room=unique_room, identity="guest")
        )
        assert [t.sid for t in info.tracks] == [publication.sid]
        muted = asyncio.Event()
        guest.on("track_muted", lambda participant, pub: muted.set())
        await lkapi.room.mute_published_track(
            api.MuteRoomTrackRequest(
                room=unique_room, identity="guest", track_sid=publication.sid, muted=True
            )  # fmt: skip
        )
        await asyncio.wait_for(muted.wait(), 10)
        assert publication.muted
        with pytest.raises(api.TwirpError) as refused:
            await lkapi.room.mute_published_track(
                api.MuteRoomTrackRequest(
                    room=unique_room, identity="guest", track_sid=publication.sid, muted=False
                )  # fmt: skip
            )
        assert refused.value.status == 403
        gone = asyncio.Event()
        reasons: list[int] = []
        guest.on("disconnected", lambda reason: on_disconnected(reason, reasons, gone))
        await lkapi.room.remove_participant(
            api.RoomParticipantIdentity(room=unique_room, identity="guest")
        )
        await asyncio.wait_for(gone.wait(), 10)
        assert reasons == [rtc.DisconnectReason.PARTICIPANT_REMOVED]
        with pytest.raises(api.TwirpError) as missing:
            await lkapi.room.get_participant(
                api.RoomParticipantIdentity(room=unique_room, identity="guest")
            )
        assert missing.value.status == 404
    finally:
        await feeder.aclose()
        await guest.disconnect()
        await lkapi.aclose()


async def wait_for_track(lkapi: api.LiveKitAPI, room: str, identity: str) -> None:
    """Wait until the server lists a published track of ``identity``."""
    for _ in range(100):
        info = await lkapi.room.get_participant(
            api.RoomParticipantIdentity(room=room, identity=identity)
        )
        if info.tracks:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the track never appeared on the server")


async def test_revoking_publish_permission_unpublishes(
    livekit_double: LiveKitDouble, unique_room: str
) -> None:
    lkapi = livekit_double.api()
    host = await join(livekit_double, "host", unique_room)
    guest = await join(livekit_double, "guest", unique_room)
    feeder = Feeder()
    gone: list[str] = []
    host.on("track_unpublished", lambda pub, participant: gone.append(participant.identity))
    try:
        await _publish_mic(guest, feeder)
        await wait_for_track(lkapi, unique_room, "guest")
        updated = await lkapi.room.update_participant(
            api.UpdateParticipantRequest(
                room=unique_room, identity="guest",
                permission=api.ParticipantPermission(can_subscribe=True, can_publish=False,
                                                     can_publish_data=True),
            )
        )  # fmt: skip
        assert not updated.permission.can_publish
        await wait_for(lambda: gone == ["guest"])
        await wait_for(lambda: guest.local_participant.permissions.can_publish is False)
    finally:
        await feeder.aclose()
        await host.disconnect()
        await guest.disconnect()
        await lkapi.aclose()


async def test_send_data_reaches_participants(livekit_double: LiveKitDouble, unique_room: str
                                              ) -> None:  # fmt: skip
    lkapi = livekit_double.api()
    guest = await join(livekit_double, "guest", unique_room)
    received: list[tuple[str, bytes]] = []
    guest.on("data_received", lambda packet: received.append((packet.topic or "", packet.data)))
    try:
        await asyncio.sleep(0.5)
        await lkapi.room.send_data(
            api.SendDataRequest(
                room=unique_room,
                data=b"ask-to-unmute",
                kind=api.DataPacket.Kind.RELIABLE,
                topic="moderation",
            )  # fmt: skip
        )
        await wait_for(lambda: bool(received))
        assert received == [("moderation", b"ask-to-unmute")]
    finally:
        await guest.disconnect()
        await lkapi.aclose()


async def test_server_apis_check_grants(livekit_double: LiveKitDouble, unique_room: str) -> None:
    weak = api.LiveKitAPI(livekit_double.http_url, livekit_double.api_key, "wrong-secret" * 3)
    try:
        with pytest.raises(api.TwirpError) as info:
            await weak.room.list_rooms(api.ListRoomsRequest())
        assert info.value.status == 401
    finally:
        await weak.aclose()
    import aiohttp

    token = livekit_double.token("viewer", unique_room)  # roomJoin only, no roomAdmin
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{livekit_double.http_url}/twirp/livekit.RoomService/ListParticipants",
            json={"room": unique_room},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        assert response.status == 403
        assert (await response.json())["code"] == "permission_denied"
    other_room_admin = livekit_double.token("mod", "another-room", room_admin=True)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{livekit_double.http_url}/twirp/livekit.RoomService/ListParticipants",
            json={"room": unique_room},
            headers={"Authorization": f"Bearer {other_room_admin}"},
        ) as response,
    ):
        assert response.status == 403  # an admin of one room is not an admin of another


async def test_webhooks_are_signed_so_the_receiver_accepts_them(
    livekit_double_factory: Callable[..., LiveKitDouble], unique_room: str
) -> None:
    events: list[api.WebhookEvent] = []
    port = free_port()

    async def receive(request: web.Request) -> web.Response:
        double = doubles[0]
        receiver = api.WebhookReceiver(api.TokenVerifier(double.api_key, double.api_secret))
        events.append(receiver.receive(await request.text(), request.headers["Authorization"]))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    doubles = [livekit_double_factory(webhook_url=f"http://127.0.0.1:{port}/hook")]
    feeder = Feeder()
    try:
        guest = await join(doubles[0], "guest", unique_room)
        await _publish_mic(guest, feeder)
        await wait_for(lambda: "track_published" in [e.event for e in events])
        await guest.disconnect()
        await wait_for(lambda: "participant_left" in [e.event for e in events])
        names = [e.event for e in events]
        assert names[:2] == ["room_started", "participant_joined"]
        assert all(e.room.name == unique_room for e in events)
        joined = next(e for e in events if e.event == "participant_joined")
        assert joined.participant.identity == "guest"
    finally:
        await feeder.aclose()
        await runner.cleanup()
