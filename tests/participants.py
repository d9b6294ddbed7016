"""Helpers for driving real SDK participants (guests, viewers) against a LiveKit server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from livekit import rtc

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone, decode_stamp
from tests.fixtures.livekit import CONNECT_TIMEOUT_S
from tests.waiting import wait_for as wait_for  # most tests import it from here


class TokenIssuer(Protocol):
    """A LiveKit server a test can mint tokens for (the real one, or the egress double)."""

    @property
    def ws_url(self) -> str:
        """Signal URL."""
        ...

    @property
    def token(self) -> Callable[..., str]:
        """Mints an access token: ``token(identity, room, **grants)``."""
        ...


async def join(server: TokenIssuer, identity: str, room_name: str, **grants: Any) -> rtc.Room:
    """Connect a real SDK participant."""
    room = rtc.Room()
    await room.connect(
        server.ws_url,
        server.token(identity, room_name, **grants),
        rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S),
    )
    return room


class Feeder:
    """Pushes synthetic frames into SDK sources until stopped."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []

    def video(self, source: rtc.VideoSource, width: int, height: int, fps: float = 20) -> None:
        """Feed stamped colour bars."""
        camera = SyntheticCamera(width, height, fps)

        async def run() -> None:
            sequence = 0
            while True:
                source.capture_frame(camera.make_frame(sequence, 0).to_livekit())
                sequence += 1
                await asyncio.sleep(1 / fps)

        self.tasks.append(asyncio.ensure_future(run()))

    def audio(self, source: rtc.AudioSource, frequency_hz: float = 440.0) -> None:
        """Feed a tone in real time."""
        mic = SyntheticMicrophone(frequency_hz=frequency_hz, level_dbfs=-10)

        async def run() -> None:
            while True:
                await source.capture_frame(mic.make_block(0).to_livekit())

        self.tasks.append(asyncio.ensure_future(run()))

    async def aclose(self) -> None:
        """Stop feeding."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def read_video_stamps(track: rtc.Track, count: int, timeout_s: float = 20.0) -> list[int]:
    """Read ``count`` frames of a remote video track and decode their frame counters.

    A frame with the same counter as the one just before is not counted again: when the SFU
    switches a subscriber between simulcast layers it can deliver one capture from both (CI
    saw ``[11, 11, 12, ...]``). A stream that stops moving still times out, and a counter
    that goes backwards is still recorded.
    """
    stream = rtc.VideoStream(track, format=rtc.VideoBufferType.I420)
    stamps: list[int] = []

    async def read() -> None:
        async for event in stream:
            frame = event.frame
            luma = np.frombuffer(frame.data, np.uint8)[: frame.width * frame.height]
            stamp = decode_stamp(luma.reshape(frame.height, frame.width))[0]
            if stamps and stamp == stamps[-1]:
                continue
            stamps.append(stamp)
            if len(stamps) >= count:
                return

    try:
        await asyncio.wait_for(read(), timeout_s)
    finally:
        await stream.aclose()
    return stamps


async def read_audio_peak(track: rtc.Track, blocks: int = 50, timeout_s: float = 20.0) -> float:
    """Read some audio of a remote track and return its peak (0..1 of full scale)."""
    stream = rtc.AudioStream(track, sample_rate=48_000, num_channels=1)
    peak = 0.0
    seen = 0

    async def read() -> None:
        nonlocal peak, seen
        async for event in stream:
            samples = np.frombuffer(event.frame.data, np.int16)
            peak = max(peak, float(np.abs(samples.astype(np.int32)).max()) / 32768)
            seen += 1
            if seen >= blocks:
                return

    try:
        await asyncio.wait_for(read(), timeout_s)
    finally:
        await stream.aclose()
    return peak


UNMUTE_REQUEST_TOPIC = "spaces.stage.unmute-request"
UNMUTE_ANSWER_TOPIC = "spaces.stage.unmute-answer"


def accept_unmute_requests(room: rtc.Room, accept: bool = True) -> list[dict[str, Any]]:
    """Make an SDK guest answer "ask to unmute" as docs/stage-control.md says a client should.

    Written from the documented protocol only (no studio code): on a reliable data message on
    the request topic with ``type == "unmute_request"``, unmute the local track of the asked
    ``source`` (or decline) and answer on the answer topic (answering needs ``canPublishData``;
    a failed answer is kept in the request as ``answerError``). Returns the requests seen.
    """
    seen: list[dict[str, Any]] = []
    sources = {
        "microphone": rtc.TrackSource.SOURCE_MICROPHONE,
        "camera": rtc.TrackSource.SOURCE_CAMERA,
    }

    async def answer(request: dict[str, Any]) -> None:
        wanted = sources.get(str(request.get("source", "microphone")))
        publication = next(
            (
                p
                for p in room.local_participant.track_publications.values()
                if p.source == wanted and p.track is not None
            ),
            None,
        )
        accepted = accept and publication is not None
        if accepted and publication is not None and publication.track is not None:
            publication.track.unmute()
        reply = {
            "type": "unmute_answer",
            "version": 1,
            "requestId": request["requestId"],
            "accepted": accepted,
            "reason": "" if accepted else "declined by the guest",
        }
        try:
            await room.local_participant.publish_data(
                json.dumps(reply), reliable=True, topic=UNMUTE_ANSWER_TOPIC
            )
        except Exception as exc:  # e.g. no canPublishData: the test can see why
            request["answerError"] = f"{type(exc).__name__}: {exc}"

    def received(packet: rtc.DataPacket) -> None:
        if packet.topic != UNMUTE_REQUEST_TOPIC:
            return
        request = json.loads(packet.data)
        if request.get("type") != "unmute_request":
            return
        seen.append(request)
        asyncio.ensure_future(answer(request))

    room.on("data_received", received)
    return seen


async def publish_camera_and_mic(room: rtc.Room, feeder: Feeder) -> None:
    """Publish a stamped 320x180 camera at 15 fps and a tone from ``room``'s participant."""
    camera = rtc.VideoSource(320, 180)
    mic = rtc.AudioSource(48_000, 1, queue_size_ms=100)
    feeder.video(camera, 320, 180, fps=15)
    feeder.audio(mic)
    await room.local_participant.publish_track(
        rtc.LocalVideoTrack.create_video_track("camera", camera),
        rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
    )
    await room.local_participant.publish_track(
        rtc.LocalAudioTrack.create_audio_track("mic", mic),
        rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
    )
