"""Recording's requests and answers: ``start_recording``, ``stop_recording``.

A recording is named, never located: answers carry the file's name, not where the egress wrote
it. While a recording runs, ``get_broadcast_status`` reports its progress counter
(:attr:`RecordingInfo.progress_segments`); the backend's :mod:`backend.recording` says how it is
counted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from spaces_contract.codec import spec
from spaces_contract.common import ROOM_SPEC, Layout


class OutputFormat(enum.Enum):
    """Recording container."""

    MP4 = "mp4"
    WEBM = "webm"


class Quality(enum.Enum):
    """Recording quality (an egress preset)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class RecordingState(enum.Enum):
    """Where a recording is."""

    STARTING = "starting"
    ACTIVE = "active"
    ENDING = "ending"
    COMPLETE = "complete"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class StartRecordingRequest:
    """Record the room."""

    room_name: str = field(metadata=ROOM_SPEC)
    output: OutputFormat = field(default=OutputFormat.MP4, metadata=spec(doc="container"))
    layout: Layout = field(default=Layout.SPEAKER, metadata=spec(doc="composition"))
    quality: Quality = field(default=Quality.HIGH, metadata=spec(doc="egress preset"))


@dataclass(frozen=True)
class RecordingOptions:
    """The guide's ``recording`` room option of create_room."""

    enabled: bool = field(default=False, metadata=spec(doc="record from the start"))
    output: OutputFormat = field(default=OutputFormat.MP4, metadata=spec(doc="container"))
    layout: Layout = field(default=Layout.SPEAKER, metadata=spec(doc="composition"))
    quality: Quality = field(default=Quality.HIGH, metadata=spec(doc="egress preset"))


@dataclass(frozen=True)
class StopRecordingRequest:
    """Stop recording the room."""

    room_name: str = field(metadata=ROOM_SPEC)


@dataclass(frozen=True)
class RecordingInfo:
    """A recording: its state and, once it ends, the file's name, size and duration."""

    status: RecordingState
    egress_id: str | None = None
    name: str | None = None
    """The file's name (never the path it was written to)."""
    output: str | None = None
    layout: str | None = None
    quality: str | None = None
    size_bytes: int | None = None
    duration_s: float | None = None
    error: str | None = None
    active: bool | None = None
    """In get_broadcast_status: whether it is recording now."""
    progress_segments: int | None = None
    """In get_broadcast_status, while recording: how many progress segments the egress has
    written so far. It grows every few seconds while the recording is written; a count that
    stops growing while the status says active is a stalled recording. None when progress
    cannot be seen (WebM, a bucket, progress turned off, or no segment written yet)."""


@dataclass(frozen=True)
class RecordingAnswer:
    """Answer of start_recording and stop_recording."""

    recording: RecordingInfo
    success: bool = True
