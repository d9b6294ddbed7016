"""Side panels: participants (moderation), chat, outputs (Go Live cards), stats."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.media.outputs.destinations import mask_key
from desktop.media.outputs.output import OutputPhase, OutputStatus
from desktop.session.link_stats import format_bitrate
from desktop.session.settings import Secrets
from desktop.session.state import OutputState, RoomState, Source
from desktop.session.studio import Studio
from desktop.ui.bridge import StateBridge


def _button(text: str, tip: str, parent: QWidget) -> QPushButton:
    button = QPushButton(text, parent)
    button.setToolTip(tip)
    button.setAccessibleName(text.replace("&", "").rstrip("…"))
    return button


class ParticipantsPanel(QWidget):
    """Everyone in the room, searchable, with mute, mute all and remove (confirmed)."""

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
        row = QHBoxLayout()
        self.mute_mic = _button("Mute mic", "Mute the selected guest's microphone", self)
        self.mute_camera = _button("Mute camera", "Turn off the selected guest's camera", self)
        self.remove = _button("Remove…", "Remove the selected guest from the room", self)
        self.mute_all = _button("Mute all", "Mute every guest's microphone", self)
        for button in (self.mute_mic, self.mute_camera, self.remove, self.mute_all):
            row.addWidget(button)
        layout.addLayout(row)
        self.mute_mic.clicked.connect(lambda: self._act("mute", Source.MICROPHONE))
        self.mute_camera.clicked.connect(lambda: self._act("mute", Source.CAMERA))
        self.remove.clicked.connect(lambda: self._act("remove", Source.UNKNOWN))
        self.mute_all.clicked.connect(
            lambda: self.bridge.run(self.studio.mute_all(), "mute everyone")
        )
        self.confirm: Callable[[str], bool] = self._ask
        """Asks the host to confirm a removal (tests replace it)."""
        bridge.changed.connect(lambda old, new: self.refresh(new))
        self.refresh(bridge.state)

    def _ask(self, text: str) -> bool:
        answer = QMessageBox.question(self, "Remove guest", text)
        return answer == QMessageBox.StandardButton.Yes

    def selected_identity(self) -> str | None:
        """The selected guest's identity."""
        item = self.list.currentItem()
        return str(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def select(self, identity: str) -> None:
        """Select a guest by identity."""
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.ItemDataRole.UserRole) == identity:
                self.list.setCurrentRow(row)

    def _act(self, action: str, source: Source) -> None:
        identity = self.selected_identity()
        if identity is None:
            self.bridge.error.emit("Select a guest in the list first.")
            return
        person = self.bridge.state.remotes.get(identity)
        name = person.name if person and person.name else identity
        if action == "remove":
            if self.confirm(f"Remove {name} from the room? They can be invited back later."):
                self.bridge.run(self.studio.remove_guest(identity), f"remove {name}")
        else:
            what = "microphone" if source is Source.MICROPHONE else "camera"
            self.bridge.run(self.studio.mute_guest(identity, source), f"mute {name}'s {what}")

    def refresh(self, state: RoomState) -> None:
        """Rebuild the list (selection kept)."""
        keep = self.selected_identity()
        needle = self.search.text().strip().lower()
        self.list.clear()
        for identity, person in sorted(state.remotes.items()):
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
            flags.append(f"connection {person.quality.name.lower()}")
            item = QListWidgetItem(f"{name} — {', '.join(flags)}")
            item.setData(Qt.ItemDataRole.UserRole, identity)
            self.list.addItem(item)
        if keep:
            self.select(keep)


class ChatPanel(QWidget):
    """The room's chat on ``lk.chat``."""

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
        bridge.changed.connect(lambda old, new: self.refresh(new))

    def _send(self) -> None:
        text = self.entry.text().strip()
        if not text:
            return
        self.entry.clear()
        self.bridge.run(self.studio.send_chat(text), "send the message")

    def refresh(self, state: RoomState) -> None:
        """Append new messages."""
        for message in state.chat[self._shown :]:
            who = "You" if message.is_local else message.sender_identity
            stamp = time.strftime("%H:%M", time.localtime(message.timestamp_ms / 1000))
            self.messages.addItem(f"{stamp}  {who}: {message.text}")
        self._shown = len(state.chat)
        self.messages.scrollToBottom()


