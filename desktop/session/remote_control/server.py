"""The remote-control server: aiohttp's WebSocket server on 127.0.0.1 (the LAN only when the
host says so), one connection per client, each authenticated by its first message.

A wrong token closes the connection; after :data:`FREE_FAILURES` wrong tokens from one address,
that address is refused (right token or not) for a lock-out that doubles with each further
failure, so a token cannot be guessed by trying.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import WSMsgType, web

from desktop import __version__
from desktop.media.base import VideoCaptureSource
from desktop.session.remote_control.dispatch import Dispatcher
from desktop.session.remote_control.events import Emit, EventWatcher
from desktop.session.remote_control.protocol import (
    CLOSE_PROTOCOL,
    CLOSE_REFUSED,
    PROTOCOL_VERSION,
    TOKEN_ENV,
    RemoteError,
    event,
    response_error,
    response_ok,
)
from desktop.session.remote_control.tokens import token_for

if TYPE_CHECKING:
    from desktop.session.settings import Secrets
    from desktop.session.studio import Studio

logger = logging.getLogger(__name__)

HELLO_TIMEOUT_S = 10.0
"""How long a new connection has to say ``hello``."""
FREE_FAILURES = 3
"""Wrong tokens from one address before it is locked out."""
LOCKOUT_S = 5.0
"""The first lock-out; each wrong token after it doubles the next (up to :data:`MAX_LOCKOUT_S`)."""
MAX_LOCKOUT_S = 300.0
"""The longest lock-out."""


class Commands(Protocol):
    """What runs requests: a studio's :class:`Dispatcher`, or headless's own."""

    handlers: dict[str, Any]
    """Command name → handler (the welcome lists them)."""

    async def run(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one command.

        Raises:
            RemoteError: It could not be done, in words.
        """
        ...


def _given(studio: Studio | None) -> Studio:
    if studio is None:
        raise ValueError("a studio, or commands and watch, must be given")
    return studio


@dataclass
class _Failures:
    count: int = 0
    locked_until_s: float = 0.0
    lockout_s: float = 0.0


