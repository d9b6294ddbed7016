"""Settings ▸ Remote control: the token is made when the API is turned on, shown, kept in the
keyring and renewed on demand; the choices and the hotkeys land in the settings."""

from __future__ import annotations

import keyring.backend
import keyring.backends.fail
from PySide6.QtGui import QKeySequence
from pytestqt.qtbot import QtBot

from desktop.session.remote_control.protocol import TOKEN_SECRET_NAME
from desktop.session.settings import DEFAULT_HOTKEYS, Secrets, Settings
from desktop.ui.remote_settings import HotkeysDialog, RemoteControlSettings


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring in memory (a real backend class: what Secrets stores is what it reads back)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.stored: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.stored.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.stored[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.stored.pop((service, username), None)


def test_the_token_is_made_shown_kept_and_renewed(qtbot: QtBot) -> None:
    settings = Settings()
    store = MemoryKeyring()
    secrets = Secrets(store)
    panel = RemoteControlSettings(settings, secrets)
    qtbot.addWidget(panel)
    assert not panel.enabled.isChecked() and panel.token.text() == ""
    assert not panel.port.isEnabled()
    panel.enabled.setChecked(True)
    token = panel.token.text()
    assert len(token) >= 32 and panel.port.isEnabled()
    assert store.stored[("Spaces Broadcaster", TOKEN_SECRET_NAME)] == token
    assert "kept for this run only" not in panel.note.text()
    panel.renew.click()
    assert panel.token.text() != token
    assert secrets.get(TOKEN_SECRET_NAME) == panel.token.text()
    panel.port.setValue(5001)
    panel.lan.setChecked(True)
    panel.hotkeys = {**DEFAULT_HOTKEYS, "next_layout": "Ctrl+Shift+N"}
    panel.apply()
    assert (settings.remote_control, settings.remote_control_port, settings.remote_control_lan) \
        == (True, 5001, True)  # fmt: skip
    assert settings.hotkeys["next_layout"] == "Ctrl+Shift+N"


def test_without_a_keyring_the_note_says_the_token_is_for_this_run(qtbot: QtBot) -> None:
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    panel = RemoteControlSettings(Settings(remote_control=True), secrets)
    qtbot.addWidget(panel)
    assert panel.token.text() and "kept for this run only" in panel.note.text()


def test_the_hotkeys_dialog_shows_and_returns_every_key(qtbot: QtBot) -> None:
    dialog = HotkeysDialog({**DEFAULT_HOTKEYS, "banner_toggle": ""})
    qtbot.addWidget(dialog)
    keys = dialog.keys()
    assert keys["banner_toggle"] == "" and keys["next_layout"] == "Ctrl+L"
    assert keys["stage_guest_3"] == "Ctrl+3"
    dialog.edits["stage_guest_3"].setKeySequence(QKeySequence("Alt+3"))
    dialog.set_keys({**dialog.keys()})
    assert dialog.keys()["stage_guest_3"] == "Alt+3"
