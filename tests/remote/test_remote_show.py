"""A show driven only through the remote-control API, against the real livekit-server and
nginx-rtmp: a wrong token is refused, the right one accepted; the studio goes live to
nginx-rtmp, switches layout, puts a guest in the program and takes them out, shows a viewer's
comment as a lower third, and stops. The RTMP program is decoded to check each change reached
it. Every command is called and every event seen; every message matches the schema."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from desktop.media.compositor import comment_boxes
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone, SyntheticScreen
from desktop.session.remote_control.events import EVENTS
from desktop.session.remote_control.server import RateLimit, RemoteControlServer
from desktop.session.state import ProblemCode
from desktop.session.studio import Studio
from tests.fixtures.egress import CONNECT_TIMEOUT_S, LiveKitWithEgress, livekit_mode_studio
from tests.fixtures.program import Guest, RoomGuest, decode_video, region_colour
from tests.fixtures.rtmp import RtmpServer
from tests.participants import wait_for
from tests.remote.api import ApiClient, status_validator, validator
from tests.remote.show import COMMENT_NAME_RGB, near, program_rgb, sent_more

TOKEN = "test-token-0123456789"
GUEST_RGB = (120, 60, 200)
"""Ann's camera: a purple none of the synthetic camera's bars is."""


def share_of(
    rgb: npt.NDArray[np.uint8], colour: tuple[int, int, int], tolerance: int = 30
) -> float:
    """The share of a picture's pixels within ``tolerance`` of ``colour`` on every channel."""
    near = np.all(np.abs(rgb.astype(np.int16) - np.array(colour, np.int16)) <= tolerance, axis=2)
    return float(near.mean())


async def test_a_show_driven_through_the_api(
    real_livekit: LiveKitWithEgress,
    unique_room: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rtmp_server: RtmpServer,
) -> None:
    settings, secrets = livekit_mode_studio(
        real_livekit, unique_room, tmp_path, monkeypatch, preset="360p30"
    )
    settings.recording_folder = str(tmp_path / "recordings")
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(settings, secrets)
    studio.use_devices(camera, mic)
    destination = studio.add_destination("nginx", rtmp_server.url("live"), "show")
    await studio.set_destination_enabled(destination.id, False)  # the API switches it on
    server = RemoteControlServer(
        studio, TOKEN, open_screen=lambda: SyntheticScreen(),
        rate_limit=RateLimit(free_failures=3, lockout_s=60),
    )  # fmt: skip
    port = await server.start()
    wrong, client = ApiClient(port), ApiClient(port)
    ann = RoomGuest(Guest("ann", "Ann", GUEST_RGB, 660.0, 640, 360), moving=True)
    try:
        # A wrong token is refused and the connection closed; the right one is welcome.
        refused = await wrong.hello("not-the-token")
        assert refused["type"] == "refused" and "wrong token" in refused["reason"]
        assert await wrong.closed_code() == 4001
        welcome = await client.hello(TOKEN)
        assert welcome["type"] == "welcome" and welcome["protocol"] == 1

        await studio.connect()
        await client.wait_event("connection", lambda d: d["state"] == "connected")
        assert studio.backend is not None
        joined = await studio.backend.join_room(studio.store.state.room_name, "ann", "Ann",
                                                can_publish=True)  # fmt: skip
        await ann.join(joined.url, joined.token, CONNECT_TIMEOUT_S)
        await client.wait_event("participants", lambda d: any(
            p["identity"] == "ann" and p["publishing"] for p in d["participants"]))  # fmt: skip
        status = await client.ok("status")
        assert status["connection"] == "connected" and not status["is_live"]
        assert {"id": destination.id, "name": "nginx", "enabled": False} in status["destinations"]
        status_validator().validate(status)

        # Live to nginx-rtmp, in a grid, with Ann put in the program.
        await client.ok("destination", id=destination.id, on=True)
        went = await client.ok("go_live")
        assert went == {"is_live": True, "problems": {}}
        await client.wait_event(
            "outputs",
            lambda d: (
                d["is_live"]
                and any(
                    o["output"] == destination.id and o["state"] == "live" for o in d["outputs"]
                )
            ),
        )
        assert (await client.ok("layout", layout="grid"))["layout"] == "grid"
        staged = await client.ok("stage", identity="ann", on=True)
        assert staged["stage"] == ["host", "ann"]
        await client.wait_event("program", lambda d: d["stage"] == ["host", "ann"]
                                and d["layout"] == "grid")  # fmt: skip
        ann_region = next(r for r in studio.live.direct.compositor.planned_regions()
                          if r.source_id == "ann")  # fmt: skip
        try:
            await wait_for(lambda: near(region_colour(program_rgb(studio), ann_region),
                                        GUEST_RGB), 30)  # fmt: skip
        except AssertionError:
            seen = region_colour(program_rgb(studio), ann_region)
            raise AssertionError(f"Ann's cell {ann_region} shows {seen}, not {GUEST_RGB}") from None
        await client.ok("pin", identity="ann")
        # Moderation while she is on stage (taken off, she may no longer publish).
        muted = asyncio.Event()
        ann.room.on("track_muted", lambda *_: muted.set())
        assert (await client.ok("mute_guest", identity="ann"))["source"] == "microphone"
        await asyncio.wait_for(muted.wait(), 20)
        await client.ok("ask_to_unmute", identity="ann")
        await sent_more(studio, destination.id, 150_000)

        # A viewer's comment as a lower third (the guest's chat line, shown through the API).
        await ann.room.local_participant.send_text("Hello from Lisbon", topic="lk.chat")
        chat = await client.wait_event("chat", lambda d: d["from"] == "ann")
        assert chat["name"] == "Ann" and chat["text"] == "Hello from Lisbon"
        shown = await client.ok("comment", name=chat["name"], text=chat["text"])
        assert shown["comment"] == {"name": "Ann", "text": "Hello from Lisbon"}
        name_box, _ = comment_boxes(640, 360, banner=False)
        await wait_for(lambda: near(region_colour(program_rgb(studio), name_box),
                                    COMMENT_NAME_RGB), 20)  # fmt: skip
        await sent_more(studio, destination.id, 150_000)
        await client.ok("comment_hide")

        # Ann out of the program again; then the show ends.
        taken = await client.ok("stage", guest=1)  # toggles, as the hotkey does
        assert taken == {"identity": "ann", "on": False, "stage": ["host"], "note": ""}
        await wait_for(lambda: share_of(program_rgb(studio), GUEST_RGB) < 0.01, 30)
        await sent_more(studio, destination.id, 150_000)
        assert (await client.ok("end_live"))["is_live"] is False
        await client.wait_event("outputs", lambda d: not d["is_live"])

        # What nginx received: Ann in her grid cell, then the comment, then neither.
        pictures = decode_video(rtmp_server.wait_for_recording("live", 50_000))
        with_ann = [i for i, (_, rgb) in enumerate(pictures) if near(
            region_colour(rgb, ann_region), GUEST_RGB)]  # fmt: skip
        with_comment = [i for i, (_, rgb) in enumerate(pictures) if near(
            region_colour(rgb, name_box), COMMENT_NAME_RGB)]  # fmt: skip
        assert with_ann, "Ann never appeared in the RTMP program"
        assert with_comment, "the comment never appeared in the RTMP program"
        assert with_ann[0] < with_comment[-1]
        tail = pictures[-5:]
        assert all(share_of(rgb, GUEST_RGB) < 0.01 for _, rgb in tail)
        assert not any(near(region_colour(rgb, name_box), COMMENT_NAME_RGB) for _, rgb in tail)

        await every_other_command(client, studio, ann)
        # The studio raises an alert the way start-up does when a stand-in device is used.
        studio.set_problem(ProblemCode.SYNTHETIC_CAMERA)
        await client.wait_event("alerts", lambda d: {"code": "synthetic_camera", "detail": ""}
                                in d["alerts"])  # fmt: skip
        await client.wait_event("quality", lambda d: d["quality"].get("ann", "unknown")
                                != "unknown")  # fmt: skip
        summary = await client.ok("end_stream")
        assert summary["peak_participants"] >= 2

        assert client.commands == set(server.dispatcher.handlers)
        assert {e["event"] for e in client.events} == set(EVENTS)
        check = validator()
        for message in [*wrong.messages, *client.messages]:
            if message.get("command") != "fly":  # (a command the schema rightly refuses)
                check.validate(message)
    finally:
        await client.aclose()
        await wrong.aclose()
        await ann.aclose()
        await server.aclose()
        await studio.aclose()


