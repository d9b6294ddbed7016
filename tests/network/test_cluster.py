"""Two LiveKit nodes, one room: the host on node A, guests on node B, and node A going away.

A real two-node cluster (Redis + two ``livekit-server`` processes, ``tests/fixtures/cluster.py``).
The room lives on the node the first participant joined through; the others are routed to it
through Redis. Media, chat and RoomService calls must work across nodes, and when the room's
node stops, the app says so and rejoins through the other node from its URL list.
"""

from __future__ import annotations

import asyncio
import time

import keyring.backends.fail
from livekit import api, rtc
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.node_urls import connect_first
from desktop.session.publisher import PublishDefaults
from desktop.session.remote_video import RemoteVideo
from desktop.session.room_session import RoomSession
from desktop.session.settings import ConnectMode, Secrets, Settings
from desktop.session.state import ChatMessage, ConnectionState, Source
from desktop.session.studio import Studio
from desktop.ui.studio_window import StudioWindow
from tests.fixtures.cluster import Cluster
from tests.fixtures.headless import HeadlessProcess
from tests.fixtures.livekit import CONNECT_TIMEOUT_S, LiveKitServer, stop_server
from tests.participants import Feeder, join, read_video_stamps, wait_for
from tests.ui.driving import pump


def _camera_track(room: rtc.Room, identity: str) -> rtc.Track | None:
    participant = room.remote_participants.get(identity)
    if participant is None:
        return None
    for publication in participant.track_publications.values():
        if publication.source == rtc.TrackSource.SOURCE_CAMERA and publication.track is not None:
            return publication.track
    return None


async def _room_node(server: LiveKitServer, room: str) -> str:
    async with api.LiveKitAPI(server.http_url, server.api_key, server.api_secret) as lk:
        rooms = await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))
    return rooms.rooms[0].sid if rooms.rooms else ""


async def test_host_on_node_a_and_guests_on_node_b_see_hear_and_moderate_each_other(
    livekit_cluster: Cluster, unique_room: str
) -> None:
    node_a, node_b = livekit_cluster.node_a, livekit_cluster.node_b
    host = RoomSession(defaults=PublishDefaults(width=640, height=360, fps=15))
    camera = SyntheticCamera(640, 360, fps=15)
    mic = SyntheticMicrophone(level_dbfs=-10)
    for source in (camera, mic):
        source.start()
    feeder = Feeder()
    guest = viewer = None
    chat_at_guest: list[str] = []
    try:
        await host.connect(node_a.ws_url, node_a.token("host", unique_room), CONNECT_TIMEOUT_S)
        await host.publish_camera(camera)
        await host.publish_microphone(mic)
        guest = rtc.Room()

        def on_chat(reader: rtc.TextStreamReader, sender: str) -> None:
            async def read() -> None:
                chat_at_guest.append(f"{sender}: {await reader.read_all()}")

            asyncio.ensure_future(read())

        guest.register_text_stream_handler("lk.chat", on_chat)
        await guest.connect(node_b.ws_url, node_b.token("guest", unique_room),
                            rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S))  # fmt: skip
        guest_source = rtc.VideoSource(320, 180)
        track = rtc.LocalVideoTrack.create_video_track("guest-camera", guest_source)
        feeder.video(guest_source, 320, 180, fps=15)
        await guest.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA, simulcast=False)
        )
        viewer = await join(node_b, "viewer", unique_room)
        # One room, not two: both nodes report the same room id.
        assert await _room_node(node_a, unique_room) == await _room_node(node_b, unique_room) != ""

        # Everyone sees everyone: the host's camera reaches a viewer on node B (frame counters
        # decoded in order), the guest's camera from node B reaches the host's session on A.
        await wait_for(lambda: _camera_track(viewer, "host") is not None, 30)
        host_track = _camera_track(viewer, "host")
        assert host_track is not None
        stamps = await read_video_stamps(host_track, 6)
        # The SDK may hand a new sink the first frame twice (seen in CI: 24, 24, 25, …); after
        # that every frame is new and in order.
        if stamps[0] == stamps[1]:
            stamps = stamps[1:]
        assert all(a < b for a, b in zip(stamps, stamps[1:], strict=False)), stamps
        await wait_for(lambda: {"guest", "viewer"} <= set(host.store.state.remotes), 20)
        videos: list[RemoteVideo] = []

        def open_guest_video() -> bool:
            video = host.open_remote_video("guest", Source.CAMERA, 180)
            if video is not None:
                videos.append(video)
            return video is not None

        await wait_for(open_guest_video, 20)
        try:
            frame = await asyncio.wait_for(videos[0].frames.aget(), 20)
        finally:
            await videos[0].aclose()
        assert frame is not None and (frame.width, frame.height) == (320, 180)

        # Chat both ways across the nodes.
        await host.send_chat("hello from node A")
        await wait_for(lambda: "host: hello from node A" in chat_at_guest, 15)
        await guest.local_participant.send_text("hello from node B", topic="lk.chat")

        def host_got(text: str) -> bool:
            chat: tuple[ChatMessage, ...] = host.store.state.chat
            return any(m.sender_identity == "guest" and m.text == text for m in chat)

        await wait_for(lambda: host_got("hello from node B"), 15)

        # Moderation through either node: node B mutes the host's camera (the room is on A),
        # node A removes the viewer who joined through B.
        async with node_b.api() as lk_b:
            host_camera = next(
                t for t in (await lk_b.room.get_participant(
                    api.RoomParticipantIdentity(room=unique_room, identity="host"))).tracks
                if t.source == api.TrackSource.CAMERA
            )  # fmt: skip
            await lk_b.room.mute_published_track(
                api.MuteRoomTrackRequest(
                    room=unique_room, identity="host", track_sid=host_camera.sid, muted=True
                )
            )

        def host_camera_muted() -> bool:
            local = host.store.state.local
            track = local.track(Source.CAMERA) if local else None
            return track is not None and track.muted

        await wait_for(host_camera_muted, 15)
        removed = asyncio.Event()
        viewer.on("disconnected", lambda *_: removed.set())
        async with node_a.api() as lk_a:
            await lk_a.room.remove_participant(
                api.RoomParticipantIdentity(room=unique_room, identity="viewer")
            )
        await asyncio.wait_for(removed.wait(), 15)
        await wait_for(lambda: "viewer" not in host.store.state.remotes, 15)
    finally:
        await feeder.aclose()
        for room in (guest, viewer):
            if room is not None:
                await room.disconnect()
        await host.aclose()
        for source in (camera, mic):
            await source.aclose()


