"""Asking "are you sure?" before a step that cannot be undone, with No as the safe default.

The question is window-modal but not blocking (``open()``, not ``exec()``): the asyncio loop
keeps running while it is on screen, so the show goes on and tests answer it by clicking.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget


def ask(
    parent: QWidget,
    title: str,
    question: str,
    yes_text: str,
    on_yes: Callable[[], Any],
    *,
    detail: str = "",
    on_no: Callable[[], Any] | None = None,
) -> QMessageBox:
    """Show a confirmation whose default (Enter, Escape) is No; call ``on_yes`` on Yes.

    Args:
        parent: The window it belongs to.
        title: The dialog's title.
        question: The question, naming what will happen.
        yes_text: The Yes button's words (``End stream for everyone``).
        on_yes: What to do on Yes.
        detail: A second line with consequences.
        on_no: What to do on No or on closing the dialog.

    Returns:
        The (open) message box.
    """
    box = QMessageBox(parent)
    box.setObjectName("Confirm")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    box.setAccessibleName(title)
    box.setText(question)
    if detail:
        box.setInformativeText(detail)
    yes = box.addButton(yes_text, QMessageBox.ButtonRole.DestructiveRole)
    yes.setObjectName("ConfirmYes")
    yes.setAccessibleName(yes_text)
    yes.setToolTip(yes_text)
    no = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
    no.setObjectName("ConfirmNo")
    no.setAccessibleName("Cancel")
    no.setToolTip("Keep things as they are")
    box.setDefaultButton(no)
    box.setEscapeButton(no)

    def answered() -> None:
        if box.clickedButton() is yes:
            on_yes()
        elif on_no is not None:
            on_no()
        box.deleteLater()

    box.finished.connect(answered)
    box.open()
    return box
