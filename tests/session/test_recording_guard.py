"""The recording continuity guard against the real livekit-server and the Egress stand-in: the
cloud recording's egress dies mid-show (or stops writing while it still reports ACTIVE), the
studio flags it within 10 s, starts a new egress (the first replacement stalls in "starting"
and is replaced in turn), the local safety copy records on without a break, and the summary
lists the gap."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import av
import pytest
from livekit import api

from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.state import ProblemCode
from desktop.session.studio import RecordingPlace, Studio
from spaces_contract.recording import RecordingState
from tests.fixtures.egress import LiveKitWithEgress, livekit_mode_studio
from tests.participants import wait_for

FLAG_WITHIN_S = 10.0
HEALTHY_FOR_S = 30.0


def probe(path: Path) -> dict[str, object]:
    """ffprobe's view of a media file (format and streams)."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def video_times_s(path: Path) -> list[float]:
    """Presentation times of every video packet in a recording, in decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        base = float(stream.time_base or 0)
        return [
            float(packet.pts) * base
            for packet in container.demux(stream)
            if packet.pts is not None and packet.size
        ]


async def test_a_dead_cloud_recording_is_flagged_replaced_and_listed_as_a_gap(
    real_livekit: LiveKitWithEgress,
    unique_room: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, secrets = livekit_mode_studio(
        real_livekit, unique_room, tmp_path, monkeypatch, preset="360p30"
    )
    room_name = settings.room_name
    settings.recording_folder = str(tmp_path / "local")
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(settings, secrets)
    studio.use_devices(camera, mic)
    try:
        await studio.connect()
        assert studio.backend is not None
        backend = studio.backend
        local = await studio.start_recording(place=RecordingPlace.BOTH)
        assert local is not None
        guard = studio.guard
        assert guard is not None and guard.armed

        async def recording_state() -> tuple[str, RecordingState]:
            status = await backend.get_broadcast_status(room_name)
            return status.recording.egress_id or "", status.recording.status

        first = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            first, state = await recording_state()
            if state is RecordingState.ACTIVE:
                break
            await asyncio.sleep(0.5)
        assert first and state is RecordingState.ACTIVE
        await wait_for(lambda: bool(local.exists() and local.stat().st_size > 20_000), 20)

        # The egress worker dies mid-show, and the first replacement hangs in "starting" (no
        # worker takes it): the guard gives it 6 s, stops it and starts another.
        guard.start_timeout_s = 6.0
        await real_livekit.egress.stall_next_start(1)
        failed_at_ms = int(time.time() * 1000)
        failed_at_s = time.monotonic()
        await real_livekit.egress.fail_egress(first, "worker crashed")
        store = studio.store

        def flagged() -> bool:
            return any(
                p.code is ProblemCode.CLOUD_RECORDING_INTERRUPTED for p in store.state.problems
            )

        await wait_for(flagged, FLAG_WITHIN_S + 5)
        assert time.monotonic() - failed_at_s <= FLAG_WITHIN_S
        # A new egress takes over; the gap closes and the notice goes.
        await wait_for(
            lambda: bool(store.state.recording_gaps and store.state.recording_gaps[-1].end_ms),
            50,
        )
        assert not flagged()
        assert len(guard.egress_ids) == 3 and guard.egress_ids[0] == first
        third, state = await recording_state()
        assert third == guard.egress_ids[2] != first and state is RecordingState.ACTIVE
        egress_api = real_livekit.egress.api()
        try:
            listed = await egress_api.egress.list_egress(
                api.ListEgressRequest(egress_id=guard.egress_ids[1])
            )
        finally:
            await egress_api.aclose()
        stalled = listed.items[0]
        assert stalled.status == api.EgressStatus.EGRESS_COMPLETE and not stalled.file_results
        size_at_restart = local.stat().st_size
        await wait_for(lambda: local.stat().st_size > size_at_restart + 10_000, 20)
        await studio.stop_recording()
        stopped_at_s = time.monotonic()
        summary = await studio.end_stream()
    finally:
        await real_livekit.egress.stall_next_start(0)
        await studio.aclose()
        camera.stop()
        mic.stop()

    # The summary lists the gap: it starts before the failure and ends after it.
    assert len(summary.recording_gaps) == 1
    gap = summary.recording_gaps[0]
    assert gap.start_ms <= failed_at_ms < gap.end_ms
    assert 6 < gap.duration_s < 50
    # One local copy (no second file), recorded through the failure without a break.
    assert [p for p in summary.recordings if p.endswith(".mp4") and "/" in p] == [str(local)]
    times = video_times_s(local)
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert times == sorted(times)
    # No restart (the clock never goes back, no second file) and no hole anywhere near the
    # cloud's gap: a starved 2-core machine can delay a picture, not lose seconds.
    assert max(steps) < min(1.5, gap.duration_s), f"the local copy has a {max(steps):.2f} s hole"
    recorded_s = times[-1] - times[0]
    assert recorded_s >= (stopped_at_s - failed_at_s) - 1.0
    # Both cloud recordings exist: the one that died kept what it wrote, the new one is whole.
    files = sorted((real_livekit.egress.output_dir / "recordings").glob(f"{room_name}-*"))
    assert len(files) == 2 and all(f.stat().st_size > 5_000 for f in files)


async def test_an_active_recording_that_stops_writing_is_flagged_replaced_and_listed(
    real_livekit: LiveKitWithEgress,
    unique_room: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, secrets = livekit_mode_studio(
        real_livekit, unique_room, tmp_path, monkeypatch, preset="360p30",
        recording_quality="low",
    )  # fmt: skip
    # The studio's backend reads the progress segments where the egress writes them.
    monkeypatch.setenv(
        "BROADCASTER_RECORDING_READ_DIR", str(real_livekit.egress.output_dir / "recordings")
    )
    room_name = settings.room_name
    settings.recording_folder = str(tmp_path / "local")
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(settings, secrets)
    studio.use_devices(camera, mic)
    store = studio.store

    def flagged() -> bool:
        return any(p.code is ProblemCode.CLOUD_RECORDING_INTERRUPTED for p in store.state.problems)

    try:
        await studio.connect()
        assert studio.backend is not None
        backend = studio.backend
        local = await studio.start_recording(place=RecordingPlace.BOTH)
        assert local is not None
        guard = studio.guard
        assert guard is not None and guard.armed

        async def progress() -> tuple[str, RecordingState, int | None]:
            recording = (await backend.get_broadcast_status(room_name)).recording
            return recording.egress_id or "", recording.status, recording.progress_segments

        # The recording writes: its progress counter (segments so far) is reported and grows.
        await wait_for(lambda: guard.watching_progress, 60)
        first, state, count = await progress()
        assert state is RecordingState.ACTIVE and count is not None

        # Healthy for 30 s: never flagged, while the counter keeps growing.
        healthy_until_s = time.monotonic() + HEALTHY_FOR_S
        while time.monotonic() < healthy_until_s:
            assert not flagged(), store.state.problems
            await asyncio.sleep(0.5)
        egress_id, state, later = await progress()
        assert egress_id == first and state is RecordingState.ACTIVE
        assert later is not None and later >= count + 5
        assert not store.state.recording_gaps and guard.egress_ids == [first]

        # The writer hangs; LiveKit still says EGRESS_ACTIVE.
        await real_livekit.egress.freeze_egress(first)
        frozen_at_ms = int(time.time() * 1000)
        frozen_at_s = time.monotonic()
        egress_api = real_livekit.egress.api()
        try:
            listed = await egress_api.egress.list_egress(api.ListEgressRequest(egress_id=first))
        finally:
            await egress_api.aclose()
        assert listed.items[0].status == api.EgressStatus.EGRESS_ACTIVE
        await wait_for(flagged, FLAG_WITHIN_S + 10)
        assert time.monotonic() - frozen_at_s <= FLAG_WITHIN_S
        # A new egress takes over; the gap closes and the notice goes.
        await wait_for(
            lambda: bool(store.state.recording_gaps and store.state.recording_gaps[-1].end_ms),
            60,
        )
        assert not flagged()
        assert len(guard.egress_ids) == 2 and guard.egress_ids[0] == first
        second = guard.egress_ids[1]
        # The new one writes (its own counter grows).
        deadline = time.monotonic() + 60
        counts: list[int] = []
        while time.monotonic() < deadline and len(set(counts)) < 2:
            egress_id, state, count = await progress()
            assert egress_id == second and state is RecordingState.ACTIVE
            if count is not None:
                counts.append(count)
            await asyncio.sleep(0.5)
        assert len(set(counts)) >= 2, counts
        size_at_restart = local.stat().st_size
        await wait_for(lambda: local.stat().st_size > size_at_restart + 10_000, 20)
        await studio.stop_recording()
        stopped_at_s = time.monotonic()
        summary = await studio.end_stream()
    finally:
        await studio.aclose()
        camera.stop()
        mic.stop()

    # The summary lists the one gap: from before the freeze to the new recording.
    assert len(summary.recording_gaps) == 1
    gap = summary.recording_gaps[0]
    assert gap.start_ms <= frozen_at_ms < gap.end_ms
    assert 0 < gap.duration_s < 40
    # The local copy recorded through the stall without a break.
    assert [p for p in summary.recordings if p.endswith(".mp4") and "/" in p] == [str(local)]
    times = video_times_s(local)
    steps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert times == sorted(times)
    assert max(steps) < min(1.5, gap.duration_s), f"the local copy has a {max(steps):.2f} s hole"
    assert times[-1] - times[0] >= (stopped_at_s - frozen_at_s) - 1.0
    # Two cloud files: the stalled one kept what it wrote before the freeze, the new one plays.
    recordings = real_livekit.egress.output_dir / "recordings"
    files = sorted(recordings.glob(f"{room_name}-*.mp4"))
    assert len(files) == 2
    new_name = next(p for p in summary.recordings if "/" not in p)
    probed = probe(recordings / new_name)
    streams = probed["streams"]
    assert isinstance(streams, list)
    assert {s["codec_type"] for s in streams} == {"video", "audio"}
    format_ = probed["format"]
    assert isinstance(format_, dict) and float(format_["duration"]) > 2
    # The progress segments were scratch: gone with their recordings, and not billed as storage
    # (the show's stored bytes are the two files'; storedGb is shown to 1 kB).
    assert not list(recordings.glob(f"{room_name}-*.progress"))
    stored = Decimal(str(summary.costs["storedGb"])) * Decimal(10**9)
    assert abs(stored - sum(f.stat().st_size for f in files)) <= 1000