async def test_when_the_rooms_node_stops_headless_says_so_and_rejoins_through_the_other(
    livekit_cluster: Cluster, unique_room: str
) -> None:
    node_a, node_b = livekit_cluster.node_a, livekit_cluster.node_b
    # The host's URL list names A first: it joins through A. Stopping A cuts its connection
    # (and the room, wherever it lived, loses A's participants).
    headless = await HeadlessProcess.start(
        "--url", livekit_cluster.urls, "--token", node_a.token("host", unique_room),
        "--width", "320", "--height", "180", "--duration", "120",
    )  # fmt: skip
    try:
        await headless.until(lambda h: h.publishing, 45)
        seen_before = len(headless.states)
        stopped_at = time.monotonic()
        stop_server(node_a)
        # It says so: not connected any more, with the reason, and never "connected" until back.
        await headless.until(lambda h: h.connection in ("reconnecting", "disconnected"), 30)
        await headless.until(lambda h: h.publishing, 60)
        back_after_s = time.monotonic() - stopped_at
        after = [str(s["connection"]) for s in headless.states[seen_before:]]
        first_drop = next(i for i, c in enumerate(after) if c != "connected")
        assert after[first_drop:].index("connected") > 0, after
        # Back through node B: a guest joining B receives the host's camera frames.
        guest = await join(node_b, "guest", unique_room)
        try:
            await wait_for(lambda: _camera_track(guest, "host") is not None, 30)
            track = _camera_track(guest, "host")
            assert track is not None
            stamps = await read_video_stamps(track, 5)
            assert stamps == sorted(stamps)
        finally:
            await guest.disconnect()
        print(f"published again through node B {back_after_s:.1f} s after node A stopped")
    finally:
        status = await headless.stop()
    stderr = headless.stderr.decode(errors="replace")
    assert status == 0, stderr[-3000:]
    assert f"rejoined the room through {node_b.ws_url}" in stderr, stderr[-3000:]


async def test_joining_goes_through_the_first_node_that_answers(
    livekit_cluster: Cluster, unique_room: str
) -> None:
    # Node A is down before the host starts: the list's second node lets the host in (the
    # studio and headless both join through connect_first).
    node_a, node_b = livekit_cluster.node_a, livekit_cluster.node_b
    stop_server(node_a)
    session = RoomSession()
    try:
        joined = await connect_first(
            session, livekit_cluster.urls, node_b.token("host", unique_room), 5
        )
        assert joined == node_b.ws_url
        assert session.store.state.connection is ConnectionState.CONNECTED
    finally:
        await session.aclose()


async def test_the_studio_says_the_rooms_node_is_gone_and_reconnects_through_the_other(
    qtbot: QtBot, livekit_cluster: Cluster, unique_room: str
) -> None:
    node_a, node_b = livekit_cluster.node_a, livekit_cluster.node_b
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    # Settings as a host would enter them: the node list as the server URL.
    settings = Settings(connect_mode=ConnectMode.LIVEKIT, livekit_url=livekit_cluster.urls)
    studio = Studio(settings, Secrets(keyring.backends.fail.Keyring()))  # type: ignore[no-untyped-call]
    studio.use_devices(camera, mic)
    window = StudioWindow(studio)
    qtbot.addWidget(window)
    window.show()

    def publishing() -> bool:
        state = studio.store.state
        return state.connection is ConnectionState.CONNECTED and bool(
            state.local and len(state.local.tracks) >= 2
        )

    def on_screen() -> str:
        return (
            f"window says {window.header.connection.text()!r}, "
            f"state {studio.store.state.connection}"
        )

    try:
        await studio.connect(livekit_cluster.urls, node_a.token("host", unique_room))
        await pump(publishing, 30, state=on_screen)
        await pump(
            lambda: window.header.connection.text().startswith("Connected"), 10, state=on_screen
        )
        stop_server(node_a)
        # The window says the connection is gone and offers to reconnect; the host clicks it.
        await pump(
            lambda: not window.header.connection.text().startswith("Connected"), 30, state=on_screen
        )
        await pump(lambda: window.header.reconnect.isVisibleTo(window), 30, state=on_screen)
        qtbot.mouseClick(window.header.reconnect, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
        await pump(publishing, 30, state=on_screen)
        await pump(
            lambda: window.header.connection.text().startswith("Connected"), 10, state=on_screen
        )
        guest = await join(node_b, "guest", unique_room)
        try:
            await wait_for(lambda: _camera_track(guest, "host") is not None, 30)
            track = _camera_track(guest, "host")
            assert track is not None
            assert len(await read_video_stamps(track, 3)) == 3
        finally:
            await guest.disconnect()
    finally:
        window.close()
        await studio.aclose()  # the room, the guests' player (its speaker stream), the devices
