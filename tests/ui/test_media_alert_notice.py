"""A guest's camera or voice that does not reach the program is a notice naming them (#32)."""

from __future__ import annotations

from desktop.session.state import MediaAlert, MediaWatch, Source
from desktop.session.studio import Studio
from desktop.ui.studio_window import StudioWindow


def test_a_media_alert_is_a_notice_until_it_clears_and_stats_count_it(
    studio_window: tuple[Studio, StudioWindow],
) -> None:
    studio, window = studio_window
    store = studio.store
    store.update_remote("blue", name="Blue")
    camera = MediaAlert("blue", "Blue", Source.CAMERA, "program", 0)
    voice = MediaAlert("blue", "Blue", Source.MICROPHONE, "program", 0)
    store.update(media_alerts=(camera, voice),
                 media_watch=MediaWatch(stalls=3, retries=5, alerts=2, recovered=1))  # fmt: skip
    texts = window.notices.texts()
    shown = next(t for t in texts if "camera" in t)
    assert "Blue's camera is not reaching the program — we are retrying" in shown
    assert "ask Blue to turn their camera off and on" in shown
    assert any("Blue's voice is not reaching the program" in t for t in texts)
    window.stats.refresh()
    assert "Guests' media: 3 stalled, asked again 5 times, 1 recovered, 2 told you" in (
        window.stats.text.text()
    )
    # The camera arrives again: its notice goes, the voice's stays.
    store.update(media_alerts=(voice,))
    texts = window.notices.texts()
    assert not any("camera is not reaching" in t for t in texts)
    assert any("voice is not reaching" in t for t in texts)
    store.update(media_alerts=())
    assert not any("not reaching" in t for t in window.notices.texts())
