"""Through a room (the real livekit-server): glass to glass, start-up, memory over a long run."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from livekit import rtc

from benchmarks.common import CpuClock, Row, percentile, rss_mib
from desktop.media.frames import monotonic_us
from desktop.media.synthetic import SyntheticCamera, SyntheticScreen, decode_stamp
from desktop.session.publisher import PublishDefaults
from desktop.session.room_session import RoomSession
from tests.fixtures.livekit import LiveKitServer, start_server, stop_server


def start_livekit() -> LiveKitServer:
    """Start the real server (built by scripts/setup) on free loopback ports."""
    return start_server(Path(tempfile.mkdtemp(prefix="bench-livekit-")))


def stop_livekit(server: LiveKitServer) -> None:
    """Stop it by its PID."""
    stop_server(server)


async def glass_to_glass(server: LiveKitServer, duration_s: float) -> list[Row]:
    """2. Synthetic camera stamp → viewer decodes it: latency, delivered fps, host CPU."""
    room_name = f"bench-{time.monotonic_ns()}"
    host = RoomSession(defaults=PublishDefaults(width=640, height=360, fps=30))
    camera = SyntheticCamera(640, 360, 30)
    camera.start()
    viewer = rtc.Room()
    latencies_ms: list[float] = []
    received = 0
    try:
        await host.connect(server.ws_url, server.token("host", room_name))
        got_track: asyncio.Future[rtc.Track] = asyncio.get_running_loop().create_future()

        def on_track(track: rtc.Track, *_: object) -> None:
            if not got_track.done():
                got_track.set_result(track)

        viewer.on("track_subscribed", on_track)
        await viewer.connect(server.ws_url, server.token("viewer", room_name))
        await host.publish_camera(camera)
        track = await asyncio.wait_for(got_track, 20)
        stream = rtc.VideoStream(track, format=rtc.VideoBufferType.I420)
        clock = CpuClock()

        async def read() -> None:
            nonlocal received
            async for event in stream:
                frame = event.frame
                luma = np.frombuffer(frame.data, np.uint8)[: frame.width * frame.height]
                _, sent_ms = decode_stamp(luma.reshape(frame.height, frame.width))
                now_ms = (monotonic_us() // 1000) & 0xFFFFFFFF
                latencies_ms.append(float((now_ms - sent_ms) & 0xFFFFFFFF))
                received += 1

        reader = asyncio.ensure_future(read())
        await asyncio.sleep(duration_s)
        cpu = clock.cpu_per_wall()
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await stream.aclose()
    finally:
        await viewer.disconnect()
        await host.aclose()
        camera.stop()
    steady = latencies_ms[len(latencies_ms) // 5 :]  # leave out the first keyframe's wait
    return [
        Row(
            "glass-to-glass",
            "latency p50, ms",
            percentile(steady, 50),
            notes="camera stamp → decoded at a viewer, through livekit-server on 127.0.0.1",
        ),  # fmt: skip
        Row("glass-to-glass", "latency p95, ms", percentile(steady, 95)),
        Row("glass-to-glass", "delivered fps", received / duration_s, target="≈ 30"),
        Row(
            "glass-to-glass",
            "process CPU (host + viewer), % core",
            cpu * 100,
            notes="host and viewer share this process",
        ),  # fmt: skip
    ]


def startup(server: LiveKitServer) -> list[Row]:
    """7. Launch → first preview frame (studio), and launch → connected + publishing."""
    import os

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        shot = f"{tmp}/shot.png"
        subprocess.run(
            [sys.executable, "-m", "desktop", "--synthetic-devices", "--quit-after-s", "2",
             "--screenshot", shot], env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        frames = json.loads(Path(shot + ".json").read_text())[0]["frames"]
    window_s = time.monotonic() - started
    # The window's first frame: it ran 2 s and painted `frames` at ~30 fps.
    first_frame_s = window_s - 2.0 + 1 / 30 if frames else float("nan")
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop", "headless", "--url", server.ws_url,
         "--token", server.token("startup", f"bench-start-{time.monotonic_ns()}"),
         "--duration", "30"], stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    publishing_s = float("nan")
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        if event.get("connection") == "connected" and len(event.get("local_tracks", [])) >= 2:
            publishing_s = time.monotonic() - started
            break
    proc.terminate()
    proc.wait(timeout=20)
    return [
        Row(
            "start-up",
            "launch → first preview frame, s",
            first_frame_s,
            notes="Python start, Qt, devices; measured from outside the process",
        ),  # fmt: skip
        Row("start-up", "launch → connected + publishing, s", publishing_s),
    ]


async def memory(server: LiveKitServer, duration_s: float) -> list[Row]:
    """6. RSS over a long publish: screen share toggled every 10 s, a guest every 20 s."""
    room_name = f"bench-mem-{time.monotonic_ns()}"
    host = RoomSession(defaults=PublishDefaults(width=640, height=360, fps=30))
    camera = SyntheticCamera(640, 360, 30)
    camera.start()
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    try:
        await host.connect(server.ws_url, server.token("host", room_name))
        await host.publish_camera(camera)
        guest: rtc.Room | None = None
        screen: SyntheticScreen | None = None
        step = 0
        toggle_s = min(10.0, duration_s / 6)
        while time.monotonic() - start < duration_s:
            await asyncio.sleep(toggle_s)
            step += 1
            if screen is None:
                screen = SyntheticScreen(1280, 720, 15)
                screen.start()
                await host.publish_screen(screen)
            else:
                await host.stop_screen_share()
                screen.stop()
                screen = None
            if step % 2 == 0:
                if guest is None:
                    guest = rtc.Room()
                    await guest.connect(server.ws_url, server.token(f"g{step}", room_name))
                else:
                    await guest.disconnect()
                    guest = None
            if screen is None:
                # Sampled with the share off only: a sample with the share on carries its ~40 MB
                # of frames and encoder, which would read as growth or shrinkage.
                samples.append((time.monotonic() - start, rss_mib()))
        if guest is not None:
            await guest.disconnect()
        if screen is not None:
            screen.stop()
    finally:
        await host.aclose()
        camera.stop()
    warm = [rss for t, rss in samples if t >= duration_s * 0.3] or [rss_mib()]
    # Median of the first and last three samples after warm-up: one noisy sample (a GC, a
    # guest's buffers mid-join) does not decide the figure.
    first, last = statistics.median(warm[:3]), statistics.median(warm[-3:])
    growth = 100 * (last - first) / first
    return [
        Row("memory", "RSS after warm-up, MiB", first),
        Row(
            "memory",
            "RSS growth after warm-up, %",
            growth,
            target="< 5 %",
            met=growth < 5,
            notes=f"{duration_s:g} s run; the issue's figure is for 10 min",
        ),  # fmt: skip
    ]


__all__ = ["glass_to_glass", "memory", "start_livekit", "startup", "stop_livekit"]
