"""Microphones through sounddevice (PortAudio), as 48 kHz mono 10 ms blocks, cleaned by WebRTC.

PortAudio calls back on its own real-time thread; that callback only copies the block into a
queue. The ``bc-microphone-capture`` thread resamples (when the device cannot do 48 kHz), cuts
10 ms blocks and runs WebRTC's audio processing (echo cancellation, noise suppression, automatic
gain, high-pass) before publishing, so no heavy work ever runs inside the audio callback.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from desktop.media import portaudio
from desktop.media.base import SourceKind
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.frames import AudioFrame, monotonic_us
from desktop.media.threaded import ThreadedSource
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    from livekit import rtc
else:
    rtc = lazy_module("livekit.rtc")

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 48_000
BLOCK_S = 0.01
SILENT_DEVICE_TIMEOUT_S = 2.0
"""No audio at all from the device for this long means it is gone."""
START_TIMEOUT_S = 6.0
"""A device just opened may take longer to deliver its first block (sound servers warm up)."""
_CALLBACK_QUEUE_BLOCKS = 50  # half a second of device blocks before we start dropping


def import_sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a clear error.

    Raises:
        MediaError: PortAudio is not installed.
    """
    try:
        import sounddevice
    except OSError as exc:  # "PortAudio library not found"
        raise MediaError(
            MediaErrorCode.LIBRARY_MISSING,
            "microphone",
            "the PortAudio library is missing",
            "install it (Debian/Ubuntu: apt install libportaudio2; run ./scripts/setup)",
        ) from exc
    return sounddevice


@dataclass(frozen=True, slots=True)
class AudioProcessing:
    """Which WebRTC audio processing runs on the microphone."""

    echo_cancellation: bool = True
    """Remove what the speakers play (the guests) from the microphone signal."""
    noise_suppression: bool = True
    """Suppress steady background noise (fans, hum)."""
    auto_gain_control: bool = True
    """Keep the voice level steady."""
    high_pass_filter: bool = True
    """Remove rumble below the voice range."""

    @property
    def any(self) -> bool:
        """Whether any processing is on."""
        return (
            self.echo_cancellation
            or self.noise_suppression
            or self.auto_gain_control
            or self.high_pass_filter
        )


NO_PROCESSING = AudioProcessing(False, False, False, False)
"""Raw microphone signal (measurements, music)."""


