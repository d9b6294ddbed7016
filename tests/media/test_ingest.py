"""Ingest near the copy floor: native camera formats, reused buffers, direct handoff to LiveKit."""

from __future__ import annotations

import asyncio
import threading
import time

import cv2
import numpy as np
import pytest
from livekit import rtc

from desktop.media.camera import CameraPixels, bgr_to_i420, i420_planes, to_i420
from desktop.media.fanout import FanOut
from desktop.media.frames import AudioFrame, BufferPool, PixelFormat, VideoFrame, as_i420, fit_frame
from desktop.media.synthetic import (
    SyntheticCamera,
    SyntheticMicrophone,
    SyntheticScreen,
    decode_stamp,
    i420_luma,
)
from desktop.session.audio_handoff import MAX_WAITING_BLOCKS, AudioHandoff
from desktop.session.publisher import video_sink

W, H = 320, 180


def _picture() -> np.ndarray:
    """Stamped colour bars as I420, with chroma that differs from row to row."""
    data = SyntheticCamera(W, H).make_frame(77, 123_456_000).data.copy()
    _, u, v = i420_planes(data, W, H)
    u += np.arange(H // 2, dtype=np.uint8)[:, None]  # make every chroma row distinct
    v -= np.arange(H // 2, dtype=np.uint8)[:, None]
    return data


def test_nv12_from_the_device_becomes_the_same_picture_in_i420() -> None:
    i420 = _picture()
    y, u, v = i420_planes(i420, W, H)
    nv12 = np.concatenate((y.reshape(-1), np.dstack((u, v)).reshape(-1)))
    out = np.zeros(W * H * 3 // 2, np.uint8)
    to_i420(nv12, CameraPixels.NV12, W, H, out)
    assert np.array_equal(out, i420)
    assert decode_stamp(i420_luma(out, W, H)) == (77, 123_456)


def test_yuyv_from_the_device_becomes_i420_with_its_even_chroma_rows() -> None:
    i420 = _picture()
    y, u, v = i420_planes(i420, W, H)
    # 4:2:2 as a camera sends it: full-height chroma (each 4:2:0 row twice, the odd copy
    # changed so taking the wrong row shows), Y0 U Y1 V per pixel pair.
    u422, v422 = np.repeat(u, 2, axis=0), np.repeat(v, 2, axis=0)
    u422[1::2] ^= 0x55
    v422[1::2] ^= 0x55
    yuyv = np.empty((H, W // 2, 4), np.uint8)
    yuyv[..., 0], yuyv[..., 2] = y[:, 0::2], y[:, 1::2]
    yuyv[..., 1], yuyv[..., 3] = u422, v422
    out = np.zeros(W * H * 3 // 2, np.uint8)
    to_i420(yuyv.reshape(-1), CameraPixels.YUYV, W, H, out)
    assert np.array_equal(out, i420)


def test_bgr_is_converted_once_into_the_buffer_given() -> None:
    bgr = SyntheticCamera(W, H).make_frame(5, 0).to_bgr()
    out = np.zeros(W * H * 3 // 2, np.uint8)
    to_i420(bgr, CameraPixels.BGR, W, H, out)
    expected = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
    assert np.array_equal(out, expected)
    assert np.array_equal(bgr_to_i420(bgr)[0], expected)


def test_pool_reuses_only_buffers_nothing_holds() -> None:
    pool = BufferPool(16, keep=4)
    held = VideoFrame(pool.acquire(), 4, 2, PixelFormat.I420, 0, 0)
    view = pool.acquire()[:8]  # a view keeps its buffer as held as the array itself
    free = pool.acquire()
    assert free is not held.data and free.base is None and view.base is not free
    free_id = id(free)
    del free
    again = pool.acquire()
    assert id(again) == free_id and pool.allocated == 3  # reused, nothing new
    assert again is not held.data and again is not view.base


def test_synthetic_frames_keep_their_picture_while_held() -> None:
    camera, screen = SyntheticCamera(W, H), SyntheticScreen(W, H)
    kept_camera, kept_screen = camera.make_frame(1, 0), screen.make_frame(1, 0)
    for n in range(2, 30):  # more frames than the pools keep
        camera.make_frame(n, 0)
        screen.make_frame(n, 0)
    assert decode_stamp(i420_luma(kept_camera.data, W, H))[0] == 1
    grey = cv2.cvtColor(kept_screen.to_bgr(), cv2.COLOR_BGR2GRAY)
    assert decode_stamp(grey)[0] == 1


def test_direct_sink_runs_on_the_publishing_thread_and_swallows_its_errors() -> None:
    fanout: FanOut[int] = FanOut()
    calls: list[tuple[int, str]] = []

    def deliver(item: int) -> None:
        if item == 2:
            raise RuntimeError("the SDK refused it")
        calls.append((item, threading.current_thread().name))

    sink = fanout.attach("publisher", deliver)

    def capture() -> None:
        for i in range(4):
            fanout.publish(i)

    worker = threading.Thread(target=capture, name="cap")
    worker.start()
    worker.join()
    assert calls == [(0, "cap"), (1, "cap"), (3, "cap")]
    stats = sink.stats()
    assert (stats.name, stats.delivered, stats.dropped) == ("publisher", 3, 1)
    fanout.unsubscribe(sink)
    fanout.publish(9)
    assert len(calls) == 3


async def test_camera_frames_handed_on_the_capture_thread_reach_a_livekit_stream() -> None:
    camera = SyntheticCamera(W, H, fps=30)
    source = rtc.VideoSource(W, H)
    track = rtc.LocalVideoTrack.create_video_track("camera", source)
    stream = rtc.VideoStream(track, capacity=0, format=rtc.VideoBufferType.I420)
    divider = [2]  # adapting: every other frame
    sink = camera.frames.attach("publisher", video_sink(source, lambda: divider[0]))
    counters: list[int] = []

    async def read() -> None:
        async for event in stream:
            frame = event.frame
            luma = np.frombuffer(frame.data, np.uint8)[: frame.width * frame.height]
            counters.append(decode_stamp(luma.reshape(frame.height, frame.width))[0])
            if len(counters) == 8:
                return

    reader = asyncio.ensure_future(read())
    camera.start()
    try:
        await asyncio.wait_for(reader, 20)
    finally:
        camera.frames.unsubscribe(sink)
        await camera.aclose()
        await stream.aclose()
        await source.aclose()
    # Every second frame, in order (the first may repeat). A loaded machine may lose a frame on
    # the way (a step of 4), but the divider never lets two neighbours through.
    steps = [b - a for a, b in zip(counters[1:], counters[2:], strict=False)]
    assert all(step >= 2 for step in steps), counters
    assert steps.count(2) > len(steps) / 2, counters


async def test_microphone_blocks_go_20_ms_at_a_time_on_the_capture_thread_and_all_arrive() -> None:
    mic = SyntheticMicrophone(frequency_hz=1000, level_dbfs=-6)
    source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    stream = rtc.AudioStream(track, sample_rate=48_000, num_channels=1)
    handoffs: list[tuple[list[int], str]] = []

    def handed(blocks: list[AudioFrame]) -> None:
        handoffs.append(([b.sequence for b in blocks], threading.current_thread().name))

    handoff = AudioHandoff(source, handed=handed)
    sink = mic.frames.attach("publisher", handoff.put)
    chunks: list[np.ndarray] = []

    async def read() -> None:
        async for event in stream:
            chunks.append(np.frombuffer(event.frame.data, np.int16).copy())
            if sum(c.size for c in chunks) >= 24_000:
                return

    reader = asyncio.ensure_future(read())
    mic.start()
    try:
        await asyncio.wait_for(reader, 20)
    finally:
        mic.frames.unsubscribe(sink)
        await handoff.aclose()
        await mic.aclose()
        await stream.aclose()
        await source.aclose()
    sequences = [s for blocks, _ in handoffs for s in blocks]
    assert sequences == list(range(len(sequences)))  # every block, in order
    # 20 ms per handoff: each waited for the SDK's confirmation of the one before it.
    assert all(len(blocks) == 2 for blocks, _ in handoffs[:-1])
    # No hop to a loop (the block left over at the end is handed on by close()).
    assert {name for _, name in handoffs[:-1]} == {"bc-microphone-capture"}
    assert (handoff.dropped, handoff.errors) == (0, 0)
    samples = np.concatenate(chunks)[4800:]  # past the stream's start
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 48_000 / samples.size == pytest.approx(1000, abs=10)


async def test_microphone_blocks_wait_for_the_sdk_in_order_and_the_wait_is_bounded() -> None:
    # Blocks far faster than real time: the SDK's 20 ms queue holds captures back, so later
    # blocks wait for its confirmations here, go in order, and only the oldest are dropped.
    source = rtc.AudioSource(48_000, 1, queue_size_ms=20)
    handoffs: list[list[int]] = []
    handoff = AudioHandoff(
        source, handed=lambda blocks: handoffs.append([b.sequence for b in blocks])
    )
    mic = SyntheticMicrophone()
    total = 300

    def burst() -> None:
        for n in range(total):
            block = mic.make_block(n * 10_000)
            handoff.put(AudioFrame(block.data, 48_000, 1, block.timestamp_us, n))
            if n % 20 == 0:
                time.sleep(0.005)  # let the SDK confirm now and then

    thread = threading.Thread(target=burst)
    thread.start()
    await asyncio.to_thread(thread.join)
    await handoff.aclose()
    await source.aclose()
    sequences = [s for blocks in handoffs for s in blocks]
    assert sequences == sorted(set(sequences)), "handed out of order or twice"
    assert len(sequences) + handoff.dropped == total
    assert handoff.dropped > 0  # the SDK really held captures back
    assert max(len(blocks) for blocks in handoffs) <= MAX_WAITING_BLOCKS
    assert any(len(blocks) > 2 for blocks in handoffs)  # waiting blocks went together
    assert handoff.errors == 0


def test_nv12_frames_convert_fit_and_show_as_the_same_picture() -> None:
    i420 = SyntheticCamera(W, H).make_frame(7, 9_000)
    nv12 = SyntheticCamera(W, H, pixel_format=PixelFormat.NV12).make_frame(7, 9_000)
    assert nv12.format is PixelFormat.NV12 and nv12.data.size == W * H * 3 // 2
    assert decode_stamp(i420_luma(nv12.data, W, H)) == (7, 9)
    converted = as_i420(nv12)
    assert converted.format is PixelFormat.I420
    assert np.array_equal(converted.data, i420.data)
    assert as_i420(i420) is i420
    assert np.array_equal(nv12.to_bgr(), i420.to_bgr())
    # A camera of another size than the published one: scaled like the I420 frame.
    fitted = fit_frame(nv12, 160, 90)
    assert fitted.format is PixelFormat.I420
    assert np.array_equal(fitted.data, fit_frame(i420, 160, 90).data)
    assert fit_frame(nv12, W, H) is nv12  # already fits: handed on as it is
