"""The program as HLS in a folder: MPEG-TS segments and a playlist that grows while live.

The same packets as every other output (the program is encoded once; a segment starts on each
keyframe after the segment length, so segments are whole multiples of the keyframe interval).
The playlist is an EVENT playlist: players can follow it live from any web server that serves
the folder, and once the output stops it ends with ``#EXT-X-ENDLIST`` and plays as a recording.
Disk checks and ENOSPC handling are the file recording's.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.sinks import DEFAULT_MIN_FREE_BYTES, FileSink

DEFAULT_SEGMENT_S = 4
PLAYLIST_NAME = "index.m3u8"


def hls_folder(target: str | Path, now: datetime.datetime | None = None) -> Path:
    """A new dated folder for one HLS output inside ``target`` (never reused)."""
    base = Path(target).expanduser()
    stamp = (now or datetime.datetime.now()).strftime("%Y-%m-%d %H-%M-%S")
    folder, n = base / f"HLS {stamp}", 2
    while folder.exists():
        folder = base / f"HLS {stamp} ({n})"
        n += 1
    return folder


class HlsSink(FileSink):
    """Writes HLS segments and their playlist into a folder.

    Args:
        folder: Where playlist and segments go (created).
        segment_s: Target segment length in seconds.
        playlist_name: The playlist's file name.
        min_free_bytes: Free space kept on the disk.
    """

    def __init__(
        self,
        folder: Path,
        *,
        segment_s: int = DEFAULT_SEGMENT_S,
        playlist_name: str = PLAYLIST_NAME,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
    ) -> None:
        if segment_s < 1:
            raise MediaError(
                MediaErrorCode.INVALID_ARGUMENT, str(folder), "a segment must last 1 s or more",
                "choose a segment length of 1 to 30 seconds",
            )  # fmt: skip
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise MediaError(
                MediaErrorCode.OUTPUT_FAILED, str(folder),
                f"cannot create the HLS folder ({error.strerror})",
                "pick a folder you can write to",
            ) from None  # fmt: skip
        super().__init__(folder / "playlist.mp4", min_free_bytes=min_free_bytes)
        self.folder = folder
        self.file = folder / playlist_name
        self.segment_s = segment_s

    CREATE_FAILED = "cannot start the HLS playlist"

    def container_format(self) -> tuple[str, dict[str, str]]:
        """HLS: an event playlist that grows while live, and independent segments."""
        return "hls", {
            "hls_time": str(self.segment_s),
            "hls_list_size": "0",
            "hls_playlist_type": "event",
            "hls_segment_filename": str(self.folder / "segment_%05d.ts"),
            "hls_flags": "independent_segments",
        }
