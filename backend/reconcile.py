"""Egresses LiveKit runs that the records do not know: found, then adopted or stopped.

A start that times out (``504 livekit_timeout``) may still reach the Egress service: a frozen
or slow service carries the request out once it recovers, and the egress runs with no id in
our record. Such an orphan would record or stream unseen, hold its RTMP destination against a
retry, and be left out of the status and the cost. So after every timed-out start, and for every
active stream when an instance starts, the backend lists the room's active egresses and, under
the room's lock, compares them with the record:

- a recording (file output) while the record has none is **adopted**: it becomes the room's
  recording, as if the start had answered;
- anything else unknown (a second recording, an RTMP or HLS egress whose destinations the record
  cannot name) is **stopped**, so a retry starts clean.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from backend.recording import PROGRESS_SUFFIX, readable_path
from backend.usage import EgressKind, note_egress
from spaces_common.lazy import lazy_module
from spaces_contract.codec import ApiError
from spaces_contract.recording import RecordingState

if TYPE_CHECKING:
    from livekit import api

    from backend.service import LiveKitBackendService
    from backend.store import LiveStream
else:
    api = lazy_module("livekit.api")

logger = logging.getLogger(__name__)

RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 60.0, 60.0, 60.0, 60.0)
"""Waits between attempts while the Egress service does not answer (about six minutes)."""

FOLLOW_UPS_S = (3.0, 10.0, 30.0, 90.0)
"""After a pass that LiveKit answered, look again after these waits: a start the Egress service
received but had not yet carried out when the first pass asked is found by a later one."""

TIMEOUT_WORDS = (
    "; the egress may still start once LiveKit answers: the backend then adopts a recording "
    "or stops an unknown live stream, so check get_broadcast_status before you try again"
)
"""Added to a timed-out start's 504 words."""


def _active(status: api.EgressStatus) -> bool:
    return status in (
        api.EgressStatus.EGRESS_STARTING,
        api.EgressStatus.EGRESS_ACTIVE,
    )


def _file_path(info: api.EgressInfo) -> str:
    """The file an egress writes ("" when it writes none)."""
    request = info.room_composite
    if request.file_outputs:
        return request.file_outputs[0].filepath or "recording"
    if request.HasField("file"):
        return request.file.filepath or "recording"
    if info.file_results:
        return info.file_results[0].filename or "recording"
    return ""


def _adopt_recording(svc: LiveKitBackendService, stream: LiveStream, info: api.EgressInfo) -> None:
    path = _file_path(info)
    name = PurePosixPath(path).name
    stream.recording_egress_id = info.egress_id
    stream.recording = {
        "egressId": info.egress_id,
        "status": (
            RecordingState.ACTIVE
            if info.status == api.EgressStatus.EGRESS_ACTIVE
            else RecordingState.STARTING
        ).value,
        "name": name,
        "output": PurePosixPath(name).suffix.lstrip(".") or "mp4",
        "layout": info.room_composite.layout or "speaker",
        "adopted": True,
    }
    for segments in info.room_composite.segment_outputs:
        folder = str(PurePosixPath(segments.live_playlist_name).parent)
        readable = readable_path(svc.config, folder) if folder.endswith(PROGRESS_SUFFIX) else None
        if readable is not None:
            stream.recording["progressFolder"] = str(readable)
    note_egress(stream, info, EgressKind.RECORDING)


async def reconcile_room(svc: LiveKitBackendService, room_name: str) -> bool:
    """Adopt or stop the room's active egresses that its record does not know; whether there
    were any.

    Raises:
        ApiError: LiveKit did not answer (the caller may try again later).
    """
    async with svc.room_lock(room_name):
        stream = svc.store.get_stream(room_name)
        if stream is None:
            return False
        listed = await svc.livekit(
            svc.egress.list_egress(api.ListEgressRequest(room_name=room_name, active=True))
        )
        known = {stream.recording_egress_id, stream.rtmp_egress_id, stream.hls_egress_id}
        changed = found = False
        for info in listed.items:
            if info.egress_id in known or not _active(info.status):
                continue
            found = True
            if stream.status == "active" and not stream.recording_egress_id and _file_path(info):
                logger.info("adopted recording egress %s of %s", info.egress_id, room_name)
                _adopt_recording(svc, stream, info)
                changed = True
                continue
            logger.info("stopping unknown egress %s of %s", info.egress_id, room_name)
            try:
                await svc.livekit(
                    svc.egress.stop_egress(api.StopEgressRequest(egress_id=info.egress_id))
                )
            except api.TwirpError as error:
                if error.status not in (404, 412):  # already ended: nothing to stop
                    raise
        if changed:
            svc.store.save_stream(stream)
        return found


async def reconcile_until_answered(
    svc: LiveKitBackendService, room_name: str, follow_ups_s: tuple[float, ...] = FOLLOW_UPS_S
) -> None:
    """:func:`reconcile_room`, tried again with growing waits until LiveKit answers, then again
    after each of ``follow_ups_s`` until a pass finds an unknown egress."""
    for follow_up_s in (0.0, *follow_ups_s):
        await asyncio.sleep(follow_up_s)
        found = await _answered_pass(svc, room_name)
        if found is None:
            logger.warning("gave up reconciling the egresses of %s: no answer", room_name)
            return
        if found:
            return


async def _answered_pass(svc: LiveKitBackendService, room_name: str) -> bool | None:
    """One reconciliation, tried until LiveKit answers (None: it never did)."""
    for delay_s in (0.0, *RETRY_DELAYS_S):
        await asyncio.sleep(delay_s)
        try:
            return await reconcile_room(svc, room_name)
        except ApiError as error:
            if error.status != 504 and error.status < 500:
                return False
        except Exception as error:  # LiveKit unreachable or refusing: try again later
            logger.info("reconciling %s: %s", room_name, type(error).__name__)
    return None


async def reconcile_all(svc: LiveKitBackendService) -> None:
    """Reconcile every active stream's room (when an instance starts)."""
    await asyncio.gather(
        *(reconcile_until_answered(svc, room) for room in svc.store.active_rooms())
    )
