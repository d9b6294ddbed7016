"""One output of the program: an RTMP destination or a local recording, on its own thread.

Each output muxes the shared encoder's packets into its own container, so it can be switched on
or off, fail, retry or fill a disk without touching any other output or the encoder. It starts
on a keyframe with its clock at zero, keeps at most a few seconds of packets queued (a slow
network drops whole GOPs rather than growing memory), and reports every state change.
"""

from __future__ import annotations

import collections
import datetime
import enum
import errno
import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.destinations import RtmpTarget, preflight
from desktop.media.outputs.encoder import EncodedPacket, ProgramEncoder
from desktop.media.outputs.watchdog import Watchdog

logger = logging.getLogger(__name__)

DEFAULT_MAX_RETRIES = 5
DEFAULT_RETRY_BASE_S = 2.0
RETRY_MAX_S = 60.0
MAX_QUEUED_S = 3.0
"""Packets older than this waiting to be sent are dropped up to the next keyframe."""
DEFAULT_MIN_FREE_BYTES = 500 * 1024 * 1024
"""A recording will not start, and stops cleanly, below this much free space."""
DISK_CHECK_INTERVAL_S = 1.0
NETWORK_TIMEOUT_S = 10.0
"""An RTMP server that does not answer, or takes no data, for this long is cut and retried."""
JOIN_TIMEOUT_S = 15.0
CONFIRM_S = 1.0
"""An RTMP output is LIVE once this much media went out without the server closing it."""

# Crash-safe containers: Matroska clusters and fragmented MP4 fragments are complete on disk as
# they are written, so a recording cut by a crash or SIGKILL still plays up to its last second.
_FILE_FORMATS: dict[str, tuple[str, dict[str, str]]] = {
    ".mkv": ("matroska", {"cluster_time_limit": "1000", "flush_packets": "1"}),
    ".mp4": (
        "mp4",
        {
            "movflags": "frag_keyframe+empty_moov+default_base_moof",
            "frag_duration": "1000000",
            "flush_packets": "1",
        },
    ),  # fmt: skip
    ".mov": (
        "mov",
        {
            "movflags": "frag_keyframe+empty_moov+default_base_moof",
            "frag_duration": "1000000",
            "flush_packets": "1",
        },
    ),  # fmt: skip
    ".flv": ("flv", {"flush_packets": "1"}),
}


class OutputKind(enum.Enum):
    """What an output writes to."""

    RTMP = "rtmp"
    FILE = "file"


class OutputPhase(enum.Enum):
    """Where an output stands; the card shows exactly this."""

    OFF = "off"
    """Not started."""
    CONNECTING = "connecting"
    """Checking the server and opening the stream (or the file)."""
    LIVE = "live"
    """Packets are being sent (or written)."""
    RETRYING = "retrying"
    """Failed; waiting before the next attempt (see ``attempt`` and ``retry_in_s``)."""
    FAILED = "failed"
    """Gave up, or cannot go on (disk full, bad path); ``error`` says why."""
    STOPPED = "stopped"
    """Switched off by the producer; what was sent or recorded is complete."""


@dataclass(frozen=True, slots=True)
class OutputStatus:
    """A snapshot of one output, as reported to listeners."""

    output_id: str
    """Stable id (the destination id, or ``recording``)."""
    label: str
    """Where it goes, safe to show: a masked URL or a file path."""
    kind: OutputKind
    """RTMP or file."""
    phase: OutputPhase = OutputPhase.OFF
    """Current phase."""
    error: str = ""
    """The last failure in words with the next step (never a stream key)."""
    error_code: MediaErrorCode | None = None
    """The last failure's code."""
    attempt: int = 0
    """Connection attempt number (1 is the first)."""
    max_attempts: int = 0
    """Attempts before giving up."""
    retry_in_s: float = 0.0
    """Seconds until the next attempt while RETRYING."""
    live_since_us: int = 0
    """``time.monotonic`` (µs) when it went LIVE; 0 when not live."""
    bytes_written: int = 0
    """Bytes sent or written in the current session."""
    bitrate_bps: int = 0
    """Sending rate over the last two seconds."""
    dropped_packets: int = 0
    """Packets dropped because the network could not keep up."""
    path: str = ""
    """For recordings: the file being written."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (headless logs)."""
        return {
            "output": self.output_id,
            "label": self.label,
            "kind": self.kind.value,
            "state": self.phase.value,
            "attempt": self.attempt,
            **({"error": self.error} if self.error else {}),
            **({"retry_in_s": round(self.retry_in_s, 1)} if self.retry_in_s else {}),
            **({"path": self.path} if self.path else {}),
            "bytes": self.bytes_written,
            "bitrate_bps": self.bitrate_bps,
        }