class MicrophoneSource(ThreadedSource[AudioFrame]):
    """A microphone captured as 10 ms blocks of 48 kHz mono int16, optionally processed.

    Args:
        device: PortAudio device index or (part of) its name; ``None`` for the system default.
        processing: WebRTC audio processing to apply.
        device_sample_rate_hz: Open the device at this rate instead of 48 kHz (the blocks are
            resampled to 48 kHz); ``None`` tries 48 kHz and falls back to the device's own rate.
        name: Name shown to the user.
    """

    def __init__(
        self,
        device: int | str | None = None,
        processing: AudioProcessing = AudioProcessing(),
        device_sample_rate_hz: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(
            name or (f"microphone {device}" if device is not None else "microphone"),
            SourceKind.MICROPHONE,
        )
        self.device = device
        self._device_rate_hz = device_sample_rate_hz
        self._opened_rate_hz = 0
        self._processing = processing
        self._apm: rtc.AudioProcessingModule | None = None
        self._apm_lock = threading.Lock()
        self._stream: Any = None
        self._blocks: queue.Queue[npt.NDArray[np.int16]] = queue.Queue(_CALLBACK_QUEUE_BLOCKS)
        self._resampler: rtc.AudioResampler | None = None
        self._pending = np.zeros(0, np.int16)
        self._sequence = 0
        self._samples_out = 0
        self._start_us = 0
        self.overflows = 0
        """Device blocks dropped because capture fell behind (or PortAudio reported overflow)."""

    @property
    def sample_rate_hz(self) -> int:
        """Always 48 kHz: what LiveKit's Opus path wants."""
        return SAMPLE_RATE_HZ

    @property
    def num_channels(self) -> int:
        """Always mono."""
        return 1

    @property
    def device_sample_rate_hz(self) -> int:
        """The rate the device was opened at (after ``start``)."""
        return self._opened_rate_hz

    @property
    def processing(self) -> AudioProcessing:
        """The audio processing in effect."""
        return self._processing

    def set_processing(self, processing: AudioProcessing) -> None:
        """Switch audio processing on or off while capturing."""
        with self._apm_lock:
            self._processing = processing
            self._apm = self._make_apm(processing)

    def feed_playback(self, frame: AudioFrame) -> None:
        """Give the echo canceller what the speakers play (10 ms blocks at 48 kHz).

        Call it with every block sent to the output device, so guests never hear themselves.
        """
        with self._apm_lock:
            if self._apm is not None and self._processing.echo_cancellation:
                self._apm.process_reverse_stream(frame.to_livekit())

    @staticmethod
    def _make_apm(processing: AudioProcessing) -> rtc.AudioProcessingModule | None:
        if not processing.any:
            return None
        return rtc.AudioProcessingModule(
            echo_cancellation=processing.echo_cancellation,
            noise_suppression=processing.noise_suppression,
            high_pass_filter=processing.high_pass_filter,
            auto_gain_control=processing.auto_gain_control,
        )

    def _open(self) -> None:
        sd = import_sounddevice()
        try:
            info = sd.query_devices(self.device, "input")
        except ValueError as exc:
            raise MediaError(
                MediaErrorCode.DEVICE_NOT_FOUND,
                self.name,
                "there is no such microphone",
                "run 'broadcaster devices' to see the microphones, or use the synthetic one",
            ) from exc
        except sd.PortAudioError as exc:
            raise MediaError(
                MediaErrorCode.DEVICE_NOT_FOUND,
                self.name,
                f"no microphone available ({exc})",
                "connect a microphone or use the synthetic one",
            ) from exc
        rates = [self._device_rate_hz] if self._device_rate_hz else [SAMPLE_RATE_HZ]
        default_rate = int(info.get("default_samplerate") or 0)
        if not self._device_rate_hz and default_rate and default_rate != SAMPLE_RATE_HZ:
            rates.append(default_rate)
        last_error: Exception | None = None
        self._blocks = queue.Queue(_CALLBACK_QUEUE_BLOCKS)
        for rate in rates:
            stream = None
            try:
                stream = sd.InputStream(
                    device=self.device,
                    samplerate=rate,
                    channels=1,
                    dtype="int16",
                    blocksize=int(rate * BLOCK_S),
                    latency="low",
                    callback=self._on_block,
                )
                portaudio.register(stream, f"microphone {self.name}")
                stream.start()
            except sd.PortAudioError as exc:
                if stream is not None:
                    portaudio.close(stream)
                last_error = exc
                logger.info("%s cannot open at %d Hz: %s", self.name, rate, exc)
                continue
            self._stream = stream
            self._opened_rate_hz = rate
            break
        else:
            text = str(last_error)
            code = (
                MediaErrorCode.UNSUPPORTED_FORMAT
                if "sample rate" in text.lower()
                else MediaErrorCode.DEVICE_BUSY
            )
            raise MediaError(
                code,
                self.name,
                f"could not be opened ({text})",
                "close other apps using it, or pick another microphone",
            )
        self._resampler = (
            rtc.AudioResampler(self._opened_rate_hz, SAMPLE_RATE_HZ, num_channels=1)
            if self._opened_rate_hz != SAMPLE_RATE_HZ
            else None
        )
        with self._apm_lock:
            self._apm = self._make_apm(self._processing)
        self._pending = np.zeros(0, np.int16)
        self._sequence = 0
        self._samples_out = 0
        self._start_us = monotonic_us()
        logger.info("%s opened at %d Hz", self.name, self._opened_rate_hz)

    def _on_block(self, indata: Any, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's real-time thread: copy and hand over, nothing else.
        if status and status.input_overflow:
            self.overflows += 1
        try:
            self._blocks.put_nowait(np.array(indata[:, 0], dtype=np.int16))
        except queue.Full:
            self.overflows += 1

    def _read(self) -> AudioFrame | None:
        block_samples = int(SAMPLE_RATE_HZ * BLOCK_S)
        while self._pending.size < block_samples:
            if self._stop.is_set():
                return None
            timeout_s = SILENT_DEVICE_TIMEOUT_S if self._sequence else START_TIMEOUT_S
            try:
                raw = self._blocks.get(timeout=timeout_s)
            except queue.Empty:
                if self._stop.is_set():
                    return None
                raise MediaError(
                    MediaErrorCode.DEVICE_LOST,
                    self.name,
                    "stopped delivering sound (unplugged or taken by another app)",
                    "reconnect it and start it again, or pick another microphone",
                ) from None
            if self._resampler is not None:
                parts = [
                    np.frombuffer(f.data, np.int16).copy()
                    for f in self._resampler.push(bytearray(raw.tobytes()))
                ]
                raw = np.concatenate(parts) if parts else np.zeros(0, np.int16)
            self._pending = np.concatenate((self._pending, raw))
        samples = np.ascontiguousarray(self._pending[:block_samples])
        self._pending = self._pending[block_samples:]
        with self._apm_lock:
            apm = self._apm
            if apm is not None:
                lk_frame = rtc.AudioFrame(samples.tobytes(), SAMPLE_RATE_HZ, 1, block_samples)
                apm.process_stream(lk_frame)
                samples = np.frombuffer(lk_frame.data, np.int16).copy()
        # Timestamps follow the sample clock so they never jitter with thread scheduling.
        timestamp_us = self._start_us + self._samples_out * 1_000_000 // SAMPLE_RATE_HZ
        self._samples_out += block_samples
        frame = AudioFrame(samples, SAMPLE_RATE_HZ, 1, timestamp_us, self._sequence)
        self._sequence += 1
        return frame

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            portaudio.close(stream)  # the device may already be gone: logged, not raised
