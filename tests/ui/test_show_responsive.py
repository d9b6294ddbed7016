"""The studio's UI thread stays free during a live show (a guard against a 10x regression).

The real studio (its own entry point, a real X window on Xvfb) goes live to RTMP and records,
with two guests on stage sending a 720p simulcast camera and a tone each, the screen shared and
the program in the Speaker layout, for 20 s: the scene of ``python -m benchmarks --only show``
with fewer guests (and, as there, the guests and the server on one core, the studio on the
other). A precise 50 ms timer on the UI thread measures how late it fires.

Before the pictures were converted off the UI thread, this scene kept it late by about 100 ms
at the median and 300 ms at p99 (issue #29). The bound here, 100 ms at p99, is ten times the
target: it catches the UI thread doing a frame's conversion again, not the last milliseconds
(the benchmark judges those). It is taken less the time the UI thread waited for a free core,
so a CI machine busy with other work does not fail it; how late the timer fired in all is in
the message. When the UI thread spent more than a quarter of the show waiting for a core, the
test is skipped with the figures: a machine that busy says nothing about the studio.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.common import percentile
from benchmarks.show import EQUIPMENT_CORE, STUDIO_CORE, bounded, end_group, pin
from tests.fixtures.livekit import LiveKitServer
from tests.fixtures.rtmp import RtmpServer

ROOT = Path(__file__).resolve().parents[2]
SHOW_S = 20.0
GUESTS = 2
UI_LATENESS_P99_BOUND_MS = 100.0
MEMORY_BYTES = 6 * 2**30
MAX_WAIT_FOR_CORE_PCT = 25.0
"""Above this share of the show spent waiting for a free core, the machine is judged, not us."""

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


async def test_the_ui_thread_stays_free_while_live(
    livekit_server: LiveKitServer,
    rtmp_server: RtmpServer,
    xvfb_display: str,
    unique_room: str,
    tmp_path: Path,
) -> None:
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb",
        "BROADCASTER_CONFIG_DIR": str(tmp_path / "config"), "BROADCASTER_LOG": "WARNING",
    }  # fmt: skip
    # As the benchmark does: the guests' encoders and the server on one core, the studio on the
    # other, so what is measured is the studio's own doing.
    two_cores = len(os.sched_getaffinity(0)) >= 2
    equipment, studio_core = (EQUIPMENT_CORE, STUDIO_CORE) if two_cores else (None, None)
    if livekit_server.process is not None and equipment is not None:
        pin(livekit_server.process.pid, equipment)
    guests = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.show", "guests", livekit_server.ws_url, str(GUESTS)],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=bounded(MEMORY_BYTES, equipment),
    )  # fmt: skip
    studio: subprocess.Popen[bytes] | None = None
    (tmp_path / "recordings").mkdir()
    report_path = tmp_path / "report.json"
    try:
        assert guests.stdin is not None and guests.stdout is not None
        tokens = [livekit_server.token(f"guest-{i}", unique_room) for i in range(GUESTS)]
        guests.stdin.write(("\n".join(tokens) + "\n").encode())
        guests.stdin.flush()
        line = await asyncio.to_thread(guests.stdout.readline)
        assert b"publishing" in line, f"the guests did not start: {line!r}"
        with open(tmp_path / "stderr", "wb") as stderr:
            studio = subprocess.Popen(
                [sys.executable, "-X", "faulthandler", "-m", "benchmarks.show", "studio",
                 "--url", livekit_server.ws_url,
                 "--token", livekit_server.token("host", unique_room),
                 "--rtmp", rtmp_server.url(key="show"),
                 "--record-dir", str(tmp_path / "recordings"),
                 "--report", str(report_path), "--targets", str(tmp_path / "targets.json"),
                 "--duration-s", str(SHOW_S), "--guests", str(GUESTS), "--warm-up-s", "3"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
                start_new_session=True, preexec_fn=bounded(MEMORY_BYTES, studio_core),
            )  # fmt: skip
            await asyncio.to_thread(end_group, studio, SHOW_S + 150)
    finally:
        if livekit_server.process is not None and equipment is not None:
            # The server is shared with the session's other tests: give it every core back.
            everywhere = ",".join(str(core) for core in sorted(os.sched_getaffinity(0)))
            pin(livekit_server.process.pid, everywhere)
        if studio is not None and studio.poll() is None:
            end_group(studio, 0.1)
        if guests.stdin is not None:
            guests.stdin.close()
        await asyncio.to_thread(end_group, guests, 30.0)
    err = (tmp_path / "stderr").read_text(errors="replace")
    assert report_path.exists(), (
        f"the studio wrote no report (exit {studio.returncode}): {err[-3000:]}"
    )
    report = json.loads(report_path.read_text())
    assert report["errors"] == [], report["errors"]
    assert studio.returncode == 0, err[-3000:]
    # The show really painted: guests' tiles and the Program monitor got pictures.
    painted, _ = report["stage_frames"]
    assert painted > 0 and report["monitor_pictures"] > 0, report
    waiting_pct = report["lateness"]["run_queue"]
    if waiting_pct > MAX_WAIT_FOR_CORE_PCT:
        # The machine is too busy for this figure to say anything about the studio (seen here
        # while five engineers shared two cores: 79 %): say so, visibly, rather than pass or
        # fail on someone else's load.
        pytest.skip(
            f"too busy to judge the UI thread: it waited for a free core {waiting_pct:.0f} % of "
            f"the show (lateness p99 {percentile(report['late_ms'], 99):.0f} ms); load average "
            f"{os.getloadavg()[0]:.1f}"
        )
    own_p99 = report["lateness"]["own_delay_p99"]
    tail_cpu_ms, tail_blocked_ms = (
        report["lateness"][k] for k in ("tail_cpu_ms", "tail_blocked_ms")
    )
    assert own_p99 < UI_LATENESS_P99_BOUND_MS, (
        f"the UI thread was late by {own_p99:.0f} ms at p99 less its waits for a free core "
        f"({percentile(report['late_ms'], 99):.0f} ms in all, median "
        f"{percentile(report['late_ms'], 50):.0f} ms; waiting for a core "
        f"{report['lateness']['run_queue']:.0f} % of the time); worst ticks: own work "
        f"{tail_cpu_ms:.1f} ms, blocked {tail_blocked_ms:.1f} ms"
    )
