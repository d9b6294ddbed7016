"""The recording continuity guard: a cloud recording that stops or stalls is flagged and replaced.

While the host wants a cloud recording, the guard asks the backend every ``interval_s`` how the
recording egress is doing (``get_broadcast_status``). When it has ended without being asked to
(failed, aborted, completed on its own), has been starting for longer than ``start_timeout_s``
(a stalled worker), or says it is active but has stopped writing (its progress counter,
``progress_segments``, has not grown for ``stall_after_s``; see ``backend/recording.py``), the
guard:

1. opens a gap in the room state (``recording_gaps``) from the last moment the recording was
   seen running, and raises the standing problem ``CLOUD_RECORDING_INTERRUPTED`` (a notice in the
   studio with the next step);
2. makes sure a local safety copy is recording on this computer (an existing one goes on
   untouched);
3. starts a new cloud recording (a new egress), retrying on every check until one runs.

When the new recording is seen running the gap is closed (start, end, duration) and the notice
goes. The end-of-stream summary lists the gaps. No Qt here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from desktop.media.frames import wall_clock_ms
from desktop.session.backend_client import Backend
from desktop.session.errors import SessionError
from desktop.session.state import Problem, ProblemCode, RecordingGap, StateStore
from spaces_contract.recording import RecordingState

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 1.0
"""How often the recording is checked (a failure is flagged within this plus one answer)."""
DEFAULT_START_TIMEOUT_S = 20.0
"""A recording still starting after this long is taken as stalled and replaced; also how long
an active recording may take to write its first progress segment."""
DEFAULT_STALL_AFTER_S = 5.0
"""An active recording whose progress counter has not grown for this long has stalled (the
backend's progress segments are 2 s long: two and a half missing, never one slow one)."""


class RecordingGuard:
    """Keeps a wanted cloud recording running, and accounts for the gaps.

    Args:
        backend: Where recordings are started and their status asked.
        store: Room state (problems, ``recording_gaps``).
        room_name: The room recorded.
        restart: Starts a new cloud recording (raises :class:`SessionError` on failure).
        safety_copy: Makes sure a local recording runs (called when a gap opens).
        interval_s: Seconds between checks.
        start_timeout_s: Seconds a recording may stay "starting" before it counts as stalled.
        stall_after_s: Seconds an active recording's progress may stand still before it
            counts as stalled.
    """

    def __init__(
        self,
        backend: Backend,
        store: StateStore,
        room_name: str,
        restart: Callable[[], Awaitable[None]],
        safety_copy: Callable[[], Awaitable[None]] | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        stall_after_s: float = DEFAULT_STALL_AFTER_S,
    ) -> None:
        self.backend = backend
        self.store = store
        self.room_name = room_name
        self.restart = restart
        self.safety_copy = safety_copy
        self.interval_s = interval_s
        self.start_timeout_s = start_timeout_s
        self.stall_after_s = stall_after_s
        self.egress_ids: list[str] = []
        """Every cloud recording egress seen, in order (a restart adds one)."""
        self._task: asyncio.Task[None] | None = None
        self._last_running_ms = 0
        self._starting_since_s = 0.0
        self._lost_egress_id = ""
        self._asked_ms = 0
        """When the previous check asked (wall clock)."""
        self._progress_egress_id = ""
        self._progress_count: int | None = None
        self._progress_grew_s = 0.0
        self._progress_before_ms = 0
        """When a check last saw the count below its newest value: the newest segment was
        written after this, so media is missing from no earlier than here."""
        self.watching_progress = False
        """Whether the backend reports a progress counter here (then stalls are caught)."""

    @property
    def armed(self) -> bool:
        """Whether the guard is watching."""
        return self._task is not None

    def arm(self) -> None:
        """Start watching (the host just started a cloud recording)."""
        self._last_running_ms = wall_clock_ms()
        self._starting_since_s = time.monotonic()
        self._progress_egress_id = ""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def disarm(self) -> None:
        """Stop watching (the host stops the recording, or the show ends); an open gap closes
        now, since the recording is no longer wanted."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._close_gap(wall_clock_ms())

    async def check(self) -> None:
        """Ask once and act on the answer."""
        asked_ms, previous_ms = wall_clock_ms(), self._asked_ms
        self._asked_ms = asked_ms
        status = await self.backend.get_broadcast_status(self.room_name)
        recording = status.recording
        egress_id = recording.egress_id or ""
        if egress_id and egress_id not in self.egress_ids:
            self.egress_ids.append(egress_id)
        running = bool(recording.active) and egress_id != self._lost_egress_id
        now_s = time.monotonic()
        stalled = False
        if running and recording.status is RecordingState.ACTIVE:
            stalled = self._stalled(egress_id, recording.progress_segments, previous_ms, now_s)
            if not stalled:
                self._last_running_ms = wall_clock_ms()
                self._starting_since_s = now_s
                self._close_gap(self._last_running_ms)
                return
        elif running and now_s - self._starting_since_s < self.start_timeout_s:
            return  # still starting, within reason
        # Ended without being asked to, never there, stalled while starting or while active.
        if running:
            if stalled:
                reason = (
                    "the cloud recording stopped writing (nothing new for "
                    f"{self.stall_after_s:.0f} s although LiveKit reports it active)"
                )
                # Media is missing from the last segment on, not from the last answer.
                self._last_running_ms = min(self._last_running_ms, self._progress_before_ms)
            else:
                reason = f"the cloud recording did not start within {self.start_timeout_s:.0f} s"
            self._lost_egress_id = egress_id
            self._open_gap(reason)  # the notice first: stopping a stuck egress may take a while
            try:
                await self.backend.stop_recording(self.room_name)
            except SessionError as error:
                logger.info("stopping a stalled recording: %s", error)
        else:
            reason = recording.error or "the cloud recording stopped"
        self._open_gap(reason)
        if self.safety_copy is not None:
            try:
                await self.safety_copy()
            except Exception as error:  # a local copy is best effort; the notice says more
                logger.warning("local safety copy: %s", error)
        try:
            await self.restart()
            self._starting_since_s = time.monotonic()
            self._lost_egress_id = ""
        except SessionError as error:
            logger.info("restarting the cloud recording: %s (trying again)", error)

    def _stalled(self, egress_id: str, count: int | None, previous_ms: int, now_s: float) -> bool:
        """Whether an active recording has stopped writing, from its progress counter.

        A count that grows is progress. One that stands still for ``stall_after_s`` is a stall;
        so is an active recording that writes no segment within ``start_timeout_s`` once the
        backend is known to report progress here. Without a counter (WebM, a bucket, progress
        off) nothing can be said and nothing is flagged.
        """
        if egress_id != self._progress_egress_id:
            self._progress_egress_id = egress_id
            self._progress_count = None
            self._progress_grew_s = now_s
            self._progress_before_ms = previous_ms or wall_clock_ms()
        if count is not None and (self._progress_count is None or count > self._progress_count):
            self._progress_count = count
            self._progress_grew_s = now_s
            self._progress_before_ms = previous_ms or wall_clock_ms()
            self.watching_progress = True
            return False
        if self._progress_count is None:
            return self.watching_progress and now_s - self._progress_grew_s > self.start_timeout_s
        return now_s - self._progress_grew_s > self.stall_after_s

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except SessionError as error:
                logger.info("recording status unavailable: %s", error)

    def _open_gap(self, reason: str) -> None:
        gaps = self.store.state.recording_gaps
        if gaps and not gaps[-1].end_ms:
            return  # already open: the restart is under way
        others = tuple(
            p for p in self.store.state.problems
            if p.code is not ProblemCode.CLOUD_RECORDING_INTERRUPTED
        )  # fmt: skip
        problem = Problem(ProblemCode.CLOUD_RECORDING_INTERRUPTED, reason)
        logger.warning("cloud recording interrupted: %s", reason)
        self.store.update(
            recording_gaps=(*gaps, RecordingGap(self._last_running_ms)),
            problems=(*others, problem),
        )

    def _close_gap(self, end_ms: int) -> None:
        gaps = self.store.state.recording_gaps
        problems = tuple(
            p for p in self.store.state.problems
            if p.code is not ProblemCode.CLOUD_RECORDING_INTERRUPTED
        )  # fmt: skip
        if gaps and not gaps[-1].end_ms:
            closed = RecordingGap(gaps[-1].start_ms, max(end_ms, gaps[-1].start_ms))
            logger.info("cloud recording running again after %.1f s", closed.duration_s)
            self.store.update(recording_gaps=(*gaps[:-1], closed), problems=problems)
        elif problems != self.store.state.problems:
            self.store.update(problems=problems)
