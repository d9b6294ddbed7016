"""The host's backend: one protocol, two implementations, typed methods.

:class:`HttpBackend` calls the platform's ``POST /api/livekit`` with the host's credential;
:class:`LocalBackend` runs the reference backend's service in-process (the studio's "LiveKit
server" mode, and the embedded default when ``LIVEKIT_URL``/``LIVEKIT_API_KEY``/
``LIVEKIT_API_SECRET`` are set). Both offer the same typed methods (``create_room(...) ->
CreatedRoom``…), whose requests and answers are the contract's own frozen dataclasses
(:mod:`spaces_contract.rooms` and its siblings), and raise the same typed
:class:`~desktop.session.errors.SessionError` values. This module is the desktop's one door into
the backend's implementation: only :class:`LocalBackend` imports it, on first use.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from desktop.session.errors import SessionError, SessionErrorCode
from spaces_common.lazy import lazy_module
from spaces_contract.codec import ApiError, dump, parse
from spaces_contract.common import Done, Layout
from spaces_contract.moderation import (
    Muted,
    MuteRequest,
    PermissionChange,
    PermissionsUpdated,
    RemoveRequest,
    SourceName,
    UpdatePermissionsRequest,
)
from spaces_contract.outputs import (
    Destination,
    DestinationsAnswer,
    DestinationSpec,
    LayoutAnswer,
    LiveAnswer,
    StartRtmpRequest,
    StopRtmpRequest,
    UpdateLayoutRequest,
    UpdateRtmpRequest,
)
from spaces_contract.recording import (
    OutputFormat,
    Quality,
    RecordingAnswer,
    StartRecordingRequest,
    StopRecordingRequest,
)
from spaces_contract.rooms import (
    CreatedRoom,
    CreateRoomRequest,
    EndStreamRequest,
    JoinedRoom,
    JoinPermissions,
    JoinRoomRequest,
    RoomStatus,
    RoomStatusRequest,
    StreamEnded,
)
from spaces_contract.status import BroadcastStatus, BroadcastStatusRequest

if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = lazy_module("aiohttp")

logger = logging.getLogger(__name__)

IDEMPOTENT_ACTIONS = frozenset(
    {
        "start_recording",
        "start_rtmp",
        "end_stream",
        "join_room",
        "get_room_status",
        "get_broadcast_status",
        "stop_recording",
        "stop_rtmp",
        "update_layout",
        "mute_participant",
        "remove_participant",
        "update_participant_permissions",
    }
)
"""Actions safe to send twice (the backend serialises them per room and answers a repeat with
what it already did): only these are retried after a failure."""
DEFAULT_TIMEOUT_S = 15.0
RETRY_DELAYS_S = (0.5, 1.5, 4.0)


Answer = TypeVar("Answer")


class Backend(Protocol):
    """What the host's session needs from a backend (the platform's /api/livekit actions)."""

    async def call(self, action: str, **fields: Any) -> dict[str, Any]:
        """Run an action from raw fields; raises :class:`SessionError` on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...

    async def create_room(
        self, appointment_id: str, *, max_participants: int = 100, empty_timeout_s: int = 1800
    ) -> CreatedRoom: ...
    async def join_room(
        self, room_name: str, user_id: str, user_name: str = "", *, can_publish: bool = False
    ) -> JoinedRoom: ...
    async def get_room_status(self, room_name: str) -> RoomStatus: ...
    async def end_stream(self, room_name: str) -> StreamEnded: ...
    async def start_recording(
        self, room_name: str, output: OutputFormat = OutputFormat.MP4,
        layout: Layout = Layout.SPEAKER, quality: Quality = Quality.HIGH,
    ) -> RecordingAnswer: ...  # fmt: skip
    async def stop_recording(self, room_name: str) -> RecordingAnswer: ...
    async def start_rtmp(
        self, room_name: str, destinations: Sequence[Destination],
        layout: Layout = Layout.SPEAKER,
    ) -> LiveAnswer: ...  # fmt: skip
    async def update_rtmp(
        self,
        room_name: str,
        add: Sequence[Destination] = (),
        remove: Sequence[str] = (),
    ) -> DestinationsAnswer: ...
    async def stop_rtmp(self, room_name: str) -> Done: ...
    async def update_layout(self, room_name: str, layout: Layout) -> LayoutAnswer: ...
    async def get_broadcast_status(self, room_name: str) -> BroadcastStatus: ...
    async def mute_participant(
        self, room_name: str, identity: str, source: SourceName = SourceName.MICROPHONE
    ) -> Muted: ...
    async def remove_participant(self, room_name: str, identity: str) -> Done: ...
    async def update_participant_permissions(
        self, room_name: str, identity: str, *, can_publish: bool | None = None
    ) -> PermissionsUpdated: ...


def named_url(name: str, url: str) -> DestinationSpec:
    """A custom destination with the name the studio shows for it."""
    return DestinationSpec(url=url, name=name)


