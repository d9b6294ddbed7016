"""Connection quality on a real bad network: a participant behind ``tc netem`` goes poor.

A publisher (``broadcaster headless``, the app's own session) runs inside a network namespace
the test creates; the LiveKit server listens on the namespace's veth as well as on loopback.
The host's session watches from loopback. Then netem loses 20 % of the packets and delays them
by 200 ms both ways on that veth: the publisher's own quality goes poor and it halves its camera
frame rate; the host sees that guest go poor and asks for their smallest layer. Without netem
both recover.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from desktop.session.room_session import RoomSession
from desktop.session.stage_control import quality_levels
from desktop.session.state import Quality, QualityChange
from tests.fixtures.headless import HeadlessProcess
from tests.fixtures.livekit import CONNECT_TIMEOUT_S, LiveKitServer
from tests.fixtures.netns import NetNamespace
from tests.participants import wait_for

BAD = (Quality.POOR, Quality.LOST)
FINE = (Quality.EXCELLENT, Quality.GOOD)
QUALITY_TIMEOUT_S = 60.0
"""LiveKit grades quality over a few seconds of stats; a loaded machine needs more."""


def netns_server(factory: Callable[..., LiveKitServer], netns: NetNamespace) -> LiveKitServer:
    """A server whose media goes through the namespace's veth, and only through it.

    Signalling listens on loopback and on the veth's root-side address. ICE gathers on the veth
    alone, and ``rtc.node_ip`` names that address, so the server's one candidate is
    ``host_ip``: the namespace reaches it over the veth (through netem), participants in the
    root namespace over loopback (it is a local address). With ``lo`` in the ICE interfaces
    too, the server would answer the namespace from its loopback socket and ICE never connects.
    """
    return factory(
        node_ip=netns.host_ip,
        bind_addresses=("127.0.0.1", netns.host_ip),
        interfaces=(netns.host_veth,),
        ip_ranges=(f"{netns.host_ip}/32",),
    )


async def test_a_guest_on_a_bad_network_goes_poor_and_both_sides_adapt(
    livekit_server_factory: Callable[..., LiveKitServer], netns: NetNamespace, unique_room: str
) -> None:
    server = netns_server(livekit_server_factory, netns)
    port = server.ws_url.rsplit(":", 1)[1]
    guest = await HeadlessProcess.start(
        "--url", f"ws://{netns.host_ip}:{port}", "--token", server.token("guest", unique_room),
        "--width", "640", "--height", "360", "--fps", "20", "--duration", "240",
        prefix=netns.command(),
    )  # fmt: skip
    host = RoomSession()
    try:
        await host.connect(server.ws_url, server.token("host", unique_room), CONNECT_TIMEOUT_S)
        await guest.until(lambda g: g.publishing, 45)

        def guest_quality() -> Quality:
            remote = host.store.state.remotes.get("guest")
            return Quality.UNKNOWN if remote is None else remote.quality

        await wait_for(lambda: guest_quality() in FINE, QUALITY_TIMEOUT_S)
        await guest.until(lambda g: g.last["quality"] in ("excellent", "good"), QUALITY_TIMEOUT_S)
        assert host.store.state.adaptations == ()

        shaping = netns.degrade(loss_percent=20, delay_ms=200)
        degraded_at = time.monotonic()
        # The host sees the guest go poor and asks for their smallest layer.
        await wait_for(lambda: guest_quality() in BAD, QUALITY_TIMEOUT_S)
        poor_after_s = time.monotonic() - degraded_at
        changes: tuple[QualityChange, ...] = host.store.state.adaptations
        adaptations = [change.description for change in changes]
        assert adaptations == ["guest's connection is poor: asking for their smallest video layer"]
        # The guest's own session sees its own quality go poor and halves its camera rate.
        await guest.until(lambda g: g.last["quality"] in ("poor", "lost"), QUALITY_TIMEOUT_S)
        await guest.until(
            lambda g: (
                "your connection is poor: camera frame rate halved to save bandwidth"
                in g.last["adaptations"]
            ),
            10,
        )
        # Its session stays in the room through it (a bad link is not a lost one).
        assert guest.connection == "connected", guest.last

        netns.restore()
        await wait_for(lambda: guest_quality() in FINE, QUALITY_TIMEOUT_S)
        await guest.until(
            lambda g: (
                g.last["quality"] in ("excellent", "good")
                and "your connection recovered: camera back to full frame rate"
                in g.last["adaptations"]
            ),
            QUALITY_TIMEOUT_S,
        )
        print(f"guest graded poor {poor_after_s:.1f} s after {shaping.value}")
        # The studio's quality history (People sparkline, summary) kept the whole course:
        # fine, then bad, then fine again, in order and timestamped.
        history = host.store.state.quality_history["guest"]
        course = [s.quality for s in history if s.quality is not Quality.UNKNOWN]
        first_bad = next(i for i, q in enumerate(course) if q in BAD)
        assert course[0] in FINE and course[-1] in FINE and first_bad > 0, course
        stamps = [s.timestamp_ms for s in history]
        assert stamps == sorted(stamps)
        levels = quality_levels(history, int(time.time() * 1000), buckets=24)
        assert levels[0] in FINE and any(q in BAD for q in levels), levels
    finally:
        await host.aclose()
        status = await guest.stop()
    assert status == 0, guest.stderr.decode(errors="replace")[-3000:]
    # ICE stayed on loopback and on the pair this test created.
    strays = server.stray_addresses(allowed=netns.addresses)
    assert not strays, "\n".join(strays[:20])
    candidates = {c.address for c in server.ice_candidates()}
    assert netns.inner_ip in candidates, candidates
