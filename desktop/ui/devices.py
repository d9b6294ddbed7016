"""The studio's devices: what the Camera, Mic, Speaker and Share menus offer, and opening one.

A menu offers *factories*: a label and a function that opens the device when the host picks
it. Every detected device is offered beside its synthetic twin (colour bars, a tone), so there
is always something to pick. The menus list again each time they open (and the hot-plug check
lists every few seconds), so a device plugged in later appears.

This module is Qt-free on purpose: start-up imports it before Qt (see :func:`desktop.ui.app.main`).
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.errors import MediaError
from desktop.media.fanout import FrameQueue
from desktop.media.frames import AudioFrame

logger = logging.getLogger(__name__)

VideoFactory = Callable[[], VideoCaptureSource]
"""Opens a video source when called (raises MediaError when it cannot)."""
AudioFactory = Callable[[], AudioCaptureSource]
"""Opens an audio source when called (raises MediaError when it cannot)."""

SYSTEM_DEFAULT_MIC = "System default microphone"
"""The microphone choice that follows the system's default input as it changes."""
SYNTHETIC_CAMERA = "Synthetic camera"
"""The test picture, offered everywhere: the camera when no real one opens."""
SYNTHETIC_MIC = "Synthetic microphone"
"""The test tone, offered everywhere: the last resort when every microphone is gone."""
SYNTHETIC_SCREEN = "Synthetic screen"
"""The moving test screen, offered in the share menu."""

Device = TypeVar("Device")


def is_synthetic_label(label: str) -> bool:
    """Whether a menu label names a synthetic twin."""
    return label.startswith("Synthetic")


def is_twin(source: Any) -> bool:
    """Whether a device is a synthetic twin (colour bars, a tone)."""
    from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone

    return isinstance(source, SyntheticCamera | SyntheticMicrophone)


# -- opening one -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened(Generic[Device]):
    """What came of opening the device a menu names."""

    device: Device | None
    """The device, open (None when it is gone or would not open)."""
    gone: bool = False
    """The label is no longer offered (unplugged since the menu was listed)."""
    error: Exception | None = None
    """Why it would not open."""

    @property
    def detail(self) -> str:
        """Why it would not open, in words: a MediaError's detail, else the error's text."""
        if isinstance(self.error, MediaError):
            return self.error.detail
        return str(self.error) if self.error is not None else ""


def open_offered(
    offered: Mapping[str, Callable[[], Device]],
    label: str,
    catching: type[Exception] | tuple[type[Exception], ...] = MediaError,
) -> Opened[Device]:
    """Open ``offered[label]``; an error of the kinds ``catching`` is returned, not raised.

    Args:
        offered: The menu's factories by label.
        label: The one picked.
        catching: The errors that mean "this device cannot be used" (MediaError by default;
            Setup and sharing take any exception, since a driver may raise its own).
    """
    factory = offered.get(label)
    if factory is None:
        return Opened(None, gone=True)
    try:
        return Opened(factory())
    except catching as error:
        return Opened(None, error=error)


def open_or_twin(
    offered: Mapping[str, Callable[[], Any]], label: str, twin: str, instead: str,
    notes: list[str],
) -> tuple[Any, str]:  # fmt: skip
    """Open ``offered[label]``; if it fails, note why and open the synthetic ``twin``.

    Returns:
        (the device, its label).
    """
    opened = open_offered(offered, label)
    if opened.device is not None:
        return opened.device, label
    if opened.gone:
        raise KeyError(label)  # the caller picks among what is offered
    notes.append(f"{opened.error} — {instead}.")
    return offered[twin](), twin


def open_first_devices(
    settings: Any,
    cameras: Mapping[str, VideoFactory],
    microphones: Mapping[str, AudioFactory],
    camera_label: str = "",
    mic_label: str = "",
) -> tuple[VideoCaptureSource, AudioCaptureSource, str, str, list[str]]:
    """Open the camera and microphone to start with: the one asked for on the command line,
    else the one picked last time, else the first found. A device that cannot be opened is
    replaced by its synthetic twin and the reason returned, so the window says so instead of
    crashing. Returns (camera, mic, camera label, mic label, notes)."""
    notes: list[str] = []

    def choose(asked: str, saved: str, offered: Mapping[str, Any]) -> str:
        for label in (asked, saved):
            if label and label in offered:
                return label
        return next(iter(offered))

    camera_label = choose(camera_label, settings.camera, cameras)
    mic_label = choose(mic_label, settings.microphone, microphones)
    # Opened side by side: a camera can take a second to open, and the microphone need not wait.
    camera_notes: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="open-camera") as pool:
        opening = pool.submit(open_or_twin, cameras, camera_label, SYNTHETIC_CAMERA,
                              "showing the synthetic camera instead", camera_notes)  # fmt: skip
        mic, mic_label = open_or_twin(microphones, mic_label, SYNTHETIC_MIC,
                                      "using the synthetic microphone instead", notes)  # fmt: skip
        camera, camera_label = opening.result()
    return camera, mic, camera_label, mic_label, camera_notes + notes


