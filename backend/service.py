"""The ``/api/livekit`` service: the action table, who may see what, and bounded LiveKit calls.

:meth:`LiveKitBackendService.dispatch` takes the caller and the JSON body and returns exactly
the JSON the HTTP route returns, or raises :class:`ApiError` with the status and
``{"error", "details"}`` body. The actions themselves live in one module per group
(:mod:`backend.rooms`, :mod:`backend.recording`, :mod:`backend.rtmp`, :mod:`backend.layout`,
:mod:`backend.moderation`, :mod:`backend.status`); their frozen request and response
dataclasses are the contract's (:mod:`spaces_contract`), which the desktop app imports too.
:data:`ACTIONS` lists them and drives both dispatch and the OpenAPI document. The same object
runs in-process in the desktop app and behind :mod:`backend.app` as a service.

Every call to LiveKit (RoomService on the server, Egress on ``LIVEKIT_EGRESS_URL``) is bounded
by ``config.livekit_timeout_s`` and never retried by the SDK (a retried start would start a
second egress); start, stop and update of outputs hold a per-room lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import aiohttp
from livekit import api
from livekit.api.egress_service import EgressService
from livekit.api.room_service import RoomService

from backend import layout, moderation, reconcile, recording, rooms, rtmp, status
from backend.config import BackendConfig
from backend.destinations import normalise_allowed
from backend.rooms import revenue_split
from backend.store import Appointment, LiveStream, Role, SecretBox, SqliteStore, Store
from spaces_contract.codec import ApiError, dump, parse
from spaces_contract.common import Done
from spaces_contract.moderation import (
    Muted,
    MuteRequest,
    PermissionsUpdated,
    RemoveRequest,
    UpdatePermissionsRequest,
)
from spaces_contract.outputs import (
    DestinationsAnswer,
    LayoutAnswer,
    LiveAnswer,
    StartRtmpRequest,
    StopRtmpRequest,
    UpdateLayoutRequest,
    UpdateRtmpRequest,
)
from spaces_contract.platforms import platform
from spaces_contract.recording import RecordingAnswer, StartRecordingRequest, StopRecordingRequest
from spaces_contract.rooms import (
    CreatedRoom,
    CreateRoomRequest,
    EndStreamRequest,
    JoinedRoom,
    JoinRoomRequest,
    RoomStatus,
    RoomStatusRequest,
    StreamEnded,
)
from spaces_contract.status import BroadcastStatus, BroadcastStatusRequest

logger = logging.getLogger(__name__)

Req = TypeVar("Req")
Resp = TypeVar("Resp")
T = TypeVar("T")


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    user_id: str
    role: Role
    appointment_id: str = ""
    """A viewer's credential reaches this appointment only ("" = no scope)."""


@dataclass(frozen=True)
class Action(Generic[Req, Resp]):
    """One action of the contract."""

    name: str
    request: type[Req]
    response: type[Resp]
    run: Callable[[LiveKitBackendService, Principal, Req], Awaitable[Resp]]


def _action(
    name: str,
    request: type[Req],
    response: type[Resp],
    run: Callable[[LiveKitBackendService, Principal, Req], Awaitable[Resp]],
) -> Action[Any, Any]:
    return Action(name, request, response, run)


