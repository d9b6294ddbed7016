"""Where an output's packets end up: an RTMP server or a file, each with its own failure rules.

:class:`~desktop.media.outputs.output.Output` does what every output does — queue the shared
encoder's packets, start on a keyframe, resync after a drop, re-time to start at zero, report
status — and hands the rest to a sink:

* :class:`RtmpSink` checks the server before connecting (preflight: resolves, accepts, answers
  an RTMP handshake), cuts a connection that stops taking data (watchdog), and retries with
  doubling back-off up to a limit, telling a refused key from a dropped link.
* :class:`FileSink` writes a crash-safe container chosen by the file's extension, refuses to
  start on a nearly full disk, stops cleanly before the disk fills, and turns ENOSPC into words.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.destinations import RtmpTarget, preflight
from desktop.media.outputs.encoder import ProgramEncoder
from desktop.media.outputs.watchdog import Watchdog
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    import av
else:
    av = lazy_module("av")

DEFAULT_MAX_RETRIES = 5
DEFAULT_RETRY_BASE_S = 2.0
RETRY_MAX_S = 60.0
DEFAULT_MIN_FREE_BYTES = 500 * 1024 * 1024
"""A recording will not start, and stops cleanly, below this much free space."""
DISK_CHECK_INTERVAL_S = 1.0
NETWORK_TIMEOUT_S = 10.0
"""An RTMP server that does not answer, or takes no data, for this long is cut and retried."""
CONFIRM_S = 1.0
"""An RTMP output is LIVE once this much media went out without the server closing it."""

# Crash-safe containers: Matroska (and WebM, which is Matroska) clusters and fragmented MP4
# fragments are complete on disk as they are written, so a recording cut by a crash or SIGKILL
# still plays up to its last second (Matroska then lacks its duration and index: players read
# the clusters; see docs/studio.md).
_FRAGMENTED = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof",
    "frag_duration": "1000000",
    "flush_packets": "1",
}
FILE_FORMATS: dict[str, tuple[str, dict[str, str]]] = {
    ".mkv": ("matroska", {"cluster_time_limit": "1000", "flush_packets": "1"}),
    ".webm": ("webm", {"cluster_time_limit": "1000", "flush_packets": "1"}),
    ".mp4": ("mp4", _FRAGMENTED),
    ".mov": ("mov", _FRAGMENTED),
    ".flv": ("flv", {"flush_packets": "1"}),
}


class Retry(Exception):
    """A failure worth another attempt after a back-off (a network problem)."""

    def __init__(self, error: MediaError) -> None:
        super().__init__(str(error))
        self.error = error


def words(error: BaseException) -> str:
    """An FFmpeg/OS error in words, never quoting an RTMP URL (it holds the stream key)."""
    text = str(error)
    if "rtmp" in text.lower():
        text = getattr(error, "strerror", None) or type(error).__name__
    return str(text)


class Sink(Protocol):
    """What an output writes through."""

    @property
    def label(self) -> str:
        """Where it goes, safe to show (a masked URL or a path)."""
        ...

    @property
    def path(self) -> str:
        """The file written ('' for streams)."""
        ...

    @property
    def max_retries(self) -> int:
        """Attempts after the first before giving up (0: never retried)."""
        ...

    @property
    def confirm_s(self) -> float:
        """Seconds of media written before the output counts as LIVE."""
        ...

    def retry_delay_s(self, attempt: int) -> float:
        """How long to wait after failed attempt number ``attempt``."""
        ...

    def start(self) -> None:
        """The output's thread begins (start watchers)."""
        ...

    def stop(self) -> None:
        """The output's thread ends (stop watchers)."""
        ...

    def open(self, encoder: ProgramEncoder) -> tuple[Any, Any, Any]:
        """Open the container with the encoder's streams: (container, video, audio).

        Raises:
            Retry: a failure worth retrying.
            MediaError: a failure that retrying will not fix.
        """
        ...

    def check(self, now_s: float) -> None:
        """Called between packets: raise :class:`MediaError` to stop cleanly (disk full)."""
        ...

    def write(self, container: Any, packet: Any) -> None:
        """Mux one packet (may block on the network)."""
        ...

    def failed(self, error: BaseException, went_live: bool) -> Exception:
        """What a write failure means: a :class:`Retry` or a final :class:`MediaError`."""
        ...