# -- what the menus offer --------------------------------------------------------------------


def device_factories(
    synthetic: bool,
    camera_arg: str | None = None,
    mic_arg: str | None = None,
    refresh_audio: bool = False,
) -> tuple[dict[str, VideoFactory], dict[str, AudioFactory], list[str]]:
    """The camera and microphone menus: detected devices, and always their synthetic twins;
    and the speakers' names.

    Called again each time a menu opens (and by the hot-plug check), so devices plugged in
    later appear. PortAudio lists audio devices only when it starts, and restarting it would
    cut the microphone in use: ``refresh_audio`` is for when no audio stream is open.
    """
    from desktop.media.camera import CameraSource, parse_camera_device
    from desktop.media.devices import list_audio_devices, list_cameras
    from desktop.media.microphone import MicrophoneSource
    from desktop.media.pulse import sound_server_devices
    from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone

    def started(source: Any) -> Any:
        source.start()
        return source

    cameras: dict[str, VideoFactory] = {}
    microphones: dict[str, AudioFactory] = {}
    speakers: list[str] = []
    if not synthetic:
        # Devices named on the command line come first (they are the ones to open).
        if camera_arg:
            cameras[camera_arg] = functools.partial(
                lambda device: started(CameraSource(parse_camera_device(device))), camera_arg
            )
        if mic_arg:
            microphones[mic_arg] = functools.partial(
                lambda device: started(MicrophoneSource(device)), mic_arg
            )
        # The system default is opened unrouted: it follows the OS's choice, even mid-show.
        microphones[SYSTEM_DEFAULT_MIC] = lambda: started(MicrophoneSource(None))
        for camera in list_cameras():
            cameras[camera.name] = functools.partial(
                lambda device: started(CameraSource(device)), camera.device
            )
        # The sound server (PulseAudio/PipeWire) sees hot-plugs at once; PortAudio only when
        # restarted, which would cut the microphone in use.
        sound = sound_server_devices(background=True)
        if sound is not None:
            for source in sound.sources:
                microphones[source.description] = functools.partial(
                    open_routed_mic, source.name, source.description
                )
            speakers = [sink.description for sink in sound.sinks]
        else:
            try:
                mics, outs = list_audio_devices(refresh=refresh_audio)
                for mic in mics:
                    microphones[mic.name] = functools.partial(
                        lambda index: started(MicrophoneSource(index)), mic.index
                    )
                speakers = [out.name for out in outs]
            except MediaError as error:
                logger.info("no audio devices: %s", error)
    cameras[SYNTHETIC_CAMERA] = lambda: started(SyntheticCamera())
    microphones[SYNTHETIC_MIC] = lambda: started(SyntheticMicrophone())
    return cameras, microphones, speakers


def open_routed_mic(source_name: str, label: str) -> AudioCaptureSource:
    """Open the sound server's source ``source_name`` (it stays on it when the default moves)."""
    from desktop.media.microphone import MicrophoneSource
    from desktop.media.pulse import PULSE_DEVICE, routed_to

    mic = MicrophoneSource(PULSE_DEVICE, name=label)
    with routed_to(source=source_name):
        mic.start()
    return mic


def default_microphone() -> str:
    """What the system's default microphone is called now ('' when the system cannot say)."""
    from desktop.media.pulse import sound_server_devices

    sound = sound_server_devices(background=True)
    return sound.source_label(sound.default_source) if sound is not None else ""


