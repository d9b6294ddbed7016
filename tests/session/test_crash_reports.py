"""When the process dies anyway: a report lands in the log folder and the next start offers it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from desktop.session.crash_reports import CrashGuard, scrub
from tests.fixtures import processes
from tests.fixtures.livekit import LiveKitServer
from tests.fixtures.rtmp import ffprobe_video_times_s

ROOT = Path(__file__).resolve().parents[2]


def test_scrub_removes_tokens_stream_keys_and_secrets() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJob3N0In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    line = (
        f"joining with token={jwt} Authorization: Bearer {jwt} to "
        "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop and "
        'rtmps://ingest.example/app/pre%2Fkey/more {"api_secret": "s3cr3t-value"} key=PLAINKEY'
    )
    cleaned = scrub(line)
    for secret in (jwt, "abcd-efgh-ijkl-mnop", "pre%2Fkey", "s3cr3t-value", "PLAINKEY"):
        assert secret not in cleaned, cleaned
    assert "rtmp://a.rtmp.youtube.com/live2/••••" in cleaned


def test_a_clean_exit_leaves_nothing_and_offers_nothing(tmp_path: Path) -> None:
    guard = CrashGuard("studio", tmp_path)
    assert guard.arm() == []
    assert guard.marker_path.exists()
    guard.disarm()
    assert list(tmp_path.iterdir()) == []
    assert CrashGuard("studio", tmp_path).collect() == []


async def _recorded_s(recording: Path) -> float:
    """Seconds of pictures the recording holds now (0 while it has none)."""
    if not recording.exists():
        return 0.0
    try:
        times = await asyncio.to_thread(ffprobe_video_times_s, recording)
    except subprocess.CalledProcessError:  # no readable header yet
        return 0.0
    return times[-1] if times else 0.0


async def _headless(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *processes.child_command([sys.executable]), "-m", "desktop", "headless", *args,
        cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_a_crash_leaves_a_report_without_secrets_offered_once_and_a_playable_recording(
    livekit_server: LiveKitServer, unique_room: str, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BROADCASTER_LOG_DIR": str(logs)}
    token = livekit_server.token("host", unique_room)
    recording = tmp_path / "show.mkv"
    proc = await _headless(
        "--url", livekit_server.ws_url, "--token", token, "--record", str(recording),
        "--rtmp", "rtmp://127.0.0.1:9/live/VERY-SECRET-KEY", "--max-retries", "1", env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    # Wait until it is in the room and the recording has some seconds in it.
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, "headless ended before connecting"
        event = json.loads(line)
        if event.get("event") == "state" and event.get("connection") == "connected":
            break
    # Until the recording holds 2.5 s of pictures (on disk, as ffprobe reads it), however long
    # a loaded machine takes to write them: what is checked below is what was written.
    deadline = time.monotonic() + 60
    while await _recorded_s(recording) < 2.5:
        assert time.monotonic() < deadline, "the recording never held 2.5 s of pictures"
        await asyncio.sleep(0.5)
    # A native crash, as a binding's refcount bug or an FFI panic would end it.
    proc.send_signal(signal.SIGSEGV)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == -signal.SIGSEGV, err.decode()[-2000:]
    # Crash-safe: playable up to the crash (Matroska's packets say how long; its header can't).
    assert ffprobe_video_times_s(recording)[-1] >= 2.0

    # The next start offers the report, in one sentence with the next step.
    again = await _headless("--record", str(tmp_path / "next.mkv"), "--duration", "1", env=env)
    _, err = await asyncio.wait_for(again.communicate(), 60)
    stderr = err.decode()
    assert again.returncode == 0, stderr[-2000:]
    assert "The last session closed unexpectedly" in stderr, stderr
    reports = sorted(logs.glob("crash-*-headless.txt"))
    assert len(reports) == 1 and str(reports[0]) in stderr
    text = reports[0].read_text()
    assert "Segmentation fault" in text and "File " in text  # the Python stacks
    assert "headless started" in text  # the last log lines
    for secret in (token, "VERY-SECRET-KEY"):
        assert secret not in text
    assert stat.S_IMODE(reports[0].stat().st_mode) == 0o600
    # Offered once: a third start says nothing, and no run leaves markers behind.
    third = await _headless("--record", str(tmp_path / "third.mkv"), "--duration", "1", env=env)
    _, err = await asyncio.wait_for(third.communicate(), 60)
    assert "unexpectedly" not in err.decode()
    assert sorted(p.name for p in logs.iterdir()) == [reports[0].name]


async def test_the_studio_offers_the_last_crash_in_a_notice(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "BROADCASTER_LOG_DIR": str(logs),
        "BROADCASTER_CONFIG_DIR": str(tmp_path / "config"), "QT_QPA_PLATFORM": "offscreen",
    }  # fmt: skip
    # A studio run that dies of a native abort, as the PySide6 6.12.0 refcount bug ended it.
    crashed = await asyncio.create_subprocess_exec(
        *processes.child_command([sys.executable]), "-c",
        "import logging, os; from desktop.session.crash_reports import CrashGuard; "
        "logging.basicConfig(level='INFO'); CrashGuard('studio').arm(); "
        "logging.getLogger('desktop.ui').info('painting the stage'); os.abort()",
        cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await asyncio.wait_for(crashed.communicate(), 60)
    assert crashed.returncode == -signal.SIGABRT
    notices = tmp_path / "notices.json"
    studio = await asyncio.create_subprocess_exec(
        *processes.child_command([sys.executable]), "-m", "tests.ui.notices_probe", str(notices),
        "--synthetic-devices",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(studio.communicate(), 90)
    assert studio.returncode == 0, err.decode()[-3000:]
    report = next(logs.glob("crash-*-studio.txt"))
    shown = [text for text in json.loads(notices.read_text()) if "closed unexpectedly" in text]
    assert len(shown) == 1 and str(report) in shown[0], notices.read_text()
    text = report.read_text()
    assert "Fatal Python error: Aborted" in text and "painting the stage" in text
