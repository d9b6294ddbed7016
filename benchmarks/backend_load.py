"""``python -m benchmarks.backend_load``: a bounded load on the reference backend.

The backend runs as its own process (``broadcaster-backend serve``) against the real
``livekit-server`` (``.cache/bin``); the load is N requests, C at a time, per action:
``join_room`` (token only), ``get_broadcast_status`` (store only, under the room's lock) and
``get_room_status`` (two RoomService calls each). Every answer must be a 200; each action's
requests per second and 99th-percentile latency are printed. ``--backend-root`` runs another
checkout's backend (a baseline) the same way. ``--two-instances`` runs on PostgreSQL (Debian's
``postgres``, started like the tests' fixture): first one instance, then two on the same
database with the requests spread over both, as a load balancer would. ``--quick`` sends 200
requests, 20 at a time: it only proves the benchmark runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
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
    """One action's figures on one deployment."""

    action: str
    requests: int
    concurrency: int
    errors: int
    seconds: float
    instances: int = 1
    store: str = "sqlite"
    p99_ms: float = 0.0
    """The 99th percentile of the requests' latency."""

    @property
    def per_s(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds


async def _load(
    urls: list[str], credential: str, body: dict[str, Any], total: int, width: int
) -> tuple[int, list[float]]:
    """Send ``total`` requests ``width`` at a time, spread round-robin over ``urls`` (the
    instances, as a load balancer would); returns how many were not 200, and each latency."""
    errors = 0
    latencies_s: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(total):
        queue.put_nowait(index)
    headers = {"Authorization": f"Bearer {credential}"}
    connector = aiohttp.TCPConnector(limit=width)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                index = queue.get_nowait()
                started = time.monotonic()
                async with session.post(
                    urls[index % len(urls)], json=body, headers=headers
                ) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies_s.append(time.monotonic() - started)

        await asyncio.gather(*(worker() for _ in range(width)))
    return errors, latencies_s


def _p99_ms(latencies_s: list[float]) -> float:
    ordered = sorted(latencies_s)
    return 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0


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


def _serve(root: Path, env: dict[str, str], db: str, tmp: Path, count: int) -> list[Any]:
    """Start ``count`` instances of the backend on one database; wait until each answers."""
    from tests.fixtures import processes as children
    from tests.fixtures.rtmp import free_port

    processes = []
    for number in range(count):
        port = free_port()
        with (tmp / f"backend-{count}-{number}.log").open("wb") as log:
            process = children.popen(
                [sys.executable, "-m", "backend", "--db", db, "serve", "--port", str(port)],
                cwd=root,
                env={**env, "PYTHONPATH": str(root)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        processes.append((process, f"http://127.0.0.1:{port}"))
    deadline = time.monotonic() + 60
    for process, url in processes:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    for other, _ in processes:
                        other.kill()
                    raise RuntimeError("the backend did not start") from None
                time.sleep(0.1)
    return processes


def run(
    backend_root: Path,
    total: int,
    width: int,
    store: str = "sqlite",
    instance_counts: tuple[int, ...] = (1,),
) -> list[LoadResult]:
    """Start the server (and PostgreSQL for ``store="postgres"``), then for each instance
    count serve that many backends on one database and load each action; stop everything."""
    from tests.fixtures.livekit import start_server, stop_server

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        livekit = start_server(tmp)
        database = None
        try:
            env = {
                **os.environ,
                "LIVEKIT_URL": livekit.ws_url,
                "LIVEKIT_API_KEY": livekit.api_key,
                "LIVEKIT_API_SECRET": livekit.api_secret,
            }
            if store == "postgres":
                from backend.store import SecretBox
                from tests.fixtures.postgres import start_postgres

                database = start_postgres(Path(tempfile.mkdtemp(prefix="broadcaster-bench-pg-")))
                env["BROADCASTER_DATABASE_URL"] = database.new_database()
                env["BROADCASTER_SECRET_KEY"] = SecretBox.new_key()
            db = str(tmp / "backend.sqlite3")
            _cli(backend_root, env, "--db", db, "appointment", "add", "load-1", "--host-user", "h")
            credential = _cli(backend_root, env, "--db", db, "host", "add", "h")
            results = []
            room = ""
            for count in instance_counts:
                processes = _serve(backend_root, env, db, tmp, count)
                try:
                    urls = [f"{url}/api/livekit" for _, url in processes]
                    if not room:
                        room = _create_room(urls[0], credential)
                    bodies = {
                        "join_room": {"action": "join_room", "roomName": room, "userId": "g-1"},
                        "get_broadcast_status": {
                            "action": "get_broadcast_status",
                            "roomName": room,
                        },
                        "get_room_status": {"action": "get_room_status", "roomName": room},
                    }
                    for action in ACTIONS:
                        started = time.monotonic()
                        errors, latencies_s = asyncio.run(
                            _load(urls, credential, bodies[action], total, width)
                        )
                        results.append(
                            LoadResult(
                                action,
                                total,
                                width,
                                errors,
                                time.monotonic() - started,
                                count,
                                store,
                                _p99_ms(latencies_s),
                            )  # fmt: skip
                        )
                finally:
                    for process, _ in processes:
                        process.terminate()
                        process.wait(timeout=10)
            return results
        finally:
            if database is not None:
                database.stop()
                shutil.rmtree(database.log_path.parent, ignore_errors=True)
            stop_server(livekit)


def _create_room(url: str, credential: str) -> str:
    request = urllib.request.Request(
        url,
        data=json.dumps({"action": "create_room", "appointmentId": "load-1"}).encode(),
        headers={"Authorization": f"Bearer {credential}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(json.loads(answer.read())["room"]["name"])


def main() -> int:
    """Print one line per action and deployment; exit 1 on any error."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backend_load")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--backend-root", type=Path, default=ROOT, help="checkout to run")
    parser.add_argument(
        "--two-instances",
        action="store_true",
        help="PostgreSQL: one instance, then two on the same database (load balanced)",
    )
    parser.add_argument("--quick", action="store_true", help="200 requests, 20 at a time")
    args = parser.parse_args()
    total, width = (200, 20) if args.quick else (args.requests, args.concurrency)
    if args.two_instances:
        results = run(args.backend_root, total, width, "postgres", (1, 2))
    else:
        results = run(args.backend_root, total, width)
    for result in results:
        print(
            f"{result.store:8} x{result.instances} {result.action:22} {result.requests} "
            f"requests, {result.concurrency} at a time: {result.per_s:7.0f} req/s, "
            f"p99 {result.p99_ms:6.0f} ms, {result.errors} errors"
        )
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
