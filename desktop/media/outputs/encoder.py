"""One encoder per encoding profile of the program, whose packets any number of outputs mux.

Encoding is the expensive part of going live; muxing is cheap. So the program is encoded once
per profile (codec, size, rate, bitrates: :class:`EncoderSettings`) and every output that wants
that profile receives the same packets (as OBS does), each muxing them into its own container:
every RTMP destination shares one H.264 + AAC encode, while a WebM recording (VP8/VP9 + Opus)
or a recording at another bitrate gets an encoder of its own. The encoder streams live in a
``null`` container that is never written: it only gives them the codec parameters (SPS/PPS,
AudioSpecificConfig, OpusHead) that each output's streams are created from.
"""

from __future__ import annotations

import enum
import functools
import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from desktop.media.errors import MediaError, MediaErrorCode
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    import av
    import av.container
    import av.stream
else:
    # PyAV is imported when the first encoder is made: the studio's window need not wait.
    av = lazy_module("av")

logger = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 1000)
"""Milliseconds: what FLV carries, and fine enough for any frame rate we encode."""
AUDIO_SAMPLE_RATE_HZ = 48_000
SOFTWARE_ENCODER = "libx264"

# Hardware H.264 encoders PyAV may offer, best first per platform. Each is tried by opening it
# and encoding one frame; a missing GPU or driver fails that test and the next is tried.
_HARDWARE_ENCODERS = {
    "darwin": ("h264_videotoolbox",),
    "win32": ("h264_nvenc", "h264_qsv", "h264_amf", "h264_mf"),
    "linux": ("h264_nvenc", "h264_qsv"),
}


class VideoCodec(enum.Enum):
    """Video codec of an encoding profile."""

    H264 = "h264"
    """H.264 (RTMP, MP4, Matroska, HLS); a hardware encoder when one works, else libx264."""
    VP8 = "vp8"
    """VP8 (WebM) with libvpx in real-time mode."""
    VP9 = "vp9"
    """VP9 (WebM) with libvpx-vp9 in real-time mode (smaller files, more CPU)."""


class AudioCodec(enum.Enum):
    """Audio codec of an encoding profile."""

    AAC = "aac"
    """AAC-LC (RTMP, MP4, Matroska, HLS)."""
    OPUS = "opus"
    """Opus (WebM)."""


VIDEO_CODEC_NAMES = {VideoCodec.H264: "H.264", VideoCodec.VP8: "VP8", VideoCodec.VP9: "VP9"}
AUDIO_CODEC_NAMES = {AudioCodec.AAC: "AAC", AudioCodec.OPUS: "Opus"}
_VPX_ENCODERS = {VideoCodec.VP8: "libvpx", VideoCodec.VP9: "libvpx-vp9"}
_AUDIO_ENCODERS = {AudioCodec.AAC: "aac", AudioCodec.OPUS: "libopus"}


