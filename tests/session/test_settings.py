"""The settings file: the connection mode is an enum in the studio and its old word on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop.session.settings import ConnectMode, SettingsStore


@pytest.mark.parametrize("word", ["local", "livekit", "platform"])
def test_a_settings_file_from_before_the_enum_loads_and_saves_the_same_word(
    tmp_path: Path, word: str
) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    # As an earlier version wrote it: the mode as a plain string beside the other fields.
    old = {"connect_mode": word, "display_name": "Ada", "livekit_url": "wss://lk.example.com"}
    (folder / "settings.json").write_text(json.dumps(old), encoding="utf-8")

    store = SettingsStore(folder)
    settings = store.load()
    assert settings.connect_mode is ConnectMode(word)
    assert (settings.display_name, settings.livekit_url) == ("Ada", "wss://lk.example.com")

    store.save(settings)
    saved = json.loads(store.path.read_text(encoding="utf-8"))
    assert saved["connect_mode"] == word and type(saved["connect_mode"]) is str
    assert SettingsStore(folder).load().connect_mode is ConnectMode(word)


def test_a_mode_this_version_does_not_know_loads_as_local(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "settings.json").write_text(
        json.dumps({"connect_mode": "satellite", "display_name": "Ada"}), encoding="utf-8"
    )
    settings = SettingsStore(folder).load()
    assert settings.connect_mode is ConnectMode.LOCAL and settings.display_name == "Ada"
    assert not (folder / "settings.damaged.json").exists()
