"""The direct path writes the program as HLS into a folder: real MPEG-TS segments and a playlist
that grows while live, played back with ffprobe during and after (duration, codecs)."""

from __future__ import annotations

import re
from pathlib import Path

import keyring.backends.fail

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.settings import Secrets, Settings
from desktop.session.studio import Studio
from tests.fixtures.rtmp import ffprobe_duration_s, ffprobe_streams
from tests.waiting import wait_for

SEGMENT_S = 2


def _segments(playlist: Path) -> list[float]:
    text = playlist.read_text() if playlist.exists() else ""
    return [float(m) for m in re.findall(r"#EXTINF:([0-9.]+),", text)]


async def _until_segments(playlist: Path, count: int, timeout_s: float = 90) -> list[float]:
    def enough() -> list[float] | None:
        found = _segments(playlist)
        return found if len(found) >= count else None

    return await wait_for(
        enough,
        timeout_s,
        f"{count} HLS segments",
        state=lambda: _segments(playlist),
        interval_s=0.25,
    )


async def test_the_program_is_written_as_hls_that_plays_while_live_and_after(
    tmp_path: Path,
) -> None:
    settings = Settings(
        preset="custom", custom_width=640, custom_height=360, custom_fps=15,
        custom_video_bitrate_bps=800_000, recording_folder=str(tmp_path),
    )  # fmt: skip
    camera, mic = SyntheticCamera(640, 360, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(settings, Secrets(keyring.backends.fail.Keyring()))  # type: ignore[no-untyped-call]
    studio.use_devices(camera, mic)
    try:
        await studio.connect()  # local mode: no room, the studio's own program
        playlist = await studio.start_hls(segment_s=SEGMENT_S)
        assert playlist.name == "index.m3u8" and playlist.parent.parent == tmp_path
        first = await _until_segments(playlist, 2)
        assert "#EXT-X-ENDLIST" not in playlist.read_text()
        kinds = sorted(str(s["codec_name"]) for s in ffprobe_streams(playlist))
        assert kinds == ["aac", "h264"]
        await _until_segments(playlist, len(first) + 2)  # it keeps growing while live
        await studio.stop_hls()
    finally:
        await studio.aclose()
        camera.stop()
        mic.stop()
    text = playlist.read_text()
    assert "#EXT-X-ENDLIST" in text
    durations = _segments(playlist)
    # Segments are cut on the first keyframe after SEGMENT_S (2 s of frames apart; longer in
    # time when a busy machine drops frames), so only their number and sum are checked.
    assert len(durations) >= 4
    played_s = ffprobe_duration_s(playlist)
    assert abs(played_s - sum(durations)) < 1.0, (played_s, durations)
    names = re.findall(r"^segment_\d+\.ts$", text, re.M)
    for name in (names[0], names[-1]):
        streams = ffprobe_streams(playlist.parent / name)
        assert sorted(str(s["codec_name"]) for s in streams) == ["aac", "h264"]
        video = next(s for s in streams if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == (640, 360)
