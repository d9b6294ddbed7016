"""Requests to the studio's own commands: each command calls the public method the window
calls, so the API can do what the window does and nothing it cannot.

The hotkeys' actions (next layout, a guest on or off stage, the banner shown or hidden) are
here too, as functions of the studio, so the window and the API do the same thing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from desktop import __version__
from desktop.media.base import VideoCaptureSource
from desktop.media.compositor import HOST_ID, Layout
from desktop.media.errors import MediaError
from desktop.session.broadcast_monitor import egress_word
from desktop.session.errors import SessionError
from desktop.session.remote_control.protocol import (
    PROTOCOL_VERSION,
    RemoteError,
    arg_bool,
    arg_number,
    arg_str,
)
from desktop.session.state import ParticipantState, RoomState, Source

if TYPE_CHECKING:
    from desktop.session.studio import Studio

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

LAYOUT_CYCLE = (Layout.AUTO, Layout.SOLO, Layout.SIDE_BY_SIDE, Layout.GRID, Layout.SPEAKER,
                Layout.SCREEN_STRIP, Layout.SCREEN_PIP)  # fmt: skip
"""The order "next layout" goes through (screen layouts are skipped with no screen shared)."""


# -- the hotkeys' actions, shared with the window ----------------------------------------------


def current_layout(studio: Studio) -> Layout:
    """The program's layout now."""
    return studio.live.direct.compositor.scene.layout


def next_layout(studio: Studio) -> Layout:
    """Switch the program to the next layout (wrapping round); returns the new one."""
    now = current_layout(studio)
    cycle = [lay for lay in LAYOUT_CYCLE if studio.screen is not None or not lay.needs_screen]
    position = cycle.index(now) if now in cycle else -1
    layout = cycle[(position + 1) % len(cycle)]
    studio.set_program_layout(layout)
    return layout


def guests_in_order(state: RoomState) -> list[ParticipantState]:
    """Guests as the hotkeys number them: in the order they joined."""
    return sorted(state.remotes.values(), key=lambda p: (p.joined_at_ms, p.identity))


def guest_by_number(studio: Studio, number: int) -> str:
    """The identity of guest ``number`` (1 = the first to join).

    Raises:
        RemoteError: No guest has that number.
    """
    guests = guests_in_order(studio.store.state)
    if not 1 <= number <= len(guests):
        raise RemoteError("not_possible", f"there is no guest {number}: "
                          f"{len(guests)} guest(s) in the room")  # fmt: skip
    return guests[number - 1].identity


async def toggle_stage(studio: Studio, identity: str) -> bool:
    """Put a guest in the program, or take them out; returns whether they are in it now."""
    on = identity not in studio.program.stage
    await studio.set_in_program(identity, on)
    return on


# -- the API -------------------------------------------------------------------------------------


