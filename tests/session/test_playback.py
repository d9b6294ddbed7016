"""The host hears the guests: remote audio is mixed and played on a real output (PulseAudio's
null sink), and what is played reaches the echo canceller's reference."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable

import numpy as np
from livekit import rtc

from desktop.media.frames import AudioFrame
from desktop.media.microphone import NO_PROCESSING, MicrophoneSource
from desktop.session.playback import STREAM_CAPACITY_FRAMES, GuestAudioPlayer
from desktop.session.room_session import RoomSession
from tests.fixtures.livekit import LiveKitServer
from tests.participants import Feeder, join


def _dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * 48_000 / samples.size)


@contextlib.asynccontextmanager
async def _hearing_a_guest(
    server: LiveKitServer,
    room: str,
    frequency_hz: float,
    echo_reference: Callable[[AudioFrame], None] | None = None,
) -> AsyncIterator[GuestAudioPlayer]:
    """A host's player on the speaker (the null sink), one guest in the room playing a tone."""
    session = RoomSession()
    guest = await join(server, "guest", room)
    feeder = Feeder()
    player: GuestAudioPlayer | None = None
    try:
        await session.connect(server.ws_url, server.token("host", room))
        assert session.room is not None
        player = GuestAudioPlayer(device=None, echo_reference=echo_reference)
        player.attach(session.room)
        player.start()
        source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.audio(source, frequency_hz=frequency_hz)
        await guest.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("mic", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        for _ in range(150):
            if player.blocks_played > 100:
                break
            await asyncio.sleep(0.1)
        yield player
    finally:
        await feeder.aclose()
        if player is not None:
            await player.aclose()
        await guest.disconnect()
        await session.aclose()


async def test_guest_tone_is_played_on_the_speaker(
    livekit_server: LiveKitServer, unique_room: str, pulse_sink: str
) -> None:
    reference: list[AudioFrame] = []
    # The sink's monitor hears what the "speaker" (the null sink) plays.
    monitor = MicrophoneSource(processing=NO_PROCESSING)
    heard = monitor.frames.subscribe("test", maxsize=10_000)
    try:
        async with _hearing_a_guest(livekit_server, unique_room, 700, reference.append) as player:
            player.set_device(None)  # switching outputs while live keeps the mix going
            monitor.start()
            await asyncio.sleep(2.0)
            monitor.stop()
        samples = np.concatenate([f.data for f in iter(heard.get_nowait, None)])
        assert samples.size > 48_000
        assert abs(_dominant_hz(samples) - 700) < 10
        assert len(reference) > 100
        assert abs(_dominant_hz(np.concatenate([r.data for r in reference[-100:]])) - 700) < 10
    finally:
        await monitor.aclose()


async def test_guests_stay_heard_while_the_studio_loop_is_blocked(
    livekit_server: LiveKitServer, unique_room: str, pulse_sink: str
) -> None:
    """The studio's loop blocked 0.7 s at a time (a slow paint, a heavy handler on a loaded
    laptop): the speaker still plays the guest, because guests' audio is read on its own loop.

    Read on the studio's loop, the guest went silent: the SDK keeps half a second of a guest's
    audio for a reader that does not come, and drops the rest.
    """
    async with _hearing_a_guest(livekit_server, unique_room, 600) as player:
        await asyncio.sleep(1.0)  # the guest's voice has arrived and flows
        played, dry = player.blocks_played, player.underruns
        await asyncio.sleep(1.0)
        assert player.underruns - dry <= (player.blocks_played - played) // 10
        played, dry = player.blocks_played, player.underruns
        loop = asyncio.get_running_loop()
        end = loop.time() + 6.0
        while loop.time() < end:
            time.sleep(0.7)  # the loop is blocked ...
            await asyncio.sleep(0.005)  # ... and free for a moment
        new_blocks, new_dry = player.blocks_played - played, player.underruns - dry
        assert new_blocks >= 50, new_blocks  # the speaker kept asking (a loaded machine slows it)
        assert new_dry <= new_blocks // 10, f"{new_dry} of {new_blocks} blocks were silence"


BUSY_S = 10.0


def _queued_audio_events() -> int:
    """Audio frames the SDK delivered and nobody has read yet (they live until read)."""
    gc.collect()
    return sum(type(o) is rtc.AudioFrameEvent for o in gc.get_objects())


async def test_a_busy_loop_does_not_pile_up_guest_audio(
    livekit_server: LiveKitServer, unique_room: str, pulse_sink: str
) -> None:
    """A studio whose loop is busy (video, tiles, the program) must not keep every late frame.

    Found by the studio soak: with the loop stalling now and then, the old mixer took one block
    per guest per round and fell further behind each second; the frames it had not read stayed
    in memory (about 300 a second with four guests).
    """
    session = RoomSession()
    guests = [await join(livekit_server, f"guest-{i}", unique_room) for i in range(3)]
    feeder = Feeder()
    player: GuestAudioPlayer | None = None
    try:
        await session.connect(livekit_server.ws_url, livekit_server.token("host", unique_room))
        assert session.room is not None
        player = GuestAudioPlayer(device=None)
        player.attach(session.room)
        player.start()
        for i, guest in enumerate(guests):
            source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
            feeder.audio(source, frequency_hz=500 + 200 * i)
            await guest.local_participant.publish_track(
                rtc.LocalAudioTrack.create_audio_track("mic", source),
                rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
            )
        for _ in range(100):
            if player.blocks_played > 100 and len(player._readers) == 3:
                break
            await asyncio.sleep(0.1)
        backlog: list[int] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + BUSY_S
        while loop.time() < end:
            time.sleep(0.06)  # the loop is busy for 60 ms ...
            await asyncio.sleep(0.01)  # ... then free for 10 ms
            if len(backlog) < int(BUSY_S - (end - loop.time())):
                backlog.append(_queued_audio_events())
        played, dry = player.blocks_played, player.underruns
        assert max(backlog[2:]) <= 3 * STREAM_CAPACITY_FRAMES + 50, backlog
        assert backlog[-1] <= backlog[2] + 50, f"guest audio piles up: {backlog}"
        # And the guests are still heard: what the speaker takes next has their voices in it.
        for _ in range(100):
            if player.blocks_played - played >= 20:
                break
            await asyncio.sleep(0.1)
        new_blocks = player.blocks_played - played
        assert new_blocks >= 20
        assert player.underruns - dry <= new_blocks // 2
    finally:
        await feeder.aclose()
        if player is not None:
            await player.aclose()
        for guest in guests:
            await guest.disconnect()
        await session.aclose()