@dataclass(frozen=True, slots=True)
class EncoderSettings:
    """What the program is encoded as: one encoding profile.

    Outputs whose profiles are equal share one encoder; each distinct profile costs one more.
    """

    width: int = 1280
    """Output width (even)."""
    height: int = 720
    """Output height (even)."""
    fps: int = 30
    """Constant output frame rate."""
    video_bitrate_bps: int = 3_500_000
    """Target video bitrate (YouTube recommends 2.5–4 Mb/s at 720p30)."""
    audio_bitrate_bps: int = 128_000
    """AAC bitrate."""
    keyframe_interval_s: float = 2.0
    """Platforms want a keyframe at least every 2–4 s; outputs also start on one."""
    encoder: str | None = None
    """Force an H.264 encoder by name; ``None`` picks hardware when it works, else libx264."""
    video_codec: VideoCodec = VideoCodec.H264
    """Video codec."""
    audio_codec: AudioCodec = AudioCodec.AAC
    """Audio codec."""

    def describe(self) -> str:
        """The profile in a host's words, e.g. ``H.264 + AAC, 1280x720 30 fps, 3.5 Mb/s``."""
        video = VIDEO_CODEC_NAMES[self.video_codec]
        audio = AUDIO_CODEC_NAMES[self.audio_codec]
        return (
            f"{video} + {audio}, {self.width}x{self.height} {self.fps} fps, "
            f"{self.video_bitrate_bps / 1e6:.1f} Mb/s"
        )

    def check(self) -> None:
        """Raise :class:`MediaError` if a setting cannot be encoded."""
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise MediaError(
                MediaErrorCode.INVALID_ARGUMENT, "program", f"size {self.width}x{self.height}",
                "width and height must be even and at least 16",
            )  # fmt: skip
        if not 1 <= self.fps <= 120:
            raise MediaError(
                MediaErrorCode.INVALID_ARGUMENT, "program", f"frame rate {self.fps}",
                "use 1 to 120 frames per second",
            )  # fmt: skip
        if self.video_bitrate_bps < 100_000:
            raise MediaError(
                MediaErrorCode.INVALID_ARGUMENT, "program",
                f"video bitrate {self.video_bitrate_bps} b/s is too low", "use at least 100000",
            )  # fmt: skip


@dataclass(frozen=True, slots=True)
class EncodedPacket:
    """An encoded access unit, shared read-only by every output."""

    is_video: bool
    """Video (H.264) or audio (AAC)."""
    data: bytes
    """The payload."""
    pts: int
    """Presentation time in ``time_base``."""
    dts: int
    """Decode time in ``time_base``."""
    time_base: Fraction
    """Unit of ``pts``/``dts``."""
    is_keyframe: bool
    """Video: an IDR picture an output may start on. Audio: always true."""

    @property
    def pts_s(self) -> float:
        """Presentation time in seconds."""
        return float(self.pts * self.time_base)


def _encoder_options(name: str, settings: EncoderSettings) -> dict[str, str]:
    gop = max(1, round(settings.fps * settings.keyframe_interval_s))
    if name in _VPX_ENCODERS.values():
        # Real-time mode at its fastest speed and no look-ahead: a frame leaves the encoder at
        # once, and quality comes from the bitrate, which a recording has plenty of. One thread:
        # libvpx's worker threads spin and, on a busy two-core laptop, cost several times the
        # CPU they save (measured: 720p VP8 ~7 ms of CPU a frame with one, 14–44 with two).
        return {
            "deadline": "realtime",
            "cpu-used": "16" if name == "libvpx" else "8",
            "lag-in-frames": "0",
            "g": str(gop),
            "keyint_min": str(gop),
            "auto-alt-ref": "0",
            "threads": "1",
        }
    if name == SOFTWARE_ENCODER:
        # veryfast + zerolatency: no B-frames and no lookahead, so a frame leaves the encoder as
        # soon as it is coded; CPU stays within a laptop's budget at 720p30.
        return {
            "preset": "veryfast",
            "tune": "zerolatency",
            "g": str(gop),
            "keyint_min": str(gop),
            "sc_threshold": "0",
            "bf": "0",
        }
    return {"g": str(gop), "bf": "0"}


def _configure_video(ctx: Any, name: str, settings: EncoderSettings) -> None:
    ctx.width = settings.width
    ctx.height = settings.height
    ctx.pix_fmt = "nv12" if name in ("h264_qsv", "h264_videotoolbox") else "yuv420p"
    ctx.time_base = VIDEO_TIME_BASE
    ctx.framerate = Fraction(settings.fps, 1)
    ctx.bit_rate = settings.video_bitrate_bps
    # Constrain the peaks too: an RTMP ingest judges the stream by its worst second.
    ctx.options = {
        **_encoder_options(name, settings),
        "maxrate": str(settings.video_bitrate_bps),
        "bufsize": str(settings.video_bitrate_bps * 2),
    }


