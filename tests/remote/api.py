"""A test's client of the remote-control API: real WebSocket, every message kept for the
schema check."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import aiohttp

from desktop.session.remote_control.protocol import schema


class ApiClient:
    """One authenticated connection; requests by name, events collected as they come."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[dict[str, Any]] = []
        """Every message sent and received (for the schema check)."""
        self.events: list[dict[str, Any]] = []
        self.commands: set[str] = set()
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._event_seen = asyncio.Event()

    async def hello(self, token: str) -> dict[str, Any]:
        """Connect and authenticate; returns the server's answer (welcome or refused)."""
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(f"http://127.0.0.1:{self.port}/")
        hello = {"type": "hello", "token": token, "protocol": 1}
        self.messages.append(hello)
        await self._ws.send_str(json.dumps(hello))
        message = await self._ws.receive(timeout=10)
        answer: dict[str, Any] = json.loads(message.data)
        self.messages.append(answer)
        if answer["type"] == "welcome":
            self._reader = asyncio.ensure_future(self._read())
        return answer

    async def closed_code(self) -> int | None:
        """After a refusal: the close code the server sent."""
        assert self._ws is not None
        message = await self._ws.receive(timeout=10)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        return self._ws.close_code

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            data: dict[str, Any] = json.loads(message.data)
            self.messages.append(data)
            if data["type"] == "response":
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif data["type"] == "event":
                self.events.append(data)
                self._event_seen.set()

    async def call(self, command: str, **args: Any) -> dict[str, Any]:
        """Send a request and wait for its response (the whole response)."""
        assert self._ws is not None
        request_id = next(self._ids)
        request = {"type": "request", "id": request_id, "command": command, "args": args}
        self.messages.append(request)
        self.commands.add(command)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self._ws.send_str(json.dumps(request))
        return await asyncio.wait_for(future, 60)

    async def ok(self, command: str, **args: Any) -> dict[str, Any]:
        """A request that must succeed; returns its result."""
        response = await self.call(command, **args)
        assert response["ok"], f"{command} {args}: {response}"
        result: dict[str, Any] = response["result"]
        return result

    async def wait_event(
        self, name: str, check: Any = None, timeout_s: float = 30
    ) -> dict[str, Any]:
        """The first event ``name`` (seen so far or coming) whose data passes ``check``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            for item in self.events:
                if item["event"] == name and (check is None or check(item["data"])):
                    data: dict[str, Any] = item["data"]
                    return data
            self._event_seen.clear()
            left = deadline - loop.time()
            if left <= 0:
                seen = [e for e in self.events if e["event"] == name][-3:]
                raise AssertionError(f"no {name} event as wanted in {timeout_s} s; last: {seen}")
            try:
                await asyncio.wait_for(self._event_seen.wait(), left)
            except TimeoutError:
                pass

    async def aclose(self) -> None:
        """Close the connection."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


def validator() -> Any:
    """A validator of the protocol's schema."""
    import jsonschema_rs

    return jsonschema_rs.validator_for(schema())


def status_validator() -> Any:
    """A validator of ``status``'s result."""
    import jsonschema_rs

    whole = schema()
    whole.pop("oneOf")
    return jsonschema_rs.validator_for({**whole, "$ref": "#/$defs/status_result"})