OutputListener = Callable[[OutputStatus], None]


class _Retriable(Exception):
    def __init__(self, error: MediaError) -> None:
        super().__init__(str(error))
        self.error = error


def recording_path(target: str | Path, now: datetime.datetime | None = None) -> Path:
    """The file a recording writes: ``target`` itself, or a dated .mp4 inside a folder.

    An existing file is never overwritten: `` (2)``, `` (3)``… are added instead.

    Raises:
        MediaError: ``INVALID_ARGUMENT`` for an extension no crash-safe container uses.
    """
    path = Path(target).expanduser()
    if path.is_dir():
        stamp = (now or datetime.datetime.now()).strftime("%Y-%m-%d %H-%M-%S")
        path = path / f"Broadcast {stamp}.mp4"
    if path.suffix.lower() not in _FILE_FORMATS:
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, str(path),
            f"cannot record to a {path.suffix or 'file without an extension'}",
            "name the file .mkv or .mp4 (both survive a crash)",
        )  # fmt: skip
    candidate, n = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        n += 1
    return candidate


def _words(error: BaseException) -> str:
    text = str(error)
    # FFmpeg errors quote the URL they failed on; never pass it on (it holds the key).
    if "rtmp" in text.lower():
        text = getattr(error, "strerror", None) or type(error).__name__
    return str(text)


