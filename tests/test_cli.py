"""The ``broadcaster`` command as a user runs it: a real process, real devices or none."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from desktop import __version__


def _run(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60
         ) -> subprocess.CompletedProcess[str]:  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        capture_output=True, text=True, timeout=timeout_s, env=env or dict(os.environ),
    )  # fmt: skip


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"broadcaster {__version__}"
    assert __version__ != "0.0.0+unknown"


def test_unknown_command_is_named() -> None:
    result = _run("stream-everything")
    assert result.returncode == 2
    assert "unknown command 'stream-everything'" in result.stderr


def test_devices_lists_what_the_machine_has(xvfb_display: str, pulse_sink: str) -> None:
    env = {**os.environ, "DISPLAY": xvfb_display}
    result = _run("devices", "--json", env=env)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert [(s["monitor"], s["width"], s["height"]) for s in found["screens"]] == [(1, 640, 360)]
    assert any(m["name"] in ("pulse", "default") for m in found["microphones"])
    table = _run("devices", env=env)
    assert "Screens:" in table.stdout and "640x360" in table.stdout


def test_studio_without_display_says_what_to_do() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    result = _run(env=env)
    assert result.returncode == 2
    assert "no display" in result.stderr and "broadcaster headless" in result.stderr


@pytest.mark.slow
def test_studio_opens_a_real_window_on_xvfb(xvfb_display: str) -> None:
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb"}
    result = _run("--synthetic-devices", "--quit-after-s", "3", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
