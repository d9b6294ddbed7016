"""The producer's hotkeys: next layout, guest N on or off stage, the banner shown or hidden.

The keys are the host's (Settings ▸ Remote control; defaults in
:data:`~desktop.session.settings.DEFAULT_HOTKEYS`), the actions are the remote-control API's
(``layout next``, ``stage guest=N``, ``banner_toggle``), so a Stream Deck and the keyboard do
the same thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut

from desktop.session.remote_control.dispatch import guest_by_number, next_layout, toggle_stage
from desktop.session.remote_control.protocol import RemoteError
from desktop.session.settings import DEFAULT_HOTKEYS

if TYPE_CHECKING:
    from desktop.session.studio import Studio
    from desktop.ui.studio_window import StudioWindow

ACTION_WORDS: dict[str, str] = {
    "next_layout": "Next layout",
    "banner_toggle": "Show or hide the banner",
    **{f"stage_guest_{n}": f"Guest {n} on or off stage" for n in range(1, 10)},
}
"""Each action as Settings lists it."""


class Hotkeys:
    """The hotkeys of one studio window (re-made when the host changes them).

    Args:
        window: The studio window (shortcuts work while it is active).
        studio: The studio the actions drive.
    """

    def __init__(self, window: StudioWindow, studio: Studio) -> None:
        self.window = window
        self.studio = studio
        self.shortcuts: dict[str, QShortcut] = {}
        self.apply(studio.settings.hotkeys)

    def apply(self, keys: dict[str, str]) -> None:
        """Use these keys (action → key sequence; '' turns an action's key off)."""
        for shortcut in self.shortcuts.values():
            shortcut.setEnabled(False)
            shortcut.deleteLater()
        self.shortcuts = {}
        for action in DEFAULT_HOTKEYS:
            sequence = keys.get(action, DEFAULT_HOTKEYS[action])
            if not sequence:
                continue
            shortcut = QShortcut(QKeySequence(sequence), self.window)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(self._handler(action))
            self.shortcuts[action] = shortcut

    def _handler(self, action: str) -> Callable[[], None]:
        return lambda: self.run(action)

    def run(self, action: str) -> None:
        """Do a hotkey's action; what cannot be done is said in the window's notices."""
        try:
            if action == "next_layout":
                next_layout(self.studio)
            elif action == "banner_toggle":
                self.studio.on_screen.toggle_banner()
            elif action.startswith("stage_guest_"):
                identity = guest_by_number(self.studio, int(action.rsplit("_", 1)[1]))
                self.window.bridge.run(toggle_stage(self.studio, identity), "change the stage")
        except (RemoteError, ValueError) as error:
            self.window.show_error(f"{ACTION_WORDS.get(action, action)}: {error}.")
