"""The moderation log: every mute, removal, stage move and unmute request, with an export."""

from __future__ import annotations

import datetime
from pathlib import Path

from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.session.state import AuditEntry, RoomState
from desktop.session.studio import Studio
from desktop.ui.bridge import StateBridge

ACTION_WORDS = {
    "mute": "muted",
    "remove": "removed",
    "on-stage": "moved on stage",
    "backstage": "sent backstage",
    "ask-to-unmute": "asked to unmute",
    "unmute-accepted": "accepted and unmuted",
    "unmute-declined": "declined to unmute",
}
"""The log's action codes (as exported) in a host's words (as shown)."""
COLUMNS = ("Time", "Who", "What", "Whom", "Detail")


def entry_cells(entry: AuditEntry) -> tuple[str, str, str, str, str]:
    """One log entry as the table shows it (local time of day)."""
    moment = datetime.datetime.fromtimestamp(entry.timestamp_ms / 1000)
    return (
        moment.strftime("%H:%M:%S"),
        entry.actor,
        ACTION_WORDS.get(entry.action, entry.action),
        entry.target,
        entry.detail,
    )


class ModerationLogWidget(QWidget):
    """The log as a table, newest last, and "Export CSV…" (time in UTC, action codes).

    Args:
        studio: Where the export is written from.
        bridge: The state bridge (the table follows ``moderation_log``).
    """

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setAccessibleName("Moderation log")
        layout = QVBoxLayout(self)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Moderation actions")
        self.table.setToolTip("Every moderation action in this show, oldest first")
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(self.table, stretch=1)
        row = QHBoxLayout()
        self.empty = QLabel("No moderation yet.", self)
        self.empty.setProperty("role", "muted")
        row.addWidget(self.empty, stretch=1)
        self.export = QPushButton("Export CSV…", self)
        self.export.setAccessibleName("Export CSV")
        self.export.setToolTip("Save the log as a CSV file (times in UTC)")
        self.export.clicked.connect(self._ask_export)
        row.addWidget(self.export)
        layout.addLayout(row)
        bridge.changed.connect(self._on_change)
        self.refresh(bridge.state)

    def _on_change(self, old: RoomState, new: RoomState) -> None:
        if old.moderation_log != new.moderation_log:
            self.refresh(new)

    def refresh(self, state: RoomState) -> None:
        """Show the log (rows appended, never re-sorted: the order is the order of events)."""
        entries = state.moderation_log
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            for column, text in enumerate(entry_cells(entry)):
                self.table.setItem(row, column, QTableWidgetItem(text))
        if entries:
            self.table.scrollToBottom()
        self.empty.setVisible(not entries)
        self.export.setEnabled(bool(entries))

    def export_to(self, path: Path) -> Path:
        """Write the log to ``path`` as CSV."""
        return self.studio.export_moderation_log(path)

    def _ask_export(self) -> None:
        folder = self.studio.settings.recording_dir()
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Export the moderation log", str(folder / "moderation-log.csv"), "CSV (*.csv)"
        )
        if chosen:
            try:
                self.export_to(Path(chosen))
            except OSError as error:
                self.bridge.failure.emit(
                    f"The log could not be saved: {error.strerror}", "Choose another folder."
                )
