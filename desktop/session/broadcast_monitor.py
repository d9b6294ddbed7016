"""Recording and Go Live status in the room state, refreshed from the backend."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from desktop.media.outputs.output import OutputKind, OutputPhase
from desktop.session.backend_client import Backend
from desktop.session.errors import SessionError
from desktop.session.state import EgressOutputStatus, StateStore
from spaces_contract.recording import RecordingState
from spaces_contract.status import BroadcastStatus

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 3.0

PHASE_OF_EGRESS_WORD: dict[str, OutputPhase] = {
    "starting": OutputPhase.CONNECTING,
    "active": OutputPhase.LIVE,  # the recording is being written
    "live": OutputPhase.LIVE,  # a destination is being sent
    "ending": OutputPhase.ENDING,
    "complete": OutputPhase.FINISHED,
    "failed": OutputPhase.FAILED,
    "stopped": OutputPhase.STOPPED,
}
"""The backend's word for a recording's or a destination's state → the shared phase."""
_WORD_OF_PHASE = {phase: word for word, phase in PHASE_OF_EGRESS_WORD.items() if word != "active"}


def egress_phase(word: str) -> OutputPhase:
    """The phase of an egress output the backend reports as ``word`` (OFF for a word this
    version does not know)."""
    phase = PHASE_OF_EGRESS_WORD.get(word)
    if phase is None:
        logger.warning("unknown egress state %r from the backend", word)
        return OutputPhase.OFF
    return phase


def egress_word(output: EgressOutputStatus) -> str:
    """The backend's own word for ``output``'s phase, as the remote-control API passes it on
    (a recording being written is "active", a destination being sent "live")."""
    if output.phase is OutputPhase.LIVE and output.kind is OutputKind.FILE:
        return "active"
    return _WORD_OF_PHASE.get(output.phase, output.phase.value)


class BroadcastMonitor:
    """Polls ``get_broadcast_status`` and writes recording and destination states.

    Args:
        backend: The backend to ask.
        store: Where the state goes.
        room_name: The room.
        interval_s: How often to refresh while running.
        on_status: Also handed every status (the cost meter reads its figures).
        live_via_egress: Whether Go Live goes through the backend's egress now. When it does
            not (the studio sends its own program), the backend knows nothing of it, and its
            "not live" must not switch off the studio's LIVE.
    """

    def __init__(
        self,
        backend: Backend,
        store: StateStore,
        room_name: str,
        interval_s: float = DEFAULT_INTERVAL_S,
        on_status: Callable[[BroadcastStatus], None] | None = None,
        live_via_egress: Callable[[], bool] = lambda: True,
    ) -> None:
        self.on_status = on_status
        self.backend = backend
        self.store = store
        self.room_name = room_name
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._live_via_egress = live_via_egress

    async def refresh(self) -> None:
        """Ask once and update the state."""
        status = await self.backend.get_broadcast_status(self.room_name)
        if self.on_status is not None:
            self.on_status(status)
        recording = status.recording
        outputs = []
        if recording.status is not RecordingState.UNKNOWN:
            outputs.append(
                EgressOutputStatus(
                    "recording",
                    OutputKind.FILE,
                    egress_phase(recording.status.value),
                    recording.error or "",
                    recording.name or "",
                )
            )
        for destination in status.destinations:
            outputs.append(
                EgressOutputStatus(
                    destination.name,
                    OutputKind.RTMP,
                    egress_phase(destination.status.value),
                    destination.error,
                )
            )
        live = {"is_live": status.live} if self._live_via_egress() else {}
        self.store.update(is_recording=bool(recording.active), outputs=tuple(outputs), **live)

    def start(self) -> None:
        """Refresh in the background until :meth:`aclose`."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except SessionError as error:
                logger.info("broadcast status unavailable: %s", error)
            await asyncio.sleep(self.interval_s)

    async def aclose(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
