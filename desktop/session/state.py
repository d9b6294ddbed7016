"""The session's picture of the room: one immutable value, replaced on every change.

Observers (the UI bridge, headless JSON logging, tests) register a callback and receive the old
and the new state; they never see a half-updated room. No Qt here: the UI re-emits changes as Qt
signals through its bridge.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from desktop.media.outputs.output import OutputKind, OutputPhase, OutputStatus

if TYPE_CHECKING:
    from desktop.session.link_stats import LinkStats
    from desktop.session.room_events import DisconnectReason

logger = logging.getLogger(__name__)


class ConnectionState(enum.Enum):
    """Where the connection to the room stands; the UI shows it as is, and it never lies."""

    IDLE = 1
    """Not connected and not trying."""
    CONNECTING = 2
    """Joining the room."""
    CONNECTED = 3
    """In the room."""
    RECONNECTING = 4
    """The connection dropped; the SDK is resuming it (capture goes on)."""
    DISCONNECTED = 5
    """Left the room (see ``disconnect_reason``)."""
    FAILED = 6
    """Could not connect (see ``error``)."""


class Quality(enum.Enum):
    """Connection quality as LiveKit grades it."""

    UNKNOWN = 0
    """Not reported yet."""
    EXCELLENT = 1
    """Excellent."""
    GOOD = 2
    """Good."""
    POOR = 3
    """Poor: expect frozen video."""
    LOST = 4
    """No media is getting through."""


class Source(enum.Enum):
    """What a track carries."""

    UNKNOWN = 0
    CAMERA = 1
    MICROPHONE = 2
    SCREEN = 3
    SCREEN_AUDIO = 4


@dataclass(frozen=True, slots=True)
class TrackState:
    """A published track, local or remote."""

    sid: str
    """Server id (TR_…)."""
    source: Source
    """Camera, microphone, screen."""
    is_video: bool
    """Video or audio."""
    muted: bool = False
    """Muted by its publisher or a moderator."""
    simulcast: bool = False
    """Published with several layers."""
    width: int = 0
    """Published width (video)."""
    height: int = 0
    """Published height (video)."""
    subscribed: bool = False
    """For remote tracks: media is being received."""


@dataclass(frozen=True, slots=True)
class ParticipantState:
    """Someone in the room (the host included)."""

    identity: str
    """Stable identity from the token."""
    name: str = ""
    """Display name."""
    sid: str = ""
    """Server id (PA_…)."""
    metadata: str = ""
    """Free-form metadata."""
    attributes: dict[str, str] = field(default_factory=dict)
    """Key/value attributes."""
    joined_at_ms: int = 0
    """When they joined (wall clock ms)."""
    is_speaking: bool = False
    """Among the active speakers."""
    audio_level: float = 0.0
    """Speaking level 0..1 from the server."""
    quality: Quality = Quality.UNKNOWN
    """Connection quality."""
    can_publish: bool = True
    """Permission to publish media."""
    tracks: tuple[TrackState, ...] = ()
    """Published tracks."""

    @property
    def is_publisher(self) -> bool:
        """Whether they publish any track."""
        return bool(self.tracks)

    def track(self, source: Source) -> TrackState | None:
        """Their track of a given source, if any."""
        return next((t for t in self.tracks if t.source is source), None)

    @property
    def mic_muted(self) -> bool:
        """No microphone, or a muted one."""
        mic = self.track(Source.MICROPHONE)
        return mic is None or mic.muted


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A chat line on the ``lk.chat`` topic."""

    sender_identity: str
    """Who sent it."""
    text: str
    """What they wrote."""
    timestamp_ms: int
    """When it was sent or received (wall clock ms)."""
    is_local: bool = False
    """Sent by the host."""


@dataclass(frozen=True, slots=True)
class QualityChange:
    """A publishing adaptation the session made, for the log and the stats panel."""

    timestamp_ms: int
    """When."""
    description: str
    """What changed and why, in words."""


@dataclass(frozen=True, slots=True)
class EgressOutputStatus:
    """The platform's recording or one of its RTMP destinations, as the backend reports it.

    The egress counterpart of the studio's own :class:`OutputStatus`, in the same phases.
    """

    name: str
    """"recording", or the destination's name (youtube, twitch, custom-1)."""
    kind: OutputKind
    """FILE for the recording, RTMP for a destination."""
    phase: OutputPhase
    """Where it stands (CONNECTING, LIVE, ENDING, FINISHED, FAILED or STOPPED)."""
    error: str = ""
    """Why it failed, in words (never a stream key)."""
    detail: str = ""
    """The recording's file or link when known."""


