"""The remote-control API of ``broadcaster headless --remote-control PORT``.

Headless has no studio: its outputs are the ones its command line names, and it has no
moderation. Its API does what headless can: status, the program's layout and overlays (banner,
ticker, a comment), chat, microphone and camera, and ending the run; the events are the same
as the studio's (connection, participants, quality, outputs, chat). Other commands answer
``unknown_command`` naming the ones it has.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from desktop import __version__
from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.compositor import Layout
from desktop.media.errors import MediaError
from desktop.media.outputs.output import OutputStatus
from desktop.media.outputs.program import DirectBroadcast
from desktop.session.errors import SessionError
from desktop.session.on_screen import OnScreen
from desktop.session.remote_control.dispatch import Handler
from desktop.session.remote_control.events import Emit
from desktop.session.remote_control.protocol import (
    PROTOCOL_VERSION,
    RemoteError,
    arg_bool,
    arg_number,
    arg_str,
)
from desktop.session.room_session import RoomSession
from desktop.session.state import ParticipantState, RoomState, Source


class HeadlessCommands:
    """Runs requests against a headless run.

    Args:
        session: Its room session (may be unconnected: RTMP or recording only).
        direct: Its program (None without ``--rtmp`` or ``--record``).
        camera: Its camera (None: none).
        mic: Its microphone (None: none).
        stop: Set to end the run (``end_stream``).
    """

    def __init__(
        self,
        session: RoomSession,
        direct: DirectBroadcast | None,
        camera: VideoCaptureSource | None,
        mic: AudioCaptureSource | None,
        stop: asyncio.Event,
    ) -> None:
        self.session, self.direct, self.stop = session, direct, stop
        self.camera, self.mic = camera, mic
        self.mic_on = self.camera_on = True
        self.on_screen = OnScreen(direct.compositor, direct.set_banner) if direct else None
        self._outputs: dict[str, OutputStatus] = {}
        self._outputs_lock = threading.Lock()
        self._output_listeners: list[Callable[[], None]] = []
        self.handlers: dict[str, Handler] = {
            "status": self._status,
            "end_stream": self._end_stream,
            "layout": self._layout,
            "banner": self._banner,
            "banner_toggle": self._banner_toggle,
            "ticker": self._ticker,
            "comment": self._comment,
            "comment_hide": self._comment_hide,
            "chat": self._chat,
            "mic": self._mic,
            "camera": self._camera,
        }

    async def run(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one command.

        Raises:
            RemoteError: Unknown here, wrong arguments, or it failed (in words).
        """
        handler = self.handlers.get(command)
        if handler is None:
            raise RemoteError("unknown_command", f"headless cannot {command!r}; it can: "
                              f"{', '.join(sorted(self.handlers))}")  # fmt: skip
        try:
            return await handler(args)
        except (SessionError, MediaError) as error:
            raise RemoteError("failed", str(error)) from None
        except ValueError as error:
            raise RemoteError("not_possible", str(error)) from None

    # -- outputs (reported on their own threads) -----------------------------------------------

    def output_changed(self, status: OutputStatus) -> None:
        """An output's new status (from its thread)."""
        with self._outputs_lock:
            self._outputs[status.output_id] = status
        for listener in list(self._output_listeners):
            listener()

    def outputs(self) -> list[dict[str, Any]]:
        """Each output's health, as the studio reports its own."""
        with self._outputs_lock:
            statuses = list(self._outputs.values())
        return [{**s.to_json(), "via": "studio"} for s in statuses]

    # -- events --------------------------------------------------------------------------------

    def watch(self, emit: Emit) -> Callable[[], None]:
        """Push the events to ``emit`` (on the event loop); returns how to stop."""
        loop = asyncio.get_running_loop()
        last: dict[str, object] = {}
        chat_seen = [len(self.session.store.state.chat)]
        closed = [False]

        def changed() -> None:
            if closed[0]:
                return
            state = self.session.store.state
            for name, view in self._views(state).items():
                if last.get(name) != view:
                    last[name] = view
                    emit(name, view)
            for message in state.chat[chat_seen[0] :]:
                sender = state.remotes.get(message.sender_identity)
                emit("chat", {"from": message.sender_identity,
                              "name": (sender.name if sender else "") or message.sender_identity,
                              "text": message.text, "time_ms": message.timestamp_ms,
                              "local": message.is_local})  # fmt: skip
            chat_seen[0] = len(state.chat)

        def soon() -> None:
            try:
                loop.call_soon_threadsafe(changed)
            except RuntimeError:  # the loop closed
                pass

        last.update(self._views(self.session.store.state))
        unsubscribe = self.session.store.subscribe(lambda old, new: soon())
        self._output_listeners.append(soon)

        def stop() -> None:
            closed[0] = True
            unsubscribe()

        return stop

    def _people(self, state: RoomState) -> list[dict[str, Any]]:
        def person(p: ParticipantState, host: bool) -> dict[str, Any]:
            return {"identity": p.identity, "name": p.name or p.identity, "host": host,
                    "in_program": host, "can_publish": p.can_publish,
                    "publishing": p.is_publisher, "mic_muted": p.mic_muted,
                    "quality": p.quality.name.lower()}  # fmt: skip

        people = [person(state.local, True)] if state.local else []
        return people + [person(p, False) for _, p in sorted(state.remotes.items())]

    def _views(self, state: RoomState) -> dict[str, dict[str, Any]]:
        people = self._people(state)
        return {
            "connection": {
                "state": state.connection.name.lower(),
                "room": state.room_name,
                "reason": state.disconnect_reason.value if state.disconnect_reason else "",
                "error": state.error,
            },
            "participants": {
                "participants": [{k: v for k, v in p.items() if k != "quality"} for p in people]
            },
            "quality": {"quality": {p["identity"]: p["quality"] for p in people}},
            "outputs": {
                "is_live": bool(self._outputs),
                "is_recording": "recording" in self._outputs,
                "rehearsal": "",
                "outputs": [
                    {k: v for k, v in o.items() if k not in ("bytes", "bitrate_bps")}
                    for o in self.outputs()
                ],
            },
        }

    # -- commands ------------------------------------------------------------------------------

    def _program(self) -> tuple[DirectBroadcast, OnScreen]:
        if self.direct is None or self.on_screen is None:
            raise ValueError("this headless run has no program: start it with --rtmp or --record")
        return self.direct, self.on_screen

    async def _status(self, args: dict[str, Any]) -> dict[str, Any]:
        state = self.session.store.state
        scene = self.direct.compositor.scene if self.direct else None
        return {
            "protocol": PROTOCOL_VERSION,
            "version": __version__,
            "connection": state.connection.name.lower(),
            "room": state.room_name,
            "is_live": bool(self._outputs),
            "is_recording": "recording" in self._outputs,
            "layout": scene.layout.value if scene else Layout.AUTO.value,
            "stage": ["host"],
            "mic_on": self.mic_on,
            "camera_on": self.camera_on,
            "outputs": self.outputs(),
            "participants": self._people(state),
            "on_screen": self.on_screen.status()
            if self.on_screen
            else {"banner": "", "ticker": "", "comment": None},  # fmt: skip
        }

    async def _end_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        self.stop.set()
        return {"ending": True}

    async def _layout(self, args: dict[str, Any]) -> dict[str, Any]:
        direct, _ = self._program()
        name = arg_str(args, "layout")
        try:
            layout = Layout(name)
        except ValueError:
            raise RemoteError("bad_request", f"there is no layout {name!r}") from None
        direct.set_layout(layout)
        return {"layout": layout.value, "viewers_see": ""}

    async def _banner(self, args: dict[str, Any]) -> dict[str, Any]:
        _, on_screen = self._program()
        on_screen.set_banner(arg_str(args, "text"))
        return on_screen.status()

    async def _banner_toggle(self, args: dict[str, Any]) -> dict[str, Any]:
        _, on_screen = self._program()
        on_screen.toggle_banner()
        return on_screen.status()

    async def _ticker(self, args: dict[str, Any]) -> dict[str, Any]:
        _, on_screen = self._program()
        on_screen.set_ticker(arg_str(args, "text"))
        return on_screen.status()

    async def _comment(self, args: dict[str, Any]) -> dict[str, Any]:
        _, on_screen = self._program()
        on_screen.show_comment(arg_str(args, "name", ""), arg_str(args, "text"),
                               arg_number(args, "duration_s", 0))  # fmt: skip
        return on_screen.status()

    async def _comment_hide(self, args: dict[str, Any]) -> dict[str, Any]:
        _, on_screen = self._program()
        on_screen.hide_comment()
        return on_screen.status()

    async def _chat(self, args: dict[str, Any]) -> dict[str, Any]:
        text = arg_str(args, "text").strip()
        if not text:
            raise RemoteError("bad_request", "'text' is empty: say something")
        await self.session.send_chat(text)
        return {"sent": True}

    async def _mic(self, args: dict[str, Any]) -> dict[str, Any]:
        on = arg_bool(args, "on")
        await self._device(Source.MICROPHONE, on)
        self.mic_on = on
        return {"on": on}

    async def _camera(self, args: dict[str, Any]) -> dict[str, Any]:
        on = arg_bool(args, "on")
        await self._device(Source.CAMERA, on)
        self.camera_on = on
        return {"on": on}

    async def _device(self, source: Source, on: bool) -> None:
        """Mute or unmute a device in the room and take it off (or put it back in) the program."""
        if self.session.room is not None:
            await self.session.set_muted(source, not on)
        if self.direct is not None:
            camera_on = self.camera_on if source is Source.MICROPHONE else on
            mic_on = self.mic_on if source is Source.CAMERA else on
            self.direct.set_sources(camera=self.camera if camera_on else None,
                                    microphone=self.mic if mic_on else None)  # fmt: skip


