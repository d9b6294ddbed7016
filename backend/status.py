"""Status: ``get_broadcast_status``, and LiveKit's webhooks applied to the stream records.

Destination errors reach callers only as fixed words (:data:`FAILED_WORDS`): the egress's own
error text tells a refused connection from an open port that speaks something else, which would
turn the API into a port scanner. The request and answer are the contract's
(:mod:`spaces_contract.status`).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from backend.destinations import FAILED_WORDS
from backend.hls import apply_hls_info, hls_status
from backend.recording import drop_progress, info_from_record, recording_info, with_progress
from backend.store import LiveStream
from backend.usage import (
    close_presence,
    economics_of,
    kind_of,
    note_egress,
    note_joined,
    note_left,
    usage_of,
)
from spaces_common.lazy import lazy_module
from spaces_contract.money import ShowEconomics
from spaces_contract.recording import RecordingInfo
from spaces_contract.status import (
    BroadcastStatus,
    BroadcastStatusRequest,
    DestinationState,
    DestinationStatus,
)

if TYPE_CHECKING:
    from livekit import api

    from backend.service import LiveKitBackendService, Principal
else:
    api = lazy_module("livekit.api")

logger = logging.getLogger(__name__)
LIVE_FAILED_WORDS = (
    "the live stream stopped with an error on the egress service; start it again with start_rtmp"
)
"""A destination's words when the live stream's egress itself failed (not one destination)."""


def _ended(status: api.EgressStatus) -> bool:
    """Whether an egress in ``status`` has finished (for good or not)."""
    return status in (
        api.EgressStatus.EGRESS_COMPLETE,
        api.EgressStatus.EGRESS_FAILED,
        api.EgressStatus.EGRESS_ABORTED,
    )


@functools.cache
def _state_of_stream() -> dict[api.StreamInfo.Status, DestinationState]:
    """Our state for each egress stream status (built on first use: LiveKit loads lazily)."""
    return {
        api.StreamInfo.Status.ACTIVE: DestinationState.LIVE,
        api.StreamInfo.Status.FINISHED: DestinationState.STOPPED,
        api.StreamInfo.Status.FAILED: DestinationState.FAILED,
    }


async def get_broadcast_status(
    svc: LiveKitBackendService, principal: Principal, req: BroadcastStatusRequest
) -> BroadcastStatus:
    """Recording and each destination's status and error (from egress info and webhooks)."""
    svc.hosted_stream(principal, req.room_name)
    async with svc.room_lock(req.room_name):
        stream = svc.hosted_stream(principal, req.room_name)
        running = {stream.rtmp_egress_id, stream.recording_egress_id, stream.hls_egress_id} - {""}
        for egress_id in running:
            listed = await svc.livekit(
                svc.egress.list_egress(api.ListEgressRequest(egress_id=egress_id))
            )
            if listed.items:
                apply_egress_info(stream, listed.items[0])
        if running:
            svc.store.save_stream(stream)
        states = {state.value: state for state in DestinationState}
        now_ms = svc.now_ms()
        appointment = svc.store.get_appointment(stream.appointment_id)
        figures = economics_of(
            stream, appointment.base_price if appointment else 0.0, svc.config.rates, now_ms
        )
        live_s = usage_of(stream, now_ms).live_ms / 1000
        recording = (
            with_progress(
                info_from_record(stream.recording, bool(stream.recording_egress_id)),
                stream.recording,
            )
            if stream.recording
            else RecordingInfo(info_from_record({}).status, active=False)
        )
        return BroadcastStatus(
            recording,
            bool(stream.rtmp_egress_id),
            tuple(
                DestinationStatus(
                    name,
                    states.get(str(status.get("status")), DestinationState.STARTING),
                    str(status.get("error", "")),
                )
                for name, status in stream.destination_status.items()
            ),
            hls=hls_status(stream, svc.config),
            economics=ShowEconomics.of(figures.as_json(), live_s),
            region=svc.config.region,
        )


