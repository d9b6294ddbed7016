"""Rooms: ``create_room``, ``join_room``, ``get_room_status``, ``end_stream``."""

from __future__ import annotations

import contextlib
import json
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from backend.hls import apply_hls_info, start_hls
from backend.recording import (
    drop_progress,
    info_from_record,
    recording_info,
    start_recording,
)
from backend.rtmp import parse_destinations, start_rtmp
from backend.store import LiveStream, Role
from backend.usage import EgressKind, close_presence, economics_of, note_egress, usage_of
from spaces_common.lazy import lazy_module
from spaces_contract.codec import ApiError, check_depth
from spaces_contract.common import ROOM_PATTERN
from spaces_contract.money import Economics, Rates, ShowEconomics, Usage, economics
from spaces_contract.outputs import StartRtmpRequest
from spaces_contract.recording import RecordingOptions, StartRecordingRequest
from spaces_contract.rooms import (
    CreatedRoom,
    CreateRoomRequest,
    EndStreamRequest,
    JoinedRoom,
    JoinRoomRequest,
    ParticipantSummary,
    Revenue,
    RoomAccess,
    RoomStatus,
    RoomStatusRequest,
    RoomSummary,
    StreamEnded,
    StreamStats,
)

if TYPE_CHECKING:
    from livekit import api

    from backend.service import LiveKitBackendService, Principal
else:
    api = lazy_module("livekit.api")

PLATFORM_METADATA_KEYS = ("appointmentId", "hostUserId", "productType", "tenantId")
COMMISSION_RATE = 0.20


def revenue_split(
    participants: int, duration_min: float, base_price: float, rates: Rates | None = None
) -> dict[str, float]:
    """The platform's revenue rules for a finished stream (exact decimals, then numbers).

    multiplier = min(participants / 10, 3); 1.2 bonus over 60 minutes; 20 % commission.
    """
    figures = economics(
        Usage(live_ms=round(duration_min * 60_000), participants=participants),
        Decimal(str(base_price)),
        rates or Rates(commission_rate=Decimal(str(COMMISSION_RATE))),
    )
    return _revenue_numbers(figures)


def _revenue_numbers(figures: Economics) -> dict[str, float]:
    return {
        "basePrice": float(figures.base_price),
        "revenueMultiplier": float(figures.revenue_multiplier),
        "durationBonus": float(figures.duration_bonus),
        "totalRevenue": float(figures.total_revenue),
        "commissionRate": float(figures.commission_rate * 100),
        "platformCommission": float(figures.platform_commission),
        "creatorRevenue": float(figures.creator_revenue),
    }


def _revenue(values: dict[str, float]) -> Revenue:
    return Revenue(
        values["basePrice"],
        values["revenueMultiplier"],
        values["durationBonus"],
        values["totalRevenue"],
        values["commissionRate"],
        values["platformCommission"],
        values["creatorRevenue"],
    )


# --- actions ----------------------------------------------------------------------------------


