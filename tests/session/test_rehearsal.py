"""Rehearsal to live without a restart: the program (direct) or the egress (platform) runs into a
private sink, and Go Live adds the real destinations and drops the sink. Against nginx-rtmp, the
real livekit-server and the Egress stand-in."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import av
import keyring.backends.fail
import pytest
from livekit import api

from desktop.media.outputs.destinations import Destination, DestinationKind
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.output import OutputPhase, OutputStatus
from desktop.media.outputs.program import OutputOptions
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.backend_client import HttpBackend
from desktop.session.broadcast_monitor import BroadcastMonitor
from desktop.session.errors import SessionError
from desktop.session.live import REHEARSAL_ID, LiveOutputs
from desktop.session.room_session import RoomSession
from desktop.session.settings import Secrets
from desktop.session.state import StateStore
from tests.fixtures.backend import BackendServer
from tests.fixtures.egress import LiveKitWithEgress
from tests.fixtures.rtmp import RtmpServer, ffprobe_streams
from tests.participants import wait_for


def packet_times_s(path: Path) -> list[float]:
    """Presentation times of the video packets of a file, in order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = float(stream.time_base or 0)
        return [
            float(p.pts) * base for p in container.demux(stream) if p.pts is not None and p.size
        ]


async def test_direct_rehearsal_goes_live_without_restarting_the_program(
    rtmp_server: RtmpServer, tmp_path: Path
) -> None:
    store = StateStore()
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    secrets.set("stream-key:show", "show-key")
    show = Destination("show", "Show", DestinationKind.CUSTOM, rtmp_server.url("live"))
    camera, mic = SyntheticCamera(640, 360, 30), SyntheticMicrophone()
    camera.start()
    mic.start()
    live = LiveOutputs(store, secrets, EncoderSettings(640, 360, 30), OutputOptions(max_retries=1))
    live.set_sources(camera, None, mic)

    def status(output_id: str) -> OutputStatus | None:
        return next((s for s in store.state.direct_outputs if s.output_id == output_id), None)

    try:
        recording = await live.start_recording(tmp_path)
        assert recording is not None
        said = await live.rehearse(private_url=rtmp_server.url("live2", "private-key"))
        assert "private stream" in said and "private-key" not in said
        assert store.state.rehearsal == said and not store.state.is_live
        await wait_for(
            lambda: (s := status(REHEARSAL_ID)) is not None and s.phase is OutputPhase.LIVE
        )
        await asyncio.sleep(2.0)
        before = status("recording")
        assert before is not None and before.phase is OutputPhase.LIVE
        switched_at_s = time.monotonic()
        assert await live.go_live([show]) == {}
        assert store.state.is_live and store.state.rehearsal == ""
        await wait_for(lambda: (s := status("show")) is not None and s.phase is OutputPhase.LIVE)
        rehearsal = status(REHEARSAL_ID)
        assert rehearsal is not None and rehearsal.phase is OutputPhase.STOPPED
        # The recording is the same session: its clock and byte counter carried on.
        after = status("recording")
        assert after is not None and after.phase is OutputPhase.LIVE
        assert after.live_since_us == before.live_since_us
        await wait_for(lambda: (s := status("recording")) is not None and (
            s.bytes_written > before.bytes_written + 50_000))  # fmt: skip
        await asyncio.sleep(2.0)
        await live.end()
        await live.stop_recording()
        ended_at_s = time.monotonic()
    finally:
        await live.aclose()
        camera.stop()
        mic.stop()
    # Decoded: one recording whose timestamps run on through the switch (no reset, no hole).
    assert sorted(tmp_path.glob("*.mp4")) == [recording]
    times = packet_times_s(recording)
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert times == sorted(times) and max(steps) < 1.5, max(steps)
    assert times[-1] - times[0] >= (ended_at_s - switched_at_s) + 1.5
    # The private ingest got the rehearsal, the real one the show.
    for app in ("live2", "live"):
        flv = rtmp_server.wait_for_recording(app, min_bytes=10_000)
        assert {s["codec_name"] for s in ffprobe_streams(flv)} == {"h264", "aac"}


async def test_egress_rehearsal_goes_live_on_the_same_egress(
    backend_server: BackendServer, rtmp_server: RtmpServer, real_livekit: LiveKitWithEgress
) -> None:
    backend = HttpBackend(backend_server.url, backend_server.host_credential)
    session = RoomSession()
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    secrets.set("stream-key:show", "show-key")
    show = Destination("show", "Show", DestinationKind.CUSTOM, rtmp_server.url("live"))
    camera = SyntheticCamera(640, 360, 30)
    camera.start()
    room = (await backend.call("create_room", appointmentId=backend_server.appointment_id))["room"]
    await session.connect(room["url"], room["token"])
    await session.publish_camera(camera)
    live = LiveOutputs(session.store, secrets, backend=backend, room_name=room["name"])
    monitor = BroadcastMonitor(backend, session.store, room["name"], interval_s=0.3)
    monitor.start()
    egress_api = real_livekit.egress.api()
    assert backend_server.store is not None
    store = backend_server.store

    def output(name: str) -> OutputPhase | None:
        found = [o.phase for o in session.store.state.outputs if o.name == name]
        return found[0] if found else None

    async def egress(egress_id: str) -> api.EgressInfo:
        listed = await egress_api.egress.list_egress(api.ListEgressRequest(egress_id=egress_id))
        return listed.items[0]

    try:
        # Without a private URL, the platform path says what it needs.
        with pytest.raises(SessionError, match="private RTMP URL"):
            await live.rehearse(Path("/nonexistent"))
        said = await live.rehearse(private_url=rtmp_server.url("live2", "private-key"))
        assert "private-key" not in said and session.store.state.rehearsal
        await wait_for(lambda: output(REHEARSAL_ID) is OutputPhase.LIVE, 30)
        stream = store.get_stream(room["name"])
        assert stream is not None and stream.rtmp_egress_id
        egress_id = stream.rtmp_egress_id
        started = await egress(egress_id)
        rtmp_server.wait_for_recording("live2", min_bytes=10_000, timeout_s=20)

        assert await live.go_live([show]) == {}
        await wait_for(
            lambda: (
                output("show") is OutputPhase.LIVE and output(REHEARSAL_ID) is OutputPhase.STOPPED
            ),
            30,
        )
        stream = store.get_stream(room["name"])
        assert stream is not None and stream.rtmp_egress_id == egress_id  # the same egress
        info = await egress(egress_id)
        assert info.status == api.EgressStatus.EGRESS_ACTIVE
        assert info.started_at == started.started_at  # never restarted
        results = {r.url.split("/")[3]: r for r in info.stream_results}
        assert results["live2"].status == api.StreamInfo.Status.FINISHED
        assert results["live"].status == api.StreamInfo.Status.ACTIVE
        flv = rtmp_server.wait_for_recording("live", min_bytes=10_000, timeout_s=20)
        await live.end()
        assert not session.store.state.is_live
    finally:
        await egress_api.aclose()
        await monitor.aclose()
        await live.aclose()
        await session.aclose()
        await backend.aclose()
        camera.stop()
    assert {s["codec_name"] for s in ffprobe_streams(flv)} == {"h264", "aac"}
