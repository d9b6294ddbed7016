"""Persistent records of the backend: appointments, live streams, credentials, webhook ids.

SQLite in WAL mode is the embedded default (one instance); :class:`Store` is the small
repository interface, which :class:`backend.pgstore.PostgresStore` provides for several
instances on one database. Schema changes are versioned migrations, keyed by
``PRAGMA user_version`` here and by a ``schema_version`` table in PostgreSQL.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    from cryptography import fernet
else:
    fernet = lazy_module("cryptography.fernet")


DEFAULT_CREDENTIAL_TTL_S = 90 * 24 * 3600
"""Credentials expire after 90 days unless created with another lifetime."""


class Role(enum.Enum):
    """What a credential may do."""

    HOST = "host"
    """Runs their own appointments' rooms."""
    VIEWER = "viewer"
    """Gets viewer tokens only."""
    ADMIN = "admin"
    """Operator: any room."""


@dataclass(frozen=True)
class Appointment:
    """An event a host runs."""

    id: str
    host_user_id: str
    tenant_id: str = ""
    title: str = ""
    base_price: float = 0.0


@dataclass
class LiveStream:
    """The live stream record of one room."""

    room_name: str
    appointment_id: str
    status: str = "active"
    start_time_ms: int = 0
    end_time_ms: int = 0
    max_participants: int = 100
    recording_enabled: bool = False
    peak_participants: int = 0
    peak_publishers: int = 0
    recording_egress_id: str = ""
    recording: dict[str, Any] = field(default_factory=dict)
    rtmp_egress_id: str = ""
    destinations: dict[str, str] = field(default_factory=dict)
    """Destination name → full URL with the key (never returned to clients; at rest only
    encrypted, and dropped when the egress ends)."""
    destination_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    final_stats: dict[str, Any] = field(default_factory=dict)
    revenue: dict[str, Any] = field(default_factory=dict)
    publishers: list[str] = field(default_factory=list)
    """Identities publishing right now, as LiveKit's webhooks tell (for peak publishers)."""
    published_tracks: dict[str, list[str]] = field(default_factory=dict)
    """Identity → the sids of the tracks it publishes now (so unpublishing one of two keeps it a
    publisher)."""
    participants: list[str] = field(default_factory=list)
    """Identities in the room right now, as LiveKit's webhooks tell."""
    participant_sids: dict[str, str] = field(default_factory=dict)
    """Identity → the participant sid of its newest session (a leave of an older one is stale)."""
    presence: dict[str, int] = field(default_factory=dict)
    """Identity → when it joined (ms), for everyone in the room now (participant-minutes)."""
    participant_ms: int = 0
    """Participant time of stays that already ended (join to leave, from webhooks)."""
    egress_usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Egress id → its kind, bytes stored and sent, and when it ran (from egress results)."""
    hls_egress_id: str = ""
    hls: dict[str, Any] = field(default_factory=dict)
    """The HLS egress: playlist names, where the playlist is, segments so far."""
    economics: dict[str, str] = field(default_factory=dict)
    """Cost, revenue, commission and net when the stream ended (two-place decimal strings)."""


@dataclass(frozen=True)
class Credential:
    """Who a bearer credential belongs to and what it may reach."""

    user_id: str
    """The person."""
    role: Role
    """What they may do."""
    appointment_id: str = ""
    """For a viewer: the one appointment they may watch ("" = any, for hosts and admins)."""


class SecretBox:
    """Encrypts stream keys at rest with a key from the service's environment (Fernet).

    Args:
        key: A Fernet key (32 url-safe base64 bytes), e.g. from ``BROADCASTER_SECRET_KEY``.
    """

    def __init__(self, key: str | bytes) -> None:
        self._fernet = fernet.Fernet(key)

    @staticmethod
    def new_key() -> str:
        """A fresh key to put in the service's environment."""
        return fernet.Fernet.generate_key().decode()

    def seal(self, data: dict[str, str]) -> str:
        """Encrypt a name → URL map."""
        return self._fernet.encrypt(json.dumps(data).encode()).decode()

    def open(self, token: str) -> dict[str, str]:
        """Decrypt a sealed map; an unreadable one (key changed) reads as empty."""
        try:
            result: dict[str, str] = json.loads(self._fernet.decrypt(token.encode()))
        except (fernet.InvalidToken, ValueError):
            return {}
        return result


