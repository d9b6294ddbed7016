"""PortAudio's open streams, and a device refresh that never pulls the library from under one.

PortAudio lists devices only when it is initialised, so seeing a microphone plugged in later
means terminating and initialising it again. ``Pa_Terminate`` closes every stream still open
and frees it: a sounddevice stream object then holds a dangling pointer, and its real-time
thread or its next ``stop()`` crashes the whole process (a segmentation fault, no Python
traceback). So every stream this app opens is registered here until it is closed, and
:func:`restart` refuses while any is open; the device list then shows what PortAudio saw when
it last started, which still contains every device in use.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_open: dict[int, tuple[Any, str]] = {}
"""id(stream) → (the stream, who opened it and where); strong references on purpose: a stream
dropped without closing keeps PortAudio's thread calling into it, so it must stay visible."""


def register(stream: Any, owner: str) -> None:
    """Note an opened stream (call right after creating it)."""
    where = "".join(traceback.format_stack(limit=6)[:-1])
    with _lock:
        _open[id(stream)] = (stream, f"{owner}, opened at\n{where}")


def close(stream: Any) -> None:
    """Stop and close a registered stream, then forget it; errors of a vanished device are
    logged, not raised (the stream is closed either way)."""
    try:
        stream.stop()
    except Exception:
        logger.debug("stopping an audio stream failed", exc_info=True)
    try:
        stream.close()
    except Exception:
        logger.debug("closing an audio stream failed", exc_info=True)
    with _lock:
        _open.pop(id(stream), None)


def open_streams() -> list[str]:
    """Who holds a PortAudio stream open now (with where it was opened)."""
    with _lock:
        return [owner for _, owner in _open.values()]


def restart(sd: Any) -> bool:
    """Terminate and initialise PortAudio so that it enumerates devices anew.

    Returns:
        False, doing nothing, while any stream is open (see the module's docstring).
    """
    with _lock:
        if _open:
            logger.info(
                "not re-reading audio devices: %d stream(s) open (%s)",
                len(_open),
                ", ".join(owner.split(",")[0] for _, owner in _open.values()),
            )
            return False
        sd._terminate()
        sd._initialize()
    return True
