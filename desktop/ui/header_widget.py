"""The studio's header: what the show is, whether it is live and for how long, how every
destination is doing, recording, people, and the connection (with "Reconnect now")."""

from __future__ import annotations

import time

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from desktop.media.outputs.output import OutputPhase
from desktop.session.state import ConnectionState, RoomState
from desktop.ui import theme, words
from desktop.ui.cost_words import cost_tooltip


class HeaderWidget(QWidget):
    """Title, LIVE badge with elapsed time and destination health, REC, counts, connection.

    Args:
        parent: Parent widget.
    """

    reconnect_requested = Signal()
    """The host pressed "Reconnect now"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Header")
        self.setAccessibleName("Header")
        self.local_mode = True
        """No server: nothing to reconnect to."""
        self.destination_names: dict[str, str] = {}
        """Destination id → the host's name for it (for the health line)."""
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 8, 12, 8)
        self.title = QLabel("", self)
        self.title.setProperty("role", "title")
        self.title.setAccessibleName("Room")
        self.title.setToolTip("The show you are in")
        self.live_badge = QLabel("LIVE 0:00:00", self)
        self.live_badge.setObjectName("LiveBadge")
        self.live_badge.setAccessibleName("Live")
        self.live_badge.setToolTip("You are live; time on air since Go Live")
        self.health = QLabel("", self)
        self.health.setAccessibleName("Destination health")
        self.health.setToolTip("How each destination is doing (details in Outputs)")
        self.rec_badge = QLabel("● REC", self)
        self.rec_badge.setObjectName("RecBadge")
        self.rec_badge.setAccessibleName("Recording")
        self.rec_badge.setToolTip("Recording")
        self.counts = QLabel("", self)
        self.counts.setProperty("role", "muted")
        self.counts.setAccessibleName("Participant counts")
        self.counts.setToolTip("People in the room, and how many publish")
        self.connection = QLabel("", self)
        self.connection.setAccessibleName("Connection")
        self.connection.setToolTip("Connection to the room and its quality")
        self.reconnect = QPushButton("Reconnect now", self)
        self.reconnect.setAccessibleName("Reconnect now")
        self.reconnect.setToolTip("Leave and join the same room again")
        self.reconnect.clicked.connect(self.reconnect_requested)
        for label in (self.title, self.live_badge, self.health, self.rec_badge):
            row.addWidget(label)
        row.addStretch(1)
        for right in (self.counts, self.connection, self.reconnect):
            row.addWidget(right)
        self.live_badge.hide()
        self.rec_badge.hide()
        self.reconnect.hide()

    def show_state(self, state: RoomState) -> None:
        """Show the room state."""
        self.title.setText(words.room_title(state))
        self.live_badge.setVisible(state.is_live)
        self.rec_badge.setVisible(
            state.is_recording
            or any(
                s.output_id == "recording" and s.phase is OutputPhase.LIVE
                for s in state.direct_outputs
            )  # fmt: skip
        )
        self.counts.setText(
            f"{state.participant_count} in room · {state.publisher_count} publishing"
        )
        # The show's running cost and revenue, on hover over the people count and the header.
        money = cost_tooltip(state.costs)
        people = "People in the room, and how many publish"
        self.counts.setToolTip(f"{people}\n\n{money}" if money else people)
        self.setToolTip(money)
        self.connection.setText(words.connection(state, self.local_mode))
        # The local studio never leaves IDLE: these states mean a room was joined (even from
        # the command line in local mode), so there is a room to rejoin.
        self.reconnect.setVisible(
            not state.ended
            and state.connection
            in (ConnectionState.RECONNECTING, ConnectionState.DISCONNECTED, ConnectionState.FAILED)
        )
        self._show_health(state)
        self.tick(state)

    def _show_health(self, state: RoomState) -> None:
        health = words.destination_health(state, self.destination_names) if state.is_live else []
        self.health.setVisible(bool(health))
        self.health.setText(" · ".join(phrase for phrase, _ in health))
        worst = "ok"
        for _, severity in health:
            if severity == "error" or (severity == "warn" and worst == "ok"):
                worst = severity
        theme.set_property(self.health, "health", worst)

    def tick(self, state: RoomState) -> None:
        """Advance the elapsed time (called each second)."""
        if state.is_live and state.live_since_ms:
            on_air_s = time.time() - state.live_since_ms / 1000
            self.live_badge.setText("LIVE " + words.elapsed(on_air_s))