class Store(Protocol):
    """The repository the service needs."""

    def add_appointment(self, appointment: Appointment) -> None: ...
    def get_appointment(self, appointment_id: str) -> Appointment | None: ...
    def save_stream(self, stream: LiveStream) -> None: ...
    def get_stream(self, room_name: str) -> LiveStream | None: ...
    def add_credential(
        self,
        user_id: str,
        role: Role,
        appointment_id: str = "",
        ttl_s: float = DEFAULT_CREDENTIAL_TTL_S,
    ) -> str: ...
    def find_credential(self, token: str) -> Credential | None: ...
    def revoke(self, user_id: str, role: Role | None = None) -> int: ...
    def revoke_credential(self, token: str) -> bool: ...
    def remember_webhook(self, event_id: str) -> bool: ...
    def webhook_seen(self, event_id: str) -> bool: ...
    def active_rooms(self) -> list[str]: ...
    def room_lock(self, room_name: str) -> AbstractAsyncContextManager[None]: ...
    def close(self) -> None: ...


def hash_token(token: str) -> str:
    """Credentials are stored only as SHA-256 hashes."""
    return hashlib.sha256(token.encode()).hexdigest()


MIGRATIONS = [
    """
    CREATE TABLE appointments (
        id TEXT PRIMARY KEY, host_user_id TEXT NOT NULL, tenant_id TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '', base_price REAL NOT NULL DEFAULT 0);
    CREATE TABLE live_streams (
        room_name TEXT PRIMARY KEY, appointment_id TEXT NOT NULL REFERENCES appointments(id),
        record TEXT NOT NULL);
    CREATE TABLE credentials (
        token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, role TEXT NOT NULL,
        created_at REAL NOT NULL);
    CREATE TABLE webhook_events (id TEXT PRIMARY KEY, received_at REAL NOT NULL);
    """,
    # Credentials expire, can be revoked, and a viewer's is scoped to one appointment;
    # credentials from before this version expire 90 days after they were made.
    f"""
    ALTER TABLE credentials ADD COLUMN expires_at REAL NOT NULL DEFAULT 0;
    ALTER TABLE credentials ADD COLUMN revoked_at REAL NOT NULL DEFAULT 0;
    ALTER TABLE credentials ADD COLUMN appointment_id TEXT NOT NULL DEFAULT '';
    UPDATE credentials SET expires_at = created_at + {DEFAULT_CREDENTIAL_TTL_S};
    """,
]


