"""Studio settings that persist between runs, and secrets that stay in the OS keyring.

Settings are one JSON file in the user's config folder (platformdirs). Secrets — stream keys,
the LiveKit API secret, the platform credential — never go into that file: they live in the OS
keyring (Keychain, Credential Manager, Secret Service). When the machine has no keyring, they
are kept in memory for this run only and :attr:`Secrets.persistent` says so, so the UI can tell
the host that they will be asked again next time.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from desktop.media.outputs.destinations import Destination, DestinationKind
from spaces_common.lazy import lazy_module
from spaces_contract.platforms import PLATFORMS

if TYPE_CHECKING:
    import keyring
    import keyring.backend
    import keyring.backends.fail
    import keyring.errors
else:
    # Imported (and the system's keyring found) on the first secret read or written.
    keyring = lazy_module("keyring")

logger = logging.getLogger(__name__)

APP_NAME = "spaces-broadcaster"
KEYRING_SERVICE = "Spaces Broadcaster"


def config_dir() -> Path:
    """Where settings live (``BROADCASTER_CONFIG_DIR`` overrides, for tests and kiosks)."""
    override = os.environ.get("BROADCASTER_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP_NAME))


DEFAULT_HOTKEYS: dict[str, str] = {
    "next_layout": "Ctrl+L",
    "banner_toggle": "Ctrl+B",
    **{f"stage_guest_{n}": f"Ctrl+{n}" for n in range(1, 10)},
}
"""The producer's hotkeys: next layout, the banner shown or hidden, guest N on or off stage
(the same actions as the remote-control API's ``layout next``, ``banner_toggle`` and
``stage guest=N``)."""


class ConnectMode(enum.StrEnum):
    """Where the studio connects; the values are the words saved in the settings file."""

    LOCAL = "local"
    """No server: the studio streams and records directly."""
    LIVEKIT = "livekit"
    """A LiveKit server (URL, API key and secret); the reference backend runs in-process."""
    PLATFORM = "platform"
    """The platform backend (URL and sign-in token)."""


@dataclass
class Settings:
    """Everything the studio remembers (no secrets)."""

    camera: str = ""
    """Camera device as the picker names it ('' = first, 'synthetic')."""
    microphone: str = ""
    """Microphone device ('' = system default, 'synthetic')."""
    speaker: str = ""
    """Output device for guests' audio ('' = system default)."""
    screen: str = "1"
    """Monitor to share."""
    connect_mode: ConnectMode = ConnectMode.LOCAL
    """No server, a LiveKit server (URL + key/secret) or the platform (backend + sign-in)."""
    livekit_url: str = ""
    """LiveKit server URL."""
    livekit_api_key: str = ""
    """LiveKit API key (the secret is in the keyring)."""
    room_name: str = "studio"
    """Room to create or join."""
    display_name: str = "Host"
    """The host's name in the room."""
    backend_url: str = ""
    """Platform backend URL."""
    appointment_id: str = ""
    """Platform appointment to go live for."""
    preset: str = "720p30"
    """Publish preset name (see :data:`PRESETS`), or "custom" for the custom_* values."""
    custom_width: int = 1280
    """Camera width with the "custom" preset."""
    custom_height: int = 720
    """Camera height with the "custom" preset."""
    custom_fps: int = 30
    """Camera frame rate with the "custom" preset."""
    custom_video_bitrate_bps: int = 2_500_000
    """Camera top-layer bitrate with the "custom" preset."""
    audio_bitrate_bps: int = 48_000
    """Microphone bitrate in the room (Opus)."""
    video_codec: str = "vp8"
    """Camera codec in the room."""
    simulcast: bool = True
    """Publish the camera in several layers."""
    auto_subscribe: bool = True
    """Receive every guest's tracks on joining (off: voices at once, video when shown)."""
    recording_output: str = "mp4"
    """Recording container: mp4 or webm (cloud and local)."""
    recording_layout: str = ""
    """Cloud recording layout: speaker, grid or custom ('' = follow the program's layout)."""
    recording_quality: str = "high"
    """Cloud recording quality: low, medium or high (an egress preset)."""
    local_recording_quality: str = "stream"
    """Local recording quality: ``stream`` (the stream's own encoding, sharing its encoder, so
    no extra CPU), or low, medium or high (3, 4.5 or 6 Mb/s at the program's size, one more
    encoder)."""
    recording_folder: str = ""
    """Where local recordings go ('' = the Videos folder)."""
    max_retries: int = 5
    """Reconnection attempts per destination."""
    currency: str = "USD"
    """The currency the platform pays the host in (for the end-of-stream summary)."""
    rehearsal_url: str = ""
    """Private RTMP URL a rehearsal streams to ('' = a file in the recording folder); its
    stream key is in the keyring as ``stream-key:rehearsal``."""
    remote_control: bool = False
    """Serve the remote-control API (docs/remote-control.md); its token is in the keyring."""
    remote_control_port: int = 4456
    """The API's TCP port."""
    remote_control_lan: bool = False
    """Let other computers on the LAN connect (otherwise only this one, 127.0.0.1)."""
    hotkeys: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HOTKEYS))
    """Action → key sequence ("Ctrl+L"); actions are those of :data:`DEFAULT_HOTKEYS`."""
    destinations: list[Destination] = field(default_factory=lambda: default_destinations())
    """Saved RTMP destinations, keys excluded (YouTube and Twitch presets to begin with)."""

    def __post_init__(self) -> None:
        # The settings file gives the mode as its saved word.
        self.connect_mode = _connect_mode(self.connect_mode)

    def recording_dir(self) -> Path:
        """The folder recordings go to."""
        return Path(self.recording_folder or platformdirs.user_videos_dir())


