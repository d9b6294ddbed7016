"""Rooms' requests and answers: ``create_room``, ``join_room``, ``get_room_status``,
``end_stream``."""

from __future__ import annotations

from dataclasses import dataclass, field

from spaces_contract.codec import spec
from spaces_contract.common import ID_PATTERN, MAX_NAME_CHARS, ROOM_SPEC, id_spec
from spaces_contract.money import ShowEconomics
from spaces_contract.outputs import Destination, EgressOptions
from spaces_contract.recording import RecordingInfo, RecordingOptions

MAX_METADATA_CHARS = 4096


@dataclass(frozen=True)
class CreateRoomRequest:
    """Create the room of an appointment; the answer carries the host's token."""

    appointment_id: str = field(metadata=id_spec("the appointment whose room this is"))
    host_user_id: str | None = field(
        default=None, metadata=spec(doc="the appointment's host (default: you)", pattern=ID_PATTERN)
    )
    max_participants: int = field(
        default=100, metadata=spec(doc="participant limit", minimum=1, maximum=10_000)
    )
    empty_timeout: int = field(
        default=1800,
        metadata=spec(doc="seconds an empty room lives on", minimum=10, maximum=86_400),
    )
    metadata: str | None = field(
        default=None,
        metadata=spec(
            doc="a JSON object merged into the room's metadata (the platform's keys win)",
            max_length=MAX_METADATA_CHARS,
        ),
    )
    recording_enabled: bool = field(default=False, metadata=spec(doc="record from the start"))
    rtmp_destinations: tuple[Destination, ...] = field(
        default=(), metadata=spec(doc="go live to these from the start", max_items=10)
    )
    recording: RecordingOptions | None = field(
        default=None, metadata=spec(doc="the guide's recording options (enabled, output, ...)")
    )
    egress: EgressOptions | None = field(
        default=None, metadata=spec(doc="the guide's egress options: hls, rtmp")
    )


@dataclass(frozen=True)
class RoomAccess:
    """Where and how the host joins."""

    name: str
    url: str
    token: str
    max_participants: int
    empty_timeout: int


@dataclass(frozen=True)
class CreatedRoom:
    """The created room."""

    room: RoomAccess
    success: bool = True


@dataclass(frozen=True)
class JoinPermissions:
    """What a participant's token allows."""

    can_publish: bool = False
    can_subscribe: bool = True
    can_publish_data: bool = False


@dataclass(frozen=True)
class JoinRoomRequest:
    """A token to join a live room (viewers for themselves; the host for guests)."""

    room_name: str = field(metadata=ROOM_SPEC)
    user_id: str = field(metadata=id_spec("who joins"))
    user_name: str = field(
        default="",
        metadata=spec(doc="display name", max_length=MAX_NAME_CHARS, printable=True),
    )
    permissions: JoinPermissions = field(default_factory=JoinPermissions)


@dataclass(frozen=True)
class JoinedRoom:
    """A short-lived join token."""

    token: str
    url: str
    success: bool = True


@dataclass(frozen=True)
class RoomStatusRequest:
    """Who is in the room."""

    room_name: str = field(metadata=ROOM_SPEC)


@dataclass(frozen=True)
class ParticipantSummary:
    """One participant."""

    identity: str
    name: str
    is_publishing: bool
    joined_at: int


@dataclass(frozen=True)
class RoomSummary:
    """The room right now."""

    name: str
    participant_count: int
    publisher_count: int
    is_recording: bool
    participants: tuple[ParticipantSummary, ...]


@dataclass(frozen=True)
class RoomStatus:
    """Answer of get_room_status."""

    room: RoomSummary
    success: bool = True


@dataclass(frozen=True)
class EndStreamRequest:
    """Stop every output, close the room, compute the revenue split."""

    room_name: str = field(metadata=ROOM_SPEC)
    appointment_id: str | None = field(
        default=None, metadata=spec(doc="must match the room's appointment", pattern=ID_PATTERN)
    )


@dataclass(frozen=True)
class StreamStats:
    """Final statistics."""

    total_participants: int
    peak_publishers: int
    duration: int
    """Milliseconds."""


@dataclass(frozen=True)
class Revenue:
    """The platform's revenue split of a finished stream."""

    base_price: float
    revenue_multiplier: float
    duration_bonus: float
    total_revenue: float
    commission_rate: float
    platform_commission: float
    creator_revenue: float


@dataclass(frozen=True)
class StreamEnded:
    """Answer of end_stream."""

    stats: StreamStats
    revenue: Revenue
    message: str = "Stream ended successfully"
    recording: RecordingInfo | None = None
    economics: ShowEconomics | None = None
    success: bool = True
