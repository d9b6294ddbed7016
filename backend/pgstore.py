"""The PostgreSQL implementation of :class:`backend.store.Store`, for several instances.

Several backend instances behind a load balancer share one PostgreSQL database. Everything an
instance knows lives in it (stream keys sealed with the shared ``BROADCASTER_SECRET_KEY``), and
the per-room serialisation of output changes is a PostgreSQL session advisory lock keyed by the
room, so two instances never start two egresses for one room. An instance that dies holding a
lock loses its connection, and PostgreSQL releases the lock with it.

Schema changes are versioned migrations (:data:`PG_MIGRATIONS`, in step with SQLite's
:data:`backend.store.MIGRATIONS`), applied by the first instance that starts, under a
transaction-level advisory lock so instances starting together do not both migrate.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from backend.store import (
    DEFAULT_CREDENTIAL_TTL_S,
    MIGRATIONS,
    Appointment,
    Credential,
    LiveStream,
    Role,
    SecretBox,
    hash_token,
)
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    import psycopg
else:
    psycopg = lazy_module("psycopg")

PG_MIGRATIONS = [
    """
    CREATE TABLE appointments (
        id TEXT PRIMARY KEY, host_user_id TEXT NOT NULL, tenant_id TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '', base_price DOUBLE PRECISION NOT NULL DEFAULT 0);
    CREATE TABLE live_streams (
        room_name TEXT PRIMARY KEY, appointment_id TEXT NOT NULL REFERENCES appointments(id),
        record JSONB NOT NULL);
    CREATE TABLE credentials (
        token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, role TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL);
    CREATE TABLE webhook_events (id TEXT PRIMARY KEY, received_at DOUBLE PRECISION NOT NULL);
    """,
    f"""
    ALTER TABLE credentials ADD COLUMN expires_at DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE credentials ADD COLUMN revoked_at DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE credentials ADD COLUMN appointment_id TEXT NOT NULL DEFAULT '';
    UPDATE credentials SET expires_at = created_at + {DEFAULT_CREDENTIAL_TTL_S};
    """,
]
"""Version N of the PostgreSQL schema is the first N scripts (as SQLite's ``MIGRATIONS``)."""
assert len(PG_MIGRATIONS) == len(MIGRATIONS), "a migration must be written for both stores"

MIGRATION_LOCK_KEY = 0x5B_B0_0001
"""The advisory lock that serialises migrations."""
IDLE_LOCK_CONNECTIONS = 8
"""Room-lock connections kept open between uses."""


def room_lock_key(room_name: str) -> int:
    """A signed 64-bit advisory-lock key for a room (the first 8 bytes of its SHA-256)."""
    return int.from_bytes(hashlib.sha256(room_name.encode()).digest()[:8], "big", signed=True)


class PostgresStore:
    """The PostgreSQL implementation of :class:`backend.store.Store`.

    Args:
        url: A libpq connection URL (``postgresql://user:password@host:5432/database``).
        secret_box: Seals stream keys at rest; required, since every instance must read what
            another one stored.

    Raises:
        ValueError: No secret box (the words name the setting).
        psycopg.OperationalError: The database cannot be reached.
    """

    def __init__(self, url: str, secret_box: SecretBox | None) -> None:
        if secret_box is None:
            raise ValueError(
                "the PostgreSQL store needs BROADCASTER_SECRET_KEY (the same key on every "
                "instance): stream keys must be readable by whichever instance stops them"
            )
        self._url = url
        self._box = secret_box
        self._lock = threading.Lock()
        self._db = self._connect()
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._migrate()

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self._url, autocommit=True, connect_timeout=10)

    def _migrate(self) -> None:
        with self._lock, self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            row = self._db.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if row is None:
                self._db.execute("INSERT INTO schema_version VALUES (0)")
            for number, script in enumerate(PG_MIGRATIONS[version:], start=version + 1):
                self._db.execute(script)
                self._db.execute("UPDATE schema_version SET version = %s", (number,))

    def _run(self, query: str, params: tuple[Any, ...] = ()) -> psycopg.Cursor[Any]:
        """Run one statement; a connection that broke (a database restart) is made again."""
        with self._lock:
            try:
                return self._db.execute(query, params)
            except psycopg.OperationalError:
                if not self._db.closed:
                    raise
                self._db = self._connect()
                return self._db.execute(query, params)

    def close(self) -> None:
        """Close the connections (room-lock connections close when their loop runs)."""
        self._db.close()
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                connection.pgconn.finish()

    # --- the room lock ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def room_lock(self, room_name: str) -> AsyncIterator[None]:
        """Hold the room's advisory lock (waits, without blocking the loop, for another
        instance that holds it)."""
        connection = self._idle.pop() if self._idle else None
        if connection is None or connection.closed:
            connection = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
        key = room_lock_key(room_name)
        try:
            await connection.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                await asyncio.shield(connection.execute("SELECT pg_advisory_unlock(%s)", (key,)))
        except BaseException:
            # Cancelled or broken half-way: closing the session releases whatever it holds.
            await connection.close()
            raise
        if len(self._idle) < IDLE_LOCK_CONNECTIONS:
            self._idle.append(connection)
        else:
            await connection.close()

    # --- records --------------------------------------------------------------------------------

    def add_appointment(self, appointment: Appointment) -> None:
        """Insert or replace an appointment."""
        self._run(
            "INSERT INTO appointments VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET "
            "host_user_id = excluded.host_user_id, tenant_id = excluded.tenant_id, "
            "title = excluded.title, base_price = excluded.base_price",
            (
                appointment.id,
                appointment.host_user_id,
                appointment.tenant_id,
                appointment.title,
                appointment.base_price,
            ),
        )

    def get_appointment(self, appointment_id: str) -> Appointment | None:
        """An appointment by id."""
        row = self._run(
            "SELECT id, host_user_id, tenant_id, title, base_price FROM appointments WHERE id = %s",
            (appointment_id,),
        ).fetchone()
        return Appointment(*row) if row else None

    def save_stream(self, stream: LiveStream) -> None:
        """Insert or update a live stream record (stream keys sealed)."""
        data = dict(stream.__dict__)
        destinations = data.pop("destinations")
        if destinations:
            data["sealed_destinations"] = self._box.seal(destinations)
        self._run(
            "INSERT INTO live_streams VALUES (%s, %s, %s::jsonb) ON CONFLICT (room_name) "
            "DO UPDATE SET record = excluded.record",
            (stream.room_name, stream.appointment_id, json.dumps(data)),
        )

    def get_stream(self, room_name: str) -> LiveStream | None:
        """The record of a room."""
        row = self._run(
            "SELECT record::text FROM live_streams WHERE room_name = %s", (room_name,)
        ).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        sealed = data.pop("sealed_destinations", "")
        stream = LiveStream(**data)
        if sealed:
            stream.destinations = self._box.open(sealed)
        return stream

    def add_credential(
        self,
        user_id: str,
        role: Role,
        appointment_id: str = "",
        ttl_s: float = DEFAULT_CREDENTIAL_TTL_S,
    ) -> str:
        """Create a bearer credential; returns it (shown once, stored hashed)."""
        token = "sb_" + secrets.token_urlsafe(32)
        now = time.time()
        self._run(
            "INSERT INTO credentials (token_hash, user_id, role, created_at, expires_at, "
            "revoked_at, appointment_id) VALUES (%s, %s, %s, %s, %s, 0, %s)",
            (hash_token(token), user_id, role.value, now, now + ttl_s, appointment_id),
        )
        return token

    def find_credential(self, token: str) -> Credential | None:
        """Who a bearer credential belongs to (None when unknown, expired or revoked)."""
        digest = hash_token(token)
        row = self._run(
            "SELECT token_hash, user_id, role, expires_at, revoked_at, appointment_id "
            "FROM credentials WHERE token_hash = %s",
            (digest,),
        ).fetchone()
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        if row[4] or row[3] <= time.time():
            return None
        return Credential(row[1], Role(row[2]), row[5])

    def revoke(self, user_id: str, role: Role | None = None) -> int:
        """Revoke every credential of a user (of one role); returns how many."""
        query = "UPDATE credentials SET revoked_at = %s WHERE user_id = %s AND revoked_at = 0"
        params: tuple[Any, ...] = (time.time(), user_id)
        if role is not None:
            query += " AND role = %s"
            params += (role.value,)
        return self._run(query, params).rowcount

    def revoke_credential(self, token: str) -> bool:
        """Revoke one credential; False if it is unknown or already revoked."""
        cursor = self._run(
            "UPDATE credentials SET revoked_at = %s WHERE token_hash = %s AND revoked_at = 0",
            (time.time(), hash_token(token)),
        )
        return cursor.rowcount == 1

    def remember_webhook(self, event_id: str) -> bool:
        """Record a webhook event id; False if any instance saw it before."""
        cursor = self._run(
            "INSERT INTO webhook_events VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
            (event_id, time.time()),
        )
        return cursor.rowcount == 1

    def webhook_seen(self, event_id: str) -> bool:
        """Whether any instance recorded a webhook event id."""
        row = self._run("SELECT 1 FROM webhook_events WHERE id = %s", (event_id,)).fetchone()
        return row is not None

    def active_rooms(self) -> list[str]:
        """Rooms whose stream is still active (for reconciling their egresses)."""
        rows = self._run(
            "SELECT room_name FROM live_streams WHERE record->>'status' = 'active'"
        ).fetchall()
        return [row[0] for row in rows]
