"""Driving the studio's widgets as the host would: clicks, keys, answers, and waiting on screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from tests.waiting import wait_for

T = TypeVar("T")

PUMP_S = 20.0
"""How long ``pump`` waits when not told."""
PUMP_INTERVAL_S = 0.02
"""Between two looks Qt runs its events: short, so that a repaint is seen soon."""


async def pump(
    predicate: Callable[[], T | None],
    timeout_s: float = PUMP_S,
    what: str | None = None,
    *,
    state: Callable[[], object] | None = None,
    interval_s: float = PUMP_INTERVAL_S,
) -> T:
    """Let Qt and asyncio both run until ``predicate`` holds (``tests.waiting.wait_for``)."""
    return await wait_for(
        predicate,
        timeout_s,
        what,
        state=state,
        tick=QApplication.processEvents,
        interval_s=interval_s,
    )


def click(qtbot: QtBot, widget: QWidget) -> None:
    """A left click in the middle of ``widget``, as the host's mouse makes it."""
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def type_text(qtbot: QtBot, widget: QWidget, text: str) -> None:
    """Type ``text`` into ``widget`` key by key."""
    qtbot.keyClicks(widget, text)  # type: ignore[no-untyped-call]


def press(qtbot: QtBot, widget: QWidget, key: Qt.Key, modifiers: Qt.KeyboardModifier) -> None:
    """Press a key with modifiers (a hotkey)."""
    qtbot.keyClick(widget, key, modifiers)  # type: ignore[no-untyped-call]


def confirmation(window: QWidget) -> QMessageBox | None:
    """The "are you sure?" question on screen, if any."""
    for box in window.findChildren(QMessageBox, "Confirm"):
        if box.isVisible():
            return box
    return None


async def answer(qtbot: QtBot, window: QWidget, yes: bool) -> str:
    """Click Yes or Cancel on the question on screen, as the host would; returns its text."""
    await pump(lambda: confirmation(window) is not None, what="the confirmation question")
    box = confirmation(window)
    assert box is not None
    # The safe answer is the default: Enter and Escape both mean Cancel.
    assert box.defaultButton().objectName() == "ConfirmNo"
    escape = box.escapeButton()
    assert escape is not None and escape.objectName() == "ConfirmNo"
    button = box.findChild(QAbstractButton, "ConfirmYes" if yes else "ConfirmNo")
    assert button is not None
    text = box.text()
    click(qtbot, button)
    await pump(lambda: confirmation(window) is None, what="the question to close")
    return text
