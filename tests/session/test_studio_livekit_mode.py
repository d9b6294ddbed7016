"""The studio's "LiveKit server" mode runs the reference backend in-process (``LocalBackend``):
the host's token comes from the backend (short-lived, no roomAdmin), moderation and cloud
recording work as on a platform, against the real livekit-server and the Egress stand-in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import jwt
import pytest
from livekit import rtc

from desktop.media.outputs.output import OutputPhase
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.backend_client import LocalBackend
from desktop.session.state import Source
from desktop.session.studio import Studio
from tests.fixtures.egress import CONNECT_TIMEOUT_S, LiveKitWithEgress, livekit_mode_studio
from tests.participants import Feeder, wait_for


async def test_livekit_mode_moderates_and_records_through_the_local_backend(
    real_livekit: LiveKitWithEgress,
    unique_room: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, secrets = livekit_mode_studio(real_livekit, unique_room, tmp_path, monkeypatch)
    room_name = settings.room_name
    (tmp_path / "local").mkdir()
    settings.recording_folder = str(tmp_path / "local")
    camera, mic = SyntheticCamera(320, 180, 15), SyntheticMicrophone()
    camera.start()
    mic.start()
    studio = Studio(settings, secrets)
    studio.use_devices(camera, mic)
    feeder = Feeder()
    guest = rtc.Room()
    try:
        await studio.connect()
        assert isinstance(studio.backend, LocalBackend)
        assert studio.store.state.room_name == room_name
        claims = jwt.decode(studio.room_token, options={"verify_signature": False})
        assert not claims["video"].get("roomAdmin")  # the UI no longer mints an 8 h admin token
        assert claims["exp"] - claims["nbf"] <= 600

        joined = await studio.backend.join_room(room_name, "ann", "Ann", can_publish=True)
        await guest.connect(
            joined.url, joined.token, rtc.RoomOptions(connect_timeout=CONNECT_TIMEOUT_S)
        )
        source = rtc.AudioSource(48_000, 1, queue_size_ms=100)
        feeder.audio(source)
        await guest.local_participant.publish_track(
            rtc.LocalAudioTrack.create_audio_track("mic", source),
            rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
        )
        state = studio.store
        # Moderation asks the server for her microphone: wait until the studio sees it, as a
        # host sees it before clicking (right after publish_track returns, the server may not
        # list the track yet, and the backend answers "ann publishes no microphone").
        await wait_for(
            lambda: (
                (ann := state.state.remotes.get("ann")) is not None
                and ann.track(Source.MICROPHONE) is not None
            ),
            20,
        )
        muted = asyncio.Event()
        guest.on("track_muted", lambda *_: muted.set())
        await studio.mute_guest("ann")
        await asyncio.wait_for(muted.wait(), 10)

        await studio.start_recording(cloud=True)
        await wait_for(lambda: state.state.is_recording, 20)
        await asyncio.sleep(2)
        await studio.stop_recording()
        await wait_for(
            lambda: any(
                o.name == "recording" and o.phase is OutputPhase.FINISHED
                for o in state.state.outputs
            ),
            20,
        )
        names = [o.detail for o in state.state.outputs if o.name == "recording"]
        recorded = real_livekit.egress.output_dir / "recordings" / names[0]
        assert recorded.stat().st_size > 5_000

        gone = asyncio.Event()
        guest.on("disconnected", lambda *_: gone.set())
        await studio.remove_guest("ann")
        await asyncio.wait_for(gone.wait(), 10)
        summary = await studio.end_stream()
        assert summary.peak_participants >= 2
    finally:
        await feeder.aclose()
        await guest.disconnect()
        await studio.aclose()
