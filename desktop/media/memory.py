"""Keeping the resident memory of a long broadcast flat.

Capture, conversion and encoding allocate multi-megabyte frame buffers on several threads. With
glibc, every thread that allocates under contention gets its own malloc arena (up to eight per
core), and each arena keeps the fragmented remains of the frames it served. Starting and
stopping a screen share (new capture threads) grew the app by about 10 MB per share, with no
Python object left behind (measured: 150 → 300 MiB in 15 shares). Two arenas keep it flat at
the same CPU cost; a fixed mmap threshold also keeps it flat but doubles the ingest CPU (a page
fault per frame page), so that is not used.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

logger = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""glibc's mallopt parameter number for the arena limit (malloc.h)."""
DEFAULT_MAX_ARENAS = 2


def limit_malloc_arenas(max_arenas: int = DEFAULT_MAX_ARENAS) -> bool:
    """Cap glibc's malloc arenas; call once at start-up, before capture threads start.

    Does nothing (and returns False) off Linux/glibc, or when ``MALLOC_ARENA_MAX`` is set in the
    environment (the user's choice wins).
    """
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(M_ARENA_MAX, max_arenas))
    logger.debug("malloc arenas limited to %d: %s", max_arenas, applied)
    return applied
