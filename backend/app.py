"""The backend as an HTTP service: ``POST /api/livekit``, the OpenAPI document, webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from importlib import resources
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from google.protobuf import json_format
from livekit import api

from backend.service import ApiError, LiveKitBackendService, Principal
from backend.store import Role, Store
from spaces_contract.codec import check_depth

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
ACCESS_LOG_FORMAT = '%a %t "%r" %s %b %Tfs'
"""The access log's line: address, time, request line, status, size, duration. aiohttp's
default adds the Referer and User-Agent headers; no header value is ever logged here."""
MALFORMED_LOG_INTERVAL_S = 60.0
"""At most one line a minute about malformed requests, however many arrive."""


class MalformedRequestFilter(logging.Filter):
    """Keeps header values and tracebacks of malformed requests out of the log.

    aiohttp answers a request it cannot parse (a control byte in a header, a header over
    8 KB) with a 400 and logs the exception with its traceback on ``aiohttp.server``; the
    exception's words quote the offending header, which may be a credential, and anyone can
    send such requests to flood the log. This filter replaces those records with one line
    naming the kind of error, at most once per :data:`MALFORMED_LOG_INTERVAL_S`.
    """

    def __init__(self) -> None:
        super().__init__()
        self._last_s = -MALFORMED_LOG_INTERVAL_S
        self._dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite or drop a record of a malformed request; others pass untouched."""
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        now_s = time.monotonic()
        if now_s - self._last_s < MALFORMED_LOG_INTERVAL_S:
            self._dropped += 1
            return False
        record.msg = "refused malformed HTTP request(s) (%s; %d more since the last line)"
        record.args = (type(error).__name__, self._dropped)
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        record.levelno, record.levelname = logging.INFO, "INFO"
        self._last_s, self._dropped = now_s, 0
        return True


_MALFORMED_FILTER = MalformedRequestFilter()


def quiet_malformed_requests() -> None:
    """Install :class:`MalformedRequestFilter` on aiohttp's server logger (once)."""
    server_logger = logging.getLogger("aiohttp.server")
    if _MALFORMED_FILTER not in server_logger.filters:
        server_logger.addFilter(_MALFORMED_FILTER)


def make_runner(app: web.Application) -> web.AppRunner:
    """An ``AppRunner`` whose access log holds no header value."""
    return web.AppRunner(app, access_log_format=ACCESS_LOG_FORMAT)


SERVICE_KEY: web.AppKey[LiveKitBackendService] = web.AppKey("service", LiveKitBackendService)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI description shipped with the package."""
    text = resources.files("backend").joinpath("openapi.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status)


def _principal(request: web.Request, store: Store) -> Principal:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        raise ApiError(401, "unauthorized", "send your credential as 'Authorization: Bearer …'")
    found = store.find_credential(header[7:].strip())
    if found is None:
        raise ApiError(
            401, "unauthorized", "the credential is not valid, has expired or was revoked"
        )
    return Principal(found.user_id, found.role, found.appointment_id)


def _signed(verifier: api.TokenVerifier, raw: bytes, authorization: str) -> bool:
    """Whether LiveKit signed this body: a valid token whose sha256 claim is the body's."""
    try:
        claims = verifier.verify(authorization)
        claimed = base64.b64decode(claims.sha256 or "", validate=True)
    except Exception:
        return False
    return bool(claimed) and hmac.compare_digest(claimed, hashlib.sha256(raw).digest())


def create_app(service: LiveKitBackendService) -> web.Application:
    """The aiohttp application around a service."""
    quiet_malformed_requests()
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SERVICE_KEY] = service

    async def livekit_action(request: web.Request) -> web.Response:
        try:
            principal = _principal(request, service.store)
            raw = await request.read()
            check_depth(raw)
            try:
                body = json.loads(raw or b"null")
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
            return web.json_response(await service.dispatch(principal, body))
        except ApiError as error:
            return _error(error)
        except web.HTTPRequestEntityTooLarge:
            return _error(ApiError(413, "too_large", f"the body exceeds {MAX_BODY_BYTES} bytes"))
        except Exception:
            logger.exception("unexpected failure in /api/livekit")
            return _error(ApiError(500, "internal_error", "something went wrong on the server"))

    async def webhook(request: web.Request) -> web.Response:
        verifier = api.TokenVerifier(service.config.api_key, service.config.api_secret)
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(ApiError(413, "too_large", f"the body exceeds {MAX_BODY_BYTES} bytes"))
        if not _signed(verifier, raw, request.headers.get("Authorization", "")):
            return _error(ApiError(401, "unauthorized", "the webhook is not signed by LiveKit"))
        try:
            event = json_format.Parse(raw.decode(), api.WebhookEvent(), ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError):
            return _error(
                ApiError(
                    400,
                    "invalid_json",
                    "the webhook is signed, but its body is not a LiveKit webhook event in JSON",
                )
            )
        if not event.id:
            # Without an id a replay cannot be told from a new event: refuse it.
            return _error(ApiError(400, "missing_field", "the webhook event has no 'id'"))
        try:
            if not await service.handle_webhook(event, remember=True):
                return web.json_response({"success": True, "duplicate": True})
        except ApiError as error:
            return _error(error)
        return web.json_response({"success": True})

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def close(app: web.Application) -> None:
        await service.aclose()

    async def reconcile_on_start(app: web.Application) -> None:
        # An instance that died (or timed out) mid-start may have left egresses the records
        # do not know: adopt or stop them, in the background so serving starts at once.
        service.spawn_reconcile_all()

    app.router.add_post("/api/livekit", livekit_action)
    app.router.add_post("/webhooks/livekit", webhook)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/healthz", health)
    app.on_startup.append(reconcile_on_start)
    app.on_cleanup.append(close)
    return app


__all__ = ["ACCESS_LOG_FORMAT", "Role", "create_app", "make_runner", "openapi_document"]
