"""The audience on screen, from the window: "Show on screen" puts a chat message in the program
as a lower third with the sender's name for the chosen seconds; a ticker scrolls along the top;
the hotkeys switch layout and the banner. What nginx-rtmp receives is decoded to find each
band."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from desktop.media.compositor import Layout, comment_boxes, ticker_box
from desktop.session.state import ChatMessage
from desktop.session.studio import Studio
from desktop.ui.studio_window import StudioWindow
from tests.fixtures.program import decode_video, region_colour
from tests.fixtures.rtmp import RtmpServer
from tests.remote.show import COMMENT_NAME_RGB, TICKER_RGB, near, program_rgb, sent_more
from tests.ui.conftest import studio_window  # noqa: F401 (the window fixture)
from tests.ui.driving import pump

SHOW_WAIT_S = 30.0
"""How long a change may take to reach the window or the program."""


async def test_a_chat_message_and_a_ticker_reach_the_rtmp_program(
    qtbot: QtBot,
    studio_window: tuple[Studio, StudioWindow],  # noqa: F811
    rtmp_server: RtmpServer,
) -> None:
    studio, window = studio_window
    destination = studio.add_destination("Show", rtmp_server.url("live"), "show-key")
    assert await studio.go_live() == {}
    await pump(lambda: studio.store.state.is_live, SHOW_WAIT_S)
    width, height = studio.live.direct.settings.width, studio.live.direct.settings.height
    name_box, _ = comment_boxes(width, height, banner=False)

    # A viewer writes; the host picks the line and shows it for 3 s.
    studio.store.update_remote("viewer-7", name="Marta")
    studio.store.update(chat=(ChatMessage("viewer-7", "Greetings from Lisbon", 1),))
    chat = window.chat
    await pump(lambda: chat.messages.count() == 1, SHOW_WAIT_S)
    assert not chat.show_on_screen.isEnabled()
    chat.messages.setCurrentRow(0)
    assert chat.show_on_screen.isEnabled()
    chat.on_screen_s.setValue(3)
    qtbot.mouseClick(chat.show_on_screen, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    assert studio.on_screen.status()["comment"] == {
        "name": "Marta",
        "text": "Greetings from Lisbon",
    }
    await pump(
        lambda: near(region_colour(program_rgb(studio), name_box), COMMENT_NAME_RGB), SHOW_WAIT_S
    )
    await sent_more(studio, destination.id, 100_000)
    # Gone by itself after its seconds.
    await pump(
        lambda: not near(region_colour(program_rgb(studio), name_box), COMMENT_NAME_RGB),
        SHOW_WAIT_S,
    )
    assert studio.on_screen.status()["comment"] is None
    await sent_more(studio, destination.id, 100_000)

    # The ticker scrolls along the top.
    chat.ticker.setText("Next week: live from Lisbon, with Marta and guests")
    qtbot.mouseClick(chat.ticker_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    band = ticker_box(width, height)
    await pump(lambda: near(region_colour(program_rgb(studio), band), TICKER_RGB), SHOW_WAIT_S)
    await sent_more(studio, destination.id, 150_000)
    chat.ticker.clear()
    chat.ticker_button.click()
    assert studio.live.direct.compositor.scene.ticker == ""

    # The hotkeys: next layout, the banner shown and hidden, guest 1 on and off, no guest 2.
    hotkeys = window.hotkeys
    assert set(hotkeys.shortcuts) >= {"next_layout", "banner_toggle", "stage_guest_1"}
    assert hotkeys.shortcuts["next_layout"].key().toString() == "Ctrl+L"
    hotkeys.shortcuts["next_layout"].activated.emit()
    assert studio.live.direct.compositor.scene.layout is Layout.SOLO
    studio.on_screen.set_banner("Back in five")
    hotkeys.shortcuts["banner_toggle"].activated.emit()
    assert studio.live.direct.compositor.scene.banner == ""
    hotkeys.shortcuts["banner_toggle"].activated.emit()
    assert studio.live.direct.compositor.scene.banner == "Back in five"
    hotkeys.shortcuts["stage_guest_1"].activated.emit()  # Marta, the only guest
    await pump(lambda: "viewer-7" in studio.program.stage, SHOW_WAIT_S)
    hotkeys.shortcuts["stage_guest_1"].activated.emit()
    await pump(lambda: "viewer-7" not in studio.program.stage, SHOW_WAIT_S)
    hotkeys.shortcuts["stage_guest_2"].activated.emit()
    await pump(
        lambda: any("there is no guest 2" in n.text for n in window.notices.notices()), SHOW_WAIT_S
    )
    hotkeys.apply({**studio.settings.hotkeys, "next_layout": "Ctrl+Shift+N"})
    assert hotkeys.shortcuts["next_layout"].key().toString() == "Ctrl+Shift+N"

    await studio.end_live()
    pictures = decode_video(rtmp_server.wait_for_recording("live", 50_000))
    commented = [i for i, (_, rgb) in enumerate(pictures)
                 if near(region_colour(rgb, name_box), COMMENT_NAME_RGB)]  # fmt: skip
    assert commented, "the comment never reached the RTMP program"
    after = pictures[commented[-1] + 1 :]
    assert any(not near(region_colour(rgb, name_box), COMMENT_NAME_RGB) for _, rgb in after)
    ticking = [rgb for _, rgb in pictures if near(region_colour(rgb, band), TICKER_RGB)]
    assert len(ticking) > 10, "the ticker never reached the RTMP program"
    strips = [rgb[band.y : band.y + band.height].astype(np.int16) for rgb in ticking]
    # It moves: its text is not where it was a second of pictures earlier.
    assert any(np.abs(a - b).mean() > 5 for a, b in zip(strips, strips[15:], strict=False))
