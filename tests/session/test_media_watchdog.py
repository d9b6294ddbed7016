"""The media watchdog brings back a guest's camera or voice taken away underneath the studio.

On the real server: a guest ("Blue") is on stage, in the program and in a tile. The host's SDK
then unsubscribes their camera (or microphone) behind the program feed's back. The watchdog
(the studio's timings: 5 s, then 5 s more) must ask for it again and bring it back; when the
retries keep failing (the test unsubscribes again each time), the host must be told, naming
the guest, and the Stats counts must say what happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from livekit import rtc

from desktop.session.media_watchdog import MediaWatchdog, WatchdogTimings
from desktop.session.state import MediaAlert, Source
from tests.fixtures.livekit import CONNECT_TIMEOUT_S
from tests.fixtures.program import Guest, RoomGuest
from tests.session.stage_host import Host
from tests.waiting import wait_for

BLUE = Guest("blue", "Blue", (40, 60, 220), 1200.0, 640, 360)
TIMINGS = WatchdogTimings()
"""The studio's own timings: the test waits for the watchdog's events."""
EVENT_WAIT_S = 40.0
"""Generous bound for one of the watchdog's steps (5 s + 5 s, on a loaded machine)."""


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = EVENT_WAIT_S) -> None:
    """``wait_for`` with this file's bound; ``what`` comes second, as each step reads."""
    await wait_for(predicate, timeout_s, what)


