"""The one bridge between the session's state and the widgets.

The session's :class:`~desktop.session.state.StateStore` calls back on the event loop (which,
under qasync, is the Qt thread); the bridge re-emits each change as a Qt signal so widgets
connect to it like to any other signal. Commands go the other way through :meth:`run`, which
turns an expected failure into a plain sentence and an unexpected one into a logged report —
never a silent loss.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.media.errors import MediaError
from desktop.session.errors import SessionError
from desktop.session.state import RoomState, StateStore
from desktop.ui import words

logger = logging.getLogger(__name__)


class StateBridge(QObject):
    """Re-emits state changes as :attr:`changed` and reports command failures as :attr:`error`.

    Args:
        store: The state to observe.
    """

    changed = Signal(object, object)
    """(old, new) :class:`RoomState`."""
    error = Signal(str)
    """A message for the host in words (widgets' own, e.g. "Select a guest first")."""
    failure = Signal(str, str)
    """A command failed: (what happened, the next step), from :func:`words.failure`."""

    def __init__(self, store: StateStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._unsubscribe = store.subscribe(self._on_change)
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def state(self) -> RoomState:
        """The current state."""
        return self.store.state

    def _on_change(self, old: RoomState, new: RoomState) -> None:
        self.changed.emit(old, new)

    def run(self, command: Coroutine[Any, Any, Any], doing: str) -> asyncio.Task[Any]:
        """Run a session command; its failure is reported as ``"Could not <doing>: …"``."""
        task = asyncio.ensure_future(command)
        self._tasks.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._tasks.discard(finished)
            if finished.cancelled():
                return
            exc = finished.exception()
            if exc is None:
                return
            if not isinstance(exc, SessionError | MediaError):
                logger.error("unexpected failure while trying to %s", doing, exc_info=exc)
            self.failure.emit(*words.failure(exc, doing))

        task.add_done_callback(done)
        return task

    async def drain(self) -> None:
        """Wait for running commands (tests, and closing the window)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close(self) -> None:
        """Stop observing."""
        self._unsubscribe()
