"""The studio's receive path stays bounded when its readers stall, and recovers.

Nine guests publish 720p cameras (``benchmarks.guests``, in a process of their own; one layer
each, so a loaded machine cannot hold a top simulcast layer back) to the real server; the host's
session shows each in a 720p tile. Then the UI's
loop (this test's) and the receive loop are both blocked for 5 s, as a long paint or a debugger
would. Before :class:`~desktop.session.bounded_video.BoundedVideoStream`, every frame decoded
meanwhile waited on the receive loop with its native buffer: about 1.4 MB a frame, 270 frames a
second. Now at most two frames of each video wait, the rest are dropped and counted, and every
tile shows live frames again after the stall.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from desktop.session.receive_drops import RECEIVE_DROPS, NativeDropFilter, ReceiveDrops
from desktop.session.remote_video import RemoteVideo
from desktop.session.room_session import RoomSession
from tests.fixtures import processes
from tests.fixtures.livekit import CONNECT_TIMEOUT_S
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
GUESTS = 9
LIVE_GUESTS_NEEDED = 7
"""Guests whose 720p pictures must be arriving before the stall (see the waits below)."""
STALL_S = 5.0
GROWTH_BOUND_MIB = 300.0
"""What the stall may add to the studio's resident memory: two 720p frames of each of nine
videos are 25 MB; the rest is room for the allocator and the SDK. Unbounded, the stall adds
well over a gigabyte (every frame decoded meanwhile)."""
NO_BANDWIDTH_LIMIT = {"rtc": {"congestion_control": {"enabled": False}}}
"""Forwarding is not held back by what a loaded machine's delays do to the SFU's bandwidth
estimate."""


def _newest_height(video: RemoteVideo, heights: dict[str, int]) -> int:
    frame = video.frames.take_latest()
    if frame is not None:
        heights[video.identity] = frame.height
    return heights.get(video.identity, 0)


async def test_a_stalled_studio_holds_a_bounded_backlog_and_recovers(
    livekit_server_factory: Callable[..., Any], unique_room: str
) -> None:
    server = livekit_server_factory(extra=NO_BANDWIDTH_LIMIT)
    guests = processes.popen(
        [sys.executable, "-m", "benchmarks.guests", server.ws_url, str(GUESTS), "--single-layer"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert guests.stdin is not None and guests.stdout is not None
    for n in range(GUESTS):
        guests.stdin.write(server.token(f"guest-{n}", unique_room) + "\n")
    guests.stdin.flush()
    session = RoomSession()
    videos: list[RemoteVideo] = []
    try:
        await session.connect(
            server.ws_url, server.token("host", unique_room), timeout_s=CONNECT_TIMEOUT_S
        )
        room = session.room
        assert room is not None

        def cameras_subscribed() -> int:
            return sum(
                1
                for p in room.remote_participants.values()
                for pub in p.track_publications.values()
                if pub.track is not None
            )

        # Nine 720p encoders share two cores with the server and this studio: on a busy CI
        # machine a guest can take minutes to publish. Seven are enough to measure the stall.
        await wait_for(
            lambda: cameras_subscribed() >= LIVE_GUESTS_NEEDED, 90, state=cameras_subscribed
        )
        for identity, participant in sorted(room.remote_participants.items()):
            if not any(pub.track is not None for pub in participant.track_publications.values()):
                continue
            video = session.open_remote_video(identity, tile_height_px=720)
            assert video is not None
            videos.append(video)
        heights: dict[str, int] = {}

        def on_top_layer() -> list[str]:
            return [v.identity for v in videos if _newest_height(v, heights) != 720]

        # At least seven guests at 720p (a starved guest's encoder may not reach it); the
        # others send nothing or less here, which takes nothing from what this test measures.
        await wait_for(
            lambda: len(videos) - len(on_top_layer()) >= LIVE_GUESTS_NEEDED,
            90,
            state=lambda: f"not at 720p: {on_top_layer()}; heights {heights}",
        )
        live = [v for v in videos if v.identity not in on_top_layer()]

        studio = psutil.Process()
        rss_before = studio.memory_info().rss
        peak = [rss_before]
        sampling = threading.Event()

        def sample() -> None:  # a thread of its own: both loops are blocked
            while not sampling.wait(0.05):
                peak[0] = max(peak[0], studio.memory_info().rss)

        sampler = threading.Thread(target=sample, name="rss-sampler")
        sampler.start()
        received_before = {v.identity: _received(v) for v in live}
        receive = session._receive
        assert receive is not None

        async def block_receive_loop(_: object) -> None:
            time.sleep(STALL_S)  # noqa: ASYNC251  (blocking the loop is the point)

        blocker = receive.start(block_receive_loop)
        time.sleep(STALL_S)  # noqa: ASYNC251  (the UI's loop, blocked as well)
        await asyncio.wrap_future(blocker.finished)
        # Recovery: every tile gets frames decoded after the stall.
        stall_end_s = time.monotonic()
        await wait_for(
            lambda: all(_received(v) > received_before[v.identity] + 5 for v in live),
            30,
            state=lambda: {v.identity: _received(v) - received_before[v.identity] for v in live},
        )
        recovered_s = time.monotonic() - stall_end_s
        sampling.set()
        sampler.join()
        growth_mib = (peak[0] - rss_before) / 2**20
        dropped = sum(v.dropped for v in RECEIVE_DROPS.videos())
        assert growth_mib < GROWTH_BOUND_MIB, (
            f"the stall grew the studio by {growth_mib:.0f} MiB (bound {GROWTH_BOUND_MIB:.0f}); "
            f"{dropped} frames dropped on receipt"
        )
        assert dropped > 0, "nothing was dropped: the stall held every frame somewhere"
        print(f"stall: +{growth_mib:.0f} MiB, {dropped} dropped, recovered in {recovered_s:.1f} s")
    finally:
        for video in videos:
            await video.aclose()
        await session.aclose()
        guests.stdin.close()
        processes.stop(guests)


def _received(video: RemoteVideo) -> int:
    """Frames this video's stream handed to its tile so far."""
    stats = video.frames.stats()
    return stats.delivered + stats.dropped + stats.pending


