"""Ingest, audio and direct-output benchmarks: our pipeline against the obvious one.

Run through ``python -m benchmarks`` (see ``benchmarks/__main__.py``).
"""

from __future__ import annotations

import asyncio
import threading
import time

import cv2
import numpy as np
import numpy.typing as npt
from livekit import rtc

from benchmarks.common import CpuClock, Row, percentile
from desktop.media.fanout import FanOut, FrameQueue
from desktop.media.frames import AudioFrame, PixelFormat, VideoFrame, monotonic_us
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone, SyntheticScreen

CAMERA = (1920, 1080, 30.0)
SCREEN = (1920, 1080, 15.0)


class _Device:
    """A device stand-in delivering what real devices deliver: BGR camera, BGRA screen, PCM mic.

    The frames are rendered once and stamped per frame, so the benchmark measures the pipeline
    and not the generator.
    """

    def __init__(self, ours: bool, duration_s: float) -> None:
        self.ours = ours
        self.duration_s = duration_s
        cam_w, cam_h, _ = CAMERA
        scr_w, scr_h, _ = SCREEN
        self.camera_bgr = SyntheticCamera(cam_w, cam_h).make_frame(0, 0).to_bgr()
        self.screen_bgra = SyntheticScreen(scr_w, scr_h).make_frame(0, 0).data
        self.mic = SyntheticMicrophone()
        self.camera_out: FanOut[VideoFrame | tuple[npt.NDArray[np.uint8], int]] = FanOut()
        self.screen_out: FanOut[VideoFrame] = FanOut()
        self.mic_out: FanOut[AudioFrame] = FanOut()
        self.stop = threading.Event()

    def run_camera(self) -> None:
        width, height, fps = CAMERA
        next_s = time.monotonic()
        sequence = 0
        while not self.stop.is_set():
            next_s += 1 / fps
            self.stop.wait(max(0.0, next_s - time.monotonic()))
            stamp = monotonic_us()
            bgr = self.camera_bgr.copy()  # the device hands a fresh buffer each frame
            if self.ours:
                # Ours: convert once, on the capture thread, to what the encoder takes (I420).
                i420 = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420), np.uint8).reshape(-1)
                self.camera_out.publish(
                    VideoFrame(i420, width, height, PixelFormat.I420, stamp, sequence)
                )
            else:
                self.camera_out.publish((bgr, stamp))
            sequence += 1

    def run_screen(self) -> None:
        width, height, fps = SCREEN
        next_s = time.monotonic()
        sequence = 0
        while not self.stop.is_set():
            next_s += 1 / fps
            self.stop.wait(max(0.0, next_s - time.monotonic()))
            data = self.screen_bgra.copy()
            self.screen_out.publish(
                VideoFrame(data, width, height, PixelFormat.BGRA, monotonic_us(), sequence)
            )
            sequence += 1

    def run_mic(self) -> None:
        next_s = time.monotonic()
        while not self.stop.is_set():
            next_s += 0.01
            self.stop.wait(max(0.0, next_s - time.monotonic()))
            self.mic_out.publish(self.mic.make_block(monotonic_us()))


async def _ingest_once(ours: bool, duration_s: float) -> tuple[float, list[float]]:
    """CPU per second of media and handoff latencies (ms) for one pipeline."""
    device = _Device(ours, duration_s)
    cam_w, cam_h, _ = CAMERA
    scr_w, scr_h, _ = SCREEN
    camera_source = rtc.VideoSource(cam_w, cam_h)
    screen_source = rtc.VideoSource(scr_w, scr_h)
    audio_source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
    camera_q = device.camera_out.subscribe("bench", 2)
    screen_q = device.screen_out.subscribe("bench", 2)
    mic_q: FrameQueue[AudioFrame] = device.mic_out.subscribe("bench", 10)
    latencies_ms: list[float] = []

    async def camera_pump() -> None:
        while (item := await camera_q.aget()) is not None:
            if isinstance(item, VideoFrame):
                camera_source.capture_frame(item.to_livekit(), timestamp_us=item.timestamp_us)
                stamp = item.timestamp_us
            else:
                # The SDK examples' way: convert on the event loop, copy out, hand RGBA over.
                bgr, stamp = item
                rgba = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
                frame = rtc.VideoFrame(cam_w, cam_h, rtc.VideoBufferType.RGBA, rgba.tobytes())
                camera_source.capture_frame(frame)
            latencies_ms.append((monotonic_us() - stamp) / 1000)

    async def screen_pump() -> None:
        while (frame := await screen_q.aget()) is not None:
            if ours:
                screen_source.capture_frame(frame.to_livekit(), timestamp_us=frame.timestamp_us)
            else:
                bgra = frame.data.reshape(scr_h, scr_w, 4)
                rgba = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA)
                screen_source.capture_frame(
                    rtc.VideoFrame(scr_w, scr_h, rtc.VideoBufferType.RGBA, rgba.tobytes())
                )

    async def mic_pump() -> None:
        while (block := await mic_q.aget()) is not None:
            await audio_source.capture_frame(block.to_livekit())

    threads = [
        threading.Thread(target=device.run_camera, name="bench-camera"),
        threading.Thread(target=device.run_screen, name="bench-screen"),
        threading.Thread(target=device.run_mic, name="bench-mic"),
    ]
    tasks = [asyncio.ensure_future(p()) for p in (camera_pump, screen_pump, mic_pump)]
    clock = CpuClock()
    for thread in threads:
        thread.start()
    await asyncio.sleep(duration_s)
    cpu = clock.cpu_per_wall()
    device.stop.set()
    for thread in threads:
        thread.join()
    for queue in (camera_q, screen_q, mic_q):
        queue.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    await camera_source.aclose()
    await screen_source.aclose()
    await audio_source.aclose()
    return cpu, latencies_ms


