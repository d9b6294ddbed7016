"""``broadcaster headless`` as a real process against the LiveKit double."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from tests.fixtures.backend import BackendServer
from tests.fixtures.livekit import LiveKitServer


def _headless(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", "headless", *args],
        capture_output=True, text=True, timeout=90, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_publishes_for_the_duration_and_logs_json(livekit_server: LiveKitServer,
                                                  unique_room: str) -> None:  # fmt: skip
    result = _headless(
        "--url", livekit_server.ws_url, "--room", unique_room, "--identity", "kiosk",
        "--width", "320", "--height", "180", "--screen", "synthetic", "--codec", "h264",
        "--duration", "3",
        env={"LIVEKIT_API_KEY": livekit_server.api_key,
             "LIVEKIT_API_SECRET": livekit_server.api_secret},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    connections = [line["connection"] for line in lines]
    assert connections[0] == "connecting" and "connected" in connections
    assert connections[-1] == "disconnected"
    published = max(lines, key=lambda line: len(line["local_tracks"]))["local_tracks"]
    assert {t["source"] for t in published} == {"camera", "microphone", "screen"}
    assert all(line["room"] in ("", unique_room) for line in lines)


def test_refused_token_exits_with_one_line_reason(livekit_server: LiveKitServer) -> None:
    result = _headless("--url", livekit_server.ws_url, "--token", "not.a.token", "--duration", "1")
    assert result.returncode == 3
    assert result.stderr.strip().count("\n") == 0
    assert "refused the access token" in result.stderr


def test_unreachable_server_and_missing_url() -> None:
    result = _headless("--url", "ws://127.0.0.1:1", "--token", "x", "--connect-timeout", "2")
    assert result.returncode == 3
    assert "could not reach the LiveKit server" in result.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    missing = subprocess.run(
        [sys.executable, "-m", "desktop", "headless"],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert missing.returncode == 2 and "nowhere to send" in missing.stderr


async def test_headless_through_the_platform_backend(backend_server: BackendServer) -> None:
    import asyncio

    result = await asyncio.to_thread(
        _headless,
        "--backend",
        backend_server.url,
        "--appointment",
        backend_server.appointment_id,
        "--width",
        "320",
        "--height",
        "180",
        "--duration",
        "2",
        env={"BROADCASTER_CREDENTIAL": backend_server.host_credential},
    )
    assert result.returncode == 0, result.stderr
    rooms = {json.loads(line)["room"] for line in result.stdout.splitlines()} - {""}
    assert len(rooms) == 1 and rooms.pop().startswith(
        f"appointment-{backend_server.appointment_id}-"
    )
    refused = await asyncio.to_thread(
        _headless,
        "--backend",
        backend_server.url,
        "--appointment",
        "x",
        env={"BROADCASTER_CREDENTIAL": "sb_wrong"},
    )
    assert refused.returncode == 3 and "sign in again" in refused.stderr


def test_json_lines_stay_whole_when_threads_report_at_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Outputs report from their own threads while the room reports from the loop: every line
    on stdout must be one JSON object (a soak once read two on one line)."""
    from desktop.session.headless import emit

    previous_s = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible

    def report(index: int) -> None:
        for n in range(500):
            emit("output", {"thread": index, "n": n, "padding": "x" * 400})

    try:
        threads = [threading.Thread(target=report, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(previous_s)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2000
    seen = {(event["thread"], event["n"]) for event in map(json.loads, lines)}
    assert len(seen) == 2000
