"""``broadcaster headless``: publish to a room with no window (kiosks, automation, tests).

It connects, publishes the chosen camera, microphone and screen, logs every state change as one
JSON line on standard output, and exits 0 after ``--duration`` (or on Ctrl+C). On failure it
prints one line saying why on standard error and exits non-zero:
2 bad arguments, 3 could not connect (bad URL, refused token, unreachable server), 4 a device
could not be opened, 5 every direct output (``--rtmp``/``--record``) failed for good, 6 it was
removed from the room, replaced by the same identity joining elsewhere, or the room was closed
(it does not rejoin then), 7 the connection was lost and did not come back within
``--reconnect-window`` seconds (it keeps trying until then: the SDK resumes first, then it
rejoins the room itself and publishes again).

With ``--rtmp`` and ``--record`` it also encodes its own program (camera, or screen with the
camera in a corner, and the microphone) once and sends it to each destination and the file,
with or without a room; each output's state changes are logged as JSON lines too.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.destinations import DestinationKind, RtmpTarget, rtmp_target
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.output import OutputPhase, OutputStatus, recording_path
from desktop.media.outputs.profiles import RecordingQuality
from desktop.media.outputs.program import DirectBroadcast, OutputOptions
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.node_urls import connect_first
from desktop.session.publisher import PublishDefaults
from desktop.session.room_events import DisconnectReason
from desktop.session.room_session import RoomSession
from desktop.session.state import ConnectionState, RoomState

logger = logging.getLogger(__name__)

EXIT_USAGE = 2
EXIT_CONNECT = 3
EXIT_DEVICE = 4
EXIT_OUTPUTS_FAILED = 5
EXIT_REMOVED = 6
EXIT_CONNECTION_LOST = 7
REJOIN_INTERVAL_S = 3.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="broadcaster headless",
        description="Publish camera, microphone and screen to a LiveKit room with no window.",
    )
    parser.add_argument("--url", default=os.environ.get("LIVEKIT_URL")
                        or os.environ.get("LIVEKIT_WS_URL"),
                        help="LiveKit server URL, or a cluster's node URLs, comma-separated, "
                        "tried in order on (re)joining (default: $LIVEKIT_URL)")  # fmt: skip
    parser.add_argument("--token", help="access token (default: minted from $LIVEKIT_API_KEY "
                        "and $LIVEKIT_API_SECRET for --room and --identity)")  # fmt: skip
    parser.add_argument(
        "--backend",
        default=os.environ.get("BROADCASTER_BACKEND_URL"),
        help="platform backend URL: create the appointment's room there "
        "(credential from $BROADCASTER_CREDENTIAL)",
    )
    parser.add_argument("--appointment", help="appointment id (with --backend)")
    parser.add_argument("--room", default="studio", help="room to join when minting a token")
    parser.add_argument("--identity", default="host", help="identity when minting a token")
    parser.add_argument("--camera", default="synthetic",
                        help="camera index, path or URL, 'synthetic', or 'none'")  # fmt: skip
    parser.add_argument("--mic", default="synthetic",
                        help="microphone index or name, 'default', 'synthetic'")  # fmt: skip
    parser.add_argument("--screen", default="none",
                        help="monitor number, 'synthetic', or 'none'")  # fmt: skip
    parser.add_argument("--simulcast", action=argparse.BooleanOptionalAction, default=True,
                        help="publish the camera in several layers")  # fmt: skip
    parser.add_argument("--codec", choices=("vp8", "h264", "vp9"), default="vp8")
    parser.add_argument("--width", type=int, default=1280, help="camera width")
    parser.add_argument("--height", type=int, default=720, help="camera height")
    parser.add_argument("--fps", type=int, default=30, help="camera frame rate")
    parser.add_argument("--rtmp", action="append", default=[], metavar="URL",
                        help="stream the program straight to this RTMP URL (key included, "
                        "rtmp://host/app/KEY); 'youtube' or 'twitch' take the key from "
                        "$YOUTUBE_STREAM_KEY or $TWITCH_STREAM_KEY; repeatable")  # fmt: skip
    parser.add_argument("--record", metavar="PATH",
                        help="record the program to a .mp4, .mkv or .webm (VP8 + Opus) file, "
                        "or a folder")  # fmt: skip
    parser.add_argument("--record-quality", choices=[q.value for q in RecordingQuality],
                        default=None,
                        help="--record at 3 (low), 4.5 (medium) or 6 (high) Mb/s with an "
                        "encoder of its own (default: the program's encoding, shared with "
                        "--rtmp)")  # fmt: skip
    parser.add_argument("--video-bitrate", type=int, default=3_000_000,
                        help="program video bitrate in b/s for --rtmp and --record")  # fmt: skip
    parser.add_argument("--max-retries", type=int, default=5,
                        help="reconnection attempts per destination before giving up")  # fmt: skip
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds to stay live (default: until Ctrl+C)")  # fmt: skip
    parser.add_argument("--connect-timeout", type=float, default=10.0,
                        help="seconds to wait for the server")  # fmt: skip
    parser.add_argument("--reconnect-window", type=float, default=60.0, metavar="SECONDS",
                        help="after losing the room, keep trying to get back for this long, "
                        "then exit 7 (default: 60)")  # fmt: skip
    parser.add_argument("--remote-control", type=int, default=None, metavar="PORT",
                        help="serve the remote-control API on this port (127.0.0.1; token from "
                        "$BROADCASTER_REMOTE_TOKEN; see docs/remote-control.md)")  # fmt: skip
    parser.add_argument(
        "--remote-control-lan",
        action="store_true",
        help="let other computers on the LAN use the remote-control API",
    )
    return parser


def _token(args: argparse.Namespace) -> str:
    if args.token:
        return str(args.token)
    key, secret = os.environ.get("LIVEKIT_API_KEY"), os.environ.get("LIVEKIT_API_SECRET")
    if not key or not secret:
        raise SessionError(
            SessionErrorCode.TOKEN_REFUSED,
            "no access token",
            "pass --token, or set LIVEKIT_API_KEY and LIVEKIT_API_SECRET",
        )
    from livekit import api

    grants = api.VideoGrants(room_join=True, room=args.room, can_publish=True,
                             can_subscribe=True, can_publish_data=True)  # fmt: skip
    return (
        api.AccessToken(key, secret)
        .with_identity(args.identity)
        .with_name(args.identity)
        .with_ttl(datetime.timedelta(hours=6))
        .with_grants(grants)
        .to_jwt()
    )


async def _room_credentials(args: argparse.Namespace) -> tuple[str, str]:
    """The ws URL and token: from --url/--token, or minted, or from the platform backend."""
    if not args.backend:
        return args.url or "", _token(args)
    from desktop.session.backend_client import HttpBackend

    if not args.appointment:
        raise SessionError(
            SessionErrorCode.INVALID_REQUEST,
            "no appointment given",
            "pass --appointment ID with --backend",
        )
    backend = HttpBackend(args.backend, os.environ.get("BROADCASTER_CREDENTIAL", ""))
    try:
        created = await backend.create_room(args.appointment)
    finally:
        await backend.aclose()
    return created.room.url, created.room.token


def _open_sources(
    args: argparse.Namespace,
) -> tuple[VideoCaptureSource | None, AudioCaptureSource | None, VideoCaptureSource | None]:
    from desktop.media.camera import CameraSource, parse_camera_device
    from desktop.media.microphone import MicrophoneSource
    from desktop.media.screen import ScreenSource
    from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone, SyntheticScreen

    camera: VideoCaptureSource | None = None
    mic: AudioCaptureSource | None = None
    screen: VideoCaptureSource | None = None
    if args.camera == "synthetic":
        camera = SyntheticCamera(args.width, args.height, args.fps)
    elif args.camera != "none":
        camera = CameraSource(parse_camera_device(args.camera), args.width, args.height, args.fps)
    if args.mic == "synthetic":
        mic = SyntheticMicrophone()
    elif args.mic != "none":
        mic = MicrophoneSource(None if args.mic == "default" else args.mic)
    if args.screen == "synthetic":
        screen = SyntheticScreen()
    elif args.screen != "none":
        screen = ScreenSource(int(args.screen))
    for source in (camera, mic, screen):
        if source is not None:
            source.start()
    return camera, mic, screen


def _direct_targets(args: argparse.Namespace) -> list[tuple[str, RtmpTarget]]:
    """The checked ``--rtmp`` destinations, named ``rtmp-1``, ``youtube``…"""
    targets: list[tuple[str, RtmpTarget]] = []
    for n, value in enumerate(args.rtmp, start=1):
        preset = {k.value: k for k in DestinationKind}.get(value.lower())
        if preset is not None and preset is not DestinationKind.CUSTOM:
            variable = f"{preset.value.upper()}_STREAM_KEY"
            key = os.environ.get(variable, "")
            if not key:
                raise MediaError(
                    MediaErrorCode.INVALID_ARGUMENT, preset.label, f"${variable} is not set",
                    f"export {variable}=<your stream key>, or pass the full URL",
                )  # fmt: skip
            targets.append((preset.value, rtmp_target(preset.preset_url(), key, key_required=True)))
        else:
            targets.append((f"rtmp-{n}", rtmp_target(value)))
    return targets


_print_lock = threading.RLock()


def emit(event: str, fields: dict[str, Any]) -> None:
    """Write one JSON line to stdout, whole: outputs report from their own threads, the room
    from the event loop, and a reader parses one object per line."""
    line = json.dumps({"time": round(time.time(), 3), "event": event, **fields}) + "\n"
    with _print_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def _log_output(status: OutputStatus, last: dict[str, tuple[object, ...]]) -> None:
    key = (status.phase, status.error, status.attempt)
    with _print_lock:
        if last.get(status.output_id) == key:
            return
        last[status.output_id] = key
        emit("output", status.to_json())


def _all_failed(direct: DirectBroadcast) -> bool:
    statuses = direct.statuses().values()
    return bool(statuses) and all(s.phase is OutputPhase.FAILED for s in statuses)


def _log_state(old: RoomState, new: RoomState) -> None:
    if old.to_json() != new.to_json():
        emit("state", new.to_json())


async def _publish(
    session: RoomSession,
    camera: VideoCaptureSource | None,
    mic: AudioCaptureSource | None,
    screen: VideoCaptureSource | None,
) -> None:
    if camera is not None:
        await session.publish_camera(camera)
    if mic is not None:
        await session.publish_microphone(mic)
    if screen is not None:
        await session.publish_screen(screen)


_WORDS = {
    DisconnectReason.LEFT: "left the room",
    DisconnectReason.REMOVED: "a moderator removed you from the room",
    DisconnectReason.ROOM_CLOSED: "the room was closed",
    DisconnectReason.DUPLICATE_IDENTITY: "you joined from somewhere else",
    DisconnectReason.SERVER_SHUTDOWN: "the server shut down",
    DisconnectReason.JOIN_FAILED: "joining failed",
    DisconnectReason.CONNECTION_LOST: "the connection to the server was lost",
    DisconnectReason.OTHER: "the connection ended",
}
"""Headless's own sentences (it is its own user interface: a terminal line)."""


