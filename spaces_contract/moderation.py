"""Moderation's requests and answers: ``mute_participant``, ``remove_participant``,
``update_participant_permissions``."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from spaces_contract.codec import spec
from spaces_contract.common import ROOM_SPEC, id_spec


class SourceName(enum.Enum):
    """A kind of published track."""

    MICROPHONE = "microphone"
    CAMERA = "camera"
    SCREEN_SHARE = "screen_share"


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
