"""A push button that says what it does: its tooltip, and its name for screen readers."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton, QWidget


def labelled_button(text: str, tip: str, parent: QWidget) -> QPushButton:
    """A button with ``text``, the tooltip ``tip``, and an accessible name without the
    mnemonic's ``&`` or a trailing "…"."""
    button = QPushButton(text, parent)
    button.setToolTip(tip)
    button.setAccessibleName(text.replace("&", "").rstrip("…"))
    return button