ACTIONS: dict[str, Action[Any, Any]] = {
    a.name: a
    for a in (
        _action("create_room", CreateRoomRequest, CreatedRoom, rooms.create_room),
        _action("join_room", JoinRoomRequest, JoinedRoom, rooms.join_room),
        _action("get_room_status", RoomStatusRequest, RoomStatus, rooms.get_room_status),
        _action("end_stream", EndStreamRequest, StreamEnded, rooms.end_stream),
        _action(
            "start_recording", StartRecordingRequest, RecordingAnswer, recording.start_recording
        ),
        _action("stop_recording", StopRecordingRequest, RecordingAnswer, recording.stop_recording),
        _action("start_rtmp", StartRtmpRequest, LiveAnswer, rtmp.start_rtmp),
        _action("update_rtmp", UpdateRtmpRequest, DestinationsAnswer, rtmp.update_rtmp),
        _action("stop_rtmp", StopRtmpRequest, Done, rtmp.stop_rtmp),
        _action("update_layout", UpdateLayoutRequest, LayoutAnswer, layout.update_layout),
        _action(
            "get_broadcast_status",
            BroadcastStatusRequest,
            BroadcastStatus,
            status.get_broadcast_status,
        ),
        _action("mute_participant", MuteRequest, Muted, moderation.mute_participant),
        _action("remove_participant", RemoveRequest, Done, moderation.remove_participant),
        _action(
            "update_participant_permissions",
            UpdatePermissionsRequest,
            PermissionsUpdated,
            moderation.update_participant_permissions,
        ),
    )
}
"""Every action, by name."""


def open_store(config: BackendConfig) -> Store:
    """The configured database (PostgreSQL when ``database_url`` names one, else the SQLite
    file), sealing stream keys when a secret key is configured.

    Raises:
        ValueError: PostgreSQL without a secret key.
    """
    box = SecretBox(config.secret_key) if config.secret_key else None
    if config.database_url:
        from backend.pgstore import PostgresStore

        return PostgresStore(config.database_url, box)
    return SqliteStore(config.database_path, box)


