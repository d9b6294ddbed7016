"""Configuration of the reference backend, from the environment the platform already uses."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import platformdirs

from spaces_contract.money import Rates
from spaces_contract.platforms import PLATFORMS

DEFAULT_LIVEKIT_TIMEOUT_S = 10.0
DEFAULT_TOKEN_TTL_S = 600
"""Join tokens only need to last until the client connects: LiveKit then refreshes them."""


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
    platform_urls: Mapping[str, str] = field(default_factory=dict)
    """Platform id → ingest URL overriding the platform table's default (YOUTUBE_RTMP_URL…)."""
    region: str = ""
    """LIVEKIT_REGION: the deployment region, reported in get_broadcast_status."""
    embedded: bool = False
    """In-process for the desktop app: the one local host owns any appointment it names."""
    egress_url: str = ""
    """LIVEKIT_EGRESS_URL: where the Egress API is served ("" = the LiveKit server)."""
    livekit_timeout_s: float = DEFAULT_LIVEKIT_TIMEOUT_S
    """Bound on every call to LiveKit (LIVEKIT_TIMEOUT_S); past it the answer is a 504."""
    token_ttl_s: int = DEFAULT_TOKEN_TTL_S
    """Lifetime of join tokens (BROADCASTER_TOKEN_TTL_S)."""
    rtmp_allowed_hosts: tuple[str, ...] = ()
    """Non-public ingest hosts (``host`` or ``host:port``) egress may push to
    (BROADCASTER_RTMP_ALLOWED_HOSTS, comma-separated): a self-hosted ingest server."""
    rates: Rates = field(default_factory=Rates)
    """Cost rates, commission and currency (BROADCASTER_RATE_PARTICIPANT_MINUTE,
    BROADCASTER_RATE_STORAGE_GB, BROADCASTER_RATE_EGRESS_GB, BROADCASTER_COMMISSION_RATE,
    BROADCASTER_CURRENCY); the platform guide's figures by default."""
    custom_layout_url: str = ""
    """BROADCASTER_CUSTOM_LAYOUT_URL: the web page egress renders for the ``custom`` layout."""
    hls_segment_s: int = 6
    """Length of HLS segments (BROADCASTER_HLS_SEGMENT_S)."""
    recording_progress_s: int = 2
    """BROADCASTER_RECORDING_PROGRESS_S: an MP4 cloud recording written to ``recording_dir``
    also writes short HLS segments of this length beside it, and ``get_broadcast_status``
    counts them, so a recording that stalls while LiveKit still calls it active is seen
    (LiveKit reports a file's size only when it ends). Needs the backend to read the folder
    egress writes to (``recording_read_dir``); 0 turns it off."""
    recording_read_dir: str = ""
    """BROADCASTER_RECORDING_READ_DIR: the recording folder as this backend sees it (a shared
    volume mounted elsewhere). Empty: the same path as ``recording_dir`` when that is absolute
    (egress on this machine or the same mount), else unreadable (no progress)."""
    database_url: str = field(default="", repr=False)
    """BROADCASTER_DATABASE_URL: a PostgreSQL URL (``postgresql://user:password@host/db``) for
    several instances on one database; empty: the SQLite file ``database_path`` (one
    instance)."""
    secret_key: str = field(default="", repr=False)
    """Fernet key that encrypts stream keys at rest (BROADCASTER_SECRET_KEY); without one
    they are kept in memory only, for as long as the egress runs."""

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
        return _http(self.livekit_url)

    @property
    def egress_http_url(self) -> str:
        """The URL of the Egress API."""
        return _http(self.egress_url or self.livekit_url)

    @classmethod
    def from_env(cls, embedded: bool = False, database_path: Path | None = None) -> BackendConfig:
        """Read LIVEKIT_URL (or LIVEKIT_WS_URL, or LIVEKIT_HOST), LIVEKIT_API_KEY,
        LIVEKIT_API_SECRET, LIVEKIT_EGRESS_URL, LIVEKIT_TIMEOUT_S, RECORDING_STORAGE_BUCKET,
        the platform table's URL settings (YOUTUBE_RTMP_URL…), BROADCASTER_TOKEN_TTL_S,
        BROADCASTER_RTMP_ALLOWED_HOSTS, BROADCASTER_SECRET_KEY, BROADCASTER_DATABASE_URL,
        the cost rates
        (BROADCASTER_RATE_*, BROADCASTER_COMMISSION_RATE, BROADCASTER_CURRENCY),
        BROADCASTER_HLS_SEGMENT_S, BROADCASTER_RECORDING_PROGRESS_S and
        BROADCASTER_RECORDING_READ_DIR.

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
            platform_urls={p.id: env[p.url_setting] for p in PLATFORMS if env.get(p.url_setting)},
            region=env.get("LIVEKIT_REGION", ""),
            embedded=embedded,
            egress_url=env.get("LIVEKIT_EGRESS_URL", ""),
            livekit_timeout_s=_positive(env, "LIVEKIT_TIMEOUT_S", DEFAULT_LIVEKIT_TIMEOUT_S),
            token_ttl_s=int(_positive(env, "BROADCASTER_TOKEN_TTL_S", DEFAULT_TOKEN_TTL_S)),
            rtmp_allowed_hosts=tuple(
                h.strip()
                for h in env.get("BROADCASTER_RTMP_ALLOWED_HOSTS", "").split(",")
                if h.strip()
            ),
            secret_key=env.get("BROADCASTER_SECRET_KEY", ""),
            database_url=_database_url(env),
            rates=rates_from_env(env),
            custom_layout_url=env.get("BROADCASTER_CUSTOM_LAYOUT_URL", ""),
            hls_segment_s=int(_positive(env, "BROADCASTER_HLS_SEGMENT_S", 6)),
            recording_progress_s=_progress_s(env),
            recording_read_dir=env.get("BROADCASTER_RECORDING_READ_DIR", ""),
        )


RATE_SETTINGS = {
    "participant_minute": "BROADCASTER_RATE_PARTICIPANT_MINUTE",
    "storage_gb": "BROADCASTER_RATE_STORAGE_GB",
    "egress_gb": "BROADCASTER_RATE_EGRESS_GB",
    "commission_rate": "BROADCASTER_COMMISSION_RATE",
}
"""Rate field → the environment variable that overrides it."""


def rates_from_env(env: Mapping[str, str]) -> Rates:
    """Cost rates from the environment (decimal strings, e.g. ``0.05``), defaults otherwise.

    Raises:
        ValueError: A rate is not a non-negative decimal (named in the message).
    """
    default = Rates()
    values: dict[str, Decimal] = {}
    for name, setting in RATE_SETTINGS.items():
        text = env.get(setting, "").strip()
        try:
            values[name] = Decimal(text) if text else getattr(default, name)
        except InvalidOperation:
            raise ValueError(f"{setting} must be a decimal number, not '{text}'") from None
    try:
        return Rates(
            participant_minute=values["participant_minute"],
            storage_gb=values["storage_gb"],
            egress_gb=values["egress_gb"],
            commission_rate=values["commission_rate"],
            currency=env.get("BROADCASTER_CURRENCY", "").strip().upper() or default.currency,
        )
    except ValueError as error:
        raise ValueError(f"cost rates: {error}") from None


def _http(url: str) -> str:
    return "http" + url[2:] if url.startswith("ws") else url


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "")
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not '{text}'") from None
    if not 0 < value < 86_400:
        raise ValueError(f"{name} must be between 0 and 86400 seconds")
    return value


def _progress_s(env: Mapping[str, str]) -> int:
    """BROADCASTER_RECORDING_PROGRESS_S: whole seconds per progress segment, 0 for none."""
    name = "BROADCASTER_RECORDING_PROGRESS_S"
    text = env.get(name, "").strip()
    if not text:
        return 2
    if not text.isdigit() or int(text) > 30:
        raise ValueError(f"{name} must be a whole number of seconds from 0 (off) to 30")
    return int(text)


def _database_url(env: Mapping[str, str]) -> str:
    """BROADCASTER_DATABASE_URL: empty, or a PostgreSQL URL."""
    url = env.get("BROADCASTER_DATABASE_URL", "").strip()
    if url and not url.startswith(("postgresql://", "postgres://")):
        raise ValueError(
            "BROADCASTER_DATABASE_URL must be a postgresql:// URL (leave it unset for the "
            "SQLite file)"
        )
    return url
