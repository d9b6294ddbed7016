"""The studio's own view of the show's cost: participant time counted from the room events it
sees (a scripted show to the cent with a controlled clock; a real guest on the real
livekit-server), shown in the header's tooltip, the Stats rows and the end summary."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import keyring.backends.fail
from livekit import rtc
from pytestqt.qtbot import QtBot

from desktop.media.synthetic import SyntheticCamera
from desktop.session.settings import Secrets, Settings
from desktop.session.show_costs import CostMeter
from desktop.session.state import ConnectionState, ParticipantState, StateStore
from desktop.session.studio import StreamSummary, Studio
from desktop.ui.cost_words import cost_lines
from desktop.ui.header_widget import HeaderWidget
from desktop.ui.summary_widget import summary_lines
from spaces_contract.money import Rates
from tests.fixtures.livekit import CONNECT_TIMEOUT_S, LiveKitServer
from tests.participants import wait_for

MINUTE_MS = 60_000


def test_the_studio_counts_a_scripted_show_to_the_cent(qtbot: QtBot) -> None:
    now = [1_790_000_000_000]
    store = StateStore()
    meter = CostMeter(store, Rates(currency="EUR"), Decimal(40), lambda: 75 * MINUTE_MS,
                      lambda: now[0])  # fmt: skip

    def at(minute: int, **changes: object) -> None:
        now[0] = 1_790_000_000_000 + minute * MINUTE_MS
        store.update(**changes)

    host = ParticipantState("host")
    at(0, local=host, connection=ConnectionState.CONNECTED)
    at(2, remotes={"ann": ParticipantState("ann")})
    at(10, remotes={"ann": ParticipantState("ann"), "bo": ParticipantState("bo")})
    at(31, remotes={"bo": ParticipantState("bo")})  # ann stayed 29 minutes
    at(50, remotes={})  # bo stayed 40
    now[0] = 1_790_000_000_000 + 80 * MINUTE_MS  # the host is still there at minute 80
    meter.publish()
    figures = dict(store.state.costs)
    # 80 + 29 + 40 = 149 participant-minutes × €0.05 = €7.45; nothing stored or sent.
    assert figures["participantMinutes"] == "149.00"
    assert figures["participantCost"] == "7.45" and figures["infrastructureCost"] == "7.45"
    # Peak 3 → ×0.3; live 75 min → ×1.2: €40 × 0.36 = €14.40; 20 % = €2.88; net −€4.57.
    assert (figures["totalRevenue"], figures["platformCommission"]) == ("14.40", "2.88")
    assert figures["net"] == "-4.57" and figures["currency"] == "EUR"

    header = HeaderWidget()
    qtbot.addWidget(header)
    header.show_state(store.state)
    tip = header.counts.toolTip()
    assert "Participant-minutes: 149.00 (€7.45)" in tip and "Platform net: −€4.57" in tip
    rows = dict(cost_lines(store.state.costs))
    assert rows["Infrastructure cost"] == "€7.45" and rows["Creator's share"] == "€11.52"
    summary = StreamSummary(75 * 60, 3, 2, currency="EUR", costs=figures)
    shown = dict(summary_lines(summary))
    assert shown["Participant-minutes"] == "149.00 (€7.45)"
    assert shown["Platform net"] == "−€4.57"


async def test_a_real_guest_is_counted_while_the_show_runs(
    livekit_server: LiveKitServer, unique_room: str
) -> None:
    settings = Settings(currency="GBP", preset="360p30")
    camera = SyntheticCamera(640, 360, 15)
    camera.start()
    studio = Studio(settings, Secrets(keyring.backends.fail.Keyring()))  # type: ignore[no-untyped-call]
    studio.use_devices(camera, None)
    guest = rtc.Room()
    try:
        before_connect_s = time.time()
        await studio.connect(livekit_server.ws_url, livekit_server.token("host", unique_room))
        connected_s = time.time()
        guest_connecting_s = time.time()
        await guest.connect(
            livekit_server.ws_url,
            livekit_server.token("ann", unique_room),
            rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S),
        )
        await wait_for(lambda: "ann" in studio.store.state.remotes, timeout_s=20)
        seen_s = time.time()
        await asyncio.sleep(3.0)
        leaving_s = time.time()
        await guest.disconnect()
        await wait_for(lambda: "ann" not in studio.store.state.remotes, timeout_s=20)
        gone_s = time.time()
        ending_s = time.time()
        summary = await studio.end_stream()
        ended_s = time.time()
    finally:
        await guest.disconnect()
        await studio.aclose()
        camera.stop()
    costs = summary.costs
    assert costs["currency"] == "GBP"
    minutes = Decimal(costs["participantMinutes"])
    # The host was counted at least from connect()'s return to end_stream()'s call, the guest
    # at least while the test saw them; at most from the first call to the last return.
    least = (ending_s - connected_s) + (leaving_s - seen_s)
    most = (ended_s - before_connect_s) + (gone_s - guest_connecting_s)
    assert Decimal(str(least / 60)) - Decimal("0.005") <= minutes
    assert minutes <= Decimal(str(most / 60)) + Decimal("0.005")
    assert leaving_s - seen_s >= 3.0  # both the host and the guest counted
    # The cost is the exact minutes (shown rounded to 0.01) at 5 pence, to the penny.
    assert abs(Decimal(costs["participantCost"]) - minutes * Decimal("0.05")) <= Decimal("0.005")
    assert dict(summary_lines(summary))["Infrastructure cost"].startswith("£")
