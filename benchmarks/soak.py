"""A show-length soak: the real studio in a busy room for half an hour (``--soak-s``).

The same scene as the CI soak test (tests/soak), only longer: the studio process (its own entry
point, on Xvfb when there is one) in a room of the real livekit-server with four guests
publishing camera and microphone, one leaving and rejoining every 10 s, the screen share
toggled, chat both ways, a local recording and one RTMP destination (nginx-rtmp) live.

Figures: crashes (the process must exit 0 with nothing fatal printed; target 0), resident memory
growth from just after warm-up to the end, frames dropped by the capture sinks, and the event
loop's delay p99 as the studio itself measured it. There is no baseline: the target is absolute.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.common import Row, percentile
from tests.fixtures import processes
from tests.fixtures.livekit import LiveKitServer
from tests.fixtures.rtmp import start_rtmp_server, stop_rtmp_server
from tests.soak.guests import GuestCrowd

ROOT = Path(__file__).resolve().parents[1]
FATAL_MARKERS = ("Fatal Python error", "Segmentation fault", "refcount error", "panicked")


def _start_xvfb() -> tuple[str, subprocess.Popen[bytes] | None]:
    """A private Xvfb display if Xvfb is installed; else offscreen Qt (returns "")."""
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return "", None
    number = next(n for n in range(300, 400) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    proc = processes.popen(
        [xvfb, f":{number}", "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            return "", None
        time.sleep(0.05)
    return f":{number}", proc


async def run(server: LiveKitServer, soak_s: float) -> list[Row]:
    """Run the studio for ``soak_s`` seconds in a churning room; return the figures."""
    warm_up_s = min(60.0, soak_s / 4)
    room = f"soak-{int(time.time())}"
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    rtmp, nginx = start_rtmp_server(work / "rtmp")
    display, xvfb = _start_xvfb()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BROADCASTER_CONFIG_DIR": str(work / "config")}
    env.update({"DISPLAY": display, "QT_QPA_PLATFORM": "xcb"} if display else
               {"QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    (work / "recordings").mkdir()
    crowd = GuestCrowd(server, room)
    rss: list[tuple[float, int]] = []
    stderr = ""
    status: int | None = None
    hung = False
    try:
        await crowd.start()
        proc = await asyncio.create_subprocess_exec(
            *processes.child_command([sys.executable]), "-X", "faulthandler",
            "-m", "tests.soak.studio_driver",
            "--url", server.ws_url, "--token", server.token("host", room),
            "--rtmp", rtmp.url(key="soak"), "--record-dir", str(work / "recordings"),
            "--report", str(work / "report.json"), "--duration-s", str(soak_s),
            "--screen", "1" if display else "synthetic",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        started = time.monotonic()
        process = psutil.Process(proc.pid)

        async def watch() -> None:
            while proc.returncode is None:
                try:
                    rss.append((time.monotonic() - started, process.memory_info().rss))
                except psutil.NoSuchProcess:
                    return
                await asyncio.sleep(5.0)

        watcher = asyncio.ensure_future(watch())
        communicating = asyncio.ensure_future(proc.communicate())
        done, _ = await asyncio.wait({communicating}, timeout=soak_s + 300)
        if not done:
            # Hung: SIGABRT makes faulthandler print every thread's stack, which says where.
            hung = True
            proc.send_signal(signal.SIGABRT)
            done, _ = await asyncio.wait({communicating}, timeout=30)
            if not done:
                proc.kill()
        watcher.cancel()
        _, err = await communicating
        stderr, status = err.decode(errors="replace"), proc.returncode
    finally:
        await crowd.aclose()
        stop_rtmp_server(nginx)
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)
    report_path = work / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    crashed = hung or status != 0 or any(marker in stderr for marker in FATAL_MARKERS)
    # Host actions (share, stop sharing, chat, stop recording, end live) that raised or did
    # not answer within the driver's bound: a host would have seen a stuck button.
    stuck: list[str] = report.get("stuck_actions", ["no report"])
    settled = [value for t, value in rss if t >= warm_up_s]
    quarter = max(len(settled) // 4, 1)
    growth_pct = float("nan")
    if len(settled) >= 2:
        first = sorted(settled[:quarter])[quarter // 2]
        last = sorted(settled[-quarter:])[quarter // 2]
        growth_pct = (last - first) / first * 100
    samples = report.get("samples", [])
    dropped = samples[-1]["dropped_frames"] if samples else 0
    delivered = samples[-1]["delivered_frames"] if samples else 0
    dropped_pct = dropped / (dropped + delivered) * 100 if dropped + delivered else float("nan")
    delay_p99_ms = percentile(report.get("loop_delay_ms", []), 99)
    minutes = f"{soak_s / 60:.0f} min"
    notes = (
        f"{crowd.stats.joins} guest joins, {len(report.get('chat_received', []))} chat lines in,"
        f" outputs {[o['phase'] for o in report.get('outputs', [])]}"
    )
    if hung:
        (work / "hang.txt").write_text(stderr)
        notes += f"; HUNG: no exit within {soak_s + 300:.0f} s, stacks in {work / 'hang.txt'}"
    elif crashed:
        notes += f"; exit {status}: {stderr[-300:]!r}"
    if stuck:
        notes += f"; host actions that failed or hung: {stuck[:5]}"
    return [
        Row(
            "soak",
            f"crashes over {minutes} (count)",
            float(crashed),
            None,
            target="0",
            met=not crashed,
            notes=notes,
        ),  # fmt: skip
        Row(
            "soak",
            f"host actions failed or hung over {minutes} (count)",
            float(len(stuck)),
            None,
            target="0",
            met=not stuck,
            notes="each bounded at 60 s by the scripted host",
        ),  # fmt: skip
        Row(
            "soak",
            f"RSS growth after warm-up over {minutes} (%)",
            growth_pct,
            None,
            target="< 10 %",
            met=growth_pct < 10,
        ),  # fmt: skip
        Row(
            "soak",
            "capture frames dropped (%)",
            dropped_pct,
            None,
            notes=f"{dropped} of {dropped + delivered}",
        ),  # fmt: skip
        Row(
            "soak",
            "event-loop delay p99 (ms)",
            delay_p99_ms,
            None,
            notes="50 ms sleeps in the studio's own loop, lateness p99",
        ),  # fmt: skip
    ]