class ProblemCode(enum.Enum):
    """A standing condition the host should know about; it clears when the condition does."""

    NO_SPEAKER = 1
    """Guests' voices cannot be played: no output device opened."""
    SYNTHETIC_CAMERA = 2
    """No camera could be used: the synthetic camera stands in."""
    SYNTHETIC_MICROPHONE = 3
    """No microphone could be used: the synthetic microphone stands in."""
    CLOUD_RECORDING_INTERRUPTED = 4
    """The cloud recording stopped or stalled while wanted; a new one is being started."""


@dataclass(frozen=True, slots=True)
class Problem:
    """A standing condition (see :class:`ProblemCode`) with its detail for the log."""

    code: ProblemCode
    """What it is."""
    detail: str = ""
    """The device's own words (for the tooltip and logs, not the sentence)."""


@dataclass(frozen=True, slots=True)
class QualitySample:
    """A guest's connection quality as the SFU graded it, and from when."""

    timestamp_ms: int
    """When the grade arrived (wall clock ms)."""
    quality: Quality
    """The grade."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One moderation action, for the moderation log (shown in the studio, exported as CSV)."""

    timestamp_ms: int
    """When it was done (wall clock ms)."""
    actor: str
    """Who did it (the host's identity), or the guest who answered."""
    action: str
    """What: mute, remove, on-stage, backstage, ask-to-unmute, unmute-accepted, ..."""
    target: str
    """The guest's identity."""
    detail: str = ""
    """More words (which track, the guest's answer)."""


@dataclass(frozen=True, slots=True)
class RecordingGap:
    """A stretch of the show the cloud recording missed."""

    start_ms: int
    """The last moment the cloud recording was seen running (wall clock ms)."""
    end_ms: int = 0
    """When a new cloud recording was running again (0: not yet)."""

    @property
    def duration_s(self) -> float:
        """How long the gap lasted (0 while it is still open)."""
        return max(0.0, (self.end_ms - self.start_ms) / 1000) if self.end_ms else 0.0


@dataclass(frozen=True, slots=True)
class MediaAlert:
    """A guest on stage whose camera or voice has not reached the program (or their tile) for
    a while, although they publish it unmuted; the studio keeps asking for it again."""

    identity: str
    """The guest."""
    name: str
    """Their display name (the identity when they have none)."""
    source: Source
    """CAMERA or MICROPHONE."""
    where: str
    """"program" or "tile"."""
    since_ms: int
    """When the last picture or sound arrived, or when it was first expected (wall clock ms)."""

    @property
    def key(self) -> str:
        """One alert per guest, source and place."""
        return f"{self.where}:{self.identity}:{self.source.name.lower()}"

    @property
    def text(self) -> str:
        """The host's sentence."""
        what = "camera" if self.source is Source.CAMERA else "voice"
        place = "the program" if self.where == "program" else "their tile"
        return f"{self.name}'s {what} is not reaching {place} — we are retrying"


@dataclass(frozen=True, slots=True)
class MediaWatch:
    """How often guests' media stalled and what the studio did (the Stats panel's counts)."""

    stalls: int = 0
    """Times a guest's expected camera or voice had not arrived for the stall time."""
    retries: int = 0
    """Times the studio asked for it again (resubscribed, re-requested the layer)."""
    alerts: int = 0
    """Times the host was told (the retry did not bring it back in time)."""
    recovered: int = 0
    """Stalls that ended with the media arriving again."""


