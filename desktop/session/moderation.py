"""Moderation through the backend: mute a guest, mute everyone, remove, move on/off stage.

The host's token carries no admin rights: every moderation command goes through the backend,
which checks that the caller hosts this room. The room state then shows the result as LiveKit
reports it (the guest's track muted, the guest gone), never an optimistic guess.
"""

from __future__ import annotations

import logging

from desktop.session.backend_client import Backend
from desktop.session.errors import SessionError
from desktop.session.stage_control import log_action
from desktop.session.state import Source, StateStore
from spaces_contract.moderation import SourceName

logger = logging.getLogger(__name__)

_SOURCE_NAMES = {
    Source.MICROPHONE: "microphone",
    Source.CAMERA: "camera",
    Source.SCREEN: "screen_share",
}


class Moderator:
    """Moderation commands for one room.

    Args:
        backend: The backend that holds the LiveKit admin rights.
        store: The room state (to know who is there).
        room_name: The room moderated.
    """

    def __init__(self, backend: Backend, store: StateStore, room_name: str) -> None:
        self.backend = backend
        self.store = store
        self.room_name = room_name
        self.audit: list[str] = []
        """What was done, in order, as sentences (the room state's ``moderation_log`` holds
        the same with times, shown in the studio and exported as CSV)."""

    async def mute(self, identity: str, source: Source = Source.MICROPHONE) -> None:
        """Mute a guest's microphone, camera or screen share."""
        await self.backend.mute_participant(
            self.room_name, identity, SourceName(_SOURCE_NAMES[source])
        )
        self.audit.append(f"muted {identity}'s {_SOURCE_NAMES[source]}")
        log_action(self.store, "mute", identity, _SOURCE_NAMES[source])

    async def mute_all(self) -> list[str]:
        """Mute every guest whose microphone is live; returns who was muted.

        A guest who leaves meanwhile is skipped, not an error.
        """
        muted = []
        for identity, guest in list(self.store.state.remotes.items()):
            if guest.mic_muted:
                continue
            try:
                await self.mute(identity, Source.MICROPHONE)
            except SessionError as error:
                logger.info("could not mute %s: %s", identity, error)
                continue
            muted.append(identity)
        return muted

    async def remove(self, identity: str) -> None:
        """Remove a guest from the room."""
        await self.backend.remove_participant(self.room_name, identity)
        self.audit.append(f"removed {identity}")
        log_action(self.store, "remove", identity)

    async def set_on_stage(self, identity: str, on_stage: bool) -> None:
        """Let a guest publish (on stage) or not (backstage)."""
        await self.backend.update_participant_permissions(
            self.room_name, identity, can_publish=on_stage
        )
        self.audit.append(f"moved {identity} {'on stage' if on_stage else 'backstage'}")
        log_action(self.store, "on-stage" if on_stage else "backstage", identity)
