"""The recording's progress counter as the backend reads it: LiveKit egress's live playlist
(the format its m3u8 writer produces), where the segments go and where they are read, and
that the scratch folder goes when the recording ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import BackendConfig
from backend.recording import drop_progress, progress_folders, progress_segments


def live_playlist(first: int, names: list[str]) -> str:
    """A live playlist as LiveKit's egress writes it (header, media sequence, window)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-ALLOW-CACHE:NO", "#EXT-X-TARGETDURATION:2",
             f"#EXT-X-MEDIA-SEQUENCE:{first}"]  # fmt: skip
    for index, name in enumerate(names):
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:2026-11-27T05:00:{index * 2:02d}.5Z",
                  "#EXTINF:2.000,", name]  # fmt: skip
    return "\n".join(lines) + "\n"


def test_the_counter_is_every_segment_written_so_far(tmp_path: Path) -> None:
    folder = tmp_path / "show-20261127-050000.mp4.progress"
    record = {"progressFolder": str(folder)}
    # Nothing written yet (or a folder this backend does not see): no counter, not zero.
    assert progress_segments(record) is None
    folder.mkdir()
    (folder / "live.m3u8").write_text(live_playlist(0, []))
    assert progress_segments(record) is None
    (folder / "live.m3u8").write_text(live_playlist(0, ["progress_00000.ts"]))
    assert progress_segments(record) == 1
    # The window slides: five listed after two scrolled out is seven written.
    names = [f"progress_{n:05d}.ts" for n in range(2, 7)]
    (folder / "live.m3u8").write_text(live_playlist(2, names))
    assert progress_segments(record) == 7
    assert progress_segments({}) is None


def test_progress_is_read_where_this_backend_sees_the_recording_folder(tmp_path: Path) -> None:
    base = BackendConfig("ws://127.0.0.1:7880", "key", "secret", tmp_path / "db.sqlite3")
    name = "show-20261127-050000.mp4"
    # Relative: a folder on the egress host this backend cannot find, unless told where.
    assert progress_folders(base, name) is None
    mounted = BackendConfig(
        "ws://127.0.0.1:7880", "key", "secret", tmp_path / "db.sqlite3",
        recording_read_dir="/mnt/egress-recordings/",
    )  # fmt: skip
    assert progress_folders(mounted, name) == (
        f"recordings/{name}.progress",
        f"/mnt/egress-recordings/{name}.progress",
    )
    same = BackendConfig(
        "ws://127.0.0.1:7880", "key", "secret", tmp_path / "db.sqlite3",
        recording_dir=str(tmp_path / "rec"),
    )  # fmt: skip
    folder = f"{tmp_path}/rec/{name}.progress"
    assert progress_folders(same, name) == (folder, folder)
    # A bucket (no credentials here) or progress off: none.
    for config in (
        BackendConfig("ws://x", "k", "s", tmp_path / "d", recording_dir=str(tmp_path),
                      recording_bucket="b"),
        BackendConfig("ws://x", "k", "s", tmp_path / "d", recording_dir=str(tmp_path),
                      recording_progress_s=0),
    ):  # fmt: skip
        assert progress_folders(config, name) is None


def test_the_scratch_folder_goes_and_nothing_else(tmp_path: Path) -> None:
    scratch = tmp_path / "show.mp4.progress"
    scratch.mkdir()
    (scratch / "progress_00000.ts").write_bytes(b"x" * 188)
    other = tmp_path / "show.mp4"
    other.write_bytes(b"keep")
    record = drop_progress({"name": "show.mp4", "progressFolder": str(scratch)})
    assert record == {"name": "show.mp4"} and not scratch.exists()
    assert drop_progress({"progressFolder": str(other)}) == {} and other.read_bytes() == b"keep"


def test_the_segment_length_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:7880")
    monkeypatch.setenv("LIVEKIT_API_KEY", "key")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "secret")
    monkeypatch.delenv("BROADCASTER_RECORDING_PROGRESS_S", raising=False)
    database = tmp_path / "db.sqlite3"
    assert BackendConfig.from_env(database_path=database).recording_progress_s == 2
    monkeypatch.setenv("BROADCASTER_RECORDING_PROGRESS_S", "0")
    assert BackendConfig.from_env(database_path=database).recording_progress_s == 0
    monkeypatch.setenv("BROADCASTER_RECORDING_PROGRESS_S", "fast")
    with pytest.raises(ValueError, match="BROADCASTER_RECORDING_PROGRESS_S"):
        BackendConfig.from_env(database_path=database)
