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
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.encoder import EncodedPacket, ProgramEncoder
from desktop.media.outputs.sinks import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MIN_FREE_BYTES,
    DEFAULT_RETRY_BASE_S,
    FILE_FORMATS,
    NETWORK_TIMEOUT_S,
    Retry,
    RtmpSink,
    Sink,
    words,
)
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    import av
else:
    av = lazy_module("av")

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_RETRIES", "DEFAULT_MIN_FREE_BYTES", "DEFAULT_RETRY_BASE_S", "NETWORK_TIMEOUT_S",
    "Output", "OutputKind", "OutputListener", "OutputPhase", "OutputStatus", "recording_path",
]  # fmt: skip

MAX_QUEUED_S = 3.0
"""Packets older than this waiting to be sent are dropped up to the next keyframe."""
JOIN_TIMEOUT_S = 15.0
START_TIMEOUT_S = 10.0
"""A session that got no packet from the encoder this long after opening is retried."""


class OutputKind(enum.Enum):
    """What an output writes to."""

    RTMP = "rtmp"
    FILE = "file"


class OutputPhase(enum.Enum):
    """Where an output stands; its card shows exactly this.

    One vocabulary for the studio's own outputs (:class:`OutputStatus`) and the platform's
    egress outputs as the backend reports them (``desktop.session.state.EgressOutputStatus``),
    so the UI asks the same question of both.
    """

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
    ENDING = "ending"
    """Platform recording only: asked to stop, the file is being finished."""
    FINISHED = "finished"
    """Platform recording only: the file is complete (the card says "Finished")."""


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
    video_frames: int = 0
    """Video frames handed to this output since it (re)connected."""
    dropped_frames: int = 0
    """Of those, frames dropped because the network could not keep up (OBS's "dropped")."""
    path: str = ""
    """For recordings: the file being written."""
    encoding: str = ""
    """The encoding profile it is fed, in words (outputs with the same one share an encoder)."""

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
            **({"encoding": self.encoding} if self.encoding else {}),
            "bytes": self.bytes_written,
            "bitrate_bps": self.bitrate_bps,
        }


OutputListener = Callable[[OutputStatus], None]


def recording_path(
    target: str | Path, now: datetime.datetime | None = None, suffix: str = ".mp4"
) -> Path:
    """The file a recording writes: ``target`` itself, or a dated file inside a folder.

    ``suffix`` is the dated file's container (``.mp4`` or ``.webm``).

    An existing file is never overwritten: `` (2)``, `` (3)``… are added instead.

    Raises:
        MediaError: ``INVALID_ARGUMENT`` for an extension no crash-safe container uses.
    """
    path = Path(target).expanduser()
    if path.is_dir():
        stamp = (now or datetime.datetime.now()).strftime("%Y-%m-%d %H-%M-%S")
        path = path / f"Broadcast {stamp}{suffix}"
    if path.suffix.lower() not in FILE_FORMATS:
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, str(path),
            f"cannot record to a {path.suffix or 'file without an extension'}",
            "name the file .mp4, .mkv or .webm (all survive a crash)",
        )  # fmt: skip
    candidate, n = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        n += 1
    return candidate


class Retimer:
    """Maps the encoder's timestamps onto one output session's clock, always forwards.

    A session starts at zero on its first video keyframe. After a resync (packets dropped up to
    the next keyframe) it continues one frame after the latest time written instead of jumping
    its clock, which some ingests treat as a new stream. Per stream, a packet whose decode time
    is not after the last one written is dropped: after the machine stalls, sound made to catch
    up can be older than the keyframe the writer resumed on, and muxers refuse time going
    backwards (mp4 answers EINVAL, which used to end the recording).

    Args:
        frame_s: One video frame's duration.
    """

    def __init__(self, frame_s: float) -> None:
        self.frame_s = frame_s
        self._base_s: float | None = None
        self._last_dts: dict[bool, int] = {}
        self.last_out_s = 0.0
        """The latest presentation time written, in seconds of the session's clock."""
        self.out_of_order = 0
        """Packets dropped because their stream's time would have gone backwards."""

    def resync(self) -> None:
        """Packets were dropped: wait for the next keyframe and continue from there."""
        self._base_s = None

    def retime(self, packet: EncodedPacket) -> tuple[int, int] | None:
        """The packet's (pts, dts) on the session's clock, or None to leave it out."""
        if self._base_s is None:
            if not (packet.is_video and packet.is_keyframe):
                return None
            started = bool(self._last_dts)
            self._base_s = packet.pts_s - (self.last_out_s + self.frame_s if started else 0.0)
        offset = round(self._base_s / packet.time_base)
        pts, dts = packet.pts - offset, packet.dts - offset
        if dts < 0:
            return None
        last = self._last_dts.get(packet.is_video)
        if last is not None and dts <= last:
            self.out_of_order += 1
            return None
        self._last_dts[packet.is_video] = dts
        self.last_out_s = max(self.last_out_s, float(pts * packet.time_base))
        return pts, dts


