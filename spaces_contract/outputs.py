"""What leaves the room: going live (``start_rtmp``, ``update_rtmp``, ``stop_rtmp``), the HLS
output a room may ask for, and the composition the egresses use (``update_layout``).

Recording, the other output, has its own module (:mod:`spaces_contract.recording`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from spaces_contract.codec import spec
from spaces_contract.common import ROOM_SPEC, Layout
from spaces_contract.platforms import PLATFORMS
from spaces_contract.recording import RecordingState

# --- going live ---------------------------------------------------------------------------------

MAX_URL_CHARS = 1024
"""No ingest URL is longer (YouTube's and Twitch's are under 120 characters with the key)."""
URL_PATTERN = r"rtmps?://[A-Za-z0-9.:\[\]-]+/[!-~]+"
"""The shape of a custom destination URL (the schema's pattern; the backend's destination
policy checks more)."""
MAX_DESTINATIONS = 10
NAME_PATTERN = r"[a-z0-9][a-z0-9-]{0,31}"
STREAM_KEY_PATTERN = r"[!-.0-~]{1,256}"
"""Printable ASCII without spaces or ``/`` (the key is the URL's last segment)."""
PLATFORM_PATTERN = "|".join([p.id for p in PLATFORMS] + ["custom"])


@dataclass(frozen=True)
class DestinationSpec:
    """A destination by platform and key, or a custom URL with an optional name."""

    platform: str | None = field(
        default=None, metadata=spec(doc="a platform id, or custom", pattern=PLATFORM_PATTERN)
    )
    stream_key: str | None = field(
        default=None, metadata=spec(doc="the platform's stream key", pattern=STREAM_KEY_PATTERN)
    )
    url: str | None = field(
        default=None,
        metadata=spec(doc="rtmp(s)://host/app/key", pattern=URL_PATTERN, max_length=MAX_URL_CHARS),
    )
    name: str | None = field(
        default=None, metadata=spec(doc="what to call it in status", pattern=NAME_PATTERN)
    )


Destination = (
    Annotated[
        str, spec(doc="rtmp(s)://host/app/key", pattern=URL_PATTERN, max_length=MAX_URL_CHARS)
    ]
    | DestinationSpec
)
DestinationName = Annotated[str, spec(doc="a destination's name", pattern=NAME_PATTERN)]


@dataclass(frozen=True)
class StartRtmpRequest:
    """Go live to one or more destinations."""

    room_name: str = field(metadata=ROOM_SPEC)
    destinations: tuple[Destination, ...] = field(
        metadata=spec(doc="where to stream", min_items=1, max_items=MAX_DESTINATIONS)
    )
    layout: Layout = field(default=Layout.SPEAKER, metadata=spec(doc="composition"))


@dataclass(frozen=True)
class UpdateRtmpRequest:
    """Add and remove destinations while live; the others keep going."""

    room_name: str = field(metadata=ROOM_SPEC)
    add: tuple[Destination, ...] = field(
        default=(), metadata=spec(doc="destinations to add", max_items=MAX_DESTINATIONS)
    )
    remove: tuple[DestinationName, ...] = field(
        default=(), metadata=spec(doc="names to remove", max_items=MAX_DESTINATIONS)
    )


@dataclass(frozen=True)
class StopRtmpRequest:
    """End the live stream to every destination."""

    room_name: str = field(metadata=ROOM_SPEC)


@dataclass(frozen=True)
class LiveAnswer:
    """Answer of start_rtmp."""

    egress_id: str
    destinations: tuple[str, ...]
    success: bool = True


@dataclass(frozen=True)
class DestinationsAnswer:
    """Answer of update_rtmp: the destinations now live."""

    destinations: tuple[str, ...]
    success: bool = True


# --- HLS ----------------------------------------------------------------------------------------

PLAYLIST_PATTERN = r"[A-Za-z0-9_.-]{1,64}\.m3u8"
"""A playlist's file name: no folders (the backend picks the folder), ends in .m3u8."""


@dataclass(frozen=True)
class HlsOptions:
    """The guide's ``egress.hls`` room option."""

    enabled: bool = field(default=False, metadata=spec(doc="publish the show as HLS"))
    playlist_name: str | None = field(
        default=None,
        metadata=spec(
            doc="the playlist's file name (default index.m3u8)", pattern=PLAYLIST_PATTERN
        ),
    )
    segment_duration_s: int | None = field(
        default=None,
        metadata=spec(doc="seconds per segment (default: the backend's)", minimum=1, maximum=30),
    )
    layout: Layout = field(default=Layout.SPEAKER, metadata=spec(doc="composition"))


@dataclass(frozen=True)
class RtmpOptions:
    """The guide's ``egress.rtmp`` room option (the same as ``rtmpDestinations``)."""

    urls: tuple[Destination, ...] = field(
        default=(), metadata=spec(doc="where to go live from the start", max_items=10)
    )


@dataclass(frozen=True)
class EgressOptions:
    """The guide's ``egress`` room options."""

    hls: HlsOptions | None = None
    rtmp: RtmpOptions | None = None


@dataclass(frozen=True)
class HlsInfo:
    """The HLS output as get_broadcast_status reports it."""

    status: RecordingState
    playlist_name: str
    location: str
    """Where the playlist is: a path on the egress host, or ``s3://bucket/key``."""
    live_playlist_name: str
    live_location: str
    segment_duration_s: int
    segment_count: int = 0
    duration_s: float = 0.0
    size_bytes: int = 0
    error: str | None = None


# --- composition --------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateLayoutRequest:
    """Change how the room's running egresses compose it."""

    room_name: str = field(metadata=ROOM_SPEC)
    layout: Layout = field(metadata=spec(doc="composition from now on"))


@dataclass(frozen=True)
class LayoutAnswer:
    """Answer of update_layout: the layout, and the egresses now composing in it."""

    layout: Layout
    egress_ids: tuple[str, ...]
    """The live stream's and the recording's egress, those that run ([] = none runs)."""
    success: bool = True
