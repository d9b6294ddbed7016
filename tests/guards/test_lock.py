"""The environment the tests run in is exactly the lock: nothing more, nothing less, no drift."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def _locked_here() -> dict[str, str]:
    """Name → version of every lock entry whose environment marker matches this interpreter."""
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if not match:
            continue
        name, version, marker = match.groups()
        if marker and not Marker(marker).evaluate():
            continue
        pins[canonicalize_name(name)] = version
    return pins


def _installed() -> dict[str, str]:
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable",
         "--disable-pip-version-check"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    installed: dict[str, str] = {}
    for line in frozen.splitlines():
        name, _, version = line.partition("==")
        # pip is the venv's own installer, not a dependency of the app.
        if version and canonicalize_name(name) != "pip":
            installed[canonicalize_name(name)] = version
    return installed


def test_the_environment_is_exactly_the_lock() -> None:
    """`pip freeze` equals the lock for this platform: ./scripts/setup installs only it."""
    locked, installed = _locked_here(), _installed()
    assert "pyside6-essentials" in locked, "the lock names no PySide6"
    differences = {
        name: (locked.get(name, "not locked"), installed.get(name, "not installed"))
        for name in locked.keys() | installed.keys()
        if locked.get(name) != installed.get(name)
    }
    assert not differences, (
        "the environment differs from requirements/lock.txt (locked, installed): "
        f"{differences}; run ./scripts/setup, or ./scripts/lock after changing pyproject.toml"
    )


def test_the_lock_excludes_the_pyside6_that_aborts_the_studio() -> None:
    """PySide6 6.12.0 loses references to None (see tests/guards/test_binding_refcounts.py)."""
    locked = _locked_here()
    assert locked["pyside6-essentials"] != "6.12.0"
    assert locked["shiboken6"] == locked["pyside6-essentials"]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "!=6.12.0" in pyproject
