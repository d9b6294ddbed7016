"""Access-token checks as LiveKit makes them (HS256 JWT signed with the API secret)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from livekit import api


@dataclass
class AuthError(Exception):
    """A refused credential: HTTP status, Twirp code and LiveKit's wording."""

    status: int
    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def verify_token(token: str, api_key: str, api_secret: str) -> api.access_token.Claims:
    """Verify signature, issuer and expiry; raise :class:`AuthError` (401) otherwise."""
    if not token:
        raise AuthError(401, "unauthenticated", "no authorization token provided")
    try:
        return api.TokenVerifier(api_key, api_secret).verify(token)
    except Exception as exc:  # jwt raises a family of errors; all mean "invalid token"
        raise AuthError(401, "unauthenticated", f"invalid token: {exc}") from exc


def bearer_token(request: web.Request) -> str:
    """The token from ``Authorization: Bearer`` or the ``access_token`` query parameter."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query.get("access_token", "")


def bearer_claims(request: web.Request, api_key: str, api_secret: str) -> api.access_token.Claims:
    """Verify the request's bearer token."""
    return verify_token(bearer_token(request), api_key, api_secret)


GRANT_NAMES = {
    "roomAdmin": "room_admin",
    "roomCreate": "room_create",
    "roomList": "room_list",
    "roomRecord": "room_record",
    "roomJoin": "room_join",
}


def require_grant(claims: api.access_token.Claims, grant: str, room: str | None = None) -> None:
    """Raise :class:`AuthError` (403) unless the claims hold ``grant`` (for ``room``)."""
    video = claims.video
    if video is None or not getattr(video, GRANT_NAMES.get(grant, grant), False):
        raise AuthError(403, "permission_denied", f"permissions denied: {grant} required")
    if room is not None and grant in ("roomAdmin", "roomJoin") and video.room not in ("", room):
        raise AuthError(
            403, "permission_denied", f"permissions denied: not allowed for room {room}"
        )