def _encoder_works(name: str, settings: EncoderSettings) -> bool:
    try:
        ctx: Any = av.CodecContext.create(name, "w")
        _configure_video(ctx, name, settings)
        ctx.open()
        frame = av.VideoFrame(settings.width, settings.height, "yuv420p")
        if ctx.pix_fmt != "yuv420p":
            frame = frame.reformat(format=ctx.pix_fmt)
        frame.pts = 0
        frame.time_base = VIDEO_TIME_BASE
        ctx.encode(frame)
        ctx.encode(None)
        return True
    except (av.FFmpegError, ValueError, OSError) as error:
        logger.debug("H.264 encoder %s unavailable: %s", name, error)
        return False


def hardware_candidates() -> Sequence[str]:
    """Hardware H.264 encoders worth trying on this platform, best first."""
    platform = "linux" if sys.platform.startswith("linux") else sys.platform
    available = av.codecs_available
    return tuple(n for n in _HARDWARE_ENCODERS.get(platform, ()) if n in available)


@functools.cache
def pick_video_encoder(width: int, height: int, candidates: tuple[str, ...] | None = None) -> str:
    """The H.264 encoder to use: the first hardware one that opens and encodes, else libx264.

    ``BROADCASTER_H264_ENCODER`` forces one by name. The result is cached per size because a
    hardware encoder may accept one size and refuse another.
    """
    forced = os.environ.get("BROADCASTER_H264_ENCODER")
    if forced:
        return forced
    probe = EncoderSettings(width=width, height=height)
    for name in hardware_candidates() if candidates is None else candidates:
        if _encoder_works(name, probe):
            logger.info("using hardware H.264 encoder %s", name)
            return name
    return SOFTWARE_ENCODER


