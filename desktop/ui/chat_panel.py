"""The Chat panel: the room's chat, a message shown on screen, and the ticker."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.session.state import RoomState
from desktop.session.studio import Studio
from desktop.ui.bridge import StateBridge
from desktop.ui.buttons import labelled_button

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
        self.show_on_screen = labelled_button("Show on screen", "Put the selected message in the "
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
        self.hide_on_screen = labelled_button("Hide", "Take the message off the program", self)
        on_screen.addWidget(self.show_on_screen, stretch=1)
        on_screen.addWidget(self.on_screen_s)
        on_screen.addWidget(self.hide_on_screen)
        layout.addLayout(on_screen)
        ticker_row = QHBoxLayout()
        self.ticker = QLineEdit(self)
        self.ticker.setPlaceholderText("Ticker: text to scroll along the top of the program")
        self.ticker.setAccessibleName("Ticker text")
        self.ticker.setToolTip("Press Enter to start it scrolling; empty it to stop")
        self.ticker_button = labelled_button(
            "Scroll", "Scroll this text along the top of the program", self
        )
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
        self.send = labelled_button("Send", "Send the message to everyone in the room", self)
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
