"""The Egress stand-in through the real livekit-api client, recording rooms of the real
livekit-server: MP4 files and RTMP streams that real tools read, per-URL status, webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import api, rtc

from tests.fixtures.egress import CONNECT_TIMEOUT_S, LiveKitWithEgress
from tests.fixtures.livekit import LiveKitServer
from tests.fixtures.rtmp import RtmpServer, ffprobe_duration_s, ffprobe_streams, free_port
from tests.participants import Feeder, publish_camera_and_mic


async def join(livekit: LiveKitServer, identity: str, room_name: str) -> rtc.Room:
    """Connect a real SDK participant to the real server (the room is created on join)."""
    room = rtc.Room()
    await room.connect(
        livekit.ws_url,
        livekit.token(identity, room_name, can_publish=True, can_subscribe=True),
        rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S),
    )
    return room


Check = Callable[[api.EgressInfo], bool]


async def _wait_status(
    lkapi: api.LiveKitAPI, egress_id: str, predicate: Check, timeout_s: float = 20
) -> api.EgressInfo:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        listed = await lkapi.egress.list_egress(api.ListEgressRequest(egress_id=egress_id))
        info = listed.items[0]
        if predicate(info):
            return info
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"egress never reached the expected state: {info}")
        await asyncio.sleep(0.2)


async def test_room_composite_to_mp4_file(
    real_livekit: LiveKitWithEgress, unique_room: str
) -> None:
    lkapi = real_livekit.egress.api()
    host = await join(real_livekit.livekit, "host", unique_room)
    out_dir = real_livekit.egress.output_dir
    feeder = Feeder()
    try:
        await publish_camera_and_mic(host, feeder)
        started = await lkapi.egress.start_room_composite_egress(
            api.RoomCompositeEgressRequest(
                room_name=unique_room, layout="speaker",
                file_outputs=[api.EncodedFileOutput(file_type=api.EncodedFileType.MP4,
                                                    filepath=f"{unique_room}.mp4")],
            )
        )  # fmt: skip
        assert started.egress_id.startswith("EG_")
        await _wait_status(lkapi, started.egress_id,
                           lambda i: i.status == api.EgressStatus.EGRESS_ACTIVE)  # fmt: skip
        await asyncio.sleep(3)
        stopped = await lkapi.egress.stop_egress(api.StopEgressRequest(egress_id=started.egress_id))
        assert stopped.status == api.EgressStatus.EGRESS_COMPLETE
        result = stopped.file_results[0]
        path = out_dir / f"{unique_room}.mp4"
        assert result.size > 10_000 and Path(result.location) == path
        streams = {s["codec_type"]: s for s in ffprobe_streams(path)}
        assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
        assert 2.0 < ffprobe_duration_s(path) < 8.0
        # The recorder joined hidden: the host never saw it.
        assert not host.remote_participants
    finally:
        await feeder.aclose()
        await host.disconnect()
        await lkapi.aclose()


async def test_rtmp_outputs_update_and_failure_isolation(
    real_livekit: LiveKitWithEgress, rtmp_server: RtmpServer, unique_room: str
) -> None:
    lkapi = real_livekit.egress.api()
    host = await join(real_livekit.livekit, "host", unique_room)
    feeder = Feeder()
    youtube = rtmp_server.url("live", "yt-key-123")
    dead = f"rtmp://127.0.0.1:{free_port()}/live/nobody-home"
    twitch = rtmp_server.url("live2", "tw-key-456")
    try:
        await publish_camera_and_mic(host, feeder)
        started = await lkapi.egress.start_room_composite_egress(
            api.RoomCompositeEgressRequest(
                room_name=unique_room, layout="grid",
                stream_outputs=[api.StreamOutput(protocol=api.StreamProtocol.RTMP,
                                                 urls=[youtube, dead])],
            )
        )  # fmt: skip
        # The key never comes back in EgressInfo.
        assert all("yt-key-123" not in s.url for s in started.stream_results)
        info = await _wait_status(
            lkapi, started.egress_id,
            lambda i: any(s.status == api.StreamInfo.Status.FAILED for s in i.stream_results),
        )  # fmt: skip
        failed = [s for s in info.stream_results if s.status == api.StreamInfo.Status.FAILED]
        assert len(failed) == 1 and failed[0].error
        assert info.status == api.EgressStatus.EGRESS_ACTIVE  # the other output keeps going
        await asyncio.to_thread(rtmp_server.wait_for_recording, "live", 20_000)
        await lkapi.egress.update_stream(
            api.UpdateStreamRequest(
                egress_id=started.egress_id, add_output_urls=[twitch], remove_output_urls=[youtube]
            )  # fmt: skip
        )
        await asyncio.to_thread(rtmp_server.wait_for_recording, "live2", 20_000)
        finished = api.StreamInfo.Status.FINISHED
        info = await _wait_status(
            lkapi, started.egress_id,
            lambda i: sum(s.status == finished for s in i.stream_results) == 1,
        )  # fmt: skip
        await lkapi.egress.stop_egress(api.StopEgressRequest(egress_id=started.egress_id))
        for app in ("live", "live2"):
            recording = rtmp_server.recordings(app)[0]
            kinds = {s["codec_type"]: s["codec_name"] for s in ffprobe_streams(recording)}
            assert kinds == {"video": "h264", "audio": "aac"}
        active = await lkapi.egress.list_egress(api.ListEgressRequest(room_name=unique_room,
                                                                       active=True))  # fmt: skip
        assert not active.items
    finally:
        await feeder.aclose()
        await host.disconnect()
        await lkapi.aclose()


async def test_egress_needs_room_record_and_a_room(
    real_livekit: LiveKitWithEgress, unique_room: str
) -> None:
    lkapi = real_livekit.egress.api()
    try:
        with pytest.raises(api.TwirpError) as missing:
            await lkapi.egress.start_room_composite_egress(
                api.RoomCompositeEgressRequest(
                    room_name="no-such-room",
                    stream_outputs=[api.StreamOutput(urls=["rtmp://127.0.0.1/live/x"])],
                )
            )
        assert missing.value.status == 404
    finally:
        await lkapi.aclose()
    import aiohttp

    token = real_livekit.livekit.token("host", unique_room, room_admin=True)  # no roomRecord
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{real_livekit.egress.url}/twirp/livekit.Egress/ListEgress",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        assert response.status == 403


async def test_egress_webhooks_follow_the_status(
    real_livekit_factory: Callable[..., LiveKitWithEgress], unique_room: str
) -> None:
    from aiohttp import web

    events: list[api.WebhookEvent] = []
    port = free_port()
    pairs: list[LiveKitWithEgress] = []

    async def receive(request: web.Request) -> web.Response:
        key, secret = pairs[0].livekit.api_key, pairs[0].livekit.api_secret
        receiver = api.WebhookReceiver(api.TokenVerifier(key, secret))
        events.append(receiver.receive(await request.text(), request.headers["Authorization"]))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    pairs.append(real_livekit_factory(webhook_url=f"http://127.0.0.1:{port}/hook"))
    lkapi = pairs[0].egress.api()
    host = await join(pairs[0].livekit, "host", unique_room)
    feeder = Feeder()
    try:
        await publish_camera_and_mic(host, feeder)
        started = await lkapi.egress.start_room_composite_egress(
            api.RoomCompositeEgressRequest(
                room_name=unique_room, file_outputs=[api.EncodedFileOutput(filepath="x.mp4")]
            )
        )
        await _wait_status(lkapi, started.egress_id,
                           lambda i: i.status == api.EgressStatus.EGRESS_ACTIVE)  # fmt: skip
        await lkapi.egress.stop_egress(api.StopEgressRequest(egress_id=started.egress_id))
        deadline = asyncio.get_running_loop().time() + 10
        while "egress_ended" not in [e.event for e in events]:
            assert asyncio.get_running_loop().time() < deadline, [e.event for e in events]
            await asyncio.sleep(0.1)
        egress_events = [e for e in events if e.event.startswith("egress_")]
        assert egress_events[0].event == "egress_started"
        assert egress_events[-1].egress_info.status == api.EgressStatus.EGRESS_COMPLETE
        assert all(e.egress_info.egress_id == started.egress_id for e in egress_events)
    finally:
        await feeder.aclose()
        await host.disconnect()
        await lkapi.aclose()
        await runner.cleanup()
