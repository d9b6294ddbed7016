"""Sharing the screen on and off for a whole show does not grow memory (issue: stability).

The native SDK keeps every unpublished video track's encoder, with its ``VideoEncoderQueue``
thread and buffers, until the room is left (rust-sdks #1277). A host who stops and restarts
sharing must not pay that each time: a stopped share is parked (published, muted) and reused.
These run against the real LiveKit server with a real SDK guest watching.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

from livekit import rtc

from desktop.media.synthetic import SyntheticScreen
from desktop.session.room_session import RoomSession
from desktop.session.state import Source
from tests.fixtures.livekit import CONNECT_TIMEOUT_S, LiveKitServer
from tests.participants import join, read_video_stamps, wait_for

CYCLES = 4


def encoder_threads() -> int:
    """WebRTC video encoder threads in this process (one per video send stream)."""
    tasks = Path(f"/proc/{os.getpid()}/task")
    count = 0
    for task in tasks.iterdir():
        try:
            count += (task / "comm").read_text().startswith("VideoEncoderQue")
        except OSError:
            continue  # the thread ended while we looked
    return count


def own_share(session: RoomSession) -> bool:
    """Whether the host's own state shows the screen share."""
    local = session.store.state.local
    return local is not None and local.track(Source.SCREEN) is not None


def live_share(guest: rtc.Room) -> rtc.RemoteTrackPublication | None:
    """The host's screen share as the guest has it: subscribed and not muted."""
    host = guest.remote_participants.get("host")
    if host is None:
        return None
    for publication in host.track_publications.values():
        if (publication.source == rtc.TrackSource.SOURCE_SCREENSHARE
                and publication.track is not None and not publication.muted):  # fmt: skip
            return publication
    return None


@contextlib.asynccontextmanager
async def host_and_guest(
    server: LiveKitServer, room: str, screen_park_s: float | None = None
) -> AsyncIterator[tuple[RoomSession, SyntheticScreen, rtc.Room]]:
    """A host session with a started synthetic screen, and a guest watching, in ``room``."""
    session = RoomSession()
    if screen_park_s is not None:
        session.publisher.screen_park_s = screen_park_s
    screen = SyntheticScreen(640, 360, fps=10)
    screen.start()
    guest: rtc.Room | None = None
    try:
        await session.connect(server.ws_url, server.token("host", room), CONNECT_TIMEOUT_S)
        guest = await join(server, "guest", room)
        yield session, screen, guest
    finally:
        if guest is not None:
            await guest.disconnect()
        await session.aclose()
        await screen.aclose()


async def test_sharing_on_and_off_reuses_one_track_and_adds_no_encoder(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    async with host_and_guest(livekit_server, unique_room) as (session, screen, guest):
        sids: set[str] = set()
        encoders: list[int] = []
        for cycle in range(CYCLES):
            publication = await session.publish_screen(screen)
            sids.add(publication.sid)
            await wait_for(lambda: own_share(session))
            # The guest sees the share live: new frames, in order, after every restart.
            await wait_for(lambda: live_share(guest) is not None, timeout_s=20)
            remote = live_share(guest)
            assert remote is not None and remote.track is not None
            stamps = await read_video_stamps(remote.track, 3)
            assert stamps == sorted(stamps) and len(set(stamps)) == 3, f"cycle {cycle}: {stamps}"
            encoders.append(encoder_threads())
            await session.stop_screen_share()
            # Stopping shows at once: the host's own state drops the share, the guest sees it
            # muted (or gone).
            assert not own_share(session)
            await wait_for(lambda: live_share(guest) is None)
        assert encoders[-1] <= encoders[0], f"encoder threads grew per share: {encoders}"
        assert len(sids) == 1, f"a new track per share: {sids}"


async def test_a_share_left_stopped_is_unpublished_for_guests(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    async with host_and_guest(livekit_server, unique_room, screen_park_s=1.0) as (
        session, screen, guest,
    ):  # fmt: skip
        first = await session.publish_screen(screen)

        def guest_sees_share() -> bool:
            host = guest.remote_participants.get("host")
            return host is not None and any(
                p.source == rtc.TrackSource.SOURCE_SCREENSHARE
                for p in host.track_publications.values()
            )

        await wait_for(guest_sees_share)
        await session.stop_screen_share()
        await wait_for(lambda: not guest_sees_share(), timeout_s=10)
        # Sharing again after that publishes a fresh track that the guest receives.
        second = await session.publish_screen(screen)
        assert second.sid != first.sid
        await wait_for(guest_sees_share)
