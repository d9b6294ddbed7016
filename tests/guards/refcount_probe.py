"""Count what 100,000 void Qt calls and 100,000 cross-thread wake-ups do to the immortal-ish.

Run as ``python -m tests.guards.refcount_probe`` (in its own process: a binding that loses
references to ``None`` ends in ``Fatal Python error: none_dealloc``, which must not take the
test runner with it). Prints one JSON object: for each phase, the change in the reference
counts of ``None``, ``True`` and ``False`` (mortal objects on Python 3.11), and the loop's
wake-up figures.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time

CALLS = 100_000
THREADS = 4
# Extra references so that a leaking binding shows up as a count that fell, instead of
# driving None's count to zero and aborting before we can report it.
BALLAST = 1_000_000


def _counts() -> dict[str, int]:
    gc.collect()
    return {
        "None": sys.getrefcount(None),
        "True": sys.getrefcount(True),
        "False": sys.getrefcount(False),
    }


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


def main() -> int:
    """Run both phases and print their figures as JSON."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import __version__ as pyside_version
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QFont, QImage, QPainter
    from PySide6.QtWidgets import QApplication, QLabel

    from desktop.ui.event_loop import StudioEventLoop

    ballast = ([None] * BALLAST, [True] * BALLAST, [False] * BALLAST)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    loop = StudioEventLoop(app)
    result: dict[str, object] = {"pyside6": pyside_version, "calls": CALLS}

    # Phase 1: void Qt calls, the kind every paint and every label update makes.
    image = QImage(16, 16, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    font, colour, label = QFont(), QColor(Qt.GlobalColor.red), QLabel()
    before = _counts()
    for i in range(CALLS):
        step = i % 3
        if step == 0:
            painter.fillRect(0, 0, 1, 1, colour)
        elif step == 1:
            painter.setFont(font)
        else:
            label.setText("x")
    result["void_calls"] = _delta(before, _counts())
    painter.end()

    # Phase 2: wake-ups from capture-like threads, the path every frame takes into the loop.
    done = threading.Event()
    ran = [0]

    def tick() -> None:
        ran[0] += 1
        if ran[0] == CALLS:
            done.set()

    def capture_thread() -> None:
        for _ in range(CALLS // THREADS):
            loop.call_soon_threadsafe(tick)
            time.sleep(0.0001)

    async def drive() -> None:
        threads = [
            threading.Thread(target=capture_thread, name=f"bc-probe-{n}") for n in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        while not done.is_set():
            await __import__("asyncio").sleep(0.01)
        for thread in threads:
            thread.join()

    before = _counts()
    with loop:
        loop.run_until_complete(drive())
    result["cross_thread_wakeups"] = _delta(before, _counts())
    result["threadsafe_calls"] = loop.threadsafe_calls
    result["loop_wakeups"] = loop.wakeups
    result["callbacks_run"] = ran[0]
    print(json.dumps(result), flush=True)
    del ballast  # only after the figures are out: a leak may make this the last reference
    # Qt and PySide6 objects are left to the OS: finalisation order is not what is tested.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
