"""Smoke test of the built bundle: it starts, and it publishes to a LiveKit server.

Runs ``dist/spaces-broadcaster/broadcaster --version``, then ``headless`` with synthetic devices
against the real livekit-server (built by scripts/setup) for a few seconds, and fails unless the
bundle connected and published camera and microphone.
Usage: ``.venv/bin/python packaging/smoke_test.py [BUNDLE]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.livekit import start_server, stop_server  # noqa: E402


def main() -> int:
    """Run the checks; print what failed and return non-zero on failure."""
    bundle = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist" / "spaces-broadcaster"
    exe = bundle / ("broadcaster.exe" if sys.platform == "win32" else "broadcaster")
    if not exe.exists():
        print(f"smoke test: no bundle at {exe}; run ./packaging/build first", file=sys.stderr)
        return 1
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    if version.returncode != 0 or not version.stdout.startswith("broadcaster "):
        print(f"smoke test: --version failed: {version.stderr[-1000:]}", file=sys.stderr)
        return 1
    print(f"smoke test: {version.stdout.strip()}")
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp))
        try:
            run = subprocess.run(
                [str(exe), "headless", "--url", server.ws_url, "--room", "smoke",
                 "--width", "640", "--height", "360", "--duration", "4"],
                capture_output=True, text=True, timeout=120,
                env={"LIVEKIT_API_KEY": server.api_key, "LIVEKIT_API_SECRET": server.api_secret,
                     "PATH": "/usr/bin:/bin"},
            )  # fmt: skip
        finally:
            stop_server(server)
    if run.returncode != 0:
        print(
            f"smoke test: headless exited {run.returncode}: {run.stderr[-2000:]}", file=sys.stderr
        )
        return 1
    states = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    published = {t["source"] for s in states for t in s.get("local_tracks", [])}
    if "connected" not in [s["connection"] for s in states] or published != {
        "camera",
        "microphone",
    }:
        print(f"smoke test: did not connect and publish: {run.stdout[-2000:]}", file=sys.stderr)
        return 1
    print("smoke test: the bundle connected and published camera and microphone")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
