"""The direct program: camera, screen and microphone composed, encoded once, sent to many.

This is what goes out when the studio streams by itself (no LiveKit egress): the host's camera,
or the screen with the camera as a picture-in-picture, plus the microphone. One video thread
composes and encodes at a constant frame rate from the newest frames; one audio thread keeps
the audio continuous (silence fills gaps, so a stalled microphone never stalls the stream).
Outputs are added and removed while it runs, each on its own thread (see :mod:`.output`).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.fanout import FrameQueue
from desktop.media.frames import AudioFrame, PixelFormat, VideoFrame
from desktop.media.outputs.destinations import RtmpTarget
from desktop.media.outputs.encoder import (
    AUDIO_SAMPLE_RATE_HZ,
    EncodedPacket,
    EncoderSettings,
    ProgramEncoder,
)
from desktop.media.outputs.output import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MIN_FREE_BYTES,
    DEFAULT_RETRY_BASE_S,
    NETWORK_TIMEOUT_S,
    Output,
    OutputKind,
    OutputListener,
    OutputStatus,
    recording_path,
)
from desktop.media.threaded import Pacer

logger = logging.getLogger(__name__)

AUDIO_BLOCK_SAMPLES = AUDIO_SAMPLE_RATE_HZ // 100
AUDIO_SLACK_SAMPLES = AUDIO_SAMPLE_RATE_HZ // 5
"""How far the microphone may lag or lead the program clock (200 ms) before it is corrected."""
Y_BLACK, UV_NEUTRAL = 16, 128
PIP_FRACTION = 0.25
"""Picture-in-picture camera width as a share of the program width."""

_UNCHANGED = object()


class ProgramLayout(enum.Enum):
    """What the picture shows."""

    AUTO = "auto"
    """Screen with the camera in a corner while sharing; the camera otherwise."""
    CAMERA = "camera"
    """The camera alone."""
    SCREEN = "screen"
    """The screen alone."""
    SCREEN_WITH_CAMERA = "screen+camera"
    """The screen with the camera picture-in-picture."""


def _black_i420(width: int, height: int) -> npt.NDArray[np.uint8]:
    out = np.empty(width * height * 3 // 2, np.uint8)
    out[: width * height] = Y_BLACK
    out[width * height :] = UV_NEUTRAL
    return out


def _planes(
    buf: npt.NDArray[np.uint8], width: int, height: int
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    y_size, c_size = width * height, (width // 2) * (height // 2)
    return (
        buf[:y_size].reshape(height, width),
        buf[y_size : y_size + c_size].reshape(height // 2, width // 2),
        buf[y_size + c_size :].reshape(height // 2, width // 2),
    )


def fit_rect(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """Where a picture goes inside another keeping its aspect: x, y, w, h (all even)."""
    scale = min(dst_w / src_w, dst_h / src_h)
    w = max(2, int(src_w * scale) // 2 * 2)
    h = max(2, int(src_h * scale) // 2 * 2)
    return (dst_w - w) // 4 * 2, (dst_h - h) // 4 * 2, w, h


def draw_i420(
    frame: VideoFrame, dst: npt.NDArray[np.uint8], dst_w: int, dst_h: int,
    rect: tuple[int, int, int, int],
) -> None:  # fmt: skip
    """Scale ``frame`` into ``rect`` of the I420 picture ``dst`` (converting BGRA once)."""
    x, y, w, h = rect
    if frame.format is PixelFormat.BGRA:
        bgra: npt.NDArray[np.uint8] = frame.data.reshape(frame.height, frame.width, 4)
        if (frame.width, frame.height) != (w, h):
            bgra = np.asarray(cv2.resize(bgra, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
        yuv = cv2.cvtColor(bgra, cv2.COLOR_BGRA2YUV_I420)
        src: npt.NDArray[np.uint8] = np.ascontiguousarray(yuv, np.uint8).reshape(-1)
        src_w, src_h = w, h
    else:
        src, src_w, src_h = frame.data, frame.width, frame.height
    dst_planes = _planes(dst, dst_w, dst_h)
    for i, plane in enumerate(_planes(src, src_w, src_h)):
        div = 1 if i == 0 else 2
        px, py, pw, ph = x // div, y // div, w // div, h // div
        if plane.shape != (ph, pw):
            plane = np.asarray(cv2.resize(plane, (pw, ph), interpolation=cv2.INTER_AREA), np.uint8)
        dst_planes[i][py : py + ph, px : px + pw] = plane


def compose(
    camera: VideoFrame | None,
    screen: VideoFrame | None,
    layout: ProgramLayout,
    width: int,
    height: int,
) -> npt.NDArray[np.uint8]:
    """The program picture (I420, ``width`` x ``height``) for the newest frames and a layout.

    A camera frame already of the program size in I420 is passed on without a copy.
    """
    if layout is ProgramLayout.AUTO:
        layout = ProgramLayout.SCREEN_WITH_CAMERA if screen is not None else ProgramLayout.CAMERA
    main = screen if layout in (ProgramLayout.SCREEN, ProgramLayout.SCREEN_WITH_CAMERA) else camera
    if (
        main is not None
        and layout is not ProgramLayout.SCREEN_WITH_CAMERA
        and main.format is PixelFormat.I420
        and (main.width, main.height) == (width, height)
    ):
        return main.data
    out = _black_i420(width, height)
    if main is not None:
        draw_i420(main, out, width, height, fit_rect(main.width, main.height, width, height))
    if layout is ProgramLayout.SCREEN_WITH_CAMERA and camera is not None:
        pip_w = max(2, int(width * PIP_FRACTION) // 2 * 2)
        pip_h = max(2, int(pip_w * camera.height / camera.width) // 2 * 2)
        margin = max(2, width // 64 * 2 // 2 * 2)
        rect = (width - pip_w - margin, height - pip_h - margin, pip_w, pip_h)
        draw_i420(camera, out, width, height, rect)
    return out


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """How outputs behave when things go wrong."""

    max_retries: int = DEFAULT_MAX_RETRIES
    """RTMP attempts after the first before giving up (no retry storm on the platform)."""
    retry_base_s: float = DEFAULT_RETRY_BASE_S
    """First back-off delay; doubles per attempt."""
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    """Free space a recording keeps on its disk."""
    network_timeout_s: float = NETWORK_TIMEOUT_S
    """An RTMP server silent (no handshake answer, no data taken) this long is cut and retried."""


class DirectBroadcast:
    """The studio's own program and its outputs (RTMP destinations and local recording).

    The encoder runs while at least one output exists; adding or removing an output never
    restarts the encoder or the other outputs.

    Args:
        settings: Program size, rate, bitrates.
        options: Retry and disk-space behaviour.
        listener: Called (on an output's thread) with each output's new status.
    """

    def __init__(
        self,
        settings: EncoderSettings | None = None,
        options: OutputOptions | None = None,
        listener: OutputListener | None = None,
    ) -> None:
        self.settings = settings or EncoderSettings()
        self.settings.check()
        self.options = options or OutputOptions()
        self.layout = ProgramLayout.AUTO
        """What the picture shows (may change while live)."""
        self._listener = listener
        self._lock = threading.Lock()
        self._outputs: dict[str, Output] = {}
        self._camera: VideoCaptureSource | None = None
        self._screen: VideoCaptureSource | None = None
        self._mic: AudioCaptureSource | None = None
        self._camera_q: FrameQueue[VideoFrame] | None = None
        self._screen_q: FrameQueue[VideoFrame] | None = None
        self._mic_q: FrameQueue[AudioFrame] | None = None
        self._encoder: ProgramEncoder | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0_s = 0.0
        self.encode_cpu_s = 0.0
        """CPU time the video thread spent composing and encoding (for benchmarks)."""

    # -- sources -----------------------------------------------------------------------------

    def set_sources(
        self,
        camera: VideoCaptureSource | None | object = _UNCHANGED,
        screen: VideoCaptureSource | None | object = _UNCHANGED,
        microphone: AudioCaptureSource | None | object = _UNCHANGED,
    ) -> None:
        """Choose what the program shows and plays; may be called while live."""
        with self._lock:
            if camera is not _UNCHANGED:
                if self._camera_q is not None and self._camera is not None:
                    self._camera.frames.unsubscribe(self._camera_q)
                self._camera = camera  # type: ignore[assignment]
                self._camera_q = (
                    self._camera.frames.subscribe("program", 1) if self._camera else None
                )
            if screen is not _UNCHANGED:
                if self._screen_q is not None and self._screen is not None:
                    self._screen.frames.unsubscribe(self._screen_q)
                self._screen = screen  # type: ignore[assignment]
                self._screen_q = (
                    self._screen.frames.subscribe("program", 1) if self._screen else None
                )
            if microphone is not _UNCHANGED:
                if self._mic_q is not None and self._mic is not None:
                    self._mic.frames.unsubscribe(self._mic_q)
                self._mic = microphone  # type: ignore[assignment]
                self._mic_q = self._mic.frames.subscribe("program", 50) if self._mic else None

    # -- outputs -----------------------------------------------------------------------------

    def add_rtmp(self, output_id: str, target: RtmpTarget) -> Output:
        """Start sending to an RTMP destination (the others go on untouched)."""
        return self._add(output_id, OutputKind.RTMP, rtmp=target)

    def start_recording(self, target: str | Path, output_id: str = "recording") -> Output:
        """Start recording the program to a file or a folder (crash-safe .mkv or .mp4)."""
        return self._add(output_id, OutputKind.FILE, path=recording_path(target))

    def _add(
        self,
        output_id: str,
        kind: OutputKind,
        rtmp: RtmpTarget | None = None,
        path: Path | None = None,
    ) -> Output:
        with self._lock:
            if output_id in self._outputs:
                raise MediaError(
                    MediaErrorCode.INVALID_ARGUMENT, output_id, "this output is already on",
                    "switch it off first",
                )  # fmt: skip
            encoder = self._ensure_encoder()
            output = Output(
                output_id, kind, encoder, rtmp=rtmp, path=path,
                max_retries=self.options.max_retries, retry_base_s=self.options.retry_base_s,
                min_free_bytes=self.options.min_free_bytes, listener=self._listener,
                network_timeout_s=self.options.network_timeout_s,
            )  # fmt: skip
            self._outputs[output_id] = output
        output.start()
        return output

    def remove(self, output_id: str) -> OutputStatus | None:
        """Switch one output off (its stream or file is closed cleanly); returns its last status."""
        with self._lock:
            output = self._outputs.pop(output_id, None)
        if output is None:
            return None
        output.stop()
        with self._lock:
            if not self._outputs:
                self._stop_encoder()
        return output.status

    def retry_now(self, output_id: str) -> None:
        """Retry a failed or waiting output at once."""
        with self._lock:
            output = self._outputs.get(output_id)
        if output is not None:
            output.retry_now()

    def statuses(self) -> dict[str, OutputStatus]:
        """Every output's current status, by id."""
        with self._lock:
            return {key: out.status for key, out in self._outputs.items()}

    @property
    def encoder_name(self) -> str:
        """The H.264 encoder in use ('' while no output runs)."""
        return self._encoder.video_encoder_name if self._encoder else ""

    def close(self) -> None:
        """Stop every output and the encoder."""
        with self._lock:
            outputs = list(self._outputs.values())
            self._outputs.clear()
        for output in outputs:
            output.stop()
        with self._lock:
            self._stop_encoder()
        self.set_sources(None, None, None)

    # -- encoding threads --------------------------------------------------------------------

    def _ensure_encoder(self) -> ProgramEncoder:
        if self._encoder is None:
            self._encoder = ProgramEncoder(self.settings, audio_channels=1)
            self._stop = threading.Event()
            self._t0_s = time.monotonic()
            self._threads = [
                threading.Thread(target=self._video_loop, name="bc-program-video", daemon=True),
                threading.Thread(target=self._audio_loop, name="bc-program-audio", daemon=True),
            ]
            for thread in self._threads:
                thread.start()
        return self._encoder

    def _stop_encoder(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5.0)
        self._threads = []
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None

    def _send(self, packets: list[EncodedPacket]) -> None:
        if not packets:
            return
        with self._lock:
            outputs = list(self._outputs.values())
        for output in outputs:
            for packet in packets:
                output.feed(packet)

    def _video_loop(self) -> None:
        encoder = self._encoder
        assert encoder is not None
        s = self.settings
        pacer = Pacer(1.0 / s.fps, self._stop)
        camera: VideoFrame | None = None
        screen: VideoFrame | None = None
        last_pts_ms = -1
        while pacer.wait():
            started = time.thread_time()
            with self._lock:
                camera_q, screen_q = self._camera_q, self._screen_q
            camera = (camera_q.take_latest() or camera) if camera_q else None
            screen = (screen_q.take_latest() or screen) if screen_q else None
            picture = compose(camera, screen, self.layout, s.width, s.height)
            pts_ms = round((time.monotonic() - self._t0_s) * 1000)
            if pts_ms <= last_pts_ms:
                continue
            last_pts_ms = pts_ms
            try:
                packets = encoder.encode_video(picture, pts_ms)
            except Exception:
                logger.exception("encoding a picture failed")
                continue
            self.encode_cpu_s += time.thread_time() - started
            self._send(packets)

    def _audio_loop(self) -> None:
        encoder = self._encoder
        assert encoder is not None
        done = 0
        silence = np.zeros(AUDIO_BLOCK_SAMPLES, np.int16)
        while not self._stop.is_set():
            with self._lock:
                mic_q = self._mic_q
            frame = mic_q.get(timeout_s=0.02) if mic_q is not None else None
            if mic_q is None:
                self._stop.wait(0.01)
            expected = int((time.monotonic() - self._t0_s) * AUDIO_SAMPLE_RATE_HZ)
            packets: list[EncodedPacket] = []
            if frame is not None:
                samples = _to_mono_48k(frame)
                if done > expected + AUDIO_SLACK_SAMPLES:
                    continue  # the microphone runs ahead of the program clock: drop a block
                if done + samples.shape[0] < expected - AUDIO_SLACK_SAMPLES:
                    # A gap (device hiccup): fill with silence so the picture stays in sync.
                    gap = expected - samples.shape[0] - done
                    packets += encoder.encode_audio(np.zeros(gap, np.int16), done)
                    done += gap
                packets += encoder.encode_audio(samples, done)
                done += samples.shape[0]
            else:
                # No microphone, or it went quiet: keep the stream's audio going with silence.
                lag = AUDIO_SLACK_SAMPLES // 2 if mic_q is not None else 0
                while done + AUDIO_BLOCK_SAMPLES <= expected - lag:
                    packets += encoder.encode_audio(silence, done)
                    done += AUDIO_BLOCK_SAMPLES
            self._send(packets)


def _to_mono_48k(frame: AudioFrame) -> npt.NDArray[np.int16]:
    data = frame.data
    if frame.num_channels > 1:
        data = data.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
    if frame.sample_rate_hz != AUDIO_SAMPLE_RATE_HZ:
        count = data.shape[0] * AUDIO_SAMPLE_RATE_HZ // frame.sample_rate_hz
        positions = np.linspace(0, data.shape[0] - 1, count)
        data = np.interp(positions, np.arange(data.shape[0]), data).astype(np.int16)
    return data