class Sabotage:
    """Unsubscribes a guest's track at the SDK level, now and (while on) whenever it returns."""

    def __init__(self, room: rtc.Room, identity: str, source: rtc.TrackSource.ValueType) -> None:
        self.room = room
        self.identity = identity
        self.source = source
        self.keep_on = False
        self.times = 0
        room.on("track_subscribed", self._subscribed)

    def publication(self) -> rtc.RemoteTrackPublication:
        participant = self.room.remote_participants[self.identity]
        return next(p for p in participant.track_publications.values() if p.source == self.source)

    def take_away(self) -> None:
        self.times += 1
        self.publication().set_subscribed(False)

    def _subscribed(
        self, _track: rtc.Track, publication: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:  # fmt: skip
        if self.keep_on and participant.identity == self.identity:
            if publication.source == self.source:
                self.take_away()

    def close(self) -> None:
        self.keep_on = False
        self.room.off("track_subscribed", self._subscribed)


async def on_stage(host: Host, server: Any) -> tuple[RoomGuest, MediaWatchdog]:
    room = await host.start()
    watchdog = MediaWatchdog(
        host.session.store,
        lambda: [*host.feed.probes(), *host.session.tile_probes()],
        TIMINGS,
    )
    watchdog.start()
    guest = RoomGuest(BLUE)
    await guest.join(server.ws_url, server.token("blue", host.room_name, name="Blue"),
                     CONNECT_TIMEOUT_S)  # fmt: skip
    await until(lambda: "blue" in room.remote_participants
                and len(room.remote_participants["blue"].track_publications) == 2,
                "Blue's camera and microphone")  # fmt: skip
    host.on_stage("blue")
    since = time.monotonic() - 1
    await until(lambda: all(host.shows("blue", since)), "Blue in program, tile and mix")
    return guest, watchdog


def alerts(host: Host) -> tuple[MediaAlert, ...]:
    return host.session.store.state.media_alerts


@pytest.mark.timeout(240)
async def test_a_camera_taken_away_comes_back_and_the_host_is_told_when_it_does_not(
    livekit_server: Any, unique_room: str
) -> None:
    host = Host(livekit_server, unique_room)
    guest: RoomGuest | None = None
    watchdog: MediaWatchdog | None = None
    try:
        guest, watchdog = await on_stage(host, livekit_server)
        sabotage = Sabotage(host.room, "blue", rtc.TrackSource.SOURCE_CAMERA)
        # Taken away once: the program shows initials, the tile has nothing new; the watchdog
        # asks again after 5 s and the picture returns, in the program and in the tile.
        sabotage.take_away()
        gone = time.monotonic()
        await until(lambda: not host.program.compositor.has_frame("blue"),
                    "the program's picture of Blue to go")  # fmt: skip
        await until(lambda: host.shows("blue", gone)[:2] == (True, True),
                    "Blue's picture back in program and tile")  # fmt: skip
        # Program and tile stall together; whichever asks first brings both back.
        watch = host.session.store.state.media_watch
        assert watch.stalls >= 1 and watch.retries >= 1, watch
        await until(lambda: host.session.store.state.media_watch.recovered >= 1,
                    "the stall counted as recovered")  # fmt: skip
        assert not alerts(host), alerts(host)
        # Taken away each time it comes back: after 5 s + 5 s the host is told, by name.
        sabotage.keep_on = True
        sabotage.take_away()
        await until(lambda: any(a.key == "program:blue:camera" for a in alerts(host)),
                    "the program's alert about Blue's camera")  # fmt: skip
        program_alert = next(a for a in alerts(host) if a.key == "program:blue:camera")
        assert program_alert.text == "Blue's camera is not reaching the program — we are retrying"
        await until(lambda: any(a.key == "tile:blue:camera" for a in alerts(host)),
                    "the tile's alert about Blue's camera")  # fmt: skip
        assert host.session.store.state.media_watch.alerts >= 2
        # The retries go on: once the camera may stay, it returns and the alerts go.
        sabotage.close()
        back = time.monotonic()
        await until(lambda: host.shows("blue", back)[:2] == (True, True),
                    "Blue's picture back after the retries")  # fmt: skip
        await until(lambda: not alerts(host), "the alerts to clear")
        print(f"taken away {sabotage.times} times; counts {host.session.store.state.media_watch}")
    finally:
        if watchdog is not None:
            await watchdog.aclose()
        if guest is not None:
            await guest.aclose()
        await host.aclose()


@pytest.mark.timeout(240)
async def test_a_voice_taken_away_comes_back_and_the_host_is_told_when_it_does_not(
    livekit_server: Any, unique_room: str
) -> None:
    host = Host(livekit_server, unique_room)
    guest: RoomGuest | None = None
    watchdog: MediaWatchdog | None = None
    try:
        guest, watchdog = await on_stage(host, livekit_server)
        sabotage = Sabotage(host.room, "blue", rtc.TrackSource.SOURCE_MICROPHONE)
        sabotage.take_away()
        gone = time.monotonic()
        await until(lambda: host.program.audio_at["blue"] < time.monotonic() - 1,
                    "Blue's voice to stop reaching the mix")  # fmt: skip
        await until(lambda: host.shows("blue", gone)[2], "Blue's voice back in the mix")
        await until(lambda: host.session.store.state.media_watch.recovered >= 1,
                    "the stall counted as recovered")  # fmt: skip
        assert not alerts(host), alerts(host)
        sabotage.keep_on = True
        sabotage.take_away()
        await until(lambda: any(a.key == "program:blue:microphone" for a in alerts(host)),
                    "the alert about Blue's voice")  # fmt: skip
        alert = next(a for a in alerts(host) if a.key == "program:blue:microphone")
        assert alert.source is Source.MICROPHONE
        assert alert.text == "Blue's voice is not reaching the program — we are retrying"
        # The camera was never touched: no alert about it.
        assert all(a.source is Source.MICROPHONE for a in alerts(host)), alerts(host)
        sabotage.close()
        back = time.monotonic()
        await until(lambda: host.shows("blue", back)[2], "Blue's voice back after the retries")
        await until(lambda: not alerts(host), "the alert to clear")
    finally:
        if watchdog is not None:
            await watchdog.aclose()
        if guest is not None:
            await guest.aclose()
        await host.aclose()


@pytest.mark.timeout(240)
async def test_a_camera_that_sends_nothing_is_asked_again_then_named_and_comes_back(
    livekit_server: Any, unique_room: str
) -> None:
    """The track stays subscribed but carries nothing (the guest's camera froze upstream): the
    program reads it anew, then has the SFU make the subscription anew, then tells the host;
    when pictures flow again they reach program and tile through the new subscription."""
    host = Host(livekit_server, unique_room)
    guest: RoomGuest | None = None
    watchdog: MediaWatchdog | None = None
    try:
        guest, watchdog = await on_stage(host, livekit_server)
        unsubscribed: list[str] = []
        host.room.on("track_unsubscribed", lambda _t, pub, p: unsubscribed.append(p.identity))
        guest.camera_paused = True
        await until(lambda: any(a.key == "program:blue:camera" for a in alerts(host)),
                    "the program's alert about Blue's camera")  # fmt: skip
        assert host.session.store.state.media_watch.retries >= 3  # program twice, tile once
        # The second ask (with the alert) has the SFU make the subscription anew.
        await until(lambda: "blue" in unsubscribed, "the camera's subscription made anew")
        guest.camera_paused = False
        back = time.monotonic()
        await until(lambda: host.shows("blue", back)[:2] == (True, True),
                    "Blue's picture back in program and tile")  # fmt: skip
        await until(lambda: not alerts(host), "the alerts to clear")
    finally:
        if watchdog is not None:
            await watchdog.aclose()
        if guest is not None:
            await guest.aclose()
        await host.aclose()