class Dispatcher:
    """Runs requests against a studio.

    Args:
        studio: The studio to drive.
        open_screen: Opens the screen "Share screen" shares (None: screen share is refused).
    """

    def __init__(
        self, studio: Studio, open_screen: Callable[[], VideoCaptureSource] | None = None
    ) -> None:
        self.studio = studio
        self.open_screen = open_screen
        self.handlers: dict[str, Handler] = {
            "status": self._status,
            "go_live": self._go_live,
            "end_live": self._end_live,
            "end_stream": self._end_stream,
            "destination": self._destination,
            "recording": self._recording,
            "hls": self._hls,
            "rehearse": self._rehearse,
            "layout": self._layout,
            "stage": self._stage,
            "pin": self._pin,
            "banner": self._banner,
            "banner_toggle": self._banner_toggle,
            "ticker": self._ticker,
            "comment": self._comment,
            "comment_hide": self._comment_hide,
            "mute_guest": self._mute_guest,
            "remove_guest": self._remove_guest,
            "ask_to_unmute": self._ask_to_unmute,
            "chat": self._chat,
            "screen_share": self._screen_share,
            "mic": self._mic,
            "camera": self._camera,
        }
        """Command name → handler (the schema lists exactly these)."""

    async def run(self, command: str, args: dict[str, Any]) -> dict[str, Any]:
        """Run one command; returns its result.

        Raises:
            RemoteError: The command is unknown, its arguments are wrong, or it failed (the
                studio's own words).
        """
        handler = self.handlers.get(command)
        if handler is None:
            raise RemoteError("unknown_command", f"there is no command {command!r}; "
                              f"the commands are: {', '.join(sorted(self.handlers))}")  # fmt: skip
        try:
            return await handler(args)
        except (SessionError, MediaError) as error:
            raise RemoteError("failed", str(error)) from None
        except ValueError as error:
            raise RemoteError("not_possible", str(error)) from None

    # -- status --------------------------------------------------------------------------------

    def participants(self) -> list[dict[str, Any]]:
        """Everyone in the room, with whether they are in the program."""
        state = self.studio.store.state
        stage = self.studio.program.stage
        people: list[dict[str, Any]] = []
        if state.local is not None:
            people.append(_person(state.local, HOST_ID in stage, host=True))
        people.extend(_person(p, p.identity in stage) for p in guests_in_order(state))
        return people

    async def _status(self, args: dict[str, Any]) -> dict[str, Any]:
        studio = self.studio
        state = studio.store.state
        scene = studio.live.direct.compositor.scene
        return {
            "protocol": PROTOCOL_VERSION,
            "version": __version__,
            "connection": state.connection.name.lower(),
            "room": state.room_name,
            "is_live": state.is_live,
            "is_recording": state.is_recording
            or any(o.output_id == "recording" for o in state.direct_outputs),
            "rehearsal": state.rehearsal,
            "live_s": round(studio.live_duration_s(), 1),
            "layout": scene.layout.value,
            "pinned": scene.pinned,
            "stage": list(studio.program.stage),
            "mic_on": studio.mic_on,
            "camera_on": studio.camera_on,
            "screen_sharing": studio.screen is not None,
            "destinations": [
                {"id": d.id, "name": d.name, "enabled": d.enabled}
                for d in studio.settings.destinations
            ],
            "outputs": outputs_json(state),
            "participants": self.participants(),
            "on_screen": studio.on_screen.status(),
            "alerts": [{"code": p.code.name.lower(), "detail": p.detail} for p in state.problems],
        }

    # -- going live ----------------------------------------------------------------------------

    async def _go_live(self, args: dict[str, Any]) -> dict[str, Any]:
        problems = await self.studio.go_live()
        return {"is_live": self.studio.store.state.is_live, "problems": problems}

    async def _end_live(self, args: dict[str, Any]) -> dict[str, Any]:
        await self.studio.end_live()
        return {"is_live": self.studio.store.state.is_live}

    async def _end_stream(self, args: dict[str, Any]) -> dict[str, Any]:
        summary = await self.studio.end_stream()
        return {"duration_s": round(summary.duration_s, 1), "recordings": summary.recordings,
                "peak_participants": summary.peak_participants}  # fmt: skip

    async def _destination(self, args: dict[str, Any]) -> dict[str, Any]:
        destination_id, on = arg_str(args, "id"), arg_bool(args, "on")
        self.studio.destination(destination_id)  # a wrong id says so before anything changes
        await self.studio.set_destination_enabled(destination_id, on)
        return {"id": destination_id, "on": on}

    async def _recording(self, args: dict[str, Any]) -> dict[str, Any]:
        from desktop.session.studio import RecordingPlace

        if not arg_bool(args, "on"):
            await self.studio.stop_recording()
            return {"on": False}
        place_name = arg_str(args, "place", "local")
        try:
            place = RecordingPlace(place_name)
        except ValueError:
            raise RemoteError("bad_request", "'place' must be local, cloud or both") from None
        path = await self.studio.start_recording(place=place)
        return {"on": True, "path": str(path) if path else ""}

    async def _hls(self, args: dict[str, Any]) -> dict[str, Any]:
        if not arg_bool(args, "on"):
            await self.studio.stop_hls()
            return {"on": False}
        segment_s = int(arg_number(args, "segment_s", 4)) or 4
        playlist = await self.studio.start_hls(segment_s)
        return {"on": True, "playlist": str(playlist)}

    async def _rehearse(self, args: dict[str, Any]) -> dict[str, Any]:
        if not arg_bool(args, "on"):
            await self.studio.end_rehearsal()
            return {"on": False}
        where = await self.studio.rehearse()
        return {"on": True, "where": where}

    # -- the program ---------------------------------------------------------------------------

    async def _layout(self, args: dict[str, Any]) -> dict[str, Any]:
        name = arg_str(args, "layout")
        if name == "next":
            layout = next_layout(self.studio)
            return {"layout": layout.value, "viewers_see": ""}
        try:
            layout = Layout(name)
        except ValueError:
            names = ", ".join(lay.value for lay in Layout)
            raise RemoteError("bad_request", f"there is no layout {name!r}; "
                              f"choose one of: {names}, or next") from None  # fmt: skip
        note = self.studio.set_program_layout(layout)
        return {"layout": layout.value, "viewers_see": note}

    def _identity(self, args: dict[str, Any]) -> str:
        """The guest a request names: ``identity``, or ``guest`` (a number, 1 = first)."""
        if "guest" in args:
            number = args["guest"]
            if isinstance(number, bool) or not isinstance(number, int):
                raise RemoteError("bad_request", "'guest' must be a whole number (1 = first)")
            return guest_by_number(self.studio, number)
        identity = arg_str(args, "identity")
        known = identity == HOST_ID or identity in self.studio.store.state.remotes
        if not known:
            raise RemoteError("not_possible", f"{identity!r} is not in the room; "
                              "'status' lists who is")  # fmt: skip
        return identity

    async def _stage(self, args: dict[str, Any]) -> dict[str, Any]:
        identity = self._identity(args)
        if "on" in args:
            on = arg_bool(args, "on")
            note = await self.studio.set_in_program(identity, on)
        else:
            note = ""
            on = await toggle_stage(self.studio, identity)
        return {"identity": identity, "on": on, "stage": list(self.studio.program.stage),
                "note": note}  # fmt: skip

    async def _pin(self, args: dict[str, Any]) -> dict[str, Any]:
        identity = arg_str(args, "identity")
        if identity:
            identity = self._identity(args)
        self.studio.set_pinned(identity)
        return {"pinned": self.studio.live.direct.compositor.scene.pinned}

    async def _banner(self, args: dict[str, Any]) -> dict[str, Any]:
        self.studio.on_screen.set_banner(arg_str(args, "text"))
        return self.studio.on_screen.status()

    async def _banner_toggle(self, args: dict[str, Any]) -> dict[str, Any]:
        self.studio.on_screen.toggle_banner()
        return self.studio.on_screen.status()

    async def _ticker(self, args: dict[str, Any]) -> dict[str, Any]:
        self.studio.on_screen.set_ticker(arg_str(args, "text"))
        return self.studio.on_screen.status()

    async def _comment(self, args: dict[str, Any]) -> dict[str, Any]:
        text, name = arg_str(args, "text"), arg_str(args, "name", "")
        self.studio.on_screen.show_comment(name, text, arg_number(args, "duration_s", 0))
        return self.studio.on_screen.status()

    async def _comment_hide(self, args: dict[str, Any]) -> dict[str, Any]:
        self.studio.on_screen.hide_comment()
        return self.studio.on_screen.status()

    # -- guests --------------------------------------------------------------------------------

    async def _mute_guest(self, args: dict[str, Any]) -> dict[str, Any]:
        identity = self._identity(args)
        source_name = arg_str(args, "source", "microphone")
        if source_name not in ("microphone", "camera"):
            raise RemoteError("bad_request", "'source' must be microphone or camera")
        await self.studio.mute_guest(identity, Source[source_name.upper()])
        return {"identity": identity, "source": source_name}

    async def _remove_guest(self, args: dict[str, Any]) -> dict[str, Any]:
        identity = self._identity(args)
        await self.studio.remove_guest(identity)
        return {"identity": identity}

    async def _ask_to_unmute(self, args: dict[str, Any]) -> dict[str, Any]:
        identity = self._identity(args)
        await self.studio.ask_to_unmute(identity)
        return {"identity": identity}

    async def _chat(self, args: dict[str, Any]) -> dict[str, Any]:
        text = arg_str(args, "text").strip()
        if not text:
            raise RemoteError("bad_request", "'text' is empty: say something")
        await self.studio.send_chat(text)
        return {"sent": True}

    # -- the host's own devices ----------------------------------------------------------------

    async def _screen_share(self, args: dict[str, Any]) -> dict[str, Any]:
        if not arg_bool(args, "on"):
            await self.studio.stop_sharing()
            return {"on": False}
        if self.studio.screen is not None:
            return {"on": True}
        if self.open_screen is None:
            raise RemoteError("not_possible", "this studio has no screen to share; "
                              "share one from the window")  # fmt: skip
        screen = self.open_screen()
        screen.start()
        await self.studio.share_screen(screen)
        return {"on": True}

    async def _mic(self, args: dict[str, Any]) -> dict[str, Any]:
        on = arg_bool(args, "on")
        await self.studio.set_mic_on(on)
        return {"on": on}

    async def _camera(self, args: dict[str, Any]) -> dict[str, Any]:
        on = arg_bool(args, "on")
        await self.studio.set_camera_on(on)
        return {"on": on}


def _person(person: ParticipantState, in_program: bool, host: bool = False) -> dict[str, Any]:
    return {
        "identity": HOST_ID if host else person.identity,
        "name": person.name or person.identity,
        "host": host,
        "in_program": in_program,
        "can_publish": person.can_publish,
        "publishing": person.is_publisher,
        "mic_muted": person.mic_muted,
        "quality": person.quality.name.lower(),
    }


def outputs_json(state: RoomState) -> list[dict[str, Any]]:
    """Every output's health: the studio's own (RTMP, recording, HLS) and the platform's."""
    own = [{**status.to_json(), "via": "studio"} for status in state.direct_outputs]
    egress = [
        {"output": o.name, "state": egress_word(o), "via": "platform",
         **({"error": o.error} if o.error else {})}
        for o in state.outputs
    ]  # fmt: skip
    return own + egress
