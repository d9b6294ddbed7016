"""Go Live through one set of commands: direct to nginx-rtmp, and through the backend's egress."""

from __future__ import annotations

import asyncio
from pathlib import Path

import keyring.backend
import keyring.backends.fail

from desktop.media.outputs.destinations import Destination, DestinationKind
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.output import OutputPhase
from desktop.media.outputs.program import OutputOptions
from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone
from desktop.session.backend_client import HttpBackend
from desktop.session.broadcast_monitor import BroadcastMonitor
from desktop.session.live import LiveOutputs
from desktop.session.room_session import RoomSession
from desktop.session.settings import Secrets, Settings, SettingsStore
from desktop.session.state import StateStore
from tests.fixtures.backend import BackendServer
from tests.fixtures.keyrings import FileKeyring
from tests.fixtures.rtmp import RtmpServer, ffprobe_streams, free_port
from tests.waiting import wait_for


def test_settings_persist_without_secrets_and_keys_go_to_the_keyring(tmp_path: Path) -> None:
    store = SettingsStore(tmp_path / "config")
    settings = store.load()
    assert [d.id for d in settings.destinations] == ["youtube", "twitch"]
    settings.destinations.append(
        Destination("custom-1", "Studio B", DestinationKind.CUSTOM, "rtmp://10.0.0.5/live")
    )
    settings.display_name = "Ada"
    store.save(settings)
    secrets = Secrets(FileKeyring(tmp_path / "keyring.json"))
    assert secrets.persistent
    secrets.set(Secrets.stream_key_name("youtube"), "yt-secret-key")

    again = SettingsStore(tmp_path / "config").load()
    assert again.display_name == "Ada" and again.destinations[-1].name == "Studio B"
    assert "yt-secret-key" not in store.path.read_text()
    assert Secrets(FileKeyring(tmp_path / "keyring.json")).get("stream-key:youtube") == (
        "yt-secret-key"
    )
    # A damaged file is set aside and the defaults come back.
    store.path.write_text("{not json")
    assert SettingsStore(tmp_path / "config").load() == Settings(
        destinations=again.destinations[:2]
    )
    assert store.path.with_suffix(".damaged.json").exists()


def test_no_system_keyring_keeps_secrets_for_this_run_only() -> None:
    import keyring.backends.fail

    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    assert not secrets.persistent
    secrets.set("stream-key:twitch", "tw-key")
    assert secrets.get("stream-key:twitch") == "tw-key"


async def test_direct_go_live_switch_while_live_and_end(rtmp_server: RtmpServer) -> None:
    store = StateStore()
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    secrets.set("stream-key:a", "key-a")
    secrets.set("stream-key:b", "key-b")
    a = Destination("a", "A", DestinationKind.CUSTOM, rtmp_server.url("live"))
    b = Destination("b", "B", DestinationKind.CUSTOM, rtmp_server.url("live2"), enabled=False)
    empty = Destination("yt", "YouTube", DestinationKind.YOUTUBE, rtmp_server.url("live"))
    camera, mic = SyntheticCamera(640, 360, 30), SyntheticMicrophone()
    camera.start()
    mic.start()
    live = LiveOutputs(store, secrets, EncoderSettings(640, 360, 30), OutputOptions(max_retries=1))
    live.set_sources(camera, None, mic)
    try:
        problems = await live.go_live([a, b, empty])
        assert list(problems) == ["yt"] and "stream key is empty" in problems["yt"]
        assert store.state.is_live and store.state.live_since_ms > 0

        def phase(output_id: str) -> OutputPhase | None:
            found = [s for s in store.state.direct_outputs if s.output_id == output_id]
            return found[0].phase if found else None

        await wait_for(lambda: phase("a") is OutputPhase.LIVE, 20.0)
        await live.set_enabled(b, True)
        await wait_for(lambda: phase("b") is OutputPhase.LIVE, 20.0)
        await live.set_enabled(a, False)
        assert phase("a") is OutputPhase.STOPPED and phase("b") is OutputPhase.LIVE
        await live.end()
        assert not store.state.is_live and phase("b") is OutputPhase.STOPPED
    finally:
        await live.aclose()
        camera.stop()
        mic.stop()
    for app in ("live", "live2"):
        assert {s["codec_name"] for s in ffprobe_streams(rtmp_server.recordings(app)[0])} == {
            "h264", "aac",
        }  # fmt: skip


async def test_egress_go_live_cards_follow_egress_states(
    backend_server: BackendServer, rtmp_server: RtmpServer
) -> None:
    backend = HttpBackend(backend_server.url, backend_server.host_credential)
    session = RoomSession()
    secrets = Secrets(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    secrets.set("stream-key:good", "good-key")
    secrets.set("stream-key:dead", "dead-key")
    good = Destination("good", "Good", DestinationKind.CUSTOM, rtmp_server.url("live"))
    dead_port = free_port()
    dead = Destination("dead", "Dead", DestinationKind.CUSTOM, f"rtmp://127.0.0.1:{dead_port}/x")
    # The test's own ingest servers are the only non-public hosts the backend may push to.
    assert backend_server.service is not None
    backend_server.service.allowed_hosts |= {f"127.0.0.1:{dead_port}"}
    camera = SyntheticCamera(640, 360, 30)
    camera.start()
    room = (await backend.call("create_room", appointmentId=backend_server.appointment_id))["room"]
    await session.connect(room["url"], room["token"])
    await session.publish_camera(camera)
    live = LiveOutputs(session.store, secrets, backend=backend, room_name=room["name"])
    monitor = BroadcastMonitor(backend, session.store, room["name"], interval_s=0.2)
    monitor.start()
    try:
        assert await live.go_live([good, dead]) == {}

        def phase(name: str) -> OutputPhase | None:
            found = [o for o in session.store.state.outputs if o.name == name]
            return found[0].phase if found else None

        await wait_for(
            lambda: phase("good") is OutputPhase.LIVE and phase("dead") is OutputPhase.FAILED, 30
        )
        failed = [o for o in session.store.state.outputs if o.name == "dead"][0]
        assert failed.error and "dead-key" not in failed.error
        await asyncio.sleep(2.0)
        await live.set_enabled(good, False)
        await wait_for(lambda: phase("good") is OutputPhase.STOPPED, 15)
        await live.end()
        assert not session.store.state.is_live
    finally:
        await monitor.aclose()
        await live.aclose()
        await session.aclose()
        await backend.aclose()
        camera.stop()
    assert rtmp_server.wait_for_recording("live", min_bytes=10_000)
