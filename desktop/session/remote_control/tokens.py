"""The remote-control token: from the environment, else the keyring, else made and kept there.

Apart from the server (and aiohttp) so Settings can show it without loading the server.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

from desktop.session.remote_control.protocol import TOKEN_ENV, TOKEN_SECRET_NAME

if TYPE_CHECKING:
    from desktop.session.settings import Secrets

TOKEN_BYTES = 24
"""Randomness in a generated token (32 URL-safe characters)."""


def generate_token() -> str:
    """A new random token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_for(secrets_store: Secrets, environ: dict[str, str] | None = None) -> str:
    """The token the API asks for: ``BROADCASTER_REMOTE_TOKEN`` if set, else the one in the
    keyring, else a new one (stored in the keyring, where Settings shows it)."""
    given = (environ if environ is not None else os.environ).get(TOKEN_ENV, "").strip()
    if given:
        return given
    stored = secrets_store.get(TOKEN_SECRET_NAME)
    if stored:
        return stored
    token = generate_token()
    secrets_store.set(TOKEN_SECRET_NAME, token)
    return token
