"""Typed, expected failures of the session layer, with words a host can act on."""

from __future__ import annotations

import enum


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
