"""Guests in a LiveKit room reach the program: their pictures in their regions, their voices.

Two guests join through the real SDK and publish a colour and a tone each. The host's session
puts them in the program; the program is recorded, the layout switches mid-recording, one
guest is sent backstage. The recording is decoded and checked region by region and by FFT.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from livekit import rtc

from desktop.media.compositor import HOST_ID, Layout, Region, RegionKind
from desktop.media.frames import VideoFrame
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.program import DirectBroadcast
from desktop.media.synthetic import SyntheticMicrophone
from desktop.session.adaptation import Layer as Wanted
from desktop.session.program_feed import ProgramFeed, program_warning
from desktop.session.remote_video import LAYER_WISHES
from desktop.session.room_session import RoomSession
from desktop.session.state import Quality, RoomState
from tests.fixtures.livekit import CONNECT_TIMEOUT_S
from tests.fixtures.program import (
    Guest,
    RoomGuest,
    close_to,
    decode_audio_from,
    decode_video,
    region_colour,
    tone_strength,
)
from tests.waiting import wait_for

WIDTH, HEIGHT, FPS = 1280, 720, 30
HOST_HZ = 440.0
WAIT_S = 30.0
"""How long a wait lasts unless it says otherwise (generous: a loaded machine)."""
# 720p guests publish three simulcast layers (320x180, 640x360, 1280x720).
ADA = Guest("ada", "Ada Lovelace", (220, 40, 40), 1000.0, 1280, 720)
GRACE = Guest("grace", "Grace Hopper", (40, 200, 60), 1700.0, 1280, 720)


class SizeSpy(DirectBroadcast):
    """The program, noting the size of each guest's newest picture (the layer received)."""

    sizes: dict[str, tuple[int, int]] = {}

    def push_video(self, source_id: str, frame: VideoFrame) -> None:
        self.sizes[source_id] = (frame.width, frame.height)
        super().push_video(source_id, frame)


def test_warning_when_live_with_guests_on_stage_but_not_in_the_program() -> None:
    from desktop.session.state import ParticipantState, Source, TrackState

    mic = TrackState("TR_1", Source.MICROPHONE, False, False)
    guest = ParticipantState(identity="ada", name="Ada", tracks=(mic,))
    state = RoomState(remotes={"ada": guest}, is_live=True)
    assert "only you" in program_warning(state, (HOST_ID,))
    assert "empty" in program_warning(state, ())
    assert program_warning(state, (HOST_ID, "ada")) == ""
    assert program_warning(RoomState(remotes={"ada": guest}), (HOST_ID,)) == ""
    backstage = ParticipantState(identity="bo", can_publish=False)
    assert program_warning(RoomState(remotes={"bo": backstage}, is_live=True), (HOST_ID,)) == ""


