"""The studio's look: the dark style sheet and the bundled icons (``resources/``)."""

from __future__ import annotations

import logging
from importlib import resources

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWidget

logger = logging.getLogger(__name__)


def style_sheet() -> str:
    """The studio's QSS (``resources/studio.qss``)."""
    return resources.files("resources").joinpath("studio.qss").read_text(encoding="utf-8")


def apply(app: QApplication) -> None:
    """Dress the whole application in the studio theme."""
    app.setStyleSheet(style_sheet())


def icon(name: str) -> QIcon:
    """A bundled icon by name (``mic``, ``mic-off``, ``camera``…)."""
    path = resources.files("resources").joinpath("icons", f"{name}.svg")
    if not path.is_file():
        logger.warning("icon %s is missing", name)
        return QIcon()
    return QIcon(str(path))


def set_tone(widget: QWidget, tone: str) -> None:
    """Set a widget's ``tone`` property and re-polish it so the style sheet follows."""
    if widget.property("tone") == tone:
        return
    widget.setProperty("tone", tone)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


def set_property(widget: QWidget, name: str, value: str) -> None:
    """Set any styled property and re-polish."""
    if widget.property(name) == value:
        return
    widget.setProperty(name, value)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()
