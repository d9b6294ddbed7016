"""Test configuration shared by the whole suite.

Fixtures for each real part live in ``tests/fixtures/<part>.py`` and are registered here.
"""

from __future__ import annotations

import os
import tempfile

# Qt renders offscreen unless a test asks for a real display (the screenshot tests).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Logs and crash reports of the studio and headless processes the tests start go to a folder of
# this run, never the user's: one test's crash must not be offered to the user (or another test).
os.environ.setdefault("BROADCASTER_LOG_DIR", tempfile.mkdtemp(prefix="broadcaster-test-logs-"))

pytest_plugins = [
    "tests.fixtures.process_guard",
    "tests.fixtures.hang_report",
    "tests.fixtures.hygiene",
    "tests.fixtures.devices",
    "tests.fixtures.rtmp",
    "tests.fixtures.livekit",
    "tests.fixtures.netns",
    "tests.fixtures.cluster",
    "tests.fixtures.egress",
    "tests.fixtures.postgres",
    "tests.fixtures.backend",
]