class Output:
    """Sends the encoder's packets to one place, retrying RTMP with back-off.

    Args:
        output_id: Stable id.
        kind: RTMP or file.
        encoder: Where packets come from (and keyframes are asked of).
        rtmp: The checked destination (RTMP outputs).
        path: The file to write (file outputs; see :func:`recording_path`).
        max_retries: Attempts after the first before giving up (RTMP).
        retry_base_s: First back-off delay; doubles per attempt up to a minute.
        min_free_bytes: Free space a recording keeps on its disk.
        listener: Called on the output's thread with each new status.
        network_timeout_s: How long the RTMP server may leave a handshake unanswered or take
            no data before the connection is cut and retried.
    """

    def __init__(
        self,
        output_id: str,
        kind: OutputKind,
        encoder: ProgramEncoder,
        *,
        rtmp: RtmpTarget | None = None,
        path: Path | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_base_s: float = DEFAULT_RETRY_BASE_S,
        min_free_bytes: int = DEFAULT_MIN_FREE_BYTES,
        listener: OutputListener | None = None,
        network_timeout_s: float = NETWORK_TIMEOUT_S,
    ) -> None:
        if (kind is OutputKind.RTMP) != (rtmp is not None) or (kind is OutputKind.FILE) != (
            path is not None
        ):
            raise ValueError("an RTMP output needs rtmp=, a file output needs path=")
        self.output_id = output_id
        self.kind = kind
        self._encoder = encoder
        self._rtmp = rtmp
        self._path = path
        self.max_retries = max(0, max_retries)
        self.retry_base_s = retry_base_s
        self.min_free_bytes = min_free_bytes
        self._listener = listener
        self.network_timeout_s = network_timeout_s
        self._watchdog = Watchdog(f"output-{output_id}", network_timeout_s)
        label = rtmp.masked if rtmp else str(path)
        self._status = OutputStatus(
            output_id, label, kind, max_attempts=self.max_retries + 1,
            path=str(path) if path else "",
        )  # fmt: skip
        self._status_lock = threading.Lock()
        self._queue: collections.deque[EncodedPacket] = collections.deque()
        self._cond = threading.Condition()
        self._accepting = False
        self._stop = threading.Event()
        self._retry_now = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_out_s = 0.0

    @property
    def status(self) -> OutputStatus:
        """The current status."""
        with self._status_lock:
            return self._status

    def start(self) -> None:
        """Begin connecting (or writing) on the output's own thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name=f"bc-output-{self.output_id}", daemon=True
            )
            self._thread.start()

    def feed(self, packet: EncodedPacket) -> None:
        """Queue a packet (called by the encoder threads; never blocks)."""
        if not self._accepting:
            return
        with self._cond:
            self._queue.append(packet)
            oldest = self._queue[0]
            if oldest is _RESYNC:
                oldest = self._queue[1]
            if packet.pts_s - oldest.pts_s > MAX_QUEUED_S:
                # The network cannot keep up: drop what is queued and start again on a
                # keyframe, so the viewer sees a jump rather than a growing delay.
                dropped = len(self._queue)
                self._queue.clear()
                self._queue.append(_RESYNC)
                self._update(dropped_packets=self.status.dropped_packets + dropped)
                self._encoder.request_keyframe()
            self._cond.notify()

    def retry_now(self) -> None:
        """Skip the back-off wait, or start again after giving up."""
        self._retry_now.set()
        if self._thread is not None and not self._thread.is_alive() and not self._stop.is_set():
            self._thread = None
            self.start()

    def stop(self, timeout_s: float = JOIN_TIMEOUT_S) -> None:
        """Finish: close the stream or file cleanly (trailer written) and end the thread."""
        self._stop.set()
        self._retry_now.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("output %s did not finish within %s s", self.output_id, timeout_s)

    # -- the output thread -------------------------------------------------------------------

    def _update(self, **changes: Any) -> None:
        with self._status_lock:
            new = replace(self._status, **changes)
            changed = (new.phase, new.error, new.attempt) != (
                self._status.phase, self._status.error, self._status.attempt,
            )  # fmt: skip
            self._status = new
        if changed and self._listener is not None:
            try:
                self._listener(new)
            except Exception:
                logger.exception("output listener raised")

    def _notify_progress(self) -> None:
        if self._listener is not None:
            try:
                self._listener(self.status)
            except Exception:
                logger.exception("output listener raised")

    def _run(self) -> None:
        if self._rtmp is not None:
            self._watchdog.start()
        try:
            self._run_sessions()
        finally:
            self._watchdog.stop()

    def _run_sessions(self) -> None:
        attempt = 0
        self._retry_now.clear()
        while not self._stop.is_set():
            attempt += 1
            self._update(phase=OutputPhase.CONNECTING, attempt=attempt, retry_in_s=0.0)
            try:
                self._session()
            except _Retriable as failure:
                if self._stop.is_set():
                    break
                error = failure.error
                if self.status.live_since_us:
                    attempt = 1  # it was live: a drop after a good run gets the full retries
                self._update(live_since_us=0, bitrate_bps=0)
                if attempt > self.max_retries:
                    tries = "1 attempt" if attempt == 1 else f"{attempt} attempts"
                    self._update(
                        phase=OutputPhase.FAILED,
                        error=f"gave up after {tries}: {error}",
                        error_code=error.code,
                    )
                    return
                delay_s = min(self.retry_base_s * 2 ** (attempt - 1), RETRY_MAX_S)
                self._update(
                    phase=OutputPhase.RETRYING, error=str(error), error_code=error.code,
                    retry_in_s=delay_s,
                )  # fmt: skip
                logger.info("output %s: %s; retrying in %.0f s", self.output_id, error, delay_s)
                self._retry_now.wait(delay_s)
                self._retry_now.clear()
                continue
            except MediaError as error:
                self._update(
                    phase=OutputPhase.FAILED, error=str(error), error_code=error.code,
                    live_since_us=0, bitrate_bps=0,
                )  # fmt: skip
                return
            break
        self._update(phase=OutputPhase.STOPPED, live_since_us=0, bitrate_bps=0, retry_in_s=0.0)

    def _open(self) -> tuple[Any, Any, Any]:
        if self._rtmp is not None:
            try:
                preflight(self._rtmp, answer_timeout_s=self.network_timeout_s)
            except MediaError as error:
                raise _Retriable(error) from None
            # Sockets to this server from now on are this output's (for the stall watchdog).
            self._watchdog.arm(self._rtmp.host, self._rtmp.port)
            try:
                container = av.open(self._rtmp.publish_url, "w", format="flv")
                video, audio = self._add_streams(container)
                # The RTMP handshake and publish happen here: a refused key fails now. PyAV
                # holds the GIL in this call, so no watchdog could run; the preflight's own
                # handshake has just shown that the server answers.
                container.start_encoding()
            except (av.FFmpegError, OSError) as error:
                raise _Retriable(
                    MediaError(
                        MediaErrorCode.OUTPUT_FAILED,
                        self._rtmp.masked,
                        f"the server accepted the connection but refused the stream "
                        f"({_words(error)})",
                        "check the stream key and that the stream is enabled on the platform",
                    )  # fmt: skip
                ) from None
        else:
            assert self._path is not None
            self._check_disk(starting=True)
            fmt, options = _FILE_FORMATS[self._path.suffix.lower()]
            try:
                container = av.open(str(self._path), "w", format=fmt, options=options)
                video, audio = self._add_streams(container)
                container.start_encoding()
            except (av.FFmpegError, OSError) as error:
                raise MediaError(
                    MediaErrorCode.OUTPUT_FAILED, str(self._path),
                    f"cannot create the file ({getattr(error, 'strerror', None) or error})",
                    "pick a folder you can write to",
                ) from None  # fmt: skip
        return container, video, audio

    def _add_streams(self, container: Any) -> tuple[Any, Any]:
        video = container.add_stream_from_template(self._encoder.video_template, opaque=True)
        audio = container.add_stream_from_template(self._encoder.audio_template, opaque=True)
        return video, audio

    def _check_disk(self, starting: bool) -> None:
        assert self._path is not None
        folder = self._path.parent
        try:
            free = shutil.disk_usage(folder).free
        except FileNotFoundError:
            raise MediaError(
                MediaErrorCode.OUTPUT_FAILED, str(self._path),
                f"the folder {folder} does not exist",
                "pick an existing folder for recordings",
            ) from None  # fmt: skip
        if free < self.min_free_bytes:
            mib = free / 2**20
            if starting:
                raise MediaError(
                    MediaErrorCode.DISK_FULL, str(self._path),
                    f"only {mib:.0f} MiB free on the disk; the recording was not started",
                    "free up space or record to another disk",
                )  # fmt: skip
            raise _DiskFull(mib)

    def _session(self) -> bool:
        """One connection: open, send until stopped or failed, close. True if it went live."""
        container, video, audio = self._open()
        self._accepting = True
        self._encoder.request_keyframe()
        base: float | None = None
        went_live = False
        started_s = time.monotonic()
        window: collections.deque[tuple[float, int]] = collections.deque()
        last_disk_check_s = 0.0
        last_progress_s = 0.0
        written = 0
        self._update(bytes_written=0, dropped_packets=0)
        try:
            while not self._stop.is_set():
                with self._cond:
                    if not self._queue:
                        self._cond.wait(0.25)
                    packet = self._queue.popleft() if self._queue else None
                now_s = time.monotonic()
                if self._path is not None and now_s - last_disk_check_s >= DISK_CHECK_INTERVAL_S:
                    last_disk_check_s = now_s
                    self._check_disk(starting=False)
                if packet is None:
                    if not went_live and now_s - started_s > NETWORK_TIMEOUT_S:
                        raise _Retriable(self._error("no picture arrived from the encoder"))
                    continue
                if packet is _RESYNC:
                    base = None
                    continue
                if base is None:
                    if not (packet.is_video and packet.is_keyframe):
                        continue
                    base = packet.pts_s if not written else self._resume_base(packet)
                offset = round(base / packet.time_base)
                pts, dts = packet.pts - offset, packet.dts - offset
                if dts < 0:
                    continue
                out = av.Packet(packet.data)
                out.pts, out.dts = pts, dts
                out.time_base = packet.time_base
                out.is_keyframe = packet.is_keyframe
                out.stream = video if packet.is_video else audio
                if self._rtmp is not None:
                    self._watchdog.begin("send")
                try:
                    container.mux(out)
                finally:
                    self._watchdog.end()
                written += len(packet.data)
                self._last_out_s = float(pts * packet.time_base)
                if not went_live and (self._rtmp is None or self._last_out_s >= CONFIRM_S):
                    went_live = True
                    self._update(
                        phase=OutputPhase.LIVE, live_since_us=time.monotonic_ns() // 1000,
                        error="", error_code=None, attempt=self.status.attempt,
                    )  # fmt: skip
                window.append((now_s, written))
                while window and now_s - window[0][0] > 2.0:
                    window.popleft()
                if now_s - last_progress_s >= 1.0:
                    last_progress_s = now_s
                    span_s = now_s - window[0][0] if len(window) > 1 else 0.0
                    rate = int((written - window[0][1]) * 8 / span_s) if span_s > 0 else 0
                    with self._status_lock:
                        self._status = replace(
                            self._status, bytes_written=written, bitrate_bps=rate
                        )
                    self._notify_progress()
        except _DiskFull as full:
            self._close(container)
            raise MediaError(
                MediaErrorCode.DISK_FULL, str(self._path),
                f"the disk is almost full ({full.free_mib:.0f} MiB left); the recording was "
                "stopped and everything recorded so far is kept in the file",
                "free up space, then record again (a new file is started)",
            ) from None  # fmt: skip
        except (av.FFmpegError, OSError) as error:
            self._close(container)
            if getattr(error, "errno", None) == errno.ENOSPC:
                raise MediaError(
                    MediaErrorCode.DISK_FULL, str(self._path),
                    "the disk is full; the recording was stopped and what was written is kept",
                    "free up space, then record again",
                ) from None  # fmt: skip
            if self._rtmp is None:
                raise MediaError(
                    MediaErrorCode.OUTPUT_FAILED, str(self._path),
                    f"writing the recording failed ({_words(error)})",
                    "check the disk, then record again",
                ) from None  # fmt: skip
            if self._watchdog.reason == "send":
                raise _Retriable(
                    self._error(
                        f"the connection stalled: the server took no data for "
                        f"{self.network_timeout_s:.0f} s"
                    )
                ) from None
            if not went_live:
                # Platforms accept the connection, then close it on a wrong or disabled key.
                raise _Retriable(
                    MediaError(
                        MediaErrorCode.OUTPUT_FAILED,
                        self.status.label,
                        "the server refused the stream as it started (it closed the connection)",
                        "check the stream key, and that live streaming is enabled on the account",
                    )  # fmt: skip
                ) from None
            raise _Retriable(self._error(f"the connection dropped ({_words(error)})")) from None
        finally:
            self._accepting = False
            with self._cond:
                self._queue.clear()
        self._close(container)
        return went_live

    def _resume_base(self, packet: EncodedPacket) -> float:
        # After a resync the stream continues where it left off (one frame later) instead of
        # jumping its clock, which some ingests treat as a new stream.
        return packet.pts_s - self._last_out_s - 1.0 / self._encoder.settings.fps

    def _error(self, detail: str) -> MediaError:
        label = self.status.label
        return MediaError(
            MediaErrorCode.OUTPUT_FAILED, label, detail,
            "check this computer's connection; it will retry on its own",
        )  # fmt: skip

    def _close(self, container: Any) -> None:
        self._accepting = False
        try:
            container.close()
        except (av.FFmpegError, OSError) as error:
            logger.info("output %s: closing: %s", self.output_id, _words(error))


class _DiskFull(Exception):
    def __init__(self, free_mib: float) -> None:
        super().__init__(f"{free_mib:.0f} MiB free")
        self.free_mib = free_mib


# Marker put in a queue after dropped packets: the writer waits for the next keyframe.
_RESYNC = EncodedPacket(True, b"", 0, 0, Fraction(1, 1000), False)
