"""The one place that turns codes, qualities, phases and errors into sentences a host reads.

Widgets never format enums themselves (no ``quality.name.lower()`` in a widget): they ask here,
so a word changes in one place and every sentence says what to do next.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable

from desktop.media.errors import MediaError
from desktop.media.outputs.output import OutputKind, OutputPhase, OutputStatus
from desktop.media.outputs.program import EncoderInfo
from desktop.session.errors import SessionError
from desktop.session.receive_drops import ReceiveDrops
from desktop.session.room_events import DisconnectReason
from desktop.session.state import ConnectionState, EgressOutputStatus, Quality, RoomState, Source

QUALITY_WORDS = {
    Quality.UNKNOWN: "not measured yet",
    Quality.EXCELLENT: "excellent",
    Quality.GOOD: "good",
    Quality.POOR: "poor",
    Quality.LOST: "lost",
}
"""A connection quality as a host says it."""

SOURCE_WORDS = {
    Source.UNKNOWN: "track",
    Source.CAMERA: "camera",
    Source.MICROPHONE: "microphone",
    Source.SCREEN: "screen",
    Source.SCREEN_AUDIO: "screen audio",
}
"""What a track carries, in words."""

CURRENCY_SIGNS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def quality(value: Quality) -> str:
    """``Quality.POOR`` → ``"poor"``."""
    return QUALITY_WORDS[value]


def source(value: Source) -> str:
    """``Source.SCREEN`` → ``"screen"``."""
    return SOURCE_WORDS[value]


def elapsed(seconds: float) -> str:
    """``65`` → ``"0:01:05"``."""
    whole = int(max(0, seconds))
    return f"{whole // 3600:d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def money(amount: float, currency: str) -> str:
    """``12, "USD"`` → ``"$12.00"``; an unknown currency is named: ``"12.00 CHF"``."""
    code = currency.upper() or "USD"
    sign = CURRENCY_SIGNS.get(code)
    return f"{sign}{amount:,.2f}" if sign else f"{amount:,.2f} {code}"


def room_title(state: RoomState) -> str:
    """The window's title for the room: never a raw id.

    A platform room (``appointment-42-1732…``) is the appointment it belongs to; a LiveKit room
    is named in quotes; no room is the local studio.
    """
    name = state.room_name
    if not name or name == "Local studio":
        return "Local studio"
    appointment = ""
    try:
        meta = json.loads(state.room_metadata) if state.room_metadata else {}
        if isinstance(meta, dict):
            appointment = str(meta.get("title") or meta.get("appointmentId") or "")
            if meta.get("title"):
                return str(meta["title"])
    except ValueError:
        pass
    match = re.fullmatch(r"appointment-(.+)-\d{10,}", name)
    if match or appointment:
        return f"Appointment {appointment or (match.group(1) if match else '')}"
    return f"Room “{name}”"


def connection(state: RoomState, local_mode: bool) -> str:
    """The header's connection line."""
    c = state.connection
    if state.ended:
        return "Stream ended — the room is closed"
    if c is ConnectionState.IDLE:
        return "Local studio (no server)" if local_mode else "Not connected"
    if c is ConnectionState.CONNECTING:
        return "Connecting…"
    if c is ConnectionState.CONNECTED:
        own = state.local.quality if state.local else Quality.UNKNOWN
        return "Connected" + ("" if own is Quality.UNKNOWN else f" · {quality(own)} connection")
    if c is ConnectionState.RECONNECTING:
        return "Reconnecting… (your stream continues locally)"
    if c is ConnectionState.DISCONNECTED:
        return f"Disconnected: {disconnect_reason_text(state.disconnect_reason)}"
    return f"Could not connect: {state.error or 'no reason given'}"


