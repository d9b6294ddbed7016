"""With egress, the studio's layout goes to the egress, and the studio says where viewers differ.

Two people publish in a room on the real LiveKit server (the host's synthetic camera, a guest's
solid colour); Go Live runs through the backend's egress (its stand-in composes the room as
LiveKit's templates do: speaker = one camera, grid = tiles). The RTMP capture is decoded:
with the studio on Grid, the guest is a tile, not the whole picture.
"""

from __future__ import annotations

import asyncio
from typing import Any

import keyring.backends.fail
import numpy as np

from desktop.media.compositor import Layout
from desktop.media.outputs.destinations import Destination, DestinationKind
from desktop.media.synthetic import SyntheticCamera
from desktop.session.backend_client import HttpBackend
from desktop.session.live import EGRESS_LAYOUTS, LiveOutputs, egress_layout
from desktop.session.room_session import RoomSession
from desktop.session.settings import Secrets
from tests.fixtures.backend import BackendServer
from tests.fixtures.livekit import CONNECT_TIMEOUT_S
from tests.fixtures.program import Guest, RoomGuest, decode_video
from tests.fixtures.rtmp import RtmpServer

GUEST = Guest("ada", "Ada", (220, 40, 40), 1000.0, 640, 360)


def test_every_layout_has_an_egress_layout_and_differences_are_said() -> None:
    assert set(EGRESS_LAYOUTS) == set(Layout)
    assert {egress_layout(layout)[0] for layout in Layout} <= {"speaker", "grid"}
    assert egress_layout(Layout.GRID) == ("grid", "")
    assert egress_layout(Layout.SPEAKER) == ("speaker", "")
    assert "corner" in egress_layout(Layout.SCREEN_PIP)[1]
    assert "strip" in egress_layout(Layout.SOLO)[1]


async def _wait(predicate: Any, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_the_chosen_layout_reaches_the_egress_program(
    backend_server: BackendServer, livekit_server: Any, rtmp_server: RtmpServer
) -> None:
    backend = HttpBackend(backend_server.url, backend_server.host_credential)
    session = RoomSession()
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    secrets.set("stream-key:good", "good-key")
    good = Destination("good", "Good", DestinationKind.CUSTOM, rtmp_server.url("live"))
    camera = SyntheticCamera(640, 360, 30)
    camera.start()
    guest = RoomGuest(GUEST)
    room = (await backend.call("create_room", appointmentId=backend_server.appointment_id))["room"]
    live = LiveOutputs(session.store, secrets, backend=backend, room_name=room["name"])
    try:
        await session.connect(room["url"], room["token"])
        await session.publish_camera(camera)
        token = livekit_server.token("ada", room["name"])
        await guest.join(livekit_server.ws_url, token, CONNECT_TIMEOUT_S)
        # Grid maps onto the egress's grid exactly: nothing to say.
        assert live.set_layout(Layout.GRID) == ""
        assert await live.go_live([good]) == {}
        # While live, a change cannot reach the running egress: the studio says so.
        assert "go live again" in live.set_layout(Layout.SCREEN_PIP)
        live.set_layout(Layout.GRID)
        await _wait(lambda: rtmp_server.recordings("live")
                    and rtmp_server.recordings("live")[0].stat().st_size > 200_000, 60)  # fmt: skip
        await asyncio.sleep(2.0)
        await live.end()
    finally:
        await live.aclose()
        await guest.aclose()
        await session.aclose()
        await backend.aclose()
        camera.stop()
    video = decode_video(rtmp_server.wait_for_recording("live"))
    assert video
    _, rgb = video[-1]
    height, width = rgb.shape[:2]
    red = np.all(np.abs(rgb.astype(int) - np.array(GUEST.rgb)) < 40, axis=2)
    # The guest is one tile of a grid: about a quarter of the picture, never all of it.
    assert 0.1 < red.mean() < 0.4, red.mean()
    quadrants = [red[y : y + height // 2, x : x + width // 2].mean()
                 for y in (0, height // 2) for x in (0, width // 2)]  # fmt: skip
    assert max(quadrants) > 0.8  # (the host's colour bars have a red bar: a stripe, not a tile)
