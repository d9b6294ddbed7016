"""``broadcaster headless --remote-control PORT``: the same API for what headless can do —
status, the program's layout and overlays, ending the run — with its output's health as
events; what it cannot do is refused naming what it can."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from desktop.media.compositor import comment_boxes
from tests.fixtures import processes
from tests.fixtures.headless import ROOT
from tests.fixtures.program import decode_video, region_colour
from tests.fixtures.rtmp import RtmpServer, free_port
from tests.participants import wait_for
from tests.remote.api import ApiClient, validator
from tests.remote.show import COMMENT_NAME_RGB, near

TOKEN = "headless-token"


async def test_headless_serves_the_api_for_its_program(
    rtmp_server: RtmpServer, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "headless.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BROADCASTER_REMOTE_TOKEN": TOKEN,
           "BROADCASTER_LOG_DIR": tempfile.mkdtemp(prefix="headless-logs-")}  # fmt: skip
    with log.open("wb") as err:
        process = await asyncio.create_subprocess_exec(
            *processes.child_command([sys.executable]), "-m", "desktop", "headless",
            "--width", "640", "--height", "360",
            "--rtmp", rtmp_server.url("live", "show"), "--remote-control", str(port),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    client = ApiClient(port)
    try:
        said = f"broadcaster headless: remote control listening on 127.0.0.1:{port}"
        await wait_for(lambda: said in log.read_text(errors="replace")
                       or process.returncode is not None, 60)  # fmt: skip
        assert process.returncode is None, log.read_text()
        welcome = await client.hello(TOKEN)
        assert "layout" in welcome["commands"] and "go_live" not in welcome["commands"]

        # The output may have gone live before this client came (then only status says so).
        async def live() -> dict[str, Any]:
            while True:
                status = await client.ok("status")
                if any(o["state"] == "live" for o in status["outputs"]):
                    return status
                await client.wait_event("outputs", lambda d: any(
                    o["state"] == "live" for o in d["outputs"]), 60)  # fmt: skip

        status = await asyncio.wait_for(live(), 60)
        assert status["is_live"] and status["connection"] == "idle"
        assert (await client.ok("layout", layout="grid"))["layout"] == "grid"
        shown = await client.ok("comment", name="Ann", text="Hello from headless")
        assert shown["comment"] == {"name": "Ann", "text": "Hello from headless"}
        await client.ok("banner", text="Headless banner")
        refused = await client.call("go_live")
        assert refused["error"]["code"] == "unknown_command"
        assert refused["error"]["message"].startswith("headless cannot 'go_live'; it can: ")
        # Long enough in the program for the RTMP capture to hold it (the output reports its
        # bytes about once a second).
        sizes: list[int] = []

        async def grown() -> bool:
            result = await client.ok("status")
            sizes.append(sum(int(o.get("bytes", 0)) for o in result["outputs"]))
            return sizes[-1] > sizes[0] + 150_000

        async def until_grown() -> None:
            while not await grown():
                await asyncio.sleep(0.5)

        await asyncio.wait_for(until_grown(), 60)
        assert (await client.ok("end_stream")) == {"ending": True}
        assert await asyncio.wait_for(process.wait(), 60) == 0
        check = validator()
        for message in client.messages:
            if message.get("command") != "go_live":
                check.validate(message)
    finally:
        await client.aclose()
        if process.returncode is None:
            process.terminate()
            await process.wait()
    name_box, _ = comment_boxes(640, 360, banner=True)
    pictures = decode_video(rtmp_server.wait_for_recording("live", 50_000))
    assert any(near(region_colour(rgb, name_box), COMMENT_NAME_RGB) for _, rgb in pictures)
