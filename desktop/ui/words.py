"""Session codes in words a host understands, with the next step where there is one.

The session layer hands out codes (enums); this is the one place that turns them into sentences.
"""

from __future__ import annotations

from desktop.session.room_events import DisconnectReason

_DISCONNECT_WORDS = {
    DisconnectReason.LEFT: "you left",
    DisconnectReason.REMOVED: "a moderator removed you from the room",
    DisconnectReason.ROOM_CLOSED: "the room was closed",
    DisconnectReason.DUPLICATE_IDENTITY: "you joined from somewhere else",
    DisconnectReason.SERVER_SHUTDOWN: "the server shut down; reconnect when it is back",
    DisconnectReason.JOIN_FAILED: "joining failed; try to reconnect",
    DisconnectReason.CONNECTION_LOST: "the connection to the server was lost; reconnect",
    DisconnectReason.OTHER: "the connection ended",
}


def disconnect_reason_text(reason: DisconnectReason | None) -> str:
    """Why the host left the room, in words (``None``: no reason given)."""
    if reason is None:
        return "the connection ended"
    return _DISCONNECT_WORDS[reason]