def card_text(status: OutputStatus, now_us: int | None = None) -> str:
    """A direct output's state in words: off / connecting / live / retrying / failed."""
    phase = status.phase
    if phase is OutputPhase.LIVE:
        now_us = now_us if now_us is not None else time.monotonic_ns() // 1000
        elapsed = max(0, (now_us - status.live_since_us) // 1_000_000)
        rate = f", {status.bitrate_bps / 1e6:.1f} Mb/s" if status.bitrate_bps else ""
        return f"Live {elapsed // 60:02d}:{elapsed % 60:02d}{rate}"
    if phase is OutputPhase.RETRYING:
        return (
            f"Retrying (attempt {status.attempt + 1} of {status.max_attempts}) in "
            f"{status.retry_in_s:.0f} s — {status.error}"
        )
    if phase is OutputPhase.FAILED:
        return f"Failed — {status.error}"
    if phase is OutputPhase.CONNECTING:
        return "Connecting…" if status.kind.value == "rtmp" else "Starting…"
    if phase is OutputPhase.STOPPED:
        return "Off" + (f" — saved to {status.path}" if status.path else "")
    return "Off"


def egress_card_text(output: OutputState) -> str:
    """An egress output's state in words."""
    words = {
        "starting": "Connecting…", "active": "Live", "live": "Live", "failed": "Failed",
        "stopped": "Off", "complete": "Finished",
    }.get(output.status, output.status)  # fmt: skip
    if output.error:
        words += f" — {output.error}"
    if output.detail:
        words += f" — {output.detail}"
    return words


class OutputCard(QFrame):
    """One destination (or the recording): switch, status in words, retry, key."""

    def __init__(self, title: str, output_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.output_id = output_id
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(f"{title} output")
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        self.switch = QCheckBox(title, self)
        self.switch.setAccessibleName(f"{title} switch")
        self.switch.setToolTip(f"Send the stream to {title} (works while live)")
        top.addWidget(self.switch, stretch=1)
        self.retry = _button("Retry now", f"Try {title} again without waiting", self)
        self.retry.hide()
        top.addWidget(self.retry)
        self.key = _button("Key…", f"Set {title}'s stream key (kept in the keyring)", self)
        top.addWidget(self.key)
        layout.addLayout(top)
        self.status = QLabel("Off", self)
        self.status.setWordWrap(True)
        self.status.setAccessibleName(f"{title} status")
        self.status.setToolTip(f"What {title} is doing")
        layout.addWidget(self.status)


class OutputsPanel(QWidget):
    """Recording and every destination, each with its own switch and status."""

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setAccessibleName("Outputs")
        self._layout = QVBoxLayout(self)
        self.recording = QLabel("Recording: off", self)
        self.recording.setAccessibleName("Recording status")
        self.recording.setToolTip("Local (and cloud) recording")
        self.recording.setWordWrap(True)
        self._layout.addWidget(self.recording)
        self.keyring_note = QLabel(
            "No system keyring on this computer: stream keys are kept until you quit.", self
        )
        self.keyring_note.setWordWrap(True)
        self.keyring_note.setVisible(not studio.secrets.persistent)
        self._layout.addWidget(self.keyring_note)
        self.cards: dict[str, OutputCard] = {}
        for destination in studio.settings.destinations:
            card = OutputCard(destination.name, destination.id, self)
            card.switch.setChecked(destination.enabled)
            card.switch.toggled.connect(
                lambda on, d=destination.id: self.bridge.run(
                    self.studio.set_destination_enabled(d, on),
                    f"switch {d} {'on' if on else 'off'}",
                )
            )
            card.retry.clicked.connect(
                lambda _=False, d=destination.id: self.studio.live.retry_now(d)
            )
            card.key.clicked.connect(lambda _=False, d=destination.id: self._ask_key(d))
            self.cards[destination.id] = card
            self._layout.addWidget(card)
        self._layout.addStretch(1)
        bridge.changed.connect(lambda old, new: self.refresh(new))
        self.refresh(bridge.state)

    def _ask_key(self, destination_id: str) -> None:
        name = Secrets.stream_key_name(destination_id)
        current = self.studio.secrets.get(name)
        key, ok = QInputDialog.getText(
            self, "Stream key",
            f"Stream key for {destination_id} (now {mask_key(current) or 'not set'}):",
            QLineEdit.EchoMode.Password,
        )  # fmt: skip
        if ok:
            self.studio.secrets.set(name, key.strip())

    def refresh(self, state: RoomState) -> None:
        """Show every output's state."""
        direct = {s.output_id: s for s in state.direct_outputs}
        egress = {o.name: o for o in state.outputs}
        for output_id, card in self.cards.items():
            if output_id in egress:
                card.status.setText(egress_card_text(egress[output_id]))
                card.retry.hide()
            elif output_id in direct:
                status = direct[output_id]
                card.status.setText(card_text(status))
                card.retry.setVisible(status.phase in (OutputPhase.RETRYING, OutputPhase.FAILED))
            else:
                card.status.setText("Off" if not state.is_live else "Off (switch on to add)")
        parts = []
        if "recording" in direct:
            parts.append("local: " + card_text(direct["recording"]))
        if "recording" in egress:
            parts.append("cloud: " + egress_card_text(egress["recording"]))
        self.recording.setText("Recording: " + ("; ".join(parts) if parts else "off"))


class StatsPanel(QWidget):
    """Outgoing bitrate, fps and size per layer, RTT, packet loss, encoder and CPU (each second)."""

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setAccessibleName("Stats")
        layout = QVBoxLayout(self)
        self.text = QLabel(self)
        self.text.setAccessibleName("Statistics")
        self.text.setToolTip("Figures for the outgoing stream and this computer")
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.text, stretch=1)
        self._process = psutil.Process()
        self._process.cpu_percent(None)

    def refresh(self) -> None:
        """Recompute the figures."""
        state = self.bridge.state
        lines = [f"CPU (this app): {self._process.cpu_percent(None):.0f} % of one core"]
        link = state.link
        if link is not None:
            rtt = "measuring" if link.rtt_ms is None else f"{link.rtt_ms:.0f} ms"
            loss_pct = link.packet_loss_pct
            lines.append(f"Round trip to the server: {rtt}; packet loss {loss_pct:.1f} %")
            if link.available_bitrate_bps:
                lines.append(f"Link can carry about {format_bitrate(link.available_bitrate_bps)}")
            for layer in link.layers:
                name = layer.source.name.lower() + (f" layer {layer.rid}" if layer.rid else "")
                if not layer.active:
                    lines.append(f"Sending {name}: paused (nobody needs it)")
                    continue
                held = "" if layer.limitation == "none" else f", held back by {layer.limitation}"
                lines.append(
                    f"Sending {name}: {layer.width}x{layer.height} {layer.fps:.0f} fps "
                    f"{format_bitrate(layer.bitrate_bps)}{held}"
                )
            if link.audio_bitrate_bps:
                lines.append(f"Sending microphone: {format_bitrate(link.audio_bitrate_bps)}")
        elif state.local is not None:
            for track in state.local.tracks:
                if track.is_video:
                    layers = " in 3 layers (simulcast)" if track.simulcast else ""
                    size = f" {track.width}x{track.height}" if track.width else ""
                    lines.append(f"Sending {track.source.name.lower()}{size}{layers}")
        encoder = self.studio.live.direct.encoder_name
        if encoder:
            s = self.studio.live.direct.settings
            lines.append(f"Program: {s.width}x{s.height} {s.fps} fps, encoder {encoder}")
        for status in state.direct_outputs:
            if status.phase is OutputPhase.LIVE:
                lines.append(
                    f"{status.output_id}: {status.bitrate_bps / 1000:.0f} kb/s, "
                    f"{status.dropped_packets} packets dropped"
                )
        lines.append(f"Own connection: {state.local.quality.name.lower()}" if state.local else "")
        for change in state.adaptations[-5:]:
            lines.append("Adapted: " + change.description)
        self.text.setText("\n".join(line for line in lines if line))
