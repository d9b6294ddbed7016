"""``broadcaster remote``: drive a running studio from a script or a Stream Deck.

    broadcaster remote status
    broadcaster remote layout grid
    broadcaster remote stage ann on
    broadcaster remote banner "Back in five"
    broadcaster remote comment name=Ann text="Hello from Lisbon" duration_s=10
    broadcaster remote events --seconds 30

Words after the command fill its main arguments in order (``on``/``off`` are true/false);
``key=value`` sets any argument (JSON values: ``true``, ``3``, ``"text"``). The result is
printed as JSON. Exit status: 0 done, 1 the studio could not do it (the reason on standard
error), 2 bad arguments, 3 nothing listening on that port, 4 the token was refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import aiohttp

from desktop.session.remote_control.protocol import DEFAULT_PORT, PROTOCOL_VERSION, TOKEN_ENV

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
CONNECT_TIMEOUT_S = 5.0
RESPONSE_TIMEOUT_S = 60.0
"""Going live checks every destination first: it can take a while."""

MAIN_ARGS: dict[str, tuple[str, ...]] = {
    "destination": ("id", "on"),
    "recording": ("on", "place"),
    "hls": ("on", "segment_s"),
    "rehearse": ("on",),
    "layout": ("layout",),
    "stage": ("identity", "on"),
    "pin": ("identity",),
    "banner": ("text",),
    "ticker": ("text",),
    "comment": ("name", "text"),
    "mute_guest": ("identity", "source"),
    "remove_guest": ("identity",),
    "ask_to_unmute": ("identity",),
    "chat": ("text",),
    "screen_share": ("on",),
    "mic": ("on",),
    "camera": ("on",),
}
"""What bare words after a command mean, in order (the last one takes any words left)."""
ALIASES = {"live": "go_live", "end": "end_live", "record": "recording", "screen": "screen_share",
           "mute": "mute_guest", "remove": "remove_guest", "unmute": "ask_to_unmute"}  # fmt: skip


class ClientError(Exception):
    """Why the client stopped, with its exit status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _value(text: str) -> Any:
    if text in ("on", "off"):
        return text == "on"
    try:
        return json.loads(text)
    except ValueError:
        return text


def request_args(command: str, words: list[str]) -> dict[str, Any]:
    """The ``args`` of a request from the words after the command.

    Raises:
        ClientError: More words than the command takes.
    """
    args: dict[str, Any] = {}
    bare: list[str] = []
    for word in words:
        key, sep, value = word.partition("=")
        if sep and key.isidentifier():
            args[key] = _value(value)
        else:
            bare.append(word)
    names = MAIN_ARGS.get(command, ())
    if bare and not names:
        raise ClientError(EXIT_USAGE, f"'{command}' takes no words; use key=value")
    text_like = {"text", "name"}
    for i, name in enumerate(names):
        if i >= len(bare):
            break
        if i == len(names) - 1 and name in text_like:
            args[name] = " ".join(bare[i:])  # the last words are the text, spaces and all
            bare = bare[: i + 1]
            break
        word = bare[i]
        if name in ("identity", "id", "layout", "place", "source") or name in text_like:
            # A guest may be named by number ("stage 2") as the hotkeys number them.
            args["guest" if name == "identity" and word.isdigit() else name] = (
                int(word) if name == "identity" and word.isdigit() else word
            )
        else:
            args[name] = _value(word)
    if len(bare) > len(names):
        raise ClientError(EXIT_USAGE, f"too many words for '{command}': it takes "
                          f"{', '.join(names) or 'none'}")  # fmt: skip
    return args


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="broadcaster remote",
        description="Send one command to a running studio's remote-control API and print "
        "the result as JSON (see docs/remote-control.md).",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"the studio's remote-control port (default {DEFAULT_PORT})",
    )
    parser.add_argument("--host", default="127.0.0.1", help="the studio's address")
    parser.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="with 'events': stop after this long (default: until Ctrl+C)",
    )
    parser.add_argument("command", help="status, layout, stage, banner, … or 'events'")
    parser.add_argument("words", nargs="*", help="the command's arguments")
    return parser


async def _connect(
    session: aiohttp.ClientSession, host: str, port: int, token: str
) -> aiohttp.ClientWebSocketResponse:
    try:
        ws = await session.ws_connect(f"http://{host}:{port}/", timeout=aiohttp.ClientWSTimeout(
            ws_close=CONNECT_TIMEOUT_S), heartbeat=None)  # fmt: skip
    except (aiohttp.ClientError, OSError, TimeoutError):
        raise ClientError(EXIT_UNREACHABLE, f"nothing is listening on {host}:{port}: start the "
                          "studio with --remote-control PORT, or turn Remote control on in "
                          "Settings, and check the port") from None  # fmt: skip
    await ws.send_str(json.dumps({"type": "hello", "token": token, "protocol": PROTOCOL_VERSION}))
    answer = await ws.receive(timeout=CONNECT_TIMEOUT_S)
    reply = json.loads(answer.data) if answer.type is aiohttp.WSMsgType.TEXT else {}
    if reply.get("type") != "welcome":
        await ws.close()
        raise ClientError(EXIT_REFUSED, "the studio refused the connection: "
                          + str(reply.get("reason", "it closed it")))  # fmt: skip
    return ws


async def run(args: argparse.Namespace, token: str) -> int:
    """Connect, send the command (or follow events), print JSON; returns the exit status."""
    command = ALIASES.get(args.command, args.command.replace("-", "_"))
    request = {"type": "request", "id": 1, "command": command} if command != "events" else None
    if request is not None:
        request["args"] = request_args(command, args.words)
    async with aiohttp.ClientSession() as session:
        ws = await _connect(session, args.host, args.port, token)
        try:
            if request is None:
                return await _follow_events(ws, args.seconds)
            await ws.send_str(json.dumps(request))
            while True:
                message = await ws.receive(timeout=RESPONSE_TIMEOUT_S)
                if message.type is not aiohttp.WSMsgType.TEXT:
                    raise ClientError(EXIT_FAILED, "the studio closed the connection before "
                                      "answering")  # fmt: skip
                reply = json.loads(message.data)
                if reply.get("type") == "response" and reply.get("id") == 1:
                    break
        finally:
            await ws.close()
    if reply.get("ok"):
        print(json.dumps(reply["result"], indent=2))
        return 0
    error = reply.get("error", {})
    print(json.dumps(reply, indent=2))
    raise ClientError(EXIT_FAILED, str(error.get("message", "the command failed")))


async def _follow_events(ws: aiohttp.ClientWebSocketResponse, seconds: float | None) -> int:
    loop = asyncio.get_running_loop()
    deadline = None if seconds is None else loop.time() + seconds
    while deadline is None or loop.time() < deadline:
        timeout = None if deadline is None else max(0.01, deadline - loop.time())
        try:
            message = await ws.receive(timeout=timeout)
        except TimeoutError:
            break
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise ClientError(EXIT_FAILED, "the studio closed the connection")
        print(message.data, flush=True)
    return 0


def main(argv: list[str]) -> int:
    """``broadcaster remote``."""
    args = _parser().parse_args(argv)
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(f"broadcaster remote: no token: set {TOKEN_ENV} to the token Settings ▸ Remote "
              "control shows", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    try:
        return asyncio.run(run(args, token))
    except ClientError as error:
        print(f"broadcaster remote: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        return 0