async def ingest(duration_s: float, repeats: int) -> list[Row]:
    """1. Camera 1080p30 + screen 1080p15 + mic into LiveKit sources (no encoder attached)."""
    ours_cpu, base_cpu, ours_lat, base_lat = [], [], [], []
    for _ in range(repeats):
        cpu, lat = await _ingest_once(True, duration_s)
        ours_cpu.append(cpu)
        ours_lat += lat
        cpu, lat = await _ingest_once(False, duration_s)
        base_cpu.append(cpu)
        base_lat += lat
    median_ours = sorted(ours_cpu)[len(ours_cpu) // 2]
    median_base = sorted(base_cpu)[len(base_cpu) // 2]
    return [
        Row(
            "ingest",
            "CPU, % of one core",
            median_ours * 100,
            median_base * 100,
            (max(ours_cpu) - min(ours_cpu)) * 100,
            "< 5 % and ≥ 2x cheaper",
            median_ours < 0.05 and median_base / max(median_ours, 1e-9) >= 2,
            "includes the device stand-in's own per-frame copy",
        ),  # fmt: skip
        Row(
            "ingest", "camera handoff p50, ms", percentile(ours_lat, 50), percentile(base_lat, 50)
        ),  # fmt: skip
        Row(
            "ingest", "camera handoff p99, ms", percentile(ours_lat, 99), percentile(base_lat, 99)
        ),  # fmt: skip
    ]


async def audio(duration_s: float, busy: bool = True) -> list[Row]:
    """4. Mic block → AudioSource: queue delay and underruns, with the loop kept busy."""
    mic = SyntheticMicrophone()
    source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
    queue = mic.frames.subscribe("bench", 10)
    delays_ms: list[float] = []
    gaps = 0

    async def pump() -> None:
        nonlocal gaps
        last = 0
        while (block := await queue.aget()) is not None:
            if last and block.sequence != last + 1:
                gaps += 1
            last = block.sequence
            await source.capture_frame(block.to_livekit())
            delays_ms.append((monotonic_us() - block.timestamp_us) / 1000)

    async def busy_ui() -> None:
        # A busy UI: 8 ms of work every 16 ms on the same loop, as painting tiles would be.
        while True:
            end = time.monotonic() + 0.008
            while time.monotonic() < end:
                pass
            await asyncio.sleep(0.008)

    mic.start()
    tasks = [asyncio.ensure_future(pump())] + ([asyncio.ensure_future(busy_ui())] if busy else [])
    await asyncio.sleep(duration_s)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    mic.stop()
    dropped = queue.stats().dropped
    await source.aclose()
    return [
        Row("audio", "mic → AudioSource delay p50, ms", percentile(delays_ms, 50)),
        Row(
            "audio",
            "mic → AudioSource delay p99, ms",
            percentile(delays_ms, 99),
            target="< 20 ms",
            met=percentile(delays_ms, 99) < 20,
        ),  # fmt: skip
        Row(
            "audio",
            "underruns (blocks lost or late)",
            float(gaps + dropped),
            target="0",
            met=gaps + dropped == 0,
            notes=f"over {duration_s:g} s with the loop busy",
        ),  # fmt: skip
    ]


def direct_outputs(duration_s: float, tmp_dir: str) -> list[Row]:
    """5. CPU per destination: one shared encoder vs one encoder per output."""
    from desktop.media.outputs.encoder import EncoderSettings
    from desktop.media.outputs.program import DirectBroadcast

    settings = EncoderSettings(1280, 720, 30, 3_000_000)

    def run(outputs: int, shared: bool) -> float:
        camera, mic = SyntheticCamera(1280, 720, 30), SyntheticMicrophone()
        camera.start()
        mic.start()
        broadcasts = [DirectBroadcast(settings) for _ in range(1 if shared else outputs)]
        for b in broadcasts:
            b.set_sources(camera=camera, microphone=mic)
        for n in range(outputs):
            target = broadcasts[0] if shared else broadcasts[n]
            target.start_recording(f"{tmp_dir}/bench-{shared}-{outputs}-{n}.mkv", f"out-{n}")
        time.sleep(1.0)  # warm-up: encoder start, first keyframe
        clock = CpuClock()
        time.sleep(duration_s)
        cpu = clock.cpu_per_wall()
        for b in broadcasts:
            b.close()
        camera.stop()
        mic.stop()
        return cpu

    one = run(1, True)
    two_shared = run(2, True)
    two_separate = run(2, False)
    return [
        Row("outputs", "CPU, 1 output (720p30 libx264), % core", one * 100),
        Row(
            "outputs",
            "CPU, 2 outputs, % core",
            two_shared * 100,
            two_separate * 100,
            target="2 outputs ≈ 1 encoder (< 1.3x one output)",
            met=two_shared < one * 1.3,
            notes="baseline: one encoder per output",
        ),  # fmt: skip
    ]