PRESETS: dict[str, tuple[int, int, int, int]] = {
    "360p30": (640, 360, 30, 800_000),
    "540p30": (960, 540, 30, 1_500_000),
    "720p30": (1280, 720, 30, 3_000_000),
    "1080p30": (1920, 1080, 30, 5_000_000),
}
"""Publish presets: width, height, fps, video bitrate (b/s)."""
CUSTOM_PRESET = "custom"


def preset_values(settings: Settings) -> tuple[int, int, int, int]:
    """Width, height, fps and video bitrate of the chosen preset (or the custom values)."""
    if settings.preset == CUSTOM_PRESET:
        return (
            settings.custom_width // 2 * 2,
            settings.custom_height // 2 * 2,
            settings.custom_fps,
            settings.custom_video_bitrate_bps,
        )
    return PRESETS.get(settings.preset, PRESETS["720p30"])


def default_destinations() -> list[Destination]:
    """One preset per platform of the shared table, switched off until a key is given."""
    return [
        Destination(p.id, p.label, DestinationKind(p.id), p.ingest_url(), enabled=False)
        for p in PLATFORMS
    ]


class SettingsStore:
    """Loads and saves :class:`Settings`; a damaged file is set aside, never lost or fatal.

    Args:
        folder: The config folder (default :func:`config_dir`).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.path = (folder or config_dir()) / "settings.json"

    def load(self) -> Settings:
        """The saved settings, or the defaults."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Settings(destinations=default_destinations())
        except (OSError, ValueError) as error:
            backup = self.path.with_suffix(".damaged.json")
            logger.warning("settings unreadable (%s); kept as %s, using defaults", error, backup)
            try:
                self.path.replace(backup)
            except OSError:
                pass
            return Settings(destinations=default_destinations())
        known = {f.name for f in dataclasses.fields(Settings)} - {"destinations"}
        settings = Settings(**{k: v for k, v in raw.items() if k in known})
        settings.destinations = [
            Destination(
                str(d["id"]),
                str(d["name"]),
                DestinationKind(d["kind"]),
                str(d["url"]),
                bool(d.get("enabled", False)),
            )  # fmt: skip
            for d in raw.get("destinations", [])
            if isinstance(d, dict) and d.get("kind") in {k.value for k in DestinationKind}
        ] or default_destinations()
        return settings

    def save(self, settings: Settings) -> None:
        """Write atomically (a crash mid-save leaves the previous file)."""
        data: dict[str, Any] = dataclasses.asdict(settings)
        data["connect_mode"] = settings.connect_mode.value
        data["destinations"] = [
            {"id": d.id, "name": d.name, "kind": d.kind.value, "url": d.url, "enabled": d.enabled}
            for d in settings.destinations
        ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        tmp.replace(self.path)


def _connect_mode(saved: str) -> ConnectMode:
    """The saved mode word as a :class:`ConnectMode`; one this version does not know is local
    (what Setup already showed for it)."""
    try:
        return ConnectMode(saved)
    except ValueError:
        logger.warning("unknown connect_mode %r in the settings; using local", saved)
        return ConnectMode.LOCAL


class Secrets:
    """Stream keys and other secrets, in the OS keyring when there is one.

    Args:
        backend: A keyring backend (default: the system's).
    """

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        # The system's keyring is looked up on first use: importing keyring and finding its
        # backend cost the studio's start-up a tenth of a second before its window showed.
        self._given = backend
        self._memory: dict[str, str] = {}

    @functools.cached_property
    def _backend(self) -> keyring.backend.KeyringBackend:
        return self._given or keyring.get_keyring()

    @functools.cached_property
    def persistent(self) -> bool:
        """Whether secrets survive a restart (False: no OS keyring on this machine)."""
        return not isinstance(self._backend, keyring.backends.fail.Keyring)

    def get(self, name: str) -> str:
        """The secret, or '' if none is stored."""
        if name in self._memory:
            return self._memory[name]
        if not self.persistent:
            return ""
        try:
            return self._backend.get_password(KEYRING_SERVICE, name) or ""
        except keyring.errors.KeyringError as error:
            logger.warning("keyring unavailable: %s", error)
            return ""

    def set(self, name: str, value: str) -> None:
        """Store (or with '' delete) a secret."""
        self._memory.pop(name, None)
        if self.persistent:
            try:
                if value:
                    self._backend.set_password(KEYRING_SERVICE, name, value)
                else:
                    self._backend.delete_password(KEYRING_SERVICE, name)
                return
            except keyring.errors.PasswordDeleteError:
                return
            except keyring.errors.KeyringError as error:
                logger.warning("keyring refused the secret (%s); kept for this run only", error)
        if value:
            self._memory[name] = value

    @staticmethod
    def stream_key_name(destination_id: str) -> str:
        """The keyring entry of a destination's stream key."""
        return f"stream-key:{destination_id}"
