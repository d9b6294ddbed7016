"""Run the Egress stand-in; prints its base URL on the first line of stdout."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
from pathlib import Path

from aiohttp import web

from tests.egress_standin.service import EgressService


def main() -> None:
    """Parse options, serve until SIGTERM/SIGINT, then end every egress cleanly."""
    parser = argparse.ArgumentParser(prog="python -m tests.egress_standin")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7890, help="0 picks a free port")
    parser.add_argument("--livekit-url", required=True, help="the real server's ws:// URL")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-secret", required=True)
    parser.add_argument("--output-dir", default=".", help="where relative file outputs go")
    parser.add_argument("--webhook-url", default=None)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level, format="egress %(levelname)s %(name)s: %(message)s")

    async def serve() -> None:
        service = EgressService(
            args.livekit_url,
            args.api_key,
            args.api_secret,
            Path(args.output_dir),
            args.webhook_url,
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        runner = web.AppRunner(service.app)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        print(f"http://{args.host}:{sock.getsockname()[1]}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await service.aclose()
            await runner.cleanup()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
