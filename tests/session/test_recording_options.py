"""Recording options chosen in the studio reach the cloud recording: the studio ("LiveKit server"
mode, its in-process backend) asks for WebM, grid, low quality; the Egress stand-in recording the
real room writes exactly that (ffprobe: container, codecs, the low preset's size); the bytes it
stored reach the studio's cost figures in the end summary."""

from __future__ import annotations

import asyncio
import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import keyring.backends.fail
import pytest

from desktop.media.outputs.output import OutputPhase
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.settings import ConnectMode, Secrets, Settings
from desktop.session.studio import RecordingPlace, Studio
from tests.fixtures.egress import LiveKitWithEgress
from tests.participants import wait_for


def _probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "stream=codec_type,codec_name,width,height:format=format_name,duration",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    result: dict[str, Any] = json.loads(out)
    return result


async def test_the_studios_recording_choices_reach_the_cloud_recording(
    real_livekit: LiveKitWithEgress,
    unique_room: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("LIVEKIT_EGRESS_URL", real_livekit.egress.url)
    livekit = real_livekit.livekit
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    secrets.set("livekit-api-secret", livekit.api_secret)
    settings = Settings(
        connect_mode=ConnectMode.LIVEKIT, livekit_url=livekit.ws_url,
        livekit_api_key=livekit.api_key,
        room_name=unique_room.replace("[", "-").replace("]", ""), preset="custom",
        custom_width=320, custom_height=180, custom_fps=15,
        recording_output="webm", recording_layout="grid", recording_quality="low",
    )  # fmt: skip
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(settings, secrets)
    studio.use_devices(camera, mic)
    state = studio.store
    try:
        await studio.connect()
        await studio.start_recording(place=RecordingPlace.CLOUD)
        await wait_for(lambda: state.state.is_recording, 20)
        await asyncio.sleep(3)
        await studio.stop_recording()
        await wait_for(
            lambda: any(o.name == "recording" and o.phase is OutputPhase.FINISHED
                        for o in state.state.outputs),
            60,
        )  # fmt: skip
        summary = await studio.end_stream()
    finally:
        await studio.aclose()
        camera.stop()
        mic.stop()
    names = [o.detail for o in state.state.outputs if o.name == "recording"]
    assert names and names[0].endswith(".webm")
    recorded = real_livekit.egress.output_dir / "recordings" / names[0]
    probed = _probe(recorded)
    assert "webm" in probed["format"]["format_name"]
    codecs = {s["codec_type"]: s for s in probed["streams"]}
    assert codecs["video"]["codec_name"] == "vp8" and codecs["audio"]["codec_name"] == "opus"
    # "low" is LiveKit's H264_720P_30 preset: 1280×720.
    assert (codecs["video"]["width"], codecs["video"]["height"]) == (1280, 720)
    # It plays (how long depends on how far a busy machine let the encoder get).
    assert float(probed["format"]["duration"]) > 0
    # The bytes the egress stored are in the show's figures, and priced at $0.02 per GB.
    stored = Decimal(summary.costs["storedGb"]) * Decimal(10**9)
    assert abs(stored - recorded.stat().st_size) <= 500  # storedGb is shown to 1 kB
    assert summary.costs["storageCost"] == str(
        (Decimal(recorded.stat().st_size) / Decimal(10**9) * Decimal("0.02")).quantize(
            Decimal("0.01")
        )
    )
