"""Stage control against the real livekit-server: ask-to-unmute accepted by an SDK guest, the
moderation log exported as CSV, and each guest's connection-quality history from the SFU."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest
from livekit import rtc

from desktop.session import stage_control
from desktop.session.stage_control import quality_levels
from desktop.session.state import AuditEntry, Quality, QualitySample, Source
from desktop.session.studio import Studio
from tests.fixtures.egress import CONNECT_TIMEOUT_S, LiveKitWithEgress, livekit_mode_studio
from tests.participants import Feeder, accept_unmute_requests, wait_for


def test_quality_levels_keep_the_worst_grade_of_each_stretch() -> None:
    samples = (
        QualitySample(0, Quality.EXCELLENT),
        QualitySample(5_000, Quality.POOR),
        QualitySample(5_500, Quality.GOOD),
        QualitySample(9_000, Quality.LOST),
    )
    levels = quality_levels(samples, until_ms=12_000, buckets=4)
    # 0-3 s excellent; 3-6 s poor came and went (worst wins); 6-9 s good; 9-12 s lost.
    assert levels == [Quality.EXCELLENT, Quality.POOR, Quality.GOOD, Quality.LOST]
    assert quality_levels((), until_ms=1) == []


def test_payloads_round_trip_and_the_csv_never_carries_a_formula() -> None:
    request = stage_control.new_request("host-1", "Ada")
    parsed = stage_control.UnmuteRequest.from_json(request.to_json())
    assert parsed == request and parsed.message == "Ada asks you to unmute your microphone"
    assert stage_control.UnmuteRequest.from_json(b'{"type": "chat"}') is None
    assert stage_control.UnmuteAnswer.from_json(b"not json") is None
    answer = stage_control.UnmuteAnswer.from_json(
        b'{"type": "unmute_answer", "requestId": "UR_1", "accepted": "yes"}'
    )
    assert answer == stage_control.UnmuteAnswer("UR_1", False)  # only true is true
    entry = AuditEntry(0, "ann", "unmute-declined", "ann", '=HYPERLINK("x")')
    rows = list(csv.reader(stage_control.audit_csv([entry]).splitlines()))
    assert rows[0] == list(stage_control.CSV_COLUMNS)
    assert rows[1] == ["1970-01-01T00:00:00.000Z", "ann", "unmute-declined", "ann",
                       "'=HYPERLINK(\"x\")"]  # fmt: skip


async def test_ask_to_unmute_log_csv_and_quality_history(
    real_livekit: LiveKitWithEgress,
    unique_room: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, secrets = livekit_mode_studio(real_livekit, unique_room, tmp_path, monkeypatch)
    room_name = settings.room_name
    studio = Studio(settings, secrets)
    feeder = Feeder()
    guest = rtc.Room()
    try:
        await studio.connect()
        assert studio.backend is not None
        joined = await studio.backend.join_room(room_name, "ann", "Ann", can_publish=True)
        await guest.connect(
            joined.url, joined.token, rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S)
        )
        requests = accept_unmute_requests(guest)
        source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.audio(source)
        track = rtc.LocalAudioTrack.create_audio_track("mic", source)
        await guest.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        state = studio.store

        def mic_muted() -> bool | None:
            guest_state = state.state.remotes.get("ann")
            mic = guest_state.track(Source.MICROPHONE) if guest_state else None
            return None if mic is None else mic.muted

        await wait_for(lambda: mic_muted() is False, 20)
        # The host mutes Ann (moderation), then asks her to unmute: her client accepts, and the
        # host sees her microphone live again, as LiveKit reports it.
        await studio.mute_guest("ann")
        await wait_for(lambda: mic_muted() is True, 10)
        await studio.ask_to_unmute("ann")
        await wait_for(lambda: mic_muted() is False, 10)
        assert len(requests) == 1
        assert requests[0]["source"] == "microphone" and requests[0]["from"]["identity"]
        await wait_for(
            lambda: any(e.action == "unmute-accepted" for e in state.state.moderation_log), 10
        )

        # The SFU grades Ann's connection; the studio keeps the history.
        await wait_for(
            lambda: any(
                s.quality is not Quality.UNKNOWN for s in state.state.quality_history.get("ann", ())
            ),
            30,
        )

        exported = studio.export_moderation_log(tmp_path / "moderation.csv")
        with exported.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert [(r["action"], r["target"]) for r in rows] == [
            ("mute", "ann"),
            ("ask-to-unmute", "ann"),
            ("unmute-accepted", "ann"),
        ]
        host = state.state.local.identity if state.state.local else ""
        assert rows[0]["actor"] == host and rows[0]["detail"] == "microphone"
        assert rows[2]["actor"] == "ann"
        assert all(r["time_utc"].endswith("Z") for r in rows)
        assert rows[0]["time_utc"] <= rows[1]["time_utc"] <= rows[2]["time_utc"]

        summary = await studio.end_stream()
        assert summary.quality_history["ann"][-1].quality in (
            Quality.EXCELLENT, Quality.GOOD, Quality.POOR, Quality.LOST,
        )  # fmt: skip
        levels = quality_levels(summary.quality_history["ann"], summary.ended_ms)
        assert levels and levels[-1] is not Quality.UNKNOWN
    finally:
        await feeder.aclose()
        await guest.disconnect()
        await studio.aclose()
    await asyncio.sleep(0)
