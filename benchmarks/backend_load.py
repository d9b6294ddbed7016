"""``python -m benchmarks.backend_load``: a bounded load on the reference backend.

The backend runs as its own process (``broadcaster-backend serve``) against the real
``livekit-server`` (``.cache/bin``); the load is N requests, C at a time, per action:
``join_room`` (token only), ``get_broadcast_status`` (store only, under the room's lock) and
``get_room_status`` (two RoomService calls each). Every answer must be a 200. ``--backend-root``
runs another checkout's backend (a baseline) the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = ("join_room", "get_broadcast_status", "get_room_status")


@dataclass(frozen=True)
class LoadResult:
    """One action's figures."""

    action: str
    requests: int
    concurrency: int
    errors: int
    seconds: float

    @property
    def per_s(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


async def _load(url: str, credential: str, body: dict[str, Any], total: int, width: int) -> int:
    """Send ``total`` requests ``width`` at a time; returns how many were not 200."""
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(total):
        queue.put_nowait(index)
    headers = {"Authorization": f"Bearer {credential}"}
    connector = aiohttp.TCPConnector(limit=width)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                queue.get_nowait()
                async with session.post(url, json=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1

        await asyncio.gather(*(worker() for _ in range(width)))
    return errors


def _cli(root: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "backend", *args],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[0]


def run(backend_root: Path, total: int, width: int) -> list[LoadResult]:
    """Start the server and the backend, load each action, stop everything."""
    from tests.fixtures.livekit import start_server, stop_server
    from tests.fixtures.rtmp import free_port

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        livekit = start_server(tmp)
        backend: subprocess.Popen[bytes] | None = None
        try:
            env = {
                **os.environ,
                "LIVEKIT_URL": livekit.ws_url,
                "LIVEKIT_API_KEY": livekit.api_key,
                "LIVEKIT_API_SECRET": livekit.api_secret,
            }
            db = str(tmp / "backend.sqlite3")
            _cli(backend_root, env, "--db", db, "appointment", "add", "load-1", "--host-user", "h")
            credential = _cli(backend_root, env, "--db", db, "host", "add", "h")
            port = free_port()
            with (tmp / "backend.log").open("wb") as log:
                backend = subprocess.Popen(
                    [sys.executable, "-m", "backend", "--db", db, "serve", "--port", str(port)],
                    cwd=backend_root,
                    env={**env, "PYTHONPATH": str(backend_root)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the backend did not start") from None
                    time.sleep(0.1)
            request = urllib.request.Request(
                f"{url}/api/livekit",
                data=json.dumps({"action": "create_room", "appointmentId": "load-1"}).encode(),
                headers={"Authorization": f"Bearer {credential}"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                room = json.loads(answer.read())["room"]["name"]
            bodies = {
                "join_room": {"action": "join_room", "roomName": room, "userId": "guest-1"},
                "get_broadcast_status": {"action": "get_broadcast_status", "roomName": room},
                "get_room_status": {"action": "get_room_status", "roomName": room},
            }
            results = []
            for action in ACTIONS:
                started = time.monotonic()
                errors = asyncio.run(
                    _load(f"{url}/api/livekit", credential, bodies[action], total, width)
                )
                results.append(LoadResult(action, total, width, errors, time.monotonic() - started))
            return results
        finally:
            if backend is not None:
                backend.terminate()
                backend.wait(timeout=10)
            stop_server(livekit)


def main() -> int:
    """Print one line per action; exit 1 on any error."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backend_load")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--backend-root", type=Path, default=ROOT, help="checkout to run")
    args = parser.parse_args()
    results = run(args.backend_root, args.requests, args.concurrency)
    for result in results:
        print(
            f"{result.action:22} {result.requests} requests, {result.concurrency} at a time: "
            f"{result.per_s:7.0f} req/s, {result.errors} errors"
        )
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
