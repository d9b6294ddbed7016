"""One encoder thread per output: H.264 + AAC with PyAV into an MP4 file or an FLV RTMP push.

Outputs are independent: a URL that refuses the connection fails alone, and removing one never
touches the others. Sizes are small on purpose: this is test equipment on a two-core machine.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from tests.egress_standin.encoding import Profile

logger = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS = 640, 360, 15
SAMPLE_RATE_HZ = 48_000
SAMPLES_PER_TICK = SAMPLE_RATE_HZ // FPS
OUTPUT_QUEUE = 30
RTMP_IO_TIMEOUT_US = 5_000_000


RTMP_URL_RE = re.compile(r"^(rtmps?://)(.*/)(.*/)(\S*)( live=1)?$")


def mask_url(url: str) -> str:
    """Hide the stream key as LiveKit's egress does: ``rtmp://host/app/{abc...xyz}``.

    The key is the last path segment after an application; up to three characters of each
    end stay visible (three for keys of nine or more, two for six or more, one for three or
    more, none below). A URL without an application path is returned as it is, as LiveKit's.
    """
    match = RTMP_URL_RE.match(url)
    if match is None:
        return url
    key = match.group(4)
    shown = next((n for n in (3, 2, 1) if len(key) >= n * 3), 0)
    hidden = "{" + key[:shown] + "..." + (key[len(key) - shown :] if shown else "") + "}"
    return match.group(1) + match.group(2) + match.group(3) + hidden + (match.group(5) or "")


@dataclass(frozen=True)
class Program:
    """One tick of the composed program."""

    rgb: npt.NDArray[np.uint8]
    """HEIGHT × WIDTH × 3 picture."""
    audio: npt.NDArray[np.int16]
    """SAMPLES_PER_TICK mono samples at 48 kHz."""


class Output(threading.Thread):
    """Encodes the program and muxes it to one file or URL.

    Args:
        target: File path or ``rtmp(s)://`` URL.
        container_format: ``mp4`` or ``flv``.
        on_started: Called (on this thread) once the container is open.
        on_ended: Called (on this thread) when the output ends, with its error or "".
        profile: Size, codecs and bitrates asked for (None: the stand-in's small default).
    """

    def __init__(
        self,
        target: str,
        container_format: str,
        on_started: Callable[[Output], Any],
        on_ended: Callable[[Output], Any],
        profile: Profile | None = None,
    ) -> None:
        super().__init__(name=f"egress-output-{mask_url(target)}", daemon=True)
        self.target = target
        self.container_format = container_format
        self.profile = profile
        self._on_started = on_started
        self._on_ended = on_ended
        self.queue: queue.Queue[Program | None] = queue.Queue(OUTPUT_QUEUE)
        self.error = ""
        self.finished = threading.Event()
        self.duration_s = 0.0

    def push(self, program: Program | None) -> None:
        """Hand over a tick (dropping the oldest when this output is slow); None ends it.

        Ending drops the ticks still queued: a stop answers promptly, as LiveKit's egress
        does, even when a busy machine left this encoder seconds behind.
        """
        if program is None:
            with contextlib.suppress(queue.Empty):
                while True:
                    self.queue.get_nowait()
        while not self.finished.is_set():
            try:
                self.queue.put_nowait(program)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()

    def run(self) -> None:
        try:
            self._encode()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            logger.info("output %s failed: %s", mask_url(self.target), self.error)
        finally:
            self.finished.set()
            self._on_ended(self)

    def container_options(self) -> dict[str, str]:
        """Options of the muxer (HLS outputs add theirs)."""
        return {"rw_timeout": str(RTMP_IO_TIMEOUT_US)} if self.target.startswith("rtmp") else {}

    def on_muxed(self) -> None:
        """Called on this thread after each tick is muxed (HLS outputs follow their segments)."""

    def _encode(self) -> None:
        options = self.container_options()
        container = av.open(self.target, "w", format=self.container_format, options=options)
        profile = self.profile
        try:
            video = container.add_stream(profile.video_codec if profile else "libx264", rate=FPS)
            assert isinstance(video, av.VideoStream)
            video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            video.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(FPS * 2)}
            if profile is not None:
                video.width, video.height = profile.width, profile.height
                video.options = dict(_video_options(profile))
                video.bit_rate = profile.video_bitrate_bps
            audio = container.add_stream(
                profile.audio_codec if profile else "aac", rate=SAMPLE_RATE_HZ
            )
            assert isinstance(audio, av.AudioStream)
            audio.layout = "mono"
            if profile is not None:
                audio.bit_rate = profile.audio_bitrate_bps
            fifo = av.AudioFifo()
            # Opus takes 20 ms frames exactly; AAC 1024 samples.
            block_samples = 960 if audio.codec_context.name == "libopus" else 1024
            self._on_started(self)
            frames = 0
            samples = 0
            while True:
                program = self.queue.get()
                if program is None:
                    break
                frame = av.VideoFrame.from_ndarray(program.rgb, format="rgb24")
                if (video.width, video.height) != (WIDTH, HEIGHT):
                    frame = frame.reformat(video.width, video.height, "yuv420p")
                frame.pts = frames
                frames += 1
                for packet in video.encode(frame):
                    container.mux(packet)
                chunk = av.AudioFrame.from_ndarray(
                    program.audio.reshape(1, -1), format="s16", layout="mono"
                )
                chunk.sample_rate = SAMPLE_RATE_HZ
                chunk.pts = samples
                samples += program.audio.size
                fifo.write(chunk)
                while (block := fifo.read(block_samples)) is not None:
                    for packet in audio.encode(block):
                        container.mux(packet)
                self.duration_s = frames / FPS
                self.on_muxed()
            for stream in (video, audio):
                for packet in stream.encode(None):
                    container.mux(packet)
        finally:
            container.close()


def _video_options(profile: Profile) -> dict[str, object]:
    """Encoder options that hold the asked bitrate (padded when the picture is simple)."""
    rate = str(profile.video_bitrate_bps)
    if profile.video_codec == "libvpx":
        return {"deadline": "realtime", "cpu-used": "16", "g": str(FPS * 2),
                "minrate": rate, "maxrate": rate, "bufsize": rate}  # fmt: skip
    return {"preset": "ultrafast", "tune": "zerolatency", "g": str(FPS * 2),
            "x264-params": "nal-hrd=cbr:force-cfr=1", "maxrate": rate, "minrate": rate,
            "bufsize": rate}  # fmt: skip
