"""Hearing the guests: every remote microphone mixed and played on the chosen output device.

What is played is also handed to the microphone's echo canceller as its far-end reference, so
guests never hear themselves come back through the host's microphone. The output device can
change while live; the mix never stops for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from livekit import rtc

from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.fanout import FrameQueue
from desktop.media.frames import AudioFrame, monotonic_us
from desktop.media.microphone import import_sounddevice
from desktop.media.pulse import PULSE_DEVICE, routed_to, sink_named

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 48_000
BLOCK_SAMPLES = 480
PLAYOUT_BLOCKS = 10
"""At most 100 ms queued for the speaker: late audio is dropped, not delayed."""


async def _frames(stream: rtc.AudioStream) -> AsyncIterator[rtc.AudioFrame]:
    async for event in stream:
        yield event.frame


class GuestAudioPlayer:
    """Mixes remote audio tracks of a room and plays them.

    Args:
        device: PortAudio output device index or name; ``None`` for the system default.
        echo_reference: Called with every block played (``MicrophoneSource.feed_playback``).
    """

    def __init__(
        self,
        device: int | str | None = None,
        echo_reference: Callable[[AudioFrame], None] | None = None,
    ) -> None:
        self.device = device
        self.echo_reference = echo_reference
        self._mixer = rtc.AudioMixer(
            SAMPLE_RATE_HZ, 1, blocksize=BLOCK_SAMPLES, stream_timeout_ms=30
        )
        self._streams: dict[str, tuple[rtc.AudioStream, AsyncIterator[rtc.AudioFrame]]] = {}
        self._blocks: FrameQueue[np.ndarray] = FrameQueue("speaker", maxsize=PLAYOUT_BLOCKS)
        self._output: Any = None
        self._task = asyncio.ensure_future(self._mix())
        self.underruns = 0
        """Speaker callbacks that found nothing to play (silence was played)."""
        self.blocks_played = 0
        """Blocks handed to the speaker."""

    def attach(self, room: rtc.Room) -> None:
        """Play every remote microphone of ``room``, now and as guests come and go."""
        for participant in room.remote_participants.values():
            for publication in participant.track_publications.values():
                if publication.track is not None:
                    self.add_track(publication.track)
        room.on("track_subscribed", lambda track, *_: self.add_track(track))
        room.on("track_unsubscribed", lambda track, *_: self.remove_track(track))

    def add_track(self, track: rtc.Track) -> None:
        """Start mixing a remote audio track (video tracks are ignored)."""
        if track.kind != rtc.TrackKind.KIND_AUDIO or track.sid in self._streams:
            return
        stream = rtc.AudioStream(track, sample_rate=SAMPLE_RATE_HZ, num_channels=1)
        frames = _frames(stream)
        self._streams[track.sid] = (stream, frames)
        self._mixer.add_stream(frames)

    def remove_track(self, track: rtc.Track) -> None:
        """Stop mixing a track."""
        entry = self._streams.pop(track.sid, None)
        if entry is not None:
            self._mixer.remove_stream(entry[1])
            asyncio.ensure_future(entry[0].aclose())

    def start(self) -> None:
        """Open the output device.

        Raises:
            MediaError: The device does not exist or cannot play 48 kHz mono.
        """
        sd = import_sounddevice()
        device, sink = self.device, None
        if isinstance(device, str) and (found := sink_named(device)) is not None:
            # A speaker the sound server lists (PortAudio does not see it): route "pulse".
            device, sink = PULSE_DEVICE, found
        try:
            with routed_to(sink=sink):
                output = sd.OutputStream(
                    device=device,
                    samplerate=SAMPLE_RATE_HZ,
                    channels=1,
                    dtype="int16",
                    blocksize=BLOCK_SAMPLES,
                    latency="low",
                    callback=self._on_speaker,
                )
                output.start()
        except (ValueError, sd.PortAudioError) as exc:
            raise MediaError(
                MediaErrorCode.DEVICE_NOT_FOUND,
                f"speaker {self.device}",
                f"cannot play on it ({exc})",
                "pick another output",
            ) from exc
        self._output = output

    def set_device(self, device: int | str | None) -> None:
        """Move playback to another output while live (the mix goes on)."""
        old, self._output = self._output, None
        previous = self.device
        self.device = device
        try:
            self.start()
        except MediaError:
            self.device = previous
            self._output = old
            raise
        if old is not None:
            old.stop()
            old.close()

    def _on_speaker(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's real-time thread: copy the next block or play silence.
        block = self._blocks.get_nowait()
        if block is None or block.size != frames:
            outdata.fill(0)
            self.underruns += 1
            return
        outdata[:, 0] = block
        self.blocks_played += 1

    async def _mix(self) -> None:
        sequence = 0
        async for frame in self._mixer:
            samples = np.frombuffer(frame.data, np.int16).copy()
            self._blocks.put(samples)
            if self.echo_reference is not None:
                try:
                    self.echo_reference(
                        AudioFrame(samples, SAMPLE_RATE_HZ, 1, monotonic_us(), sequence)
                    )
                except Exception:
                    logger.exception("echo reference failed")
            sequence += 1

    async def aclose(self) -> None:
        """Stop playing and release the device."""
        if self._output is not None:
            self._output.stop()
            self._output.close()
            self._output = None
        for stream, _ in self._streams.values():
            await stream.aclose()
        self._streams.clear()
        await self._mixer.aclose()
        self._task.cancel()
        self._blocks.close()
