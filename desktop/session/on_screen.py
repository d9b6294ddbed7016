"""What the producer puts over the program: a viewer's comment as a lower third, a scrolling
ticker, and the banner (remembered, so one key can show and hide it again).

Shared by the chat panel's "Show on screen", the hotkeys and the remote-control API; it only
changes the compositor's scene, so a change lands on the next picture of every output.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from desktop.media.compositor import Compositor, comment_visible

logger = logging.getLogger(__name__)

COMMENT_MAX_CHARS = 140
"""A comment longer than this is cut (with an ellipsis): a lower third is one line."""


class OnScreen:
    """The program's overlays.

    Args:
        compositor: The program's compositor.
        set_banner: Shows a banner ('' removes it); the studio's own, so its listeners hear.
    """

    def __init__(self, compositor: Compositor, set_banner: Callable[[str], None]) -> None:
        self._compositor = compositor
        self._set_banner = set_banner
        self.last_banner = ""
        """The last banner text shown (what :meth:`toggle_banner` brings back)."""
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Be told when what shows changes."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                logger.exception("on-screen listener raised")

    def show_comment(self, name: str, text: str, duration_s: float = 0.0) -> None:
        """Show a comment with its sender's name until hidden, or for ``duration_s`` seconds.

        Raises:
            ValueError: The text is empty.
        """
        text = " ".join(text.split())
        if not text:
            raise ValueError("the comment is empty: choose a chat message with words in it")
        if len(text) > COMMENT_MAX_CHARS:
            text = text[: COMMENT_MAX_CHARS - 1] + "…"
        until_s = time.monotonic() + duration_s if duration_s > 0 else 0.0
        self._compositor.update(comment=(name.strip(), text), comment_until_s=until_s)
        self._changed()

    def hide_comment(self) -> None:
        """Take the comment off the program."""
        self._compositor.update(comment=None, comment_until_s=0.0)
        self._changed()

    def set_ticker(self, text: str) -> None:
        """Scroll ``text`` along the top of the program ('' stops the ticker)."""
        self._compositor.update(ticker=" ".join(text.split()))
        self._changed()

    def set_banner(self, text: str) -> None:
        """Show a banner along the bottom ('' hides it; the text is kept for a toggle)."""
        text = text.strip()
        if text:
            self.last_banner = text
        self._set_banner(text)
        self._changed()

    def toggle_banner(self) -> bool:
        """Hide the banner, or show the last one again; returns whether it shows now."""
        if self._compositor.scene.banner:
            self._set_banner("")
            self._changed()
            return False
        if not self.last_banner:
            raise ValueError("there is no banner to show yet: set its text first")
        self._set_banner(self.last_banner)
        self._changed()
        return True

    def status(self) -> dict[str, Any]:
        """What shows now, JSON-ready."""
        scene = self._compositor.scene
        comment = scene.comment if comment_visible(scene, time.monotonic()) else None
        return {
            "banner": scene.banner,
            "ticker": scene.ticker,
            "comment": {"name": comment[0], "text": comment[1]} if comment else None,
        }
