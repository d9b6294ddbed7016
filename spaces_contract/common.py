"""Field shapes and small types every group of actions shares."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from spaces_contract.codec import Spec, spec

ID_PATTERN = r"[A-Za-z0-9_.@:+-]{1,128}"
"""Appointment, user and participant ids."""
ROOM_PATTERN = r"[A-Za-z0-9_.:-]{1,128}"
"""Room names (the backend makes them: ``appointment-<id>-<ms>``)."""
MAX_NAME_CHARS = 128


def id_spec(doc: str) -> Spec:
    """Limits of an id field."""
    return spec(doc=doc, pattern=ID_PATTERN)


ROOM_SPEC = spec(doc="the room, as create_room named it", pattern=ROOM_PATTERN)
"""Limits of the ``roomName`` field."""


class Layout(enum.Enum):
    """How egress composes the room."""

    SPEAKER = "speaker"
    """The first camera, full frame."""
    GRID = "grid"
    """Up to four tiles."""
    CUSTOM = "custom"
    """The operator's own template (BROADCASTER_CUSTOM_LAYOUT_URL, LiveKit's custom_base_url);
    without one configured, egress composes it as a grid."""


@dataclass(frozen=True)
class Done:
    """An action that answers only that it worked."""

    success: bool = True
