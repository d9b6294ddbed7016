"""Moderation: ``mute_participant``, ``remove_participant``, ``update_participant_permissions``."""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from backend.common import ROOM_SPEC, Done, id_spec
from backend.contract import ApiError, spec
from backend.lazy import lazy_module

if TYPE_CHECKING:
    from livekit import api

    from backend.service import LiveKitBackendService, Principal
else:
    api = lazy_module("livekit.api")


class SourceName(enum.Enum):
    """A kind of published track."""

    MICROPHONE = "microphone"
    CAMERA = "camera"
    SCREEN_SHARE = "screen_share"


@functools.cache
def track_sources() -> dict[SourceName, api.TrackSource]:
    """LiveKit's track source for each of ours (built on first use: LiveKit loads lazily)."""
    return {
        SourceName.MICROPHONE: api.TrackSource.MICROPHONE,
        SourceName.CAMERA: api.TrackSource.CAMERA,
        SourceName.SCREEN_SHARE: api.TrackSource.SCREEN_SHARE,
    }


@dataclass(frozen=True)
class MuteRequest:
    """Mute a participant's microphone, camera or screen (or one track by sid)."""

    room_name: str = field(metadata=ROOM_SPEC)
    identity: str = field(metadata=id_spec("the participant"))
    source: SourceName = field(default=SourceName.MICROPHONE, metadata=spec(doc="what to mute"))
    track_sid: str | None = field(
        default=None, metadata=spec(doc="one track instead", pattern=r"TR_[A-Za-z0-9]{1,64}")
    )


@dataclass(frozen=True)
class Muted:
    """The muted tracks."""

    muted: tuple[str, ...]
    success: bool = True


@dataclass(frozen=True)
class RemoveRequest:
    """Remove someone from the room."""

    room_name: str = field(metadata=ROOM_SPEC)
    identity: str = field(metadata=id_spec("the participant"))


@dataclass(frozen=True)
class PermissionChange:
    """Permissions to change (others stay as they are)."""

    can_publish: bool | None = None
    can_subscribe: bool | None = None
    can_publish_data: bool | None = None


@dataclass(frozen=True)
class UpdatePermissionsRequest:
    """Move someone on or off stage (publish permission), or stop their chat."""

    room_name: str = field(metadata=ROOM_SPEC)
    identity: str = field(metadata=id_spec("the participant"))
    permissions: PermissionChange = field(default_factory=PermissionChange)


@dataclass(frozen=True)
class Permissions:
    """A participant's permissions now."""

    can_publish: bool
    can_subscribe: bool
    can_publish_data: bool


@dataclass(frozen=True)
class PermissionsUpdated:
    """Answer of update_participant_permissions."""

    permissions: Permissions
    success: bool = True


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
