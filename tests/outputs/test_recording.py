"""Local recording: crash safety (SIGKILL), disk space before and during, bad paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.output import OutputPhase, recording_path
from desktop.media.outputs.program import DirectBroadcast, OutputOptions
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from tests.fixtures import processes
from tests.fixtures.rtmp import ffprobe_duration_s, ffprobe_streams, ffprobe_video_times_s
from tests.outputs.recorder import Recorder


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm"])
def test_recording_killed_with_sigkill_still_plays(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"crash{suffix}"
    proc = processes.popen(
        [sys.executable, "-m", "desktop", "headless", "--record", str(path),
         "--width", "640", "--height", "360", "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if event.get("event") == "output" and event["state"] == "live":
                break
        live_at = time.monotonic()
        time.sleep(4.0)
        recorded_s = time.monotonic() - live_at
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kinds = sorted(str(s["codec_name"]) for s in ffprobe_streams(path))
    assert kinds == (["opus", "vp8"] if suffix == ".webm" else ["aac", "h264"])
    # Matroska leaves its duration unwritten after a crash; its packets say how long it is.
    played_s = ffprobe_duration_s(path) if suffix == ".mp4" else ffprobe_video_times_s(path)[-1]
    # What the encoder had not yet written when the process died is lost: on a loaded machine
    # that can be a couple of seconds, never more than was recorded.
    assert max(1.0, recorded_s - 3.0) < played_s <= recorded_s + 0.5, (played_s, recorded_s)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a real disk that fills up in seconds (needs root, as CI has)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small disk here (needs root): {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _broadcast(**options: object) -> tuple[DirectBroadcast, Recorder, list[object]]:
    camera, mic = SyntheticCamera(640, 360, 30), SyntheticMicrophone()
    camera.start()
    mic.start()
    recorder = Recorder()
    # A high bitrate of noise-free bars is still small; the bitrate floor keeps it honest.
    broadcast = DirectBroadcast(
        EncoderSettings(640, 360, 30, video_bitrate_bps=2_000_000),
        OutputOptions(**options),  # type: ignore[arg-type]
        listener=recorder,
    )
    broadcast.set_sources(camera=camera, microphone=mic)
    return broadcast, recorder, [camera, mic]


def _close(broadcast: DirectBroadcast, sources: list[object]) -> None:
    broadcast.close()
    for source in sources:
        source.stop()  # type: ignore[attr-defined]


def test_low_disk_refuses_to_start_and_stops_cleanly_when_it_runs_low(small_disk: Path) -> None:
    # Leave 1.2 MiB free and keep a 1 MiB margin: the recording starts, then stops cleanly.
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * int(2.8 * 2**20))
    broadcast, recorder, sources = _broadcast(min_free_bytes=2**20)
    try:
        broadcast.start_recording(small_disk / "show.mp4")
        recorder.wait_for("recording", OutputPhase.FAILED, timeout_s=60)
        status = broadcast.statuses()["recording"]
        assert status.error_code is MediaErrorCode.DISK_FULL
        assert "almost full" in status.error and "kept" in status.error
        broadcast.remove("recording")

        kept = small_disk / "show.mp4"
        assert ffprobe_duration_s(kept) > 0.5
        assert sorted(str(s["codec_name"]) for s in ffprobe_streams(kept)) == ["aac", "h264"]

        # Below the margin now: a new recording is refused before it starts, in words.
        broadcast.start_recording(small_disk / "again.mp4", output_id="again")
        recorder.wait_for("again", OutputPhase.FAILED)
        again = broadcast.statuses()["again"]
        assert again.error_code is MediaErrorCode.DISK_FULL
        assert "was not started" in again.error
    finally:
        _close(broadcast, sources)


def test_a_disk_that_fills_up_keeps_what_was_written(small_disk: Path) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * int(3.5 * 2**20))
    broadcast, recorder, sources = _broadcast(min_free_bytes=0)
    try:
        broadcast.start_recording(small_disk / "full.mkv")
        recorder.wait_for("recording", OutputPhase.FAILED, timeout_s=60)
        status = broadcast.statuses()["recording"]
        assert status.error_code is MediaErrorCode.DISK_FULL, status.error
        assert "what was written is kept" in status.error
    finally:
        _close(broadcast, sources)
    assert ffprobe_video_times_s(small_disk / "full.mkv")[-1] > 0.5


def test_bad_recording_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"name the file \.mp4, \.mkv or \.webm") as bad:
        recording_path(tmp_path / "show.avi")
    assert bad.value.code is MediaErrorCode.INVALID_ARGUMENT
    (tmp_path / "taken.mp4").write_bytes(b"keep me")
    assert recording_path(tmp_path / "taken.mp4").name == "taken (2).mp4"
    assert recording_path(tmp_path).suffix == ".mp4"
    assert recording_path(tmp_path, suffix=".webm").suffix == ".webm"

    broadcast, recorder, sources = _broadcast()
    try:
        broadcast.start_recording(tmp_path / "no" / "such" / "folder.mkv")
        recorder.wait_for("recording", OutputPhase.FAILED)
        assert "does not exist" in broadcast.statuses()["recording"].error
    finally:
        _close(broadcast, sources)
    assert (tmp_path / "taken.mp4").read_bytes() == b"keep me"
    assert not os.path.exists(tmp_path / "no")
