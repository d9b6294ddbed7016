"""With egress, the studio's layout goes to the egress, follows it while live, and the studio
says where viewers differ.

Two guests publish a solid colour each in a room on the real LiveKit server; Go Live runs
through the backend's egress (its stand-in composes the room as LiveKit's templates do:
speaker = one camera, grid = tiles). Mid-stream the layout changes; the backend's
``update_layout`` sends LiveKit's ``UpdateLayout`` to the running egress. The RTMP capture is
decoded: first each guest is a tile of the grid, then one fills the picture, in one stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

import keyring.backends.fail
import numpy as np
import numpy.typing as npt
from livekit import api

from desktop.media.compositor import Layout
from desktop.media.outputs.destinations import Destination, DestinationKind
from desktop.session.backend_client import HttpBackend
from desktop.session.live import EGRESS_LAYOUTS, LiveOutputs, egress_layout
from desktop.session.room_session import RoomSession
from desktop.session.settings import Secrets
from tests.fixtures.backend import BackendServer
from tests.fixtures.egress import LiveKitWithEgress
from tests.fixtures.livekit import CONNECT_TIMEOUT_S
from tests.fixtures.program import Guest, RoomGuest, decode_video
from tests.fixtures.rtmp import RtmpServer
from tests.waiting import wait_for

ADA = Guest("ada", "Ada", (220, 40, 40), 1000.0, 640, 360)
GRACE = Guest("grace", "Grace", (40, 200, 60), 1700.0, 640, 360)


def test_every_layout_has_an_egress_layout_and_differences_are_said() -> None:
    assert set(EGRESS_LAYOUTS) == set(Layout)
    assert {egress_layout(layout)[0] for layout in Layout} <= {"speaker", "grid"}
    assert egress_layout(Layout.GRID) == ("grid", "")
    assert egress_layout(Layout.SPEAKER) == ("speaker", "")
    assert "corner" in egress_layout(Layout.SCREEN_PIP)[1]
    assert "strip" in egress_layout(Layout.SOLO)[1]


def _shares(rgb: npt.NDArray[np.uint8]) -> tuple[float, float]:
    """How much of a picture is Ada's colour and how much Grace's."""

    def share(colour: tuple[int, int, int]) -> float:
        return float(np.all(np.abs(rgb.astype(int) - np.array(colour)) < 40, axis=2).mean())

    return share(ADA.rgb), share(GRACE.rgb)


async def test_the_chosen_layout_reaches_the_egress_and_a_change_reaches_it_while_live(
    backend_server: BackendServer, livekit_server: Any, rtmp_server: RtmpServer
) -> None:
    backend = HttpBackend(backend_server.url, backend_server.host_credential)
    session = RoomSession()
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    secrets.set("stream-key:good", "good-key")
    good = Destination("good", "Good", DestinationKind.CUSTOM, rtmp_server.url("live"))
    guests = [RoomGuest(ADA), RoomGuest(GRACE)]
    room = (await backend.call("create_room", appointmentId=backend_server.appointment_id))["room"]
    live = LiveOutputs(session.store, secrets, backend=backend, room_name=room["name"])
    try:
        await session.connect(room["url"], room["token"])
        for guest in guests:
            token = livekit_server.token(guest.guest.identity, room["name"])
            await guest.join(livekit_server.ws_url, token, CONNECT_TIMEOUT_S)
        # Grid maps onto the egress's grid exactly: nothing to say.
        assert live.set_layout(Layout.GRID) == ""
        assert not live.egress_running
        assert await live.go_live([good]) == {}
        assert live.egress_running

        def recorded_bytes() -> int:
            files = rtmp_server.recordings("live")
            return files[0].stat().st_size if files else 0

        await wait_for(lambda: recorded_bytes() > 150_000, 60)
        await asyncio.sleep(2.0)
        # While live, the running egress takes the new layout; its stream never restarts.
        assert live.set_layout(Layout.SPEAKER) == ""
        switched_at_bytes = recorded_bytes()
        await live.follow_layout()
        await wait_for(lambda: recorded_bytes() > switched_at_bytes + 150_000, 60)
        await asyncio.sleep(2.0)
        # A layout egress cannot draw: the studio says in words what viewers get instead.
        note = live.set_layout(Layout.SCREEN_PIP)
        assert "screen large" in note and "no corner" in note
        await live.end()
    finally:
        await live.aclose()
        for guest in guests:
            await guest.aclose()
        await session.aclose()
        await backend.aclose()
    assert len(rtmp_server.recordings("live")) == 1  # one stream, never restarted
    video = decode_video(rtmp_server.wait_for_recording("live"))
    kinds = []
    for _, rgb in video:
        ada, grace = _shares(rgb)
        if 0.1 < ada < 0.4 and 0.1 < grace < 0.4:
            kinds.append("grid")  # each guest a tile of the grid
        elif max(ada, grace) > 0.9:
            kinds.append("speaker")  # one guest fills the picture
        else:
            kinds.append("?")
    # Until the egress has subscribed to both guests, its grid of one guest fills the picture
    # (LiveKit's grid template does the same), so the stream may open looking like "speaker".
    # From the first frame with both tiles on: grid, then speaker, each for a while, and
    # nothing else.
    assert "grid" in kinds, kinds
    first = kinds.index("grid")
    after = kinds[first:]
    order = [k for i, k in enumerate(after) if k != "?" and (i == 0 or after[i - 1] != k)]
    assert order == ["grid", "speaker"], kinds
    assert after.count("grid") > 15 and after.count("speaker") > 15, kinds
    assert "?" not in kinds[first + 5 :], kinds
    times = [t for t, _ in video]
    assert float(np.diff(times).max()) < 1.0  # no gap in the stream across the switch


async def test_update_layout_reaches_the_cloud_recording_too(
    backend_server: BackendServer, real_livekit: LiveKitWithEgress
) -> None:
    """The backend's ``update_layout`` changes every egress the room runs, and says which."""
    status, created = await backend_server.call(
        "create_room", appointmentId=backend_server.appointment_id
    )
    assert status == 200, created
    name = created["room"]["name"]
    # Nothing runs yet: nothing to change, and that is not an error.
    status, body = await backend_server.call("update_layout", roomName=name, layout="grid")
    assert status == 200 and body["egressIds"] == [], body
    status, body = await backend_server.call("start_recording", roomName=name, layout="speaker")
    assert status == 200, body
    egress_id = body["recording"]["egressId"]
    try:
        status, body = await backend_server.call("update_layout", roomName=name, layout="grid")
        assert status == 200 and body == {"layout": "grid", "egressIds": [egress_id],
                                          "success": True}, body  # fmt: skip
        egress = real_livekit.egress.api()
        try:
            listed = await egress.egress.list_egress(api.ListEgressRequest(egress_id=egress_id))
        finally:
            await egress.aclose()
        assert listed.items[0].room_composite.layout == "grid"
        status, body = await backend_server.call("get_broadcast_status", roomName=name)
        assert status == 200 and body["recording"]["layout"] == "grid", body
    finally:
        await backend_server.call("stop_recording", roomName=name)
    # A layout that is not an egress layout is refused by the contract, naming the field.
    status, body = await backend_server.call("update_layout", roomName=name, layout="pip")
    assert status == 400 and "layout" in body["details"], body