class RateLimit:
    """Counts wrong tokens per address and locks an address out after too many.

    Args:
        free_failures: Wrong tokens allowed before the first lock-out.
        lockout_s: The first lock-out's length (doubling after).
        clock: Monotonic seconds (a test's own clock).
    """

    def __init__(
        self,
        free_failures: int = FREE_FAILURES,
        lockout_s: float = LOCKOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free_failures = free_failures
        self.lockout_s = lockout_s
        self._clock = clock
        self._by_address: dict[str, _Failures] = {}

    def wait_s(self, address: str) -> float:
        """Seconds until ``address`` may try again (0: now)."""
        failures = self._by_address.get(address)
        if failures is None:
            return 0.0
        return max(0.0, failures.locked_until_s - self._clock())

    def failed(self, address: str) -> None:
        """A wrong token from ``address``."""
        failures = self._by_address.setdefault(address, _Failures())
        failures.count += 1
        if failures.count >= self.free_failures:
            failures.lockout_s = min(MAX_LOCKOUT_S, failures.lockout_s * 2 or self.lockout_s)
            failures.locked_until_s = self._clock() + failures.lockout_s

    def succeeded(self, address: str) -> None:
        """A right token from ``address``: its count starts again."""
        self._by_address.pop(address, None)


class RemoteControlServer:
    """Serves the API for one studio.

    Args:
        studio: The studio to drive.
        token: The token every connection must give.
        port: TCP port (0: any free one; :attr:`port` says which after :meth:`start`).
        host: Address to listen on: 127.0.0.1 unless the host chose the LAN ("0.0.0.0").
        open_screen: Opens the screen ``screen_share`` shares (None: refused).
        rate_limit: Wrong-token counting (default: :class:`RateLimit`'s defaults).
        commands: What runs the requests, instead of a studio's :class:`Dispatcher` (headless
            has its own); with ``watch``, which starts its events (returns how to stop them).
    """

    def __init__(
        self,
        studio: Studio | None,
        token: str,
        port: int = 0,
        host: str = "127.0.0.1",
        open_screen: Callable[[], VideoCaptureSource] | None = None,
        rate_limit: RateLimit | None = None,
        commands: Commands | None = None,
        watch: Callable[[Emit], Callable[[], None]] | None = None,
    ) -> None:
        if not token:
            raise ValueError("the remote-control token is empty: set one in Settings")
        self.studio = studio
        self.dispatcher: Commands = commands or Dispatcher(_given(studio), open_screen)
        self._watch = watch
        self.host = host
        self.port = port
        self.rate_limit = rate_limit or RateLimit()
        self._token = token
        self._clients: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self._stop_events: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def clients(self) -> int:
        """Authenticated connections now."""
        return len(self._clients)

    async def start(self) -> int:
        """Listen; returns the port.

        Raises:
            OSError: The port is taken (the words say which).
        """
        app = web.Application()
        app.router.add_get("/", self._connection)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise OSError(
                error.errno,
                f"the remote-control port {self.port} on {self.host} "
                f"cannot be used ({error.strerror}); choose another",
            ) from None
        server = site._server  # aiohttp keeps the listening sockets there
        sockets = getattr(server, "sockets", None) or ()
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._runner = runner
        if self._watch is not None:
            self._stop_events = self._watch(self._broadcast)
        else:
            assert isinstance(self.dispatcher, Dispatcher)
            watcher = EventWatcher(_given(self.studio), self.dispatcher, self._broadcast)
            self._stop_events = watcher.close
        logger.info("remote control listening on %s:%d", self.host, self.port)
        return self.port

    async def aclose(self) -> None:
        """Close every connection and stop listening."""
        if self._stop_events is not None:
            self._stop_events()
            self._stop_events = None
        for ws in list(self._clients):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _broadcast(self, name: str, data: dict[str, Any]) -> None:
        message = json.dumps(event(name, data))
        for ws in list(self._clients):
            if ws.closed:
                continue
            task = asyncio.ensure_future(self._send(ws, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _send(ws: web.WebSocketResponse, message: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(message)

    async def _connection(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        address = request.remote or "?"
        if not await self._hello(ws, address):
            return ws
        self._clients.add(ws)
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                # Each request runs as it comes, so a slow one (go live) does not hold up the
                # others; its response carries its id.
                task = asyncio.ensure_future(self._request(ws, message.data))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            self._clients.discard(ws)
        return ws

    async def _hello(self, ws: web.WebSocketResponse, address: str) -> bool:
        """Authenticate a new connection; False (and closed) when refused."""
        try:
            first = await ws.receive(timeout=HELLO_TIMEOUT_S)
        except TimeoutError:
            await self._refuse(
                ws,
                CLOSE_PROTOCOL,
                f"no hello within {HELLO_TIMEOUT_S:.0f} s: send a hello with the token first",
            )
            return False
        try:
            hello = json.loads(first.data) if first.type is WSMsgType.TEXT else None
        except ValueError:
            hello = None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            await self._refuse(
                ws, CLOSE_PROTOCOL, 'the first message must be {"type": "hello", "token": ...}'
            )
            return False
        wait_s = self.rate_limit.wait_s(address)
        if wait_s > 0:
            await self._refuse(ws, CLOSE_REFUSED, "too many wrong tokens from this address: "
                               f"try again in {wait_s:.0f} s", wait_s)  # fmt: skip
            return False
        token = hello.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8"), self._token.encode("utf-8")
        ):
            self.rate_limit.failed(address)
            logger.warning("remote control: wrong token from %s", address)
            await self._refuse(ws, CLOSE_REFUSED, "wrong token: copy it from Settings ▸ Remote "
                               f"control, or set {TOKEN_ENV}")  # fmt: skip
            return False
        self.rate_limit.succeeded(address)
        await ws.send_str(json.dumps({"type": "welcome", "protocol": PROTOCOL_VERSION,
                                      "version": __version__,
                                      "commands": sorted(self.dispatcher.handlers)}))  # fmt: skip
        return True

    @staticmethod
    async def _refuse(
        ws: web.WebSocketResponse, code: int, reason: str, retry_after_s: float = 0.0
    ) -> None:
        refusal: dict[str, Any] = {"type": "refused", "reason": reason}
        if retry_after_s:
            refusal["retry_after_s"] = round(retry_after_s, 1)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(json.dumps(refusal))
        await ws.close(code=code, message=b"refused")

    async def _request(self, ws: web.WebSocketResponse, text: str) -> None:
        request_id: object = None
        try:
            request = json.loads(text)
            if not isinstance(request, dict) or request.get("type") != "request":
                raise RemoteError("bad_request", 'a request is {"type": "request", "id": ..., '
                                  '"command": ..., "args": {...}}')  # fmt: skip
            request_id = request.get("id")
            command, args = request.get("command"), request.get("args", {})
            if not isinstance(command, str) or not isinstance(args, dict):
                raise RemoteError("bad_request", "'command' must be a string and 'args' an object")
            reply = response_ok(request_id, await self.dispatcher.run(command, args))
        except ValueError:
            reply = response_error(request_id, "bad_request", "the message is not JSON")
        except RemoteError as error:
            reply = response_error(request_id, error.code, error.message)
        except Exception as error:  # a bug must not take the server down; the client is told
            logger.exception("remote control: %s failed", text[:200])
            reply = response_error(request_id, "failed", f"the studio failed: {error}")
        await self._send(ws, json.dumps(reply))


async def serve(
    studio: Studio,
    secrets_store: Secrets,
    port: int,
    lan: bool = False,
    open_screen: Callable[[], VideoCaptureSource] | None = None,
) -> RemoteControlServer:
    """Start the API for a studio (``--remote-control PORT``, or Settings) and say where.

    Raises:
        SessionError: The port cannot be used, in words with the next step.
    """
    import sys

    from desktop.session.errors import SessionError, SessionErrorCode

    host = "0.0.0.0" if lan else "127.0.0.1"  # noqa: S104 (the LAN only when the host says so)
    server = RemoteControlServer(studio, token_for(secrets_store), port, host, open_screen)
    try:
        await server.start()
    except OSError as error:
        raise SessionError(
            SessionErrorCode.INVALID_REQUEST, str(error.strerror or error),
            "choose another port with --remote-control PORT or in Settings ▸ Remote control",
        ) from None  # fmt: skip
    print(f"broadcaster: remote control listening on {host}:{server.port}", file=sys.stderr)
    return server