MASKED_KEY_RE = re.compile(r"^(?P<base>.*/)\{(?P<head>[^{}]*)\.\.\.(?P<tail>[^{}]*)\}(?P<rest>.*)$")


def _match_destination(masked: str, destinations: Mapping[str, str]) -> str | None:
    """Find our destination for a URL as EgressInfo shows it: ``rtmp://host/app/{abc...xyz}``.

    LiveKit's egress keeps up to three characters of each end of the key; a URL matches when
    everything before the key is equal and the key starts and ends with the visible parts.
    When two of our URLs fit the same mask there is no telling them apart: no match.
    """
    for name, url in destinations.items():
        if masked == url:
            return name
    found = MASKED_KEY_RE.match(masked)
    if found is None:
        return None
    base, head, tail, rest = found.group("base", "head", "tail", "rest")
    fits = []
    for name, url in destinations.items():
        if rest and url.endswith(rest):
            url = url[: -len(rest)]
        key = url[len(base) :]
        if url.startswith(base) and "/" not in key and key.startswith(head) and key.endswith(tail):
            if len(key) >= len(head) + len(tail):
                fits.append(name)
    return fits[0] if len(fits) == 1 else None


def apply_egress_info(stream: LiveStream, info: api.EgressInfo) -> None:
    """Update recording and destination states from an EgressInfo (API answer or webhook).

    EgressInfo masks stream URLs, so results are matched to our own name → URL map by the
    unmasked prefix. When the egress ends, the URLs (and their keys) are dropped.
    """
    # An egress that died takes every destination with it: they failed, they were not stopped
    # (a stop of ours clears rtmp_egress_id before its end arrives).
    crashed = (
        bool(info.egress_id)
        and info.egress_id == stream.rtmp_egress_id
        and _ended(info.status)
        and (bool(info.error) or info.status != api.EgressStatus.EGRESS_COMPLETE)
    )
    for result in info.stream_results:
        name = _match_destination(result.url, stream.destinations)
        if name is None:
            continue
        state = _state_of_stream().get(result.status, DestinationState.STARTING)
        stream.destination_status[name] = {
            "status": state.value,
            "error": FAILED_WORDS if state is DestinationState.FAILED else "",
        }
        if crashed and state is not DestinationState.FAILED:
            stream.destination_status[name] = {"status": "failed", "error": LIVE_FAILED_WORDS}
    if info.egress_id == stream.recording_egress_id or (
        info.egress_id and info.egress_id == stream.recording.get("egressId")
    ):
        stream.recording = {**stream.recording, **recording_info(info)}
    kind = kind_of(stream, info.egress_id)
    if kind is not None:
        note_egress(stream, info, kind)
    apply_hls_info(stream, info)
    if _ended(info.status):
        if info.egress_id == stream.rtmp_egress_id:
            stream.rtmp_egress_id = ""
            for name, status in stream.destination_status.items():
                if status.get("status") in ("starting", "live"):
                    stream.destination_status[name] = (
                        {"status": "failed", "error": LIVE_FAILED_WORDS}
                        if crashed
                        else {"status": "stopped", "error": ""}
                    )
            stream.destinations = {}
        if info.egress_id == stream.recording_egress_id:
            stream.recording_egress_id = ""
            stream.recording = drop_progress(stream.recording)


def _event_ms(event: api.WebhookEvent) -> int:
    """When LiveKit says the event happened (its clock, seconds), else now."""
    return event.created_at * 1000 if event.created_at else int(time.time() * 1000)


def _joined_ms(event: api.WebhookEvent, stream: LiveStream) -> int:
    """When the participant joined: LiveKit's own ms figure, else the event's time; never
    before the stream began (nobody is billed for time before the room was ours)."""
    return max(event.participant.joined_at_ms or _event_ms(event), stream.start_time_ms)


