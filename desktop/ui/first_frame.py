"""One gate for "the preview has painted its first video frame" (start-up waits on it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer


def after_first_frame(tile: Any, then: Callable[[], object], wait_s: float | None = None) -> None:
    """Call ``then`` once, right after ``tile`` first paints a video frame, or after ``wait_s``
    if no frame comes first (a camera that is slow to start must not hold anything up).

    ``then`` runs queued, once the paint that showed the frame has finished. Where several
    wait on one tile, the one installed last is told first (Qt asks the newest event filter
    first), and their ``then`` run in that order.

    Args:
        tile: A widget with a ``frames_shown`` count (a video tile).
        then: What to do.
        wait_s: The longest wait for a frame; None waits for it however long it takes.
    """
    done = False

    def run() -> None:
        nonlocal done
        if not done:
            done = True
            then()

    class Watch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
            if event.type() == QEvent.Type.Paint and tile.frames_shown > 0:
                tile.removeEventFilter(self)
                QTimer.singleShot(0, run)  # once this paint has finished
            return False

    watch = Watch(tile)
    tile.installEventFilter(watch)
    if wait_s is not None:
        QTimer.singleShot(round(wait_s * 1000), run)
