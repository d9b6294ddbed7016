"""The backend as an HTTP service: ``POST /api/livekit``, the OpenAPI document, webhooks."""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any

from aiohttp import web
from livekit import api

from backend.contract import check_depth
from backend.service import ApiError, LiveKitBackendService, Principal
from backend.store import Role, Store

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
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


def create_app(service: LiveKitBackendService) -> web.Application:
    """The aiohttp application around a service."""
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
        receiver = api.WebhookReceiver(
            api.TokenVerifier(service.config.api_key, service.config.api_secret)
        )
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(ApiError(413, "too_large", f"the body exceeds {MAX_BODY_BYTES} bytes"))
        body = raw.decode(errors="replace")
        try:
            event = receiver.receive(body, request.headers.get("Authorization", ""))
        except Exception:
            return _error(ApiError(401, "unauthorized", "the webhook is not signed by LiveKit"))
        if not event.id:
            # Without an id a replay cannot be told from a new event: refuse it.
            return _error(ApiError(400, "missing_field", "the webhook event has no 'id'"))
        if not service.store.remember_webhook(event.id):
            return web.json_response({"success": True, "duplicate": True})
        try:
            await service.handle_webhook(event)
        except ApiError as error:
            return _error(error)
        return web.json_response({"success": True})

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def close(app: web.Application) -> None:
        await service.aclose()

    app.router.add_post("/api/livekit", livekit_action)
    app.router.add_post("/webhooks/livekit", webhook)
    app.router.add_get("/api/openapi.json", openapi)
    app.router.add_get("/healthz", health)
    app.on_cleanup.append(close)
    return app


__all__ = ["Role", "create_app", "openapi_document"]
