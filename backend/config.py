"""Configuration of the reference backend, from the environment the platform already uses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

DEFAULT_YOUTUBE_RTMP_URL = "rtmp://a.rtmp.youtube.com/live2/"
DEFAULT_TWITCH_RTMP_URL = "rtmp://live.twitch.tv/live/"


@dataclass(frozen=True)
class BackendConfig:
    """Everything the backend needs to reach LiveKit and keep its records."""

    livekit_url: str
    """LiveKit server URL (ws(s):// or http(s)://); clients get it as their ws URL."""
    api_key: str
    """LiveKit API key."""
    api_secret: str
    """LiveKit API secret (never logged, never returned)."""
    database_path: Path
    """SQLite file of appointments, live streams and credentials."""
    recording_dir: str = "recordings"
    """Where room recordings are written when no bucket is configured."""
    recording_bucket: str = ""
    """S3 bucket for recordings (RECORDING_STORAGE_BUCKET), if any."""
    youtube_rtmp_url: str = DEFAULT_YOUTUBE_RTMP_URL
    """YouTube ingest base URL; the stream key is appended."""
    twitch_rtmp_url: str = DEFAULT_TWITCH_RTMP_URL
    """Twitch ingest base URL; the stream key is appended."""
    region: str = ""
    """LIVEKIT_REGION, reported in status."""
    embedded: bool = False
    """In-process for the desktop app: the one local host owns any appointment it names."""

    @property
    def ws_url(self) -> str:
        """The URL clients connect to."""
        url = self.livekit_url
        if url.startswith("http"):
            url = "ws" + url[4:]
        return url

    @property
    def http_url(self) -> str:
        """The URL of LiveKit's server APIs."""
        url = self.livekit_url
        if url.startswith("ws"):
            url = "http" + url[2:]
        return url

    @classmethod
    def from_env(cls, embedded: bool = False, database_path: Path | None = None) -> BackendConfig:
        """Read LIVEKIT_URL (or LIVEKIT_WS_URL, or LIVEKIT_HOST), LIVEKIT_API_KEY,
        LIVEKIT_API_SECRET, RECORDING_STORAGE_BUCKET, YOUTUBE_RTMP_URL, TWITCH_RTMP_URL.

        Raises:
            ValueError: A required variable is missing (named in the message).
        """
        env = os.environ
        url = env.get("LIVEKIT_URL") or env.get("LIVEKIT_WS_URL") or ""
        if not url and env.get("LIVEKIT_HOST"):
            url = f"wss://{env['LIVEKIT_HOST']}"
        missing = [
            name
            for name, value in (
                ("LIVEKIT_URL", url),
                ("LIVEKIT_API_KEY", env.get("LIVEKIT_API_KEY")),
                ("LIVEKIT_API_SECRET", env.get("LIVEKIT_API_SECRET")),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"set {', '.join(missing)} to reach your LiveKit server")
        data_dir = Path(platformdirs.user_data_dir("spaces-broadcaster-backend"))
        return cls(
            livekit_url=url,
            api_key=env["LIVEKIT_API_KEY"],
            api_secret=env["LIVEKIT_API_SECRET"],
            database_path=database_path
            or Path(env.get("BROADCASTER_BACKEND_DB", str(data_dir / "backend.sqlite3"))),
            recording_dir=env.get("BROADCASTER_RECORDING_DIR", str(data_dir / "recordings")),
            recording_bucket=env.get("RECORDING_STORAGE_BUCKET", ""),
            youtube_rtmp_url=env.get("YOUTUBE_RTMP_URL", DEFAULT_YOUTUBE_RTMP_URL),
            twitch_rtmp_url=env.get("TWITCH_RTMP_URL", DEFAULT_TWITCH_RTMP_URL),
            region=env.get("LIVEKIT_REGION", ""),
            embedded=embedded,
        )
