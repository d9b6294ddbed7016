"""Shows the Program widget on a real X display and photographs the screen, for the test to read.

Run by ``test_program_widget.py`` as a child process (``QT_QPA_PLATFORM=xcb``). Two synthetic
guests (a colour each) are put on stage by clicking their "Add to stage" buttons, the Grid
layout button is clicked, the X screen is grabbed; then Speaker with a pin, grabbed again. For
each grab it writes ``<name>.png`` and, in ``program.json``, where the monitor painted the
program and where the compositor put each guest, for the test to look there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication

from tests.waiting import wait_for


async def run(out: Path, app: QApplication) -> dict[str, Any]:
    """Put guests on stage, switch layouts, grab the screen after each."""
    import keyring.backends.fail

    from desktop.media.compositor import Layout
    from desktop.media.synthetic import SyntheticCamera
    from desktop.session.settings import Secrets, Settings
    from desktop.session.state import ParticipantState, Source, TrackState
    from desktop.session.studio import Studio
    from desktop.ui.bridge import StateBridge
    from desktop.ui.program_widget import ProgramWidget
    from tests.fixtures.program import Guest, GuestFeeder

    guests = [Guest("ada", "Ada Lovelace", (220, 40, 40), 1000.0),
              Guest("grace", "Grace Hopper", (40, 200, 60), 1700.0)]  # fmt: skip
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    studio = Studio(Settings(display_name="Maya"), secrets)
    camera = SyntheticCamera(640, 360, 30)
    camera.start()
    studio.use_devices(camera, None)
    tracks = (TrackState("TR_c", Source.CAMERA, True, False),
              TrackState("TR_m", Source.MICROPHONE, False, False))  # fmt: skip
    studio.store.update(remotes={
        g.identity: ParticipantState(identity=g.identity, name=g.name, tracks=tracks)
        for g in guests
    })  # fmt: skip
    bridge = StateBridge(studio.store)
    widget = ProgramWidget(studio, bridge)
    widget.resize(640, 360)  # the whole Xvfb screen
    widget.move(0, 0)
    widget.show()
    feeder = GuestFeeder(studio.live.direct, guests)
    feeder.start()
    seen: dict[str, Any] = {}
    try:
        for guest in guests:
            widget.stage_buttons[guest.identity].click()
        await wait_for(lambda: studio.program.stage == ("host", "ada", "grace"), 10, "stage")
        widget.layout_buttons[Layout.GRID].click()
        compositor = studio.live.direct.compositor

        def both_drawn() -> bool:
            return {r.source_id for r in compositor.regions()} >= {"ada", "grace"}

        for name, layout in (("grid", Layout.GRID), ("speaker", Layout.SPEAKER)):
            if layout is Layout.SPEAKER:
                widget.layout_buttons[Layout.SPEAKER].click()
                widget.pin_buttons["grace"].click()
            assert compositor.scene.layout is layout
            await wait_for(both_drawn, 10, name)
            shown = widget.monitor.pictures_shown

            def repainted(since: int = shown) -> bool:
                return widget.monitor.pictures_shown > since + 5

            await wait_for(repainted, 10, "repaints")
            await asyncio.sleep(0.3)
            screen = app.primaryScreen()
            grab = screen.grabWindow(0)
            grab.save(str(out / f"{name}.png"))
            rect = widget.monitor.picture_rect()
            origin = widget.monitor.mapToGlobal(QPoint(rect.x(), rect.y()))
            settings = studio.live.direct.settings
            seen[name] = {
                "monitor": [origin.x(), origin.y(), rect.width(), rect.height()],
                "program": [settings.width, settings.height],
                "regions": [
                    [r.source_id, r.x, r.y, r.width, r.height] for r in compositor.regions()
                ],  # fmt: skip
                "pin_checked": widget.pin_buttons["grace"].isChecked(),
                "stage_text": widget.stage_buttons["ada"].text(),
            }
    finally:
        feeder.stop()
        widget.close()
        await studio.aclose()
        camera.stop()
        bridge.close()
    return seen


def main() -> int:
    """Run the driver; exit status 0 when both grabs were made."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from desktop.ui.event_loop import StudioEventLoop

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication([sys.argv[0]])
    app.setQuitOnLastWindowClosed(False)
    loop = StudioEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        seen = loop.run_until_complete(run(out, app))
    (out / "program.json").write_text(json.dumps(seen, indent=2), encoding="utf-8")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
