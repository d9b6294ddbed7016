"""CameraSource through OpenCV's real file/stream path: size, count, content, error paths."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from desktop.media.base import SourceEvent, SourceState
from desktop.media.camera import CameraSource, parse_camera_device
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.file_source import FileSource
from desktop.media.frames import PixelFormat, VideoFrame
from tests.fixtures import processes
from tests.fixtures.devices import CameraFile
from tests.fixtures.rtmp import free_port


def _drain(camera: CameraSource, timeout_s: float = 10.0) -> list[VideoFrame]:
    queue = camera.frames.subscribe("test", maxsize=10_000)
    ended = threading.Event()
    camera.add_listener(lambda e: ended.set() if e.state is not SourceState.RUNNING else None)
    camera.start()
    assert ended.wait(timeout_s), "the file did not end"
    camera.stop()
    return list(iter(queue.get_nowait, None))


def test_reads_every_frame_of_a_file_with_its_size_and_content(camera_file: CameraFile) -> None:
    camera = CameraSource(str(camera_file.path), width=1920, height=1080, fps=30)
    frames = _drain(camera)
    assert (camera.width, camera.height) == (camera_file.width, camera_file.height)
    assert camera.fps == pytest.approx(camera_file.fps)
    assert len(frames) == camera_file.frame_count
    assert camera.state is SourceState.STOPPED
    for index, frame in enumerate(frames):
        assert frame.format is PixelFormat.I420 and frame.sequence == index
        assert frame.data.size == camera_file.width * camera_file.height * 3 // 2
        centre = frame.to_bgr()[camera_file.height // 2, camera_file.width // 2].astype(int)
        assert np.abs(centre - np.array(CameraFile.colour_of(index))).max() < 30
    stamps = [f.timestamp_us for f in frames]
    assert stamps == sorted(stamps)
    # Files are paced at their frame rate, like a live camera.
    elapsed_s = (stamps[-1] - stamps[0]) / 1e6
    assert elapsed_s == pytest.approx((camera_file.frame_count - 1) / camera_file.fps, rel=0.3)


def test_file_source_loops(camera_file: CameraFile) -> None:
    source = FileSource(str(camera_file.path))
    queue = source.frames.subscribe("test", maxsize=10_000)
    source.start()
    deadline = time.monotonic() + 15
    while queue.stats().pending < camera_file.frame_count + 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    source.stop()
    frames = list(iter(queue.get_nowait, None))
    assert len(frames) > camera_file.frame_count
    assert [f.sequence for f in frames] == list(range(len(frames)))


def test_missing_camera_index_is_a_clear_error() -> None:
    camera = CameraSource(57)
    with pytest.raises(MediaError) as info:
        camera.start()
    assert info.value.code is MediaErrorCode.DEVICE_NOT_FOUND
    assert "camera 57" in str(info.value) and "broadcaster devices" in info.value.hint
    assert camera.state is SourceState.FAILED


def test_missing_device_path_and_file(tmp_path: Path) -> None:
    for device in ("/dev/video97", str(tmp_path / "nope.mp4")):
        with pytest.raises(MediaError) as info:
            CameraSource(device).start()
        assert info.value.code is MediaErrorCode.DEVICE_NOT_FOUND
        assert device in str(info.value)


def test_something_that_is_not_a_camera_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a video")
    with pytest.raises(MediaError) as info:
        CameraSource(str(junk)).start()
    assert info.value.code is MediaErrorCode.DEVICE_BUSY


def test_parse_device_names() -> None:
    assert parse_camera_device("2") == 2
    assert parse_camera_device("/dev/video0") == "/dev/video0"
    with pytest.raises(MediaError):
        parse_camera_device("  ")


@pytest.mark.slow
def test_network_camera_unplugged_mid_capture_is_reported(camera_file: CameraFile) -> None:
    """A stream camera whose sender dies: DEVICE_LOST event, and the source can start again."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is missing; run ./scripts/setup"
    url = f"tcp://127.0.0.1:{free_port()}"

    def serve() -> subprocess.Popen[bytes]:
        return processes.popen(
            [
                ffmpeg, "-v", "error", "-re", "-stream_loop", "-1", "-i", str(camera_file.path),
                "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency",
                "-f", "mpegts", f"{url}?listen=1",
            ],
        )  # fmt: skip

    sender = serve()
    events: list[SourceEvent] = []
    lost = threading.Event()
    camera = CameraSource(url, name="network camera")

    def on_event(event: SourceEvent) -> None:
        events.append(event)
        if event.state is SourceState.FAILED:
            lost.set()

    queue = camera.frames.subscribe("test", maxsize=1000)
    try:
        deadline = time.monotonic() + 10
        while True:  # the listener may take a moment to come up
            try:
                camera.start()
                break
            except MediaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        camera.add_listener(on_event)
        time.sleep(1.0)
        assert queue.stats().pending > 5
        sender.kill()
        assert lost.wait(20), "the lost stream was not reported"
        assert camera.last_error is not None
        assert camera.last_error.code is MediaErrorCode.DEVICE_LOST
        assert "start it again" in camera.last_error.hint
    finally:
        sender.kill()
        sender.wait()
        camera.stop()


class _Nv12Device:
    """What OpenCV's V4L2 backend hands for an NV12 camera with ``CAP_PROP_CONVERT_RGB`` off:
    each ``read()`` a new flat array of w*h*3/2 bytes (no NV12 camera can run on CI machines)."""

    def __init__(self, width: int, height: int) -> None:
        self.size = width * height * 3 // 2
        self.handed: list[np.ndarray] = []

    def read(self) -> tuple[bool, np.ndarray]:
        raw = np.full((1, self.size), len(self.handed) + 1, np.uint8)
        self.handed.append(raw)
        return True, raw


def test_an_nv12_cameras_frames_are_handed_on_as_delivered() -> None:
    from desktop.media.camera import CameraPixels

    camera = CameraSource(0, 64, 36)
    device = _Nv12Device(64, 36)
    # The state _open leaves for a camera it found delivering NV12 (_use_native_pixels).
    camera._capture = device  # type: ignore[assignment]
    camera._pixels, camera._width, camera._height = CameraPixels.NV12, 64, 36
    frames = [camera._read() for _ in range(3)]
    for n, frame in enumerate(frames):
        assert frame is not None and frame.format is PixelFormat.NV12
        assert (frame.width, frame.height, frame.sequence) == (64, 36, n)
        # The very buffer the device handed: not converted, not copied.
        assert np.shares_memory(frame.data, device.handed[n]) and frame.data.ndim == 1
        assert int(frame.data[0]) == n + 1