def output_card(status: OutputStatus, now_us: int | None = None) -> str:
    """A direct output's state in words: off / connecting / live / retrying / failed."""
    phase = status.phase
    if phase is OutputPhase.LIVE:
        now_us = now_us if now_us is not None else time.monotonic_ns() // 1000
        seconds = max(0, (now_us - status.live_since_us) // 1_000_000)
        rate = f", {status.bitrate_bps / 1e6:.1f} Mb/s" if status.bitrate_bps else ""
        return f"Live {seconds // 60:02d}:{seconds % 60:02d}{rate}"
    if phase is OutputPhase.RETRYING:
        return (
            f"Retrying (attempt {status.attempt + 1} of {status.max_attempts}) in "
            f"{status.retry_in_s:.0f} s — {status.error}"
        )
    if phase is OutputPhase.FAILED:
        return f"Failed — {status.error}"
    if phase is OutputPhase.CONNECTING:
        return "Connecting…" if status.kind is OutputKind.RTMP else "Starting…"
    if phase is OutputPhase.STOPPED:
        return "Off" + (f" — saved to {status.path}" if status.path else "")
    return "Off"


EGRESS_WORDS = {
    OutputPhase.CONNECTING: "Connecting…", OutputPhase.LIVE: "Live",
    OutputPhase.FAILED: "Failed", OutputPhase.STOPPED: "Off", OutputPhase.FINISHED: "Finished",
}  # fmt: skip


def egress_card(output: EgressOutputStatus) -> str:
    """An egress output's state in words."""
    text = EGRESS_WORDS.get(output.phase, output.phase.value.capitalize())
    if output.error:
        text += f" — {output.error}"
    if output.detail:
        text += f" — {output.detail}"
    return text


def destination_health(state: RoomState, names: dict[str, str]) -> list[tuple[str, str]]:
    """Each destination's health for the header: ``[("Twitch retrying (4 of 6)", "warn")]``.

    Args:
        state: The room state.
        names: Destination id → the name the host gave it.

    Returns:
        (short phrase, severity) per destination that has a status: severity is ``ok``,
        ``warn`` or ``error``.
    """
    out: list[tuple[str, str]] = []
    egress = {o.name: o for o in state.outputs}
    direct = {s.output_id: s for s in state.direct_outputs if s.kind is OutputKind.RTMP}
    for destination_id, name in names.items():
        # The platform's word wins over the studio's own for the same destination.
        s = egress[destination_id] if destination_id in egress else direct.get(destination_id)
        if s is None:
            continue
        if s.phase is OutputPhase.LIVE:
            out.append((f"{name} live", "ok"))
        elif s.phase is OutputPhase.CONNECTING:
            out.append((f"{name} connecting", "warn"))
        elif s.phase is OutputPhase.RETRYING and isinstance(s, OutputStatus):
            out.append((f"{name} retrying ({s.attempt + 1} of {s.max_attempts})", "warn"))
        elif s.phase is OutputPhase.FAILED:
            out.append((f"{name} failed", "error"))
    return out


def failure(error: BaseException, doing: str) -> tuple[str, str]:
    """An expected failure as (sentence, next step); the next step is '' when none is known."""
    if isinstance(error, SessionError):
        return f"Could not {doing}: {error.detail}", _sentence(error.hint)
    if isinstance(error, MediaError):
        return f"Could not {doing}: {error.device}: {error.detail}", _sentence(error.hint)
    return (
        f"Something unexpected went wrong while trying to {doing}.",
        "It was logged; try again, and report it if it keeps happening.",
    )


def _sentence(text: str) -> str:
    """``"pick another"`` → ``"Pick another."``."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def speakers_missing(detail: str) -> tuple[str, str]:
    """The notice for a machine where guests cannot be played (no speaker)."""
    return (
        "Guests cannot be heard on this computer: no speaker or headphones were found.",
        "Plug in headphones or speakers, then pick them from the Speaker menu.",
    )


def device_list(names: Iterable[str]) -> str:
    """``["a", "b", "c"]`` → ``"a, b and c"``."""
    items = list(names)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


_DISCONNECT_WORDS = {
    DisconnectReason.LEFT: "you left",
    DisconnectReason.REMOVED: "a moderator removed you from the room",
    DisconnectReason.ROOM_CLOSED: "the room was closed",
    DisconnectReason.DUPLICATE_IDENTITY: "you joined from somewhere else",
    DisconnectReason.SERVER_SHUTDOWN: "the server shut down; reconnect when it is back",
    DisconnectReason.JOIN_FAILED: "joining failed; try to reconnect",
    DisconnectReason.CONNECTION_LOST: "the connection to the server was lost; reconnect",
    DisconnectReason.OTHER: "the connection ended",
}


def disconnect_reason_text(reason: DisconnectReason | None) -> str:
    """Why the host left the room, in words (``None``: no reason given)."""
    if reason is None:
        return "the connection ended"
    return _DISCONNECT_WORDS[reason]


_OUTPUT_NAMES = {"recording": "the recording", "hls": "HLS", "rehearsal": "the rehearsal"}


def recording_encoding(status: OutputStatus, program: str) -> str:
    """What a running recording is encoded as, and whether that costs an encoder of its own
    (``program`` is the stream's encoding in :meth:`EncoderSettings.describe` words)."""
    if not status.encoding or status.phase in (OutputPhase.STOPPED, OutputPhase.FAILED):
        return ""
    if status.encoding == program:
        return f" ({status.encoding}, sharing the stream's encoder)"
    return f" ({status.encoding}, its own encoder: more CPU)"


def encoders(infos: Iterable[EncoderInfo], names: dict[str, str]) -> str:
    """Which encoders run and what each feeds, e.g. ``"2 running (each costs CPU): H.264 +
    AAC, 1280x720 30 fps, 3.5 Mb/s (libx264) for YouTube, Twitch; VP8 + Opus, …"``.

    Outputs with the same encoding share one encoder; a recording in another container or
    quality adds one, which is why the count is shown.
    """
    found = list(infos)
    parts = []
    for info in found:
        fed = ", ".join(names.get(i, _OUTPUT_NAMES.get(i, i))
                        for i in info.output_ids) or "the monitor"  # fmt: skip
        parts.append(f"{info.profile.describe()} ({info.video_encoder}) for {fed}")
    count = f"{len(found)} running (each costs CPU)" if len(found) > 1 else "1 running"
    return f"{count}: " + "; ".join(parts) if parts else "none running"


def frames_lost(verb: str, lost: int, total: int) -> str:
    """OBS-style frame counts: ``"skipped 3 of 900 (0.3 %)"``, ``"dropped 0 of 450"``."""
    if not lost or not total:
        return f"{verb} {lost} of {total}"
    return f"{verb} {lost} of {total} ({lost / total:.1%})".replace("%)", " %)")


def receive_drops(drops: ReceiveDrops) -> str:
    """Guests' frames the studio dropped on receipt, per video, and the SDK's own count."""
    videos = [video for video in drops.videos() if video.dropped]
    parts = [
        f"{video.label}: " + frames_lost("dropped", video.dropped, video.received + video.dropped)
        for video in videos
    ]
    if drops.native_video_dropped:
        parts.append(f"before reaching the studio: {drops.native_video_dropped} frames")
    if not parts:
        return "none"
    return "; ".join(parts) + " (the studio fell behind; the newest frames are always shown)"
