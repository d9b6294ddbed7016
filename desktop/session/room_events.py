"""What happens in the room, as state: LiveKit SDK events turned into :class:`RoomState` updates.

Every handler is wrapped so an exception is logged instead of being swallowed by the SDK's
event emitter. Reasons for leaving are a :class:`DisconnectReason` code; the words for them
live in the UI (``desktop/ui/words.py``), as for every other code the session produces.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import TYPE_CHECKING, Any

from desktop.media.frames import wall_clock_ms
from desktop.session import stage_control
from desktop.session.remote_video import LAYER_WISHES
from desktop.session.state import (
    ChatMessage,
    ConnectionState,
    ParticipantState,
    Quality,
    Source,
    StateStore,
    TrackState,
)
from spaces_common.lazy import LazyMapping, lazy_module

if TYPE_CHECKING:
    from livekit import rtc
else:
    rtc = lazy_module("livekit.rtc")

logger = logging.getLogger(__name__)

CHAT_TOPIC = "lk.chat"
"""The text-stream topic LiveKit's own clients use for chat."""

SOURCES = LazyMapping(
    lambda: {
        rtc.TrackSource.SOURCE_CAMERA: Source.CAMERA,
        rtc.TrackSource.SOURCE_MICROPHONE: Source.MICROPHONE,
        rtc.TrackSource.SOURCE_SCREENSHARE: Source.SCREEN,
        rtc.TrackSource.SOURCE_SCREENSHARE_AUDIO: Source.SCREEN_AUDIO,
    }
)
"""LiveKit's track sources, as ours."""
_QUALITIES = LazyMapping(
    lambda: {
        rtc.ConnectionQuality.QUALITY_EXCELLENT: Quality.EXCELLENT,
        rtc.ConnectionQuality.QUALITY_GOOD: Quality.GOOD,
        rtc.ConnectionQuality.QUALITY_POOR: Quality.POOR,
        rtc.ConnectionQuality.QUALITY_LOST: Quality.LOST,
    }
)


class DisconnectReason(Enum):
    """Why the session left the room (the UI puts it into words)."""

    LEFT = "left"
    """The host left (or the app closed the session)."""
    REMOVED = "removed"
    """A moderator removed the host from the room."""
    ROOM_CLOSED = "room_closed"
    """The room was deleted (the stream was ended)."""
    DUPLICATE_IDENTITY = "duplicate_identity"
    """The same identity joined from somewhere else."""
    SERVER_SHUTDOWN = "server_shutdown"
    """The server shut down."""
    JOIN_FAILED = "join_failed"
    """Joining failed after the connection was made."""
    CONNECTION_LOST = "connection_lost"
    """The connection to the server was lost and could not be resumed."""
    OTHER = "other"
    """Any other reason the server gave."""

    @property
    def final(self) -> bool:
        """True when rejoining would be wrong: someone decided the session is out."""
        return self in (
            DisconnectReason.LEFT,
            DisconnectReason.REMOVED,
            DisconnectReason.ROOM_CLOSED,
            DisconnectReason.DUPLICATE_IDENTITY,
        )


_REASONS = LazyMapping(
    lambda: {
        rtc.DisconnectReason.CLIENT_INITIATED: DisconnectReason.LEFT,
        rtc.DisconnectReason.PARTICIPANT_REMOVED: DisconnectReason.REMOVED,
        rtc.DisconnectReason.ROOM_DELETED: DisconnectReason.ROOM_CLOSED,
        rtc.DisconnectReason.DUPLICATE_IDENTITY: DisconnectReason.DUPLICATE_IDENTITY,
        rtc.DisconnectReason.SERVER_SHUTDOWN: DisconnectReason.SERVER_SHUTDOWN,
        rtc.DisconnectReason.JOIN_FAILURE: DisconnectReason.JOIN_FAILED,
        rtc.DisconnectReason.SIGNAL_CLOSE: DisconnectReason.CONNECTION_LOST,
    }
)


def disconnect_reason(sdk_reason: int) -> DisconnectReason:
    """Our code for the SDK's ``disconnected`` reason."""
    found: DisconnectReason = _REASONS.get(sdk_reason, DisconnectReason.OTHER)  # type: ignore[call-overload]
    return found


def track_state(pub: rtc.TrackPublication) -> TrackState:
    """A publication as state."""
    # A local track knows it is muted at once; its publication learns it from an event later.
    local_track = pub.track if isinstance(pub, rtc.LocalTrackPublication) else None
    return TrackState(
        sid=pub.sid,
        source=SOURCES.get(pub.source, Source.UNKNOWN),
        is_video=pub.kind == rtc.TrackKind.KIND_VIDEO,
        muted=local_track.muted if local_track is not None else pub.muted,
        simulcast=pub.simulcasted,
        width=pub.width,
        height=pub.height,
        subscribed=bool(getattr(pub, "subscribed", False)),
    )


