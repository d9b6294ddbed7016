"""What the studio's coordinators share: the host's choices, the state, the outputs, and what
changes as the show goes (the room session, the backend, the devices).

:class:`StudioContext` holds it; :class:`~desktop.session.studio.root.Studio` is one (the
window reads ``studio.session``, ``studio.backend``… as before), and each coordinator is handed
the studio typed as this context, so no coordinator imports the root or reaches its commands.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.program import OutputOptions
from desktop.session.backend_client import Backend
from desktop.session.broadcast_monitor import BroadcastMonitor
from desktop.session.live import LiveOutputs
from desktop.session.media_watchdog import MediaWatchdog, media_probes
from desktop.session.moderation import Moderator
from desktop.session.program_feed import ProgramFeed
from desktop.session.recording_guard import RecordingGuard
from desktop.session.room_session import RoomSession
from desktop.session.settings import Secrets, Settings, SettingsStore, preset_values
from desktop.session.show_costs import CostMeter
from desktop.session.state import Problem, ProblemCode, StateStore

logger = logging.getLogger(__name__)


class LiveClock:
    """Time on air: every Go Live to its End, added (Go Live starts it, End live stops it)."""

    def __init__(self) -> None:
        self.total_s = 0.0
        """On air before the current stretch."""
        self.since_s = 0.0
        """When the current stretch began (``time.monotonic()``; 0: not on air now)."""

    def start(self) -> None:
        """Count from now on (a clock already counting goes on from where it began)."""
        if not self.since_s:
            self.since_s = time.monotonic()

    def stop(self) -> None:
        """Add the current stretch to the total (nothing when not counting)."""
        if self.since_s:
            self.total_s += time.monotonic() - self.since_s
            self.since_s = 0.0

    def elapsed_s(self) -> float:
        """Time on air so far (every Go Live to its End, added)."""
        running = time.monotonic() - self.since_s if self.since_s else 0.0
        return self.total_s + running


class StudioContext:
    """The state a studio's coordinators share.

    Args:
        settings: What the host chose (devices, connection, presets, destinations).
        secrets: Where keys live.
        store: The state the window observes.
        settings_store: Where changed settings are saved.
    """

    def __init__(
        self,
        settings: Settings,
        secrets: Secrets,
        store: StateStore | None = None,
        settings_store: SettingsStore | None = None,
    ) -> None:
        self.settings = settings
        self.settings_store = settings_store
        """Where changed settings are saved (None: they apply to this run only)."""
        self.secrets = secrets
        self.store = store or StateStore()
        self.session: RoomSession | None = None
        self.backend: Backend | None = None
        self.moderator: Moderator | None = None
        self.monitor: BroadcastMonitor | None = None
        self.guard: RecordingGuard | None = None
        """Keeps a wanted cloud recording running (see recording_guard.py)."""
        self.camera: VideoCaptureSource | None = None
        self.mic: AudioCaptureSource | None = None
        self.screen: VideoCaptureSource | None = None
        self.camera_on = True
        self.mic_on = True
        width, height, fps, bitrate = preset_values(settings)
        self.live = LiveOutputs(
            self.store, secrets, EncoderSettings(width, height, fps, bitrate),
            OutputOptions(max_retries=settings.max_retries),
        )  # fmt: skip
        self.program = ProgramFeed(self.live.direct, self.store)
        """The program's stage, layout and the guests' media in it."""
        self.watchdog = MediaWatchdog(self.store, lambda: media_probes(self.program, self.session))
        """Asks again for guests' cameras and voices that stop arriving, then tells the host."""
        self.player: Any = None
        """Plays the guests' voices (a GuestAudioPlayer once in a room)."""
        self.costs: CostMeter | None = None
        """The show's running cost and revenue (from the first room joined)."""
        self.room_url = ""
        """The URL the room was joined at ('' before joining; a rejoin uses it again)."""
        self.room_token = ""
        """The token the room was joined with (a rejoin uses it again)."""
        self.recordings: list[str] = []
        """Local recording files and HLS playlists made so far (for the summary)."""
        self.clock = LiveClock()
        """Time on air."""

    # -- standing problems -------------------------------------------------------------------

    def set_problem(self, code: ProblemCode, detail: str = "") -> None:
        """Record a standing condition (shown until :meth:`clear_problem`)."""
        others = tuple(p for p in self.store.state.problems if p.code is not code)
        self.store.update(problems=(*others, Problem(code, detail)))

    def clear_problem(self, code: ProblemCode) -> None:
        """The condition is gone."""
        kept = tuple(p for p in self.store.state.problems if p.code is not code)
        self.store.update(problems=kept)

    def save_settings(self) -> None:
        """Save the settings, if they have a place (a failure is logged, the show goes on)."""
        if self.settings_store is None:
            return
        try:
            self.settings_store.save(self.settings)
        except OSError as error:
            logger.warning("settings not saved: %s", error)


def make_recording_folder(folder: Path) -> None:
    """Create the recording folder if missing; a folder that cannot be made says so.

    Raises:
        MediaError: INVALID_ARGUMENT, naming the folder and what to do.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, str(folder),
            f"the recording folder cannot be created ({error.strerror})",
            "choose another folder with Record ▸ Choose folder",
        ) from None  # fmt: skip
