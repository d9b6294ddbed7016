"""Settings ▸ Remote control: the API on or off, its port, the LAN, its token (shown, copied,
renewed; kept in the keyring) and the producer's hotkeys."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop.session.remote_control.protocol import TOKEN_SECRET_NAME
from desktop.session.remote_control.tokens import generate_token, token_for
from desktop.session.settings import DEFAULT_HOTKEYS, Secrets, Settings
from desktop.ui.hotkeys import ACTION_WORDS


class HotkeysDialog(QDialog):
    """One key per action; an empty key turns the action's hotkey off."""

    def __init__(self, keys: dict[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Hotkeys — Spaces Broadcaster")
        self.setAccessibleName("Hotkeys")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.edits: dict[str, QKeySequenceEdit] = {}
        for action, words in ACTION_WORDS.items():
            edit = QKeySequenceEdit(QKeySequence(keys.get(action, DEFAULT_HOTKEYS[action])), self)
            edit.setAccessibleName(words)
            edit.setToolTip(f"The key for: {words.lower()} (click, then press the keys)")
            form.addRow(words, edit)
            self.edits[action] = edit
        layout.addLayout(form)
        defaults = QPushButton("Defaults", self)
        defaults.setToolTip("Put every key back as it came")
        defaults.clicked.connect(lambda: self.set_keys(DEFAULT_HOTKEYS))
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.addButton(defaults, QDialogButtonBox.ButtonRole.ResetRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def set_keys(self, keys: dict[str, str]) -> None:
        """Show these keys."""
        for action, edit in self.edits.items():
            edit.setKeySequence(QKeySequence(keys.get(action, "")))

    def keys(self) -> dict[str, str]:
        """Action → key as chosen ('' = none)."""
        return {
            action: edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
            for action, edit in self.edits.items()
        }


class RemoteControlSettings(QGroupBox):
    """The remote-control part of Settings.

    Args:
        settings: Read now, written by :meth:`apply`.
        secrets: Where the token is kept.
    """

    def __init__(self, settings: Settings, secrets: Secrets, parent: QWidget | None = None) -> None:
        super().__init__("Remote control and hotkeys", parent)
        self.settings, self.secrets = settings, secrets
        self.setAccessibleName("Remote control")
        form = QFormLayout(self)
        self.enabled = QCheckBox("Let apps and Stream Decks drive the studio", self)
        self.enabled.setAccessibleName("Remote control")
        self.enabled.setToolTip("Serve the remote-control API (docs/remote-control.md)")
        self.enabled.setChecked(settings.remote_control)
        form.addRow(self.enabled)
        self.port = QSpinBox(self)
        self.port.setRange(1024, 65535)
        self.port.setValue(settings.remote_control_port)
        self.port.setAccessibleName("Remote-control port")
        self.port.setToolTip("The TCP port apps connect to")
        form.addRow("Port", self.port)
        self.lan = QCheckBox("Also from other computers on this network", self)
        self.lan.setAccessibleName("Remote control from the LAN")
        self.lan.setToolTip("Off: only apps on this computer can connect (127.0.0.1)")
        self.lan.setChecked(settings.remote_control_lan)
        form.addRow(self.lan)
        row = QHBoxLayout()
        self.token = QLineEdit(self)
        self.token.setReadOnly(True)
        self.token.setAccessibleName("Remote-control token")
        self.token.setToolTip("Apps must give this token; it is kept in the keyring")
        self.copy = QPushButton("Copy", self)
        self.copy.setAccessibleName("Copy token")
        self.copy.setToolTip("Copy the token to the clipboard")
        self.copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.token.text()))
        self.renew = QPushButton("New token", self)
        self.renew.setAccessibleName("New token")
        self.renew.setToolTip("Make a new token: apps using the old one must be given it")
        self.renew.clicked.connect(self.new_token)
        row.addWidget(self.token, stretch=1)
        row.addWidget(self.copy)
        row.addWidget(self.renew)
        form.addRow("Token", row)
        self.note = QLabel("", self)
        self.note.setWordWrap(True)
        self.note.setProperty("role", "muted")
        self.note.setAccessibleName("Remote control note")
        form.addRow(self.note)
        self.hotkeys = dict(settings.hotkeys)
        """The hotkeys as chosen (written by :meth:`apply`)."""
        self.hotkeys_button = QPushButton("Hotkeys…", self)
        self.hotkeys_button.setAccessibleName("Hotkeys")
        self.hotkeys_button.setToolTip("Keys for next layout, guests on stage and the banner")
        self.hotkeys_button.clicked.connect(self.edit_hotkeys)
        form.addRow(self.hotkeys_button)
        self.enabled.toggled.connect(self._show)
        self._show()

    def _show(self) -> None:
        on = self.enabled.isChecked()
        for widget in (self.port, self.lan, self.token, self.copy, self.renew):
            widget.setEnabled(on)
        if on and not self.token.text():
            # Made (and stored) the first time the host turns the API on, so it can be copied.
            self.token.setText(token_for(self.secrets))
        words = "Turning it on or off, the port and the network apply when the studio starts."
        if on and not self.secrets.persistent:
            words += " There is no keyring on this computer: the token is kept for this run only."
        self.note.setText(words)

    def new_token(self) -> None:
        """Make and keep a new token (apps need the new one)."""
        token = generate_token()
        self.secrets.set(TOKEN_SECRET_NAME, token)
        self.token.setText(token)

    def edit_hotkeys(self) -> None:
        """Open the hotkeys dialog; OK keeps what it shows."""
        dialog = HotkeysDialog(self.hotkeys, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.hotkeys = dialog.keys()

    def apply(self) -> None:
        """Write the choices into the settings."""
        s = self.settings
        s.remote_control = self.enabled.isChecked()
        s.remote_control_port = self.port.value()
        s.remote_control_lan = self.lan.isChecked()
        s.hotkeys = dict(self.hotkeys)
