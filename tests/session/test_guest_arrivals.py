"""Every guest put on stage is in the picture, whatever the moment of their arrival (issue #32).

A host's session with the program feed and the stage's tiles (the stage widget's rule, without
Qt: a tile opens a guest's camera once the room says it is subscribed, and keeps it) joins a room
on the real server. Guests join and publish a camera (two simulcast layers) and a tone, and the
host adds each to the program and to a tile at one moment of their arrival:

- ``published``: as the server announces their camera, before it is subscribed;
- ``subscribing``: a little later, while the subscription is being made (spread over 0.4 s);
- ``first-frame``: just after the tile's first frame;
- ``layer-switch``: just after the tile asked for another layer and that layer arrived;
- ``republished``: on stage with their picture showing, they unpublish and publish again.

Each case passes when, after its last event, fresh pictures of the guest reach the program (and
the compositor shows them, not initials) and the tile, and their voice reaches the mix. Cases
run five at a time in one room; 50 in all. The time each took to its picture is printed.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import pytest
from livekit import rtc
from livekit.rtc.participant import PublishTrackError

from tests.fixtures.livekit import CONNECT_TIMEOUT_S
from tests.fixtures.program import Guest, RoomGuest
from tests.session.stage_host import Host

MOMENTS = ("published", "subscribing", "first-frame", "layer-switch", "republished")
ROUNDS = 10
"""Rounds of the five moments: 50 arrivals."""
PICTURE_WAIT_S = 20.0
"""How long a case waits for the guest's picture before it counts as lost (a generous bound:
the fix brings it within 2 s; the printed figures say how long each took)."""
SETUP_ATTEMPTS = 3
"""A guest whose own publish times out arrives again (at most this many arrivals per case)."""


@dataclass
class Outcome:
    """One case: when its last event was, and how long each part took to show the guest."""

    moment: str
    identity: str
    since: float = 0.0
    program_s: float | None = None
    tile_s: float | None = None
    voice_s: float | None = None
    subscribed_s: float = 0.0
    """When the host's SDK had the camera's track, from ``since`` (0: it had it already)."""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return None not in (self.program_s, self.tile_s, self.voice_s)


async def wait_for_picture(host: Host, outcome: Outcome) -> None:
    """Wait (bounded) until the guest shows in program and tile and is heard."""
    deadline = outcome.since + PICTURE_WAIT_S
    while time.monotonic() < deadline:
        now = time.monotonic() - outcome.since
        in_program, in_tile, heard = host.shows(outcome.identity, outcome.since)
        if in_program and outcome.program_s is None:
            outcome.program_s = now
        if in_tile and outcome.tile_s is None:
            outcome.tile_s = now
        if heard and outcome.voice_s is None:
            outcome.voice_s = now
        if outcome.ok:
            arrived = host.subscribed_at.get(outcome.identity, 0.0)
            outcome.subscribed_s = max(0.0, arrived - outcome.since)
            return
        await asyncio.sleep(0.02)


def first_tile_frame(host: Host, identity: str) -> asyncio.Future[None]:
    """Resolved on the tile's next frame of a guest."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    assert host.tiles is not None

    def seen() -> None:
        if not future.done():
            future.set_result(None)

    host.tiles.on_frame[identity] = seen
    return future


async def run_case(host: Host, server: Any, moment: str, round_index: int) -> Outcome:
    """One guest arrives; the host puts them on stage at ``moment``.

    A guest whose own publish the server did not confirm in time (a loaded 2-core machine:
    the SDK gives up after 10 s) arrives again under a new name; that is the guest's side
    failing, not the studio's, and the retry is noted in the outcome.
    """
    for attempt in range(SETUP_ATTEMPTS):
        try:
            return await arrive(host, server, moment, round_index, attempt)
        except PublishTrackError as exc:
            failure = f"{moment}-{round_index}: the guest's publish failed ({exc})"
            print(f"{failure}; arriving again")
    raise AssertionError(failure)