async def serve_headless(
    port: int,
    lan: bool,
    session: RoomSession,
    direct: DirectBroadcast | None,
    sources: tuple[VideoCaptureSource | None, AudioCaptureSource | None, VideoCaptureSource | None],
    stop: asyncio.Event,
    output_hooks: list[Callable[[OutputStatus], None]],
) -> Any:
    """Start headless's API (``--remote-control PORT``) and say where; returns the server.

    The token is ``BROADCASTER_REMOTE_TOKEN``, else the keyring's (made there on first use).

    Raises:
        SessionError: The port cannot be used, in words with the next step.
    """
    import sys

    from desktop.session.errors import SessionErrorCode
    from desktop.session.remote_control.server import RemoteControlServer
    from desktop.session.remote_control.tokens import token_for
    from desktop.session.settings import Secrets

    camera, mic, _ = sources
    commands = HeadlessCommands(session, direct, camera, mic, stop)
    output_hooks.append(commands.output_changed)
    host = "0.0.0.0" if lan else "127.0.0.1"  # noqa: S104 (the LAN only when asked)
    server = RemoteControlServer(None, token_for(Secrets()), port, host, commands=commands,
                                 watch=commands.watch)  # fmt: skip
    try:
        await server.start()
    except OSError as error:
        raise SessionError(SessionErrorCode.INVALID_REQUEST, str(error.strerror or error),
                           "choose another port with --remote-control PORT") from None  # fmt: skip
    print(f"broadcaster headless: remote control listening on {host}:{server.port}",
          file=sys.stderr, flush=True)  # fmt: skip
    return server
