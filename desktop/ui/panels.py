"""Side panels: participants (moderation), chat, outputs (destination cards), stats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
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
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.media.cpu import ProcessCpu
from desktop.media.errors import MediaError
from desktop.media.frames import wall_clock_ms
from desktop.media.outputs.destinations import Destination, DestinationKind, mask_key
from desktop.media.outputs.output import OutputPhase, OutputStatus
from desktop.session.link_stats import format_bitrate
from desktop.session.receive_drops import RECEIVE_DROPS
from desktop.session.settings import Secrets
from desktop.session.state import EgressOutputStatus, RoomState, Source
from desktop.session.studio import Studio
from desktop.ui import words
from desktop.ui.bridge import StateBridge
from desktop.ui.confirm import ask
from desktop.ui.cost_words import cost_lines
from desktop.ui.sparkline import quality_sparkline, quality_trend


def _button(text: str, tip: str, parent: QWidget) -> QPushButton:
    button = QPushButton(text, parent)
    button.setToolTip(tip)
    button.setAccessibleName(text.replace("&", "").rstrip("…"))
    return button


def card_text(status: OutputStatus, now_us: int | None = None) -> str:
    """A direct output's state in words (see :func:`words.output_card`)."""
    return words.output_card(status, now_us)


def egress_card_text(output: EgressOutputStatus) -> str:
    """An egress output's state in words (see :func:`words.egress_card`)."""
    return words.egress_card(output)


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
        self.mute_mic = _button("Mute mic", "Mute the selected guest's microphone", self)
        self.mute_camera = _button("Mute camera", "Turn off the selected guest's camera", self)
        self.remove = _button("Remove…", "Remove the selected guest from the room (asks first)",
                              self)  # fmt: skip
        self.mute_all = _button("Mute all", "Mute every guest's microphone", self)
        for button in (self.mute_mic, self.mute_camera, self.remove, self.mute_all):
            row.addWidget(button)
        layout.addLayout(row)
        # Stage control: the guest's client asks them, and they unmute themselves.
        self.ask_unmute = _button(
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


DEFAULT_ON_SCREEN_S = 15
"""How long "Show on screen" keeps a message in the program unless the host chooses."""


class ChatPanel(QWidget):
    """The room's chat on ``lk.chat``, with senders' names and an unread count."""

    unread_changed = Signal(int)
    """Messages received while the chat tab was not shown."""

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setAccessibleName("Chat")
        layout = QVBoxLayout(self)
        self.messages = QListWidget(self)
        self.messages.setAccessibleName("Chat messages")
        self.messages.setToolTip("Messages in the room")
        self.messages.setWordWrap(True)
        layout.addWidget(self.messages, stretch=1)
        # A viewer's message in the program, as a lower third with their name.
        on_screen = QHBoxLayout()
        self.show_on_screen = _button("Show on screen", "Put the selected message in the "
                                      "program with the sender's name", self)  # fmt: skip
        self.show_on_screen.setEnabled(False)
        self.on_screen_s = QSpinBox(self)
        self.on_screen_s.setRange(0, 600)
        self.on_screen_s.setValue(DEFAULT_ON_SCREEN_S)
        self.on_screen_s.setSuffix(" s")
        self.on_screen_s.setSpecialValueText("until hidden")
        self.on_screen_s.setAccessibleName("How long the message shows")
        self.on_screen_s.setToolTip("How long the message stays in the program (0: until "
                                    "you press Hide)")  # fmt: skip
        self.hide_on_screen = _button("Hide", "Take the message off the program", self)
        on_screen.addWidget(self.show_on_screen, stretch=1)
        on_screen.addWidget(self.on_screen_s)
        on_screen.addWidget(self.hide_on_screen)
        layout.addLayout(on_screen)
        ticker_row = QHBoxLayout()
        self.ticker = QLineEdit(self)
        self.ticker.setPlaceholderText("Ticker: text to scroll along the top of the program")
        self.ticker.setAccessibleName("Ticker text")
        self.ticker.setToolTip("Press Enter to start it scrolling; empty it to stop")
        self.ticker_button = _button("Scroll", "Scroll this text along the top of the program",
                                     self)  # fmt: skip
        ticker_row.addWidget(self.ticker, stretch=1)
        ticker_row.addWidget(self.ticker_button)
        layout.addLayout(ticker_row)
        self.ticker.returnPressed.connect(self._scroll_ticker)
        self.ticker_button.clicked.connect(self._scroll_ticker)
        self.show_on_screen.clicked.connect(self._show_selected)
        self.hide_on_screen.clicked.connect(self.studio.on_screen.hide_comment)
        self.messages.itemSelectionChanged.connect(
            lambda: self.show_on_screen.setEnabled(bool(self.messages.selectedItems()))
        )
        self.messages.itemDoubleClicked.connect(lambda _: self._show_selected())
        self.reason = QLabel("", self)
        self.reason.setAccessibleName("Why chat is off")
        self.reason.setProperty("role", "muted")
        self.reason.setWordWrap(True)
        self.reason.hide()
        layout.addWidget(self.reason)
        row = QHBoxLayout()
        self.entry = QLineEdit(self)
        self.entry.setPlaceholderText("Message everyone")
        self.entry.setAccessibleName("Chat message")
        self.entry.setToolTip("Type a message and press Enter")
        self.send = _button("Send", "Send the message to everyone in the room", self)
        row.addWidget(self.entry, stretch=1)
        row.addWidget(self.send)
        layout.addLayout(row)
        self.entry.returnPressed.connect(self._send)
        self.send.clicked.connect(self._send)
        self._shown = 0
        self.unread = 0
        """Messages from others not seen yet."""
        self._visible_to_host = False
        bridge.changed.connect(lambda old, new: self.refresh(new))

    def set_enabled_reason(self, reason: str) -> None:
        """Disable typing with the reason shown ('' enables it)."""
        self.entry.setEnabled(not reason)
        self.send.setEnabled(not reason)
        self.reason.setText(reason)
        self.reason.setVisible(bool(reason))
        self.entry.setPlaceholderText(reason or "Message everyone")

    def set_visible_to_host(self, visible: bool) -> None:
        """The chat tab is (or is not) on screen; showing it marks everything read."""
        self._visible_to_host = visible
        if visible and self.unread:
            self.unread = 0
            self.unread_changed.emit(0)

    def _show_selected(self) -> None:
        """The selected message in the program, with its sender's name, for the chosen time."""
        items = self.messages.selectedItems()
        if not items:
            return
        name, text = items[0].data(Qt.ItemDataRole.UserRole)
        self.studio.on_screen.show_comment(name, text, float(self.on_screen_s.value()))

    def _scroll_ticker(self) -> None:
        """Scroll the ticker's text ('' stops it)."""
        self.studio.on_screen.set_ticker(self.ticker.text())

    def _send(self) -> None:
        text = self.entry.text().strip()
        if not text or not self.entry.isEnabled():
            return
        self.entry.clear()
        sending = self.bridge.run(self.studio.send_chat(text), "send the message")
        sending.add_done_callback(lambda task: self._give_back(task, text))

    def _give_back(self, sending: asyncio.Task[Any], text: str) -> None:
        """A line that did not go out returns to the entry (unless the host typed on)."""
        if sending.cancelled() or sending.exception() is None:
            return
        if not self.entry.text():
            self.entry.setText(text)

    def refresh(self, state: RoomState) -> None:
        """Append new messages (senders by their display names)."""
        new = state.chat[self._shown :]
        for message in new:
            if message.is_local:
                who = "You"
            else:
                person = state.remotes.get(message.sender_identity)
                who = person.name if person and person.name else message.sender_identity
            stamp = time.strftime("%H:%M", time.localtime(message.timestamp_ms / 1000))
            item = QListWidgetItem(f"{stamp}  {who}: {message.text}")
            shown_name = (state.local.name if state.local else "") if message.is_local else who
            item.setData(Qt.ItemDataRole.UserRole, (shown_name or "Host", message.text))
            self.messages.addItem(item)
        self._shown = len(state.chat)
        if new:
            self.messages.scrollToBottom()
        incoming = sum(1 for m in new if not m.is_local)
        if incoming and not self._visible_to_host:
            self.unread += incoming
            self.unread_changed.emit(self.unread)


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
        self.retry = _button("Retry now", f"Try {title} again without waiting", self)
        self.retry.hide()
        top.addWidget(self.retry)
        self.edit = _button("Edit…", f"Change {title}'s server URL and stream key", self)
        top.addWidget(self.edit)
        self.remove = _button("Remove…", f"Forget {title} and its key (asks first)", self)
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
        self.add = _button("Add destination…", "Add your own RTMP or RTMPS server", self)
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


class StatsPanel(QWidget):
    """Figures like OBS's stats dock: CPU, the uplink per layer, the program, each destination's
    bitrate and dropped packets, and frames the stage skipped."""

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setAccessibleName("Stats")
        layout = QVBoxLayout(self)
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(self.form)
        layout.addStretch(1)
        self.rows: dict[str, QLabel] = {}
        self.cpu = ProcessCpu()
        """This process's CPU use (sampled at each refresh)."""
        self.stage_frames: Callable[[], tuple[int, int]] = lambda: (0, 0)
        """Frames the stage painted and skipped so far (set by the window)."""
        self.text = QLabel(self)
        """Every figure as text lines (for tests and copying)."""
        self.text.hide()

    def _row(self, label: str, value: str) -> None:
        shown = self.rows.get(label)
        if shown is None:
            shown = QLabel(value, self)
            shown.setAccessibleName(label)
            shown.setWordWrap(True)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.form.addRow(label, shown)
            self.rows[label] = shown
        shown.setText(value)

    def refresh(self) -> None:
        """Recompute the figures."""
        state = self.bridge.state
        rows: list[tuple[str, str]] = [
            ("CPU (this app)", f"{self.cpu.percent_of_one_core():.0f} % of one core")
        ]
        link = state.link
        if link is not None:
            rtt = "measuring" if link.rtt_ms is None else f"{link.rtt_ms:.0f} ms"
            rows.append(("Round trip to the server", rtt))
            rows.append(("Packet loss", f"{link.packet_loss_pct:.1f} %"))
            if link.available_bitrate_bps:
                carry = format_bitrate(link.available_bitrate_bps)
                rows.append(("Link can carry", f"about {carry}"))
            for layer in link.layers:
                name = "Sending " + words.source(layer.source) + (
                    f" layer {layer.rid}" if layer.rid else "")  # fmt: skip
                if not layer.active:
                    rows.append((name, "paused (nobody needs it)"))
                    continue
                held = "" if layer.limitation == "none" else f", held back by {layer.limitation}"
                rows.append((name, f"{layer.width}x{layer.height} {layer.fps:.0f} fps "
                                   f"{format_bitrate(layer.bitrate_bps)}{held}"))  # fmt: skip
            if link.audio_bitrate_bps:
                rows.append(("Sending microphone", format_bitrate(link.audio_bitrate_bps)))
        elif state.local is not None:
            for track in state.local.tracks:
                if track.is_video:
                    layers = " in 3 layers (simulcast)" if track.simulcast else ""
                    size = f"{track.width}x{track.height}" if track.width else "on"
                    rows.append((f"Sending {words.source(track.source)}", f"{size}{layers}"))
        program = self.studio.program_info()
        names = {d.id: d.name for d in self.studio.settings.destinations}
        if program.encoders:
            rows.append(("Encoders", words.encoders(program.encoders, names)))
        if program.encoder:
            rows.append(("Program", f"{program.width}x{program.height} {program.fps} fps, "
                                    f"encoder {program.encoder}"))  # fmt: skip
            lost = words.frames_lost("skipped", program.frames_skipped, program.frames_total)
            rows.append(("Encoder frames", f"{lost} (the computer could not keep up)"))
        for status in state.direct_outputs:
            if status.phase is OutputPhase.STOPPED:
                continue
            dropped = words.frames_lost("dropped", status.dropped_frames, status.video_frames)
            if status.kind.value != "rtmp":
                rows.append(("Recording", f"frames {dropped} (the disk could not keep up)"))
                continue
            name = names.get(status.output_id, status.output_id)
            if status.phase is OutputPhase.LIVE:
                rate = format_bitrate(status.bitrate_bps)
                rows.append((name, f"{rate}, frames {dropped} (the network could not keep up)"))
            else:
                rows.append((name, f"not sending; frames {dropped}"))
        rows.append(("Received frames dropped", words.receive_drops(RECEIVE_DROPS)))
        shown, skipped = self.stage_frames()
        total = shown + skipped
        share = f" ({skipped / total:.1%})" if total else ""
        rows.append(("Stage frames", f"{shown} shown, {skipped} skipped{share} "
                                     "(the display could not keep up)"))  # fmt: skip
        if state.local is not None:
            rows.append(("Your connection", words.quality(state.local.quality)))
        rows += cost_lines(state.costs)
        watch = state.media_watch
        if watch.stalls:
            rows.append(("Guests' media", f"{watch.stalls} stalled, asked again "
                         f"{watch.retries} times, {watch.recovered} recovered, "
                         f"{watch.alerts} told you"))  # fmt: skip
        for change in state.adaptations[-3:]:
            rows.append(("Adapted", change.description))
        for label, value in rows:
            self._row(label, value)
        for label in set(self.rows) - {label for label, _ in rows}:
            self.rows[label].setText("—")
        self.text.setText("\n".join(f"{label}: {value}" for label, value in rows))