async def test_guests_in_the_room_are_composed_into_the_recorded_program(
    livekit_server: Any, unique_room: str, tmp_path: Path
) -> None:
    server = livekit_server  # the fixture's server: ws_url and token() are all this test uses
    session = RoomSession()
    broadcast = SizeSpy(EncoderSettings(WIDTH, HEIGHT, FPS, video_bitrate_bps=2_000_000))
    mic = SyntheticMicrophone(HOST_HZ)
    mic.start()
    broadcast.set_sources(camera=None, microphone=mic)
    feed = ProgramFeed(broadcast, session.store)
    guests = [RoomGuest(ADA), RoomGuest(GRACE)]
    try:
        await session.connect(server.ws_url, server.token("host", unique_room), CONNECT_TIMEOUT_S)
        room = session.room
        assert room is not None
        feed.attach(room)
        for guest in guests:
            token = server.token(guest.guest.identity, unique_room, name=guest.guest.name)
            await guest.join(server.ws_url, token, CONNECT_TIMEOUT_S)

        def everyone_subscribed() -> bool:
            people = room.remote_participants.values()
            return len(people) == 2 and all(
                len(p.track_publications) == 2
                and all(t.track is not None for t in p.track_publications.values())
                for p in people
            )

        await wait_for(everyone_subscribed, WAIT_S)
        feed.set_in_program("ada", True)
        feed.set_in_program("grace", True)
        feed.set_layout(Layout.GRID)
        broadcast.start_recording(tmp_path / "program.mkv")
        await wait_for(lambda: broadcast.compositor.has_frame("ada")
                       and broadcast.compositor.has_frame("grace"), WAIT_S)  # fmt: skip
        await asyncio.sleep(3.0)
        grid = broadcast.compositor.regions()
        # Grid cells of a 720p program are about 340 px tall: the middle layer fills them.
        # (This test checks the asks; the layer that then arrives is read back in
        # test_the_layer_that_arrives_follows_the_guests_region, with a guest whose picture
        # keeps changing so that a starved encoder keeps its layers.)
        medium, low = rtc.VideoQuality.VIDEO_QUALITY_MEDIUM, rtc.VideoQuality.VIDEO_QUALITY_LOW
        assert feed.layers() == {"ada": medium, "grace": medium}
        feed.set_layout(Layout.SPEAKER)
        feed.set_pinned("grace")
        await asyncio.sleep(2.0)
        speaker = broadcast.compositor.regions()
        assert max(speaker, key=lambda r: r.width * r.height).source_id == "grace"
        # The program asks for the layer each region needs: ada in the small strip gets the
        # smallest layer, grace (large) the full one; both keep arriving.
        high = rtc.VideoQuality.VIDEO_QUALITY_HIGH
        assert feed.layers() == {"ada": low, "grace": high}
        broadcast.sizes.clear()
        await wait_for(lambda: set(broadcast.sizes) == {"ada", "grace"}, WAIT_S)
        feed.set_in_program("ada", False)  # sent backstage: out of the picture and the mix
        mixed_at = broadcast.audio_blocks
        await asyncio.sleep(2.0)
        # A starved machine mixes late: record until 2 s of sound after the change are mixed.
        await wait_for(lambda: broadcast.audio_blocks >= mixed_at + 200, 30)
        backstage = broadcast.compositor.regions()
        assert "ada" not in {r.source_id for r in backstage}
        await asyncio.get_running_loop().run_in_executor(None, broadcast.remove, "recording")
    finally:
        for guest in guests:
            await guest.aclose()
        await feed.aclose()
        await session.aclose()
        broadcast.close()
        await mic.aclose()

    video = decode_video(tmp_path / "program.mkv")
    colours = {"ada": ADA.rgb, "grace": GRACE.rgb}

    def shows(rgb: npt.NDArray[np.uint8], regions: tuple[Region, ...]) -> bool:
        people = [r for r in regions if r.kind is RegionKind.PERSON and r.source_id in colours]
        return bool(people) and all(
            close_to(region_colour(rgb, r), colours[r.source_id], 40) for r in people
        )

    seen = [("grid" if shows(rgb, grid) else "speaker" if shows(rgb, speaker)
             else "backstage" if shows(rgb, backstage) else "?") for _, rgb in video]  # fmt: skip
    # In order, each for a while: grid, then speaker with both, then grace alone with the host.
    order = [k for i, k in enumerate(seen) if k != "?" and (i == 0 or seen[i - 1] != k)]
    assert order == ["grid", "speaker", "backstage"], order
    # Each for a while (measured in file time: a busy machine composes fewer pictures).
    for kind, least_s in (("grid", 2.0), ("speaker", 1.0), ("backstage", 1.0)):
        times = [t for (t, _), k in zip(video, seen, strict=True) if k == kind]
        assert times[-1] - times[0] > least_s, (kind, times[-1] - times[0])

    # Sound and pictures share the file's clock: listen where the pictures show each stage.
    def sound_from(kind: str, skip_s: float) -> npt.NDArray[np.float32]:
        at = next(t for (t, _), k in zip(video, seen, strict=True) if k == kind)
        return decode_audio_from(tmp_path / "program.mkv", at + skip_s)

    both = sound_from("grid", 0.5)[: 48_000 * 2]
    for hz in (HOST_HZ, ADA.tone_hz, GRACE.tone_hz):
        assert tone_strength(both, hz) > 20, hz
    end = sound_from("backstage", 0.5)
    assert end.shape[0] > 48_000 // 4, end.shape
    grace_after = tone_strength(end, GRACE.tone_hz)
    assert grace_after > 20
    # Ada is gone from the mix: what remains at her pitch is at least 20 dB under Grace (a
    # starved machine's silence gaps splatter a little energy over every frequency).
    assert tone_strength(end, ADA.tone_hz) < grace_after / 10
    assert tone_strength(end, ADA.tone_hz) < tone_strength(both, ADA.tone_hz) / 10


