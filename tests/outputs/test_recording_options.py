"""Local recording options: the container picks the codecs, the quality the bitrate, and outputs
share an encoder only when they want the same encoding (read back with ffprobe)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from desktop.media.compositor import Layout, StageMember
from desktop.media.frames import PixelFormat, VideoFrame
from desktop.media.outputs.destinations import rtmp_target
from desktop.media.outputs.encoder import AudioCodec, EncoderSettings, VideoCodec
from desktop.media.outputs.output import OutputPhase, OutputStatus
from desktop.media.outputs.profiles import RecordingQuality
from desktop.media.outputs.program import DirectBroadcast, OutputOptions
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from tests.fixtures.rtmp import RtmpServer, ffprobe_streams, ffprobe_video_times_s, rtmp_server
from tests.outputs.recorder import Recorder
from tests.waiting import wait_until

__all__ = ["rtmp_server"]

WIDTH, HEIGHT, FPS = 320, 180, 30
PROGRAM_BITRATE_BPS = 800_000


def _probe(path: Path, entries: str, *extra: str) -> dict[str, object]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", *extra, "-show_entries", entries, "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    found: dict[str, object] = json.loads(out)
    return found


def _video_bitrate_bps(path: Path) -> float:
    """The recorded video's bitrate: its packets' bytes over the time they span."""
    packets = _probe(path, "packet=size,pts_time", "-select_streams", "v:0")["packets"]
    assert isinstance(packets, list) and len(packets) > 30, packets
    sizes = [int(p["size"]) for p in packets]
    times = sorted(float(p["pts_time"]) for p in packets)
    # The last packet's bytes belong after the last time stamp: leave them out.
    return sum(sizes[:-1]) * 8 / (times[-1] - times[0])


def _wait_frames(broadcast: DirectBroadcast, output_ids: list[str], frames: int) -> None:
    """Wait until every output has been handed ``frames`` pictures (generous on a slow CI)."""

    def statuses() -> dict[str, OutputStatus]:
        every = broadcast.statuses()
        return {i: every[i] for i in output_ids}

    wait_until(
        lambda: all(s.video_frames >= frames for s in statuses().values()),
        90.0,
        f"{frames} pictures handed to each of {output_ids}",
        state=statuses,
        interval_s=0.1,
    )


@pytest.fixture
def synthetic_program() -> Iterator[tuple[DirectBroadcast, Recorder]]:
    camera, mic = SyntheticCamera(WIDTH, HEIGHT, FPS), SyntheticMicrophone()
    camera.start()
    mic.start()
    recorder = Recorder()
    broadcast = DirectBroadcast(
        EncoderSettings(WIDTH, HEIGHT, FPS, video_bitrate_bps=PROGRAM_BITRATE_BPS),
        OutputOptions(min_free_bytes=0),
        listener=recorder,
    )
    broadcast.set_sources(camera=camera, microphone=mic)
    try:
        yield broadcast, recorder
    finally:
        broadcast.close()
        camera.stop()
        mic.stop()


def test_a_webm_recording_next_to_rtmp_gets_its_own_vp8_encoder_and_rtmp_stays_h264(
    tmp_path: Path, rtmp_server: RtmpServer, synthetic_program: tuple[DirectBroadcast, Recorder]
) -> None:
    broadcast, recorder = synthetic_program
    broadcast.add_rtmp("youtube", rtmp_target(rtmp_server.url("live"), "yt-key"))
    broadcast.add_rtmp("twitch", rtmp_target(rtmp_server.url("live2"), "tw-key"))
    output = broadcast.start_recording(tmp_path, quality=RecordingQuality.LOW, suffix=".webm")
    for output_id in ("youtube", "twitch", "recording"):
        recorder.wait_for(output_id, OutputPhase.LIVE, timeout_s=60)
    recording_since_s = broadcast.statuses()["recording"].live_since_us / 1e6

    # Two encoders: the program's H.264 feeds both RTMP destinations, VP8 the recording.
    program, webm = broadcast.encoders()
    assert program.output_ids == ("youtube", "twitch")
    assert program.profile.video_codec is VideoCodec.H264
    assert program.profile.video_bitrate_bps == PROGRAM_BITRATE_BPS
    assert webm.output_ids == ("recording",)
    assert webm.video_encoder == "libvpx"
    assert (webm.profile.video_codec, webm.profile.audio_codec) == (
        VideoCodec.VP8, AudioCodec.OPUS,
    )  # fmt: skip
    assert webm.profile.video_bitrate_bps == 3_000_000
    statuses = broadcast.statuses()
    assert statuses["recording"].encoding.startswith("VP8 + Opus, 320x180 30 fps, 3.0 Mb/s")
    assert statuses["youtube"].encoding == statuses["twitch"].encoding
    assert statuses["youtube"].encoding.startswith("H.264 + AAC")

    _wait_frames(broadcast, ["youtube", "twitch", "recording"], 3 * FPS)
    for output_id in ("youtube", "twitch"):
        assert broadcast.statuses()[output_id].phase is OutputPhase.LIVE
    last = broadcast.remove("recording")
    recorded_s = time.monotonic() - recording_since_s
    assert last is not None and last.phase is OutputPhase.STOPPED, last
    # The RTMP destinations go on untouched when the recording's encoder stops.
    (remaining,) = broadcast.encoders()
    assert remaining.output_ids == ("youtube", "twitch")
    broadcast.remove("youtube")
    broadcast.remove("twitch")

    path = Path(output.status.path)
    assert path.suffix == ".webm" and path.stat().st_size > 0
    probed = _probe(path, "format=format_name,duration:stream=codec_name,width,height")
    assert probed["format"]["format_name"] == "matroska,webm"  # type: ignore[index]
    kinds = sorted(str(s["codec_name"]) for s in probed["streams"])  # type: ignore[attr-defined]
    assert kinds == ["opus", "vp8"], probed
    duration_s = float(probed["format"]["duration"])  # type: ignore[index]
    assert recorded_s - 2.0 < duration_s <= recorded_s + 0.5, (duration_s, recorded_s)
    assert ffprobe_video_times_s(path)[-1] > 2.5

    for app in ("live", "live2"):
        (flv,) = rtmp_server.recordings(app)
        streams = ffprobe_streams(flv)
        assert sorted(str(s["codec_name"]) for s in streams) == ["aac", "h264"], streams


class _TexturedGuest:
    """A guest whose picture is a moving gradient with grain: enough detail that an encoder
    spends every bit it is allowed (flat colour bars would undershoot any bitrate)."""

    def __init__(self, broadcast: DirectBroadcast, source_id: str) -> None:
        self.broadcast = broadcast
        self.source_id = source_id
        rng = np.random.default_rng(7)
        size = WIDTH * HEIGHT * 3 // 2
        self._grain = [rng.integers(-40, 41, size).astype(np.int16) for _ in range(7)]
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
        self._ramp = (xx + yy).astype(np.int16)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-textured", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        sequence = 0
        while not self._stop.wait(1.0 / FPS):
            luma = (self._ramp + sequence * 4) % 256
            flat = np.concatenate([luma.ravel(), np.full(WIDTH * HEIGHT // 2, 128, np.int16)])
            data = np.clip(flat + self._grain[sequence % 7], 0, 255).astype(np.uint8)
            frame = VideoFrame(data, WIDTH, HEIGHT, PixelFormat.I420,
                               time.monotonic_ns() // 1000, sequence)  # fmt: skip
            self.broadcast.push_video(self.source_id, frame)
            sequence += 1


def test_local_mp4_quality_bands_give_their_bitrates(tmp_path: Path) -> None:
    recorder = Recorder()
    broadcast = DirectBroadcast(
        EncoderSettings(WIDTH, HEIGHT, FPS, video_bitrate_bps=PROGRAM_BITRATE_BPS),
        OutputOptions(min_free_bytes=0),
        listener=recorder,
    )
    broadcast.set_layout(Layout.SOLO)
    broadcast.set_stage([StageMember("guest", "")])
    guest = _TexturedGuest(broadcast, "guest")
    guest.start()
    try:
        low = broadcast.start_recording(tmp_path / "low.mp4", "low", RecordingQuality.LOW)
        high = broadcast.start_recording(tmp_path / "high.mp4", "high", RecordingQuality.HIGH)
        recorder.wait_for("low", OutputPhase.LIVE, timeout_s=60)
        recorder.wait_for("high", OutputPhase.LIVE, timeout_s=60)
        # Same container and codecs, different bitrates: one encoder each.
        assert sorted(info.profile.video_bitrate_bps for info in broadcast.encoders()) == [
            3_000_000, 6_000_000,
        ]  # fmt: skip
        _wait_frames(broadcast, ["low", "high"], 5 * FPS)
        broadcast.remove("low")
        broadcast.remove("high")
    finally:
        broadcast.close()
        guest.stop()
    low_bps = _video_bitrate_bps(Path(low.status.path))
    high_bps = _video_bitrate_bps(Path(high.status.path))
    # Bands around 3 and 6 Mb/s, wide enough for a loaded machine where some pictures repeat
    # (a repeated picture costs almost nothing, so a starved feeder lowers both figures alike:
    # 1.48 Mb/s for "low" was measured at load 14); the ratio tells the bands apart.
    assert 1_000_000 < low_bps < 4_000_000, low_bps
    assert 2_000_000 < high_bps < 8_500_000, high_bps
    assert high_bps > 1.5 * low_bps, (low_bps, high_bps)
    for path in (low.status.path, high.status.path):
        kinds = sorted(str(s["codec_name"]) for s in ffprobe_streams(Path(path)))
        assert kinds == ["aac", "h264"]


def test_the_encoder_makes_vp9_and_opus_that_webm_holds(tmp_path: Path) -> None:
    profile = EncoderSettings(
        WIDTH, HEIGHT, FPS, 1_000_000, video_codec=VideoCodec.VP9, audio_codec=AudioCodec.OPUS
    )
    broadcast = DirectBroadcast(profile, OutputOptions(min_free_bytes=0))
    broadcast.set_layout(Layout.SOLO)
    broadcast.set_stage([StageMember("guest", "")])
    guest = _TexturedGuest(broadcast, "guest")
    guest.start()
    try:
        # The program's own profile is VP9 here, so a WebM recording of it shares that encoder.
        output = broadcast.start_recording(tmp_path / "vp9.webm")
        (info,) = broadcast.encoders()
        assert (info.video_encoder, info.output_ids) == ("libvpx-vp9", ("recording",))
        _wait_frames(broadcast, ["recording"], 2 * FPS)
        broadcast.remove("recording")
    finally:
        broadcast.close()
        guest.stop()
    kinds = sorted(str(s["codec_name"]) for s in ffprobe_streams(Path(output.status.path)))
    assert kinds == ["opus", "vp9"]


def test_headless_records_at_the_quality_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "headless.mp4"
    done = subprocess.run(
        [sys.executable, "-m", "desktop", "headless", "--record", str(path),
         "--record-quality", "medium", "--video-bitrate", "800000",
         "--width", "320", "--height", "180", "--duration", "4"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    live = [e for e in events if e.get("event") == "output" and e["state"] == "live"]
    assert live, (done.stdout, done.stderr)
    assert live[0]["encoding"].startswith("H.264 + AAC, 320x180 30 fps, 4.5 Mb/s"), live[0]
    assert sorted(str(s["codec_name"]) for s in ffprobe_streams(path)) == ["aac", "h264"]
