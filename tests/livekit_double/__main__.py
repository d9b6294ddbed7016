"""Run the LiveKit double by hand or from a fixture; prints its ws URL on the first line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
from pathlib import Path

from aiohttp import web

from tests.livekit_double.server import DoubleServer


def main() -> None:
    """Parse options, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m tests.livekit_double")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7880, help="0 picks a free port")
    parser.add_argument("--api-key", default="devkey")
    parser.add_argument("--api-secret", default="secret")
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--egress-dir", default=None)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument(
        "--without-v1", action="store_true", help="answer 404 on /rtc/v1 (an older server)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, format="double %(levelname)s %(name)s: %(message)s")
    server = DoubleServer(
        args.api_key,
        args.api_secret,
        args.webhook_url,
        Path(args.egress_dir) if args.egress_dir else None,
        args.without_v1,
    )

    async def serve() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        runner = web.AppRunner(server.app)
        await runner.setup()
        site = web.SockSite(runner, sock)
        await site.start()
        port = sock.getsockname()[1]
        print(f"ws://{args.host}:{port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