class TypedActions(abc.ABC):
    """The contract's actions as typed methods over :meth:`call` (shared by both backends)."""

    @abc.abstractmethod
    async def call(self, action: str, **fields: Any) -> dict[str, Any]:
        """Run an action from raw fields (implemented by each backend)."""

    async def _ask(self, action: str, request: object, answer: type[Answer]) -> Answer:
        reply = await self.call(action, **dump(request))
        try:
            return parse(answer, reply, strict=False)
        except ApiError as error:
            raise SessionError(
                SessionErrorCode.BACKEND_UNAVAILABLE,
                f"the backend's answer to {action} did not fit the contract ({error.details})",
                "update the app or the backend so that their versions match",
            ) from None

    async def create_room(
        self, appointment_id: str, *, max_participants: int = 100, empty_timeout_s: int = 1800
    ) -> CreatedRoom:
        """Create the appointment's room; the answer carries the host's token."""
        request = CreateRoomRequest(
            appointment_id, max_participants=max_participants, empty_timeout=empty_timeout_s
        )
        return await self._ask("create_room", request, CreatedRoom)

    async def join_room(
        self, room_name: str, user_id: str, user_name: str = "", *, can_publish: bool = False
    ) -> JoinedRoom:
        """A token for a guest (the host may let them publish) or a viewer."""
        request = JoinRoomRequest(
            room_name, user_id, user_name, JoinPermissions(can_publish, True, can_publish)
        )
        return await self._ask("join_room", request, JoinedRoom)

    async def get_room_status(self, room_name: str) -> RoomStatus:
        """Who is in the room."""
        return await self._ask("get_room_status", RoomStatusRequest(room_name), RoomStatus)

    async def end_stream(self, room_name: str) -> StreamEnded:
        """End everything; final statistics and the revenue split."""
        return await self._ask("end_stream", EndStreamRequest(room_name), StreamEnded)

    async def start_recording(
        self, room_name: str, output: OutputFormat = OutputFormat.MP4,
        layout: Layout = Layout.SPEAKER, quality: Quality = Quality.HIGH,
    ) -> RecordingAnswer:  # fmt: skip
        """Record the room in the cloud: container, composition and egress preset."""
        request = StartRecordingRequest(room_name, output, layout, quality)
        return await self._ask("start_recording", request, RecordingAnswer)

    async def stop_recording(self, room_name: str) -> RecordingAnswer:
        """Stop the cloud recording."""
        return await self._ask("stop_recording", StopRecordingRequest(room_name), RecordingAnswer)

    async def start_rtmp(
        self, room_name: str, destinations: Sequence[Destination],
        layout: Layout = Layout.SPEAKER,
    ) -> LiveAnswer:  # fmt: skip
        """Go live through egress, composed in ``layout``."""
        request = StartRtmpRequest(room_name, tuple(destinations), layout)
        return await self._ask("start_rtmp", request, LiveAnswer)

    async def update_rtmp(
        self,
        room_name: str,
        add: Sequence[Destination] = (),
        remove: Sequence[str] = (),
    ) -> DestinationsAnswer:
        """Add and remove destinations while live."""
        request = UpdateRtmpRequest(room_name, tuple(add), tuple(remove))
        return await self._ask("update_rtmp", request, DestinationsAnswer)

    async def stop_rtmp(self, room_name: str) -> Done:
        """Stop going live."""
        return await self._ask("stop_rtmp", StopRtmpRequest(room_name), Done)

    async def update_layout(self, room_name: str, layout: Layout) -> LayoutAnswer:
        """Have the room's running egresses (live stream, recording) compose in ``layout``."""
        request = UpdateLayoutRequest(room_name, layout)
        return await self._ask("update_layout", request, LayoutAnswer)

    async def get_broadcast_status(self, room_name: str) -> BroadcastStatus:
        """Recording and every destination's state."""
        return await self._ask(
            "get_broadcast_status", BroadcastStatusRequest(room_name), BroadcastStatus
        )

    async def mute_participant(
        self, room_name: str, identity: str, source: SourceName = SourceName.MICROPHONE
    ) -> Muted:
        """Mute someone's microphone, camera or screen."""
        request = MuteRequest(room_name, identity, source)
        return await self._ask("mute_participant", request, Muted)

    async def remove_participant(self, room_name: str, identity: str) -> Done:
        """Remove someone from the room."""
        return await self._ask("remove_participant", RemoveRequest(room_name, identity), Done)

    async def update_participant_permissions(
        self, room_name: str, identity: str, *, can_publish: bool | None = None
    ) -> PermissionsUpdated:
        """Move someone on or off stage."""
        request = UpdatePermissionsRequest(room_name, identity, PermissionChange(can_publish))
        return await self._ask("update_participant_permissions", request, PermissionsUpdated)


def error_for_status(status: int, details: str) -> SessionError:
    """Map an HTTP status (and the backend's details) to a typed error with the next step."""
    details = details or "no details"
    if status == 401:
        return SessionError(
            SessionErrorCode.SIGN_IN_AGAIN,
            f"the backend refused your sign-in ({details})",
            "sign in again",
        )
    if status == 403:
        return SessionError(
            SessionErrorCode.FORBIDDEN, details, "ask the appointment's host or an operator"
        )
    if status == 404:
        return SessionError(
            SessionErrorCode.NOT_FOUND, details, "check the appointment or room; it may have ended"
        )
    if status == 409:
        return SessionError(
            SessionErrorCode.ALREADY_ACTIVE, details, "it is already running; refresh the status"
        )
    if status in (400, 413):
        return SessionError(SessionErrorCode.INVALID_REQUEST, details, "check the values entered")
    return SessionError(
        SessionErrorCode.BACKEND_UNAVAILABLE,
        f"the backend is unavailable ({details})",
        "retrying; try again shortly",
    )


