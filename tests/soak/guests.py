"""Guests for soak runs: real SDK participants that publish, chat, and come and go."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from livekit import rtc

from tests.participants import Feeder, TokenIssuer, join

CHAT_TOPIC = "lk.chat"


@dataclass
class GuestStats:
    """What the guests did and saw over a soak."""

    joins: int = 0
    """Connections made (rejoins included)."""
    chats_sent: int = 0
    """Chat lines the guests sent."""
    sent: list[tuple[float, str]] = field(default_factory=list)
    """Each line the guests sent, with the wall-clock time it went out."""
    host_chat: list[str] = field(default_factory=list)
    """Chat lines from the host that reached a guest."""
    errors: list[str] = field(default_factory=list)
    """What went wrong on the guests' side."""


class GuestCrowd:
    """``count`` guests publishing camera and microphone; guest 0 leaves and rejoins.

    Args:
        server: The LiveKit server to join.
        room_name: The room.
        count: How many guests.
        churn_s: Guest 0 leaves and rejoins this often.
        chat_every_s: Each guest sends a chat line this often.
    """

    def __init__(
        self,
        server: TokenIssuer,
        room_name: str,
        count: int = 4,
        churn_s: float = 10.0,
        chat_every_s: float = 10.0,
    ) -> None:
        self._server = server
        self._room_name = room_name
        self._count = count
        self._churn_s = churn_s
        self._chat_every_s = chat_every_s
        self.stats = GuestStats()
        self._rooms: dict[int, tuple[rtc.Room, Feeder]] = {}
        self._task: asyncio.Task[None] | None = None

    async def _join(self, index: int) -> None:
        identity = f"guest-{index}"
        room = await join(self._server, identity, self._room_name, name=f"Guest {index}")
        self.stats.joins += 1

        def on_chat(reader: rtc.TextStreamReader, sender: str) -> None:
            async def read() -> None:
                text = await reader.read_all()
                if sender == "host" or sender.startswith("host"):
                    self.stats.host_chat.append(text)

            asyncio.ensure_future(read())

        if index == 1:  # one listener is enough to count the host's lines once
            room.register_text_stream_handler(CHAT_TOPIC, on_chat)
        feeder = Feeder()
        video = rtc.VideoSource(320, 180)
        audio = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.video(video, 320, 180, fps=15)
        feeder.audio(audio, frequency_hz=300.0 + 100 * index)
        await room.local_participant.publish_track(
            rtc.LocalVideoTrack.create_video_track("camera", video),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
        )
        await room.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("mic", audio),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        self._rooms[index] = (room, feeder)

    async def _leave(self, index: int) -> None:
        room, feeder = self._rooms.pop(index)
        await feeder.aclose()
        await room.disconnect()

    async def start(self) -> None:
        """Join every guest, then churn and chat in the background."""
        for index in range(self._count):
            await self._join(index)
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        next_churn = time.monotonic() + self._churn_s
        next_chat = time.monotonic() + self._chat_every_s
        while True:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            try:
                if now >= next_churn:
                    next_churn += self._churn_s
                    if 0 in self._rooms:
                        await self._leave(0)
                    else:
                        await self._join(0)
                if now >= next_chat:
                    next_chat += self._chat_every_s
                    for index, (room, _) in list(self._rooms.items()):
                        text = f"guest {index} line {self.stats.chats_sent}"
                        await room.local_participant.send_text(text, topic=CHAT_TOPIC)
                        self.stats.sent.append((time.time(), text))
                        self.stats.chats_sent += 1
            except Exception as exc:  # keep churning; the test reads what failed
                self.stats.errors.append(repr(exc))

    async def aclose(self) -> None:
        """Stop churning and leave."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for index in list(self._rooms):
            await self._leave(index)