@dataclass(frozen=True, slots=True)
class RoomState:
    """Everything the UI shows about the room."""

    connection: ConnectionState = ConnectionState.IDLE
    """Connection state."""
    room_name: str = ""
    """Room name."""
    room_metadata: str = ""
    """Room metadata (appointment etc.)."""
    disconnect_reason: DisconnectReason | None = None
    """Why the session left the room (set with DISCONNECTED; the UI puts it into words)."""
    error: str = ""
    """Why connecting failed, in words with the next step (set with FAILED)."""
    local: ParticipantState | None = None
    """The host."""
    remotes: dict[str, ParticipantState] = field(default_factory=dict)
    """Everyone else, by identity."""
    chat: tuple[ChatMessage, ...] = ()
    """Chat so far."""
    adaptations: tuple[QualityChange, ...] = ()
    """Publishing adaptations made so far."""
    is_recording: bool = False
    """Cloud recording runs."""
    is_live: bool = False
    """The room goes out to RTMP destinations."""
    outputs: tuple[EgressOutputStatus, ...] = ()
    """Cloud recording and each egress destination, with status and error (from the backend)."""
    direct_outputs: tuple[OutputStatus, ...] = ()
    """The studio's own outputs (direct RTMP destinations, local recording)."""
    live_since_ms: int = 0
    """Wall-clock ms when Go Live was pressed; 0 when not live."""
    link: LinkStats | None = None
    """The host's uplink (bitrate per layer, RTT, loss), sampled every few seconds."""
    ended: bool = False
    """The host ended the stream: the room is closed and left; nothing reconnects."""
    problems: tuple[Problem, ...] = ()
    """Standing conditions the host should know about (no speaker, a synthetic device)."""
    costs: tuple[tuple[str, str], ...] = ()
    """The show's cost, revenue, commission and net so far (``Economics.as_json`` items:
    two-place decimal strings and the currency); empty until there is a room."""
    rehearsal: str = ""
    """While rehearsing: the private sink the program goes to, in words (key masked)."""
    moderation_log: tuple[AuditEntry, ...] = ()
    """Every moderation action so far, oldest first."""
    quality_history: dict[str, tuple[QualitySample, ...]] = field(default_factory=dict)
    """Each guest's connection grades so far, oldest first (kept after they leave)."""
    recording_gaps: tuple[RecordingGap, ...] = ()
    """Stretches the cloud recording missed (the last may still be open)."""
    media_alerts: tuple[MediaAlert, ...] = ()
    """Guests on stage whose camera or voice is not arriving although published (a notice each)."""
    media_watch: MediaWatch = MediaWatch()
    """Counts of stalled guest media and the studio's retries (for Stats)."""

    @property
    def participant_count(self) -> int:
        """People in the room, the host included."""
        return len(self.remotes) + (1 if self.local is not None else 0)

    @property
    def publisher_count(self) -> int:
        """People publishing media."""
        everyone = [*self.remotes.values(), *([self.local] if self.local else [])]
        return sum(1 for p in everyone if p.is_publisher)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (headless logs)."""
        return {
            "connection": self.connection.name.lower(),
            "room": self.room_name,
            "participants": self.participant_count,
            "publishers": self.publisher_count,
            # Connection quality as LiveKit grades it: the host's own and each guest's.
            "quality": (self.local.quality if self.local else Quality.UNKNOWN).name.lower(),
            "remote_quality": {i: p.quality.name.lower() for i, p in sorted(self.remotes.items())},
            "adaptations": [change.description for change in self.adaptations],
            "local_tracks": [
                {"source": t.source.name.lower(), "muted": t.muted}
                for t in (self.local.tracks if self.local else ())
            ],
            "remotes": sorted(self.remotes),
            **({"error": self.error} if self.error else {}),
            **({"reason": self.disconnect_reason.value} if self.disconnect_reason else {}),
        }


StateListener = Callable[[RoomState, RoomState], None]


class StateStore:
    """Holds the current :class:`RoomState` and tells listeners of each change."""

    def __init__(self) -> None:
        self._state = RoomState()
        self._listeners: list[StateListener] = []

    @property
    def state(self) -> RoomState:
        """The current state."""
        return self._state

    def subscribe(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(old, new)`` on every change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def update(self, **changes: Any) -> RoomState:
        """Replace fields of the state and notify listeners if anything changed."""
        old = self._state
        new = dataclasses.replace(old, **changes)
        if new == old:
            return old
        self._state = new
        for listener in list(self._listeners):
            try:
                listener(old, new)
            except Exception:
                logger.exception("state listener raised")
        return new

    def update_remote(self, identity: str, **changes: Any) -> None:
        """Change one remote participant (created if unknown)."""
        remotes = dict(self._state.remotes)
        current = remotes.get(identity) or ParticipantState(identity=identity)
        remotes[identity] = dataclasses.replace(current, **changes)
        self.update(remotes=remotes)

    def remove_remote(self, identity: str) -> None:
        """Forget a remote participant."""
        if identity in self._state.remotes:
            remotes = dict(self._state.remotes)
            del remotes[identity]
            self.update(remotes=remotes)
