"""Stage control: ask a guest to unmute, the moderation log, and guests' quality history.

Ask-to-unmute travels as a LiveKit data message (reliable, to the one guest) on
:data:`UNMUTE_REQUEST_TOPIC`; a guest's client that accepts unmutes its own microphone (LiveKit
refuses remote unmutes unless the server allows them, and a person should decide anyway) and may
answer on :data:`UNMUTE_ANSWER_TOPIC`. The payloads are UTF-8 JSON, documented for guest clients
in ``docs/stage-control.md``. No Qt here.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.media.frames import wall_clock_ms
from desktop.session.state import AuditEntry, Quality, QualitySample, StateStore

UNMUTE_REQUEST_TOPIC = "spaces.stage.unmute-request"
"""Host → guest: please unmute (a data message to that guest only)."""
UNMUTE_ANSWER_TOPIC = "spaces.stage.unmute-answer"
"""Guest → host: accepted or declined."""
PROTOCOL_VERSION = 1
MAX_HISTORY = 500
"""Quality grades kept per guest (the SFU grades every few seconds at most on a change)."""
CSV_COLUMNS = ("time_utc", "actor", "action", "target", "detail")


@dataclass(frozen=True)
class UnmuteRequest:
    """The host asks one guest to unmute a source."""

    request_id: str
    """Unique id; the answer carries it back."""
    source: str = "microphone"
    """What to unmute: ``microphone`` (``camera`` is allowed by the format)."""
    from_identity: str = ""
    """The host's identity."""
    from_name: str = ""
    """The host's display name (for the guest's prompt)."""
    message: str = ""
    """Words the guest's client may show."""

    def to_json(self) -> bytes:
        """The payload sent on :data:`UNMUTE_REQUEST_TOPIC`."""
        return json.dumps(
            {
                "type": "unmute_request",
                "version": PROTOCOL_VERSION,
                "requestId": self.request_id,
                "source": self.source,
                "from": {"identity": self.from_identity, "name": self.from_name},
                "message": self.message,
            }
        ).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> UnmuteRequest | None:
        """Parse a payload; None when it is not a request of this format."""
        data = _object(payload)
        if data is None or data.get("type") != "unmute_request" or not data.get("requestId"):
            return None
        found = data.get("from")
        sender: dict[str, Any] = found if isinstance(found, dict) else {}
        return cls(
            str(data["requestId"]),
            str(data.get("source", "microphone")),
            str(sender.get("identity", "")),
            str(sender.get("name", "")),
            str(data.get("message", "")),
        )


@dataclass(frozen=True)
class UnmuteAnswer:
    """A guest's answer to an :class:`UnmuteRequest`."""

    request_id: str
    """The request answered."""
    accepted: bool
    """Whether the guest unmuted."""
    reason: str = ""
    """Why not (free words), when declined."""

    def to_json(self) -> bytes:
        """The payload sent on :data:`UNMUTE_ANSWER_TOPIC`."""
        return json.dumps(
            {
                "type": "unmute_answer",
                "version": PROTOCOL_VERSION,
                "requestId": self.request_id,
                "accepted": self.accepted,
                "reason": self.reason,
            }
        ).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> UnmuteAnswer | None:
        """Parse a payload; None when it is not an answer of this format."""
        data = _object(payload)
        if data is None or data.get("type") != "unmute_answer" or not data.get("requestId"):
            return None
        return cls(
            str(data["requestId"]), data.get("accepted") is True, str(data.get("reason", ""))
        )


def new_request(from_identity: str, from_name: str, source: str = "microphone") -> UnmuteRequest:
    """A request with a fresh id and the words a guest's client shows."""
    who = from_name or from_identity or "The host"
    return UnmuteRequest(
        "UR_" + secrets.token_hex(6), source, from_identity, from_name,
        f"{who} asks you to unmute your {source}",
    )  # fmt: skip


def _object(payload: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- the moderation log ------------------------------------------------------------------------


def log_action(
    store: StateStore, action: str, target: str, detail: str = "", actor: str = ""
) -> None:
    """Append an entry to the room state's moderation log (actor: the host unless given)."""
    if not actor:
        local = store.state.local
        actor = local.identity if local is not None else "host"
    entry = AuditEntry(wall_clock_ms(), actor, action, target, detail)
    store.update(moderation_log=(*store.state.moderation_log, entry))


def iso_time(timestamp_ms: int) -> str:
    """UTC time with milliseconds, ISO 8601 (sorts as text, reads in any spreadsheet)."""
    moment = datetime.datetime.fromtimestamp(timestamp_ms / 1000, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audit_csv(entries: Iterable[AuditEntry]) -> str:
    """The log as CSV text: a header row, then one row per action, oldest first."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow(
            (
                iso_time(entry.timestamp_ms),
                _cell(entry.actor),
                entry.action,
                _cell(entry.target),
                _cell(entry.detail),
            )
        )
    return out.getvalue()


def _cell(text: str) -> str:
    # Identities and a guest's decline reason come from outside: a leading = + - @ would make a
    # spreadsheet run it as a formula, so such a cell is quoted as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_audit_csv(entries: Iterable[AuditEntry], path: Path) -> Path:
    """Write the log to ``path`` as UTF-8 CSV and return the path."""
    path.write_text(audit_csv(entries), encoding="utf-8")
    return path


# -- connection quality history ----------------------------------------------------------------


def add_quality_sample(store: StateStore, identity: str, quality: Quality) -> None:
    """Append a guest's new grade to their history (an unchanged grade is not repeated)."""
    history = dict(store.state.quality_history)
    samples = history.get(identity, ())
    if samples and samples[-1].quality is quality:
        return
    history[identity] = (*samples, QualitySample(wall_clock_ms(), quality))[-MAX_HISTORY:]
    store.update(quality_history=history)


QUALITY_RANK = {
    Quality.UNKNOWN: 0,
    Quality.LOST: 1,
    Quality.POOR: 2,
    Quality.GOOD: 3,
    Quality.EXCELLENT: 4,
}
"""Higher is better; UNKNOWN (no grade yet) is drawn as a gap."""


def quality_levels(
    samples: tuple[QualitySample, ...], until_ms: int, buckets: int = 12
) -> list[Quality]:
    """The history cut into ``buckets`` equal stretches up to ``until_ms``: the worst grade that
    held in each (what a sparkline draws). Empty when there is no grade yet."""
    if not samples or buckets <= 0:
        return []
    start_ms = samples[0].timestamp_ms
    span_ms = max(until_ms - start_ms, 1)
    levels: list[Quality] = []
    for index in range(buckets):
        lo = start_ms + span_ms * index / buckets
        hi = start_ms + span_ms * (index + 1) / buckets
        # The grade holding at lo, and every grade that arrived inside the stretch.
        held = [s.quality for s in samples if s.timestamp_ms <= lo][-1:]
        inside = [s.quality for s in samples if lo < s.timestamp_ms < hi]
        graded = [q for q in held + inside if q is not Quality.UNKNOWN]
        levels.append(min(graded, key=QUALITY_RANK.__getitem__) if graded else Quality.UNKNOWN)
    return levels
