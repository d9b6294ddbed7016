"""Leaving the process once everything that matters is closed."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn


def exit_now(status: int) -> NoReturn:
    """Leave without the interpreter's finalisation (atexit handlers, final collection).

    Call it only when everything that matters is closed: the room left, recordings finalised,
    settings saved. What is left are native halves of Qt and LiveKit objects, and the SDK's
    Rust runtime, which tear down in an order Python's finalisation does not know: the SDK's
    atexit dispose shuts its runtime down while its worker threads still run, and that has
    aborted a finished process ("panic in a function that cannot unwind", exit -6, seen in
    headless after a rejoin and in benchmark subprocesses), as PySide6 did with
    "Fatal Python error: bool_dealloc".
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
