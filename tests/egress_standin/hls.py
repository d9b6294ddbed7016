"""HLS for the stand-in: LiveKit's SegmentedFileOutput as real H.264 + AAC MPEG-TS segments.

The playlist (``playlist_name``) lists every segment as the show goes (an EVENT playlist that
players can follow live and replay once it ends); the live playlist (``live_playlist_name``)
holds the newest few segments only, as LiveKit's does. Segments are ``{filename_prefix}_NNNNN.ts``
beside the playlist. Paths relative to the stand-in's output folder, as with files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livekit.protocol import egress as egress_pb

from tests.egress_standin.encoding import Profile
from tests.egress_standin.outputs import Output

LIVE_WINDOW_SEGMENTS = 3
"""Segments in the live playlist."""


@dataclass(frozen=True)
class HlsPaths:
    """Where one segmented output writes."""

    playlist: Path
    live_playlist: Path | None
    segment_pattern: Path
    segment_s: int


def hls_paths(output: egress_pb.SegmentedFileOutput, room_name: str, root: Path) -> HlsPaths:
    """Resolve a SegmentedFileOutput's names against the output folder."""

    def resolve(name: str) -> Path:
        path = Path(name.replace("{room_name}", room_name))
        return path if path.is_absolute() else root / path

    prefix = output.filename_prefix or f"{room_name}/segment"
    playlist = output.playlist_name or f"{prefix}.m3u8"
    playlist_path = resolve(playlist)
    # A bare playlist name goes beside the segments, as LiveKit's egress puts it.
    if "/" not in playlist and "/" in prefix:
        playlist_path = resolve(str(Path(prefix).parent / playlist))
    live = output.live_playlist_name
    live_path = None
    if live:
        live_path = resolve(live) if "/" in live else playlist_path.parent / live
    return HlsPaths(
        playlist_path,
        live_path,
        resolve(prefix + "_%05d.ts"),
        output.segment_duration or 4,
    )


class HlsOutput(Output):
    """An encoder thread that muxes into HLS segments and keeps both playlists.

    Args:
        paths: Where to write.
        profile: Size, codecs and bitrates.
        on_started: As :class:`Output`.
        on_ended: As :class:`Output`.
        on_segment: Called (on this thread) when a new segment is listed.
    """

    def __init__(
        self,
        paths: HlsPaths,
        profile: Profile,
        on_started: Callable[[Output], Any],
        on_ended: Callable[[Output], Any],
        on_segment: Callable[[HlsOutput], Any],
    ) -> None:
        paths.playlist.parent.mkdir(parents=True, exist_ok=True)
        paths.segment_pattern.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(str(paths.playlist), "hls", on_started, on_ended, profile)
        self.paths = paths
        self._on_segment = on_segment
        self._listed = 0
        self.segment_count = 0
        self.segments_duration_s = 0.0
        self.size_bytes = 0

    def container_options(self) -> dict[str, str]:
        return {
            "hls_time": str(self.paths.segment_s),
            "hls_list_size": "0",
            "hls_playlist_type": "event",
            "hls_segment_filename": str(self.paths.segment_pattern),
            "hls_flags": "independent_segments",
        }

    def on_muxed(self) -> None:
        self._follow()

    def _encode(self) -> None:
        try:
            super()._encode()
        finally:
            # The muxer wrote the last segment and the end of the list when it closed: count
            # them before the output reports that it ended.
            self._follow(final=True)

    def _follow(self, final: bool = False) -> None:
        """Read the playlist the muxer rewrote; mirror the newest segments into the live one."""
        try:
            text = self.paths.playlist.read_text()
        except OSError:
            return
        entries = _segments(text)
        if len(entries) == self._listed and not final:
            return
        self._listed = len(entries)
        self.segment_count = len(entries)
        self.segments_duration_s = sum(seconds for seconds, _ in entries)
        folder = self.paths.playlist.parent
        self.size_bytes = sum(
            (folder / name).stat().st_size for _, name in entries if (folder / name).exists()
        )
        if self.paths.live_playlist is not None:
            _write_live(self.paths.live_playlist, folder, text, entries, final)
        self._on_segment(self)


def _segments(text: str) -> list[tuple[float, str]]:
    entries = []
    duration = 0.0
    for line in text.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            entries.append((duration, line))
    return entries


def _write_live(
    path: Path, folder: Path, full: str, entries: list[tuple[float, str]], ended: bool
) -> None:
    window = entries[-LIVE_WINDOW_SEGMENTS:]
    first = len(entries) - len(window)
    target = next((line for line in full.splitlines() if line.startswith("#EXT-X-TARGET")), "")
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", target, f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for seconds, name in window:
        relative = os.path.relpath(folder / name, path.parent)
        lines += [f"#EXTINF:{seconds:.6f},", relative]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(line for line in lines if line) + "\n")
    tmp.replace(path)
