"""The rehearsal bar: Rehearse runs the show privately; Go Live then switches it on air.

While rehearsing, the program (or the platform's egress) goes only to a private sink — a file in
the recording folder, or a private RTMP URL — and the bar says so in plain words. Go Live (in
the control bar) adds the real destinations to the same program and drops the private sink, so
nothing restarts.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.media.errors import MediaError
from desktop.media.outputs.destinations import mask_url
from desktop.media.outputs.output import OutputPhase
from desktop.session.live import REHEARSAL_ID
from desktop.session.state import RoomState
from desktop.session.studio import Studio
from desktop.ui.bridge import StateBridge


def sink_problem(state: RoomState) -> str:
    """Why the rehearsal's private sink is not receiving, in words ('' when it is fine)."""
    direct = next((s for s in state.direct_outputs if s.output_id == REHEARSAL_ID), None)
    if direct is not None and direct.phase in (OutputPhase.FAILED, OutputPhase.RETRYING):
        return direct.error or "it stopped"
    egress = next((o for o in state.outputs if o.name == REHEARSAL_ID), None)
    if egress is not None and egress.phase is OutputPhase.FAILED:
        return egress.error or "it failed"
    return ""


def rehearsal_words(state: RoomState, private_url: str) -> str:
    """What the bar says: rehearsing where, or what Rehearse would do."""
    if state.rehearsal:
        problem = sink_problem(state)
        if problem:
            return (
                f"REHEARSING, but the private sink is not receiving: {problem}. Check the "
                "private stream's URL and key (Private stream…), or end the rehearsal."
            )
        return (
            f"REHEARSING — only you see this: the program goes to {state.rehearsal}. "
            "Press Go Live to go on air without a restart."
        )
    if state.is_live:
        return "On air."
    sink = (
        f"a private stream to {mask_url(private_url)}"
        if private_url
        else "a private file in your recording folder"
    )
    return f"Rehearse runs the show into {sink}; Go Live then takes it on air without a restart."


class PrivateStreamDialog(QDialog):
    """Where rehearsals stream to: a private RTMP URL and its key ('' = a file instead)."""

    def __init__(self, studio: Studio, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio = studio
        self.setWindowTitle("Private stream for rehearsals")
        self.setAccessibleName("Private stream for rehearsals")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.url = QLineEdit(studio.settings.rehearsal_url, self)
        self.url.setAccessibleName("Private RTMP URL")
        self.url.setToolTip("rtmp://host/app of a private ingest; empty: rehearse into a file")
        self.key = QLineEdit(self)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setAccessibleName("Private stream key")
        self.key.setToolTip("Kept in the system keyring, never shown")
        form.addRow("RTMP URL", self.url)
        form.addRow("Stream key", self.key)
        layout.addLayout(form)
        self.problem = QLabel("", self)
        self.problem.setWordWrap(True)
        self.problem.setAccessibleName("Private stream problem")
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel, self
        )
        for which, tip in (
            (QDialogButtonBox.StandardButton.Save, "Rehearse to this URL from now on"),
            (QDialogButtonBox.StandardButton.Cancel, "Keep the rehearsal sink as it is"),
        ):
            button = buttons.button(which)
            button.setToolTip(tip)
            button.setAccessibleName(button.text().replace("&", ""))
        buttons.accepted.connect(self._save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _save(self) -> None:
        try:
            self.studio.set_rehearsal_url(self.url.text(), self.key.text())
        except MediaError as error:
            self.problem.setText(f"{error.detail}. {error.hint}".strip())
            self.problem.show()
            return
        self.accept()


class RehearsalWidget(QWidget):
    """Rehearse / End rehearsal, the private sink's settings, and the state in words."""

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setAccessibleName("Rehearsal")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        self.button = QPushButton("Rehearse", self)
        self.button.setAccessibleName("Rehearse")
        self.button.clicked.connect(self._pressed)
        row.addWidget(self.button)
        self.sink = QPushButton("Private stream…", self)
        self.sink.setAccessibleName("Private stream")
        self.sink.setToolTip("Rehearse to a private RTMP URL instead of a file")
        self.sink.clicked.connect(self.open_sink_dialog)
        row.addWidget(self.sink)
        self.words = QLabel("", self)
        self.words.setAccessibleName("Rehearsal state")
        self.words.setWordWrap(True)
        row.addWidget(self.words, stretch=1)
        self.dialog: PrivateStreamDialog | None = None
        bridge.changed.connect(lambda old, new: self.show_state(new))
        self.show_state(bridge.state)

    def _pressed(self) -> None:
        if self.bridge.state.rehearsal:
            self.bridge.run(self.studio.end_rehearsal(), "end the rehearsal")
        else:
            self.bridge.run(self.studio.rehearse(), "rehearse")

    def open_sink_dialog(self) -> PrivateStreamDialog:
        """Ask for the private URL and key (non-modal; returned for tests)."""
        self.dialog = PrivateStreamDialog(self.studio, self)
        self.dialog.finished.connect(lambda _: self.show_state(self.bridge.state))
        self.dialog.show()
        return self.dialog

    def show_state(self, state: RoomState) -> None:
        """Button and words follow the session state."""
        rehearsing = bool(state.rehearsal)
        self.button.setText("End rehearsal" if rehearsing else "Rehearse")
        self.button.setToolTip(
            "Stop the rehearsal (nothing went out)"
            if rehearsing
            else "Run the show privately first; Go Live then takes it on air without a restart"
        )
        self.button.setEnabled(not state.is_live and not state.ended)
        self.sink.setEnabled(not rehearsing and not state.is_live)
        self.words.setText(rehearsal_words(state, self.studio.settings.rehearsal_url))
        self.words.setStyleSheet("color:#f5a524; font-weight:600" if rehearsing else "")
