"""The host's backend: one protocol, two implementations.

:class:`HttpBackend` calls the platform's ``POST /api/livekit`` with the host's credential;
:class:`LocalBackend` runs the reference backend's service in-process (the embedded default when
``LIVEKIT_URL``/``LIVEKIT_API_KEY``/``LIVEKIT_API_SECRET`` are set). Both return the same JSON
and raise the same typed :class:`~desktop.session.errors.SessionError` values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from desktop.session.errors import SessionError, SessionErrorCode

logger = logging.getLogger(__name__)

IDEMPOTENT_ACTIONS = frozenset(
    {
        "join_room",
        "get_room_status",
        "get_broadcast_status",
        "stop_recording",
        "stop_rtmp",
        "mute_participant",
        "remove_participant",
        "update_participant_permissions",
    }
)
"""Actions safe to send twice: only these are retried after a failure."""
DEFAULT_TIMEOUT_S = 15.0
RETRY_DELAYS_S = (0.5, 1.5, 4.0)


class Backend(Protocol):
    """What the host's session needs from a backend (the platform's /api/livekit actions)."""

    async def call(self, action: str, **fields: Any) -> dict[str, Any]:
        """Run an action; raises :class:`SessionError` with a code on failure."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


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


class HttpBackend:
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


class LocalBackend:
    """The reference backend's service in-process: the host's own LiveKit key and secret.

    Args:
        host_user_id: Who the host is (owns the appointments it names).
        database_path: Where to keep stream records (default: per user).
    """

    def __init__(self, host_user_id: str = "host", database_path: Path | None = None) -> None:
        from backend.config import BackendConfig
        from backend.service import LiveKitBackendService, Principal
        from backend.store import Role, SqliteStore

        try:
            config = BackendConfig.from_env(embedded=True, database_path=database_path)
        except ValueError as error:
            raise SessionError(
                SessionErrorCode.BAD_URL,
                str(error),
                "set the LiveKit variables or use a platform backend",
            ) from None
        self._store = SqliteStore(config.database_path)
        self._service = LiveKitBackendService(config, self._store)
        self._principal = Principal(host_user_id, Role.HOST)

    async def call(self, action: str, **fields: Any) -> dict[str, Any]:
        """Run the action in-process."""
        from backend.service import ApiError

        try:
            return await self._service.dispatch(self._principal, {"action": action, **fields})
        except ApiError as error:
            raise error_for_status(error.status, error.details) from None

    async def aclose(self) -> None:
        """Close the LiveKit client and the database."""
        await self._service.aclose()
        self._store.close()
