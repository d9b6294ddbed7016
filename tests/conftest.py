"""Test configuration shared by the whole suite.

Fixtures for each real part live in ``tests/fixtures/<part>.py`` and are registered here.
"""

from __future__ import annotations

import os

# Qt renders offscreen unless a test asks for a real display (the screenshot tests).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = [
    "tests.fixtures.hygiene",
    "tests.fixtures.devices",
    "tests.fixtures.rtmp",
    "tests.fixtures.livekit",
    "tests.fixtures.netns",
    "tests.fixtures.cluster",
    "tests.fixtures.livekit_double",
    "tests.fixtures.backend",
]
