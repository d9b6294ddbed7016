"""The typed contract: the checked-in OpenAPI document is the one the dataclasses generate, every
action has frozen request/response types in the contract package, a handler in its group's
backend module and a typed client method, and the desktop and the backend read the one platform
table."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from backend import openapi
from backend.config import BackendConfig
from backend.service import ACTIONS, LiveKitBackendService
from desktop.media.outputs.destinations import DestinationKind
from desktop.session.backend_client import TypedActions
from desktop.session.settings import default_destinations
from spaces_contract.platforms import PLATFORMS

GROUPS = {"backend.rooms", "backend.recording", "backend.rtmp", "backend.moderation",
          "backend.layout"}  # fmt: skip


def test_checked_in_openapi_is_the_generated_one() -> None:
    assert openapi.PATH.read_text() == openapi.render(), (
        "backend/openapi.json is out of date: run python -m backend.openapi"
    )


def test_every_action_is_typed_in_its_group_and_on_the_client() -> None:
    modules = set()
    for name, action in ACTIONS.items():
        for kind in (action.request, action.response):
            assert dataclasses.is_dataclass(kind), kind
            assert kind.__dataclass_params__.frozen, kind  # type: ignore[attr-defined]
            # The desktop imports these without importing the backend.
            assert kind.__module__.startswith("spaces_contract."), kind
        modules.add(inspect.getmodule(action.run).__name__)  # type: ignore[union-attr]
        method = getattr(TypedActions, name)
        assert inspect.iscoroutinefunction(method), name
        assert inspect.signature(method).return_annotation == action.response.__name__, name
    assert modules == GROUPS | {"backend.status"}


@pytest.mark.parametrize("override", [None, "rtmp://ingest.example.net/app"])
def test_desktop_and_backend_read_one_platform_table(
    override: str | None, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    for entry in PLATFORMS:
        if override:
            monkeypatch.setenv(entry.url_setting, override)
        else:
            monkeypatch.delenv(entry.url_setting, raising=False)
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:1")
    monkeypatch.setenv("LIVEKIT_API_KEY", "k")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "s" * 32)
    config = BackendConfig.from_env(embedded=True)
    service = LiveKitBackendService(config, store=None)  # type: ignore[arg-type]
    presets = {d.id: d for d in default_destinations()}
    assert set(presets) == {p.id for p in PLATFORMS}
    for entry in PLATFORMS:
        kind = DestinationKind(entry.id)
        expected = (override or entry.default_url).rstrip("/")
        assert kind.label == entry.label == presets[entry.id].name
        assert kind.preset_url() == presets[entry.id].url == expected
        assert presets[entry.id].needs_key == entry.key_needed
        # What the desktop pushes to directly is what the backend asks egress to push to.
        assert service.platform_url(entry.id, "KEY") == f"{expected}/KEY"
    assert DestinationKind.TWITCH.preset_url().endswith("/app") or override
