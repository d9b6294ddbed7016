"""The studio window's entry point (``broadcaster`` / ``broadcaster studio``).

For now a preview window: the camera (or its synthetic twin) and a microphone level meter, on a
qasync event loop. The full studio comes with its own issue.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from desktop import __version__
from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.errors import MediaError

logger = logging.getLogger(__name__)


def _has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="broadcaster", description="Open the studio window.")
    parser.add_argument(
        "--synthetic-devices",
        action="store_true",
        help="use colour bars, a tone and a moving box instead of real devices",
    )
    parser.add_argument("--camera", default=None, help="camera index, path or URL (default: 0)")
    parser.add_argument("--mic", default=None, help="microphone index or name (default: system)")
    parser.add_argument(
        "--quit-after-s", type=float, default=None, help="close the window after this many seconds"
    )
    return parser.parse_args(argv)


def _open_sources(
    args: argparse.Namespace,
) -> tuple[VideoCaptureSource, AudioCaptureSource, list[str]]:
    """Open the chosen devices; a device that cannot be opened is replaced by its synthetic twin
    and the reason is returned, so the window can say so instead of crashing."""
    from desktop.media.camera import CameraSource, parse_camera_device
    from desktop.media.microphone import MicrophoneSource
    from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone

    notes: list[str] = []
    camera: VideoCaptureSource
    mic: AudioCaptureSource
    if args.synthetic_devices:
        camera, mic = SyntheticCamera(), SyntheticMicrophone()
    else:
        try:
            camera = CameraSource(parse_camera_device(args.camera or "0"))
            camera.start()
        except MediaError as error:
            notes.append(f"{error} — showing the synthetic camera instead.")
            camera = SyntheticCamera()
        try:
            mic = MicrophoneSource(args.mic)
            mic.start()
        except MediaError as error:
            notes.append(f"{error} — using the synthetic microphone instead.")
            mic = SyntheticMicrophone()
    for source in (camera, mic):
        source.start()
    return camera, mic, notes


def main(argv: list[str]) -> int:
    """Open the studio window; returns the exit status."""
    args = _parse(argv)
    logging.basicConfig(level=os.environ.get("BROADCASTER_LOG", "INFO"))
    if not _has_display():
        print(
            "broadcaster: there is no display to open the studio on (DISPLAY and WAYLAND_DISPLAY "
            "are unset); run it in a desktop session, or try 'xvfb-run broadcaster', or use "
            "'broadcaster headless' to publish without a window.",
            file=sys.stderr,
        )
        return 2
    import qasync
    from PySide6.QtWidgets import QApplication

    from desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("Spaces Broadcaster")
    app.setApplicationVersion(__version__)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    camera, mic, notes = _open_sources(args)
    window = MainWindow(camera, mic, notes)
    window.show()
    if args.quit_after_s is not None:
        loop.call_later(args.quit_after_s, window.close)
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    try:
        with loop:
            loop.run_until_complete(closed.wait())
    finally:
        camera.stop()
        mic.stop()
    return 0