class ProgramEncoder:
    """Encodes the program's I420 pictures and 48 kHz audio once, for every output of a profile.

    Thread-safe: video and audio may be encoded from different threads; outputs create their
    streams from :attr:`video_template` and :attr:`audio_template` at any time.

    Args:
        settings: The profile: codecs, size, rate, bitrates and encoder choice.
        audio_channels: 1 (mono microphone) or 2.
    """

    def __init__(self, settings: EncoderSettings, audio_channels: int = 1) -> None:
        settings.check()
        self.settings = settings
        self.audio_channels = audio_channels
        if settings.video_codec is VideoCodec.H264:
            self.video_encoder_name = settings.encoder or pick_video_encoder(
                settings.width, settings.height
            )
        else:
            self.video_encoder_name = _VPX_ENCODERS[settings.video_codec]
        self._closed = False
        self._video_lock = threading.Lock()
        self._audio_lock = threading.Lock()
        self._keyframe_requested = threading.Event()
        self._holder: av.container.OutputContainer = av.open(os.devnull, "w", format="null")
        try:
            video: Any = self._holder.add_stream(self.video_encoder_name, rate=settings.fps)
        except (av.FFmpegError, ValueError) as error:
            raise MediaError(
                MediaErrorCode.OUTPUT_FAILED, "encoder",
                f"the video encoder {self.video_encoder_name!r} is not available ({error})",
                "leave the encoder on automatic",
            ) from None  # fmt: skip
        _configure_video(video.codec_context, self.video_encoder_name, settings)
        video.time_base = VIDEO_TIME_BASE
        # Outputs (FLV, MP4, MKV) want SPS/PPS in the stream header, not only in-band.
        video.codec_context.flags |= av.codec.context.Flags.global_header
        layout = "mono" if audio_channels == 1 else "stereo"
        audio: Any = self._holder.add_stream(
            _AUDIO_ENCODERS[settings.audio_codec], rate=AUDIO_SAMPLE_RATE_HZ, layout=layout
        )
        audio.codec_context.bit_rate = settings.audio_bitrate_bps
        audio.codec_context.flags |= av.codec.context.Flags.global_header
        try:
            self._holder.start_encoding()
        except (av.FFmpegError, ValueError) as error:
            raise MediaError(
                MediaErrorCode.OUTPUT_FAILED, "encoder",
                f"the encoder could not start ({error})", "try a lower size or frame rate",
            ) from None  # fmt: skip
        self.video_template: av.stream.Stream = video
        """Stream that outputs copy their video parameters from."""
        self.audio_template: av.stream.Stream = audio
        """Stream that outputs copy their audio parameters from."""
        self._video_ctx: Any = video.codec_context
        self._audio_ctx: Any = audio.codec_context
        self._silence_samples = 0
        self.video_frames = 0
        """Pictures encoded so far."""

    def request_keyframe(self) -> None:
        """Make the next picture an IDR one (an output just connected and must start on one)."""
        self._keyframe_requested.set()

    def encode_video(self, i420: npt.NDArray[np.uint8], pts_ms: int) -> list[EncodedPacket]:
        """Encode one picture (I420 of the program size) shown at ``pts_ms``."""
        s = self.settings
        frame = av.VideoFrame(s.width, s.height, "yuv420p")
        _fill_i420(frame, i420, s.width, s.height)
        if self._video_ctx.pix_fmt != "yuv420p":
            frame = frame.reformat(format=self._video_ctx.pix_fmt)
        frame.pts = pts_ms
        frame.time_base = VIDEO_TIME_BASE
        if self._keyframe_requested.is_set():
            self._keyframe_requested.clear()
            frame.pict_type = av.video.frame.PictureType.I
        with self._video_lock:
            if self._closed:
                return []
            packets = self._video_ctx.encode(frame)
            self.video_frames += 1
        return [_wrap(p, True) for p in packets]

    def encode_audio(self, samples: npt.NDArray[np.int16], pts_samples: int) -> list[EncodedPacket]:
        """Encode interleaved 16-bit samples at 48 kHz starting at sample ``pts_samples``."""
        frame = av.AudioFrame.from_ndarray(
            samples.reshape(1, -1), format="s16",
            layout="mono" if self.audio_channels == 1 else "stereo",
        )  # fmt: skip
        frame.sample_rate = AUDIO_SAMPLE_RATE_HZ
        frame.pts = pts_samples
        frame.time_base = Fraction(1, AUDIO_SAMPLE_RATE_HZ)
        with self._audio_lock:
            if self._closed:
                return []
            packets = self._audio_ctx.encode(frame)
        return [_wrap(p, False) for p in packets]

    def close(self) -> None:
        """Release the encoders (pending packets are dropped: outputs have stopped)."""
        with self._video_lock, self._audio_lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._holder.close()
            except (av.FFmpegError, OSError) as error:
                logger.debug("closing the encoder: %s", error)


def _fill_i420(frame: av.VideoFrame, i420: npt.NDArray[np.uint8], width: int, height: int) -> None:
    """Copy an I420 buffer into a frame's planes, respecting each plane's line padding."""
    y_size = width * height
    c_w, c_h = width // 2, height // 2
    planes = (
        i420[:y_size].reshape(height, width),
        i420[y_size : y_size + c_w * c_h].reshape(c_h, c_w),
        i420[y_size + c_w * c_h :].reshape(c_h, c_w),
    )
    for plane, src in zip(frame.planes, planes, strict=True):
        rows, cols = src.shape
        dst = np.frombuffer(memoryview(plane), np.uint8).reshape(rows, plane.line_size)
        dst[:, :cols] = src


def _wrap(packet: Any, is_video: bool) -> EncodedPacket:
    assert packet.time_base is not None and packet.pts is not None
    return EncodedPacket(
        is_video=is_video,
        data=bytes(packet),
        pts=packet.pts,
        dts=packet.dts if packet.dts is not None else packet.pts,
        time_base=packet.time_base,
        is_keyframe=packet.is_keyframe or not is_video,
    )