class Output:
    """Sends the encoder's packets through one sink, retrying as the sink allows.

    What every output does lives here: a bounded queue fed by the encoder threads, starting on
    a keyframe, dropping to the next keyframe when the sink cannot keep up (resync), re-timing
    so each session starts at zero and a resumed one continues where it left off, and status
    for the cards. What differs between a stream and a file lives in the sink.

    Args:
        output_id: Stable id.
        sink: Where packets go (:class:`~desktop.media.outputs.sinks.RtmpSink` or
            :class:`~desktop.media.outputs.sinks.FileSink`).
        encoder: Where packets come from (and keyframes are asked of).
        listener: Called on the output's thread with each new status.
    """

    def __init__(
        self,
        output_id: str,
        sink: Sink,
        encoder: ProgramEncoder,
        *,
        listener: OutputListener | None = None,
    ) -> None:
        self.output_id = output_id
        self.sink = sink
        self.kind = OutputKind.RTMP if isinstance(sink, RtmpSink) else OutputKind.FILE
        self._encoder = encoder
        self.max_retries = sink.max_retries
        self._listener = listener
        self._status = OutputStatus(
            output_id, sink.label, self.kind, max_attempts=self.max_retries + 1, path=sink.path,
            encoding=encoder.settings.describe(),
        )  # fmt: skip
        self._status_lock = threading.Lock()
        self._queue: collections.deque[EncodedPacket] = collections.deque()
        self._cond = threading.Condition()
        self._accepting = False
        self._stop = threading.Event()
        self._retry_now = threading.Event()
        self._thread: threading.Thread | None = None
        self._video_frames = 0
        self._dropped_frames = 0

    @property
    def encoder(self) -> ProgramEncoder:
        """The encoder this output takes its packets from."""
        return self._encoder

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
            if packet.is_video:
                self._video_frames += 1
            self._queue.append(packet)
            oldest = self._queue[0]
            if oldest is _RESYNC:
                oldest = self._queue[1]
            if packet.pts_s - oldest.pts_s > MAX_QUEUED_S:
                # The sink cannot keep up: drop what is queued and start again on a keyframe,
                # so the viewer sees a jump rather than a growing delay.
                dropped = len(self._queue)
                self._dropped_frames += sum(
                    1 for p in self._queue if p is not _RESYNC and p.is_video
                )
                self._queue.clear()
                self._queue.append(_RESYNC)
                self._update(dropped_packets=self.status.dropped_packets + dropped,
                             video_frames=self._video_frames,
                             dropped_frames=self._dropped_frames)  # fmt: skip
                self._encoder.request_keyframe()
                resynced = True
            else:
                resynced = False
            self._cond.notify()
        if resynced:
            # The writer is stuck, so its progress reports stopped: say so from here.
            self._notify_progress()

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
        self.sink.start()
        try:
            self._run_sessions()
        finally:
            self.sink.stop()

    def _run_sessions(self) -> None:
        attempt = 0
        self._retry_now.clear()
        while not self._stop.is_set():
            attempt += 1
            self._update(phase=OutputPhase.CONNECTING, attempt=attempt, retry_in_s=0.0)
            try:
                self._session()
            except Retry as failure:
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
                delay_s = self.sink.retry_delay_s(attempt)
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

    def _session(self) -> bool:
        """One connection: open, send until stopped or failed, close. True if it went live."""
        container, video, audio = self.sink.open(self._encoder)
        self._accepting = True
        self._encoder.request_keyframe()
        retimer = Retimer(1.0 / self._encoder.settings.fps)
        went_live = False
        started_s = time.monotonic()
        window: collections.deque[tuple[float, int]] = collections.deque()
        last_progress_s = 0.0
        written = 0
        with self._cond:
            self._video_frames = self._dropped_frames = 0
        self._update(bytes_written=0, dropped_packets=0, video_frames=0, dropped_frames=0)
        reported_out_of_order = 0
        try:
            while not self._stop.is_set():
                with self._cond:
                    if not self._queue:
                        self._cond.wait(0.25)
                    packet = self._queue.popleft() if self._queue else None
                now_s = time.monotonic()
                self.sink.check(now_s)
                if packet is None:
                    if not went_live and now_s - started_s > START_TIMEOUT_S:
                        raise Retry(
                            MediaError(
                                MediaErrorCode.OUTPUT_FAILED,
                                self.status.label,
                                "no picture arrived from the encoder",
                                "this computer may be overloaded; it will retry on its own",
                            )  # fmt: skip
                        )
                    continue
                if packet is _RESYNC:
                    retimer.resync()
                    continue
                timing = retimer.retime(packet)
                if timing is None:
                    continue
                pts, dts = timing
                out = av.Packet(packet.data)
                out.pts, out.dts = pts, dts
                out.time_base = packet.time_base
                out.is_keyframe = packet.is_keyframe
                out.stream = video if packet.is_video else audio
                self.sink.write(container, out)
                written += len(packet.data)
                if not went_live and retimer.last_out_s >= self.sink.confirm_s:
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
                    late, reported_out_of_order = (
                        retimer.out_of_order - reported_out_of_order, retimer.out_of_order
                    )  # fmt: skip
                    with self._status_lock:
                        self._status = replace(
                            self._status, bytes_written=written, bitrate_bps=rate,
                            video_frames=self._video_frames,
                            dropped_frames=self._dropped_frames,
                            dropped_packets=self._status.dropped_packets + late,
                        )  # fmt: skip
                    self._notify_progress()
        except MediaError:
            self._close(container)
            raise
        except (av.FFmpegError, OSError) as error:
            self._close(container)
            raise self.sink.failed(error, went_live) from None
        finally:
            self._accepting = False
            with self._cond:
                self._queue.clear()
        self._close(container)
        return went_live

    def _close(self, container: Any) -> None:
        self._accepting = False
        try:
            container.close()
        except (av.FFmpegError, OSError) as error:
            logger.info("output %s: closing: %s", self.output_id, words(error))


# Marker put in a queue after dropped packets: the writer waits for the next keyframe.
_RESYNC = EncodedPacket(True, b"", 0, 0, Fraction(1, 1000), False)
