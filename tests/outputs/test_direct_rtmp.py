"""Direct Go Live against nginx-rtmp on 127.0.0.1, read back with ffprobe."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from desktop.media.errors import MediaErrorCode
from desktop.media.outputs.destinations import rtmp_target
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.output import OutputPhase
from desktop.media.outputs.program import DirectBroadcast, OutputOptions
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from tests.fixtures.rtmp import (
    LOCKED_APPLICATION,
    RtmpServer,
    ffprobe_duration_s,
    ffprobe_streams,
    ffprobe_video_times_s,
    free_port,
)
from tests.outputs.recorder import Recorder

WIDTH, HEIGHT, FPS = 640, 360, 30


@pytest.fixture
def program() -> Iterator[Callable[..., tuple[DirectBroadcast, Recorder]]]:
    """A direct program from the synthetic camera and microphone; closed after the test."""
    made: list[tuple[DirectBroadcast, list[SyntheticCamera | SyntheticMicrophone]]] = []

    def make(**options: object) -> tuple[DirectBroadcast, Recorder]:
        camera, mic = SyntheticCamera(WIDTH, HEIGHT, FPS), SyntheticMicrophone()
        camera.start()
        mic.start()
        recorder = Recorder()
        broadcast = DirectBroadcast(
            EncoderSettings(WIDTH, HEIGHT, FPS, video_bitrate_bps=800_000),
            OutputOptions(**options),  # type: ignore[arg-type]
            listener=recorder,
        )
        broadcast.set_sources(camera=camera, microphone=mic)
        made.append((broadcast, [camera, mic]))
        return broadcast, recorder

    yield make
    for broadcast, sources in made:
        broadcast.close()
        for source in sources:
            source.stop()


def _assert_h264_aac(path: object, width: int = WIDTH, height: int = HEIGHT) -> None:
    streams = ffprobe_streams(path)  # type: ignore[arg-type]
    video = [s for s in streams if s["codec_type"] == "video"]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    assert [s["codec_name"] for s in video] == ["h264"], streams
    assert (video[0]["width"], video[0]["height"]) == (width, height)
    assert [s["codec_name"] for s in audio] == ["aac"], streams


def test_two_destinations_and_one_switched_off_mid_stream(
    rtmp_server: RtmpServer, program: Callable[..., tuple[DirectBroadcast, Recorder]]
) -> None:
    broadcast, recorder = program()
    broadcast.add_rtmp("youtube", rtmp_target(rtmp_server.url("live"), "yt-key-1234"))
    broadcast.add_rtmp("twitch", rtmp_target(rtmp_server.url("live2"), "tw-key-5678"))
    recorder.wait_for("youtube", OutputPhase.LIVE)
    recorder.wait_for("twitch", OutputPhase.LIVE)
    (encoder,) = broadcast.encoders()
    assert encoder.output_ids == ("youtube", "twitch")
    encoder_frames_before = encoder.video_frames
    time.sleep(3.0)
    last = broadcast.remove("youtube")
    assert last is not None and last.phase is OutputPhase.STOPPED
    time.sleep(3.0)
    assert broadcast.statuses()["twitch"].phase is OutputPhase.LIVE
    # One encoder fed both: it encoded about one picture per frame period, not two.
    (encoder,) = broadcast.encoders()
    encoded = encoder.video_frames - encoder_frames_before
    assert encoded < FPS * 6 * 1.3, encoded
    broadcast.remove("twitch")

    first = rtmp_server.recordings("live")
    second = rtmp_server.recordings("live2")
    assert len(first) == 1 and len(second) == 1, (first, second)
    _assert_h264_aac(first[0])
    _assert_h264_aac(second[0])
    assert 2.0 < ffprobe_duration_s(first[0]) < 4.5
    assert ffprobe_duration_s(second[0]) > 5.0
    times = ffprobe_video_times_s(second[0])
    # (The first half second is left out: the encoder's first picture may wait for start-up.)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False) if a > 0.5]
    # Switching the other destination off left this one without a gap or a restart.
    assert max(gaps) < 0.2, max(gaps)
    for history in recorder.history.values():
        for status in history:
            assert "yt-key-1234" not in str(status.to_json())
            assert "tw-key-5678" not in str(status.to_json())


def test_closed_port_retries_then_gives_up_while_the_other_goes_on(
    rtmp_server: RtmpServer, program: Callable[..., tuple[DirectBroadcast, Recorder]]
) -> None:
    broadcast, recorder = program(max_retries=2, retry_base_s=0.2)
    dead_port = free_port()
    broadcast.add_rtmp("good", rtmp_target(rtmp_server.url("live"), "good-key"))
    broadcast.add_rtmp("dead", rtmp_target(f"rtmp://127.0.0.1:{dead_port}/live", "dead-key"))
    recorder.wait_for("dead", OutputPhase.FAILED, timeout_s=30)
    assert recorder.phases("dead") == [
        OutputPhase.CONNECTING, OutputPhase.RETRYING,
        OutputPhase.CONNECTING, OutputPhase.RETRYING,
        OutputPhase.CONNECTING, OutputPhase.FAILED,
    ]  # fmt: skip
    final = broadcast.statuses()["dead"]
    assert "gave up after 3 attempts" in final.error
    assert "refused the connection" in final.error
    assert final.error_code is MediaErrorCode.OUTPUT_FAILED
    assert "dead-key" not in final.error
    attempts = [s.attempt for s in recorder.history["dead"] if s.phase is OutputPhase.RETRYING]
    assert attempts == [1, 2]
    recorder.wait_for("good", OutputPhase.LIVE)
    time.sleep(1.0)
    assert broadcast.statuses()["good"].phase is OutputPhase.LIVE
    assert recorder.phases("good") == [OutputPhase.CONNECTING, OutputPhase.LIVE]

    # The producer retries now once the ingest is back (here: a server on that port).
    broadcast.remove("good")
    assert rtmp_server.wait_for_recording("live", min_bytes=10_000)


def test_retry_now_skips_the_back_off(
    rtmp_server: RtmpServer, program: Callable[..., tuple[DirectBroadcast, Recorder]]
) -> None:
    broadcast, recorder = program(max_retries=3, retry_base_s=60.0)
    broadcast.add_rtmp("dead", rtmp_target(f"rtmp://127.0.0.1:{free_port()}/live", "k-1"))
    recorder.wait_for("dead", OutputPhase.RETRYING)
    assert broadcast.statuses()["dead"].retry_in_s == 60.0
    broadcast.retry_now("dead")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and broadcast.statuses()["dead"].attempt < 2:
        time.sleep(0.05)
    assert broadcast.statuses()["dead"].attempt == 2


def test_a_refused_stream_key_is_named(
    rtmp_server: RtmpServer, program: Callable[..., tuple[DirectBroadcast, Recorder]]
) -> None:
    broadcast, recorder = program(max_retries=0)
    broadcast.add_rtmp("locked", rtmp_target(rtmp_server.url(LOCKED_APPLICATION), "wrong-key"))
    recorder.wait_for("locked", OutputPhase.FAILED)
    status = broadcast.statuses()["locked"]
    assert "refused the stream" in status.error and "stream key" in status.error
    assert "wrong-key" not in status.error


def test_unresolvable_host_is_named(
    program: Callable[..., tuple[DirectBroadcast, Recorder]],
) -> None:
    broadcast, recorder = program(max_retries=0)
    broadcast.add_rtmp("typo", rtmp_target("rtmp://ingest.example.invalid/live2", "k-123"))
    recorder.wait_for("typo", OutputPhase.FAILED)
    assert "does not resolve" in broadcast.statuses()["typo"].error
