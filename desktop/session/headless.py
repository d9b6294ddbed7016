"""``broadcaster headless``: publish to a room with no window (kiosks, automation, tests).

It connects, publishes the chosen camera, microphone and screen, logs every state change as one
JSON line on standard output, and exits 0 after ``--duration`` (or on Ctrl+C). On failure it
prints one line saying why on standard error and exits non-zero:
2 bad arguments, 3 could not connect (bad URL, refused token, unreachable server), 4 a device
could not be opened.
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
import time
from typing import Any

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.errors import MediaError
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.room_session import PublishDefaults, RoomSession
from desktop.session.state import RoomState

logger = logging.getLogger(__name__)

EXIT_USAGE = 2
EXIT_CONNECT = 3
EXIT_DEVICE = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="broadcaster headless",
        description="Publish camera, microphone and screen to a LiveKit room with no window.",
    )
    parser.add_argument("--url", default=os.environ.get("LIVEKIT_URL")
                        or os.environ.get("LIVEKIT_WS_URL"),
                        help="LiveKit server URL (default: $LIVEKIT_URL)")  # fmt: skip
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
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds to stay live (default: until Ctrl+C)")  # fmt: skip
    parser.add_argument("--connect-timeout", type=float, default=10.0,
                        help="seconds to wait for the server")  # fmt: skip
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
        created = await backend.call("create_room", appointmentId=args.appointment)
    finally:
        await backend.aclose()
    room = created["room"]
    return str(room["url"]), str(room["token"])


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


def _log_state(old: RoomState, new: RoomState) -> None:
    if old.to_json() != new.to_json():
        print(json.dumps({"time": round(time.time(), 3), "event": "state", **new.to_json()}),
              flush=True)  # fmt: skip


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
    try:
        try:
            camera, mic, screen = _open_sources(args)
        except MediaError as error:
            print(f"broadcaster headless: {error}", file=sys.stderr)
            return EXIT_DEVICE
        try:
            url, token = await _room_credentials(args)
            await session.connect(url, token, args.connect_timeout)
        except SessionError as error:
            print(f"broadcaster headless: {error}", file=sys.stderr)
            return EXIT_CONNECT
        if camera is not None:
            await session.publish_camera(camera)
        if mic is not None:
            await session.publish_microphone(mic)
        if screen is not None:
            await session.publish_screen(screen)
        try:
            await asyncio.wait_for(stop.wait(), args.duration)
        except TimeoutError:
            pass
        return 0
    finally:
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
    if not args.url and not args.backend:
        parser.print_usage(sys.stderr)
        print("broadcaster headless: no server: pass --url (or set LIVEKIT_URL) or --backend",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    result: Any = asyncio.run(run(args))
    return int(result)