def _add_streams(container: Any, encoder: ProgramEncoder) -> tuple[Any, Any]:
    video = container.add_stream_from_template(encoder.video_template, opaque=True)
    audio = container.add_stream_from_template(encoder.audio_template, opaque=True)
    return video, audio


class RtmpSink:
    """An RTMP/RTMPS destination: preflight, a stall watchdog, retries with back-off.

    Args:
        target: The checked destination.
        max_retries: Attempts after the first before giving up.
        retry_base_s: First back-off delay; doubles per attempt up to a minute.
        network_timeout_s: How long the server may leave a handshake unanswered or take no
            data before the connection is cut and retried.
    """

    def __init__(
        self,
        target: RtmpTarget,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_base_s: float = DEFAULT_RETRY_BASE_S,
        network_timeout_s: float = NETWORK_TIMEOUT_S,
    ) -> None:
        self.target = target
        self._max_retries = max(0, max_retries)
        self.retry_base_s = retry_base_s
        self.network_timeout_s = network_timeout_s
        self._watchdog = Watchdog(f"rtmp-{target.host}", network_timeout_s)

    @property
    def label(self) -> str:
        """The masked URL."""
        return self.target.masked

    @property
    def path(self) -> str:
        """Streams have no path."""
        return ""

    @property
    def max_retries(self) -> int:
        """Attempts after the first before giving up."""
        return self._max_retries

    @property
    def confirm_s(self) -> float:
        """A platform may close the stream just after accepting it (a bad key): wait a bit."""
        return CONFIRM_S

    def retry_delay_s(self, attempt: int) -> float:
        """Doubling back-off from ``retry_base_s``, at most a minute."""
        return float(min(self.retry_base_s * 2 ** (attempt - 1), RETRY_MAX_S))

    def start(self) -> None:
        """Start the stall watchdog."""
        self._watchdog.start()

    def stop(self) -> None:
        """Stop the stall watchdog."""
        self._watchdog.stop()

    def open(self, encoder: ProgramEncoder) -> tuple[Any, Any, Any]:
        """Preflight, then connect and publish."""
        try:
            preflight(self.target, answer_timeout_s=self.network_timeout_s)
        except MediaError as error:
            raise Retry(error) from None
        # Sockets to this server from now on are this output's (for the stall watchdog).
        self._watchdog.arm(self.target.host, self.target.port)
        try:
            container = av.open(self.target.publish_url, "w", format="flv")
            video, audio = _add_streams(container, encoder)
            # The RTMP handshake and publish happen here: a refused key fails now. PyAV holds
            # the GIL in this call, so no watchdog could run; the preflight's own handshake
            # has just shown that the server answers.
            container.start_encoding()
        except (av.FFmpegError, OSError) as error:
            raise Retry(
                MediaError(
                    MediaErrorCode.OUTPUT_FAILED,
                    self.label,
                    f"the server accepted the connection but refused the stream ({words(error)})",
                    "check the stream key and that the stream is enabled on the platform",
                )  # fmt: skip
            ) from None
        return container, video, audio

    def check(self, now_s: float) -> None:
        """Nothing to check between packets (the watchdog runs on its own thread)."""

    def write(self, container: Any, packet: Any) -> None:
        """Mux under the watchdog's eye."""
        self._watchdog.begin("send")
        try:
            container.mux(packet)
        finally:
            self._watchdog.end()

    def failed(self, error: BaseException, went_live: bool) -> Exception:
        """Every stream failure is retried; the words say which kind it was."""
        if self._watchdog.reason == "send":
            return Retry(
                self._error(
                    f"the connection stalled: the server took no data for "
                    f"{self.network_timeout_s:.0f} s"
                )
            )
        if not went_live:
            # Platforms accept the connection, then close it on a wrong or disabled key.
            return Retry(
                MediaError(
                    MediaErrorCode.OUTPUT_FAILED,
                    self.label,
                    "the server refused the stream as it started (it closed the connection)",
                    "check the stream key, and that live streaming is enabled on the account",
                )  # fmt: skip
            )
        return Retry(self._error(f"the connection dropped ({words(error)})"))

    def _error(self, detail: str) -> MediaError:
        return MediaError(
            MediaErrorCode.OUTPUT_FAILED, self.label, detail,
            "check this computer's connection; it will retry on its own",
        )  # fmt: skip


