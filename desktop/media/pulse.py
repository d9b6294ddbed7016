"""The sound server's own view of microphones and speakers (PulseAudio, or PipeWire's pulse).

PortAudio on Linux sees the sound server as two devices ("pulse" and "default") and lists
devices only when it starts, so a headset plugged in mid-show never appears through it. The
sound server knows every source and sink, which one is the default, and sees hot-plugs at once;
``pactl`` asks it (no library to bind, nothing kept open). A microphone is opened on a chosen
source by naming it in ``PULSE_SOURCE`` while PortAudio opens its "pulse" device: libpulse
reads that variable when the stream connects, and a stream opened without it is not tied to a
source, so the sound server moves it whenever the default source changes.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

logger = logging.getLogger(__name__)

PACTL_TIMEOUT_S = 2.0
"""A sound server that takes longer than this to list its devices is treated as absent."""

PULSE_DEVICE = "pulse"
"""The PortAudio (ALSA) device that is the sound server."""

_env_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class SoundDevice:
    """A source (microphone) or sink (speaker) of the sound server."""

    name: str
    """The server's name for it (what ``PULSE_SOURCE``/``PULSE_SINK`` take)."""
    description: str
    """The name people see ("Built-in Audio Analog Stereo", "USB headset")."""
    is_monitor: bool = False
    """A source that records what a sink plays (listed after the real microphones)."""


@dataclass(frozen=True, slots=True)
class SoundServerDevices:
    """Everything the sound server offers right now."""

    sources: tuple[SoundDevice, ...]
    """Microphones (real inputs first, then monitors of outputs)."""
    sinks: tuple[SoundDevice, ...]
    """Speakers and headphones."""
    default_source: str
    """The name of the source the system uses by default ('' when none)."""
    default_sink: str
    """The name of the default sink ('' when none)."""

    def source_label(self, name: str) -> str:
        """The label of the source called ``name`` ('' when there is none)."""
        return next((d.description for d in self.sources if d.name == name), "")


def _pactl(*args: str) -> str | None:
    pactl = shutil.which("pactl")
    if pactl is None:
        return None
    try:
        done = subprocess.run(
            [pactl, *args], capture_output=True, text=True, timeout=PACTL_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        logger.info("pactl %s failed: %s", " ".join(args), error)
        return None
    if done.returncode != 0:
        logger.debug("pactl %s: %s", " ".join(args), done.stderr.strip())
        return None
    return done.stdout


def _devices(kind: str) -> tuple[SoundDevice, ...] | None:
    text = _pactl("--format=json", "list", kind)
    if text is None:
        return None
    try:
        entries = json.loads(text)
    except ValueError:
        logger.info("pactl printed no JSON for %s (older than PulseAudio 16?)", kind)
        return None
    found = []
    for entry in entries:
        name = str(entry.get("name", ""))
        if not name:
            continue
        description = str(entry.get("description") or name)
        # A source's "monitor_source" names the sink it records ('' for a real microphone).
        is_monitor = kind == "sources" and bool(entry.get("monitor_source"))
        found.append(SoundDevice(name, description, is_monitor))
    # Real microphones first: a monitor only records what this computer plays.
    found.sort(key=lambda d: d.is_monitor)
    return tuple(found)


def _unique_labels(devices: tuple[SoundDevice, ...]) -> tuple[SoundDevice, ...]:
    """Two devices with one description (two identical headsets) get their names added."""
    seen: dict[str, int] = {}
    for device in devices:
        seen[device.description] = seen.get(device.description, 0) + 1
    return tuple(
        SoundDevice(d.name, f"{d.description} ({d.name})", d.is_monitor)
        if seen[d.description] > 1
        else d
        for d in devices
    )


SNAPSHOT_REUSE_S = 0.5
"""One look serves every list asked for within this long (the Mic and Speaker menus and the
default are asked for together by each hot-plug check)."""

_snapshot: tuple[float, str, SoundServerDevices | None] = (-1e9, "", None)


_refreshing = threading.Lock()


def sound_server_devices(
    max_age_s: float = SNAPSHOT_REUSE_S, background: bool = False
) -> SoundServerDevices | None:
    """What the sound server offers now; None when there is no PulseAudio-compatible server.

    Args:
        max_age_s: A look this recent (at the same server) is reused; 0 always looks again.
        background: Never wait for ``pactl`` when an older look exists: return it and look
            again on a worker thread (the window's hot-plug check must not freeze the window
            while a loaded machine takes seconds to answer). The first look still waits.
    """
    server = os.environ.get("PULSE_SERVER", "")
    taken_s, seen_server, devices = _snapshot
    if seen_server == server and time.monotonic() - taken_s < max_age_s:
        return devices
    if background and seen_server == server and taken_s > 0:
        if _refreshing.acquire(blocking=False):
            threading.Thread(
                target=_refresh_then_release, args=(server,), name="bc-sound-devices", daemon=True
            ).start()
        return devices
    return _refresh(server)


def _refresh(server: str) -> SoundServerDevices | None:
    global _snapshot
    devices = _look()
    _snapshot = (time.monotonic(), server, devices)
    return devices


def _refresh_then_release(server: str) -> None:
    try:
        _refresh(server)
    finally:
        _refreshing.release()


def _look() -> SoundServerDevices | None:
    sources = _devices("sources")
    sinks = _devices("sinks")
    if sources is None or sinks is None:
        return None
    default_source = (_pactl("get-default-source") or "").strip()
    default_sink = (_pactl("get-default-sink") or "").strip()
    return SoundServerDevices(
        _unique_labels(sources), _unique_labels(sinks), default_source, default_sink
    )


@contextmanager
def routed_to(source: str | None = None, sink: str | None = None) -> Iterator[None]:
    """Streams opened inside go to ``source``/``sink`` (None: the system default, followed).

    Only one routing is in force at a time, so two devices opening at once cannot swap.
    """
    with _env_lock:
        saved = {key: os.environ.get(key) for key in ("PULSE_SOURCE", "PULSE_SINK")}
        for key, value in (("PULSE_SOURCE", source), ("PULSE_SINK", sink)):
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        try:
            yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


def sink_named(label: str) -> str | None:
    """The sound server's name of the speaker labelled ``label``; None if it lists none such.

    Only asked for a speaker PortAudio does not know by that name.
    """
    from desktop.media.errors import MediaError
    from desktop.media.microphone import import_sounddevice

    try:
        import_sounddevice().query_devices(label, "output")
        return None  # PortAudio opens it by that name itself
    except (ValueError, MediaError):
        pass  # not PortAudio's (or no PortAudio): the sound server may know it
    sound = sound_server_devices(max_age_s=0.0)  # about to open it: look now
    if sound is None:
        return None
    return next((d.name for d in sound.sinks if label in (d.description, d.name)), None)
