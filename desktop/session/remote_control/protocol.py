"""The remote-control protocol's messages (version :data:`PROTOCOL_VERSION`).

Every message is one JSON object in one WebSocket text frame, with a ``type``:

- ``hello`` (client, first): ``{"type": "hello", "token": "...", "protocol": 1}``
- ``welcome`` / ``refused`` (server): the answer to ``hello``; a refusal closes the connection.
- ``request`` (client): ``{"type": "request", "id": 7, "command": "layout", "args": {...}}``
- ``response`` (server): one per request, same ``id``; ``ok`` with ``result``, or ``error``.
- ``event`` (server, any time after ``welcome``): ``{"type": "event", "event": "chat", ...}``

The JSON Schema of every message is ``schema.json`` beside this file (and in
docs/remote-control.md); a test checks that it and this code agree.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

PROTOCOL_VERSION = 1
"""Bumped when a message changes incompatibly; new commands and events keep the version."""
DEFAULT_PORT = 4456
"""The port the studio listens on when the host turns the API on without choosing one."""
TOKEN_ENV = "BROADCASTER_REMOTE_TOKEN"
"""The environment variable a token is taken from (studio, headless and the client)."""
TOKEN_SECRET_NAME = "remote-control-token"
"""The keyring entry of the generated token."""

CLOSE_REFUSED = 4001
"""WebSocket close code after a refused ``hello`` (wrong token, or too many wrong ones)."""
CLOSE_PROTOCOL = 4002
"""WebSocket close code when the first message is not a ``hello``."""


class RemoteError(Exception):
    """A request that could not be done, in words, with a machine-readable code.

    Args:
        code: One of ``bad_request``, ``unknown_command``, ``not_possible``, ``failed``.
        message: What went wrong and the next step, in plain words.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


ERROR_CODES = ("bad_request", "unknown_command", "not_possible", "failed")
"""Every ``error.code`` a response can carry."""


def schema() -> dict[str, Any]:
    """The protocol's JSON Schema (``schema.json``)."""
    text = resources.files(__package__).joinpath("schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def response_ok(request_id: object, result: dict[str, Any]) -> dict[str, Any]:
    """A successful response."""
    return {"type": "response", "id": request_id, "ok": True, "result": result}


def response_error(request_id: object, code: str, message: str) -> dict[str, Any]:
    """A failed response."""
    return {"type": "response", "id": request_id, "ok": False,
            "error": {"code": code, "message": message}}  # fmt: skip


def event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """A pushed event."""
    return {"type": "event", "event": name, "data": data}


# -- reading a request's arguments (the words name the argument and what it should be) --------


def arg_str(args: dict[str, Any], name: str, default: str | None = None) -> str:
    """A string argument (required unless ``default`` is given)."""
    value = args.get(name, default)
    if not isinstance(value, str):
        raise RemoteError("bad_request", f"'{name}' must be a string"
                          + ("" if name in args else f": add \"{name}\" to args"))  # fmt: skip
    return value


def arg_bool(args: dict[str, Any], name: str, default: bool | None = None) -> bool:
    """A true/false argument (required unless ``default`` is given)."""
    value = args.get(name, default)
    if not isinstance(value, bool):
        raise RemoteError("bad_request", f"'{name}' must be true or false")
    return value


def arg_number(args: dict[str, Any], name: str, default: float) -> float:
    """A number argument, at least 0."""
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise RemoteError("bad_request", f"'{name}' must be a number of at least 0")
    return float(value)
