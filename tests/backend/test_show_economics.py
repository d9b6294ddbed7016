"""A scripted show replayed through the backend's webhook handler: joins, leaves, a recording and
HLS segments of known size, a live output of known length; the figures checked to the cent.

The webhooks are the protobuf messages LiveKit sends (built here with the times of the script),
applied by the same handler the HTTP route calls; the real server's webhooks are exercised in
``test_hls_and_costs.py``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from livekit import api

from backend.config import BackendConfig, rates_from_env
from backend.service import LiveKitBackendService, open_store
from backend.store import Appointment, LiveStream
from backend.usage import economics_of
from spaces_contract.money import Rates, Usage, economics

T0_MS = 1_790_000_000_000
MINUTE_MS = 60_000
ROOM = "appointment-show-1"


def _participant(identity: str, joined_ms: int = 0, hidden: bool = False) -> api.ParticipantInfo:
    kind = api.ParticipantInfo.Kind.EGRESS if hidden else api.ParticipantInfo.Kind.STANDARD
    return api.ParticipantInfo(identity=identity, joined_at_ms=joined_ms, kind=kind)


def _event(name: str, at_ms: int, **fields: object) -> api.WebhookEvent:
    return api.WebhookEvent(
        event=name, id=f"EV_{name}_{at_ms}", created_at=at_ms // 1000,
        room=api.Room(name=ROOM), **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def _egress(egress_id: str, started_ms: int, ended_ms: int, **results: object) -> api.EgressInfo:
    return api.EgressInfo(
        egress_id=egress_id, room_name=ROOM, status=api.EgressStatus.EGRESS_COMPLETE,
        started_at=started_ms * 1_000_000, ended_at=ended_ms * 1_000_000,
        **results,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_a_scripted_show_costs_and_earns_exactly_what_the_rules_say(tmp_path: Path) -> None:
    config = BackendConfig("ws://127.0.0.1:1", "k", "s" * 32, tmp_path / "db.sqlite3")
    store = open_store(config)
    svc = LiveKitBackendService(config, store)
    store.add_appointment(Appointment("show-1", "host-1", base_price=50.0))
    stream = LiveStream(ROOM, "show-1", start_time_ms=T0_MS)
    stream.recording = {"egressId": "EG_rec"}
    stream.rtmp_egress_id = "EG_live"
    stream.hls = {"egressId": "EG_hls"}
    store.save_stream(stream)
    script = [
        _event("participant_joined", T0_MS, participant=_participant("host-1", T0_MS)),
        _event("participant_joined", T0_MS + MINUTE_MS,
               participant=_participant("guest-a", T0_MS + MINUTE_MS)),
        # The recorder joins and leaves too: hidden participants cost nothing here.
        _event("participant_joined", T0_MS + 2 * MINUTE_MS,
               participant=_participant("EG_rec", T0_MS + 2 * MINUTE_MS, hidden=True)),
        _event("participant_joined", T0_MS + 5 * MINUTE_MS,
               participant=_participant("guest-b", T0_MS + 5 * MINUTE_MS)),
        _event("participant_left", T0_MS + 20 * MINUTE_MS, participant=_participant("guest-a")),
        # A repeated delivery of the same join does not restart guest-b's clock.
        _event("participant_joined", T0_MS + 30 * MINUTE_MS,
               participant=_participant("guest-b", T0_MS + 5 * MINUTE_MS)),
        _event("egress_ended", T0_MS + 68 * MINUTE_MS,
               egress_info=_egress("EG_live", T0_MS + 2 * MINUTE_MS, T0_MS + 68 * MINUTE_MS)),
        _event("egress_ended", T0_MS + 69 * MINUTE_MS, egress_info=_egress(
            "EG_rec", T0_MS + 2 * MINUTE_MS, T0_MS + 69 * MINUTE_MS,
            file_results=[api.FileInfo(filename="show.mp4", size=1_500_000_000)])),
        _event("egress_ended", T0_MS + 69 * MINUTE_MS, egress_info=_egress(
            "EG_hls", T0_MS + 3 * MINUTE_MS, T0_MS + 67 * MINUTE_MS,
            segment_results=[api.SegmentsInfo(size=500_000_000, segment_count=640)])),
        _event("participant_left", T0_MS + 65 * MINUTE_MS, participant=_participant("guest-b")),
        _event("participant_left", T0_MS + 70 * MINUTE_MS, participant=_participant("host-1")),
    ]  # fmt: skip
    try:
        for event in script:
            await svc.handle_webhook(event)
        recorded = store.get_stream(ROOM)
        assert recorded is not None
        figures = economics_of(recorded, 50.0, Rates(), now_ms=T0_MS + 90 * MINUTE_MS)
        # host 70 + guest-a 19 + guest-b 60 = 149 participant-minutes × $0.05 = $7.45
        assert figures.participant_minutes == Decimal(149)
        assert figures.participant_cost == Decimal("7.45")
        # 1.5 GB recording + 0.5 GB of segments stored ($0.02/GB), and sent out ($0.10/GB)
        assert figures.storage_cost == Decimal("0.04")
        assert figures.egress_cost == Decimal("0.20")
        assert figures.infrastructure_cost == Decimal("7.69")
        # Live 2 → 68 min (HLS 3 → 67 inside it): 66 min on air, over an hour: bonus 1.2.
        # Peak 3 people: multiplier 0.3; $50 × 0.3 × 1.2 = $18.00; 20 % is $3.60.
        assert figures.revenue_multiplier == Decimal("0.3")
        assert figures.duration_bonus == Decimal("1.2")
        assert figures.total_revenue == Decimal("18.00")
        assert figures.platform_commission == Decimal("3.60")
        assert figures.creator_revenue == Decimal("14.40")
        assert figures.net == Decimal("-4.09")
        assert figures.as_json()["net"] == "-4.09" and figures.as_json()["currency"] == "USD"
    finally:
        await svc.aclose()
        store.close()


def test_the_guides_example_and_configured_rates() -> None:
    # The guide: 100 participants × 60 minutes = 6000 participant-minutes → $300.
    figures = economics(Usage(participant_ms=6000 * MINUTE_MS, participants=100,
                              live_ms=60 * MINUTE_MS), Decimal(5000) / 3, Rates())  # fmt: skip
    assert figures.participant_cost == Decimal("300.00")
    assert figures.duration_bonus == Decimal(1)  # exactly 60 minutes is not "over 60"
    assert figures.total_revenue == Decimal("5000.00")
    assert figures.platform_commission == Decimal("1000.00")
    assert figures.net == Decimal("700.00")
    rates = rates_from_env(
        {
            "BROADCASTER_RATE_PARTICIPANT_MINUTE": "0.004",
            "BROADCASTER_COMMISSION_RATE": "0.15",
            "BROADCASTER_CURRENCY": "eur",
        }
    )
    assert rates == Rates(participant_minute=Decimal("0.004"), commission_rate=Decimal("0.15"),
                          currency="EUR")  # fmt: skip
    # Half a cent rounds up, once, at the end: 1 participant-minute at $0.005.
    half = economics(Usage(participant_ms=MINUTE_MS), Decimal(0),
                     Rates(participant_minute=Decimal("0.005")))  # fmt: skip
    assert half.participant_cost == Decimal("0.01")
    with pytest.raises(ValueError, match="BROADCASTER_RATE_STORAGE_GB"):
        rates_from_env({"BROADCASTER_RATE_STORAGE_GB": "two cents"})
    with pytest.raises(ValueError, match="non-negative"):
        rates_from_env({"BROADCASTER_RATE_EGRESS_GB": "-1"})


def test_the_commission_rate_reads_alike_in_the_economics_and_the_revenue() -> None:
    """The outside probe found ``revenue.commissionRate`` 20.0 beside ``economics``' "0.20":
    one answer, two units. Both are now a percentage (the guide's 20.0)."""
    from backend.rooms import COMMISSION_RATE

    figures = economics(Usage(participant_ms=MINUTE_MS), Decimal(100), Rates())
    assert figures.as_json()["commissionRate"] == "20.00"
    assert Decimal(figures.as_json()["commissionRate"]) == Decimal(str(COMMISSION_RATE * 100))
    custom = economics(Usage(), Decimal(100), Rates(commission_rate=Decimal("0.15")))
    assert custom.as_json()["commissionRate"] == "15.00"
