"""The people in the room: chat, the guests' video for tiles, and moderation (mute, remove,
ask to unmute, the moderation log).
"""

from __future__ import annotations

from pathlib import Path

from desktop.session import stage_control
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.moderation import Moderator
from desktop.session.remote_video import RemoteVideo
from desktop.session.state import Source
from desktop.session.studio.context import StudioContext


class Guests:
    """What the host does with the guests in the room.

    Args:
        studio: The studio's shared state (the session, the moderator, the state).
    """

    def __init__(self, studio: StudioContext) -> None:
        self._studio = studio

    @property
    def can_chat(self) -> bool:
        """Whether chat can be sent (a room is joined)."""
        return self._studio.session is not None

    async def send_chat(self, text: str) -> None:
        """Send a chat line (``lk.chat``)."""
        if self._studio.session is None:
            raise SessionError(
                SessionErrorCode.NOT_CONNECTED, "chat needs a room", "connect to a room first"
            )
        await self._studio.session.send_chat(text)

    def open_video(self, identity: str, source: Source, tile_height_px: int) -> RemoteVideo | None:
        """A guest's video for a tile, at the layer that fits it."""
        if self._studio.session is None:
            return None
        return self._studio.session.open_remote_video(identity, source, tile_height_px)

    def _moderator(self) -> Moderator:
        """The room's moderator (there is one with a backend).

        Raises:
            SessionError: FORBIDDEN without a backend.
        """
        if self._studio.moderator is None:
            raise SessionError(
                SessionErrorCode.FORBIDDEN, "moderation needs the platform backend",
                "choose Platform backend in File ▸ Settings",
            )  # fmt: skip
        return self._studio.moderator

    async def mute_guest(self, identity: str, source: Source = Source.MICROPHONE) -> None:
        """Mute a guest's microphone or camera."""
        await self._moderator().mute(identity, source)

    async def mute_all(self) -> list[str]:
        """Mute every guest's microphone."""
        return await self._moderator().mute_all()

    async def remove_guest(self, identity: str) -> None:
        """Remove a guest from the room."""
        await self._moderator().remove(identity)

    async def ask_to_unmute(self, identity: str) -> None:
        """Ask a guest to unmute their microphone (their client shows the request; they decide).

        Raises:
            SessionError: Not in a room, the guest left, or they are backstage (not allowed to
                publish, so they could not unmute).
        """
        studio = self._studio
        if studio.session is None:
            raise SessionError(
                SessionErrorCode.NOT_CONNECTED, "not in a room", "connect to a room first"
            )
        guest = studio.store.state.remotes.get(identity)
        if guest is not None and not guest.can_publish:
            raise SessionError(
                SessionErrorCode.FORBIDDEN, f"{guest.name or identity} is backstage",
                "add them to the stage first, then ask again",
            )  # fmt: skip
        request_id = await studio.session.ask_to_unmute(identity)
        stage_control.log_action(studio.store, "ask-to-unmute", identity, f"request {request_id}")

    def export_moderation_log(self, path: Path) -> Path:
        """Write the moderation log to ``path`` as CSV (time, actor, action, target, detail)."""
        return stage_control.export_audit_csv(self._studio.store.state.moderation_log, path)
