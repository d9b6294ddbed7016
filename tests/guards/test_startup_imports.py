"""Start-up: the studio's first preview frame paints before the heavy libraries load.

LiveKit, PyAV, aiohttp, the keyring (and cryptography, which it and the backend's key store
pull in) cost the first window about a second when imported up front; they load on first use
instead (``spaces_common/lazy.py``). This test runs the real studio as a user starts it and fails
when any of them is loaded by the time the preview has painted its first camera frame, e.g.
when someone adds a module-level ``from livekit import rtc`` to a module the window imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DEFERRED = ("livekit", "av", "aiohttp", "keyring", "cryptography")

# Runs the studio's own entry point; at the moment it reports its first painted frame, says
# which of the deferred libraries are loaded (and how many frames the preview showed).
_PROBE = f"""
import json, sys
import desktop.ui.app as app

report = app._report_first_frame

def watch(tile, then):
    def first_frame():
        loaded = [name for name in {DEFERRED!r} if name in sys.modules]
        print(json.dumps({{"loaded": loaded, "frames": tile.frames_shown}}), flush=True)
        then()
    report(tile, first_frame)

app._report_first_frame = watch
app.main(sys.argv[1:])
"""


@pytest.mark.parametrize(
    "mode",
    [
        [],  # local studio mode
        # Joining a room (nothing listens there: it fails after the frame) starts only once
        # the preview has painted, so LiveKit is not imported before it either.
        ["--url", "ws://127.0.0.1:9", "--token", "not-a-token"],
    ],
    ids=["local", "livekit-url"],
)
def test_first_preview_paints_before_livekit_pyav_aiohttp_and_keyring_load(
    tmp_path: Path, mode: list[str]
) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "BROADCASTER_LOG_DIR": str(tmp_path / "logs"),
    }
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, "--synthetic-devices", "--quit-after-first-frame",
         "--quit-after-s", "120", *mode],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == 1, result.stdout + result.stderr[-3000:]
    assert reports[0]["frames"] >= 1
    assert reports[0]["loaded"] == [], (
        f"{reports[0]['loaded']} loaded before the first preview frame painted; import them "
        "where first used (see spaces_common/lazy.py)"
    )