class SqliteStore:
    """The SQLite implementation of :class:`Store` (thread-safe, WAL).

    The database file (and SQLite's journals, which copy its mode) is readable by its owner
    only. Stream keys are kept encrypted with ``secret_box`` when one is given; without one
    they live in this process's memory only, for as long as the egress runs.

    Args:
        path: The SQLite file.
        secret_box: Encrypts destination URLs at rest.
    """

    def __init__(self, path: Path, secret_box: SecretBox | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file == path or file.exists():
                os.close(os.open(file, os.O_CREAT | os.O_RDWR, 0o600))
                os.chmod(file, 0o600)
        self._box = secret_box
        self._volatile: dict[str, dict[str, str]] = {}
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @asynccontextmanager
    async def room_lock(self, room_name: str) -> AsyncIterator[None]:
        """Nothing beyond the service's in-process lock: one SQLite file serves one instance
        (several instances share PostgreSQL, :mod:`backend.pgstore`)."""
        yield

    def add_appointment(self, appointment: Appointment) -> None:
        """Insert or replace an appointment."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO appointments VALUES (?, ?, ?, ?, ?)",
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
        with self._lock:
            row = self._db.execute(
                "SELECT id, host_user_id, tenant_id, title, base_price FROM appointments "
                "WHERE id = ?",
                (appointment_id,),
            ).fetchone()
        return Appointment(*row) if row else None

    def save_stream(self, stream: LiveStream) -> None:
        """Insert or update a live stream record (stream keys sealed or kept in memory)."""
        data = dict(stream.__dict__)
        destinations = data.pop("destinations")
        if self._box is not None and destinations:
            data["sealed_destinations"] = self._box.seal(destinations)
        with self._lock:
            if self._box is None and destinations:
                self._volatile[stream.room_name] = dict(destinations)
            else:
                self._volatile.pop(stream.room_name, None)
        record = json.dumps(data)
        with self._lock:
            self._db.execute(
                "INSERT INTO live_streams VALUES (?, ?, ?) ON CONFLICT(room_name) "
                "DO UPDATE SET record = excluded.record",
                (stream.room_name, stream.appointment_id, record),
            )

    def get_stream(self, room_name: str) -> LiveStream | None:
        """The record of a room."""
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM live_streams WHERE room_name = ?", (room_name,)
            ).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        sealed = data.pop("sealed_destinations", "")
        data.pop("destinations", None)  # records from before keys were sealed
        stream = LiveStream(**data)
        if sealed and self._box is not None:
            stream.destinations = self._box.open(sealed)
        else:
            with self._lock:
                stream.destinations = dict(self._volatile.get(room_name, {}))
        return stream

    def add_credential(
        self,
        user_id: str,
        role: Role,
        appointment_id: str = "",
        ttl_s: float = DEFAULT_CREDENTIAL_TTL_S,
    ) -> str:
        """Create a bearer credential; returns it (shown once, stored hashed).

        Args:
            user_id: Whose it is.
            role: What it may do.
            appointment_id: Scope a viewer's credential to one appointment.
            ttl_s: Lifetime in seconds.
        """
        token = "sb_" + secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO credentials (token_hash, user_id, role, created_at, expires_at, "
                "revoked_at, appointment_id) VALUES (?, ?, ?, ?, ?, 0, ?)",
                (hash_token(token), user_id, role.value, now, now + ttl_s, appointment_id),
            )
        return token

    def find_credential(self, token: str) -> Credential | None:
        """Who a bearer credential belongs to (None when unknown, expired or revoked)."""
        digest = hash_token(token)
        with self._lock:
            row = self._db.execute(
                "SELECT token_hash, user_id, role, expires_at, revoked_at, appointment_id "
                "FROM credentials WHERE token_hash = ?",
                (digest,),
            ).fetchone()
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        if row[4] or row[3] <= time.time():
            return None
        return Credential(row[1], Role(row[2]), row[5])

    def revoke(self, user_id: str, role: Role | None = None) -> int:
        """Revoke every credential of a user (of one role); returns how many."""
        query = "UPDATE credentials SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0"
        params: tuple[Any, ...] = (time.time(), user_id)
        if role is not None:
            query += " AND role = ?"
            params += (role.value,)
        with self._lock:
            return self._db.execute(query, params).rowcount

    def revoke_credential(self, token: str) -> bool:
        """Revoke one credential; False if it is unknown or already revoked."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE credentials SET revoked_at = ? WHERE token_hash = ? AND revoked_at = 0",
                (time.time(), hash_token(token)),
            )
        return cursor.rowcount == 1

    def remember_webhook(self, event_id: str) -> bool:
        """Record a webhook event id; False if it was seen before."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO webhook_events VALUES (?, ?)", (event_id, time.time())
            )
        return cursor.rowcount == 1

    def webhook_seen(self, event_id: str) -> bool:
        """Whether a webhook event id was recorded."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM webhook_events WHERE id = ?", (event_id,)
            ).fetchone()
        return row is not None

    def active_rooms(self) -> list[str]:
        """Rooms whose stream is still active (for reconciling their egresses)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT room_name FROM live_streams "
                "WHERE json_extract(record, '$.status') = 'active'"
            ).fetchall()
        return [row[0] for row in rows]
