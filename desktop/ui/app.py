"""The studio window's entry point (``broadcaster`` / ``broadcaster studio``).

The setup dialog (green room) comes first, then the studio window, on a qasync event loop.
``--synthetic-devices`` skips setup and uses the synthetic twins in place of every device.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from desktop import __version__
from desktop.media.base import VideoCaptureSource
from desktop.session.exiting import exit_now
from desktop.ui.devices import DeviceCatalogue, VideoFactory, is_twin, open_first_devices

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
        help="use colour bars, a tone and a moving box instead of every real device",
    )
    parser.add_argument("--camera", default=None, help="camera index, path or URL (default: 0)")
    parser.add_argument("--mic", default=None, help="microphone index or name (default: system)")
    parser.add_argument("--url", default=None,
                        help="join this LiveKit room URL with --token (a cluster: its "
                        "node URLs, comma-separated, tried in order)")  # fmt: skip
    parser.add_argument("--token", default=None, help="access token for --url")
    parser.add_argument("--no-setup", action="store_true",
                        help="skip the setup (green room) dialog")  # fmt: skip
    parser.add_argument("--screenshot", default=None, metavar="PNG",
                        help="save a picture of the window before quitting")  # fmt: skip
    parser.add_argument(
        "--quit-after-s", type=float, default=None, help="close the window after this many seconds"
    )
    parser.add_argument("--quit-after-first-frame", action="store_true",
                        help="print 'first-frame' on stdout once the preview has painted its "
                        "first video frame, then close (start-up benchmarks)")  # fmt: skip
    parser.add_argument(
        "--remote-control", type=int, default=None, metavar="PORT",
        help="serve the remote-control API on this port (127.0.0.1; token from "
        "$BROADCASTER_REMOTE_TOKEN, else the keyring's; see docs/remote-control.md)",
    )  # fmt: skip
    parser.add_argument(
        "--remote-control-lan", action="store_true",
        help="let other computers on the LAN use the remote-control API",
    )  # fmt: skip
    return parser.parse_args(argv)


def _install_hooks(show: Callable[[str], None]) -> None:
    """Unexpected exceptions are logged and shown in the window, never lost."""

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        logger.error("unexpected error", exc_info=(kind, value, tb))
        show(f"Something unexpected went wrong ({value!r}). It was logged; you can carry on.")

    def loop_hook(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        logger.error("event loop: %s", context.get("message"), exc_info=error)
        if error is not None:
            show(f"Something unexpected went wrong ({error!r}). It was logged; you can carry on.")

    sys.excepthook = hook
    asyncio.get_event_loop().set_exception_handler(loop_hook)


def _report_first_frame(tile: Any, then: Callable[[], object]) -> None:
    """Print ``first-frame`` on stdout right after ``tile`` first paints a video frame, then
    call ``then``.

    For start-up benchmarks, which time it from outside the process (launch → this line).
    """
    from desktop.ui.first_frame import after_first_frame

    def report() -> None:
        print("first-frame", flush=True)
        then()

    after_first_frame(tile, report)


FIRST_FRAME_WAIT_S = 3.0
"""How long joining the room waits for the preview's first frame before it starts anyway.

