"""Recording: ``start_recording``, ``stop_recording`` (a room composite egress to a file).

Both are serialised per room and idempotent: a retried start answers the recording already
running, a retried stop answers the recording that ended. Recordings are named, never located:
answers carry the file's name, not where the egress wrote it.
"""

from __future__ import annotations

import enum
import functools
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from backend.common import ROOM_SPEC, Layout
from backend.contract import ApiError, spec
from backend.lazy import lazy_module
from backend.usage import EgressKind, note_egress

if TYPE_CHECKING:
    from livekit import api

    from backend.service import LiveKitBackendService, Principal
else:
    api = lazy_module("livekit.api")


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


@functools.cache
def quality_presets() -> dict[Quality, api.EncodingOptionsPreset]:
    """Egress's encoding preset for each quality (built on first use: LiveKit loads lazily)."""
    return {
        Quality.LOW: api.EncodingOptionsPreset.H264_720P_30,
        Quality.MEDIUM: api.EncodingOptionsPreset.H264_1080P_30,
        Quality.HIGH: api.EncodingOptionsPreset.H264_1080P_60,
    }


@functools.cache
def state_of_egress() -> dict[api.EgressStatus, RecordingState]:
    """Our recording state for each egress status (built on first use)."""
    return {
        api.EgressStatus.EGRESS_STARTING: RecordingState.STARTING,
        api.EgressStatus.EGRESS_ACTIVE: RecordingState.ACTIVE,
        api.EgressStatus.EGRESS_ENDING: RecordingState.ENDING,
        api.EgressStatus.EGRESS_COMPLETE: RecordingState.COMPLETE,
        api.EgressStatus.EGRESS_FAILED: RecordingState.FAILED,
        api.EgressStatus.EGRESS_ABORTED: RecordingState.FAILED,
    }


FAILED_WORDS = "the recording stopped with an error on the egress service; start it again"


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

    @classmethod
    def from_record(cls, record: dict[str, Any], active: bool | None = None) -> RecordingInfo:
        """From the stored record."""
        words = {state.value: state for state in RecordingState}
        return cls(
            words.get(str(record.get("status")), RecordingState.UNKNOWN),
            record.get("egressId"),
            record.get("name"),
            record.get("output"),
            record.get("layout"),
            record.get("quality"),
            record.get("sizeBytes"),
            record.get("durationS"),
            record.get("error"),
            active,
        )


@dataclass(frozen=True)
class RecordingAnswer:
    """Answer of start_recording and stop_recording."""

    recording: RecordingInfo
    success: bool = True


def recording_info(info: api.EgressInfo) -> dict[str, Any]:
    """The stored record's fields from an EgressInfo (names only, words not raw errors)."""
    result: dict[str, Any] = {
        "status": state_of_egress().get(info.status, RecordingState.UNKNOWN).value
    }
    if info.file_results:
        file = info.file_results[0]
        result.update(
            name=PurePosixPath(file.filename or file.location).name,
            sizeBytes=file.size,
            durationS=round(file.duration / 1e9, 1),
        )
    if info.error or info.status == api.EgressStatus.EGRESS_FAILED:
        result["error"] = FAILED_WORDS
    return result


async def start_recording(
    svc: LiveKitBackendService, principal: Principal, req: StartRecordingRequest
) -> RecordingAnswer:
    """Record the room (room composite egress to a file or bucket)."""
    svc.hosted_stream(principal, req.room_name)
    async with svc.room_lock(req.room_name):
        stream = svc.hosted_stream(principal, req.room_name)
        svc.require_active(stream)
        if stream.recording_egress_id:
            return RecordingAnswer(RecordingInfo.from_record(stream.recording))
        name = f"{req.room_name}-{time.strftime('%Y%m%d-%H%M%S')}.{req.output.value}"
        bucket = svc.config.recording_bucket
        file_output = api.EncodedFileOutput(
            file_type=api.EncodedFileType.MP4
            if req.output is OutputFormat.MP4
            else api.EncodedFileType.DEFAULT_FILETYPE,
            filepath=name if bucket else f"{svc.config.recording_dir.rstrip('/')}/{name}",
        )
        if bucket:
            file_output.s3.CopyFrom(api.S3Upload(bucket=bucket))
        info = await svc.livekit(
            svc.egress.start_room_composite_egress(
                api.RoomCompositeEgressRequest(
                    room_name=req.room_name,
                    layout=req.layout.value,
                    custom_base_url=svc.config.custom_layout_url
                    if req.layout is Layout.CUSTOM
                    else "",
                    preset=quality_presets()[req.quality],
                    file_outputs=[file_output],
                )
            )
        )
        stream.recording_egress_id = info.egress_id
        note_egress(stream, info, EgressKind.RECORDING)
        stream.recording = {
            "egressId": info.egress_id,
            "status": RecordingState.STARTING.value,
            "name": name,
            "output": req.output.value,
            "layout": req.layout.value,
            "quality": req.quality.value,
        }
        svc.store.save_stream(stream)
        return RecordingAnswer(RecordingInfo.from_record(stream.recording))


async def stop_recording(
    svc: LiveKitBackendService, principal: Principal, req: StopRecordingRequest
) -> RecordingAnswer:
    """Stop recording; the file (name, size, duration) is in the answer."""
    svc.hosted_stream(principal, req.room_name)
    async with svc.room_lock(req.room_name):
        stream = svc.hosted_stream(principal, req.room_name)
        if not stream.recording_egress_id:
            if stream.recording.get("egressId"):
                return RecordingAnswer(RecordingInfo.from_record(stream.recording))  # a retry
            raise ApiError(409, "not_recording", "this room is not being recorded")
        try:
            info = await svc.livekit(
                svc.egress.stop_egress(api.StopEgressRequest(egress_id=stream.recording_egress_id))
            )
        except api.TwirpError as error:
            if error.status not in (404, 412):
                raise
            # It ended on its own (failed, or the room closed): report how it ended.
            listed = await svc.livekit(
                svc.egress.list_egress(api.ListEgressRequest(egress_id=stream.recording_egress_id))
            )
            info = listed.items[0] if listed.items else api.EgressInfo()
        stream.recording = {**stream.recording, **recording_info(info)}
        note_egress(stream, info, EgressKind.RECORDING, svc.now_ms())
        stream.recording_egress_id = ""
        svc.store.save_stream(stream)
        return RecordingAnswer(RecordingInfo.from_record(stream.recording))
