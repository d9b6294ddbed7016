"""The screenshot gallery: a real studio window under Xvfb in each main state, saved as PNGs in
``test-artefacts/gallery/`` (``docs/studio.md`` shows them), each checked for what it must show."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from livekit import rtc
from PySide6.QtGui import QImage

from tests.fixtures import processes
from tests.fixtures.livekit import LiveKitServer
from tests.fixtures.rtmp import RtmpServer, free_port
from tests.participants import Feeder

ARTEFACTS = Path(os.environ.get("BROADCASTER_ARTEFACTS", "test-artefacts"))
STATES = ("setup", "studio-empty", "studio-three-guests", "studio-share",
          "studio-live-failing-destination", "summary")  # fmt: skip


async def test_gallery_of_every_main_state(
    xvfb_display: str, livekit_server: LiveKitServer, rtmp_server: RtmpServer, unique_room: str
) -> None:
    out = ARTEFACTS / "gallery"
    for old in out.glob("*.png"):
        old.unlink()
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb",
           "BROADCASTER_CONFIG_DIR": str(out / "config")}  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *processes.child_command([sys.executable]), "-m", "tests.ui.gallery_driver",
        "--ws-url", livekit_server.ws_url,
        "--token", livekit_server.token("host", unique_room, name="Maya", room_admin=True),
        "--rtmp-url", rtmp_server.url("live", "gallery"),
        "--dead-url", f"rtmp://127.0.0.1:{free_port()}/app",
        "--out", str(out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    feeder = Feeder()
    guests: list[rtc.Room] = []
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        assert line.strip() == b"READY", line
        for identity, name in (("ann", "Ann Lee"), ("bo", "Bo Chen"), ("cy", "Cy Diaz")):
            guest = rtc.Room()
            await guest.connect(livekit_server.ws_url,
                                livekit_server.token(identity, unique_room, name=name))  # fmt: skip
            video = rtc.VideoSource(320, 180)
            feeder.video(video, 320, 180)
            await guest.local_participant.publish_track(
                rtc.LocalVideoTrack.create_video_track("cam", video),
                rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA),
            )
            guests.append(guest)
        _, err = await asyncio.wait_for(proc.communicate(), 300)
        assert proc.returncode == 0, err.decode()[-3000:]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await feeder.aclose()
        for guest in guests:
            await guest.disconnect()

    for state in STATES:
        image = QImage(str(out / f"{state}.png"))
        assert not image.isNull() and image.width() >= 400, state
    seen = json.loads((out / "gallery.json").read_text())
    setup = seen["setup"]
    assert setup["camera preview"] and setup["test connection"] and setup["LiveKit URL"]
    assert not setup["backend URL"]  # only the chosen mode's fields
    empty = seen["studio-empty"]
    assert empty["own tile"] and empty["guest tiles"] == 0 and empty["control bar"]
    assert not empty["live badge"]
    three = seen["studio-three-guests"]
    assert three["guest tiles"] == 3 and three["guest tiles with video"] == 3
    assert all(abs(a - 16 / 9) < 0.05 for a in three["tile aspect"])
    share = seen["studio-share"]
    assert share["share tile"] and share["share wider than guests"]
    assert share["share button says"] == "Stop sharing"
    live = seen["studio-live-failing-destination"]
    assert live["live badge"] and live["live badge text"].startswith("LIVE 0:00:")
    assert "Studio B live" in live["health"] and live["rec badge"] and live["notice stack"]
    assert any("Twitch did not start" in n for n in live["notices"])
    summary = seen["summary"]
    assert summary["summary"] and "Time live: 0:00:" in summary["text"]
    assert summary["guest tiles after end"] == 0
