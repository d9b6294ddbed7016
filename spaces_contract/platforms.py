"""The one table of streaming platforms, shared by the desktop app and the backend.

Plain standard-library data so every layer may import it: the backend builds a platform
destination's URL from it, the desktop's presets and settings read their labels, settings and
defaults from it (a test checks they agree).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class StreamingPlatform:
    """A platform a host can go live to with just a stream key."""

    id: str
    """Stable id used in requests, settings and keyring entries (``youtube``)."""
    label: str
    """What people read (``YouTube``)."""
    url_setting: str
    """Environment variable that overrides the ingest URL (``YOUTUBE_RTMP_URL``)."""
    default_url: str
    """The platform's ingest URL without the key, no trailing slash."""
    key_needed: bool = True
    """Whether a stream key must be appended to the URL."""

    def ingest_url(self, env: Mapping[str, str] | None = None) -> str:
        """The ingest URL (the override from the environment, or the default), no slash."""
        source = os.environ if env is None else env
        return (source.get(self.url_setting) or self.default_url).rstrip("/")

    def url_with_key(self, stream_key: str, env: Mapping[str, str] | None = None) -> str:
        """The full URL a stream is pushed to."""
        return f"{self.ingest_url(env)}/{stream_key}"


YOUTUBE = StreamingPlatform(
    "youtube", "YouTube", "YOUTUBE_RTMP_URL", "rtmp://a.rtmp.youtube.com/live2"
)
TWITCH = StreamingPlatform("twitch", "Twitch", "TWITCH_RTMP_URL", "rtmp://live.twitch.tv/app")
PLATFORMS: tuple[StreamingPlatform, ...] = (YOUTUBE, TWITCH)
"""Every platform, in the order people see them."""


def platform(platform_id: str) -> StreamingPlatform | None:
    """The platform with this id, if any."""
    return next((p for p in PLATFORMS if p.id == platform_id), None)