def _stale(stream: LiveStream, participant: api.ParticipantInfo) -> bool:
    """Whether this is an older session of an identity whose newer session we saw join."""
    newest = stream.participant_sids.get(participant.identity, "")
    return bool(newest and participant.sid and participant.sid != newest)


LEFT_EVENTS = frozenset({"participant_left", "participant_connection_aborted"})
"""Webhooks that say someone is gone. LiveKit sends ``participant_connection_aborted`` in place
of ``participant_left`` when its record of the participant's connection was lost on the way
(after a signal resume, say), so both end a stay."""


async def handle_webhook(
    svc: LiveKitBackendService, event: api.WebhookEvent, remember: bool = False
) -> bool:
    """Apply a verified LiveKit webhook to the stream record of its room; whether it was
    applied (False: ``remember`` and its id was seen before).

    Participant and track events keep who is in the room and who publishes, so the final
    statistics (peak participants, peak publishers) come from the server's own account.
    With ``remember``, the event's id is checked and recorded under the room's lock, after the
    change is saved: a delivery to another instance at the same time waits and is then a
    duplicate, and an instance that dies half-way leaves the event unseen, so LiveKit's retry
    applies it.
    """
    room_name = event.room.name or event.egress_info.room_name
    if not room_name or svc.store.get_stream(room_name) is None:
        return svc.store.remember_webhook(event.id) if remember else True
    async with svc.room_lock(room_name):
        if remember and svc.store.webhook_seen(event.id):
            return False
        stream = svc.store.get_stream(room_name)
        if stream is None:
            return svc.store.remember_webhook(event.id) if remember else True
        participant = event.participant
        hidden = participant.kind == api.ParticipantInfo.Kind.EGRESS
        if event.event.startswith("egress_"):
            apply_egress_info(stream, event.egress_info)
        elif event.event == "participant_joined" and not hidden:
            if stream.status != "active":
                # An old token re-created an ended stream's room: close it again.
                svc.spawn_delete_room(room_name)
            else:
                if participant.identity not in stream.participants:
                    stream.participants.append(participant.identity)
                if participant.sid:
                    stream.participant_sids[participant.identity] = participant.sid
                note_joined(stream, participant.identity, _joined_ms(event, stream))
        elif event.event in LEFT_EVENTS and _stale(stream, participant):
            # An older session of someone who has joined again (the same identity replaces
            # it; on a cluster its leave can come from another node after the new join).
            pass
        elif event.event in LEFT_EVENTS:
            stream.participant_sids.pop(participant.identity, None)
            if stream.status == "active":
                note_left(stream, participant.identity, _event_ms(event))
            stream.participants = [i for i in stream.participants if i != participant.identity]
            stream.published_tracks.pop(participant.identity, None)
            stream.publishers = [i for i in stream.publishers if i != participant.identity]
        elif event.event == "track_published" and not hidden:
            tracks = stream.published_tracks.setdefault(participant.identity, [])
            if event.track.sid not in tracks:
                tracks.append(event.track.sid)
            if participant.identity not in stream.publishers:
                stream.publishers.append(participant.identity)
        elif event.event == "track_unpublished":
            # The server's track_unpublished names the participant without its tracks, so
            # whether they still publish comes from the tracks we saw published.
            tracks = stream.published_tracks.get(participant.identity, [])
            remaining = [sid for sid in tracks if sid != event.track.sid]
            if remaining:
                stream.published_tracks[participant.identity] = remaining
            else:
                stream.published_tracks.pop(participant.identity, None)
                stream.publishers = [i for i in stream.publishers if i != participant.identity]
        elif event.event == "room_finished" and stream.status == "active":
            stream.status = "finished"
            close_presence(stream, _event_ms(event))
        stream.peak_participants = max(
            stream.peak_participants, len(stream.participants), event.room.num_participants
        )
        stream.peak_publishers = max(
            stream.peak_publishers, len(stream.publishers), event.room.num_publishers
        )
        svc.store.save_stream(stream)
        if remember:
            svc.store.remember_webhook(event.id)
        return True