def test_the_sdks_overflow_lines_become_a_count_and_one_line_an_interval() -> None:
    import logging

    drops = ReceiveDrops()
    passed: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            passed.append(record.getMessage())

    logger = logging.getLogger("livekit.test-overflow")
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    log_filter = NativeDropFilter(drops, interval_s=3600)
    logger.addFilter(log_filter)
    try:
        for _ in range(1000):
            logger.warning(
                "%s:%s:%s - %s", "livekit_ffi", 1, "livekit_ffi::server::video_stream",
                "native video stream queue overflow; dropped 3 queued frames",
            )  # fmt: skip
        logger.warning("native audio stream queue overflow; dropped 2 queued frames")
        logger.warning("an unrelated line")
    finally:
        logger.removeFilter(log_filter)
        logger.removeHandler(handler)
    assert drops.native_video_dropped == 3000 and drops.native_audio_dropped == 2
    assert passed[-1] == "an unrelated line"
    assert len(passed) == 2, passed  # one summary, then the unrelated line
    assert "the SDK dropped 3 video" in passed[0]


def test_dropped_frames_are_counted_per_video_including_ended_ones() -> None:
    class Stream:
        received = 0
        dropped = 0

    drops = ReceiveDrops()
    first, second = Stream(), Stream()
    done_first = drops.track("Ada's camera (tile)", first)
    drops.track("Ada's camera (tile)", second)
    first.received, first.dropped = 100, 7
    done_first()
    second.received, second.dropped = 50, 3
    figures = drops.videos()
    assert [(v.label, v.received, v.dropped) for v in figures] == [("Ada's camera (tile)", 150, 10)]
    assert "Ada's camera (tile) 10 of 160" in drops.summary()