def participant_state(p: rtc.RemoteParticipant) -> ParticipantState:
    """A remote participant as state."""
    return ParticipantState(
        identity=p.identity,
        name=p.name,
        sid=p.sid,
        metadata=p.metadata,
        attributes=dict(p.attributes),
        can_publish=bool(p.permissions.can_publish) if p.permissions else True,
        tracks=tuple(track_state(pub) for pub in p.track_publications.values()),
    )


_REMOTE_FIELDS = ("name", "sid", "metadata", "attributes", "can_publish", "tracks")


class RoomEvents:
    """Keeps ``store`` in step with one room's SDK events.

    Args:
        store: The state to update.
        spawn: Runs a coroutine as a task the session owns (cancelled when it closes).
        on_own_quality: Called when the host's connection quality changes.
        on_guest_quality: Called with (identity, quality) when a guest's changes.
        note: Records something the session did about the room, for the host to read.
        on_guest_left: Called with the identity of a guest who left.
    """

    def __init__(
        self,
        store: StateStore,
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
        on_own_quality: Callable[[Quality], None],
        on_guest_quality: Callable[[str, Quality], None],
        note: Callable[[str], None],
        on_guest_left: Callable[[str], None] = lambda identity: None,
    ) -> None:
        self.store = store
        self._spawn = spawn
        self._on_own_quality = on_own_quality
        self._on_guest_quality = on_guest_quality
        self._note = note
        self._on_guest_left = on_guest_left
        self.room: rtc.Room | None = None
        self.hidden_local: Callable[[], frozenset[str]] = frozenset
        """Sids of the host's publications not to show (a parked screen share)."""

    def joined(self, room: rtc.Room) -> None:
        """Record the room just joined, and start taking chat."""
        self.room = room
        local = room.local_participant
        joined_at_ms = wall_clock_ms()
        self.store.update(
            connection=ConnectionState.CONNECTED,
            room_name=room.name,
            room_metadata=room.metadata,
            local=ParticipantState(identity=local.identity, name=local.name, sid=local.sid),
            remotes={
                p.identity: dataclasses.replace(participant_state(p), joined_at_ms=joined_at_ms)
                for p in room.remote_participants.values()
            },
        )
        room.register_text_stream_handler(CHAT_TOPIC, self._on_chat_stream)

    def refresh_local(self) -> None:
        """Copy the host's publications into the state, leaving out :attr:`hidden_local`."""
        hidden = self.hidden_local()
        room = self.room
        local = self.store.state.local
        if room is None or local is None:
            return
        pubs = room.local_participant.track_publications.values()
        tracks = tuple(track_state(pub) for pub in pubs if pub.sid not in hidden)
        self.store.update(local=dataclasses.replace(local, tracks=tracks))

    def add_chat(self, sender: str, text: str, is_local: bool = False) -> None:
        """Append a chat line to the state."""
        message = ChatMessage(sender, text, wall_clock_ms(), is_local=is_local)
        self.store.update(chat=(*self.store.state.chat, message))

    def _on_chat_stream(self, reader: rtc.TextStreamReader, sender: str) -> None:
        async def read() -> None:
            self.add_chat(sender, await reader.read_all())

        self._spawn(read())

    def wire(self, room: rtc.Room) -> None:
        """Subscribe to every SDK event of ``room`` that the state reflects."""
        handlers: dict[str, Callable[..., None]] = {
            "participant_connected": self._refresh_remote,
            "participant_disconnected": self._on_left,
            "participant_metadata_changed": self._refresh_remote,
            "participant_name_changed": self._refresh_remote,
            "participant_attributes_changed": lambda changed, p: self._refresh_remote(p),
            "participant_permissions_changed": self._on_permissions,
            "track_published": self._on_track_event,
            "track_unpublished": self._on_unpublished,
            "track_subscribed": self._on_track_event,
            "track_unsubscribed": self._on_track_event,
            "track_muted": self._on_mute_event,
            "track_unmuted": self._on_mute_event,
            "local_track_published": lambda *_: self.refresh_local(),
            "local_track_unpublished": lambda *_: self.refresh_local(),
            "active_speakers_changed": self._on_speakers,
            "connection_quality_changed": self._on_quality,
            "track_subscription_failed": self._on_subscription_failed,
            "reconnecting": lambda: self._set(connection=ConnectionState.RECONNECTING),
            "reconnected": lambda: self._set(connection=ConnectionState.CONNECTED),
            "disconnected": self._on_disconnected,
            "room_metadata_changed": lambda old, new: self._set(room_metadata=new),
            "data_received": self._on_data,
        }
        for event, handler in handlers.items():
            room.on(event, _guarded(handler))  # type: ignore[arg-type]

    def _on_data(self, packet: rtc.DataPacket) -> None:
        # A guest's answer to "ask to unmute" goes into the moderation log; other data is not
        # the studio's.
        if packet.topic != stage_control.UNMUTE_ANSWER_TOPIC or packet.participant is None:
            return
        answer = stage_control.UnmuteAnswer.from_json(packet.data)
        if answer is None:
            return
        action = "unmute-accepted" if answer.accepted else "unmute-declined"
        identity = packet.participant.identity
        stage_control.log_action(self.store, action, identity, answer.reason, actor=identity)

    def _on_left(self, participant: rtc.RemoteParticipant) -> None:
        for publication in participant.track_publications.values():
            LAYER_WISHES.forget(publication.sid)
        self.store.remove_remote(participant.identity)
        self._on_guest_left(participant.identity)

    def _set(self, **changes: Any) -> None:
        self.store.update(**changes)

    def _refresh_remote(self, participant: rtc.RemoteParticipant, *_: Any) -> None:
        room = self.room
        if room is None or participant.identity not in room.remote_participants:
            return
        state = participant_state(participant)
        fields = {name: getattr(state, name) for name in _REMOTE_FIELDS}
        if participant.identity not in self.store.state.remotes:
            # The SDK does not expose the server's join time: note when we saw them.
            fields["joined_at_ms"] = wall_clock_ms()
        self.store.update_remote(participant.identity, **fields)

    def _on_unpublished(
        self, publication: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        LAYER_WISHES.forget(publication.sid)
        self._refresh_remote(participant)

    def _on_track_event(self, *args: Any) -> None:
        participant = next(a for a in args if isinstance(a, rtc.RemoteParticipant))
        self._refresh_remote(participant)

    def _on_mute_event(self, participant: rtc.Participant, _pub: rtc.TrackPublication) -> None:
        if isinstance(participant, rtc.RemoteParticipant):
            self._refresh_remote(participant)
        else:
            self.refresh_local()

    def _on_permissions(self, participant: rtc.Participant, *_: Any) -> None:
        # The SFU changed what someone may do (on/off stage): the host's own, or a guest's.
        if isinstance(participant, rtc.RemoteParticipant):
            self._refresh_remote(participant)
            return
        local = self.store.state.local
        if local is not None:
            permissions = participant.permissions
            can_publish = bool(permissions.can_publish) if permissions else True
            self.store.update(local=dataclasses.replace(local, can_publish=can_publish))
        self.refresh_local()

    def _on_speakers(self, speakers: list[rtc.Participant]) -> None:
        speaking = {p.identity for p in speakers}
        for identity, state in self.store.state.remotes.items():
            if state.is_speaking != (identity in speaking):
                self.store.update_remote(identity, is_speaking=identity in speaking)
        local = self.store.state.local
        if local is not None and local.is_speaking != (local.identity in speaking):
            is_speaking = local.identity in speaking
            self.store.update(local=dataclasses.replace(local, is_speaking=is_speaking))

    def _on_quality(self, participant: rtc.Participant, quality: int) -> None:
        value = _QUALITIES.get(quality, Quality.UNKNOWN)  # type: ignore[call-overload]
        local = self.store.state.local
        if local is not None and participant.identity == local.identity:
            if local.quality is not value:
                self.store.update(local=dataclasses.replace(local, quality=value))
                self._on_own_quality(value)
        elif participant.identity in self.store.state.remotes:
            previous = self.store.state.remotes[participant.identity].quality
            self.store.update_remote(participant.identity, quality=value)
            stage_control.add_quality_sample(self.store, participant.identity, value)
            if previous is not value:
                self._on_guest_quality(participant.identity, value)

    def _on_subscription_failed(
        self, participant: rtc.RemoteParticipant, track_sid: str, error: str
    ) -> None:
        self._note(f"could not receive {participant.identity}'s track ({error}); retrying")
        publication = participant.track_publications.get(track_sid)
        if publication is not None:

            async def retry() -> None:
                await asyncio.sleep(1.0)
                publication.set_subscribed(True)

            self._spawn(retry())

    def _on_disconnected(self, reason: int) -> None:
        self.store.update(
            connection=ConnectionState.DISCONNECTED, disconnect_reason=disconnect_reason(reason)
        )


def _guarded(handler: Callable[..., None]) -> Callable[..., None]:
    """The handler, with its exceptions logged (the SDK's emitter would swallow them)."""

    @functools.wraps(handler)
    def wrapper(*args: Any) -> None:
        try:
            handler(*args)
        except Exception:
            logger.exception("room event handler %s failed", getattr(handler, "__name__", ""))

    return wrapper
