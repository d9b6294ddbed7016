"""The studio window's entry point (``broadcaster`` / ``broadcaster studio``).

The setup dialog (green room) comes first, then the studio window, on a qasync event loop.
``--synthetic-devices`` skips setup and uses the synthetic twins in place of every device.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import gc
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any

from desktop import __version__
from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.errors import MediaError
from desktop.session.exiting import exit_now

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


def _open_sources(
    settings: Any,
    cameras: dict[str, Callable[[], VideoCaptureSource]],
    microphones: dict[str, Callable[[], AudioCaptureSource]],
    camera_label: str = "",
    mic_label: str = "",
) -> tuple[VideoCaptureSource, AudioCaptureSource, str, str, list[str]]:
    """Open the camera and microphone to start with: the one asked for on the command line,
    else the one picked last time, else the first found. A device that cannot be opened is
    replaced by its synthetic twin and the reason returned, so the window says so instead of
    crashing. Returns (camera, mic, camera label, mic label, notes)."""
    notes: list[str] = []

    def choose(asked: str, saved: str, offered: dict[str, Any]) -> str:
        for label in (asked, saved):
            if label and label in offered:
                return label
        return next(iter(offered))

    camera_label = choose(camera_label, settings.camera, cameras)
    mic_label = choose(mic_label, settings.microphone, microphones)
    # Opened side by side: a camera can take a second to open, and the microphone need not wait.
    camera_notes: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="open-camera") as pool:
        opening = pool.submit(_open_or_twin, cameras, camera_label, "Synthetic camera",
                              "showing the synthetic camera instead", camera_notes)  # fmt: skip
        mic, mic_label = _open_or_twin(microphones, mic_label, "Synthetic microphone",
                                       "using the synthetic microphone instead", notes)  # fmt: skip
        camera, camera_label = opening.result()
    return camera, mic, camera_label, mic_label, camera_notes + notes


def _open_or_twin(
    offered: dict[str, Callable[[], Any]], label: str, twin: str, instead: str, notes: list[str]
) -> tuple[Any, str]:
    """Open ``offered[label]``; if it fails, note why and open the synthetic ``twin``."""
    try:
        return offered[label](), label
    except MediaError as error:
        notes.append(f"{error} — {instead}.")
        return offered[twin](), twin


def _screen_factories(synthetic: bool) -> dict[str, Callable[[], VideoCaptureSource]]:
    """What the share menu offers: each monitor (opened when chosen), or the synthetic screen."""
    from desktop.media.screen import list_monitors
    from desktop.media.synthetic import SyntheticScreen

    def opened(source: VideoCaptureSource) -> VideoCaptureSource:
        source.start()
        return source

    factories: dict[str, Callable[[], VideoCaptureSource]] = {}
    if not synthetic:
        try:
            # list_monitors() already leaves out mss's all-monitors entry: number 1 is the
            # first real screen.
            for index, monitor in enumerate(list_monitors(), start=1):
                label = f"Screen {index} ({monitor['width']}x{monitor['height']})"
                factories[label] = functools.partial(_open_screen, index)
        except MediaError as error:
            logger.info("no screen to share: %s", error)
    factories["Synthetic screen"] = lambda: opened(SyntheticScreen())
    return factories


def _window_factories() -> dict[str, Callable[[], VideoCaptureSource]]:
    """The windows open now, for the share menu (listed each time it opens)."""
    from desktop.media.windows import WindowSource, list_windows

    def opened(window_id: int, title: str) -> VideoCaptureSource:
        source = WindowSource(window_id, title)
        source.start()
        return source

    factories: dict[str, Callable[[], VideoCaptureSource]] = {}
    for window in list_windows():
        label = window.title if len(window.title) <= 60 else window.title[:57] + "…"
        while label in factories:  # two windows with one title: tell them apart
            label += " ·"
        factories[label] = functools.partial(opened, window.window_id, window.title)
    return factories


def _device_factories(
    synthetic: bool,
    camera_arg: str | None = None,
    mic_arg: str | None = None,
    refresh_audio: bool = False,
) -> tuple[
    dict[str, Callable[[], VideoCaptureSource]],
    dict[str, Callable[[], AudioCaptureSource]],
    list[str],
]:
    """The camera and microphone menus: detected devices, and always their synthetic twins.

    Called again each time a menu opens (and by the hot-plug check), so devices plugged in
    later appear. PortAudio lists audio devices only when it starts, and restarting it would
    cut the microphone in use: ``refresh_audio`` is for when no audio stream is open.
    """
    from desktop.media.camera import CameraSource, parse_camera_device
    from desktop.media.devices import list_audio_devices, list_cameras
    from desktop.media.microphone import MicrophoneSource
    from desktop.media.pulse import sound_server_devices
    from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
    from desktop.ui.control_bar_widget import SYSTEM_DEFAULT_MIC

    def started(source: Any) -> Any:
        source.start()
        return source

    cameras: dict[str, Callable[[], VideoCaptureSource]] = {}
    microphones: dict[str, Callable[[], AudioCaptureSource]] = {}
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
                    _open_routed_mic, source.name, source.description
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
    cameras["Synthetic camera"] = lambda: started(SyntheticCamera())
    microphones["Synthetic microphone"] = lambda: started(SyntheticMicrophone())
    return cameras, microphones, speakers


def _open_routed_mic(source_name: str, label: str) -> AudioCaptureSource:
    """Open the sound server's source ``source_name`` (it stays on it when the default moves)."""
    from desktop.media.microphone import MicrophoneSource
    from desktop.media.pulse import PULSE_DEVICE, routed_to

    mic = MicrophoneSource(PULSE_DEVICE, name=label)
    with routed_to(source=source_name):
        mic.start()
    return mic


