"""What a show uses, counted into its stream record: participant time, egress bytes, live time.

Participant time comes from LiveKit's ``participant_joined``/``participant_left`` webhooks (the
server's own account; hidden recorders are not counted); bytes stored and sent come from egress
results (file and HLS segment sizes, as EgressInfo reports them); live time is the union of the
time live outputs (RTMP and HLS egress) ran. :func:`economics_of` turns it into money with
:mod:`spaces_contract.money`.
"""

from __future__ import annotations

import enum
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from backend.store import LiveStream
from spaces_common.lazy import lazy_module
from spaces_contract.money import Economics, Rates, Usage, economics, participant_ms, union_ms

if TYPE_CHECKING:
    from livekit import api
else:
    api = lazy_module("livekit.api")


class EgressKind(enum.Enum):
    """What an egress is for (live outputs count towards time on air)."""

    RECORDING = "recording"
    RTMP = "rtmp"
    HLS = "hls"


LIVE_KINDS = (EgressKind.RTMP.value, EgressKind.HLS.value)


def note_joined(stream: LiveStream, identity: str, at_ms: int) -> None:
    """Someone joined (a repeat of the same join changes nothing)."""
    if identity not in stream.presence:
        stream.presence[identity] = at_ms


def note_left(stream: LiveStream, identity: str, at_ms: int) -> None:
    """Someone left: their stay is added to the closed participant time."""
    since = stream.presence.pop(identity, None)
    if since is not None:
        stream.participant_ms += max(0, at_ms - since)


def close_presence(stream: LiveStream, at_ms: int) -> None:
    """The room ended: everyone still counted leaves now."""
    for identity in list(stream.presence):
        note_left(stream, identity, at_ms)


def note_egress(
    stream: LiveStream, info: api.EgressInfo, kind: EgressKind, stopped_ms: int = 0
) -> None:
    """Bytes and times of an egress, from its newest info (later infos replace earlier ones).

    Args:
        stream: The record to count into.
        info: The egress's info (an API answer or a webhook).
        kind: What the egress is for.
        stopped_ms: When we stopped it, for an answer that does not carry its end yet.
    """
    if not info.egress_id:
        return
    stored = sum(f.size for f in info.file_results)
    # A recording's segments are its progress scratch, deleted when it ends (recording.py).
    if kind is not EgressKind.RECORDING:
        stored += sum(s.size for s in info.segment_results)
    entry = stream.egress_usage.get(info.egress_id, {"kind": kind.value})
    # Sizes only grow; an info that omits them (a status without results) keeps the last seen.
    entry["storedBytes"] = max(int(entry.get("storedBytes", 0)), stored)
    # What egress writes to storage leaves LiveKit once: the same bytes are egress traffic.
    # RTMP pushes carry no byte count in EgressInfo, so they are not counted (see docs).
    entry["egressBytes"] = entry["storedBytes"]
    if info.started_at:
        entry["startedMs"] = info.started_at // 1_000_000
    if info.ended_at:
        entry["endedMs"] = info.ended_at // 1_000_000
    elif stopped_ms and not entry.get("endedMs"):
        entry["endedMs"] = stopped_ms
    stream.egress_usage[info.egress_id] = entry


def usage_of(stream: LiveStream, now_ms: int) -> Usage:
    """What the show used up to ``now_ms`` (or its end, once ended)."""
    until_ms = stream.end_time_ms or now_ms
    intervals = [
        (int(e["startedMs"]), int(e.get("endedMs") or until_ms))
        for e in stream.egress_usage.values()
        if e.get("kind") in LIVE_KINDS and e.get("startedMs")
    ]
    live_ms = union_ms(intervals)
    if not intervals:
        # No live output went through egress (the studio streamed directly, or the room
        # itself is the show): the room's time is the show's.
        live_ms = max(0, until_ms - stream.start_time_ms)
    return Usage(
        participant_ms=participant_ms(stream.participant_ms, stream.presence, until_ms),
        stored_bytes=sum(int(e.get("storedBytes", 0)) for e in stream.egress_usage.values()),
        egress_bytes=sum(int(e.get("egressBytes", 0)) for e in stream.egress_usage.values()),
        live_ms=live_ms,
        participants=stream.peak_participants,
    )


def economics_of(
    stream: LiveStream, base_price: float | Decimal, rates: Rates, now_ms: int | None = None
) -> Economics:
    """The show's cost, revenue split and net so far (or final, once ended)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    price = base_price if isinstance(base_price, Decimal) else Decimal(str(base_price))
    return economics(usage_of(stream, now), price, rates)


def kind_of(stream: LiveStream, egress_id: str) -> EgressKind | None:
    """Which of the stream's egresses this is, if any."""
    if not egress_id:
        return None
    if egress_id in (stream.recording_egress_id, stream.recording.get("egressId")):
        return EgressKind.RECORDING
    if egress_id in (stream.hls_egress_id, stream.hls.get("egressId")):
        return EgressKind.HLS
    if egress_id == stream.rtmp_egress_id:
        return EgressKind.RTMP
    known: dict[str, Any] = stream.egress_usage.get(egress_id, {})
    kind = known.get("kind")
    return EgressKind(kind) if kind in {k.value for k in EgressKind} else None
