"""``get_broadcast_status``'s request and answer: the recording, each live destination, the HLS
output and the money of the show so far."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from spaces_contract.common import ROOM_SPEC
from spaces_contract.money import ShowEconomics
from spaces_contract.outputs import HlsInfo
from spaces_contract.recording import RecordingInfo


class DestinationState(enum.Enum):
    """Where one destination is."""

    STARTING = "starting"
    LIVE = "live"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class BroadcastStatusRequest:
    """Recording and each destination's state."""

    room_name: str = field(metadata=ROOM_SPEC)


@dataclass(frozen=True)
class DestinationStatus:
    """One destination."""

    name: str
    status: DestinationState
    error: str


@dataclass(frozen=True)
class BroadcastStatus:
    """Answer of get_broadcast_status."""

    recording: RecordingInfo
    live: bool
    destinations: tuple[DestinationStatus, ...]
    hls: HlsInfo | None = None
    """The HLS output, when the room asked for one: where its playlist is, segments so far."""
    economics: ShowEconomics | None = None
    """Cost, revenue, commission and net so far."""
    region: str = ""
    """The deployment region (LIVEKIT_REGION)."""
    success: bool = True
