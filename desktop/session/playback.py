"""Hearing the guests: every remote microphone mixed and played on the chosen output device.

What is played is also handed to the microphone's echo canceller as its far-end reference, so
guests never hear themselves come back through the host's microphone. The output device can
change while live; the mix never stops for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop.media import portaudio
from desktop.media.audio_mix import BLOCK_SAMPLES as MIX_BLOCK_SAMPLES
from desktop.media.audio_mix import MIX_RATE_HZ, AudioMixer
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.frames import AudioFrame, monotonic_us
from desktop.media.microphone import import_sounddevice
from desktop.media.pulse import PULSE_DEVICE, routed_to, sink_named
from desktop.session.receive_loop import Reader, ReceiveLoop, close_stream
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    from livekit import rtc
else:
    rtc = lazy_module("livekit.rtc")

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = MIX_RATE_HZ
BLOCK_SAMPLES = MIX_BLOCK_SAMPLES
FRAME_MS = 20
"""The SDK hands over a guest's audio 20 ms at a time: half the events of its 10 ms default."""
STREAM_CAPACITY_FRAMES = 25
"""At most half a second of a guest's audio waits in the SDK's queue; older frames are dropped.

Bounded on purpose: the SDK's own queue is unbounded, so a reader that falls behind (a busy event
loop) used to keep every frame it had not read yet: memory grew for as long as the show ran.
"""


class GuestAudioPlayer:
    """Mixes remote audio tracks of a room and plays them.

    Each guest's track is read as it arrives into the media layer's clocked mixer; the speaker's
    own callback takes one block at a time from it, so the speaker is the clock. A guest who
    stalls is silence for those blocks instead of holding the others up, and nothing queues
    without bound whether a speaker is open or not.

    Args:
        device: PortAudio output device index or name; ``None`` for the system default.
        echo_reference: Called with every block played (``MicrophoneSource.feed_playback``),
            from the speaker's thread.
    """

    def __init__(
        self,
        device: int | str | None = None,
        echo_reference: Callable[[AudioFrame], None] | None = None,
    ) -> None:
        self.device = device
        self.echo_reference = echo_reference
        self._mixer = AudioMixer()
        # Guests' audio is read on its own loop: 50 blocks a second per guest stay off the UI's.
        self._receive: ReceiveLoop | None = None
        self._readers: dict[str, Reader] = {}
        self._output: Any = None
        self._sequence = 0
        self.underruns = 0
        """Speaker callbacks for which no guest had audio buffered (silence was played)."""
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
        if track.kind != rtc.TrackKind.KIND_AUDIO:
            return
        reader = self._readers.get(track.sid)
        if reader is not None and not reader.done:
            return
        if self._receive is None:
            self._receive = ReceiveLoop("bc-receive-audio")
        self._mixer.set_input(track.sid)
        self._readers[track.sid] = self._receive.start(lambda _: self._read(track))

    def remove_track(self, track: rtc.Track) -> None:
        """Stop mixing a track."""
        reader = self._readers.pop(track.sid, None)
        self._mixer.remove_input(track.sid)
        if reader is not None and self._receive is not None:
            asyncio.ensure_future(self._receive.stop(reader))

    async def _read(self, track: rtc.Track) -> None:
        # On the receive loop: the stream is made here, so its events wake this loop only.
        stream = rtc.AudioStream(
            track,
            capacity=STREAM_CAPACITY_FRAMES,
            sample_rate=SAMPLE_RATE_HZ,
            num_channels=1,
            frame_size_ms=FRAME_MS,
        )
        sid, sequence = track.sid, 0
        try:
            async for event in stream:
                frame = event.frame
                samples = np.frombuffer(frame.data, np.int16)
                self._mixer.push(
                    sid, AudioFrame(samples, frame.sample_rate, frame.num_channels, 0, sequence)
                )
                sequence += 1
            self._mixer.remove_input(sid)  # the track ended: its buffer goes with it
        finally:
            await close_stream(stream, f"{sid}'s audio")

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
        output = None
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
                portaudio.register(output, f"speaker {self.device}")
                output.start()
        except (ValueError, sd.PortAudioError) as exc:
            if output is not None:
                portaudio.close(output)
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
            portaudio.close(old)

    def _on_speaker(self, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        # PortAudio's real-time thread: the next block of the mix, silence where nobody spoke.
        block = self._mixer.mix(frames)
        outdata[:, 0] = block
        self.blocks_played += 1
        if self._mixer.dry:
            self.underruns += 1
        if self.echo_reference is not None:
            try:
                self.echo_reference(
                    AudioFrame(block, SAMPLE_RATE_HZ, 1, monotonic_us(), self._sequence)
                )
            except Exception:
                logger.exception("echo reference failed")
        self._sequence += 1

    async def aclose(self) -> None:
        """Stop playing and release the device."""
        if self._output is not None:
            portaudio.close(self._output)
            self._output = None
        readers, self._readers = list(self._readers.items()), {}
        for sid, _ in readers:
            self._mixer.remove_input(sid)
        receive, self._receive = self._receive, None
        if receive is not None:
            await receive.aclose()  # cancels every reader; each closes its stream