def _default_microphone() -> str:
    """What the system's default microphone is called now ('' when the system cannot say)."""
    from desktop.media.pulse import sound_server_devices

    sound = sound_server_devices(background=True)
    return sound.source_label(sound.default_source) if sound is not None else ""


def _open_screen(monitor: int) -> VideoCaptureSource:
    from desktop.media.screen import ScreenSource

    source = ScreenSource(monitor)
    source.start()
    return source


def _is_twin(source: Any) -> bool:
    """Whether a device is a synthetic twin (colour bars, a tone)."""
    from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone

    return isinstance(source, SyntheticCamera | SyntheticMicrophone)


def _reopen_setup(
    window: Any,
    studio: Any,
    store: Any,
    secrets: Any,
    cameras: Callable[[], dict[str, Callable[[], VideoCaptureSource]]],
    microphones: Callable[[], dict[str, Callable[[], AudioCaptureSource]]],
    screens: Callable[[], dict[str, Callable[[], VideoCaptureSource]]],
) -> Any:
    """File ▸ Settings: Setup again over the running studio (devices switch on close)."""
    from desktop.session.state import ProblemCode
    from desktop.ui.notice_widget import Notice, Severity
    from desktop.ui.setup_dialog import SetupDialog

    settings = studio.settings
    mode_before = (settings.connect_mode, settings.livekit_url, settings.backend_url,
                   settings.room_name, settings.appointment_id)  # fmt: skip
    dialog = SetupDialog(
        settings, secrets, studio.camera, studio.mic, window,
        cameras=cameras(), microphones=microphones(), screens=screens(),
        camera_label=settings.camera, mic_label=settings.microphone, from_studio=True,
        list_cameras=cameras, list_microphones=microphones,
    )  # fmt: skip

    def closed(result: int) -> None:
        # The dialog stops a device it switched away from: the studio takes the new ones
        # whatever the answer, so it never keeps a stopped device.
        if dialog.camera is not None and dialog.camera is not studio.camera:
            window.use_camera(dialog.camera)
            studio.clear_problem(ProblemCode.SYNTHETIC_CAMERA)
        if dialog.mic is not None and dialog.mic is not studio.mic:
            window.use_mic(dialog.mic, dialog.mic_label)
            studio.clear_problem(ProblemCode.SYNTHETIC_MICROPHONE)
        if result != 1:
            return
        dialog.apply()
        window.hotkeys.apply(settings.hotkeys)
        try:
            store.save(settings)
        except OSError as error:
            window.show_error(f"Settings could not be saved ({error.strerror}).",
                              "They apply until you quit.")  # fmt: skip
        after = (settings.connect_mode, settings.livekit_url, settings.backend_url,
                 settings.room_name, settings.appointment_id)  # fmt: skip
        if after != mode_before:
            window.notices.post(Notice(
                "settings-connection", Severity.INFO,
                "The new connection settings are saved.",
                "They are used the next time you start the studio.",
            ))  # fmt: skip

    dialog.finished.connect(closed)
    dialog.open()
    return dialog


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
    from PySide6.QtCore import QEvent, QObject, QTimer

    def report() -> None:
        print("first-frame", flush=True)
        then()

    class Watch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
            if event.type() == QEvent.Type.Paint and tile.frames_shown > 0:
                tile.removeEventFilter(self)
                # Queued: runs once this paint (the one showing the frame) has finished.
                QTimer.singleShot(0, report)
            return False

    watch = Watch(tile)
    tile.installEventFilter(watch)


