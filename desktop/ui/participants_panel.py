"""The People panel: everyone in the room, searchable, with moderation (mute, remove)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.media.frames import wall_clock_ms
from desktop.session.state import RoomState, Source
from desktop.session.studio import Studio
from desktop.ui import words
from desktop.ui.bridge import StateBridge
from desktop.ui.buttons import labelled_button
from desktop.ui.confirm import ask
from desktop.ui.sparkline import quality_sparkline, quality_trend


class ParticipantsPanel(QWidget):
    """Everyone in the room, searchable, with mute, mute all and remove (asked first)."""

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setAccessibleName("Participants")
        layout = QVBoxLayout(self)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search participants")
        self.search.setAccessibleName("Search participants")
        self.search.setToolTip("Filter the list by name")
        self.search.textChanged.connect(lambda _: self.refresh(self.bridge.state))
        layout.addWidget(self.search)
        self.list = QListWidget(self)
        self.list.setAccessibleName("Participant list")
        self.list.setToolTip("People in the room; select one to moderate")
        layout.addWidget(self.list, stretch=1)
        self.hint = QLabel("", self)
        self.hint.setProperty("role", "muted")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        row = QHBoxLayout()
        self.mute_mic = labelled_button("Mute mic", "Mute the selected guest's microphone", self)
        self.mute_camera = labelled_button(
            "Mute camera", "Turn off the selected guest's camera", self
        )
        self.remove = labelled_button(
            "Remove…", "Remove the selected guest from the room (asks first)", self
        )
        self.mute_all = labelled_button("Mute all", "Mute every guest's microphone", self)
        for button in (self.mute_mic, self.mute_camera, self.remove, self.mute_all):
            row.addWidget(button)
        layout.addLayout(row)
        # Stage control: the guest's client asks them, and they unmute themselves.
        self.ask_unmute = labelled_button(
            "Ask to unmute", "Ask the selected guest to unmute their microphone (they decide)",
            self,
        )  # fmt: skip
        self.ask_unmute.clicked.connect(self._ask_unmute)
        layout.addWidget(self.ask_unmute)
        self.mute_mic.clicked.connect(lambda: self._act("mute", Source.MICROPHONE))
        self.mute_camera.clicked.connect(lambda: self._act("mute", Source.CAMERA))
        self.remove.clicked.connect(lambda: self._act("remove", Source.UNKNOWN))
        self.mute_all.clicked.connect(
            lambda: self.bridge.run(self.studio.mute_all(), "mute everyone")
        )
        self.list.currentRowChanged.connect(lambda _: self._enable())
        bridge.changed.connect(lambda old, new: self.refresh(new))
        self.refresh(bridge.state)

    def selected_identity(self) -> str | None:
        """The selected guest's identity."""
        item = self.list.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def select(self, identity: str) -> None:
        """Select a guest by identity."""
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == identity:
                self.list.setCurrentRow(row)

    def _enable(self) -> None:
        # A button that cannot act is disabled with the reason beside it, not a later error.
        chosen = self.selected_identity() is not None
        for button in (self.mute_mic, self.mute_camera, self.remove, self.ask_unmute):
            button.setEnabled(chosen)
        self.mute_all.setEnabled(bool(self.bridge.state.remotes))
        if not self.bridge.state.remotes:
            self.hint.setText("No guests yet: they appear here when they join.")
        elif not chosen:
            self.hint.setText("Select a guest to mute or remove them.")
        else:
            self.hint.setText("")

    def _ask_unmute(self) -> None:
        identity = self.selected_identity()
        if identity is None:
            return
        person = self.bridge.state.remotes.get(identity)
        name = person.name if person and person.name else identity
        self.bridge.run(self.studio.ask_to_unmute(identity), f"ask {name} to unmute")

    def _act(self, action: str, source: Source) -> None:
        identity = self.selected_identity()
        if identity is None:
            return
        person = self.bridge.state.remotes.get(identity)
        name = person.name if person and person.name else identity
        if action == "remove":
            ask(self, "Remove guest", f"Remove {name} from the room?", f"Remove {name}",
                lambda: self.bridge.run(self.studio.remove_guest(identity), f"remove {name}"),
                detail="They can be invited back later.")  # fmt: skip
        else:
            what = words.source(source)
            self.bridge.run(self.studio.mute_guest(identity, source), f"mute {name}'s {what}")

    def refresh(self, state: RoomState) -> None:
        """Rebuild the list (selection kept)."""
        keep = self.selected_identity()
        needle = self.search.text().strip().lower()
        self.list.blockSignals(True)
        self.list.clear()
        for identity, person in sorted(state.remotes.items(),
                                       key=lambda kv: (kv[1].name or kv[0]).lower()):  # fmt: skip
            name = person.name or identity
            if needle and needle not in name.lower() and needle not in identity.lower():
                continue
            flags = []
            if person.mic_muted:
                flags.append("mic off")
            camera = person.track(Source.CAMERA)
            if camera is None or camera.muted:
                flags.append("camera off")
            if person.is_speaking:
                flags.append("speaking")
            flags.append(f"connection {words.quality(person.quality)}")
            history = state.quality_history.get(identity, ())
            line = quality_sparkline(history, wall_clock_ms(), width=8)
            item = QListWidgetItem(f"{name} — {', '.join(flags)}" + (f"  {line}" if line else ""))
            item.setToolTip(f"Connection over time: {quality_trend(history)}")
            item.setData(Qt.ItemDataRole.UserRole, identity)
            self.list.addItem(item)
        if keep:
            self.select(keep)
        self.list.blockSignals(False)
        self._enable()
