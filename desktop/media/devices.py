"""Device discovery: cameras, microphones and screens, refreshable while the app runs.

Also the ``broadcaster devices`` command. Every list call looks again, so a device plugged in
after start-up appears on the next refresh (PortAudio is re-initialised for that: it only
enumerates devices when it starts).
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from desktop.media import portaudio
from desktop.media.errors import MediaError

logger = logging.getLogger(__name__)

MAX_PROBED_CAMERA_INDEX = 4
"""Where there is no /dev/video*, indices 0..N are probed with OpenCV (macOS, Windows)."""


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """A camera the app can open."""

    device: int | str
    """What to pass to :class:`~desktop.media.camera.CameraSource`."""
    name: str
    """Name the system gives it."""


@dataclass(frozen=True, slots=True)
class MicrophoneInfo:
    """A microphone (audio input) the app can open."""

    index: int
    """PortAudio device index."""
    name: str
    """Name the system gives it."""
    max_channels: int
    """Input channels it offers."""
    default_sample_rate_hz: int
    """Its native rate."""
    is_default: bool
    """Whether it is the system's default input."""


@dataclass(frozen=True, slots=True)
class SpeakerInfo:
    """An audio output the app can play guests on."""

    index: int
    """PortAudio device index."""
    name: str
    """Name the system gives it."""
    is_default: bool
    """Whether it is the system's default output."""


@dataclass(frozen=True, slots=True)
class ScreenInfo:
    """A monitor the app can share."""

    monitor: int
    """mss monitor number (1 is the first)."""
    width: int
    """Width in pixels."""
    height: int
    """Height in pixels."""
    left: int
    """Position on the desktop."""
    top: int
    """Position on the desktop."""


@dataclass
class DeviceList:
    """Everything found, with the reasons a category could not be listed."""

    cameras: list[CameraInfo] = field(default_factory=list)
    """Cameras."""
    microphones: list[MicrophoneInfo] = field(default_factory=list)
    """Audio inputs."""
    speakers: list[SpeakerInfo] = field(default_factory=list)
    """Audio outputs."""
    screens: list[ScreenInfo] = field(default_factory=list)
    """Monitors."""
    problems: list[str] = field(default_factory=list)
    """Plain-words reasons a category is empty because it could not be queried."""


def list_cameras() -> list[CameraInfo]:
    """Cameras: V4L2 devices on Linux (named from sysfs), else probed indices."""
    nodes = sorted(
        glob.glob("/dev/video*"), key=lambda p: int(p[10:] or 0) if p[10:].isdigit() else 0
    )
    if nodes or sys.platform.startswith("linux"):
        cameras = []
        for node in nodes:
            sysfs = Path("/sys/class/video4linux") / Path(node).name
            name_file = sysfs / "name"
            name = name_file.read_text().strip() if name_file.exists() else Path(node).name
            # UVC cameras expose a metadata node per camera; only capture nodes are useful.
            index_file = sysfs / "index"
            if index_file.exists() and index_file.read_text().strip() not in ("", "0"):
                continue
            cameras.append(CameraInfo(node, name))
        return cameras
    import cv2

    found = []
    for index in range(MAX_PROBED_CAMERA_INDEX + 1):
        capture = cv2.VideoCapture(index)
        try:
            if capture.isOpened():
                found.append(CameraInfo(index, f"Camera {index}"))
        finally:
            capture.release()
    return found


def _sounddevice(refresh: bool) -> object:
    from desktop.media.microphone import import_sounddevice

    sd = import_sounddevice()
    if refresh:
        # PortAudio enumerates only at initialisation; restart it to see hot-plugged devices,
        # unless a stream is open (restarting would free it under its own thread).
        portaudio.restart(sd)
    return sd


def list_audio_devices(refresh: bool = True) -> tuple[list[MicrophoneInfo], list[SpeakerInfo]]:
    """Audio inputs and outputs as PortAudio sees them now.

    Raises:
        MediaError: PortAudio is missing.
    """
    sd = _sounddevice(refresh)
    devices = sd.query_devices()  # type: ignore[attr-defined]
    try:
        default_in, default_out = sd.default.device  # type: ignore[attr-defined]
    except Exception:
        default_in = default_out = -1
    microphones, speakers = [], []
    for index, info in enumerate(devices):
        if info["max_input_channels"] > 0:
            microphones.append(
                MicrophoneInfo(
                    index,
                    str(info["name"]),
                    int(info["max_input_channels"]),
                    int(info["default_samplerate"]),
                    index == default_in,
                )
            )
        if info["max_output_channels"] > 0:
            speakers.append(SpeakerInfo(index, str(info["name"]), index == default_out))
    return microphones, speakers


def list_screens() -> list[ScreenInfo]:
    """Monitors of the current display.

    Raises:
        MediaError: There is no display.
    """
    from desktop.media.screen import list_monitors

    return [
        ScreenInfo(number, m["width"], m["height"], m["left"], m["top"])
        for number, m in enumerate(list_monitors(), start=1)
    ]


def discover(refresh: bool = True) -> DeviceList:
    """List every device; a category that cannot be queried is empty with its reason noted."""
    found = DeviceList()
    try:
        found.cameras = list_cameras()
    except Exception as exc:  # OpenCV backends can raise anything on odd systems
        found.problems.append(f"cameras: could not be listed ({exc})")
    try:
        found.microphones, found.speakers = list_audio_devices(refresh)
    except MediaError as error:
        found.problems.append(f"microphones: {error.detail} — {error.hint}")
    try:
        found.screens = list_screens()
    except MediaError as error:
        found.problems.append(f"screens: {error.detail} — {error.hint}")
    return found


def _print_table(found: DeviceList) -> None:
    print("Cameras:")
    for cam in found.cameras:
        print(f"  {cam.device!s:<16} {cam.name}")
    if not found.cameras:
        print("  (none found — the synthetic camera is always available as 'synthetic')")
    print("Microphones:")
    for mic in found.microphones:
        mark = "*" if mic.is_default else " "
        print(f" {mark}{mic.index:<4} {mic.name} ({mic.default_sample_rate_hz} Hz)")
    if not found.microphones:
        print("  (none found — the synthetic microphone is always available as 'synthetic')")
    print("Speakers:")
    for spk in found.speakers:
        mark = "*" if spk.is_default else " "
        print(f" {mark}{spk.index:<4} {spk.name}")
    print("Screens:")
    for scr in found.screens:
        print(f"  {scr.monitor:<4} {scr.width}x{scr.height} at ({scr.left},{scr.top})")
    if not found.screens:
        print("  (none found — the synthetic screen is always available as 'synthetic')")
    for problem in found.problems:
        print(f"note: {problem}")


def main(argv: list[str]) -> int:
    """``broadcaster devices``: list cameras, microphones, speakers and screens."""
    parser = argparse.ArgumentParser(
        prog="broadcaster devices", description="List cameras, microphones, speakers and screens."
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("BROADCASTER_LOG", "WARNING"))
    found = discover()
    if args.json:
        print(json.dumps(asdict(found), indent=2))
    else:
        _print_table(found)
    return 0
