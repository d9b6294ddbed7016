"""Egress through the real livekit-api client: MP4 files and RTMP streams that real tools read."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from livekit import api, rtc

from tests.double.helpers import Feeder, join
from tests.fixtures.livekit_double import LiveKitDouble
from tests.fixtures.rtmp import RtmpServer, ffprobe_duration_s, ffprobe_streams, free_port


async def _publish_av(room: rtc.Room, feeder: Feeder) -> None:
    camera = rtc.VideoSource(320, 180)
    mic = rtc.AudioSource(48_000, 1, queue_size_ms=100)
    feeder.video(camera, 320, 180, fps=15)
    feeder.audio(mic)
    await room.local_participant.publish_track(
        rtc.LocalVideoTrack.create_video_track("camera", camera),
        rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
    )
    await room.local_participant.publish_track(
        rtc.LocalAudioTrack.create_audio_track("mic", mic),
        rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
    )


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
    livekit_double_factory: Callable[..., LiveKitDouble], tmp_path: Path, unique_room: str
) -> None:
    double = livekit_double_factory(egress_dir=tmp_path)
    lkapi = double.api()
    host = await join(double, "host", unique_room)
    feeder = Feeder()
    try:
        await _publish_av(host, feeder)
        started = await lkapi.egress.start_room_composite_egress(
            api.RoomCompositeEgressRequest(
                room_name=unique_room, layout="speaker",
                file_outputs=[api.EncodedFileOutput(file_type=api.EncodedFileType.MP4,
                                                    filepath="show.mp4")],
            )
        )  # fmt: skip
        assert started.egress_id.startswith("EG_")
        await _wait_status(lkapi, started.egress_id,
                           lambda i: i.status == api.EgressStatus.EGRESS_ACTIVE)  # fmt: skip
        await asyncio.sleep(3)
        stopped = await lkapi.egress.stop_egress(api.StopEgressRequest(egress_id=started.egress_id))
        assert stopped.status == api.EgressStatus.EGRESS_COMPLETE
        result = stopped.file_results[0]
        assert result.size > 10_000 and Path(result.filename) == tmp_path / "show.mp4"
        streams = {s["codec_type"]: s for s in ffprobe_streams(tmp_path / "show.mp4")}
        assert streams["video"]["codec_name"] == "h264" and streams["audio"]["codec_name"] == "aac"
        assert 2.0 < ffprobe_duration_s(tmp_path / "show.mp4") < 8.0
    finally:
        await feeder.aclose()
        await host.disconnect()
        await lkapi.aclose()


async def test_rtmp_outputs_update_and_failure_isolation(
    livekit_double: LiveKitDouble, rtmp_server: RtmpServer, unique_room: str
) -> None:
    lkapi = livekit_double.api()
    host = await join(livekit_double, "host", unique_room)
    feeder = Feeder()
    youtube = rtmp_server.url("live", "yt-key-123")
    dead = f"rtmp://127.0.0.1:{free_port()}/live/nobody-home"
    twitch = rtmp_server.url("live2", "tw-key-456")
    try:
        await _publish_av(host, feeder)
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
    livekit_double: LiveKitDouble, unique_room: str
) -> None:
    lkapi = livekit_double.api()
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

    token = livekit_double.token("host", unique_room, room_admin=True)  # no roomRecord
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{livekit_double.http_url}/twirp/livekit.Egress/ListEgress",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        assert response.status == 403


async def test_egress_webhooks_follow_the_status(
    livekit_double_factory: Callable[..., LiveKitDouble], tmp_path: Path, unique_room: str
) -> None:
    from aiohttp import web

    events: list[api.WebhookEvent] = []
    port = free_port()
    doubles: list[LiveKitDouble] = []

    async def receive(request: web.Request) -> web.Response:
        receiver = api.WebhookReceiver(api.TokenVerifier(doubles[0].api_key, doubles[0].api_secret))
        events.append(receiver.receive(await request.text(), request.headers["Authorization"]))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    doubles.append(livekit_double_factory(webhook_url=f"http://127.0.0.1:{port}/hook",
                                          egress_dir=tmp_path))  # fmt: skip
    lkapi = doubles[0].api()
    host = await join(doubles[0], "host", unique_room)
    feeder = Feeder()
    try:
        await _publish_av(host, feeder)
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