async def arrive(host: Host, server: Any, moment: str, round_index: int, attempt: int) -> Outcome:
    """One arrival (see :func:`run_case`)."""
    identity = f"{moment}-{round_index}" + (f"-again{attempt}" if attempt else "")
    outcome = Outcome(moment, identity)
    guest = RoomGuest(Guest(identity, identity.title(), (200, 60, 60), 900.0 + round_index * 37,
                            640, 360))  # fmt: skip
    published = host.camera_published(identity)
    try:
        await guest.join(server.ws_url, server.token(identity, host.room_name), CONNECT_TIMEOUT_S)
        publication = await asyncio.wait_for(published, PICTURE_WAIT_S)
        if moment == "published":
            host.on_stage(identity)
            outcome.notes.append(f"subscribed when added: {publication.track is not None}")
        elif moment == "subscribing":
            await asyncio.sleep(0.04 * round_index)
            host.on_stage(identity)
            outcome.notes.append(f"subscribed when added: {publication.track is not None}")
        elif moment == "first-frame":
            assert host.tiles is not None
            frame = first_tile_frame(host, identity)
            host.tiles.show(identity)
            await asyncio.wait_for(frame, PICTURE_WAIT_S)
            host.on_stage(identity)
        elif moment == "layer-switch":
            assert host.tiles is not None
            frame = first_tile_frame(host, identity)
            host.tiles.show(identity, 180)
            await asyncio.wait_for(frame, PICTURE_WAIT_S)
            video = host.tiles.videos[identity]
            video.fit(720)  # the top layer (640x360 here) instead of the small one
            deadline = time.monotonic() + 5.0
            while host.tiles.frame_height.get(identity) != 360 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            outcome.notes.append(f"tile's layer: {host.tiles.frame_height.get(identity)}p")
            host.on_stage(identity)
        elif moment == "republished":
            host.on_stage(identity)
            outcome.since = time.monotonic()
            await wait_for_picture(host, outcome)
            outcome.notes.append(f"first picture after {outcome.program_s}")
            outcome.program_s = outcome.tile_s = outcome.voice_s = None
            local = next(p for p in guest.room.local_participant.track_publications.values()
                         if p.source == rtc.TrackSource.SOURCE_CAMERA)  # fmt: skip
            again = host.camera_published(identity)
            unpublished = asyncio.get_running_loop().create_future()

            def gone(pub: rtc.RemoteTrackPublication, p: rtc.RemoteParticipant) -> None:
                if p.identity == identity and not unpublished.done():
                    unpublished.set_result(None)

            host.room.on("track_unpublished", gone)
            await guest.room.local_participant.unpublish_track(local.sid)
            await asyncio.wait_for(unpublished, PICTURE_WAIT_S)
            host.room.off("track_unpublished", gone)
            assert guest.camera_track is not None
            await guest.room.local_participant.publish_track(
                guest.camera_track,
                rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=True),
            )
            await asyncio.wait_for(again, PICTURE_WAIT_S)
        outcome.since = time.monotonic()
        await wait_for_picture(host, outcome)
    finally:
        host.feed.set_in_program(identity, False)
        await guest.aclose()
    return outcome


def summary(outcomes: list[Outcome]) -> str:
    lines = []
    for moment in MOMENTS:
        mine = [o for o in outcomes if o.moment == moment]
        lost = [o for o in mine if not o.ok]
        took = [max(o.program_s or 0, o.tile_s or 0) for o in mine if o.ok]
        # From the moment (or, when later, from the camera's track arriving at the host's SDK:
        # what the studio can act on).
        after = [max(o.program_s or 0, o.tile_s or 0) - o.subscribed_s for o in mine if o.ok]
        worst = (
            f", slowest {max(took):.2f} s, median {statistics.median(took):.2f} s; "
            f"after the track arrived: slowest {max(after):.2f} s, "
            f"median {statistics.median(after):.2f} s"
            if took
            else ""
        )
        lines.append(f"{moment}: {len(mine) - len(lost)}/{len(mine)} in the picture{worst}")
        for o in lost:
            lines.append(f"  LOST {o.identity}: program {o.program_s}, tile {o.tile_s}, "
                         f"voice {o.voice_s}; {'; '.join(o.notes)}")  # fmt: skip
    return "\n".join(lines)


@pytest.mark.timeout(300)
async def test_a_guest_put_on_stage_at_any_moment_of_arrival_is_in_the_picture(
    livekit_server: Any, unique_room: str
) -> None:
    host = Host(livekit_server, unique_room)
    outcomes: list[Outcome] = []
    try:
        await host.start()
        for round_index in range(ROUNDS):
            cases: list[Awaitable[Outcome]] = [
                run_case(host, livekit_server, moment, round_index) for moment in MOMENTS
            ]
            outcomes += await asyncio.gather(*cases)
    finally:
        await host.aclose()
    report = summary(outcomes)
    print(report)
    assert len(outcomes) == len(MOMENTS) * ROUNDS
    assert all(o.ok for o in outcomes), report