FIRST_FRAME_WAIT_S = 3.0
"""How long joining the room waits for the preview's first frame before it starts anyway."""


def _after_first_frame(tile: Any, then: Callable[[], object], wait_s: float) -> None:
    """Call ``then`` once, right after ``tile`` first paints a video frame, or after ``wait_s``
    if no frame comes (a camera that is slow to start must not hold up the session).

    Joining a room imports LiveKit (and the backend client) on the event loop, about half a
    second of work: started after the first frame, it no longer delays the preview.
    """
    from PySide6.QtCore import QEvent, QObject, QTimer

    done = False

    def run() -> None:
        nonlocal done
        if not done:
            done = True
            then()

    class Watch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
            if event.type() == QEvent.Type.Paint and tile.frames_shown > 0:
                tile.removeEventFilter(self)
                QTimer.singleShot(0, run)  # once this paint has finished
            return False

    watch = Watch(tile)
    tile.installEventFilter(watch)
    QTimer.singleShot(round(wait_s * 1000), run)


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
    list_screens: Callable[[], dict[str, Callable[[], VideoCaptureSource]]],
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
    cameras, microphones, speakers = _device_factories(
        args.synthetic_devices, args.camera, args.mic, refresh_audio=True
    )
    screens = _screen_factories(args.synthetic_devices)

    def list_cameras() -> dict[str, Callable[[], VideoCaptureSource]]:
        return _device_factories(args.synthetic_devices, args.camera, args.mic)[0]

    def list_microphones() -> dict[str, Callable[[], AudioCaptureSource]]:
        return _device_factories(args.synthetic_devices, args.camera, args.mic)[1]

    def list_speakers() -> list[str]:
        return _device_factories(args.synthetic_devices, args.camera, args.mic)[2]

    def list_screens() -> dict[str, Callable[[], VideoCaptureSource]]:
        return _screen_factories(args.synthetic_devices)

    camera, mic, camera_label, mic_label, notes = _open_sources(
        settings, cameras, microphones, args.camera or "", args.mic or ""
    )
    if not args.no_setup and not args.synthetic_devices:
        dialog = SetupDialog(
            settings, secrets, camera, mic, cameras=cameras, microphones=microphones,
            screens=screens, camera_label=camera_label, mic_label=mic_label,
            list_cameras=list_cameras, list_microphones=list_microphones,
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
        if _is_twin(camera):
            studio.set_problem(ProblemCode.SYNTHETIC_CAMERA)
        if _is_twin(mic):
            studio.set_problem(ProblemCode.SYNTHETIC_MICROPHONE)

    def reopen_setup(window: StudioWindow) -> None:
        _reopen_setup(window, studio, store, secrets, list_cameras, list_microphones,
                      list_screens)  # fmt: skip

    window = StudioWindow(
        studio, screens=list_screens, cameras=list_cameras,
        microphones=list_microphones, speakers=list_speakers, notes=notes,
        windows=_window_factories if windows_supported() and not args.synthetic_devices else None,
        open_settings=reopen_setup,
        default_microphone=None if args.synthetic_devices else _default_microphone,
    )  # fmt: skip
    window.controls.mic_label = mic_label
    _install_hooks(window.show_error)
    remote = _start_remote_control(args, window, studio, secrets, list_screens)

    def start_session() -> None:
        # What start-up made lives as long as the app: moved out of the collector's sight, a
        # full collection no longer walks it (36 ms with the window up, 0.1 ms after, loaded
        # VM), a pause that would otherwise hit the capture threads and the UI at random.
        gc.freeze()
        window.bridge.run(studio.connect(args.url, args.token), "connect")

    _after_first_frame(window.own_tile, start_session, FIRST_FRAME_WAIT_S)
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
