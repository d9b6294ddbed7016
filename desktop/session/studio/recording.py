"""Recording: the program into a file here, in the cloud (the platform's egress, kept running
by the :class:`~desktop.session.recording_guard.RecordingGuard`), or both; the recording
folder; and the HLS output.
"""

from __future__ import annotations

import enum
from pathlib import Path

from desktop.media.outputs.output import OutputPhase
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.live import cloud_recording, local_recording
from desktop.session.recording_guard import RecordingGuard
from desktop.session.studio.context import StudioContext, make_recording_folder


class RecordingPlace(enum.Enum):
    """Where a recording goes."""

    LOCAL = "local"
    """A file in the recording folder on this computer."""
    CLOUD = "cloud"
    """The platform records the room (LiveKit egress); needs the platform backend."""
    BOTH = "both"
    """Both at once: the local file is a safety copy."""


class Recording:
    """Starts and stops the recordings and the HLS output; guards a wanted cloud recording.

    Args:
        studio: The studio's shared state (the outputs, the backend, the guard, the settings).
    """

    def __init__(self, studio: StudioContext) -> None:
        self._studio = studio

    @property
    def can_record_in_cloud(self) -> bool:
        """Whether a backend can record the room (platform, or LiveKit server mode)."""
        return self._studio.live.backend is not None

    def set_recording_folder(self, folder: str) -> None:
        """Record into ``folder`` from now on ('' = the default Videos folder)."""
        self._studio.settings.recording_folder = folder
        self._studio.save_settings()

    async def start_recording(
        self, cloud: bool = False, place: RecordingPlace | None = None
    ) -> Path | None:
        """Record the program locally, in the cloud, or both.

        The recording folder is created when missing (a fresh account has no Videos folder).

        Args:
            cloud: Also record in the cloud (kept for callers of the old form).
            place: Where to record (default: local, or both when ``cloud``).

        Raises:
            SessionError: Cloud recording asked for without the platform backend.
            MediaError: The folder cannot be created or written.
        """
        studio = self._studio
        if place is None:
            place = RecordingPlace.BOTH if cloud else RecordingPlace.LOCAL
        wants_cloud = place in (RecordingPlace.CLOUD, RecordingPlace.BOTH)
        if wants_cloud and not self.can_record_in_cloud:
            raise SessionError(
                SessionErrorCode.FORBIDDEN, "cloud recording needs the platform backend",
                "record on this computer, or connect through the platform in Settings",
            )  # fmt: skip
        local = place in (RecordingPlace.LOCAL, RecordingPlace.BOTH)
        folder = studio.settings.recording_dir()
        if local:
            make_recording_folder(folder)
        studio.live.cloud_recording_options = cloud_recording(studio.settings)
        studio.live.local_recording_options = local_recording(studio.settings)
        path = await studio.live.start_recording(folder, cloud=wants_cloud, local=local)
        if path is not None:
            studio.recordings.append(str(path))
        if wants_cloud and studio.backend is not None:
            self._guard_recording()
        return path

    def _guard_recording(self) -> None:
        """Watch the cloud recording: a stop or stall is flagged, a new one started."""
        studio = self._studio
        if studio.guard is not None and studio.guard.room_name != studio.store.state.room_name:
            studio.guard = None
        if studio.guard is None and studio.backend is not None:
            folder = studio.settings.recording_dir()

            async def restart() -> None:
                await studio.live.start_recording(folder, cloud=True, local=False)

            studio.guard = RecordingGuard(
                studio.backend, studio.store, studio.store.state.room_name, restart,
                self._ensure_local_copy,
            )  # fmt: skip
        if studio.guard is not None:
            studio.guard.arm()

    async def _ensure_local_copy(self) -> None:
        """Start a local safety copy unless one is recording (which goes on untouched)."""
        current = self._studio.live.direct.statuses().get("recording")
        if current is not None and current.phase not in (OutputPhase.STOPPED, OutputPhase.FAILED):
            return
        await self.start_recording(place=RecordingPlace.LOCAL)

    async def stop_recording(self) -> None:
        """Stop recording (the file is closed cleanly)."""
        studio = self._studio
        if studio.guard is not None:
            await studio.guard.disarm()
        await studio.live.stop_recording()

    async def start_hls(self, segment_s: int = 4) -> Path:
        """Write the program as HLS (segments + a playlist that grows while live) into a new
        folder in the recording folder; returns the playlist's path (serve the folder over
        HTTP and players follow it live).

        Raises:
            MediaError: The folder cannot be created or written.
        """
        studio = self._studio
        folder = studio.settings.recording_dir()
        make_recording_folder(folder)
        playlist = await studio.live.start_hls(folder, segment_s)
        studio.recordings.append(str(playlist))
        return playlist

    async def stop_hls(self) -> None:
        """End the HLS output; the playlist is closed and plays from start to end."""
        await self._studio.live.stop_hls()
