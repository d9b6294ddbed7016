"""RTMP servers that stop answering: the output is cut loose, says why, and retries.

FFmpeg's RTMP client has no timeout of its own; without the watchdog these outputs would sit in
"connecting" or "live" forever while nothing reaches the platform.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from desktop.media.errors import MediaError
from desktop.media.file_source import FileSource
from desktop.media.outputs.destinations import preflight, rtmp_target
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.output import OutputPhase
from desktop.media.outputs.program import DirectBroadcast, OutputOptions
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from tests.fixtures.rtmp import RtmpServer
from tests.outputs.recorder import Recorder


class SilentServer:
    """Takes TCP connections and whatever is sent, and never answers (not an RTMP server)."""

    def __init__(self, reply: bytes = b"") -> None:
        self.reply = reply
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        self.closed_by_client = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        with conn:
            if self.reply:
                conn.sendall(self.reply)
            conn.settimeout(0.2)
            while not self._stop.is_set():
                try:
                    if not conn.recv(65536):
                        self.closed_by_client += 1
                        return
                except TimeoutError:
                    continue
                except OSError:
                    self.closed_by_client += 1
                    return

    def close(self) -> None:
        self._stop.set()
        self.listener.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_a_server_that_never_answers_is_cut_retried_and_given_up(
    silent_server: SilentServer,
) -> None:
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    recorder = Recorder()
    broadcast = DirectBroadcast(
        EncoderSettings(320, 180, 15, video_bitrate_bps=300_000),
        OutputOptions(max_retries=1, retry_base_s=0.2, network_timeout_s=2.0),
        listener=recorder,
    )
    try:
        broadcast.set_sources(camera=camera, microphone=mic)
        url = f"rtmp://127.0.0.1:{silent_server.port}/live"
        broadcast.add_rtmp("silent", rtmp_target(url, "silent-key-42"))
        recorder.wait_for("silent", OutputPhase.FAILED, timeout_s=30)
        assert recorder.phases("silent") == [
            OutputPhase.CONNECTING, OutputPhase.RETRYING, OutputPhase.CONNECTING,
            OutputPhase.FAILED,
        ]  # fmt: skip
        error = broadcast.statuses()["silent"].error
        assert "gave up after 2 attempts" in error
        assert f"took the connection on port {silent_server.port}" in error
        assert "did not answer as an RTMP server within 2 s" in error
        assert "RTMP ingest" in error and "silent-key-42" not in error
        # Both connections were really closed, not left hanging on the server.
        deadline = time.monotonic() + 3
        while silent_server.closed_by_client < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (silent_server.accepted, silent_server.closed_by_client) == (2, 2)
    finally:
        broadcast.close()
        camera.stop()
        mic.stop()


def test_a_server_that_is_not_rtmp_is_named_before_ffmpeg_sees_it() -> None:
    web = SilentServer(reply=b"HTTP/1.1 400 Bad Request\r\n\r\n" + b"x" * 2000)
    try:
        target = rtmp_target(f"rtmp://127.0.0.1:{web.port}/live", "key-77")
        with pytest.raises(MediaError) as raised:
            preflight(target, answer_timeout_s=2.0)
        assert f"what answers on 127.0.0.1 port {web.port} is not an RTMP server" in str(
            raised.value
        )
        assert "key-77" not in str(raised.value)
    finally:
        web.close()


def _noise_video(path: Path, width: int, height: int, frames: int) -> Path:
    """Random pixels: the encoder needs its whole bitrate, so a stalled link fills fast."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30, (width, height))
    rng = np.random.default_rng(7)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (height, width, 3), np.uint8))
    writer.release()
    return path


def test_a_live_stream_whose_server_stops_taking_data_is_cut_and_retried(
    rtmp_server: RtmpServer, tmp_path: Path
) -> None:
    camera = FileSource(str(_noise_video(tmp_path / "noise.avi", 640, 360, 30)))
    mic = SyntheticMicrophone()
    camera.start()
    mic.start()
    recorder = Recorder()
    broadcast = DirectBroadcast(
        EncoderSettings(640, 360, 30, video_bitrate_bps=8_000_000),
        OutputOptions(max_retries=0, network_timeout_s=2.0),
        listener=recorder,
    )
    nginx_pid = int((rtmp_server.root / "nginx.pid").read_text())
    try:
        broadcast.set_sources(camera=camera, microphone=mic)
        broadcast.add_rtmp("stalls", rtmp_target(rtmp_server.url("live"), "stall-key"))
        recorder.wait_for("stalls", OutputPhase.LIVE, timeout_s=20)
        # The ingest freezes (as a dead Wi-Fi link looks from here): nothing is read any more.
        os.killpg(nginx_pid, signal.SIGSTOP)
        recorder.wait_for("stalls", OutputPhase.FAILED, timeout_s=90)
        error = broadcast.statuses()["stalls"].error
        assert "the connection stalled: the server took no data for 2 s" in error, error
    finally:
        os.killpg(nginx_pid, signal.SIGCONT)
        broadcast.close()
        camera.stop()
        mic.stop()
