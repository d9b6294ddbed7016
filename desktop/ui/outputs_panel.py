"""The Outputs panel: the recording, and one card per destination (switch, status, retry,
edit, remove), with the dialog that adds or edits a destination."""

from __future__ import annotations

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop.media.errors import MediaError
from desktop.media.outputs.destinations import Destination, DestinationKind, mask_key
from desktop.media.outputs.output import OutputPhase, OutputStatus
from desktop.session.settings import Secrets
from desktop.session.state import EgressOutputStatus, RoomState
from desktop.session.studio import Studio
from desktop.ui import words
from desktop.ui.bridge import StateBridge
from desktop.ui.buttons import labelled_button
from desktop.ui.confirm import ask


def card_text(status: OutputStatus, now_us: int | None = None) -> str:
    """A direct output's state in words (see :func:`words.output_card`)."""
    return words.output_card(status, now_us)


def egress_card_text(output: EgressOutputStatus) -> str:
    """An egress output's state in words (see :func:`words.egress_card`)."""
    return words.egress_card(output)


class OutputCard(QFrame):
    """One destination: switch, status in words, masked key, retry, edit, remove."""

    def __init__(
        self, destination: Destination, key: str | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        title = destination.name
        self.destination = destination
        self.output_id = destination.id
        self.setProperty("role", "card")
        self.setAccessibleName(f"{title} output")
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.switch = QCheckBox(title, self)
        self.switch.setChecked(destination.enabled)
        self.switch.setAccessibleName(f"{title} switch")
        self.switch.setToolTip(f"Send the stream to {title} (works while live)")
        top.addWidget(self.switch, stretch=1)
        self.retry = labelled_button("Retry now", f"Try {title} again without waiting", self)
        self.retry.hide()
        top.addWidget(self.retry)
        self.edit = labelled_button("Edit…", f"Change {title}'s server URL and stream key", self)
        top.addWidget(self.edit)
        self.remove = labelled_button("Remove…", f"Forget {title} and its key (asks first)", self)
        self.remove.setVisible(destination.kind is DestinationKind.CUSTOM)
        top.addWidget(self.remove)
        layout.addLayout(top)
        self.where = QLabel(destination.url or "no URL", self)
        self.key_shown = False
        """Whether the address line says the (masked) key yet."""
        if key is not None:
            self.show_key(key)
        self.where.setProperty("role", "muted")
        self.where.setAccessibleName(f"{title} address")
        self.where.setToolTip("The server URL; the stream key is kept in the keyring")
        self.where.setWordWrap(True)
        layout.addWidget(self.where)
        self.status = QLabel("Off", self)
        self.status.setWordWrap(True)
        self.status.setAccessibleName(f"{title} status")
        self.status.setToolTip(f"What {title} is doing")
        layout.addWidget(self.status)

    def show_key(self, key: str) -> None:
        """Put the (masked) stream key on the address line."""
        shown_key = mask_key(key) or ("not set" if self.destination.needs_key else "in the URL")
        self.where.setText(f"{self.destination.url or 'no URL'} · key {shown_key}")
        self.key_shown = True


class DestinationDialog(QDialog):
    """Add or edit an RTMP(S) destination: name, server URL, stream key (masked).

    The URL is checked when OK is pressed; a bad one is named in the dialog, which stays open.

    Args:
        studio: Where destinations are kept.
        destination: The one to edit (None: add a custom one).
        parent: Parent widget.
    """

    def __init__(
        self, studio: Studio, destination: Destination | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.studio, self.destination = studio, destination
        self.setWindowTitle(
            f"Edit {destination.name}" if destination is not None else "Add a destination"
        )
        self.setAccessibleName("Destination")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit(destination.name if destination else "", self)
        self.name.setAccessibleName("Destination name")
        self.name.setToolTip("What you call it (Facebook, Restream, Studio B…)")
        self.name.setPlaceholderText("My RTMP server")
        self.url = QLineEdit(destination.url if destination else "", self)
        self.url.setAccessibleName("Server URL")
        self.url.setToolTip("The RTMP(S) server URL from the platform's stream settings")
        self.url.setPlaceholderText("rtmp://live.example.com/app or rtmps://…:443/app")
        current = studio.secrets.get(Secrets.stream_key_name(destination.id)) if destination else ""
        self.key = QLineEdit("", self)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setAccessibleName("Stream key")
        self.key.setToolTip("Kept in the system keyring, never shown or logged")
        self.key.setPlaceholderText(
            f"set ({mask_key(current)}); type to replace" if current else "paste the stream key"
        )
        form.addRow("Name", self.name)
        form.addRow("Server URL", self.url)
        form.addRow("Stream key", self.key)
        layout.addLayout(form)
        self.problem = QLabel("", self)
        self.problem.setAccessibleName("Destination problem")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color:#ff6369")
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.save = buttons.button(QDialogButtonBox.StandardButton.Save)
        self.save.setAccessibleName("Save")
        self.save.setToolTip("Check the URL and save")
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _save(self) -> None:
        key_text = self.key.text().strip()
        try:
            if self.destination is None:
                self.studio.add_destination(self.name.text(), self.url.text(), key_text)
            else:
                self.studio.edit_destination(self.destination.id, self.name.text(),
                                             self.url.text(), key_text or None)  # fmt: skip
        except MediaError as error:
            self.problem.setText(f"{error.detail}. {error.hint}".strip())
            self.problem.show()
            return
        self.accept()


class OutputsPanel(QWidget):
    """Recording and every destination, each with its own switch and status; add your own."""

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setAccessibleName("Outputs")
        outer = QVBoxLayout(self)
        self.recording = QLabel("Recording: off", self)
        self.recording.setAccessibleName("Recording status")
        self.recording.setToolTip("Local (and cloud) recording")
        self.recording.setWordWrap(True)
        outer.addWidget(self.recording)
        self.keyring_note = QLabel(
            "No system keyring on this computer: stream keys are kept until you quit.", self
        )
        self.keyring_note.setWordWrap(True)
        self.keyring_note.setProperty("role", "muted")
        # Shown when the panel first shows: asking whether there is a keyring imports keyring
        # and finds the system's, which the window's first paint need not wait for.
        self.keyring_note.hide()
        outer.addWidget(self.keyring_note)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        holder = QWidget(scroll)
        self._layout = QVBoxLayout(holder)
        self._layout.setContentsMargins(0, 0, 0, 0)
        scroll.setWidget(holder)
        outer.addWidget(scroll, stretch=1)
        self.add = labelled_button("Add destination…", "Add your own RTMP or RTMPS server", self)
        self.add.clicked.connect(lambda: self.open_editor(None))
        outer.addWidget(self.add)
        self.cards: dict[str, OutputCard] = {}
        self.editor: DestinationDialog | None = None
        self.rebuild(read_keys=False)
        bridge.changed.connect(lambda old, new: self.refresh(new))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt)
        """Read the keys (and whether they outlive this run) now that the host looks."""
        self.keyring_note.setVisible(not self.studio.secrets.persistent)
        for card in self.cards.values():
            if not card.key_shown:
                card.show_key(self.studio.secrets.get(Secrets.stream_key_name(card.output_id)))
        super().showEvent(event)

    def rebuild(self, read_keys: bool = True) -> None:
        """One card per saved destination (after an add, edit or removal).

        Args:
            read_keys: Read each stream key from the keyring now; False (when the window is
                built) leaves it to the panel's first showing, so start-up does not wait for
                the keyring.
        """
        for card in self.cards.values():
            card.hide()
            card.setParent(None)
            card.deleteLater()
        self.cards = {}
        while self._layout.count():
            self._layout.takeAt(0)
        for destination in self.studio.settings.destinations:
            key = (self.studio.secrets.get(Secrets.stream_key_name(destination.id))
                   if read_keys else None)  # fmt: skip
            card = OutputCard(destination, key, self)
            card.switch.toggled.connect(
                lambda on, d=destination.id: self.bridge.run(
                    self.studio.set_destination_enabled(d, on),
                    f"switch {self._name(d)} {'on' if on else 'off'}",
                )
            )
            card.retry.clicked.connect(
                lambda _=False, d=destination.id: self.studio.retry_destination(d)
            )
            card.edit.clicked.connect(lambda _=False, d=destination: self.open_editor(d))
            card.remove.clicked.connect(lambda _=False, d=destination: self._ask_remove(d))
            self.cards[destination.id] = card
            self._layout.addWidget(card)
        self._layout.addStretch(1)
        self.refresh(self.bridge.state)

    def _name(self, destination_id: str) -> str:
        return next((d.name for d in self.studio.settings.destinations
                     if d.id == destination_id), destination_id)  # fmt: skip

    def open_editor(self, destination: Destination | None) -> DestinationDialog:
        """Open the add/edit dialog (non-blocking); the cards follow when it is saved."""
        dialog = DestinationDialog(self.studio, destination, self)
        dialog.accepted.connect(self.rebuild)
        dialog.open()
        self.editor = dialog
        return dialog

    def _ask_remove(self, destination: Destination) -> None:
        async def remove() -> None:
            await self.studio.remove_destination(destination.id)
            self.rebuild()

        ask(self, "Remove destination", f"Remove {destination.name} and its stream key?",
            f"Remove {destination.name}",
            lambda: self.bridge.run(remove(), f"remove {destination.name}"))  # fmt: skip

    def refresh(self, state: RoomState) -> None:
        """Show every output's state."""
        direct = {s.output_id: s for s in state.direct_outputs}
        egress = {o.name: o for o in state.outputs}
        for output_id, card in self.cards.items():
            if output_id in egress:
                card.status.setText(words.egress_card(egress[output_id]))
                card.retry.hide()
            elif output_id in direct:
                status = direct[output_id]
                card.status.setText(words.output_card(status))
                card.retry.setVisible(status.phase in (OutputPhase.RETRYING, OutputPhase.FAILED))
            elif state.is_live and card.switch.isChecked():
                card.status.setText("Not sending: it did not start (the notice above says why)")
            else:
                card.status.setText("Off" if not state.is_live else "Off (switch on to add)")
        parts = []
        if "recording" in direct:
            program = self.studio.live.direct.settings.describe()
            parts.append("local: " + words.output_card(direct["recording"])
                         + words.recording_encoding(direct["recording"], program))  # fmt: skip
        if "recording" in egress:
            parts.append("cloud: " + words.egress_card(egress["recording"]))
        if "hls" in direct:
            parts.append("HLS: " + words.output_card(direct["hls"]))
        folder = self.studio.settings.recording_dir()
        self.recording.setText(
            "Recording: " + ("; ".join(parts) if parts else f"off (records into {folder})")
        )