class FileSink:
    """A recording: a crash-safe container, disk-space checks, ENOSPC handled.

    Args:
        path: The file to write (see :func:`~desktop.media.outputs.output.recording_path`).
        min_free_bytes: Free space the recording keeps on its disk.
    """

    def __init__(self, path: Path, *, min_free_bytes: int = DEFAULT_MIN_FREE_BYTES) -> None:
        if path.suffix.lower() not in FILE_FORMATS:
            raise MediaError(
                MediaErrorCode.INVALID_ARGUMENT, str(path),
                f"cannot record to a {path.suffix or 'file without an extension'}",
                "name the file .mp4, .mkv or .webm (all survive a crash)",
            )  # fmt: skip
        self.file = path
        self.min_free_bytes = min_free_bytes
        self._last_check_s = 0.0

    @property
    def label(self) -> str:
        """The file's path."""
        return str(self.file)

    @property
    def path(self) -> str:
        """The file's path."""
        return str(self.file)

    @property
    def max_retries(self) -> int:
        """A recording that failed is not retried into the same file."""
        return 0

    @property
    def confirm_s(self) -> float:
        """A file is recording from its first packet."""
        return 0.0

    def retry_delay_s(self, attempt: int) -> float:
        """Not retried."""
        return 0.0

    def start(self) -> None:
        """Nothing to watch."""

    def stop(self) -> None:
        """Nothing to watch."""

    CREATE_FAILED = "cannot create the file"
    """What :meth:`open` says when the container cannot be started."""

    def container_format(self) -> tuple[str, dict[str, str]]:
        """The muxer and its options for this file (by its extension)."""
        return FILE_FORMATS[self.file.suffix.lower()]

    def open(self, encoder: ProgramEncoder) -> tuple[Any, Any, Any]:
        """Check the disk, then create the file."""
        self._check_disk(starting=True)
        fmt, options = self.container_format()
        try:
            container = av.open(str(self.file), "w", format=fmt, options=options)
            video, audio = _add_streams(container, encoder)
            container.start_encoding()
        except (av.FFmpegError, OSError) as error:
            raise MediaError(
                MediaErrorCode.OUTPUT_FAILED, str(self.file),
                f"{self.CREATE_FAILED} ({getattr(error, 'strerror', None) or error})",
                "pick a folder you can write to",
            ) from None  # fmt: skip
        return container, video, audio

    def check(self, now_s: float) -> None:
        """Stop cleanly (what was written is kept) before the disk fills."""
        if now_s - self._last_check_s >= DISK_CHECK_INTERVAL_S:
            self._last_check_s = now_s
            self._check_disk(starting=False)

    def write(self, container: Any, packet: Any) -> None:
        """Mux to the file."""
        container.mux(packet)

    def failed(self, error: BaseException, went_live: bool) -> Exception:
        """ENOSPC says so; any other write failure stops the recording with what happened."""
        if getattr(error, "errno", None) == errno.ENOSPC:
            return MediaError(
                MediaErrorCode.DISK_FULL, str(self.file),
                "the disk is full; the recording was stopped and what was written is kept",
                "free up space, then record again",
            )  # fmt: skip
        return MediaError(
            MediaErrorCode.OUTPUT_FAILED, str(self.file),
            f"writing the recording failed ({words(error)})",
            "check the disk, then record again",
        )  # fmt: skip

    def _check_disk(self, starting: bool) -> None:
        folder = self.file.parent
        try:
            free = shutil.disk_usage(folder).free
        except FileNotFoundError:
            raise MediaError(
                MediaErrorCode.OUTPUT_FAILED, str(self.file),
                f"the folder {folder} does not exist",
                "pick an existing folder for recordings",
            ) from None  # fmt: skip
        if free >= self.min_free_bytes:
            return
        mib = free / 2**20
        if starting:
            raise MediaError(
                MediaErrorCode.DISK_FULL, str(self.file),
                f"only {mib:.0f} MiB free on the disk; the recording was not started",
                "free up space or record to another disk",
            )  # fmt: skip
        raise MediaError(
            MediaErrorCode.DISK_FULL, str(self.file),
            f"the disk is almost full ({mib:.0f} MiB left); the recording was stopped and "
            "everything recorded so far is kept in the file",
            "free up space, then record again (a new file is started)",
        )  # fmt: skip
