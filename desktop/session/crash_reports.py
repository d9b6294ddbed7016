"""Crash reports: what was happening when the process died, kept for the next start.

A native crash (a Qt binding's refcount bug, a panic in the LiveKit FFI, the OOM killer) ends
the process before any Python ``finally`` runs, so everything a report needs must already be on
disk when it happens:

* ``faulthandler`` writes every thread's Python stack into this run's *marker* file on a fatal
  signal (SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE);
* this run's log lines go to a small session log beside it, scrubbed of secrets as they are
  written (tokens, stream keys, API secrets never reach the disk).

A clean exit removes both. The next start finds a marker whose process is gone, joins the
stack and the last log lines into ``crash-YYYYmmdd-HHMMSS.txt`` in the user's log folder, and
offers it (the studio shows a notice; headless prints a line). Each report is offered once.
"""

from __future__ import annotations

import datetime
import faulthandler
import logging
import logging.handlers
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import platformdirs

from desktop.media.outputs.destinations import mask_url

logger = logging.getLogger(__name__)

APP_NAME = "spaces-broadcaster"
LOG_DIR_ENV = "BROADCASTER_LOG_DIR"
SESSION_LOG_BYTES = 512 * 1024
"""A session log is capped (one rotation): an hour-long show must not fill a disk."""
REPORT_LOG_LINES = 200
"""Log lines a report keeps from the end of the crashed run."""

_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}")
_STREAM_URL = re.compile(r"\b(?:rtmps?|srt)://[^\s'\"<>]+", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"(?i)\b(token|access_token|secret|api_secret|stream_?key|key|password|credential)"
    r"(\s*[=:]\s*|\"\s*:\s*\")([^\s&'\",]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer)\s+[\w.~+/-]+=*")


def scrub(text: str) -> str:
    """Remove tokens, stream keys and secrets from a line meant for a log or a report."""
    text = _JWT.sub("<token>", text)
    text = _STREAM_URL.sub(lambda m: mask_url(m.group(0)), text)
    text = _BEARER.sub(r"\1 <secret>", text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}<secret>", text)


def log_dir() -> Path:
    """Where logs and crash reports live (``$BROADCASTER_LOG_DIR`` overrides)."""
    override = os.environ.get(LOG_DIR_ENV)
    return Path(override) if override else Path(platformdirs.user_log_dir(APP_NAME))


class _ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


@dataclass(frozen=True)
class CrashReport:
    """A report left by a run that ended without closing."""

    path: Path
    """The report file (text)."""
    crashed_at: datetime.datetime
    """When the crashed run last wrote to its log (local time)."""
    fatal: bool
    """True when the process died of a fatal error (a stack was captured); False when it was
    ended from outside (killed, out of memory, power cut) and only the log tells."""

    def sentence(self) -> str:
        """What to tell the host, with the next step."""
        when = self.crashed_at.strftime("%H:%M on %d %b")
        how = "closed unexpectedly" if self.fatal else "was stopped from outside"
        return (
            f"The last session {how} (at {when}). A crash report was saved to {self.path} — "
            "attach it when you report the problem. Local recordings from that session are "
            "playable up to the moment it stopped."
        )


class CrashGuard:
    """Arms crash capture for this run and collects reports left by earlier ones.

    Args:
        kind: Which program this is (``studio`` or ``headless``), in file names.
        folder: Where to keep logs and reports (default: :func:`log_dir`).
    """

    def __init__(self, kind: str, folder: Path | None = None) -> None:
        self.kind = kind
        self.folder = folder or log_dir()
        self._marker: TextIO | None = None
        self._handler: logging.Handler | None = None

    @property
    def marker_path(self) -> Path:
        """This run's marker: it receives the fatal-error stack, if there is one."""
        return self.folder / f"{self.kind}-{os.getpid()}.running"

    @property
    def log_path(self) -> Path:
        """This run's scrubbed session log."""
        return self.folder / f"{self.kind}-{os.getpid()}.log"

    def arm(self) -> list[CrashReport]:
        """Collect reports of earlier runs, then start capturing this one.

        Returns the reports not offered before (usually none). Problems with the log folder are
        logged and never stop the app.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            reports = self.collect()
            self._marker = self.marker_path.open("w", encoding="utf-8")
            faulthandler.enable(file=self._marker, all_threads=True)
            handler = logging.handlers.RotatingFileHandler(
                self.log_path, maxBytes=SESSION_LOG_BYTES, backupCount=1, encoding="utf-8"
            )
            handler.setLevel(logging.INFO)
            handler.setFormatter(
                _ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            logging.getLogger().addHandler(handler)
            root = logging.getLogger()
            if root.level > logging.INFO:
                # The file wants INFO even when the console shows only warnings: the console's
                # handlers keep the root's level, our loggers pass INFO on to the file.
                for console in root.handlers:
                    if console is not handler and console.level == logging.NOTSET:
                        console.setLevel(root.level)
                for name in ("desktop", "backend"):
                    logging.getLogger(name).setLevel(logging.INFO)
            self._handler = handler
        except OSError as error:
            logger.warning("crash reports are off: cannot write to %s (%s)", self.folder, error)
            return []
        logger.info(
            "%s started (pid %d, Python %s)", self.kind, os.getpid(), sys.version.split()[0]
        )
        return reports

    def disarm(self) -> None:
        """A clean exit: stop capturing and remove this run's marker and log."""
        if self._marker is not None:
            faulthandler.disable()
            self._marker.close()
            self._marker = None
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler.close()
            self._handler = None
        for path in (self.marker_path, self.log_path, Path(f"{self.log_path}.1")):
            path.unlink(missing_ok=True)

    def collect(self) -> list[CrashReport]:
        """Turn markers of runs that are gone into reports (each is offered once)."""
        reports: list[CrashReport] = []
        for marker in sorted(self.folder.glob("*.running")):
            kind, _, pid_text = marker.stem.rpartition("-")
            if not pid_text.isdigit() or _alive(int(pid_text)):
                continue
            try:
                reports.append(self._report(marker, kind))
            except OSError as error:
                logger.warning("could not write a crash report for %s: %s", marker.name, error)
        return reports

    def _report(self, marker: Path, kind: str) -> CrashReport:
        log = marker.with_suffix(".log")
        rotated = Path(f"{log}.1")
        stack = scrub(marker.read_text(encoding="utf-8", errors="replace")).strip()
        lines: list[str] = []
        for path in (rotated, log):
            if path.exists():
                lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
        last_write = max((p.stat().st_mtime for p in (marker, log) if p.exists()), default=0.0)
        crashed_at = datetime.datetime.fromtimestamp(last_write or marker.stat().st_mtime)
        name = f"crash-{crashed_at:%Y%m%d-%H%M%S}-{kind}.txt"
        path = self.folder / name
        body = [
            f"Spaces Broadcaster {kind} crash report",
            f"Ended: {crashed_at.isoformat(timespec='seconds')}",
            "",
            "== Fatal error (Python stacks of every thread)",
            stack
            or "(none captured: the process was ended from outside, e.g. killed or out of memory)",
            "",
            f"== Last {REPORT_LOG_LINES} log lines",
            *[scrub(line) for line in lines[-REPORT_LOG_LINES:]],
            "",
        ]
        path.write_text("\n".join(body), encoding="utf-8")
        os.chmod(path, 0o600)
        for leftover in (marker, log, rotated):
            leftover.unlink(missing_ok=True)
        logger.warning("the last %s run ended unexpectedly; report: %s", kind, path)
        return CrashReport(path=path, crashed_at=crashed_at, fatal=bool(stack))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
