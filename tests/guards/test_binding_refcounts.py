"""Guards against a Qt binding that leaks references, and against per-frame Qt signals.

PySide6 6.12.0 drops a reference to ``None`` on every void Qt call and on every cross-thread
wake-up of qasync's loop; the studio then aborts with ``Fatal Python error: none_dealloc``
after seconds to minutes. These tests fail on such a binding, whatever version it is.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone, SyntheticScreen
from desktop.media.threaded import ThreadedSource

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 1_000
"""Allowed drift of a count over 100,000 calls: allocation noise is tens; a leak is 100,000."""


def test_none_true_false_survive_void_calls_and_cross_thread_wakeups() -> None:
    """100,000 void Qt calls and 100,000 cross-thread wake-ups leave the counts where they were."""
    completed = subprocess.run(
        [sys.executable, "-m", "tests.guards.refcount_probe"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert completed.stdout.strip(), f"the probe printed nothing:\n{completed.stderr[-3000:]}"
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    for phase in ("void_calls", "cross_thread_wakeups"):
        for name, delta in figures[phase].items():
            assert abs(delta) <= TOLERANCE, (
                f"PySide6 {figures['pyside6']} changed the reference count of {name} by {delta} "
                f"over {figures['calls']} {phase.replace('_', ' ')}: the binding leaks and the "
                "studio will abort; pin another version"
            )
    assert figures["callbacks_run"] == figures["calls"]
    assert completed.returncode == 0, completed.stderr[-3000:]


def test_capture_threads_wake_the_loop_without_qt_signals(qtbot: QtBot) -> None:
    """Frames from three capture threads reach asyncio consumers; qasync's signal never fires."""
    from PySide6.QtWidgets import QApplication

    from desktop.ui.event_loop import StudioEventLoop

    app = QApplication.instance()
    loop = StudioEventLoop(app)
    emitted = []
    # qasync's own cross-thread path: one queued Qt signal per call. It must stay unused.
    signal = loop._QEventLoop__call_soon_signal
    signal.connect(lambda *_: emitted.append(1))
    sources: list[ThreadedSource[Any]] = [
        SyntheticCamera(width=320, height=180, fps=30.0),
        SyntheticScreen(width=320, height=180, fps=15.0),
        SyntheticMicrophone(),
    ]
    received = [0] * len(sources)

    async def consume(index: int) -> None:
        queue = sources[index].frames.subscribe(f"probe-{index}", maxsize=4)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            item = await queue.aget()
            if item is None:
                return
            received[index] += 1

    async def run() -> None:
        for source in sources:
            source.start()
        try:
            await asyncio.gather(*(consume(i) for i in range(len(sources))))
        finally:
            for source in sources:
                await source.aclose()

    try:
        with loop:
            loop.run_until_complete(run())
    finally:
        for source in sources:
            source.stop()
    assert received[0] >= 30 and received[1] >= 15 and received[2] >= 100, received
    # Every frame came through the loop's own thread-safe path; a consumer that wakes late may
    # find two frames waiting, so there is at most one wake-up per frame (and at least one).
    assert 0 < loop.threadsafe_calls <= sum(received) + len(sources), loop.threadsafe_calls
    assert emitted == [], f"{len(emitted)} Qt signal emissions for cross-thread wake-ups"
