"""Guests for the remote-tiles benchmark, in their own process so their encoders' CPU is not
counted as the studio's: ``python -m benchmarks.guests URL ROOM COUNT`` with tokens on stdin.

Each guest publishes a stamped synthetic camera (960x540 at 30 fps, simulcast: 320x180, 640x360
and 960x540 layers) until stdin closes. Not 640x360: for a 640x360 source this SDK sends both of
its simulcast layers ("q" and "h") at 640x360 (read from the publisher's outbound RTP stats), so
there would be no small layer for a small tile to ask for.
"""

from __future__ import annotations

import asyncio
import sys

from livekit import rtc

from desktop.media.synthetic import SyntheticCamera

WIDTH, HEIGHT, FPS = 960, 540, 30.0


async def _guest(url: str, token: str, stop: asyncio.Event) -> None:
    room = rtc.Room()
    await room.connect(url, token)
    source = rtc.VideoSource(WIDTH, HEIGHT)
    track = rtc.LocalVideoTrack.create_video_track("camera", source)
    encoding = rtc.VideoEncoding(max_bitrate=800_000, max_framerate=FPS)
    options = rtc.TrackPublishOptions(
        source=rtc.TrackSource.SOURCE_CAMERA, simulcast=True, video_encoding=encoding
    )
    await room.local_participant.publish_track(track, options)
    camera = SyntheticCamera(WIDTH, HEIGHT, FPS)
    loop = asyncio.get_running_loop()
    next_s = loop.time()
    sequence = 0
    try:
        while not stop.is_set():
            source.capture_frame(camera.make_frame(sequence, 0).to_livekit())
            sequence += 1
            next_s += 1 / FPS
            await asyncio.sleep(max(0.0, next_s - loop.time()))
    finally:
        await room.disconnect()
        await source.aclose()


async def _main(url: str, tokens: list[str]) -> None:
    stop = asyncio.Event()
    guests = [asyncio.ensure_future(_guest(url, token, stop)) for token in tokens]
    print("publishing", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes
    stop.set()
    await asyncio.gather(*guests, return_exceptions=True)


if __name__ == "__main__":
    url, count = sys.argv[1], int(sys.argv[2])
    tokens = [sys.stdin.readline().strip() for _ in range(count)]
    asyncio.run(_main(url, tokens))
