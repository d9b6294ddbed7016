"""The protocol's schema, its copy in docs/remote-control.md and the code agree."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from desktop.media.compositor import Layout
from desktop.session.remote_control.client import ALIASES, MAIN_ARGS
from desktop.session.remote_control.dispatch import Dispatcher
from desktop.session.remote_control.events import EVENTS
from desktop.session.remote_control.protocol import ERROR_CODES, PROTOCOL_VERSION, schema
from tests.remote.api import validator

DOC = Path(__file__).resolve().parents[2] / "docs" / "remote-control.md"


class _NoStudio:
    """The dispatcher only reads its studio when a command runs."""


def _commands() -> set[str]:
    return set(Dispatcher(_NoStudio()).handlers)  # type: ignore[arg-type]


def test_the_schema_lists_exactly_the_commands_and_events_of_the_code() -> None:
    defs = schema()["$defs"]
    assert set(defs["commands"]) == _commands()
    assert set(defs["events"]) == set(EVENTS)
    for name, command in defs["commands"].items():
        assert command["properties"]["command"] == {"const": name}
    for name, event in defs["events"].items():
        assert event["properties"]["event"] == {"const": name}
    codes = defs["response"]["oneOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
    assert tuple(codes) == ERROR_CODES
    layouts = defs["events"]["program"]["properties"]["data"]["properties"]["layout"]["enum"]
    assert layouts == [layout.value for layout in Layout]
    assert defs["welcome"]["properties"]["protocol"] == {"const": PROTOCOL_VERSION}
    # The command-line client's shorthands name real commands and real arguments.
    for command, names in MAIN_ARGS.items():
        args = defs["commands"][command]["properties"]["args"]["properties"]
        assert set(names) <= set(args), command
    assert set(ALIASES.values()) <= _commands()


def test_the_document_carries_the_schema_and_every_command_and_event() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)\n```", text, re.DOTALL)
    assert [json.loads(block) for block in blocks] == [schema()]
    for name in (*_commands(), *EVENTS):
        assert f"| `{name}` |" in text, name


@pytest.mark.parametrize(
    ("message", "valid"),
    [
        ({"type": "hello", "token": "t", "protocol": 1}, True),
        ({"type": "hello"}, False),
        ({"type": "request", "id": 1, "command": "layout", "args": {"layout": "grid"}}, True),
        ({"type": "request", "id": 1, "command": "layout", "args": {"layout": "tiles"}}, False),
        ({"type": "request", "id": "a", "command": "stage", "args": {"guest": 2}}, True),
        ({"type": "request", "id": 2, "command": "stage", "args": {"on": True}}, False),
        ({"type": "request", "id": 3, "command": "status"}, True),
        (
            {
                "type": "response",
                "id": 3,
                "ok": False,
                "error": {"code": "failed", "message": "words"},
            },
            True,
        ),  # fmt: skip
        ({"type": "event", "event": "chat", "data": {"from": "ann"}}, False),
    ],
)
def test_the_schema_tells_good_messages_from_bad(message: dict[str, Any], valid: bool) -> None:
    assert validator().is_valid(message) is valid