class LiveKitBackendService:
    """The actions of the platform's ``/api/livekit`` route, on livekit-api.

    Args:
        config: Where LiveKit and its egress are, and the service's limits.
        store: Appointments, streams, credentials.
    """

    def __init__(self, config: BackendConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.allowed_hosts = normalise_allowed(config.rtmp_allowed_hosts)
        self._room_api: api.LiveKitAPI | None = None
        self._egress_api: api.LiveKitAPI | None = None
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._background: set[asyncio.Task[Any]] = set()
        self._reconciling: set[asyncio.Task[Any]] = set()
        """Reconciliations (they may wait minutes for LiveKit: cancelled on close, and the next
        start of an instance reconciles again)."""

    @property
    def actions(self) -> list[str]:
        """Names of the actions."""
        return list(ACTIONS)

    # --- LiveKit --------------------------------------------------------------------------------

    def _client(self, url: str) -> api.LiveKitAPI:
        return api.LiveKitAPI(
            url,
            self.config.api_key,
            self.config.api_secret,
            timeout=aiohttp.ClientTimeout(total=self.config.livekit_timeout_s),
            failover=False,
        )

    @property
    def rooms(self) -> RoomService:
        """RoomService on the LiveKit server (created on first use, inside the loop)."""
        if self._room_api is None:
            self._room_api = self._client(self.config.http_url)
        return self._room_api.room

    @property
    def egress(self) -> EgressService:
        """The Egress service at ``LIVEKIT_EGRESS_URL`` (the LiveKit server by default)."""
        if self._egress_api is None:
            self._egress_api = self._client(self.config.egress_http_url)
        return self._egress_api.egress

    async def livekit(self, call: Awaitable[T]) -> T:
        """Await one LiveKit call, bounded by ``config.livekit_timeout_s``.

        Raises:
            ApiError: 504 ``livekit_timeout`` when LiveKit does not answer in time.
        """
        bound_s = self.config.livekit_timeout_s
        try:
            return await asyncio.wait_for(call, bound_s)
        except TimeoutError:
            raise ApiError(
                504,
                "livekit_timeout",
                f"LiveKit did not answer within {bound_s:g} s; nothing more was done, "
                "try again shortly",
            ) from None

    async def start_egress(self, room_name: str, call: Awaitable[api.EgressInfo]) -> api.EgressInfo:
        """Start an egress of a room, bounded like every call; a start that times out may still
        happen later, so the room's egresses are then reconciled (:mod:`backend.reconcile`).

        Raises:
            ApiError: 504 ``livekit_timeout`` saying the egress may yet start.
        """
        try:
            return await self.livekit(call)
        except ApiError as error:
            if error.status != 504:
                raise
            self.spawn_reconcile(room_name)
            bound_s = self.config.livekit_timeout_s
            raise ApiError(
                504,
                "livekit_timeout",
                f"LiveKit did not answer within {bound_s:g} s{reconcile.TIMEOUT_WORDS}",
            ) from None

    def spawn_reconcile(self, room_name: str) -> None:
        """Reconcile a room's egresses in the background until LiveKit answers."""
        task = asyncio.ensure_future(reconcile.reconcile_until_answered(self, room_name))
        self._reconciling.add(task)
        task.add_done_callback(self._reconciling.discard)

    def spawn_reconcile_all(self) -> None:
        """Reconcile every active stream's egresses in the background (at start-up)."""
        task = asyncio.ensure_future(reconcile.reconcile_all(self))
        self._reconciling.add(task)
        task.add_done_callback(self._reconciling.discard)

    async def room_snapshot(self, room_name: str) -> tuple[api.Room | None, list[Any]]:
        """The room and its participants (hidden recorders left out), or (None, [])."""
        listed = await self.livekit(self.rooms.list_rooms(api.ListRoomsRequest(names=[room_name])))
        if not listed.rooms:
            return None, []
        people = await self.livekit(
            self.rooms.list_participants(api.ListParticipantsRequest(room=room_name))
        )
        visible = [p for p in people.participants if p.kind != api.ParticipantInfo.Kind.EGRESS]
        return listed.rooms[0], visible

    def spawn_delete_room(self, room_name: str) -> None:
        """Delete a room in the background (a re-created room of an ended stream)."""

        async def delete() -> None:
            try:
                await self.livekit(self.rooms.delete_room(api.DeleteRoomRequest(room=room_name)))
            except Exception as error:
                logger.info("could not close re-created room: %s", type(error).__name__)

        self.spawn(delete())

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine in the background, kept until it ends."""
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        """Wait for background work, cancel reconciliations, close the LiveKit clients."""
        for task in list(self._reconciling):
            task.cancel()
        if self._reconciling:
            await asyncio.gather(*self._reconciling, return_exceptions=True)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for client in (self._room_api, self._egress_api):
            if client is not None:
                await client.aclose()
        self._room_api = self._egress_api = None

    # --- dispatch -------------------------------------------------------------------------------

    async def dispatch(self, principal: Principal, body: Any) -> dict[str, Any]:
        """Run one action from its JSON body.

        Raises:
            ApiError: With the status and words the route answers.
        """
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_body", "the body must be a JSON object")
        name = body.get("action")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "missing_field", "'action' is required")
        action = ACTIONS.get(name)
        if action is None:
            raise ApiError(
                400,
                "invalid_action",
                f"unknown action '{name[:40]}'; known: {', '.join(ACTIONS)}",
            )
        request = parse(action.request, {k: v for k, v in body.items() if k != "action"})
        result = await self.run(principal, action, request)
        answer: dict[str, Any] = dump(result)
        return answer

    async def run(self, principal: Principal, action: Action[Req, Resp], request: Req) -> Resp:
        """Run a parsed request; LiveKit's failures become :class:`ApiError` values."""
        try:
            return await action.run(self, principal, request)
        except api.TwirpError as error:
            if error.status == 404:
                raise ApiError(404, "not_found", "the room or participant does not exist") from None
            logger.warning("LiveKit refused %s: %s %s", action.name, error.status, error.code)
            raise ApiError(
                502, "livekit_error", f"LiveKit refused the request ({error.code})"
            ) from None
        except (aiohttp.ClientError, OSError) as error:
            logger.warning("LiveKit unreachable during %s: %s", action.name, type(error).__name__)
            raise ApiError(
                502, "livekit_unreachable", "LiveKit did not answer; try again shortly"
            ) from None
        except TimeoutError:
            bound_s = self.config.livekit_timeout_s
            raise ApiError(
                504, "livekit_timeout", f"LiveKit did not answer within {bound_s:g} s"
            ) from None

    # --- who may see what -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def room_lock(self, room_name: str) -> AsyncIterator[None]:
        """Serialise output changes of one room: in this process, then across instances
        through the store (PostgreSQL's advisory lock; nothing more for SQLite)."""
        lock = self._locks.get(room_name)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[room_name] = lock
        async with lock, self.store.room_lock(room_name):
            yield

    def appointment_of(self, principal: Principal, appointment_id: str) -> Appointment:
        """The appointment, if the caller hosts it (or is an operator); 404 otherwise."""
        appointment = self.store.get_appointment(appointment_id)
        if appointment is None and self.config.embedded and principal.role is Role.HOST:
            appointment = Appointment(appointment_id, principal.user_id)
            self.store.add_appointment(appointment)
        # Someone else's appointment reads as missing: a 403 would say that it exists.
        if appointment is None or (
            principal.role is not Role.ADMIN and appointment.host_user_id != principal.user_id
        ):
            raise ApiError(404, "not_found", f"appointment {appointment_id} not found")
        return appointment

    def hosted_stream(self, principal: Principal, room_name: str) -> LiveStream:
        """The stream of a room the caller hosts (or any, for an operator); 404 otherwise."""
        stream = self.store.get_stream(room_name)
        if stream is None or principal.role is Role.VIEWER:
            raise ApiError(404, "not_found", f"room {room_name} not found")
        try:
            self.appointment_of(principal, stream.appointment_id)
        except ApiError:
            raise ApiError(404, "not_found", f"room {room_name} not found") from None
        return stream

    def visible_stream(self, principal: Principal, room_name: str) -> LiveStream:
        """A room the caller may join: a viewer's own appointment's, or a host's own."""
        stream = self.store.get_stream(room_name)
        if stream is None:
            raise ApiError(404, "not_found", f"room {room_name} not found")
        if principal.role is Role.VIEWER:
            # A viewer's credential names one appointment; one without (made before scopes
            # existed) reaches none.
            if principal.appointment_id != stream.appointment_id:
                raise ApiError(404, "not_found", f"room {room_name} not found")
            return stream
        return self.hosted_stream(principal, room_name)

    @staticmethod
    def require_active(stream: LiveStream) -> None:
        """Refuse to start outputs for an ended stream."""
        if stream.status != "active":
            raise ApiError(409, "stream_ended", "this stream has ended; create a new room")

    def token(self, identity: str, name: str, grants: api.VideoGrants, metadata: str = "") -> str:
        """A join token that lives ``config.token_ttl_s`` (the SDK refreshes it once in)."""
        return (
            api.AccessToken(self.config.api_key, self.config.api_secret)
            .with_identity(identity)
            .with_name(name or identity)
            .with_metadata(metadata)
            .with_ttl(datetime.timedelta(seconds=self.config.token_ttl_s))
            .with_grants(grants)
            .to_jwt()
        )

    def platform_url(self, platform_id: str, stream_key: str) -> str:
        """A platform's ingest URL with the key (the platform table, config overrides)."""
        chosen = platform(platform_id)
        assert chosen is not None
        base = self.config.platform_urls.get(platform_id) or chosen.ingest_url({})
        return f"{base.rstrip('/')}/{stream_key}"

    @staticmethod
    def now_ms() -> int:
        """Wall clock in milliseconds."""
        return int(time.time() * 1000)

    async def handle_webhook(self, event: api.WebhookEvent, remember: bool = False) -> bool:
        """Apply a verified LiveKit webhook to the stream records; with ``remember``, once per
        event id across every instance (False: seen before)."""
        return await status.handle_webhook(self, event, remember)


__all__ = [
    "ACTIONS",
    "ApiError",
    "LiveKitBackendService",
    "Principal",
    "open_store",
    "revenue_split",
]