async def test_add_to_stage_and_send_backstage_change_program_and_permission(
    backend_server: Any, livekit_server: Any
) -> None:
    import keyring.backends.fail

    from desktop.session.settings import ConnectMode, Secrets, Settings
    from desktop.session.state import ParticipantState
    from desktop.session.studio import Studio

    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    secrets.set("platform-credential", backend_server.host_credential)
    settings = Settings(connect_mode=ConnectMode.PLATFORM, backend_url=backend_server.url,
                        appointment_id=backend_server.appointment_id)  # fmt: skip
    studio = Studio(settings, secrets)
    guest = RoomGuest(Guest("ann", "Ann", (220, 40, 40), 1000.0, 640, 360))
    try:
        await studio.connect()
        room = studio.store.state.room_name
        status, joined = await backend_server.call(
            "join_room", roomName=room, userId="ann", permissions={"canPublish": True}
        )
        assert status == 200, joined
        await guest.join(joined["url"], joined["token"], CONNECT_TIMEOUT_S)

        def remotes() -> dict[str, ParticipantState]:
            return studio.store.state.remotes

        await wait_for(lambda: "ann" in remotes() and remotes()["ann"].is_publisher, WAIT_S)
        # Add to stage: in the program (picture and mix) and allowed to publish.
        assert await studio.set_in_program("ann", True) == ""
        assert list(studio.program.stage) == [HOST_ID, "ann"]
        assert "ann" in studio.live.direct.mixer.inputs()
        # Send backstage: out of the program, and the SFU takes the right to publish away.
        assert await studio.set_in_program("ann", False) == ""
        assert list(studio.program.stage) == [HOST_ID]
        assert "ann" not in studio.live.direct.mixer.inputs()
        await wait_for(lambda: not remotes()["ann"].can_publish, WAIT_S)
        await studio.set_in_program("ann", True)
        await wait_for(lambda: remotes()["ann"].can_publish, WAIT_S)
    finally:
        await guest.aclose()
        await studio.aclose()


class ArrivalSpy(DirectBroadcast):
    """The program, noting when each of a guest's pictures arrived and how big it was."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, int, int]] = []

    def push_video(self, source_id: str, frame: VideoFrame) -> None:
        self.arrivals.append((time.monotonic(), frame.width, frame.height))
        super().push_video(source_id, frame)


NO_BANDWIDTH_LIMIT = {"rtc": {"congestion_control": {"enabled": False}}}
"""A server whose forwarding follows what subscribers ask for, whatever its bandwidth estimate.