class _Outage:
    """Follows the connection and decides when headless gives up, saying why.

    A final disconnect (removed, replaced, room closed) ends the run at once. A lost connection
    is first the SDK's to resume; once the SDK gives up, this rejoins the room itself every few
    seconds and publishes again, until ``window_s`` after the connection was lost.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._since_s: float | None = None
        self._since_wall = ""
        self._next_try_s = 0.0
        self._last_error = ""

    def begin(self, reason: str) -> None:
        """The connection was lost (or never fully made) just now, for ``reason``."""
        self._since_s = self._next_try_s = time.monotonic()
        self._since_wall = time.strftime("%H:%M:%S")
        self._last_error = reason

    async def check(
        self,
        session: RoomSession,
        url: str,
        token: str,
        sources: tuple[VideoCaptureSource | None, AudioCaptureSource | None,
                       VideoCaptureSource | None],
        args: argparse.Namespace,
    ) -> tuple[int, str] | None:  # fmt: skip
        """Called a few times a second; returns (exit status, sentence) to give up."""
        state = session.store.state
        now_s = time.monotonic()
        if state.connection is ConnectionState.CONNECTED:
            self._since_s = None
            return None
        reason = state.disconnect_reason
        if state.connection is ConnectionState.DISCONNECTED and reason is not None:
            if reason.final and reason is not DisconnectReason.LEFT:
                return EXIT_REMOVED, f"{_WORDS[reason]}; not rejoining"
        if state.connection not in (
            ConnectionState.RECONNECTING, ConnectionState.DISCONNECTED, ConnectionState.FAILED
        ):  # fmt: skip
            return None
        if self._since_s is None:
            self.begin(_WORDS[reason] if reason is not None else "the connection dropped")
            assert self._since_s is not None
        if now_s - self._since_s >= self.window_s:
            return EXIT_CONNECTION_LOST, (
                f"lost the room at {self._since_wall} ({self._last_error}) and could not get "
                f"back in within {self.window_s:.0f} s; check that the LiveKit server at "
                f"{url} is running and reachable, then start again"
            )
        if state.connection is not ConnectionState.RECONNECTING and now_s >= self._next_try_s:
            # The SDK gave up resuming: rejoin ourselves, with what is left of the window.
            self._next_try_s = now_s + REJOIN_INTERVAL_S
            remaining_s = self.window_s - (now_s - self._since_s)
            timeout_s = max(1.0, min(args.connect_timeout, remaining_s / 2))
            try:
                await session.aclose()
                joined_url = await connect_first(session, url, token, timeout_s)
                await _publish(session, *sources)
                logger.warning(
                    "rejoined the room through %s after %.0f s", joined_url, now_s - self._since_s
                )
            except SessionError as error:
                self._last_error = error.detail or str(error)
                # In but not publishing is not back: leave, so the next try starts clean.
                await session.aclose()
        return None


async def run(args: argparse.Namespace) -> int:
    """Connect, publish, stay for the duration; returns the exit status."""
    session = RoomSession(
        defaults=PublishDefaults(
            video_codec=args.codec,
            width=args.width,
            height=args.height,
            fps=args.fps,
            simulcast=args.simulcast,
        )  # fmt: skip
    )
    session.store.subscribe(_log_state)
    camera = mic = screen = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    direct: DirectBroadcast | None = None
    output_hooks: list[Callable[[OutputStatus], None]] = []
    remote: Any = None
    in_room = bool(args.url or args.backend)
    try:
        try:
            targets = _direct_targets(args)
            if args.record:
                recording_path(args.record)  # checks the extension before anything starts
            settings = EncoderSettings(args.width, args.height, args.fps, args.video_bitrate)
            settings.check()
        except MediaError as error:
            print(f"broadcaster headless: {error}", file=sys.stderr)
            return EXIT_USAGE
        try:
            camera, mic, screen = _open_sources(args)
        except MediaError as error:
            print(f"broadcaster headless: {error}", file=sys.stderr)
            return EXIT_DEVICE
        url = token = outage_error = ""
        if in_room:
            try:
                url, token = await _room_credentials(args)
                await connect_first(session, url, token, args.connect_timeout)
            except SessionError as error:
                print(f"broadcaster headless: {error}", file=sys.stderr)
                return EXIT_CONNECT
            try:
                await _publish(session, camera, mic, screen)
            except SessionError as error:
                # Mostly a connection that dropped while publishing: leave, and the outage
                # handling below gets back in and publishes again, or gives up saying why.
                logger.warning("publishing failed: %s", error)
                outage_error = error.detail
                await session.aclose()
        if targets or args.record:
            last: dict[str, tuple[object, ...]] = {}

            def listener(status: OutputStatus) -> None:
                _log_output(status, last)
                for hook in output_hooks:
                    hook(status)

            direct = DirectBroadcast(
                settings, OutputOptions(max_retries=args.max_retries), listener=listener
            )
            direct.set_sources(camera=camera, screen=screen, microphone=mic)
            for output_id, target in targets:
                direct.add_rtmp(output_id, target)
            if args.record:
                quality = RecordingQuality(args.record_quality) if args.record_quality else None
                direct.start_recording(args.record, quality=quality)
        if args.remote_control is not None:
            from desktop.session.remote_control.headless_control import serve_headless

            try:
                remote = await serve_headless(
                    args.remote_control, args.remote_control_lan, session, direct,
                    (camera, mic, screen), stop, output_hooks,
                )  # fmt: skip
            except SessionError as error:
                print(f"broadcaster headless: {error}", file=sys.stderr)
                return EXIT_USAGE
        deadline = None if args.duration is None else loop.time() + args.duration
        outage = _Outage(args.reconnect_window)
        if outage_error:
            outage.begin(outage_error)
        while not stop.is_set() and (deadline is None or loop.time() < deadline):
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except TimeoutError:
                pass
            if in_room:
                verdict = await outage.check(session, url, token, (camera, mic, screen), args)
                if verdict is not None:
                    print(f"broadcaster headless: {verdict[1]}", file=sys.stderr)
                    return verdict[0]
            if direct is not None and not in_room and _all_failed(direct):
                print("broadcaster headless: every output failed (see the lines above)",
                      file=sys.stderr)  # fmt: skip
                return EXIT_OUTPUTS_FAILED
        return 0
    finally:
        if remote is not None:
            await remote.aclose()
        if direct is not None:
            await asyncio.get_running_loop().run_in_executor(None, direct.close)
        await session.aclose()
        for source in (camera, mic, screen):
            if source is not None:
                await source.aclose()


def main(argv: list[str]) -> int:
    """``broadcaster headless``."""
    parser = _parser()
    args = parser.parse_args(argv)
    level = os.environ.get("BROADCASTER_LOG")
    logging.basicConfig(level=level or "WARNING", stream=sys.stderr)
    if not level:
        # The SDK logs its retries at WARNING; the one-line reason below says what matters.
        logging.getLogger("livekit").setLevel(logging.CRITICAL)
    if not args.url and not args.backend and not args.rtmp and not args.record:
        parser.print_usage(sys.stderr)
        print("broadcaster headless: nowhere to send: pass --url (or set LIVEKIT_URL), "
              "--backend, --rtmp or --record", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    from desktop.session.crash_reports import CrashGuard

    crash_guard = CrashGuard("headless")
    for report in crash_guard.arm():
        print(f"broadcaster headless: {report.sentence()}", file=sys.stderr)
    result: Any = asyncio.run(run(args))
    crash_guard.disarm()
    from desktop.session.exiting import exit_now

    exit_now(int(result))
