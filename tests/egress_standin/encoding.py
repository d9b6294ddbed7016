"""What a request asks an output to be: container, codecs, picture size and bitrates.

LiveKit's egress encodes at the request's preset (or ``advanced`` options) and picks the
container from the file type or the file name; the stand-in does the same so a recording's
container, size and bitrate can be checked with ffprobe. It keeps its own frame rate (15 fps;
this is test equipment on a two-core machine) and pads to the asked bitrate (x264's CBR mode),
so a file's bitrate shows which quality was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from livekit.protocol import egress as egress_pb

PRESETS = egress_pb.EncodingOptionsPreset
PRESET_SIZES: dict[int, tuple[int, int, int, int]] = {
    PRESETS.H264_720P_30: (1280, 720, 3_000_000, 128_000),
    PRESETS.H264_720P_60: (1280, 720, 4_500_000, 128_000),
    PRESETS.H264_1080P_30: (1920, 1080, 4_500_000, 128_000),
    PRESETS.H264_1080P_60: (1920, 1080, 6_000_000, 128_000),
    PRESETS.PORTRAIT_H264_720P_30: (720, 1280, 3_000_000, 128_000),
    PRESETS.PORTRAIT_H264_720P_60: (720, 1280, 4_500_000, 128_000),
    PRESETS.PORTRAIT_H264_1080P_30: (1080, 1920, 4_500_000, 128_000),
    PRESETS.PORTRAIT_H264_1080P_60: (1080, 1920, 6_000_000, 128_000),
}
"""LiveKit's presets: width, height, video and audio bitrate (b/s), as its egress sets them."""
DEFAULT = PRESET_SIZES[PRESETS.H264_720P_30]
"""LiveKit's default when a request names neither a preset nor advanced options."""


@dataclass(frozen=True)
class Profile:
    """How one output encodes."""

    container: str
    """PyAV/FFmpeg format name: mp4, webm, flv or hls."""
    width: int
    height: int
    video_bitrate_bps: int
    audio_bitrate_bps: int

    @property
    def video_codec(self) -> str:
        """VP8 in WebM, H.264 everywhere else."""
        return "libvpx" if self.container == "webm" else "libx264"

    @property
    def audio_codec(self) -> str:
        """Opus in WebM, AAC everywhere else."""
        return "libopus" if self.container == "webm" else "aac"


def profile_of(req: egress_pb.RoomCompositeEgressRequest, container: str) -> Profile:
    """The profile a room composite request asks for, in ``container``."""
    width, height, video_bps, audio_bps = PRESET_SIZES.get(req.preset, DEFAULT)
    if req.HasField("advanced"):
        options = req.advanced
        width, height = options.width or width, options.height or height
        # EncodingOptions carries kilobits per second, as LiveKit's egress reads them.
        video_bps = options.video_bitrate * 1000 or video_bps
        audio_bps = options.audio_bitrate * 1000 or audio_bps
    return Profile(container, width, height, video_bps, audio_bps)


def file_container(file: egress_pb.EncodedFileOutput, path_suffix: str) -> str:
    """MP4 when asked for; otherwise the file name's extension decides (``.webm`` → WebM)."""
    if file.file_type == egress_pb.EncodedFileType.MP4:
        return "mp4"
    return "webm" if path_suffix.lower() == ".webm" else "mp4"
