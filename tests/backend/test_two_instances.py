"""Two backend instances, one PostgreSQL database, one LiveKit (issue 28).

Each instance is its own process (``python -m backend serve``) on the session's PostgreSQL
(``tests/fixtures/postgres.py``), the real ``livekit-server`` and the Egress stand-in. Starts
spread over both give one egress; a webhook delivered to both is counted once; ``kill -9`` of
one under load loses no acknowledged row while the other answers every request; a stream
created on one is ended on the other. Also: the store's migrations are versioned for both
stores, and the room lock holds across stores opened apart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest
from google.protobuf import json_format
from livekit import api

from backend.pgstore import PG_MIGRATIONS, PostgresStore
from backend.service import open_store
from backend.store import MIGRATIONS, SecretBox, SqliteStore
from tests.fixtures.backend import (
    BackendProcess,
    BackendServer,
    backend_config,
    instance_env,
    seed,
    start_backend_processes,
)
from tests.fixtures.egress import LiveKitWithEgress
from tests.fixtures.rtmp import RtmpServer

CLIENTS = 20


@dataclass
class Pair:
    """Two instances (as callers) on one database, and what they share."""

    a: BackendServer
    b: BackendServer
    processes: tuple[BackendProcess, BackendProcess]
    database_url: str
    livekit: LiveKitWithEgress


@pytest.fixture
def two_instances(
    real_livekit: LiveKitWithEgress,
    rtmp_server: RtmpServer,
    postgres_database: str,
    tmp_path: Path,
) -> Iterator[Pair]:
    config = backend_config(real_livekit, rtmp_server, tmp_path, database_url=postgres_database)
    appointment_id, host, viewer, other = seed(config)
    env = instance_env(config)
    processes = start_backend_processes(env, [tmp_path / "instance-a.log", tmp_path / "b.log"])
    try:
        servers = [
            BackendServer(config, p.url, appointment_id, host, viewer, other) for p in processes
        ]
        yield Pair(
            servers[0], servers[1], (processes[0], processes[1]), postgres_database, real_livekit
        )
    finally:
        for process in processes:
            process.stop()


async def _active(pair: Pair, room: str) -> list[api.EgressInfo]:
    lkapi = pair.livekit.egress.api()
    try:
        listed = await lkapi.egress.list_egress(api.ListEgressRequest(room_name=room, active=True))
    finally:
        await lkapi.aclose()
    return list(listed.items)


def _signed(pair: Pair, event: api.WebhookEvent) -> tuple[str, dict[str, str]]:
    body = json_format.MessageToJson(event)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    key, secret = pair.livekit.livekit.api_key, pair.livekit.livekit.api_secret
    token = api.AccessToken(key, secret).with_sha256(digest).to_jwt()
    return body, {"Authorization": token, "Content-Type": "application/webhook+json"}


def _rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as connection:
        return list(connection.execute(sql, params).fetchall())


async def test_twenty_starts_over_two_instances_give_one_egress(two_instances: Pair) -> None:
    pair = two_instances
    status, body = await pair.a.call("create_room", appointmentId=pair.a.appointment_id)
    assert status == 200, body
    room = body["room"]["name"]
    answers = await asyncio.gather(
        *(
            (pair.a if i % 2 else pair.b).call("start_recording", roomName=room)
            for i in range(CLIENTS)
        )
    )
    assert {code for code, _ in answers} == {200}, answers
    assert len({answer["recording"]["egressId"] for _, answer in answers}) == 1
    active = await _active(pair, room)
    assert [e.egress_id for e in active] == [answers[0][1]["recording"]["egressId"]]
    # Either instance reports the one recording.
    for server in (pair.a, pair.b):
        status, answer = await server.call("get_broadcast_status", roomName=room)
        assert status == 200 and answer["recording"]["active"] is True, answer


async def test_a_webhook_delivered_to_both_instances_is_counted_once(two_instances: Pair) -> None:
    pair = two_instances
    status, body = await pair.a.call("create_room", appointmentId=pair.a.appointment_id)
    assert status == 200, body
    room = body["room"]["name"]
    event = api.WebhookEvent(
        event="participant_joined",
        id="EV_twice_1",
        created_at=1,
        room=api.Room(name=room),
        participant=api.ParticipantInfo(identity="guest-7", sid="PA_guest_7"),
    )
    data, headers = _signed(pair, event)
    async with aiohttp.ClientSession() as session:

        async def deliver(server: BackendServer) -> dict[str, Any]:
            url = f"{server.url}/webhooks/livekit"
            async with session.post(url, data=data, headers=headers) as response:
                assert response.status == 200
                answer: dict[str, Any] = await response.json()
                return answer

        answers = await asyncio.gather(*(deliver(s) for s in (pair.a, pair.b) * 5))
    assert sum(1 for a in answers if not a.get("duplicate")) == 1, answers
    record = _rows(pair.database_url, "SELECT record::text FROM live_streams WHERE room_name = %s",
                   (room,))  # fmt: skip
    assert json.loads(record[0][0])["participants"] == ["guest-7"]


async def test_kill_9_of_one_instance_loses_no_acknowledged_row(two_instances: Pair) -> None:
    """Webhooks for one room go to both instances (each a row and a change of the room's
    record, under the room's lock) while ``a`` is killed: every acknowledged event is stored
    and applied, and every request to ``b`` is answered."""
    pair = two_instances
    status, body = await pair.a.call("create_room", appointmentId=pair.a.appointment_id)
    assert status == 200, body
    room = body["room"]["name"]
    acknowledged: list[str] = []
    b_failures: list[Any] = []
    stop = asyncio.Event()
    counter = iter(range(1_000_000))

    async def worker(session: aiohttp.ClientSession, server: BackendServer) -> None:
        while not stop.is_set():
            number = next(counter)
            identity = f"viewer-{number}"
            event = api.WebhookEvent(
                event="participant_joined",
                id=f"EV_load_{number}",
                created_at=1,
                room=api.Room(name=room),
                participant=api.ParticipantInfo(identity=identity, sid=f"PA_{number}"),
            )
            data, headers = _signed(pair, event)
            try:
                async with session.post(
                    f"{server.url}/webhooks/livekit", data=data, headers=headers
                ) as response:
                    if response.status == 200:
                        acknowledged.append(identity)
                    elif server is pair.b:
                        b_failures.append(response.status)
            except (aiohttp.ClientError, OSError) as error:
                if server is pair.b:
                    b_failures.append(repr(error))
                else:
                    await asyncio.sleep(0.05)  # a is gone: its callers see refused connections

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        workers = [
            asyncio.ensure_future(worker(session, server))
            for server in (pair.a, pair.b, pair.a, pair.b)
        ]
        while len(acknowledged) < 40:
            await asyncio.sleep(0.05)
        pair.processes[0].kill()
        killed_at = len(acknowledged)
        while len(acknowledged) < killed_at + 40:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*workers)
    assert not b_failures, b_failures
    stored = {r[0] for r in _rows(pair.database_url, "SELECT id FROM webhook_events")}
    missing = [i for i in acknowledged if f"EV_load_{i.split('-')[1]}" not in stored]
    assert not missing, missing
    status, answer = await pair.b.call("get_broadcast_status", roomName=room)
    assert status == 200, answer
    record = _rows(pair.database_url, "SELECT record::text FROM live_streams WHERE room_name = %s",
                   (room,))  # fmt: skip
    applied = set(json.loads(record[0][0])["participants"])
    assert set(acknowledged) <= applied, set(acknowledged) - applied


async def test_a_stream_created_on_one_instance_is_ended_on_the_other(
    two_instances: Pair, rtmp_server: RtmpServer
) -> None:
    pair = two_instances
    status, body = await pair.a.call("create_room", appointmentId=pair.a.appointment_id)
    assert status == 200, body
    room = body["room"]["name"]
    status, body = await pair.a.call(
        "start_rtmp", roomName=room, destinations=[rtmp_server.url("live", "two-key")]
    )
    assert status == 200, body
    status, body = await pair.a.call("start_recording", roomName=room)
    assert status == 200, body
    status, ended = await pair.b.call("end_stream", roomName=room)
    assert status == 200 and ended["stats"]["duration"] > 0, ended
    assert await _active(pair, room) == []
    status, again = await pair.a.call("end_stream", roomName=room)
    assert status == 200 and again["stats"] == ended["stats"]  # a retry on the first
    status, answer = await pair.a.call("start_recording", roomName=room)
    assert status == 409 and answer["error"] == "stream_ended", answer


# --- the stores themselves ----------------------------------------------------------------------


def test_migrations_are_versioned_for_both_stores(tmp_path: Path, postgres_database: str) -> None:
    """A database at version 1 is brought to the newest version by either store."""
    assert len(PG_MIGRATIONS) == len(MIGRATIONS) >= 2
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    old.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version=1; COMMIT;")
    old.execute("INSERT INTO credentials VALUES ('h', 'u', 'host', 0)")
    old.close()
    SqliteStore(path).close()
    new = sqlite3.connect(path)
    assert new.execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)
    assert new.execute("SELECT expires_at FROM credentials").fetchone()[0] > 0
    new.close()
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(PG_MIGRATIONS[0])
        connection.execute("CREATE TABLE schema_version (version INTEGER)")
        connection.execute("INSERT INTO schema_version VALUES (1)")
        connection.execute("INSERT INTO credentials VALUES ('h', 'u', 'host', 0)")
    PostgresStore(postgres_database, SecretBox(SecretBox.new_key())).close()
    assert _rows(postgres_database, "SELECT version FROM schema_version") == [(len(PG_MIGRATIONS),)]
    assert _rows(postgres_database, "SELECT expires_at FROM credentials")[0][0] > 0


async def test_the_room_lock_holds_across_instances(postgres_database: str) -> None:
    box = SecretBox(SecretBox.new_key())
    first, second = PostgresStore(postgres_database, box), PostgresStore(postgres_database, box)
    order: list[str] = []
    try:
        async with first.room_lock("room-1"):
            waiting = asyncio.ensure_future(_hold(second, "room-1", order))
            other = asyncio.ensure_future(_hold(second, "room-2", order))
            await other  # another room is not held up
            await asyncio.sleep(0.3)
            assert not waiting.done()
            order.append("first released")
        await waiting
        assert order == ["room-2", "first released", "room-1"]
    finally:
        first.close()
        second.close()


async def _hold(store: PostgresStore, room: str, order: list[str]) -> None:
    async with store.room_lock(room):
        order.append(room)


def test_postgres_needs_the_shared_secret_key(postgres_database: str, tmp_path: Path) -> None:
    from backend.config import BackendConfig

    config = BackendConfig(
        "ws://127.0.0.1:1", "k", "s" * 32, tmp_path / "x", database_url=postgres_database
    )
    with pytest.raises(ValueError, match="BROADCASTER_SECRET_KEY"):
        open_store(config)