def _custom_metadata(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    check_depth(text.encode(errors="surrogatepass"), 8, "'metadata'")
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_spec", "'metadata' must be a JSON object in a string")
    return value


async def create_room(
    svc: LiveKitBackendService, principal: Principal, req: CreateRoomRequest
) -> CreatedRoom:
    """Create the room of an appointment and return the host's token.

    Everything is checked (appointment, host, metadata, every destination) before the room
    exists, so a refused request leaves nothing behind.
    """
    if principal.role is Role.VIEWER:
        raise ApiError(404, "not_found", f"appointment {req.appointment_id} not found")
    appointment = svc.appointment_of(principal, req.appointment_id)
    host_user_id = req.host_user_id or principal.user_id
    if host_user_id != appointment.host_user_id:
        raise ApiError(403, "forbidden", "hostUserId is not the host of this appointment")
    custom = _custom_metadata(req.metadata)
    egress = req.egress
    wanted = req.rtmp_destinations + (egress.rtmp.urls if egress and egress.rtmp else ())
    destinations = await parse_destinations(svc, wanted, "rtmpDestinations") if wanted else {}
    recording = req.recording or RecordingOptions(enabled=req.recording_enabled)
    records = req.recording_enabled or recording.enabled
    hls = egress.hls if egress and egress.hls and egress.hls.enabled else None
    room_name = f"appointment-{req.appointment_id}-{svc.now_ms()}"
    if svc.config.embedded and re.fullmatch(ROOM_PATTERN, req.appointment_id):
        # In-process in the studio, the host's own room name is the appointment: guests
        # join the room the host named.
        room_name = req.appointment_id
    metadata = {
        **custom,
        "appointmentId": req.appointment_id,
        "hostUserId": host_user_id,
        "productType": "livekit_stream",
        "tenantId": appointment.tenant_id,
    }
    room = await svc.livekit(
        svc.rooms.create_room(
            api.CreateRoomRequest(
                name=room_name,
                empty_timeout=req.empty_timeout,
                max_participants=req.max_participants,
                metadata=json.dumps(metadata),
            )
        )
    )
    stream = LiveStream(
        room_name,
        req.appointment_id,
        start_time_ms=svc.now_ms(),
        max_participants=req.max_participants,
        recording_enabled=records,
    )
    svc.store.save_stream(stream)
    # Least privilege: the host publishes and chats; moderation and recording go through
    # this backend, so the token carries no roomAdmin; `recorder` marks a recorded host.
    token = svc.token(
        host_user_id,
        "Host",
        api.VideoGrants(
            room_join=True,
            room=room_name,
            can_publish=True,
            can_subscribe=True,
            can_publish_data=True,
            can_update_own_metadata=True,
            recorder=records,
            can_publish_sources=["camera", "microphone", "screen_share", "screen_share_audio"],
        ),
    )
    try:
        if records:
            await start_recording(
                svc,
                principal,
                StartRecordingRequest(
                    room_name, recording.output, recording.layout, recording.quality
                ),
            )
        if destinations:
            await start_rtmp(svc, principal, StartRtmpRequest(room_name, wanted), destinations)
        if hls is not None:
            async with svc.room_lock(room_name):
                stream = svc.hosted_stream(principal, room_name)
                await start_hls(svc, stream, hls)
                svc.store.save_stream(stream)
    except BaseException:
        # Egress refused or did not answer: take the room down again rather than hand out a
        # half-made one (the caller gets the error and can simply retry create_room).
        await _undo_create(svc, room_name)
        raise
    return CreatedRoom(
        RoomAccess(room_name, svc.config.ws_url, token, room.max_participants, room.empty_timeout)
    )


async def _undo_create(svc: LiveKitBackendService, room_name: str) -> None:
    stream = svc.store.get_stream(room_name)
    egress_ids = (
        (stream.recording_egress_id, stream.rtmp_egress_id, stream.hls_egress_id) if stream else ()
    )
    for egress_id in egress_ids:
        if egress_id:
            with contextlib.suppress(Exception):
                await svc.livekit(
                    svc.egress.stop_egress(api.StopEgressRequest(egress_id=egress_id))
                )
    with contextlib.suppress(Exception):
        await svc.livekit(svc.rooms.delete_room(api.DeleteRoomRequest(room=room_name)))
    if stream is not None:
        stream.status = "failed"
        stream.recording_egress_id = stream.rtmp_egress_id = stream.hls_egress_id = ""
        stream.destinations = {}
        svc.store.save_stream(stream)


async def join_room(
    svc: LiveKitBackendService, principal: Principal, req: JoinRoomRequest
) -> JoinedRoom:
    """A short-lived token for a live room (a host of the room may let a guest publish)."""
    stream = svc.visible_stream(principal, req.room_name)
    if stream.status != "active":
        raise ApiError(404, "not_found", f"room {req.room_name} not found")
    permissions = req.permissions
    if principal.role is Role.VIEWER:
        if req.user_id != principal.user_id:
            raise ApiError(403, "forbidden", "viewers can only get a token for themselves")
        if permissions.can_publish or permissions.can_publish_data:
            raise ApiError(403, "forbidden", "viewers cannot publish; ask the host")
    token = svc.token(
        req.user_id,
        req.user_name,
        api.VideoGrants(
            room_join=True,
            room=req.room_name,
            can_publish=permissions.can_publish,
            can_subscribe=permissions.can_subscribe,
            can_publish_data=permissions.can_publish_data,
        ),
    )
    return JoinedRoom(token, svc.config.ws_url)


async def get_room_status(
    svc: LiveKitBackendService, principal: Principal, req: RoomStatusRequest
) -> RoomStatus:
    """Who is in the room and whether it records."""
    stream = svc.hosted_stream(principal, req.room_name)
    room, participants = await svc.room_snapshot(req.room_name)
    if room is None:
        raise ApiError(404, "not_found", f"room {req.room_name} not found")
    publishers = sum(1 for p in participants if p.tracks)
    async with svc.room_lock(req.room_name):
        stream = svc.hosted_stream(principal, req.room_name)
        stream.peak_participants = max(stream.peak_participants, len(participants))
        stream.peak_publishers = max(stream.peak_publishers, publishers)
        svc.store.save_stream(stream)
    return RoomStatus(
        RoomSummary(
            room.name,
            len(participants),
            publishers,
            # Our own record, not LiveKit's active_recording: that is true for any egress,
            # a live stream to RTMP or HLS included.
            bool(stream.recording_egress_id),
            tuple(
                ParticipantSummary(p.identity, p.name, bool(p.tracks), p.joined_at)
                for p in participants
            ),
        )
    )


async def end_stream(
    svc: LiveKitBackendService, principal: Principal, req: EndStreamRequest
) -> StreamEnded:
    """Final stats, stop outputs, delete the room, compute and store the revenue split."""
    svc.hosted_stream(principal, req.room_name)
    async with svc.room_lock(req.room_name):
        stream = svc.hosted_stream(principal, req.room_name)
        if req.appointment_id and req.appointment_id != stream.appointment_id:
            raise ApiError(400, "invalid_spec", "'appointmentId' does not match this room")
        appointment = svc.appointment_of(principal, stream.appointment_id)
        if stream.status == "completed":
            return _ended(stream)  # a retry: the same answer again
        room, participants = await svc.room_snapshot(req.room_name)
        publishers = sum(1 for p in participants if p.tracks)
        stream.peak_participants = max(stream.peak_participants, len(participants))
        stream.peak_publishers = max(stream.peak_publishers, publishers)
        kinds = {
            stream.recording_egress_id: EgressKind.RECORDING,
            stream.rtmp_egress_id: EgressKind.RTMP,
            stream.hls_egress_id: EgressKind.HLS,
        }
        for egress_id, kind in kinds.items():
            if egress_id:
                try:
                    info = await svc.livekit(
                        svc.egress.stop_egress(api.StopEgressRequest(egress_id=egress_id))
                    )
                    if kind is EgressKind.RECORDING:
                        stream.recording = {**stream.recording, **recording_info(info)}
                    if kind is EgressKind.HLS:
                        apply_hls_info(stream, info)
                    note_egress(stream, info, kind, svc.now_ms())
                except api.TwirpError:
                    pass  # already ended
        if stream.recording:
            stream.recording = drop_progress(stream.recording)  # its scratch segments go too
        if room is not None:
            await svc.livekit(svc.rooms.delete_room(api.DeleteRoomRequest(room=req.room_name)))
        end_ms = svc.now_ms()
        duration_ms = end_ms - stream.start_time_ms
        stream.status = "completed"
        stream.end_time_ms = end_ms
        close_presence(stream, end_ms)
        stream.recording_egress_id = stream.rtmp_egress_id = stream.hls_egress_id = ""
        stream.destinations = {}
        figures = economics_of(stream, appointment.base_price, svc.config.rates, end_ms)
        live_ms = usage_of(stream, end_ms).live_ms
        stream.final_stats = {
            "totalParticipants": stream.peak_participants,
            "peakPublishers": stream.peak_publishers,
            "duration": duration_ms,
            "liveDuration": live_ms,
        }
        # The duration bonus is judged on time on air, not on how long the room existed.
        stream.revenue = _revenue_numbers(figures)
        stream.economics = figures.as_json()
        svc.store.save_stream(stream)
        return _ended(stream)


def _ended(stream: LiveStream) -> StreamEnded:
    stats = stream.final_stats
    live_s = int(stats.get("liveDuration", 0)) / 1000
    return StreamEnded(
        StreamStats(stats["totalParticipants"], stats["peakPublishers"], stats["duration"]),
        _revenue(stream.revenue),
        recording=info_from_record(stream.recording) if stream.recording else None,
        economics=ShowEconomics.of(stream.economics, live_s) if stream.economics else None,
    )
