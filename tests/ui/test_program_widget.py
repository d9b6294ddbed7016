"""The Program monitor shows what viewers get; its buttons change the program.

Under Xvfb a child process shows the widget on a real X display and grabs the screen: each
guest's colour must be where the compositor put that guest, scaled into the monitor, for two
layouts. Offscreen, the buttons, the warning and the egress note are checked on the widget.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring.backends.fail
import pytest
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from desktop.media.compositor import HOST_ID, Layout
from desktop.session.backend_client import TypedActions
from desktop.session.settings import Secrets, Settings
from desktop.session.state import ParticipantState, Source, TrackState
from desktop.session.studio import Studio
from desktop.ui.bridge import StateBridge
from desktop.ui.program_widget import ProgramWidget
from tests.fixtures.program import Guest, GuestFeeder, close_to
from tests.ui.driving import pump

ROOT = Path(__file__).resolve().parents[2]
COLOURS = {"ada": (220, 40, 40), "grace": (40, 200, 60)}


def _colour_at(image: QImage, x: int, y: int) -> tuple[int, int, int]:
    reds, greens, blues = [], [], []
    for dx in (-3, 0, 3):
        for dy in (-3, 0, 3):
            c = image.pixelColor(x + dx, y + dy)
            reds.append(c.red())
            greens.append(c.green())
            blues.append(c.blue())
    return sorted(reds)[4], sorted(greens)[4], sorted(blues)[4]


def test_the_monitor_on_a_real_display_shows_each_guest_in_their_region(
    xvfb_display: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DISPLAY": xvfb_display, "QT_QPA_PLATFORM": "xcb",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "tests.ui.program_driver", "--out", str(tmp_path)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads((tmp_path / "program.json").read_text())
    for name in ("grid", "speaker"):
        shot = QImage(str(tmp_path / f"{name}.png"))
        info = seen[name]
        mx, my, mw, mh = info["monitor"]
        pw, ph = info["program"]
        guests = [r for r in info["regions"] if r[0] in COLOURS]
        assert {r[0] for r in guests} == set(COLOURS)
        for source_id, x, y, w, h in guests:
            # The region's upper middle (clear of the name plate), scaled into the monitor.
            cx = mx + round((x + w / 2) * mw / pw)
            cy = my + round((y + h / 3) * mh / ph)
            colour = _colour_at(shot, cx, cy)
            assert close_to(colour, COLOURS[source_id], 30), (name, source_id, colour, info)
    grid = {r[0]: r for r in seen["grid"]["regions"]}
    speaker = {r[0]: r for r in seen["speaker"]["regions"]}
    # The pinned guest is large in the speaker layout, the other small in the strip.
    assert speaker["grace"][3] > grid["grace"][3] > speaker["ada"][3]
    assert seen["speaker"]["pin_checked"] and seen["grid"]["stage_text"] == "Send backstage"


@pytest.fixture
def program_widget(qtbot: QtBot) -> Iterator[tuple[Studio, ProgramWidget]]:
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    studio = Studio(Settings(), secrets)
    tracks = (TrackState("TR_m", Source.MICROPHONE, False, False),
              TrackState("TR_c", Source.CAMERA, True, False))  # fmt: skip
    studio.store.update(remotes={"ada": ParticipantState(identity="ada", name="Ada",
                                                         tracks=tracks)})  # fmt: skip
    bridge = StateBridge(studio.store)
    widget = ProgramWidget(studio, bridge)
    qtbot.addWidget(widget)
    widget.show()
    yield studio, widget
    widget.close()
    studio.live.direct.close()
    bridge.close()


async def test_buttons_change_the_program_and_the_warning_says_who_is_left_out(
    qtbot: QtBot, program_widget: tuple[Studio, ProgramWidget]
) -> None:
    studio, widget = program_widget
    assert widget.stage_buttons["ada"].text() == "Add to stage"
    assert not widget.warning.isVisible()
    # Live with a guest on stage in the room but only the host in the program: a warning.
    studio.store.update(is_live=True)
    await pump(lambda: widget.warning.isVisible(), 10.0)
    assert "only you" in widget.warning.text() and "Ada" in widget.warning.text()
    widget.stage_buttons["ada"].click()
    await pump(lambda: studio.program.stage == (HOST_ID, "ada") and widget.note.isVisible(), 10.0)
    assert not widget.warning.isVisible()
    assert widget.stage_buttons["ada"].text() == "Send backstage"
    # Without the platform backend the permission cannot change: the widget says so.
    assert "platform backend" in widget.note.text()
    widget.layout_buttons[Layout.SIDE_BY_SIDE].click()
    assert studio.live.direct.compositor.scene.layout is Layout.SIDE_BY_SIDE
    widget.banner_edit.setText("Episode 12")
    widget.banner_edit.returnPressed.emit()
    assert studio.live.direct.compositor.scene.banner == "Episode 12"
    widget.pin_buttons["ada"].click()
    assert studio.live.direct.compositor.scene.pinned == "ada"
    assert widget.pin_buttons["ada"].isChecked()
    # The monitor paints the program while shown, live or not.
    feeder = GuestFeeder(studio.live.direct, [Guest("ada", "Ada", (220, 40, 40), 1000.0)])
    feeder.start()
    try:
        await pump(lambda: widget.monitor.pictures_shown > 3, 10.0)
    finally:
        feeder.stop()
    widget.stage_buttons["ada"].click()
    await pump(lambda: studio.program.stage == (HOST_ID,), 10.0)
    assert widget.warning.isVisible()


def test_with_egress_the_studio_says_what_viewers_will_see(
    program_widget: tuple[Studio, ProgramWidget],
) -> None:
    studio, widget = program_widget

    class NoBackend:
        async def call(self, action: str, **body: object) -> dict[str, object]:
            raise AssertionError("no call expected while choosing a layout")

    studio.live.backend = NoBackend()  # type: ignore[assignment]
    widget.layout_buttons[Layout.SCREEN_PIP].click()
    assert widget.note.isVisible()
    assert "corner" in widget.note.text() and widget.note.text().startswith("Viewers will see")
    widget.layout_buttons[Layout.GRID].click()
    assert not widget.note.isVisible()


async def test_a_layout_change_reaches_a_running_cloud_egress(
    program_widget: tuple[Studio, ProgramWidget],
) -> None:
    studio, widget = program_widget
    calls: list[tuple[str, dict[str, object]]] = []

    class Recorder(TypedActions):
        async def call(self, action: str, **body: object) -> dict[str, object]:
            calls.append((action, body))
            return {"layout": body["layout"], "egressIds": ["EG_1"], "success": True}

    studio.live.backend = Recorder()  # type: ignore[assignment]
    studio.live.room_name = "appointment-1-1"
    widget.layout_buttons[Layout.SPEAKER].click()
    await widget.bridge.drain()
    assert calls == []  # nothing runs in the cloud: the next start takes the layout
    studio.store.update(is_recording=True)  # a cloud recording runs
    widget.layout_buttons[Layout.GRID].click()
    await pump(lambda: bool(calls), 10.0)
    await widget.bridge.drain()
    assert [(action, body["layout"]) for action, body in calls] == [("update_layout", "grid")]
