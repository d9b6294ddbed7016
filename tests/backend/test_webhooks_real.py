"""Webhooks from the real livekit-server, verified by the backend: participant and track events
feed the stream's final statistics, and a room an old token re-creates after the end is closed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from livekit import rtc

from backend.store import LiveStream
from tests.fixtures.backend import BackendServer, backend_config, seed
from tests.fixtures.egress import CONNECT_TIMEOUT_S, LiveKitWithEgress
from tests.fixtures.rtmp import RtmpServer, free_port
from tests.participants import Feeder
from tests.waiting import wait_for


async def _publish_audio(
    room: rtc.Room, feeder: Feeder, source_kind: rtc.TrackSource.ValueType
) -> rtc.LocalTrackPublication:
    source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
    feeder.audio(source)
    return await room.local_participant.publish_track(
        rtc.LocalAudioTrack.create_audio_track("audio", source),
        rtc.TrackPublishOptions(source=source_kind),
    )


async def test_real_webhooks_feed_final_stats_and_close_recreated_rooms(
    real_livekit_factory: Callable[..., LiveKitWithEgress],
    rtmp_server: RtmpServer,
    tmp_path: Path,
) -> None:
    port = free_port()
    pair = real_livekit_factory(webhook_url=f"http://127.0.0.1:{port}/webhooks/livekit")
    config = backend_config(pair, rtmp_server, tmp_path)
    appointment_id, host_cred, viewer, other = seed(config)
    server = BackendServer(
        config, f"http://127.0.0.1:{port}", appointment_id, host_cred, viewer, other, port=port
    )
    await server.start()
    feeder = Feeder()
    host, guest, late = rtc.Room(), rtc.Room(), rtc.Room()
    options = rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S)

    def stream() -> LiveStream:
        assert server.store is not None
        found = server.store.get_stream(room_name)
        assert found is not None
        return found

    def state() -> dict[str, object]:
        now = stream()
        return {
            "participants": now.participants,
            "publishers": now.publishers,
            "tracks": now.published_tracks,
            "peaks": (now.peak_participants, now.peak_publishers),
        }

    try:
        status, created = await server.call("create_room", appointmentId=appointment_id)
        assert status == 200, created
        room_name = created["room"]["name"]
        status, joined = await server.call(
            "join_room", roomName=room_name, userId="guest-1", permissions={"canPublish": True}
        )
        assert status == 200, joined
        await host.connect(created["room"]["url"], created["room"]["token"], options)
        await guest.connect(joined["url"], joined["token"], options)
        mic = rtc.TrackSource.SOURCE_MICROPHONE
        host_mic = await _publish_audio(host, feeder, mic)
        host_share = await _publish_audio(host, feeder, rtc.TrackSource.SOURCE_SCREENSHARE_AUDIO)
        await _publish_audio(guest, feeder, mic)
        await wait_for(
            lambda: stream().peak_publishers == 2 and stream().peak_participants == 2,
            20.0,
            state=state,
        )

        # The server's track_unpublished names the host without its tracks: the host still
        # publishes its microphone.
        await host.local_participant.unpublish_track(host_share.sid)
        await wait_for(
            lambda: stream().published_tracks.get("host-1") == [host_mic.sid], 20.0, state=state
        )
        assert "host-1" in stream().publishers, state()

        # Everyone stops publishing before the end: only the webhooks saw the peak. A guest's
        # leave message lost on a loaded machine ends its stay only once the server finds its
        # peer connection gone (tens of seconds), hence the longer wait.
        await guest.disconnect()
        await host.local_participant.unpublish_track(host_mic.sid)
        await wait_for(
            lambda: not stream().publishers and stream().participants == ["host-1"],
            60.0,
            state=state,
        )
        status, ended = await server.call("end_stream", roomName=room_name)
        assert status == 200, ended
        assert ended["stats"]["peakPublishers"] == 2
        assert ended["stats"]["totalParticipants"] == 2
        await host.disconnect()

        # The guest's old token still verifies and LiveKit re-creates the room on join; the
        # backend hears it and closes the room again.
        gone = asyncio.Event()
        late.on("disconnected", lambda *_: gone.set())
        await late.connect(joined["url"], joined["token"], options)
        await asyncio.wait_for(gone.wait(), 20)
    finally:
        await feeder.aclose()
        for room in (host, guest, late):
            await room.disconnect()
        await server.stop()
