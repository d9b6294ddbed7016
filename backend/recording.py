"""Recording: ``start_recording``, ``stop_recording`` (a room composite egress to a file).

Both are serialised per room and idempotent: a retried start answers the recording already
running, a retried stop answers the recording that ended. Recordings are named, never located:
answers carry the file's name, not where the egress wrote it.

Progress: LiveKit's EgressInfo says ACTIVE and nothing more until an egress ends (the file's
size and duration come with the end), so a recording whose writer hangs looks healthy. An MP4
recording written to the recording folder therefore carries a second output in the same egress
request: short HLS segments (``recording_progress_s`` long) in a ``.progress`` folder beside
the file. LiveKit's egress rewrites that folder's live playlist after every segment it closes,
so the number of segments written so far (the live playlist's media sequence plus its entries)
is a progress counter that stops when the writer stops; ``get_broadcast_status`` reports it as
``progressSegments``. The segments are scratch: they are deleted when the recording ends and
are not counted as stored bytes.

The requests and answers are the contract's (:mod:`spaces_contract.recording`).
"""

from __future__ import annotations

import functools
import shutil
import time
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from backend.usage import EgressKind, note_egress
from spaces_common.lazy import lazy_module
from spaces_contract.codec import ApiError
from spaces_contract.common import Layout
from spaces_contract.recording import (
    OutputFormat,
    Quality,
    RecordingAnswer,
    RecordingInfo,
    RecordingState,
    StartRecordingRequest,
    StopRecordingRequest,
)

if TYPE_CHECKING:
    from livekit import api

    from backend.config import BackendConfig
    from backend.service import LiveKitBackendService, Principal
else:
    api = lazy_module("livekit.api")

PROGRESS_SUFFIX = ".progress"
"""The progress segments' folder is the recording's name plus this."""
PROGRESS_PLAYLIST = "live.m3u8"
"""The progress folder's live playlist (rewritten after every segment)."""


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


def info_from_record(record: dict[str, Any], active: bool | None = None) -> RecordingInfo:
    """The API's view of a stored recording record (``active``: whether it records now)."""
    words = {state.value: state for state in RecordingState}
    return RecordingInfo(
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


def with_progress(info: RecordingInfo, record: dict[str, Any]) -> RecordingInfo:
    """``info`` with the progress counter read from the recording's progress folder."""
    if not info.active:
        return info
    return replace(info, progress_segments=progress_segments(record))


def progress_segments(record: dict[str, Any]) -> int | None:
    """Segments written so far by a recording's progress output (None: nothing to read)."""
    folder = record.get("progressFolder")
    if not folder:
        return None
    return playlist_segments(Path(folder) / PROGRESS_PLAYLIST)


def playlist_segments(live_playlist: Path) -> int | None:
    """Segments an egress has written so far, read from its live HLS playlist (None: nothing
    to read yet, or not visible from here).

    LiveKit's egress rewrites the live playlist after every segment it closes but reports
    ``segment_results`` only when the egress ends, so the playlist is the only running count.
    It lists the newest few segments after ``#EXT-X-MEDIA-SEQUENCE``, the number of segments
    that scrolled out before them.
    """
    try:
        text = live_playlist.read_text(errors="replace")
    except OSError:
        return None
    first = 0
    count = 0
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            try:
                first = int(line.split(":", 1)[1])
            except ValueError:
                return None
        elif line and not line.startswith("#"):
            count += 1
    return first + count if count or first else None


def readable_path(config: BackendConfig, egress_path: str) -> Path | None:
    """Where this backend reads a path the egress wrote (None when it cannot: a bucket, or a
    folder it does not see).

    A path under ``recording_dir`` is read under ``recording_read_dir`` (the same volume mounted
    elsewhere); any other absolute path is read where the egress says it is (the backend on the
    egress host, or the volume mounted at the same place).
    """
    if config.recording_bucket or not egress_path:
        return None
    read_root = config.recording_read_dir
    if not read_root and PurePosixPath(config.recording_dir).is_absolute():
        read_root = config.recording_dir
    written_root = config.recording_dir.rstrip("/") + "/"
    if read_root and egress_path.startswith(written_root):
        return Path(read_root) / egress_path[len(written_root) :]
    if PurePosixPath(egress_path).is_absolute():
        return Path(egress_path)
    return None


def drop_progress(record: dict[str, Any]) -> dict[str, Any]:
    """Delete a finished recording's progress segments (scratch); the record without them."""
    folder = record.get("progressFolder")
    if folder:
        path = Path(folder)
        if path.name.endswith(PROGRESS_SUFFIX):  # never anything but our own scratch folder
            shutil.rmtree(path, ignore_errors=True)
    return {k: v for k, v in record.items() if k != "progressFolder"}


def progress_folders(config: BackendConfig, name: str) -> tuple[str, str] | None:
    """Where egress writes a recording's progress segments and where this backend reads them
    (None when it cannot: a bucket, progress off, or a folder it does not see)."""
    if not config.recording_progress_s:
        return None
    written = f"{config.recording_dir.rstrip('/')}/{name}{PROGRESS_SUFFIX}"
    readable = readable_path(config, written)
    return (written, str(readable)) if readable is not None else None


def progress_output(config: BackendConfig, folder: str) -> api.SegmentedFileOutput:
    """The progress output of a recording: short HLS segments in ``folder``."""
    return api.SegmentedFileOutput(
        protocol=api.SegmentedFileProtocol.HLS_PROTOCOL,
        filename_prefix=f"{folder}/progress",
        playlist_name=f"{folder}/index.m3u8",
        live_playlist_name=f"{folder}/{PROGRESS_PLAYLIST}",
        segment_duration=config.recording_progress_s,
    )


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
            return RecordingAnswer(info_from_record(stream.recording))
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
        # Progress needs H.264 (HLS) like the file (MP4), and a folder this backend can read.
        progress = progress_folders(svc.config, name) if req.output is OutputFormat.MP4 else None
        info = await svc.start_egress(
            req.room_name,
            svc.egress.start_room_composite_egress(
                api.RoomCompositeEgressRequest(
                    room_name=req.room_name,
                    layout=req.layout.value,
                    custom_base_url=svc.config.custom_layout_url
                    if req.layout is Layout.CUSTOM
                    else "",
                    preset=quality_presets()[req.quality],
                    file_outputs=[file_output],
                    segment_outputs=[progress_output(svc.config, progress[0])] if progress else [],
                )
            ),
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
        if progress:
            stream.recording["progressFolder"] = progress[1]
        svc.store.save_stream(stream)
        return RecordingAnswer(info_from_record(stream.recording))


async def stop_recording(
    svc: LiveKitBackendService, principal: Principal, req: StopRecordingRequest
) -> RecordingAnswer:
    """Stop recording; the file (name, size, duration) is in the answer."""
    svc.hosted_stream(principal, req.room_name)
    async with svc.room_lock(req.room_name):
        stream = svc.hosted_stream(principal, req.room_name)
        if not stream.recording_egress_id:
            if stream.recording.get("egressId"):
                return RecordingAnswer(info_from_record(stream.recording))  # a retry
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
        stream.recording = drop_progress({**stream.recording, **recording_info(info)})
        note_egress(stream, info, EgressKind.RECORDING, svc.now_ms())
        stream.recording_egress_id = ""
        svc.store.save_stream(stream)
        return RecordingAnswer(info_from_record(stream.recording))
