"""Who is in the room and who publishes, from webhooks shaped as livekit-server 1.13.5 sends them.

Three facts of the server's webhooks are checked here with scripted events (the real server's
webhooks run in ``test_webhooks_real.py``, which cannot choose when the server sends them):

- ``track_unpublished`` carries the participant's identity and sid but not its tracks;
- a participant whose connection record the server lost (after a signal resume) leaves with
  ``participant_connection_aborted`` instead of ``participant_left``;
- joining again with the same identity replaces the older session; one node sends a room's
  webhooks in order, but webhooks from different nodes of a cluster are not ordered, so the
  older session's leave may come after the new join.
"""

from __future__ import annotations

from pathlib import Path

from tests.backend.scripted_webhooks import MINUTE_MS, T0_MS
from tests.backend.scripted_webhooks import presence_service as _service
from tests.backend.scripted_webhooks import presence_stream as _stream
from tests.backend.scripted_webhooks import scripted_event as _event


async def test_unpublishing_one_of_two_tracks_keeps_a_publisher(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    for event in (
        _event("participant_joined", T0_MS, "host-1"),
        _event("track_published", T0_MS + 1, "host-1", "TR_mic"),
        _event("track_published", T0_MS + 2, "host-1", "TR_cam"),
        _event("track_unpublished", T0_MS + 3, "host-1", "TR_cam"),
    ):
        await svc.handle_webhook(event)
    assert _stream(svc).publishers == ["host-1"]
    assert _stream(svc).published_tracks == {"host-1": ["TR_mic"]}

    await svc.handle_webhook(_event("track_unpublished", T0_MS + 4, "host-1", "TR_mic"))
    assert _stream(svc).publishers == []
    assert _stream(svc).published_tracks == {}
    assert _stream(svc).peak_publishers == 1


async def test_an_aborted_connection_ends_the_stay_like_a_leave(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    for event in (
        _event("participant_joined", T0_MS, "host-1"),
        _event("participant_joined", T0_MS + MINUTE_MS, "guest-1"),
        _event("track_published", T0_MS + MINUTE_MS, "guest-1", "TR_mic"),
        _event("participant_connection_aborted", T0_MS + 3 * MINUTE_MS, "guest-1"),
    ):
        await svc.handle_webhook(event)
    stream = _stream(svc)
    assert stream.participants == ["host-1"]
    assert stream.publishers == []
    assert stream.published_tracks == {}
    assert stream.participant_ms == 2 * MINUTE_MS, "the guest's two minutes are counted once"
    assert list(stream.presence) == ["host-1"]
    assert (stream.peak_participants, stream.peak_publishers) == (2, 1)


async def test_the_leave_of_a_replaced_session_does_not_end_the_new_one(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    for event in (
        _event("participant_joined", T0_MS, "host-1"),
        _event("participant_joined", T0_MS + MINUTE_MS, "guest-1", session="a"),
        # The guest's laptop rejoins; the new session's webhooks come first (another node).
        _event("participant_joined", T0_MS + 2 * MINUTE_MS, "guest-1", session="b"),
        _event("track_published", T0_MS + 2 * MINUTE_MS, "guest-1", "TR_mic_b", session="b"),
        _event("participant_left", T0_MS + 2 * MINUTE_MS, "guest-1", session="a"),
    ):
        await svc.handle_webhook(event)
    stream = _stream(svc)
    assert stream.participants == ["host-1", "guest-1"], "the guest is still in the room"
    assert stream.publishers == ["guest-1"]
    assert set(stream.presence) == {"host-1", "guest-1"}, "the guest's stay goes on"

    await svc.handle_webhook(
        _event("participant_left", T0_MS + 5 * MINUTE_MS, "guest-1", session="b")
    )
    stream = _stream(svc)
    assert stream.participants == ["host-1"]
    assert stream.publishers == []
    assert stream.participant_ms == 4 * MINUTE_MS, "one stay, from the first join to the leave"
