"""The studio's state changes as the API's events.

The studio's state may change on any thread (outputs report from their own); the watcher hands
each change to the event loop, compares what each event shows, and pushes an event only when
that changed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from desktop.session.remote_control.dispatch import Dispatcher, outputs_json
from desktop.session.state import RoomState

if TYPE_CHECKING:
    from desktop.session.studio import Studio

Emit = Callable[[str, dict[str, Any]], None]

EVENTS = ("connection", "participants", "quality", "outputs", "chat", "alerts", "program")
"""Every event the server pushes (the schema lists exactly these)."""


class EventWatcher:
    """Follows a studio and calls ``emit(name, data)`` for each event, on the event loop.

    Args:
        studio: The studio to follow.
        dispatcher: Its dispatcher (for the participants' list, as ``status`` shows it).
        emit: Called with each event.
    """

    def __init__(self, studio: Studio, dispatcher: Dispatcher, emit: Emit) -> None:
        self.studio = studio
        self.dispatcher = dispatcher
        self.emit = emit
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._last: dict[str, object] = {}
        self._chat_seen = len(studio.store.state.chat)
        self._closed = False
        self._snapshot()
        self._unsubscribe = studio.store.subscribe(self._on_state)
        studio.program.on_change(self._on_program)
        studio.on_screen.on_change(self._on_program)

    def close(self) -> None:
        """Stop following the studio."""
        self._closed = True
        self._unsubscribe()

    def _on_state(self, old: RoomState, new: RoomState) -> None:
        self._soon(lambda: self._changed(new))

    def _on_program(self) -> None:
        self._soon(lambda: self._changed(self.studio.store.state))

    def _soon(self, call: Callable[[], None]) -> None:
        if self._closed:
            return
        if threading.get_ident() == self._loop_thread:
            call()
        else:
            try:
                self._loop.call_soon_threadsafe(call)
            except RuntimeError:  # the loop closed: nobody listens any more
                pass

    def _views(self, state: RoomState) -> dict[str, dict[str, Any]]:
        """What each event (but chat) shows now."""
        studio = self.studio
        scene = studio.live.direct.compositor.scene
        people = self.dispatcher.participants()
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
                "is_live": state.is_live,
                "is_recording": state.is_recording,
                "rehearsal": state.rehearsal,
                "outputs": [
                    {k: v for k, v in o.items() if k not in ("bytes", "bitrate_bps")}
                    for o in outputs_json(state)
                ],
            },
            "alerts": {
                "alerts": [
                    {"code": p.code.name.lower(), "detail": p.detail} for p in state.problems
                ]  # fmt: skip
            },
            "program": {
                "layout": scene.layout.value,
                "stage": list(studio.program.stage),
                "pinned": scene.pinned,
                **studio.on_screen.status(),
            },
        }

    def _snapshot(self) -> None:
        self._last = dict(self._views(self.studio.store.state))

    def _changed(self, _: RoomState) -> None:
        if self._closed:
            return
        # The newest state, not the one of the change: changes queued from other threads
        # arrive late, and an event shows the studio as it is when it is sent.
        state = self.studio.store.state
        for name, view in self._views(state).items():
            if self._last.get(name) != view:
                self._last[name] = view
                self.emit(name, view)
        chat = state.chat
        self._chat_seen = min(self._chat_seen, len(chat))
        for message in chat[self._chat_seen :]:
            sender = state.remotes.get(message.sender_identity)
            name = (sender.name if sender else "") or message.sender_identity
            if message.is_local:
                name = state.local.name if state.local else "Host"
            self.emit("chat", {"from": message.sender_identity, "name": name,
                               "text": message.text, "time_ms": message.timestamp_ms,
                               "local": message.is_local})  # fmt: skip
        self._chat_seen = len(chat)
