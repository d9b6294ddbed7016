"""A camera's NV12 frames, handed to LiveKit as delivered, reach a viewer as the right picture."""

from __future__ import annotations

import asyncio

import numpy as np
from livekit import rtc

from desktop.media.camera import i420_planes
from desktop.media.frames import PixelFormat
from desktop.media.synthetic import _BARS_YUV, SyntheticCamera, decode_stamp, i420_luma
from desktop.session.publisher import PublishDefaults
from desktop.session.room_session import RoomSession
from tests.fixtures.livekit import CONNECT_TIMEOUT_S, LiveKitServer
from tests.participants import wait_for

W, H = 640, 360
CHROMA_TOLERANCE = 12
"""VP8 at this size keeps a flat bar's chroma within a few levels; a swapped or misread plane
is off by 40 or more."""


def _bars(picture: np.ndarray, width: int, height: int) -> list[tuple[int, int, int]]:
    """(Y, U, V) at the middle of each colour bar, below the stamp."""
    y, u, v = i420_planes(picture, width, height)
    row = height * 3 // 4
    bars = len(_BARS_YUV)
    centres = [(2 * i + 1) * width // (2 * bars) for i in range(bars)]
    return [(int(y[row, x]), int(u[row // 2, x // 2]), int(v[row // 2, x // 2])) for x in centres]


async def test_an_nv12_camera_reaches_a_viewer_in_its_colours(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    session = RoomSession(defaults=PublishDefaults(width=W, height=H, fps=20, simulcast=False))
    camera = SyntheticCamera(W, H, fps=20, pixel_format=PixelFormat.NV12)
    camera.start()
    viewer = rtc.Room()
    tracks: list[rtc.Track] = []
    viewer.on("track_subscribed", lambda track, pub, p: tracks.append(track))
    pictures: list[tuple[np.ndarray, int, int]] = []
    try:
        await session.connect(livekit_server.ws_url, livekit_server.token("host", unique_room),
                              CONNECT_TIMEOUT_S)  # fmt: skip
        await session.publish_camera(camera)
        await viewer.connect(livekit_server.ws_url, livekit_server.token("viewer", unique_room),
                             rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S))  # fmt: skip
        await wait_for(lambda: bool(tracks), timeout_s=30)
        stream = rtc.VideoStream(tracks[0], format=rtc.VideoBufferType.I420)

        async def read() -> None:
            async for event in stream:
                frame = event.frame
                picture = np.frombuffer(frame.data, np.uint8).copy()
                counter, _ = decode_stamp(i420_luma(picture, frame.width, frame.height))
                # The first frames of a stream may be a low-quality keyframe: judge later ones.
                if counter >= 20 and (frame.width, frame.height) == (W, H):
                    pictures.append((picture, frame.width, frame.height))
                if len(pictures) == 3:
                    return

        try:
            await asyncio.wait_for(read(), 30)
        finally:
            await stream.aclose()
    finally:
        await viewer.disconnect()
        await session.aclose()
        await camera.aclose()
    for picture, width, height in pictures:
        for seen, (y, u, v) in zip(_bars(picture, width, height), _BARS_YUV, strict=True):
            assert abs(seen[0] - y) <= CHROMA_TOLERANCE, (seen, (y, u, v))
            assert abs(seen[1] - u) <= CHROMA_TOLERANCE, (seen, (y, u, v))
            assert abs(seen[2] - v) <= CHROMA_TOLERANCE, (seen, (y, u, v))
