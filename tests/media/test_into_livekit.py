"""Into LiveKit without a server: frames pushed into SDK sources come back out of SDK streams
with the stamp drawn into the picture intact."""

from __future__ import annotations

import asyncio

import numpy as np
from livekit import rtc

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone, decode_stamp


async def test_synthetic_camera_through_video_source_and_stream() -> None:
    camera = SyntheticCamera(640, 360, fps=30)
    source = rtc.VideoSource(640, 360)
    track = rtc.LocalVideoTrack.create_video_track("camera", source)
    stream = rtc.VideoStream(track, capacity=0, format=rtc.VideoBufferType.I420)
    queue = camera.frames.subscribe("publisher", maxsize=4)
    received: list[tuple[int, int]] = []

    async def read() -> None:
        async for event in stream:
            frame = event.frame
            luma = np.frombuffer(frame.data, np.uint8)[: frame.width * frame.height]
            received.append(decode_stamp(luma.reshape(frame.height, frame.width)))
            if len(received) == 10:
                return

    reader = asyncio.create_task(read())
    camera.start()
    try:
        while not reader.done():
            frame = await asyncio.wait_for(queue.aget(), 5)
            assert frame is not None
            source.capture_frame(frame.to_livekit(), timestamp_us=frame.timestamp_us)
        await asyncio.wait_for(reader, 5)
    finally:
        await camera.aclose()
        await stream.aclose()
        await source.aclose()
    counters = [counter for counter, _ in received]
    # In order; the SDK may hand the first frame over twice when the sink attaches.
    assert counters == sorted(counters) and len(set(counters)) >= 9
    assert counters[0] <= 2


async def test_synthetic_microphone_through_audio_source_and_stream() -> None:
    mic = SyntheticMicrophone(frequency_hz=1000, level_dbfs=-6)
    source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    stream = rtc.AudioStream(track, sample_rate=48_000, num_channels=1)
    queue = mic.frames.subscribe("publisher", maxsize=10)
    chunks: list[np.ndarray] = []

    async def read() -> None:
        async for event in stream:
            chunks.append(np.frombuffer(event.frame.data, np.int16).copy())
            if sum(c.size for c in chunks) >= 9600:
                return

    reader = asyncio.create_task(read())
    mic.start()
    try:
        while not reader.done():
            block = await asyncio.wait_for(queue.aget(), 5)
            assert block is not None
            await source.capture_frame(block.to_livekit())
        await asyncio.wait_for(reader, 5)
    finally:
        await mic.aclose()
        await stream.aclose()
        await source.aclose()
    samples = np.concatenate(chunks)
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 48_000 / samples.size - 1000) < 10
    assert 0.4 < np.abs(samples).max() / 32767 < 0.6  # -6 dBFS