class HttpBackend(TypedActions):
    """The platform's ``POST /api/livekit`` over HTTPS.

    Args:
        base_url: The platform, e.g. ``https://spaces.example.com``.
        credential: The host's bearer credential (kept out of logs).
        timeout_s: Per-request timeout.
        retry_delays_s: Back-off before each retry of an idempotent action.
    """

    def __init__(
        self,
        base_url: str,
        credential: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise SessionError(
                SessionErrorCode.BAD_URL,
                f"'{base_url}' is not a backend URL",
                "use the https://… address of the platform",
            )
        self.url = base_url.rstrip("/") + "/api/livekit"
        self._credential = credential
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._retry_delays_s = retry_delays_s
        self._session: aiohttp.ClientSession | None = None

    async def call(self, action: str, **fields: Any) -> dict[str, Any]:
        """POST an action; retries with back-off only for idempotent actions."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        delays = self._retry_delays_s if action in IDEMPOTENT_ACTIONS else ()
        last: SessionError | None = None
        for attempt in range(len(delays) + 1):
            if attempt:
                await asyncio.sleep(delays[attempt - 1])
            try:
                return await self._post(action, fields)
            except SessionError as error:
                if error.code is not SessionErrorCode.BACKEND_UNAVAILABLE:
                    raise
                last = error
                logger.info("%s failed (attempt %d): %s", action, attempt + 1, error.detail)
        assert last is not None
        raise last

    async def _post(self, action: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        assert self._session is not None
        headers = {"Authorization": f"Bearer {self._credential}"}
        try:
            async with self._session.post(
                self.url, json={"action": action, **fields}, headers=headers
            ) as response:
                try:
                    body = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    body = None
                if response.status != 200 or not isinstance(body, dict):
                    details = body.get("details", "") if isinstance(body, dict) else ""
                    raise error_for_status(
                        response.status if response.status != 200 else 502,
                        str(details) or f"HTTP {response.status}",
                    )
                return body
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise error_for_status(503, f"{type(exc).__name__}") from None

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class LocalBackend(TypedActions):
    """The reference backend's service in-process: the host's own LiveKit key and secret.

    The studio's "LiveKit server" mode runs this, so moderation and cloud recording work there
    as on a platform, and tokens are minted by the backend, never by the UI.

    Args:
        host_user_id: Who the host is (owns the appointments it names).
        database_path: Where to keep stream records (default: per user).
        config: The backend's configuration (default: from the environment).
    """

    def __init__(
        self,
        host_user_id: str = "host",
        database_path: Path | None = None,
        config: Any = None,
    ) -> None:
        from backend.config import BackendConfig
        from backend.service import LiveKitBackendService, Principal, open_store
        from backend.store import Role

        if config is None:
            try:
                config = BackendConfig.from_env(embedded=True, database_path=database_path)
            except ValueError as error:
                raise SessionError(
                    SessionErrorCode.BAD_URL,
                    str(error),
                    "set the LiveKit variables or use a platform backend",
                ) from None
        self._store = open_store(config)
        self._service = LiveKitBackendService(config, self._store)
        self._principal = Principal(host_user_id, Role.HOST)

    @classmethod
    def for_server(
        cls,
        livekit_url: str,
        api_key: str,
        api_secret: str,
        *,
        database_path: Path,
        egress_url: str = "",
        recording_read_dir: str = "",
        host_user_id: str = "host",
    ) -> LocalBackend:
        """The in-process backend of the studio's own LiveKit server, configured from the
        studio's settings rather than from the environment.

        Args:
            livekit_url: The LiveKit server's URL.
            api_key: Its API key.
            api_secret: Its API secret.
            database_path: Where to keep stream records.
            egress_url: Where the egress service answers ("" = the server's URL).
            recording_read_dir: Where this computer reads the egress's recording folder when
                not at the path egress writes to ("" = at that path, if it is absolute).
            host_user_id: Who the host is.
        """
        # Here, not in the studio: this module is the desktop's only importer of the backend.
        from backend.config import BackendConfig

        config = BackendConfig(
            livekit_url=livekit_url,
            api_key=api_key,
            api_secret=api_secret,
            database_path=database_path,
            embedded=True,
            egress_url=egress_url,
            recording_read_dir=recording_read_dir,
        )
        return cls(host_user_id, config=config)

    async def call(self, action: str, **fields: Any) -> dict[str, Any]:
        """Run the action in-process."""
        try:
            return await self._service.dispatch(self._principal, {"action": action, **fields})
        except ApiError as error:
            raise error_for_status(error.status, error.details) from None

    async def aclose(self) -> None:
        """Close the LiveKit client and the database."""
        await self._service.aclose()
        self._store.close()
