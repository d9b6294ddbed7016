"""Unblocks an RTMP connection that stopped answering, so the output can retry.

FFmpeg's RTMP client, as PyAV opens it, has no timeout: a server that accepts the connection
but never completes the handshake, or a link that stops taking data (Wi-Fi gone, the ingest
stalled), leaves the output's thread blocked inside FFmpeg for as long as TCP keeps trying
(many minutes). The watchdog notices a call that has been blocked too long and shuts the
connection's socket down from outside; FFmpeg's call then fails at once and the output reports
it in words and retries, like any other drop.

The socket is found among this process's TCP connections (psutil) as the one to the
destination's address that appeared after the output started connecting. Where the platform
does not give socket descriptors (Windows), the watchdog can only report the stall.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

logger = logging.getLogger(__name__)

CHECK_INTERVAL_S = 0.25

Peer = tuple[str, int]


def resolve(host: str, port: int) -> set[Peer]:
    """The addresses ``host:port`` resolves to (what a connection's remote end will show)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return set()
    return {(str(info[4][0]), port) for info in infos}


def sockets_to(peers: set[Peer]) -> set[int]:
    """File descriptors of this process's TCP connections to any of ``peers``."""
    import psutil  # here, not at the top: only an RTMP output needs it, not the first window

    process = psutil.Process()
    listing = getattr(process, "net_connections", None) or process.connections
    found = set()
    for conn in listing(kind="tcp"):
        raddr = conn.raddr
        if conn.fd is not None and conn.fd >= 0 and raddr:
            ip = str(raddr[0]).removeprefix("::ffff:")
            if (ip, int(raddr[1])) in peers:
                found.add(conn.fd)
    return found


def shut_down(fd: int) -> bool:
    """Shut a socket down by descriptor (every copy of it sees end-of-stream / EPIPE)."""
    try:
        dup = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    try:
        dup.shutdown(socket.SHUT_RDWR)
        return True
    except OSError:
        return False
    finally:
        dup.close()


class Watchdog:
    """Watches one output thread's blocking network calls.

    The output says what it is about to block in with :meth:`blocking` (a context of
    ``begin``/``end``); when one lasts longer than ``timeout_s``, the connections to ``peers``
    opened since :meth:`arm` are shut down and ``reason`` is set to what was blocked.

    Args:
        name: For the log.
        timeout_s: How long one call may block.
    """

    def __init__(self, name: str, timeout_s: float) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.reason = ""
        """What was blocked when the connection was cut ("" if it was not)."""
        self._peers: set[Peer] = set()
        self._before: set[int] = set()
        self._blocked: tuple[str, float] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching (a daemon thread that sleeps between checks)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"bc-watchdog-{self.name}",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2.0)
        self._thread = None

    def arm(self, host: str, port: int) -> None:
        """Call just before connecting: remembers the connections that already existed."""
        self.reason = ""
        self._peers = resolve(host, port)
        self._before = sockets_to(self._peers) if self._peers else set()

    def begin(self, what: str) -> None:
        """The output thread is about to block in ``what`` (e.g. "answer", "send")."""
        self._blocked = (what, time.monotonic())

    def end(self) -> None:
        """The blocking call returned."""
        self._blocked = None

    def _run(self) -> None:
        while not self._stop.wait(CHECK_INTERVAL_S):
            blocked = self._blocked
            if blocked is None or self.reason:
                continue
            what, since_s = blocked
            if time.monotonic() - since_s < self.timeout_s:
                continue
            # Set before cutting: the blocked write fails the moment the socket is shut down,
            # and the output reads the reason as soon as it does.
            self.reason = what
            fds = sockets_to(self._peers) - self._before if self._peers else set()
            cut = [fd for fd in fds if shut_down(fd)]
            outcome = "connection cut" if cut else "no socket to cut"
            logger.warning("%s: no progress in %s for %.0f s; %s", self.name, what,
                           self.timeout_s, outcome)  # fmt: skip
