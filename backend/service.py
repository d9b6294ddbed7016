"""The ``/api/livekit`` actions: the platform's contract, completed and secured.

:meth:`LiveKitBackendService.dispatch` takes the caller and the JSON body and returns exactly
the JSON the HTTP route returns, or raises :class:`ApiError` with the status and
``{"error", "details"}`` body. The same object runs in-process in the desktop app (the embedded
default) and behind :mod:`backend.app` as a service.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from livekit import api

from backend.config import BackendConfig
from backend.store import Appointment, LiveStream, Role, Store

logger = logging.getLogger(__name__)

IDENTITY_RE = re.compile(r"^[A-Za-z0-9_.@:+-]{1,128}$")
ROOM_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
MAX_NAME_CHARS = 128
MAX_DESTINATIONS = 10
EMPTY_TIMEOUT_S = 1800
COMMISSION_RATE = 0.20
QUALITY_PRESETS = {
    "low": api.EncodingOptionsPreset.H264_720P_30,
    "medium": api.EncodingOptionsPreset.H264_1080P_30,
    "high": api.EncodingOptionsPreset.H264_1080P_60,
}


class ApiError(Exception):
    """A failed action: HTTP status, error code, and details in words (no secrets)."""

    def __init__(self, status: int, error: str, details: str) -> None:
        super().__init__(f"{status} {error}: {details}")
        self.status = status
        self.error = error
        self.details = details

    def body(self) -> dict[str, str]:
        """The JSON error body."""
        return {"error": self.error, "details": self.details}


@dataclass(frozen=True)
class Principal:
    """Who is calling."""

    user_id: str
    role: Role


def revenue_split(participants: int, duration_min: float, base_price: float) -> dict[str, float]:
    """The platform's revenue rules for a finished stream.

    multiplier = min(participants / 10, 3); 1.2 bonus over 60 minutes; 20 % commission.
    """
    multiplier = min(participants / 10, 3.0)
    bonus = 1.2 if duration_min > 60 else 1.0
    total = base_price * multiplier * bonus
    commission = total * COMMISSION_RATE
    return {
        "basePrice": base_price,
        "revenueMultiplier": multiplier,
        "durationBonus": bonus,
        "totalRevenue": round(total, 2),
        "commissionRate": COMMISSION_RATE * 100,
        "platformCommission": round(commission, 2),
        "creatorRevenue": round(total - commission, 2),
    }


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- request validation -----------------------------------------------------------------------


def _field(
    body: Mapping[str, Any], name: str, kind: type, required: bool = True, default: Any = None
) -> Any:
    if name not in body or body[name] is None:
        if required:
            raise ApiError(400, "missing_field", f"'{name}' is required")
        return default
    value = body[name]
    if kind is int and isinstance(value, bool):
        raise ApiError(400, "invalid_field", f"'{name}' must be a whole number")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind):
        raise ApiError(400, "invalid_field", f"'{name}' must be a {kind.__name__}")
    return value


def _identity(body: Mapping[str, Any], name: str, required: bool = True) -> str:
    value = _field(body, name, str, required, "")
    if value and not IDENTITY_RE.match(value):
        raise ApiError(
            400, "invalid_field", f"'{name}' must be 1-128 letters, digits or _ . @ : + -"
        )
    return str(value)


def _room_name(body: Mapping[str, Any]) -> str:
    value = _field(body, "roomName", str)
    if not ROOM_RE.match(value):
        raise ApiError(400, "invalid_field", "'roomName' is not a valid room name")
    return str(value)


def _display_name(body: Mapping[str, Any], name: str) -> str:
    value = str(_field(body, name, str, False, ""))
    if len(value) > MAX_NAME_CHARS or any(ord(c) < 32 for c in value):
        raise ApiError(400, "invalid_field", f"'{name}' must be at most 128 printable characters")
    return value


def _bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    return bool(_field(body, name, bool, False, default))


# --- the service --------------------------------------------------------------------------------


class LiveKitBackendService:
    """The actions of the platform's ``/api/livekit`` route, on livekit-api.

    Args:
        config: Where LiveKit is and how to reach it.
        store: Appointments, streams, credentials.
    """

    def __init__(self, config: BackendConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self._api: api.LiveKitAPI | None = None
        self._actions: dict[
            str, Callable[[Principal, Mapping[str, Any]], Awaitable[dict[str, Any]]]
        ] = {
            "create_room": self.create_room,
            "join_room": self.join_room,
            "get_room_status": self.get_room_status,
            "end_stream": self.end_stream,
            "start_recording": self.start_recording,
            "stop_recording": self.stop_recording,
            "start_rtmp": self.start_rtmp,
            "update_rtmp": self.update_rtmp,
            "stop_rtmp": self.stop_rtmp,
            "get_broadcast_status": self.get_broadcast_status,
            "mute_participant": self.mute_participant,
            "remove_participant": self.remove_participant,
            "update_participant_permissions": self.update_participant_permissions,
        }

    @property
    def actions(self) -> list[str]:
        """Names of the actions."""
        return list(self._actions)

    @property
    def lk(self) -> api.LiveKitAPI:
        """The livekit-api client (created on first use, inside the running loop)."""
        if self._api is None:
            self._api = api.LiveKitAPI(
                self.config.http_url,
                self.config.api_key,
                self.config.api_secret,
                timeout=aiohttp.ClientTimeout(total=15),
            )
        return self._api

    async def aclose(self) -> None:
        """Close the LiveKit client."""
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    async def dispatch(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """Run one action.

        Raises:
            ApiError: With the status and words the route answers.
        """
        if not isinstance(body, Mapping):
            raise ApiError(400, "invalid_body", "the body must be a JSON object")
        action = body.get("action")
        if not isinstance(action, str) or not action:
            raise ApiError(400, "missing_field", "'action' is required")
        handler = self._actions.get(action)
        if handler is None:
            raise ApiError(
                400,
                "invalid_action",
                f"unknown action '{action[:40]}'; known: {', '.join(self._actions)}",
            )
        try:
            return await handler(principal, body)
        except api.TwirpError as error:
            if error.status == 404:
                raise ApiError(404, "not_found", "the room or participant does not exist") from None
            logger.warning("LiveKit refused %s: %s %s", action, error.status, error.code)
            raise ApiError(
                502, "livekit_error", f"LiveKit refused the request ({error.code})"
            ) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            logger.warning("LiveKit unreachable during %s: %s", action, type(error).__name__)
            raise ApiError(
                502, "livekit_unreachable", "LiveKit did not answer; try again shortly"
            ) from None

    # --- authorisation helpers ----------------------------------------------------------------

    def _appointment_of(self, principal: Principal, appointment_id: str) -> Appointment:
        appointment = self.store.get_appointment(appointment_id)
        if appointment is None and self.config.embedded and principal.role is Role.HOST:
            appointment = Appointment(appointment_id, principal.user_id)
            self.store.add_appointment(appointment)
        if appointment is None:
            raise ApiError(404, "not_found", f"appointment {appointment_id} not found")
        if principal.role is not Role.ADMIN and appointment.host_user_id != principal.user_id:
            raise ApiError(403, "forbidden", "you are not the host of this appointment")
        return appointment

    def _hosted_stream(self, principal: Principal, room_name: str) -> LiveStream:
        if principal.role is Role.VIEWER:
            raise ApiError(403, "forbidden", "only the host can do this")
        stream = self.store.get_stream(room_name)
        if stream is None:
            raise ApiError(404, "not_found", f"room {room_name} not found")
        self._appointment_of(principal, stream.appointment_id)
        return stream

    def _token(
        self, room: str, identity: str, name: str, grants: api.VideoGrants, metadata: str = ""
    ) -> str:
        return (
            api.AccessToken(self.config.api_key, self.config.api_secret)
            .with_identity(identity)
            .with_name(name or identity)
            .with_metadata(metadata)
            .with_ttl(datetime.timedelta(hours=6))
            .with_grants(grants)
            .to_jwt()
        )

    # --- the platform's actions ---------------------------------------------------------------

    async def create_room(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create the room of an appointment and return the host's token."""
        appointment_id = _identity(body, "appointmentId")
        host_user_id = _identity(body, "hostUserId", required=False) or principal.user_id
        if principal.role is Role.VIEWER:
            raise ApiError(403, "forbidden", "viewers cannot create rooms")
        appointment = self._appointment_of(principal, appointment_id)
        if host_user_id != appointment.host_user_id:
            raise ApiError(403, "forbidden", "hostUserId is not the host of this appointment")
        max_participants = _field(body, "maxParticipants", int, False, 100)
        if not 1 <= max_participants <= 10_000:
            raise ApiError(400, "invalid_field", "'maxParticipants' must be 1-10000")
        recording = _bool(body, "recordingEnabled", False)
        destinations = _field(body, "rtmpDestinations", list, False, [])
        room_name = f"appointment-{appointment_id}-{_now_ms()}"
        metadata = {
            "appointmentId": appointment_id,
            "hostUserId": host_user_id,
            "productType": "livekit_stream",
            "tenantId": appointment.tenant_id,
        }
        room = await self.lk.room.create_room(
            api.CreateRoomRequest(
                name=room_name,
                empty_timeout=EMPTY_TIMEOUT_S,
                max_participants=max_participants,
                metadata=json.dumps(metadata),
            )
        )
        stream = LiveStream(
            room_name,
            appointment_id,
            start_time_ms=_now_ms(),
            max_participants=max_participants,
            recording_enabled=recording,
        )
        self.store.save_stream(stream)
        # Least privilege: the host publishes and chats; moderation and recording go through
        # this backend, so the token carries no roomAdmin; `recorder` marks a recorded host.
        token = self._token(
            room_name,
            host_user_id,
            "Host",
            api.VideoGrants(
                room_join=True,
                room=room_name,
                can_publish=True,
                can_subscribe=True,
                can_publish_data=True,
                can_update_own_metadata=True,
                recorder=recording,
                can_publish_sources=["camera", "microphone", "screen_share", "screen_share_audio"],
            ),
        )
        if recording:
            await self.start_recording(principal, {"roomName": room_name})
        if destinations:
            await self.start_rtmp(principal, {"roomName": room_name, "destinations": destinations})
        return {
            "success": True,
            "room": {
                "name": room_name,
                "url": self.config.ws_url,
                "token": token,
                "maxParticipants": room.max_participants,
            },
        }

    async def join_room(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """A viewer token (a host of the room may let a guest publish)."""
        room_name = _room_name(body)
        user_id = _identity(body, "userId")
        user_name = _display_name(body, "userName")
        permissions = _field(body, "permissions", dict, False, {})
        can_publish = _bool(permissions, "canPublish", False)
        can_subscribe = _bool(permissions, "canSubscribe", True)
        can_publish_data = _bool(permissions, "canPublishData", False)
        stream = self.store.get_stream(room_name)
        if stream is None or stream.status != "active":
            raise ApiError(404, "not_found", f"room {room_name} not found")
        if principal.role is Role.VIEWER:
            if user_id != principal.user_id:
                raise ApiError(403, "forbidden", "viewers can only get a token for themselves")
            if can_publish:
                raise ApiError(403, "forbidden", "viewers cannot publish; ask the host")
        elif principal.role is Role.HOST:
            self._appointment_of(principal, stream.appointment_id)
        token = self._token(
            room_name,
            user_id,
            user_name,
            api.VideoGrants(
                room_join=True,
                room=room_name,
                can_publish=can_publish,
                can_subscribe=can_subscribe,
                can_publish_data=can_publish_data,
            ),
        )
        return {"success": True, "token": token, "url": self.config.ws_url}

    async def _room_snapshot(self, room_name: str) -> tuple[api.Room | None, list[Any]]:
        rooms = await self.lk.room.list_rooms(api.ListRoomsRequest(names=[room_name]))
        if not rooms.rooms:
            return None, []
        listing = await self.lk.room.list_participants(api.ListParticipantsRequest(room=room_name))
        return rooms.rooms[0], list(listing.participants)

    async def get_room_status(
        self, principal: Principal, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Who is in the room and whether it records."""
        room_name = _room_name(body)
        stream = self._hosted_stream(principal, room_name)
        room, participants = await self._room_snapshot(room_name)
        if room is None:
            raise ApiError(404, "not_found", f"room {room_name} not found")
        publishers = sum(1 for p in participants if p.tracks)
        stream.peak_participants = max(stream.peak_participants, len(participants))
        stream.peak_publishers = max(stream.peak_publishers, publishers)
        self.store.save_stream(stream)
        return {
            "success": True,
            "room": {
                "name": room.name,
                "participantCount": len(participants),
                "publisherCount": publishers,
                "isRecording": bool(room.active_recording or stream.recording_egress_id),
                "participants": [
                    {
                        "identity": p.identity,
                        "name": p.name,
                        "isPublishing": bool(p.tracks),
                        "joinedAt": p.joined_at,
                    }
                    for p in participants
                ],
            },
        }

    async def end_stream(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """Final stats, stop outputs, delete the room, compute and store the revenue split."""
        room_name = _room_name(body)
        appointment_id = _identity(body, "appointmentId", required=False)
        stream = self._hosted_stream(principal, room_name)
        if appointment_id and appointment_id != stream.appointment_id:
            raise ApiError(400, "invalid_field", "'appointmentId' does not match this room")
        appointment = self._appointment_of(principal, stream.appointment_id)
        room, participants = await self._room_snapshot(room_name)
        publishers = sum(1 for p in participants if p.tracks)
        stream.peak_participants = max(stream.peak_participants, len(participants))
        stream.peak_publishers = max(stream.peak_publishers, publishers)
        for egress_id in (stream.recording_egress_id, stream.rtmp_egress_id):
            if egress_id:
                try:
                    await self.lk.egress.stop_egress(api.StopEgressRequest(egress_id=egress_id))
                except api.TwirpError:
                    pass  # already ended
        if room is not None:
            await self.lk.room.delete_room(api.DeleteRoomRequest(room=room_name))
        end_ms = _now_ms()
        duration_ms = end_ms - stream.start_time_ms
        revenue = revenue_split(
            stream.peak_participants, duration_ms / 60_000, appointment.base_price
        )
        stream.status = "completed"
        stream.end_time_ms = end_ms
        stream.recording_egress_id = stream.rtmp_egress_id = ""
        stream.final_stats = {
            "totalParticipants": stream.peak_participants,
            "peakPublishers": stream.peak_publishers,
            "duration": duration_ms,
        }
        stream.revenue = revenue
        self.store.save_stream(stream)
        return {
            "success": True,
            "message": "Stream ended successfully",
            "stats": stream.final_stats,
            "revenue": revenue,
            "recording": stream.recording,
        }

    # --- recording ----------------------------------------------------------------------------

    async def start_recording(
        self, principal: Principal, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Record the room (room composite egress to a file or bucket)."""
        room_name = _room_name(body)
        output = _field(body, "output", str, False, "mp4")
        layout = _field(body, "layout", str, False, "speaker")
        quality = _field(body, "quality", str, False, "high")
        if output not in ("mp4", "webm"):
            raise ApiError(400, "invalid_field", "'output' must be mp4 or webm")
        if layout not in ("speaker", "grid"):
            raise ApiError(400, "invalid_field", "'layout' must be speaker or grid")
        if quality not in QUALITY_PRESETS:
            raise ApiError(400, "invalid_field", "'quality' must be low, medium or high")
        stream = self._hosted_stream(principal, room_name)
        if stream.recording_egress_id:
            raise ApiError(409, "already_recording", "this room is already being recorded")
        filename = f"{room_name}-{time.strftime('%Y%m%d-%H%M%S')}.{output}"
        file_output = api.EncodedFileOutput(
            file_type=api.EncodedFileType.MP4
            if output == "mp4"
            else api.EncodedFileType.DEFAULT_FILETYPE,
            filepath=filename
            if self.config.recording_bucket
            else f"{self.config.recording_dir.rstrip('/')}/{filename}",
        )
        if self.config.recording_bucket:
            file_output.s3.CopyFrom(api.S3Upload(bucket=self.config.recording_bucket))
        info = await self.lk.egress.start_room_composite_egress(
            api.RoomCompositeEgressRequest(
                room_name=room_name,
                layout=layout,
                preset=QUALITY_PRESETS[quality],
                file_outputs=[file_output],
            )
        )
        stream.recording_egress_id = info.egress_id
        stream.recording = {
            "egressId": info.egress_id,
            "status": "starting",
            "file": file_output.filepath,
            "output": output,
            "layout": layout,
            "quality": quality,
        }
        self.store.save_stream(stream)
        return {"success": True, "recording": stream.recording}

    async def stop_recording(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """Stop recording; the file (name, size, duration) is in the answer."""
        room_name = _room_name(body)
        stream = self._hosted_stream(principal, room_name)
        if not stream.recording_egress_id:
            raise ApiError(409, "not_recording", "this room is not being recorded")
        info = await self.lk.egress.stop_egress(
            api.StopEgressRequest(egress_id=stream.recording_egress_id)
        )
        stream.recording = {**stream.recording, **_recording_result(info)}
        stream.recording_egress_id = ""
        self.store.save_stream(stream)
        return {"success": True, "recording": stream.recording}

    # --- RTMP ---------------------------------------------------------------------------------

    def _destinations(self, raw: Any) -> dict[str, str]:
        """Turn the request's destinations into name → URL (keys stay server-side)."""
        if not isinstance(raw, list) or not raw:
            raise ApiError(400, "invalid_field", "'destinations' must be a non-empty list")
        if len(raw) > MAX_DESTINATIONS:
            raise ApiError(400, "invalid_field", f"at most {MAX_DESTINATIONS} destinations")
        result: dict[str, str] = {}
        for index, item in enumerate(raw):
            if isinstance(item, str):
                item = {"url": item}
            if not isinstance(item, dict):
                raise ApiError(
                    400, "invalid_field", f"destinations[{index}] must be a URL or object"
                )
            platform = str(item.get("platform") or item.get("name") or "").lower()
            key = item.get("streamKey")
            url = item.get("url")
            if platform in ("youtube", "twitch") and not url:
                if not isinstance(key, str) or not key.strip():
                    raise ApiError(
                        400, "invalid_field", f"destinations[{index}]: {platform} needs a streamKey"
                    )
                base = (
                    self.config.youtube_rtmp_url
                    if platform == "youtube"
                    else self.config.twitch_rtmp_url
                )
                url = base.rstrip("/") + "/" + key.strip()
                name = platform
            else:
                if not isinstance(url, str) or not re.match(r"^rtmps?://[^/\s]+/\S+$", url):
                    raise ApiError(
                        400,
                        "invalid_field",
                        f"destinations[{index}] must be an rtmp:// or rtmps:// URL "
                        "with an application path",
                    )
                name = platform or f"custom-{index + 1}"
            if name in result:
                name = f"{name}-{index + 1}"
            result[name] = url
        return result

    async def start_rtmp(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """Go live: one room composite egress streaming to every destination."""
        room_name = _room_name(body)
        layout = _field(body, "layout", str, False, "speaker")
        if layout not in ("speaker", "grid"):
            raise ApiError(400, "invalid_field", "'layout' must be speaker or grid")
        destinations = self._destinations(body.get("destinations"))
        stream = self._hosted_stream(principal, room_name)
        if stream.rtmp_egress_id:
            raise ApiError(409, "already_live", "this room is already live; use update_rtmp")
        info = await self.lk.egress.start_room_composite_egress(
            api.RoomCompositeEgressRequest(
                room_name=room_name,
                layout=layout,
                stream_outputs=[
                    api.StreamOutput(
                        protocol=api.StreamProtocol.RTMP, urls=list(destinations.values())
                    )
                ],
            )
        )
        stream.rtmp_egress_id = info.egress_id
        stream.destinations = destinations
        stream.destination_status = {n: {"status": "starting", "error": ""} for n in destinations}
        self.store.save_stream(stream)
        return {"success": True, "egressId": info.egress_id, "destinations": list(destinations)}

    async def update_rtmp(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """Add or remove destinations while live; the others are never interrupted."""
        room_name = _room_name(body)
        stream = self._hosted_stream(principal, room_name)
        if not stream.rtmp_egress_id:
            raise ApiError(409, "not_live", "this room is not live; use start_rtmp")
        add = self._destinations(body["add"]) if body.get("add") else {}
        remove = _field(body, "remove", list, False, [])
        if not add and not remove:
            raise ApiError(400, "missing_field", "give 'add' and/or 'remove'")
        unknown = [n for n in remove if n not in stream.destinations]
        if unknown:
            raise ApiError(404, "not_found", f"no destination named {', '.join(map(str, unknown))}")
        add = {
            (n if n not in stream.destinations else f"{n}-{len(stream.destinations) + 1}"): u
            for n, u in add.items()
        }
        await self.lk.egress.update_stream(
            api.UpdateStreamRequest(
                egress_id=stream.rtmp_egress_id,
                add_output_urls=list(add.values()),
                remove_output_urls=[stream.destinations[n] for n in remove],
            )
        )
        for name in remove:
            del stream.destinations[name]
            stream.destination_status[name] = {"status": "stopped", "error": ""}
        stream.destinations.update(add)
        stream.destination_status.update({n: {"status": "starting", "error": ""} for n in add})
        self.store.save_stream(stream)
        return {"success": True, "destinations": list(stream.destinations)}

    async def stop_rtmp(self, principal: Principal, body: Mapping[str, Any]) -> dict[str, Any]:
        """End the live stream to every destination."""
        room_name = _room_name(body)
        stream = self._hosted_stream(principal, room_name)
        if not stream.rtmp_egress_id:
            raise ApiError(409, "not_live", "this room is not live")
        await self.lk.egress.stop_egress(api.StopEgressRequest(egress_id=stream.rtmp_egress_id))
        stream.rtmp_egress_id = ""
        stream.destination_status = {
            n: {"status": "stopped", "error": ""} for n in stream.destinations
        }
        stream.destinations = {}
        self.store.save_stream(stream)
        return {"success": True}

    async def get_broadcast_status(
        self, principal: Principal, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Recording and each destination's status and error (from egress info and webhooks)."""
        room_name = _room_name(body)
        stream = self._hosted_stream(principal, room_name)
        if stream.rtmp_egress_id:
            listed = await self.lk.egress.list_egress(
                api.ListEgressRequest(egress_id=stream.rtmp_egress_id)
            )
            if listed.items:
                self.apply_egress_info(stream, listed.items[0])
        if stream.recording_egress_id:
            listed = await self.lk.egress.list_egress(
                api.ListEgressRequest(egress_id=stream.recording_egress_id)
            )
            if listed.items:
                stream.recording = {**stream.recording, **_recording_result(listed.items[0])}
        self.store.save_stream(stream)
        return {
            "success": True,
            "recording": {"active": bool(stream.recording_egress_id), **stream.recording},
            "live": bool(stream.rtmp_egress_id),
            "destinations": [
                {"name": name, **status} for name, status in stream.destination_status.items()
            ],
        }

    def apply_egress_info(self, stream: LiveStream, info: api.EgressInfo) -> None:
        """Update destination statuses from an EgressInfo (API answer or webhook).

        EgressInfo masks stream URLs, so results are matched to our own name → URL map by
        position among the URLs we added, falling back to the unmasked host/app prefix.
        """
        status_words = {
            api.StreamInfo.Status.ACTIVE: "live",
            api.StreamInfo.Status.FINISHED: "stopped",
            api.StreamInfo.Status.FAILED: "failed",
        }
        for result in info.stream_results:
            name = _match_destination(result.url, stream.destinations)
            if name is None:
                continue
            stream.destination_status[name] = {
                "status": status_words.get(result.status, "starting"),
                "error": _scrub(result.error, stream.destinations.values()),
            }
        if info.status in (
            api.EgressStatus.EGRESS_COMPLETE,
            api.EgressStatus.EGRESS_FAILED,
            api.EgressStatus.EGRESS_ABORTED,
        ):
            if info.egress_id == stream.rtmp_egress_id:
                stream.rtmp_egress_id = ""
            if info.egress_id == stream.recording_egress_id:
                stream.recording_egress_id = ""
                stream.recording = {**stream.recording, **_recording_result(info)}

    async def handle_webhook(self, event: api.WebhookEvent) -> None:
        """Apply a verified LiveKit webhook to the stream records."""
        room_name = event.room.name or event.egress_info.room_name
        stream = self.store.get_stream(room_name) if room_name else None
        if stream is None:
            return
        if event.event.startswith("egress_"):
            self.apply_egress_info(stream, event.egress_info)
        elif event.event == "participant_joined":
            stream.peak_participants = max(stream.peak_participants, event.room.num_participants)
            stream.peak_publishers = max(stream.peak_publishers, event.room.num_publishers)
        elif event.event == "room_finished" and stream.status == "active":
            stream.status = "finished"
        self.store.save_stream(stream)

    # --- moderation ---------------------------------------------------------------------------

    async def mute_participant(
        self, principal: Principal, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Mute a participant's microphone, camera or screen (or a track by sid)."""
        room_name = _room_name(body)
        identity = _identity(body, "identity")
        source = _field(body, "source", str, False, "microphone")
        track_sid = _field(body, "trackSid", str, False, "")
        if source not in ("microphone", "camera", "screen_share"):
            raise ApiError(
                400, "invalid_field", "'source' must be microphone, camera or screen_share"
            )
        self._hosted_stream(principal, room_name)
        info = await self.lk.room.get_participant(
            api.RoomParticipantIdentity(room=room_name, identity=identity)
        )
        wanted = {
            "microphone": api.TrackSource.MICROPHONE,
            "camera": api.TrackSource.CAMERA,
            "screen_share": api.TrackSource.SCREEN_SHARE,
        }[source]
        tracks = [
            t for t in info.tracks if (t.sid == track_sid if track_sid else t.source == wanted)
        ]
        if not tracks:
            raise ApiError(404, "not_found", f"{identity} publishes no {source}")
        for track in tracks:
            await self.lk.room.mute_published_track(
                api.MuteRoomTrackRequest(
                    room=room_name, identity=identity, track_sid=track.sid, muted=True
                )
            )
        return {"success": True, "muted": [t.sid for t in tracks]}

    async def remove_participant(
        self, principal: Principal, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Remove someone from the room."""
        room_name = _room_name(body)
        identity = _identity(body, "identity")
        self._hosted_stream(principal, room_name)
        await self.lk.room.remove_participant(
            api.RoomParticipantIdentity(room=room_name, identity=identity)
        )
        return {"success": True}

    async def update_participant_permissions(
        self, principal: Principal, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Move someone on or off stage (publish permission), or stop their chat."""
        room_name = _room_name(body)
        identity = _identity(body, "identity")
        permissions = _field(body, "permissions", dict)
        self._hosted_stream(principal, room_name)
        info = await self.lk.room.get_participant(
            api.RoomParticipantIdentity(room=room_name, identity=identity)
        )
        current = info.permission
        permission = api.ParticipantPermission(
            can_publish=_bool(permissions, "canPublish", current.can_publish),
            can_subscribe=_bool(permissions, "canSubscribe", current.can_subscribe),
            can_publish_data=_bool(permissions, "canPublishData", current.can_publish_data),
        )
        updated = await self.lk.room.update_participant(
            api.UpdateParticipantRequest(room=room_name, identity=identity, permission=permission)
        )
        return {
            "success": True,
            "permissions": {
                "canPublish": updated.permission.can_publish,
                "canSubscribe": updated.permission.can_subscribe,
                "canPublishData": updated.permission.can_publish_data,
            },
        }


def _recording_result(info: api.EgressInfo) -> dict[str, Any]:
    words = {
        api.EgressStatus.EGRESS_STARTING: "starting",
        api.EgressStatus.EGRESS_ACTIVE: "active",
        api.EgressStatus.EGRESS_ENDING: "ending",
        api.EgressStatus.EGRESS_COMPLETE: "complete",
        api.EgressStatus.EGRESS_FAILED: "failed",
    }
    result: dict[str, Any] = {"status": words.get(info.status, "unknown")}
    if info.file_results:
        file = info.file_results[0]
        result.update(
            file=file.location or file.filename,
            sizeBytes=file.size,
            durationS=round(file.duration / 1e9, 1),
        )
    if info.error:
        result["error"] = info.error
    return result


def _match_destination(masked: str, destinations: Mapping[str, str]) -> str | None:
    """Find our destination for a masked URL like ``rtmp://host/app/{ab...}``."""
    for name, url in destinations.items():
        if masked == url:
            return name
    prefix, _, hidden = masked.partition("{")
    visible = hidden.split("...", 1)[0].rstrip("}")
    for name, url in destinations.items():
        if prefix and url.startswith(prefix) and url[len(prefix) :].startswith(visible):
            return name
    return None


def _scrub(text: str, urls: Any) -> str:
    for url in urls:
        key = url.rsplit("/", 1)[-1]
        if key and len(key) >= 4:
            text = text.replace(key, "***")
    return text