With congestion control on (the default), a loaded 2-core machine's delays read as a narrow
link and the SFU may hold the top layer back for a while; what these tests check is which
layer the program asks for and that the one asked for is the one decoded."""


async def test_the_layer_that_arrives_follows_the_guests_region(
    livekit_server_factory: Callable[..., Any], unique_room: str
) -> None:
    """The SFU sends the layer the program asks for: a grid cell gets 640x360, solo 1280x720,
    a strip tile 320x180 — read from the decoded frames the program receives."""
    server = livekit_server_factory(extra=NO_BANDWIDTH_LIMIT)
    session = RoomSession()
    broadcast = ArrivalSpy(EncoderSettings(WIDTH, HEIGHT, FPS))
    feed = ProgramFeed(broadcast, session.store)
    guest = RoomGuest(ADA, moving=True)
    try:
        await session.connect(server.ws_url, server.token("host", unique_room), CONNECT_TIMEOUT_S)
        room = session.room
        assert room is not None
        feed.attach(room)
        await guest.join(server.ws_url, server.token("ada", unique_room), CONNECT_TIMEOUT_S)
        await wait_for(lambda: "ada" in room.remote_participants and all(
            p.track is not None for p in room.remote_participants["ada"].track_publications.values()
        ) and len(room.remote_participants["ada"].track_publications) == 2, WAIT_S)  # fmt: skip
        # A grid of four (two people with their cameras off, who are not in the room): Ada's
        # cell is about 340 px tall in a 720p program.
        feed.set_layout(Layout.GRID)
        for identity in ("ada", "bo", "cy"):
            feed.set_in_program(identity, True)
        medium = rtc.VideoQuality.VIDEO_QUALITY_MEDIUM
        high, low = rtc.VideoQuality.VIDEO_QUALITY_HIGH, rtc.VideoQuality.VIDEO_QUALITY_LOW
        assert feed.layers() == {"ada": medium}

        async def arrives(
            fits: Callable[[int], bool], what: str, timeout_s: float = WAIT_S
        ) -> tuple[int, int]:
            """Wait for a picture of a fitting height asked after now; returns its size."""
            asked = time.monotonic()
            seen = len(broadcast.arrivals)

            def found() -> bool:
                return any(t > asked and fits(h) for t, _, h in broadcast.arrivals[seen:])

            def sizes() -> str:
                return f"{what}: {sorted({(w, h) for _, w, h in broadcast.arrivals[seen:]})}"

            await wait_for(found, timeout_s, what, state=sizes)
            return next((w, h) for t, w, h in broadcast.arrivals[seen:] if t > asked and fits(h))

        assert await arrives(lambda h: h == 360, "the middle layer for a grid cell") == (640, 360)
        # Settled on it: no full-size picture comes while the grid shows.
        settled = len(broadcast.arrivals)
        await asyncio.sleep(2.0)
        assert all(h <= 360 for _, _, h in broadcast.arrivals[settled:])
        # Solo, pinned: Ada fills the picture and the top layer comes.
        feed.set_layout(Layout.SOLO)
        feed.set_pinned("ada")
        assert feed.layers() == {"ada": high}
        # The guest's encoder resumes its paused top layer first (dynacast): on a loaded
        # machine that alone can take tens of seconds, so this wait is longer.
        assert await arrives(lambda h: h == 720, "the top layer for solo", 90.0) == (1280, 720)
        # Speaker with someone else large: Ada is a strip tile and gets the smallest layer.
        feed.set_layout(Layout.SPEAKER)
        feed.set_pinned("bo")
        assert feed.layers() == {"ada": low}
        # Ada's connection is graded again (as the SFU does every few seconds): the session's
        # own adaptation must not take the program's layer away (it used to ask for the top
        # layer of every guest not in a tile, and the strip tile got 720p for good).
        session._on_guest_quality("ada", Quality.GOOD)
        camera = next(p for p in room.remote_participants["ada"].track_publications.values()
                      if p.kind == rtc.TrackKind.KIND_VIDEO)  # fmt: skip
        assert LAYER_WISHES.asked(camera.sid) is Wanted.LOW
        assert await arrives(lambda h: h == 180, "the smallest layer for a strip tile") == (
            320, 180,
        )  # fmt: skip
        # Ada's link turns poor, then she leaves: no wish for her camera outlives her (the
        # connection's wish used to stay for the rest of the show).
        session._on_guest_quality("ada", Quality.POOR)
        assert LAYER_WISHES.wished(camera.sid) == {"connection": Wanted.LOW, "program": Wanted.LOW}
        await guest.aclose()
        await wait_for(lambda: "ada" not in room.remote_participants, WAIT_S)
        await wait_for(lambda: not LAYER_WISHES.wished(camera.sid), 5.0, "the wish forgotten",
                       state=lambda: LAYER_WISHES.wished(camera.sid))  # fmt: skip
        assert LAYER_WISHES.asked(camera.sid) is None
    finally:
        await guest.aclose()
        await feed.aclose()
        await session.aclose()
        broadcast.close()