Joining a room imports LiveKit (and the backend client) on the event loop, about half a second
of work: started after the first frame, it no longer delays the preview."""


def _describe_tiles(window: Any, path: str) -> None:
    """Where each tile is in the screenshot and what it shows (for tests and bug reports)."""
    import json

    tiles = [window.own_tile, *window.tiles.values()]
    if window.screen_tile is not None:
        tiles.append(window.screen_tile)
    described = []
    for tile in tiles:
        top_left = tile.mapTo(window, tile.rect().topLeft())
        described.append({
            "name": tile.accessibleName(), "x": top_left.x(), "y": top_left.y(),
            "width": tile.width(), "height": tile.height(), "frames": tile.frames_shown,
        })  # fmt: skip
    with open(path, "w", encoding="utf-8") as out:
        json.dump(described, out, indent=2)


def _start_remote_control(
    args: argparse.Namespace,
    window: Any,
    studio: Any,
    secrets: Any,
    list_screens: Callable[[], dict[str, VideoFactory]],
) -> list[Any]:
    """Serve the remote-control API when asked (``--remote-control``, or Settings); returns a
    list that holds the server once it listens (for closing)."""
    settings = studio.settings
    port = args.remote_control
    if port is None and settings.remote_control:
        port = settings.remote_control_port
    servers: list[Any] = []
    if port is None:
        return servers

    def open_screen() -> VideoCaptureSource:
        found = list_screens()
        factory = found.get(settings.screen) or next(iter(found.values()), None)
        if factory is None:
            raise ValueError("there is no screen to share on this computer")
        return factory()

    async def start() -> None:
        from desktop.session.remote_control.server import serve

        lan = bool(args.remote_control_lan or settings.remote_control_lan)
        servers.append(await serve(studio, secrets, port, lan, open_screen))

    window.bridge.run(start(), "start the remote control")
    return servers


def main(
    argv: list[str],
    on_ready: Callable[[Any, Any], Coroutine[Any, Any, None]] | None = None,
) -> int:
    """Open the studio window; returns the exit status.

    Args:
        argv: Command-line arguments (without the program name).
        on_ready: For automation (soak tests, benchmarks): a coroutine function given the
            studio window and the studio once the window shows; it runs beside the host's
            session and typically closes the window when done.
    """
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
    from desktop.session.crash_reports import CrashGuard

    crash_guard = CrashGuard("studio")
    crash_notes = [report.sentence() for report in crash_guard.arm()]
    # The layers below the UI are imported before Qt on purpose: once PySide6 is loaded, it
    # reads the source of every Python module imported after it (looking for its
    # ``__feature__`` switches), which cost the first window about 0.1 s for these alone.
    import desktop.media.camera
    import desktop.media.cpu  # the Stats panel's (it loads psutil)
    import desktop.media.devices
    import desktop.media.meter
    import desktop.media.microphone
    import desktop.media.pulse
    import desktop.media.synthetic  # noqa: F401 (the device menus' modules: see above)
    from desktop.media.windows import windows_supported
    from desktop.session.settings import ConnectMode, Secrets, SettingsStore
    from desktop.session.state import ProblemCode
    from desktop.session.studio import Studio

    from PySide6.QtWidgets import QApplication, QDialog  # isort: skip (after the layers above)

    from desktop.ui.event_loop import StudioEventLoop
    from desktop.ui.first_frame import after_first_frame
    from desktop.ui.setup_again import reopen_setup
    from desktop.ui.setup_dialog import SetupDialog
    from desktop.ui.studio_window import StudioWindow
    from desktop.ui.theme import apply as apply_theme

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("Spaces Broadcaster")
    app.setApplicationVersion(__version__)
    loop = StudioEventLoop(app)
    asyncio.set_event_loop(loop)
    store = SettingsStore()
    settings = store.load()
    secrets = Secrets()
    apply_theme(app)
    catalogue = DeviceCatalogue(args.synthetic_devices, args.camera, args.mic)
    cameras, microphones, _ = catalogue.devices(refresh_audio=True)
    screens = catalogue.screens()
    camera, mic, camera_label, mic_label, notes = open_first_devices(
        settings, cameras, microphones, args.camera or "", args.mic or ""
    )
    if not args.no_setup and not args.synthetic_devices:
        dialog = SetupDialog(
            settings, secrets, camera, mic, cameras=cameras, microphones=microphones,
            screens=screens, camera_label=camera_label, mic_label=mic_label,
            list_cameras=catalogue.cameras, list_microphones=catalogue.microphones,
        )  # fmt: skip
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        # The dialog may have switched devices: the ones it ends with are the ones in use.
        camera, mic = dialog.camera or camera, dialog.mic or mic
        mic_label = dialog.mic_label
        if not accepted:
            camera.stop()
            mic.stop()
            crash_guard.disarm()
            return 0
        dialog.apply()
        try:
            store.save(settings)
        except OSError as error:
            notes.append(f"Settings could not be saved ({error}); they apply to this run only.")
    if args.synthetic_devices and not args.url:
        settings.connect_mode = ConnectMode.LOCAL
    notes = crash_notes + notes
    studio = Studio(settings, secrets, settings_store=store)
    studio.use_devices(camera, mic)
    if not args.synthetic_devices:
        # Say so when a test device stands in for a real one (none found, or it would not open).
        if is_twin(camera):
            studio.set_problem(ProblemCode.SYNTHETIC_CAMERA)
        if is_twin(mic):
            studio.set_problem(ProblemCode.SYNTHETIC_MICROPHONE)

    def open_settings(window: StudioWindow) -> None:
        reopen_setup(window, studio, store, secrets, catalogue.cameras, catalogue.microphones,
                     catalogue.screens)  # fmt: skip

    window = StudioWindow(
        studio, screens=catalogue.screens, cameras=catalogue.cameras,
        microphones=catalogue.microphones, speakers=catalogue.speakers, notes=notes,
        windows=catalogue.windows(windows_supported()), open_settings=open_settings,
        default_microphone=catalogue.default_microphone(),
    )  # fmt: skip
    window.controls.mic_label = mic_label
    _install_hooks(window.show_error)
    remote = _start_remote_control(args, window, studio, secrets, catalogue.screens)

    def start_session() -> None:
        # What start-up made lives as long as the app: moved out of the collector's sight, a
        # full collection no longer walks it (36 ms with the window up, 0.1 ms after, loaded
        # VM), a pause that would otherwise hit the capture threads and the UI at random.
        gc.freeze()
        window.bridge.run(studio.connect(args.url, args.token), "connect")

    after_first_frame(window.own_tile, start_session, FIRST_FRAME_WAIT_S)
    if args.quit_after_first_frame:
        # Installed last, so Qt asks it first: the line is printed before joining starts.
        _report_first_frame(window.own_tile, window.close)
    window.show()
    if on_ready is not None:
        window.bridge.run(on_ready(window, studio), "run the automation")
    closed = asyncio.Event()
    # Qt would quit its event loop (and with it qasync's) the moment the window closes; the
    # studio still has to leave the room and finish recordings, so quitting is ours to do.
    app.setQuitOnLastWindowClosed(False)
    app.lastWindowClosed.connect(closed.set)

    if args.quit_after_s is not None:

        def finish() -> None:
            if args.screenshot:
                window.grab().save(args.screenshot)
                _describe_tiles(window, args.screenshot + ".json")
            window.close()

        loop.call_later(args.quit_after_s, finish)

    async def run_until_closed() -> None:
        await closed.wait()
        for server in remote:
            await server.aclose()
        # Closed inside the same run of the loop: stopping and restarting qasync's loop between
        # the two leaves the SDK's queues without a running loop for a moment.
        await studio.aclose()

    try:
        with loop:
            loop.run_until_complete(run_until_closed())
    finally:
        camera.stop()
        mic.stop()
    crash_guard.disarm()
    exit_now(0)
