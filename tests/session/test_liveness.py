"""The silence detector reads a received-packet counter; plain numbers, no server; and its
watcher keeps going when a read of the counter never answers."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from livekit import rtc
from livekit.rtc._proto import stats_pb2 as proto_stats

from desktop.session.liveness import Liveness, SilenceDetector, watch
from desktop.session.state import ConnectionState, StateStore
from tests.waiting import wait_for


def test_a_counter_that_stops_moving_is_silence_and_moving_again_is_answering() -> None:
    detector = SilenceDetector(limit_s=4.0)
    assert detector.observe(10, 0.0, publishing=True) is Liveness.UNKNOWN
    assert detector.observe(13, 0.5, publishing=True) is Liveness.ANSWERING
    assert detector.observe(13, 4.0, publishing=True) is Liveness.ANSWERING  # 3.5 s: not yet
    assert detector.observe(13, 4.5, publishing=True) is Liveness.SILENT
    assert detector.observe(13, 9.0, publishing=True) is Liveness.SILENT
    assert detector.observe(14, 9.5, publishing=True) is Liveness.ANSWERING


def test_nothing_published_says_nothing() -> None:
    # With nothing to acknowledge the server may rightly send nothing: no verdict.
    detector = SilenceDetector(limit_s=4.0)
    assert detector.observe(5, 0.0, publishing=False) is Liveness.UNKNOWN
    assert detector.observe(5, 60.0, publishing=False) is Liveness.UNKNOWN
    # Publishing starts: the first reading is a baseline, not an answer.
    assert detector.observe(5, 61.0, publishing=True) is Liveness.UNKNOWN
    assert detector.observe(5, 64.0, publishing=True) is Liveness.ANSWERING
    assert detector.observe(5, 65.0, publishing=True) is Liveness.SILENT


class _StallingRoom:
    """Stands for the SDK's ``Room`` in one way the real one cannot be made to misbehave on cue.

    In a 30-minute soak on an overloaded machine the SDK's stats read stopped answering: the
    watcher, waiting on it, never again said the server was answering, so the studio showed
    "Reconnecting" for the rest of the show, and the read's queue kept every SDK event (1.8 GB).
    Here the counter and the stall are set by the test; the stats are the SDK's own types.
    """

    connection_state = rtc.ConnectionState.CONN_CONNECTED

    def __init__(self) -> None:
        self.packets = 0
        self.stalled = False
        self.reads_abandoned = 0
        publication = SimpleNamespace(muted=False)
        self.local_participant = SimpleNamespace(track_publications={"TR_cam": publication})

    async def get_rtc_stats(self) -> rtc.RtcStats:
        if self.stalled:
            try:
                await asyncio.Event().wait()  # no answer, ever
            except asyncio.CancelledError:
                self.reads_abandoned += 1
                raise
        report = proto_stats.RtcStats()
        report.transport.transport.packets_received = self.packets
        return rtc.RtcStats(publisher_stats=[report], subscriber_stats=[])


async def test_a_stats_read_that_never_answers_does_not_freeze_reconnecting_on_screen() -> None:
    room = _StallingRoom()
    store = StateStore()
    store.update(connection=ConnectionState.CONNECTED)
    loop = asyncio.get_running_loop()
    watching = asyncio.ensure_future(watch(room, store, loop.time))  # type: ignore[arg-type]

    def connection() -> ConnectionState:
        return store.state.connection

    try:
        # The server goes quiet (the counter stops): "reconnecting", as it should.
        room.packets = 10
        await wait_for(lambda: connection() is ConnectionState.RECONNECTING, 15, state=connection)
        # Then the stats read stops answering for a while.
        room.stalled = True
        await wait_for(lambda: room.reads_abandoned >= 1, 10, state=connection)
        # The server answers again and the reads come back: the studio says so.
        room.stalled = False
        room.packets = 20
        await wait_for(lambda: connection() is ConnectionState.CONNECTED, 10, state=connection)
    finally:
        watching.cancel()