async def every_other_command(client: ApiClient, studio: Studio, ann: RoomGuest) -> None:
    """The commands the show above did not need, each checked against what it changed."""
    assert (await client.ok("banner", text="Back in five"))["banner"] == "Back in five"
    assert (await client.ok("banner_toggle"))["banner"] == ""
    assert (await client.ok("banner_toggle"))["banner"] == "Back in five"
    assert studio.live.direct.compositor.scene.banner == "Back in five"
    assert (await client.ok("ticker", text="Next week: a guest from Lisbon"))["ticker"]
    await client.ok("ticker", text="")
    assert (await client.ok("layout", layout="next"))["layout"] == "speaker"

    await client.ok("chat", text="Thanks for watching")
    await client.wait_event("chat", lambda d: d["local"] and d["text"] == "Thanks for watching")
    assert (await client.ok("mic", on=False)) == {"on": False}
    assert studio.mic_on is False
    await client.ok("mic", on=True)
    assert (await client.ok("camera", on=False)) == {"on": False}
    await client.ok("camera", on=True)
    await client.ok("screen_share", on=True)
    assert studio.screen is not None
    await client.ok("screen_share", on=False)
    assert studio.screen is None

    recording = await client.ok("recording", on=True, place="local")
    assert recording["path"].endswith(".mp4")
    await client.wait_event("outputs", lambda d: any(o["output"] == "recording"
                                                     for o in d["outputs"]))  # fmt: skip
    await client.ok("recording", on=False)
    hls = await client.ok("hls", on=True, segment_s=2)
    assert hls["playlist"].endswith(".m3u8")
    await client.ok("hls", on=False)
    rehearsal = await client.ok("rehearse", on=True)
    assert rehearsal["where"]
    await client.wait_event("outputs", lambda d: bool(d["rehearsal"]))
    await client.ok("rehearse", on=False)

    gone = asyncio.Event()
    ann.room.on("disconnected", lambda *_: gone.set())
    await client.ok("remove_guest", identity="ann")
    await asyncio.wait_for(gone.wait(), 20)
    await client.wait_event("participants", lambda d: all(p["identity"] != "ann"
                                                          for p in d["participants"]))  # fmt: skip
    # Plain words for what cannot be done.
    missing = await client.call("stage", identity="nobody", on=True)
    assert missing["error"] == {
        "code": "not_possible",
        "message": "'nobody' is not in the room; 'status' lists who is",
    }
    unknown = await client.call("fly")
    assert unknown["error"]["code"] == "unknown_command"
    client.commands.discard("fly")
