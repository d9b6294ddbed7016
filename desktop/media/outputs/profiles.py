"""Encoding profiles of local recordings: the container picks the codecs, the quality the bitrate.

The program is composed once; each distinct profile is one more encoder fed the same pictures
and sound (see :class:`~desktop.media.outputs.program.DirectBroadcast`). A recording whose
profile equals the program's (same codecs and bitrates) shares the program's encoder; a WebM
recording, or an MP4 at a quality other than the program's bitrate, costs one encoder more.

Quality bands use the bitrates of LiveKit's egress presets for the cloud recording's quality
(low ``H264_720P_30``, medium ``H264_1080P_30``, high ``H264_1080P_60``), so a local and a
cloud recording of the same quality have the same bitrate; the size and frame rate stay the
program's (the program is never scaled for a recording).
"""

from __future__ import annotations

import enum
from dataclasses import replace

from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.encoder import AudioCodec, EncoderSettings, VideoCodec

RECORDING_AUDIO_BITRATE_BPS = 128_000
"""Audio bitrate of every quality band (LiveKit's egress presets use 128 kb/s)."""


class RecordingQuality(enum.Enum):
    """A local recording's quality band: its video bitrate."""

    LOW = "low"
    """3 Mb/s (LiveKit's ``H264_720P_30`` preset)."""
    MEDIUM = "medium"
    """4.5 Mb/s (``H264_1080P_30``)."""
    HIGH = "high"
    """6 Mb/s (``H264_1080P_60``)."""

    @property
    def video_bitrate_bps(self) -> int:
        """The band's video bitrate."""
        return QUALITY_VIDEO_BITRATE_BPS[self]


QUALITY_VIDEO_BITRATE_BPS = {
    RecordingQuality.LOW: 3_000_000,
    RecordingQuality.MEDIUM: 4_500_000,
    RecordingQuality.HIGH: 6_000_000,
}

_H264_AAC = ((VideoCodec.H264,), (AudioCodec.AAC,))
CONTAINER_CODECS: dict[str, tuple[tuple[VideoCodec, ...], tuple[AudioCodec, ...]]] = {
    ".mp4": _H264_AAC,
    ".mov": _H264_AAC,
    ".mkv": _H264_AAC,
    ".flv": _H264_AAC,
    ".webm": ((VideoCodec.VP8, VideoCodec.VP9), (AudioCodec.OPUS,)),
}
"""The codecs each recording container is encoded with, the first one unless the program's
own is among them (WebM holds only VP8/VP9 and Opus/Vorbis)."""


def recording_profile(
    program: EncoderSettings, suffix: str, quality: RecordingQuality | None = None
) -> EncoderSettings:
    """The profile a recording to a ``suffix`` file at ``quality`` is encoded with.

    Args:
        program: The program's own profile (size, frame rate, keyframes, H.264 encoder).
        suffix: The file's extension, which names its container.
        quality: The bitrate band; None keeps the program's bitrates.

    Raises:
        MediaError: ``INVALID_ARGUMENT`` for a container recordings cannot use.
    """
    codecs = CONTAINER_CODECS.get(suffix.lower())
    if codecs is None:
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, suffix or "recording",
            f"cannot record to a {suffix or 'file without an extension'}",
            "name the file .mp4, .mkv or .webm",
        )  # fmt: skip
    videos, audios = codecs
    profile = replace(
        program,
        video_codec=program.video_codec if program.video_codec in videos else videos[0],
        audio_codec=program.audio_codec if program.audio_codec in audios else audios[0],
    )
    if quality is not None:
        profile = replace(
            profile,
            video_bitrate_bps=quality.video_bitrate_bps,
            audio_bitrate_bps=RECORDING_AUDIO_BITRATE_BPS,
        )
    return profile
