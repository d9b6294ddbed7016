"""Moderation: ``mute_participant``, ``remove_participant``, ``update_participant_permissions``.

The requests and answers are the contract's (:mod:`spaces_contract.moderation`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from spaces_common.lazy import lazy_module
from spaces_contract.codec import ApiError
from spaces_contract.common import Done
from spaces_contract.moderation import (
    Muted,
    MuteRequest,
    Permissions,
    PermissionsUpdated,
    RemoveRequest,
    SourceName,
    UpdatePermissionsRequest,
)

if TYPE_CHECKING:
    from livekit import api

    from backend.service import LiveKitBackendService, Principal
else:
    api = lazy_module("livekit.api")


@functools.cache
def track_sources() -> dict[SourceName, api.TrackSource]:
    """LiveKit's track source for each of ours (built on first use: LiveKit loads lazily)."""
    return {
        SourceName.MICROPHONE: api.TrackSource.MICROPHONE,
        SourceName.CAMERA: api.TrackSource.CAMERA,
        SourceName.SCREEN_SHARE: api.TrackSource.SCREEN_SHARE,
    }


async def mute_participant(
    svc: LiveKitBackendService, principal: Principal, req: MuteRequest
) -> Muted:
    """Mute a participant's microphone, camera or screen (or a track by sid)."""
    svc.hosted_stream(principal, req.room_name)
    info = await svc.livekit(
        svc.rooms.get_participant(
            api.RoomParticipantIdentity(room=req.room_name, identity=req.identity)
        )
    )
    wanted = track_sources()[req.source]
    tracks = [
        t for t in info.tracks if (t.sid == req.track_sid if req.track_sid else t.source == wanted)
    ]
    if not tracks:
        raise ApiError(404, "not_found", f"{req.identity} publishes no {req.source.value}")
    for track in tracks:
        await svc.livekit(
            svc.rooms.mute_published_track(
                api.MuteRoomTrackRequest(
                    room=req.room_name, identity=req.identity, track_sid=track.sid, muted=True
                )
            )
        )
    return Muted(tuple(t.sid for t in tracks))


async def remove_participant(
    svc: LiveKitBackendService, principal: Principal, req: RemoveRequest
) -> Done:
    """Remove someone from the room."""
    svc.hosted_stream(principal, req.room_name)
    await svc.livekit(
        svc.rooms.remove_participant(
            api.RoomParticipantIdentity(room=req.room_name, identity=req.identity)
        )
    )
    return Done()


async def update_participant_permissions(
    svc: LiveKitBackendService, principal: Principal, req: UpdatePermissionsRequest
) -> PermissionsUpdated:
    """Move someone on or off stage (publish permission), or stop their chat."""
    svc.hosted_stream(principal, req.room_name)
    info = await svc.livekit(
        svc.rooms.get_participant(
            api.RoomParticipantIdentity(room=req.room_name, identity=req.identity)
        )
    )
    current = info.permission
    change = req.permissions

    def pick(value: bool | None, now: bool) -> bool:
        return now if value is None else value

    permission = api.ParticipantPermission(
        can_publish=pick(change.can_publish, current.can_publish),
        can_subscribe=pick(change.can_subscribe, current.can_subscribe),
        can_publish_data=pick(change.can_publish_data, current.can_publish_data),
    )
    updated = await svc.livekit(
        svc.rooms.update_participant(
            api.UpdateParticipantRequest(
                room=req.room_name, identity=req.identity, permission=permission
            )
        )
    )
    return PermissionsUpdated(
        Permissions(
            updated.permission.can_publish,
            updated.permission.can_subscribe,
            updated.permission.can_publish_data,
        )
    )
