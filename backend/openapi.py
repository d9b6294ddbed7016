"""The OpenAPI document, generated from the contract's dataclasses.

``python -m backend.openapi`` rewrites ``backend/openapi.json``; a test fails when the checked-in
file differs from what the dataclasses generate, so the document always says exactly what the
service accepts and answers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from backend.service import ACTIONS
from spaces_contract.codec import object_schema

PATH = Path(__file__).with_name("openapi.json")
ERRORS = {
    "400": "bad JSON, too deep, unknown action, missing, unknown or invalid field (named), "
    "or a destination the policy refuses",
    "401": "no credential, or one that is not valid, has expired or was revoked",
    "403": "a viewer asking for more than watching, or a host naming someone else as host",
    "404": "appointment, room or participant not found (or not yours to see)",
    "409": "already recording or live with other destinations, not recording or live, "
    "or the stream has ended",
    "413": "body larger than 64 KiB",
    "502": "LiveKit unreachable or refusing",
    "504": "LiveKit did not answer within the configured bound (default 10 s)",
}


def _error_response(words: str) -> dict[str, Any]:
    return {
        "description": words,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def generate() -> dict[str, Any]:
    """The whole document."""
    defs: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error", "details"],
            "properties": {"error": {"type": "string"}, "details": {"type": "string"}},
            "additionalProperties": False,
        }
    }
    requests = []
    responses = []
    for action in ACTIONS.values():
        name = action.request.__name__
        defs[name] = object_schema(
            action.request, defs, {"action": {"type": "string", "const": action.name}}
        )
        requests.append({"$ref": f"#/components/schemas/{name}"})
        ref = {"$ref": f"#/components/schemas/{action.response.__name__}"}
        if action.response.__name__ not in defs:
            defs[action.response.__name__] = object_schema(action.response, defs)
        if ref not in responses:
            responses.append(ref)
    actions = ", ".join(ACTIONS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Spaces Broadcaster backend: /api/livekit",
            "version": "2.0.0",
            "description": (
                f"The platform's LiveKit action API ({actions}). Every call needs "
                "'Authorization: Bearer <credential>'. Generated from backend/rooms.py, "
                "recording.py, rtmp.py, moderation.py and status.py; do not edit by hand."
            ),
        },
        "servers": [{"url": "http://127.0.0.1:8787"}],
        "components": {
            "schemas": dict(sorted(defs.items())),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/api/livekit": {
                "post": {
                    "operationId": "livekitAction",
                    "summary": "Run one action, chosen by 'action'",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": requests,
                                    "discriminator": {"propertyName": "action"},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "the action's result",
                            "content": {"application/json": {"schema": {"anyOf": responses}}},
                        },
                        **{status: _error_response(words) for status, words in ERRORS.items()},
                    },
                }
            },
            "/webhooks/livekit": {
                "post": {
                    "operationId": "livekitWebhook",
                    "security": [],
                    "summary": "LiveKit webhooks (signed; an event id is required; idempotent)",
                    "requestBody": {
                        "required": True,
                        "content": {"application/webhook+json": {"schema": {"type": "object"}}},
                    },
                    "responses": {
                        "200": {"description": "accepted (or a duplicate, ignored)"},
                        "400": _error_response("the event has no id"),
                        "401": _error_response("not signed by LiveKit"),
                        "413": _error_response("body larger than 64 KiB"),
                    },
                }
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "security": [],
                    "responses": {"200": {"description": "this document"}},
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "security": [],
                    "responses": {"200": {"description": "ok"}},
                }
            },
        },
    }


def render() -> str:
    """The document as the checked-in file's text."""
    return json.dumps(generate(), indent=2) + "\n"


def main() -> int:
    """Rewrite ``backend/openapi.json`` (``--check``: exit 1 if it is out of date)."""
    text = render()
    if "--check" in sys.argv[1:]:
        return 0 if PATH.read_text() == text else 1
    PATH.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
