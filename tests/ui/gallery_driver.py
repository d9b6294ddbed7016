"""Drives a real studio window on an X display through its main states and saves a PNG of each.

Run by ``test_gallery.py`` as a child process (``QT_QPA_PLATFORM=xcb``): setup, empty studio,
three guests, a screen share, live with a failing destination, and the summary. For each state it
writes ``<name>.png`` and, in ``gallery.json``, which widgets were visible, for the test to check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication, QWidget

from tests.waiting import wait_for


def _visible(widget: QWidget) -> bool:
    return widget.isVisible() and widget.width() > 0 and widget.height() > 0


async def run(args: argparse.Namespace, app: QApplication) -> dict[str, Any]:
    """Walk through the states; returns what was visible in each."""
    import keyring.backends.fail

    from desktop.media.outputs.destinations import Destination, DestinationKind
    from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone, SyntheticScreen
    from desktop.session.settings import Secrets, Settings
    from desktop.session.studio import Studio
    from desktop.ui.setup_dialog import SetupDialog
    from desktop.ui.studio_window import StudioWindow

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seen: dict[str, Any] = {}
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    settings = Settings(display_name="Maya", recording_folder=str(out / "recordings"))
    settings.destinations = [
        Destination("studio-b", "Studio B", DestinationKind.CUSTOM, args.rtmp_url, True),
        Destination("twitch", "Twitch", DestinationKind.TWITCH, args.dead_url, True),
    ]
    secrets.set("stream-key:studio-b", "")
    secrets.set("stream-key:twitch", "live_0000_gallery")
    camera, mic = SyntheticCamera(640, 360, 30), SyntheticMicrophone(level_dbfs=-14)
    camera.start()
    mic.start()

    # 1. Setup.
    setup = SetupDialog(
        settings, secrets, camera, mic,
        cameras={"Synthetic camera": lambda: camera},
        microphones={"Synthetic microphone": lambda: mic},
        camera_label="Synthetic camera", mic_label="Synthetic microphone",
    )  # fmt: skip
    setup.mode.setCurrentIndex(setup.mode.findData("livekit"))
    setup.url.setText(args.ws_url)
    setup.resize(760, 700)
    setup.show()
    await asyncio.sleep(1.0)
    setup.grab().save(str(out / "setup.png"))
    seen["setup"] = {
        "camera preview": _visible(setup.preview), "test connection": _visible(setup.test_button),
        "LiveKit URL": _visible(setup.url), "backend URL": _visible(setup.backend),
        "device note": _visible(setup.device_note),
    }  # fmt: skip
    setup.preview.set_source(None)
    setup.hide()

    # 2. The empty studio (joined, nobody else yet).
    studio = Studio(settings, secrets)
    studio.use_devices(camera, mic)
    screens = {"Screen 1 (1280x720)": lambda: _started(SyntheticScreen(1280, 720, 15))}
    window = StudioWindow(studio, screens=screens)
    window.header.local_mode = False
    window.resize(1280, 760)
    window.show()
    await studio.connect(args.ws_url, args.token)
    await asyncio.sleep(1.5)

    def shot(name: str, widget: QWidget | None = None) -> None:
        (widget or window).grab().save(str(out / f"{name}.png"))

    shot("studio-empty")
    seen["studio-empty"] = {
        "own tile": _visible(window.own_tile), "guest tiles": len(window.tiles),
        "live badge": _visible(window.header.live_badge),
        "control bar": _visible(window.controls),
    }  # fmt: skip
    print("READY", flush=True)  # the test now brings three guests in

    # 3. Three guests.
    await wait_for(lambda: len(window.tiles) == 3 and all(
        t.frames_shown > 2 for t in window.tiles.values()), 90, "three guests' video")  # fmt: skip
    await asyncio.sleep(0.5)
    shot("studio-three-guests")
    seen["studio-three-guests"] = {
        "guest tiles": sum(_visible(t) for t in window.tiles.values()),
        "guest tiles with video": sum(t.frames_shown > 0 for t in window.tiles.values()),
        "tile aspect": [round(t.width() / t.height(), 2) for t in window.tiles.values()],
    }  # fmt: skip

    # 4. Share.
    window.controls.share_action.trigger()
    await wait_for(lambda: window.screen_tile is not None and window.screen_tile.frames_shown > 2,
                   20, "the screen share")  # fmt: skip
    await asyncio.sleep(0.5)
    shot("studio-share")
    share = window.screen_tile
    seen["studio-share"] = {
        "share tile": share is not None and _visible(share),
        "share wider than guests": share is not None
        and share.width() > max(t.width() for t in window.tiles.values()),
        "share button says": window.controls.share_button.text(),
    }  # fmt: skip

    # 5. Live with a failing destination (and recording).
    window.controls.record_action.trigger()
    window.controls.live_action.trigger()
    await wait_for(lambda: studio.store.state.is_live, 40, "going live")
    await wait_for(lambda: "Studio B live" in window.header.health.text(), 40, "Studio B live")
    await wait_for(lambda: any("Twitch did not start" in t for t in window.notices.texts()), 40,
                   "the Twitch notice")  # fmt: skip
    window.side.setCurrentWidget(window.outputs)
    await asyncio.sleep(2.5)
    shot("studio-live-failing-destination")
    seen["studio-live-failing-destination"] = {
        "live badge": _visible(window.header.live_badge),
        "live badge text": window.header.live_badge.text(),
        "health": window.header.health.text(),
        "rec badge": _visible(window.header.rec_badge),
        "notices": window.notices.texts(),
        "notice stack": _visible(window.notices),
    }  # fmt: skip

    # 6. Summary.
    window.controls.end_stream()
    await wait_for(lambda: window.summary_widget is not None, 60, "the summary")
    summary = window.summary_widget
    assert summary is not None
    summary.resize(420, 320)
    await asyncio.sleep(0.8)
    shot("summary", summary)
    seen["summary"] = {"summary": _visible(summary), "text": summary.text(),
                       "guest tiles after end": len(window.tiles)}  # fmt: skip
    window._close_confirmed = True
    summary.close()
    window.close()
    await studio.aclose()
    camera.stop()
    mic.stop()
    return seen


def _started(source: Any) -> Any:
    source.start()
    return source


def main() -> int:
    """Run the gallery; exit status 0 when every state was reached."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--ws-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rtmp-url", required=True)
    parser.add_argument("--dead-url", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from desktop.ui.event_loop import StudioEventLoop
    from desktop.ui.theme import apply

    app = QApplication([sys.argv[0]])
    app.setQuitOnLastWindowClosed(False)  # the driver ends the loop, not the last window
    apply(app)
    loop = StudioEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        seen = loop.run_until_complete(run(args, app))
    (Path(args.out) / "gallery.json").write_text(json.dumps(seen, indent=2), encoding="utf-8")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
