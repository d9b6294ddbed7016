"""``broadcaster --remote-control PORT``: the studio window (offscreen, synthetic devices) serves
the API, with the token from ``BROADCASTER_REMOTE_TOKEN``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures import processes
from tests.fixtures.rtmp import free_port

START_TIMEOUT_S = 60.0


def test_the_studio_serves_the_api_when_asked(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "BROADCASTER_REMOTE_TOKEN": "flag-test",
           "BROADCASTER_CONFIG_DIR": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data")}  # fmt: skip
    log = tmp_path / "studio.log"
    with log.open("w") as err:
        studio = processes.popen(
            [sys.executable, "-m", "desktop", "--synthetic-devices", "--no-setup",
             "--remote-control", str(port), "--quit-after-s", "120"],
            env=env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        # The studio says where it listens once it does (its log goes to a file: a pipe
        # nobody reads would fill and stop it).
        deadline = time.monotonic() + START_TIMEOUT_S
        said = f"broadcaster: remote control listening on 127.0.0.1:{port}"
        while said not in log.read_text(errors="replace"):
            assert studio.poll() is None, f"the studio exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the studio did not serve the API in time"
            time.sleep(0.2)

        def remote(*words: str) -> dict[str, object]:
            done = subprocess.run(
                [sys.executable, "-m", "desktop", "remote", "--port", str(port), *words],
                env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S, check=True,
            )  # fmt: skip
            result: dict[str, object] = json.loads(done.stdout)
            return result

        assert remote("status")["room"] == "Local studio"
        assert remote("layout", "next") == {"layout": "solo", "viewers_see": ""}
        assert remote("status")["layout"] == "solo"
    finally:
        studio.terminate()
        studio.wait(timeout=30)
