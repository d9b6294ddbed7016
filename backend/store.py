"""Persistent records of the backend: appointments, live streams, credentials, webhook ids.

SQLite in WAL mode is the embedded default; :class:`Store` is the small repository interface a
PostgreSQL implementation would provide for a multi-instance deployment. Schema changes are
versioned migrations keyed by ``PRAGMA user_version``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


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
    """Destination name → full URL with the key (never returned to clients)."""
    destination_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    final_stats: dict[str, Any] = field(default_factory=dict)
    revenue: dict[str, Any] = field(default_factory=dict)


class Store(Protocol):
    """The repository the service needs."""

    def add_appointment(self, appointment: Appointment) -> None: ...
    def get_appointment(self, appointment_id: str) -> Appointment | None: ...
    def save_stream(self, stream: LiveStream) -> None: ...
    def get_stream(self, room_name: str) -> LiveStream | None: ...
    def add_credential(self, user_id: str, role: Role) -> str: ...
    def find_credential(self, token: str) -> tuple[str, Role] | None: ...
    def remember_webhook(self, event_id: str) -> bool: ...


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
]


class SqliteStore:
    """The SQLite implementation of :class:`Store` (thread-safe, WAL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
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
        """Insert or update a live stream record."""
        record = json.dumps(stream.__dict__)
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
        return LiveStream(**json.loads(row[0])) if row else None

    def add_credential(self, user_id: str, role: Role) -> str:
        """Create a bearer credential; returns it (shown once, stored hashed)."""
        token = "sb_" + secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT INTO credentials VALUES (?, ?, ?, ?)",
                (hash_token(token), user_id, role.value, time.time()),
            )
        return token

    def find_credential(self, token: str) -> tuple[str, Role] | None:
        """Who a bearer credential belongs to."""
        digest = hash_token(token)
        with self._lock:
            row = self._db.execute(
                "SELECT token_hash, user_id, role FROM credentials WHERE token_hash = ?", (digest,)
            ).fetchone()
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        return row[1], Role(row[2])

    def remember_webhook(self, event_id: str) -> bool:
        """Record a webhook event id; False if it was seen before."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO webhook_events VALUES (?, ?)", (event_id, time.time())
            )
        return cursor.rowcount == 1