def screen_factories(synthetic: bool) -> dict[str, VideoFactory]:
    """What the share menu offers: each monitor (opened when chosen), or the synthetic screen."""
    from desktop.media.screen import list_monitors
    from desktop.media.synthetic import SyntheticScreen

    def opened(source: VideoCaptureSource) -> VideoCaptureSource:
        source.start()
        return source

    factories: dict[str, VideoFactory] = {}
    if not synthetic:
        try:
            # list_monitors() already leaves out mss's all-monitors entry: number 1 is the
            # first real screen.
            for index, monitor in enumerate(list_monitors(), start=1):
                label = f"Screen {index} ({monitor['width']}x{monitor['height']})"
                factories[label] = functools.partial(_open_screen, index)
        except MediaError as error:
            logger.info("no screen to share: %s", error)
    factories[SYNTHETIC_SCREEN] = lambda: opened(SyntheticScreen())
    return factories


def _open_screen(monitor: int) -> VideoCaptureSource:
    from desktop.media.screen import ScreenSource

    source = ScreenSource(monitor)
    source.start()
    return source


def window_factories() -> dict[str, VideoFactory]:
    """The windows open now, for the share menu (listed each time it opens)."""
    from desktop.media.windows import WindowSource, list_windows

    def opened(window_id: int, title: str) -> VideoCaptureSource:
        source = WindowSource(window_id, title)
        source.start()
        return source

    factories: dict[str, VideoFactory] = {}
    for window in list_windows():
        label = window.title if len(window.title) <= 60 else window.title[:57] + "…"
        while label in factories:  # two windows with one title: tell them apart
            label += " ·"
        factories[label] = functools.partial(opened, window.window_id, window.title)
    return factories


@dataclass(frozen=True, slots=True)
class DeviceCatalogue:
    """The studio's device menus as listers, each listing anew when called.

    Args:
        synthetic: Offer only the synthetic twins (``--synthetic-devices``).
        camera_arg: The camera named on the command line (offered first).
        mic_arg: The microphone named on the command line (offered first).
    """

    synthetic: bool
    camera_arg: str | None = None
    mic_arg: str | None = None

    def devices(
        self, refresh_audio: bool = False
    ) -> tuple[dict[str, VideoFactory], dict[str, AudioFactory], list[str]]:
        """Cameras, microphones and speakers at once (see :func:`device_factories`)."""
        return device_factories(self.synthetic, self.camera_arg, self.mic_arg, refresh_audio)

    def cameras(self) -> dict[str, VideoFactory]:
        """The Camera menu now."""
        return self.devices()[0]

    def microphones(self) -> dict[str, AudioFactory]:
        """The Mic menu now."""
        return self.devices()[1]

    def speakers(self) -> list[str]:
        """The Speaker menu now."""
        return self.devices()[2]

    def screens(self) -> dict[str, VideoFactory]:
        """The screens the Share menu offers now."""
        return screen_factories(self.synthetic)

    def windows(self, supported: bool) -> Callable[[], dict[str, VideoFactory]] | None:
        """Lists the windows the Share menu offers (None where windows cannot be shared, or
        with synthetic devices only)."""
        return window_factories if supported and not self.synthetic else None

    def default_microphone(self) -> Callable[[], str] | None:
        """Names the system's default microphone (None with synthetic devices only)."""
        return None if self.synthetic else default_microphone


# -- the microphone's level ------------------------------------------------------------------


class MicTap:
    """The blocks of the microphone in use, for a level meter; follows one microphone at a
    time (its queue moves along when the microphone changes).

    Args:
        name: The queue's name on the microphone's fan-out.
        maxsize: Blocks kept between two reads (the oldest go first).
    """

    def __init__(self, name: str, maxsize: int = 20) -> None:
        self.name, self.maxsize = name, maxsize
        self.mic: AudioCaptureSource | None = None
        """The microphone followed (None: none)."""
        self._queue: FrameQueue[AudioFrame] | None = None

    def follow(self, mic: AudioCaptureSource | None) -> None:
        """Read ``mic`` from now on (None stops reading)."""
        if self.mic is not None and self._queue is not None:
            self.mic.frames.unsubscribe(self._queue)
        self.mic = mic
        self._queue = mic.frames.subscribe(self.name, self.maxsize) if mic else None

    @property
    def following(self) -> bool:
        """Whether a microphone is being read."""
        return self._queue is not None

    def blocks(self) -> Iterator[npt.NDArray[np.int16]]:
        """The samples of each block that arrived since the last read."""
        if self._queue is None:
            return
        while (block := self._queue.get_nowait()) is not None:
            yield block.data
