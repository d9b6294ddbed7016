"""The notice stack: every problem the host should see, each with its severity and next step.

Replaces the single sticky banner. A notice has a key: posting the same key again updates it in
place (no duplicates, no "latest wins" hiding an older problem); clearing the key removes it when
its condition clears (a destination that failed to start goes live); the host can dismiss any
notice, and a dismissed one stays away until its condition clears and comes back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from desktop.ui import theme


class Severity(enum.Enum):
    """How much a notice matters (its colour, and its order in the stack)."""

    ERROR = "error"
    """Something the host must act on (a destination failed, a device is gone)."""
    WARNING = "warning"
    """Something degraded (a synthetic device stands in, guests cannot be heard)."""
    INFO = "info"
    """Good to know."""


@dataclass(frozen=True)
class Notice:
    """One thing the host should know."""

    key: str
    """What it is about (``destination:twitch``, ``speaker``…): one notice per key."""
    severity: Severity
    """How much it matters."""
    text: str
    """What happened, in words."""
    next_step: str = ""
    """What to do about it."""


class NoticeWidget(QFrame):
    """One notice: icon colour by severity, the sentence, the next step, a dismiss button."""

    dismissed = Signal(str)
    """The key of the notice the host dismissed."""

    def __init__(self, notice: Notice, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.notice = notice
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.label, stretch=1)
        self.dismiss = QToolButton(self)
        self.dismiss.setObjectName("Dismiss")
        self.dismiss.setIcon(theme.icon("close"))
        self.dismiss.setText("Dismiss")
        self.dismiss.setAccessibleName("Dismiss")
        self.dismiss.setToolTip("Hide this notice (it comes back if the problem does)")
        self.dismiss.clicked.connect(lambda: self.dismissed.emit(self.notice.key))
        row.addWidget(self.dismiss, alignment=Qt.AlignmentFlag.AlignTop)
        self.show_notice(notice)

    def show_notice(self, notice: Notice) -> None:
        """Show (or update to) ``notice``."""
        self.notice = notice
        theme.set_property(self, "severity", notice.severity.value)
        self.setAccessibleName(f"{notice.severity.value.capitalize()} notice")
        step = f"<br><b>Next:</b> {notice.next_step}" if notice.next_step else ""
        self.label.setText(f"{_escape(notice.text)}{step}")
        self.label.setAccessibleName(f"{notice.text} {notice.next_step}".strip())
        self.setToolTip(notice.next_step or notice.text)

    @property
    def text(self) -> str:
        """The notice's words and next step as plain text."""
        return f"{self.notice.text} {self.notice.next_step}".strip()


class NoticeStackWidget(QWidget):
    """The notices now standing, most severe first."""

    changed = Signal()
    """A notice came, changed or went."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Notices")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._widgets: dict[str, NoticeWidget] = {}
        self._dismissed: dict[str, Notice] = {}
        self.hide()

    def post(self, notice: Notice) -> None:
        """Show a notice, or update the one with the same key.

        A notice the host dismissed stays hidden while it says the same thing.
        """
        if self._dismissed.get(notice.key) == notice:
            return
        self._dismissed.pop(notice.key, None)
        existing = self._widgets.get(notice.key)
        if existing is not None:
            if existing.notice != notice:
                existing.show_notice(notice)
                self._order()
                self.changed.emit()
            return
        widget = NoticeWidget(notice, self)
        widget.dismissed.connect(self.dismiss)
        self._widgets[notice.key] = widget
        self._order()
        self.setVisible(True)
        self.changed.emit()

    def clear(self, key: str) -> None:
        """The condition behind ``key`` is gone: remove its notice (and forget a dismissal)."""
        self._dismissed.pop(key, None)
        widget = self._widgets.pop(key, None)
        if widget is None:
            return
        widget.hide()
        widget.setParent(None)
        widget.deleteLater()
        self.setVisible(bool(self._widgets))
        self.changed.emit()

    def clear_prefix(self, prefix: str, keep: set[str]) -> None:
        """Clear every notice whose key starts with ``prefix`` and is not in ``keep``."""
        for key in [k for k in self._widgets if k.startswith(prefix) and k not in keep]:
            self.clear(key)

    def dismiss(self, key: str) -> None:
        """The host dismissed a notice."""
        widget = self._widgets.get(key)
        if widget is None:
            return
        notice = widget.notice
        self.clear(key)
        self._dismissed[key] = notice

    def notices(self) -> list[Notice]:
        """The notices on screen, in order."""
        return [w.notice for w in self._ordered()]

    def widget(self, key: str) -> NoticeWidget | None:
        """The widget showing ``key``'s notice."""
        return self._widgets.get(key)

    def texts(self) -> list[str]:
        """Every notice's words (with next step), in order."""
        return [w.text for w in self._ordered()]

    def _ordered(self) -> list[NoticeWidget]:
        rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
        return sorted(self._widgets.values(), key=lambda w: rank[w.notice.severity])

    def _order(self) -> None:
        for widget in self._widgets.values():
            self._layout.removeWidget(widget)
        for widget in self._ordered():
            self._layout.addWidget(widget)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
