"""The program's sound: the host's microphone and every guest on stage, mixed on a clock.

Each input pushes its blocks (any rate, any channel count) whenever they arrive; they are made
mono 48 kHz and kept in a short per-input buffer. The program's audio thread pulls one block at
a time on its own clock: an input with nothing buffered (a stalled guest, a microphone hiccup)
contributes silence for that block instead of holding the mix up, and an input that runs ahead
loses its oldest samples so latency stays bounded. The sum goes through a limiter — gain drops
at once on a peak and recovers slowly — so two loud voices never clip or wrap around.
"""

from __future__ import annotations

import collections
import math
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from desktop.media.frames import AudioFrame

MIX_RATE_HZ = 48_000
BLOCK_SAMPLES = MIX_RATE_HZ // 100
"""One mix block: 10 ms."""
MAX_BUFFER_S = 0.2
"""An input further ahead than this loses its oldest samples."""
LIMIT_DBFS = -1.0
"""The mix never goes above this peak level."""
RELEASE_S = 0.25
"""How fast the limiter's gain recovers after a peak."""
SILENT_DBFS = -120.0


@dataclass(frozen=True, slots=True)
class InputLevel:
    """How loud one input was in the last mixed block, and how often it ran dry."""

    peak_dbfs: float
    """Peak of the last block after gain (``SILENT_DBFS`` for silence or muted)."""
    gain: float
    """Linear gain applied."""
    muted: bool
    """Whether the input is muted (contributes nothing)."""
    starved_blocks: int
    """Blocks it had nothing buffered for (a stalled source)."""


def to_mono_48k(frame: AudioFrame) -> npt.NDArray[np.float32]:
    """A block as mono float samples in [-1, 1) at 48 kHz (channels averaged, rate converted)."""
    data = frame.data.astype(np.float32) / 32768.0
    if frame.num_channels > 1:
        data = data.reshape(-1, frame.num_channels).mean(axis=1)
    if frame.sample_rate_hz != MIX_RATE_HZ:
        count = data.shape[0] * MIX_RATE_HZ // frame.sample_rate_hz
        positions = np.linspace(0, data.shape[0] - 1, count)
        data = np.interp(positions, np.arange(data.shape[0]), data).astype(np.float32)
    return data


class _Input:
    def __init__(self, gain: float, muted: bool) -> None:
        self.gain = gain
        self.muted = muted
        self.chunks: collections.deque[npt.NDArray[np.float32]] = collections.deque()
        self.buffered = 0
        self.starved = 0
        self.peak = 0.0


class AudioMixer:
    """Mixes named inputs into 10 ms mono 48 kHz int16 blocks with a limiter.

    Thread-safe: inputs push from their own threads or the event loop; one thread mixes.
    Blocks pushed for an id that is not an input (a guest backstage) are dropped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inputs: dict[str, _Input] = {}
        self._gain = 1.0
        self._limit = 10 ** (LIMIT_DBFS / 20)
        self._release = 1 - math.exp(-BLOCK_SAMPLES / (RELEASE_S * MIX_RATE_HZ))
        self.limited_blocks = 0
        """Blocks in which the limiter reduced the level."""
        self.dry = False
        """Whether the last block had inputs but none of them had anything buffered."""

    def set_input(self, input_id: str, gain: float = 1.0, muted: bool = False) -> None:
        """Add an input or change its gain (linear) and mute; its buffer is kept."""
        with self._lock:
            current = self._inputs.get(input_id)
            if current is None:
                self._inputs[input_id] = _Input(gain, muted)
            else:
                current.gain, current.muted = gain, muted
                if muted:
                    current.chunks.clear()
                    current.buffered = 0

    def remove_input(self, input_id: str) -> None:
        """Take an input out of the mix (what it had buffered is dropped)."""
        with self._lock:
            self._inputs.pop(input_id, None)

    def inputs(self) -> list[str]:
        """Ids of the inputs in the mix."""
        with self._lock:
            return list(self._inputs)

    def push(self, input_id: str, frame: AudioFrame) -> None:
        """Hand a block of an input to the mix (ignored for unknown or muted inputs)."""
        samples = to_mono_48k(frame)
        with self._lock:
            entry = self._inputs.get(input_id)
            if entry is None or entry.muted:
                return
            entry.chunks.append(samples)
            entry.buffered += samples.shape[0]
            excess = entry.buffered - int(MAX_BUFFER_S * MIX_RATE_HZ)
            while excess > 0 and entry.chunks:
                head = entry.chunks[0]
                if head.shape[0] <= excess:
                    entry.chunks.popleft()
                    entry.buffered -= head.shape[0]
                    excess -= head.shape[0]
                else:
                    entry.chunks[0] = head[excess:]
                    entry.buffered -= excess
                    excess = 0

    def mix(self, samples: int = BLOCK_SAMPLES) -> npt.NDArray[np.int16]:
        """The next ``samples`` of the mix; silence where inputs have nothing buffered."""
        total = np.zeros(samples, np.float32)
        fed = False
        with self._lock:
            for entry in self._inputs.values():
                if entry.muted:
                    entry.peak = 0.0
                    continue
                block = self._take(entry, samples)
                if block is None:
                    entry.starved += 1
                    entry.peak = 0.0
                    continue
                block *= entry.gain
                entry.peak = float(np.max(np.abs(block))) if block.size else 0.0
                total += block
                fed = True
            self.dry = bool(self._inputs) and not fed
        return self._limited(total)

    def levels(self) -> dict[str, InputLevel]:
        """Each input's level in the last block."""
        with self._lock:
            return {
                key: InputLevel(
                    20 * math.log10(e.peak) if e.peak > 0 else SILENT_DBFS,
                    e.gain,
                    e.muted,
                    e.starved,
                )  # fmt: skip
                for key, e in self._inputs.items()
            }

    @staticmethod
    def _take(entry: _Input, samples: int) -> npt.NDArray[np.float32] | None:
        if entry.buffered <= 0:
            return None
        out = np.zeros(samples, np.float32)
        filled = 0
        while filled < samples and entry.chunks:
            head = entry.chunks[0]
            n = min(samples - filled, head.shape[0])
            out[filled : filled + n] = head[:n]
            filled += n
            if n == head.shape[0]:
                entry.chunks.popleft()
            else:
                entry.chunks[0] = head[n:]
            entry.buffered -= n
        return out

    def _limited(self, total: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
        peak = float(np.max(np.abs(total))) if total.size else 0.0
        target = min(1.0, self._limit / peak) if peak > 0 else 1.0
        start = self._gain
        if target < start:
            end = target  # attack at once: this very block is brought under the limit
        else:
            end = start + (target - start) * self._release
        ramp = np.linspace(start, end, total.shape[0], dtype=np.float32)
        # Per sample, never above the limit even where the ramp is still high.
        safe = self._limit / np.maximum(np.abs(total), 1e-9)
        gains = np.minimum(ramp, safe)
        if target < 1.0:
            self.limited_blocks += 1
        self._gain = end
        out = total * gains * 32767.0
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)
