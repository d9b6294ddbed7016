"""Typed, expected failures of the session layer, with words a host can act on."""

from __future__ import annotations

import asyncio
import enum
import urllib.parse
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class SessionErrorCode(enum.Enum):
    """What went wrong while connecting or talking to the backend. No valid zero."""

    BAD_URL = 1
    """The server URL is malformed (scheme, host)."""
    TOKEN_REFUSED = 2
    """The server refused the access token (invalid, expired, wrong key, no permission)."""
    UNREACHABLE = 3
    """Nothing answered at the URL within the connect timeout."""
    SIGN_IN_AGAIN = 4
    """The backend refused the host's credentials (401)."""
    NOT_FOUND = 5
    """The appointment, room or participant does not exist (404)."""
    ALREADY_ACTIVE = 6
    """Recording or Go Live is already running (409)."""
    BACKEND_UNAVAILABLE = 7
    """The backend failed or did not answer (5xx, timeout)."""
    FORBIDDEN = 8
    """The host may not do this (403)."""
    INVALID_REQUEST = 9
    """The backend rejected the request's content (400)."""
    NOT_CONNECTED = 10
    """The action needs a connected room."""
    PUBLISH_FAILED = 11
    """The server did not accept a track (the connection dropped, or publishing is not allowed)."""
    NO_ANSWER = 12
    """The room did not confirm an action in time (a stalled connection)."""


class SessionError(Exception):
    """An expected session failure: code, plain words, and the next step.

    Args:
        code: What kind of failure.
        detail: What happened (no secrets, no tracebacks).
        hint: What the host can do next.
    """

    def __init__(self, code: SessionErrorCode, detail: str, hint: str = "") -> None:
        self.code = code
        self.detail = detail
        self.hint = hint
        super().__init__(f"{detail} — {hint}" if hint else detail)


def check_url(url: str) -> str:
    """Validate a LiveKit server URL and return it.

    Raises:
        SessionError: BAD_URL with what is wrong.
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("ws", "wss", "http", "https") or not parsed.hostname:
        raise SessionError(
            SessionErrorCode.BAD_URL,
            f"'{url}' is not a LiveKit server URL",
            "use the wss://… (or ws://host:7880 for a local server) address of your LiveKit server",
        )
    return url


def connect_error(exc: Exception, url: str) -> SessionError:
    """The SDK's connect failure as TOKEN_REFUSED or UNREACHABLE, in plain words."""
    text = str(exc)
    lowered = text.lower()
    if any(w in lowered for w in ("401", "403", "invalid token", "unauthorized", "permission")):
        return SessionError(
            SessionErrorCode.TOKEN_REFUSED,
            f"the server refused the access token ({text.split(' - ')[-1][:160]})",
            "get a new token (sign in again), or check the API key and secret",
        )
    return SessionError(
        SessionErrorCode.UNREACHABLE,
        f"could not reach the LiveKit server at {url}",
        "check the URL and your network, then connect again",
    )


async def answered(action: Awaitable[T], what: str, timeout_s: float, hint: str) -> T:
    """Await one of the SDK's round trips, bounded.

    The SDK waits for the confirmation of a chat line, a data message or an unpublish without a
    time limit; on a stalled connection that confirmation may never come, and a host's button
    would stay busy for ever. The action is cancelled after ``timeout_s``.

    Args:
        action: The SDK's awaitable.
        what: What was being done, as the host would say it ("sending the chat line").
        timeout_s: How long to wait for the answer.
        hint: The next step for the host.

    Raises:
        SessionError: NO_ANSWER when no answer came in time.
    """
    try:
        return await asyncio.wait_for(action, timeout_s)
    except TimeoutError:
        raise SessionError(
            SessionErrorCode.NO_ANSWER,
            f"the room did not confirm {what} within {timeout_s:g} s",
            hint,
        ) from None
