"""HLS: a segmented room composite egress, started when the room's options ask for it.

``create_room`` with ``egress: {hls: {enabled: true, playlistName: ...}}`` (the platform
guide's room options) starts LiveKit's SegmentedFileOutput beside the room: H.264 + AAC
segments of ``segmentDurationS`` seconds, a playlist that lists every segment (for replay once
the show ends) and a live playlist of the newest few (for players that join late). Playlist and
segments go to the recording folder on the egress host, or to the bucket of
``RECORDING_STORAGE_BUCKET``, in a folder named after the room; ``get_broadcast_status`` reports
where the playlist is and how many segments it has so far, and the stream record keeps it.
The options and the report are the contract's (:mod:`spaces_contract.outputs`).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from backend.recording import playlist_segments, readable_path, state_of_egress
from backend.store import LiveStream
from backend.usage import EgressKind, note_egress
from spaces_common.lazy import lazy_module
from spaces_contract.outputs import HlsInfo, HlsOptions
from spaces_contract.recording import RecordingState

if TYPE_CHECKING:
    from livekit import api

    from backend.config import BackendConfig
    from backend.service import LiveKitBackendService
else:
    api = lazy_module("livekit.api")

DEFAULT_PLAYLIST = "index.m3u8"
LIVE_PLAYLIST = "live.m3u8"
"""The sliding-window playlist beside the full one."""


def _folder(room_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", room_name)


async def start_hls(svc: LiveKitBackendService, stream: LiveStream, options: HlsOptions) -> None:
    """Start the segmented egress of a room (the caller holds the room's lock and saves)."""
    if stream.hls_egress_id:
        return
    playlist = options.playlist_name or DEFAULT_PLAYLIST
    segment_s = options.segment_duration_s or svc.config.hls_segment_s
    folder = _folder(stream.room_name)
    bucket = svc.config.recording_bucket
    base = folder if bucket else f"{svc.config.recording_dir.rstrip('/')}/{folder}"
    stem = PurePosixPath(playlist).stem
    output = api.SegmentedFileOutput(
        protocol=api.SegmentedFileProtocol.HLS_PROTOCOL,
        filename_prefix=f"{base}/{stem}",
        playlist_name=f"{base}/{playlist}",
        live_playlist_name=f"{base}/{LIVE_PLAYLIST}",
        segment_duration=segment_s,
    )
    if bucket:
        output.s3.CopyFrom(api.S3Upload(bucket=bucket))
    info = await svc.start_egress(
        stream.room_name,
        svc.egress.start_room_composite_egress(
            api.RoomCompositeEgressRequest(
                room_name=stream.room_name,
                layout=options.layout.value,
                segment_outputs=[output],
            )
        ),
    )
    where = f"s3://{bucket}/{base}" if bucket else base
    stream.hls_egress_id = info.egress_id
    stream.hls = {
        "egressId": info.egress_id,
        "status": RecordingState.STARTING.value,
        "playlistName": playlist,
        "location": f"{where}/{playlist}",
        "livePlaylistName": LIVE_PLAYLIST,
        "liveLocation": f"{where}/{LIVE_PLAYLIST}",
        "segmentDurationS": segment_s,
    }
    note_egress(stream, info, EgressKind.HLS)


def apply_hls_info(stream: LiveStream, info: api.EgressInfo) -> None:
    """Update the HLS record from an EgressInfo (API answer or webhook)."""
    if not info.egress_id or info.egress_id != stream.hls.get("egressId"):
        return
    update: dict[str, Any] = {
        "status": state_of_egress().get(info.status, RecordingState.UNKNOWN).value
    }
    if info.segment_results:
        segments = info.segment_results[0]
        update.update(
            segmentCount=segments.segment_count,
            durationS=round(segments.duration / 1e9, 1),
            sizeBytes=segments.size,
        )
        # Where egress says it put them (an upload's URL) wins over where we asked.
        if segments.playlist_location:
            update["location"] = segments.playlist_location
        if segments.live_playlist_location:
            update["liveLocation"] = segments.live_playlist_location
    if info.error or info.status == api.EgressStatus.EGRESS_FAILED:
        update["error"] = "the HLS output stopped with an error on the egress service"
    stream.hls = {**stream.hls, **update}
    note_egress(stream, info, EgressKind.HLS)
    if info.status in (
        api.EgressStatus.EGRESS_COMPLETE,
        api.EgressStatus.EGRESS_FAILED,
        api.EgressStatus.EGRESS_ABORTED,
    ):
        stream.hls_egress_id = ""


def hls_status(stream: LiveStream, config: BackendConfig) -> HlsInfo | None:
    """The HLS record as the API reports it (None when the room has no HLS).

    While the egress runs, the segment count is read from its live playlist where this backend
    can see it: LiveKit's egress reports ``segment_results`` only when it ends.
    """
    record = stream.hls
    if not record:
        return None
    if stream.hls_egress_id:
        live = readable_path(config, str(record.get("liveLocation", "")))
        written = playlist_segments(live) if live is not None else None
        if written is not None and written > int(record.get("segmentCount", 0)):
            record = {**record, "segmentCount": written}
    words = {state.value: state for state in RecordingState}
    return HlsInfo(
        words.get(str(record.get("status")), RecordingState.UNKNOWN),
        str(record.get("playlistName", "")),
        str(record.get("location", "")),
        str(record.get("livePlaylistName", "")),
        str(record.get("liveLocation", "")),
        int(record.get("segmentDurationS", 0)),
        int(record.get("segmentCount", 0)),
        float(record.get("durationS", 0.0)),
        int(record.get("sizeBytes", 0)),
        record.get("error"),
    )
