"""Guests for the remote-tiles benchmark, in their own process so their encoders' CPU is not
counted as the studio's: ``python -m benchmarks.guests URL COUNT [--single-layer]`` with tokens
on stdin.

Each guest publishes what a typical guest sends from a laptop's webcam: 1280x720 at 30 fps with
LiveKit's default simulcast, three layers — 320x180 ("q"), 640x360 ("h") and 1280x720 ("f").
The SDK sets the lower layers' frame rates itself (its presets: 15 fps for 180p, 20 fps for
360p; ``TrackPublishOptions`` sets only the top layer's ``video_encoding``). The guests are test
equipment on the same two cores as the viewer, so their picture is cheap to encode: the
pre-rendered colour bars of the synthetic camera with only the stamp rows changing (a moving
part a few rows tall), and resolution is kept under CPU pressure
(``DegradationPreference.MAINTAIN_RESOLUTION``) so a busy machine does not quietly turn the top
layer into a smaller one.

When stdin closes, the process prints one JSON line before it leaves: what its encoders really
sent per layer (read from WebRTC's outbound RTP statistics of every guest: the median size and
frame rate since the warm-up) and its own CPU, so the benchmark can say which layers existed.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any

from livekit import rtc
from livekit.rtc._proto.room_pb2 import DegradationPreference

from desktop.media.synthetic import SyntheticCamera

WIDTH, HEIGHT, FPS = 1280, 720, 30.0
TOP_BITRATE_BPS = 1_700_000
"""LiveKit's own preset for 720p (``H720``)."""
WARM_UP_S = 5.0
"""Left out of the frame rates reported: the encoders' and the bandwidth estimate's ramp."""


async def _outbound(track: rtc.LocalVideoTrack) -> dict[str, tuple[int, int, int]]:
    """rid → (width, height, frames sent so far) from WebRTC's outbound RTP statistics."""
    layers: dict[str, tuple[int, int, int]] = {}
    for stats in await track.get_stats():
        if stats.WhichOneof("stats") == "outbound_rtp":
            rtp = stats.outbound_rtp
            layers[rtp.outbound.rid or "f"] = (
                rtp.outbound.frame_width, rtp.outbound.frame_height, rtp.outbound.frames_sent
            )  # fmt: skip
    return layers


async def _guest(
    url: str, token: str, stop: asyncio.Event, report: list[dict[str, Any]], simulcast: bool = True
) -> None:
    room = rtc.Room()
    await room.connect(url, token)
    source = rtc.VideoSource(WIDTH, HEIGHT)
    track = rtc.LocalVideoTrack.create_video_track("camera", source)
    options = rtc.TrackPublishOptions(
        source=rtc.TrackSource.SOURCE_CAMERA,
        simulcast=simulcast,
        video_encoding=rtc.VideoEncoding(max_bitrate=TOP_BITRATE_BPS, max_framerate=FPS),
        degradation_preference=DegradationPreference.DEGRADATION_PREFERENCE_MAINTAIN_RESOLUTION,
    )
    await room.local_participant.publish_track(track, options)
    camera = SyntheticCamera(WIDTH, HEIGHT, FPS)
    loop = asyncio.get_running_loop()
    started = next_s = loop.time()
    first: tuple[float, dict[str, tuple[int, int, int]]] | None = None
    sequence = 0
    try:
        while not stop.is_set():
            source.capture_frame(camera.make_frame(sequence, 0).to_livekit())
            sequence += 1
            if first is None and loop.time() - started >= WARM_UP_S:
                first = (loop.time(), await _outbound(track))
            next_s += 1 / FPS
            await asyncio.sleep(max(0.0, next_s - loop.time()))
        if first is not None:
            last = await _outbound(track)
            span_s = max(1e-3, loop.time() - first[0])
            report.append({
                rid: (w, h, (sent - first[1].get(rid, (0, 0, 0))[2]) / span_s)
                for rid, (w, h, sent) in last.items()
            })  # fmt: skip
    finally:
        await room.disconnect()
        await source.aclose()


def summary(reports: list[dict[str, Any]], cpu_percent: float) -> dict[str, Any]:
    """Per layer (rid): the median width, height and frames per second over the guests."""
    layers: dict[str, Any] = {}
    for rid in sorted({rid for report in reports for rid in report}):
        sent = [report[rid] for report in reports if rid in report]
        layers[rid] = [statistics.median(values) for values in zip(*sent, strict=True)]
    return {"layers": layers, "guests": len(reports), "cpu_percent": cpu_percent}


async def _main(url: str, tokens: list[str], simulcast: bool = True) -> None:
    stop = asyncio.Event()
    reports: list[dict[str, Any]] = []
    guests = [
        asyncio.ensure_future(_guest(url, token, stop, reports, simulcast)) for token in tokens
    ]
    print("publishing", flush=True)
    cpu_start_s, wall_start_s = time.process_time(), time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes
    cpu = 100 * (time.process_time() - cpu_start_s) / (time.monotonic() - wall_start_s)
    stop.set()
    await asyncio.gather(*guests, return_exceptions=True)
    print(json.dumps(summary(reports, cpu)), flush=True)


if __name__ == "__main__":
    url, count = sys.argv[1], int(sys.argv[2])
    # --single-layer: one 1280x720 layer, no simulcast (a test that needs every guest at 720p
    # on a loaded machine, where the top simulcast layer may be held back).
    single_layer = "--single-layer" in sys.argv[3:]
    tokens = [sys.stdin.readline().strip() for _ in range(count)]
    asyncio.run(_main(url, tokens, simulcast=not single_layer))
