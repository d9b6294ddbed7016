"""Scripted webhooks shaped as livekit-server 1.13.5 sends them, and a backend service with one
live stream to feed them to (shared by the webhook tests that choose when each event arrives)."""

from __future__ import annotations

from pathlib import Path

from livekit import api

from backend.config import BackendConfig
from backend.service import LiveKitBackendService, open_store
from backend.store import Appointment, LiveStream

T0_MS = 1_790_000_000_000
MINUTE_MS = 60_000
ROOM = "appointment-presence-1"


def scripted_event(
    name: str, at_ms: int, identity: str, track_sid: str = "", session: str = "1"
) -> api.WebhookEvent:
    # As the server builds them: a joined event carries the full participant; track events a
    # minimal one (identity and sid only) and the track. Each session of an identity has its
    # own participant sid.
    track = api.TrackInfo(sid=track_sid) if track_sid else None
    sid = f"PA_{identity}_{session}"
    return api.WebhookEvent(
        event=name,
        id=f"EV_{name}_{sid}_{track_sid}_{at_ms}",
        created_at=at_ms // 1000,
        room=api.Room(name=ROOM),
        participant=api.ParticipantInfo(identity=identity, sid=sid, joined_at_ms=at_ms),
        track=track,
    )


def presence_service(tmp_path: Path) -> LiveKitBackendService:
    config = BackendConfig("ws://127.0.0.1:1", "k", "s" * 32, tmp_path / "db.sqlite3")
    store = open_store(config)
    store.add_appointment(Appointment("presence-1", "host-1"))
    store.save_stream(LiveStream(ROOM, "presence-1", start_time_ms=T0_MS))
    return LiveKitBackendService(config, store)


def presence_stream(svc: LiveKitBackendService) -> LiveStream:
    found = svc.store.get_stream(ROOM)
    assert found is not None
    return found
