"""The LiveKit double's HTTP side: the signal WebSocket, RoomService (Twirp), webhooks and the
test-only control endpoints under ``/_double``."""

from __future__ import annotations

import asyncio
import base64
import datetime
import gzip
import hashlib
import logging
import secrets
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from google.protobuf import json_format
from livekit import api
from livekit.protocol import models, rtc
from livekit.protocol import room as room_pb
from livekit.protocol import webhook as webhook_pb

from tests.livekit_double.auth import (
    AuthError,
    bearer_claims,
    bearer_token,
    require_grant,
    verify_token,
)
from tests.livekit_double.rooms import (
    PING_INTERVAL_S,
    PING_TIMEOUT_S,
    QUALITY_INTERVAL_S,
    RESUME_GRACE_S,
    Participant,
    Room,
    now_ms,
)

logger = logging.getLogger(__name__)

SERVER_VERSION = "1.9.0"
PROTOCOL_VERSION = 16


class DoubleServer:
    """State and handlers of one LiveKit double.

    Args:
        api_key: The API key tokens must be issued by.
        api_secret: The secret tokens are signed with.
        webhook_url: Where to POST webhooks, if anywhere.
    """

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        webhook_url: str | None = None,
        egress_dir: Path | None = None,
        without_v1: bool = False,
    ) -> None:
        from tests.livekit_double.egress import EgressManager

        self.api_key = api_key
        self.api_secret = api_secret
        self.webhook_url = webhook_url
        self.without_v1 = without_v1
        """Answer 404 on /rtc/v1, as servers older than single-PC mode do."""
        self.rooms: dict[str, Room] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http: aiohttp.ClientSession | None = None
        self.app = web.Application(client_max_size=8 * 1024 * 1024)
        self.app.router.add_get("/rtc/v1", self.handle_signal)
        self.app.router.add_get("/rtc", self.handle_signal_v0)
        self.app.router.add_get("/rtc/validate", self.handle_validate)
        self.app.router.add_get("/rtc/v1/validate", self.handle_validate)
        self.app.router.add_post("/twirp/livekit.RoomService/{method}", self.handle_room_service)
        self.egress = EgressManager(self, egress_dir or Path(tempfile.mkdtemp(prefix="egress-")))
        self.app.router.add_post("/twirp/livekit.Egress/{method}", self.egress.handle)
        self.app.router.add_post("/_double/cut_signal", self.handle_cut_signal)
        self.app.router.add_post("/_double/quality", self.handle_set_quality)
        self.app.router.add_get("/", self.handle_root)
        self.app.on_startup.append(self._start)
        self.app.on_shutdown.append(self._stop)

    # --- life cycle --------------------------------------------------------------------------

    async def _start(self, app: web.Application) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self._spawn(self._quality_loop())

    async def _stop(self, app: web.Application) -> None:
        for room in list(self.rooms.values()):
            await self.close_room(room, models.DisconnectReason.SERVER_SHUTDOWN)
        for task in list(self._tasks):
            task.cancel()
        if self._http is not None:
            await self._http.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _quality_loop(self) -> None:
        while True:
            await asyncio.sleep(QUALITY_INTERVAL_S)
            ticks = [room.tick_quality_and_speakers() for room in list(self.rooms.values())]
            for result in await asyncio.gather(*ticks, return_exceptions=True):
                if isinstance(result, Exception):
                    logger.warning("quality update failed: %r", result)

    async def handle_root(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    # --- rooms -------------------------------------------------------------------------------

    def get_or_create_room(self, name: str, **options: Any) -> Room:
        room = self.rooms.get(name)
        if room is None:
            room = Room(self, name, **options)
            self.rooms[name] = room
            self.webhook("room_started", room)
        return room

    async def close_room(self, room: Room, reason: Any) -> None:
        await self.egress.stop_room(room)
        for participant in list(room.participants.values()):
            await self.disconnect(participant, reason, notify_others=False)
        self.rooms.pop(room.name, None)
        self.webhook("room_finished", room)

    async def disconnect(
        self, participant: Participant, reason: Any, notify_others: bool = True
    ) -> None:
        """Remove a participant: tell it why, close its media, tell the others."""
        room = participant.room
        if room.participants.get(participant.identity) is not participant:
            return
        await participant.send(
            rtc.SignalResponse(
                leave=rtc.LeaveRequest(
                    can_reconnect=False, reason=reason, action=rtc.LeaveRequest.Action.DISCONNECT
                )
            )
        )
        del room.participants[participant.identity]
        for track_sid in list(participant.tracks):
            room.unpublish(participant, track_sid)
        participant.state = models.ParticipantInfo.State.DISCONNECTED
        participant.touch()
        await participant.close()
        if notify_others:
            await room.broadcast_update(participant)
        self.webhook("participant_left", room, participant)

    # --- signalling --------------------------------------------------------------------------

    async def handle_validate(self, request: web.Request) -> web.Response:
        try:
            claims = verify_token(bearer_token(request), self.api_key, self.api_secret)
            require_grant(claims, "roomJoin")
        except AuthError as error:
            return web.Response(status=error.status, text=error.message)
        return web.Response(text="success")

    async def handle_signal_v0(self, request: web.Request) -> web.StreamResponse:
        """The classic path: two peer connections, the server offers the subscriber one."""
        return await self.handle_signal(request, single_pc=False)

    def _join_request(self, request: web.Request) -> rtc.JoinRequest:
        raw = request.query.get("join_request", "")
        join = rtc.JoinRequest()
        if not raw:
            return join
        padded = raw + "=" * (-len(raw) % 4)
        wrapped = rtc.WrappedJoinRequest()
        wrapped.ParseFromString(base64.urlsafe_b64decode(padded))
        data = wrapped.join_request
        if wrapped.compression == rtc.WrappedJoinRequest.Compression.GZIP:
            data = gzip.decompress(data)
        join.ParseFromString(data)
        return join

    async def handle_signal(
        self, request: web.Request, single_pc: bool = True
    ) -> web.StreamResponse:
        if single_pc and self.without_v1:
            return web.Response(status=404, text="404 page not found")
        try:
            claims = bearer_claims(request, self.api_key, self.api_secret)
            require_grant(claims, "roomJoin")
        except AuthError as error:
            return web.Response(status=error.status, text=error.message)
        video = claims.video
        assert video is not None
        if not video.room:
            return web.Response(status=400, text="no room name in the token")
        try:
            join = self._join_request(request)
        except Exception:
            return web.Response(status=400, text="malformed join_request")
        room = self.get_or_create_room(video.room)
        existing = room.participants.get(claims.identity)
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        if join.reconnect and existing is not None and existing.sid == join.participant_sid:
            participant = existing
            await self._resume(participant, ws)
        else:
            if existing is not None:
                await self.disconnect(existing, models.DisconnectReason.DUPLICATE_IDENTITY)
            if room.max_participants and len(room.participants) >= room.max_participants:
                await ws.close(code=1008, message=b"room is full")
                return ws
            participant = self._new_participant(room, claims, single_pc)
            participant.ws = ws
            await self._join(participant, join)
        await self._signal_loop(participant, ws)
        return ws

    def _new_participant(
        self, room: Room, claims: api.access_token.Claims, single_pc: bool
    ) -> Participant:
        video = claims.video
        assert video is not None
        sources = [
            getattr(models.TrackSource, s.upper(), models.TrackSource.UNKNOWN)
            for s in (video.can_publish_sources or [])
        ]
        permission = models.ParticipantPermission(
            can_subscribe=video.can_subscribe is not False,
            can_publish=video.can_publish is not False,
            can_publish_data=video.can_publish_data is not False,
            can_publish_sources=sources,
            hidden=bool(video.hidden),
            can_update_metadata=bool(video.can_update_own_metadata),
        )
        participant = Participant(
            room,
            claims.identity,
            claims.name or "",
            claims.metadata or "",
            dict(claims.attributes or {}),
            permission,
            single_pc,
        )
        room.participants[participant.identity] = participant
        return participant

    async def _join(self, participant: Participant, join: rtc.JoinRequest) -> None:
        room = participant.room
        if join.metadata:
            participant.metadata = join.metadata
        participant.attributes.update(join.participant_attributes)
        response = rtc.JoinResponse(
            room=room.info(),
            participant=participant.info(),
            other_participants=[p.info() for p in room.others(participant)],
            server_version=SERVER_VERSION,
            subscriber_primary=not participant.single_pc,
            ping_timeout=PING_TIMEOUT_S,
            ping_interval=PING_INTERVAL_S,
            server_info=models.ServerInfo(
                edition=models.ServerInfo.Edition.Standard,
                version=SERVER_VERSION,
                protocol=PROTOCOL_VERSION,
                node_id="ND_double",
            ),
        )
        await participant.send(rtc.SignalResponse(join=response))
        participant.state = models.ParticipantInfo.State.ACTIVE
        if join.HasField("publisher_offer"):
            await participant.answer_offer(join.publisher_offer.sdp)
        if participant.sub_pc is not None:
            await participant.offer_subscriber()
        await room.broadcast_update(participant)
        self.webhook("participant_joined", room, participant)
        # Subscribe the newcomer to what is already published.
        if participant.permission.can_subscribe:
            for other in room.others(participant):
                participant.wanted.extend(t for t in other.tracks.values() if t.source)
            if participant.wanted:
                await participant.renegotiate()

    async def _resume(self, participant: Participant, ws: web.WebSocketResponse) -> None:
        if participant.disconnect_task is not None:
            participant.disconnect_task.cancel()
            participant.disconnect_task = None
        old = participant.ws
        participant.ws = ws
        if old is not None and not old.closed:
            await old.close()
        await participant.send(rtc.SignalResponse(reconnect=rtc.ReconnectResponse()))
        await participant.room.broadcast_update(participant, include_self=True)

    async def _signal_loop(self, participant: Participant, ws: web.WebSocketResponse) -> None:
        try:
            async for message in ws:
                if message.type != aiohttp.WSMsgType.BINARY:
                    continue
                request = rtc.SignalRequest()
                try:
                    request.ParseFromString(message.data)
                except Exception:
                    logger.warning("%s sent an unreadable signal message", participant.identity)
                    continue
                try:
                    await self._on_request(participant, request)
                except Exception:
                    logger.exception(
                        "%s: handling %s failed",
                        participant.identity,
                        request.WhichOneof("message"),
                    )
        finally:
            if participant.ws is ws and not participant.closed:
                # The socket dropped without a leave: keep the participant for a resume.
                participant.disconnect_task = asyncio.ensure_future(self._expire(participant))

    async def _expire(self, participant: Participant) -> None:
        await asyncio.sleep(RESUME_GRACE_S)
        await self.disconnect(participant, models.DisconnectReason.SIGNAL_CLOSE)

    async def _on_request(self, participant: Participant, request: rtc.SignalRequest) -> None:
        kind = request.WhichOneof("message")
        room = participant.room
        if kind == "offer":
            await participant.answer_offer(request.offer.sdp)
        elif kind == "trickle":
            await participant.add_ice_candidate(
                request.trickle.candidateInit,
                subscriber=request.trickle.target == rtc.SignalTarget.SUBSCRIBER,
            )
        elif kind == "answer":
            await participant.apply_subscriber_answer(request.answer.sdp)
        elif kind == "add_track":
            await self._add_track(participant, request.add_track)
        elif kind == "mute":
            await self._set_muted(participant, request.mute.sid, request.mute.muted)
        elif kind == "ping_req":
            await participant.send(
                rtc.SignalResponse(
                    pong_resp=rtc.Pong(
                        last_ping_timestamp=request.ping_req.timestamp, timestamp=now_ms()
                    )
                )
            )
        elif kind == "ping":
            await participant.send(rtc.SignalResponse(pong=now_ms()))
        elif kind == "leave":
            await self.disconnect(participant, models.DisconnectReason.CLIENT_INITIATED)
        elif kind == "update_metadata":
            update = request.update_metadata
            if update.metadata:
                participant.metadata = update.metadata
            if update.name:
                participant.name = update.name
            participant.attributes.update(update.attributes)
            participant.touch()
            await room.broadcast_update(participant, include_self=True)
        elif kind in (
            "subscription",
            "track_setting",
            "update_layers",
            "sync_state",
            "subscription_permission",
            "update_audio_track",
            "update_video_track",
            "simulate",
            "update_data_subscription",
        ):
            pass  # accepted; the relay sends every subscribed track at one layer
        else:
            logger.info("%s: ignoring signal request %s", participant.identity, kind)

    async def _add_track(self, participant: Participant, add: rtc.AddTrackRequest) -> None:
        if not participant.permission.can_publish:
            await participant.send(
                rtc.SignalResponse(
                    request_response=rtc.RequestResponse(
                        reason=rtc.RequestResponse.Reason.NOT_ALLOWED,
                        message="does not have permission to publish",
                    )
                )
            )
            return
        info = models.TrackInfo(
            sid="TR_" + secrets.token_hex(6),
            type=add.type,
            name=add.name,
            muted=add.muted,
            width=add.width,
            height=add.height,
            simulcast=len(add.layers) > 1 or any(c for c in add.simulcast_codecs),
            source=add.source,
            layers=add.layers,
            mime_type="audio/opus" if add.type == models.TrackType.AUDIO else "",
            stream=add.stream,
            disable_dtx=add.disable_dtx,
            stereo=add.stereo,
        )
        participant.pending[add.cid] = info
        await participant.send(
            rtc.SignalResponse(track_published=rtc.TrackPublishedResponse(cid=add.cid, track=info))
        )

    async def _set_muted(self, participant: Participant, track_sid: str, muted: bool) -> None:
        published = participant.tracks.get(track_sid)
        if published is None:
            info = next((i for i in participant.pending.values() if i.sid == track_sid), None)
            if info is not None:
                info.muted = muted
            return
        published.info.muted = muted
        participant.touch()
        await participant.room.broadcast_update(participant)

    # --- RoomService -------------------------------------------------------------------------

    async def handle_room_service(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        handlers: dict[str, tuple[Any, Any, str]] = {
            "CreateRoom": (room_pb.CreateRoomRequest, self._create_room, "roomCreate"),
            "ListRooms": (room_pb.ListRoomsRequest, self._list_rooms, "roomList"),
            "DeleteRoom": (room_pb.DeleteRoomRequest, self._delete_room, "roomCreate"),
            "ListParticipants": (
                room_pb.ListParticipantsRequest,
                self._list_participants,
                "roomAdmin",
            ),
            "GetParticipant": (room_pb.RoomParticipantIdentity, self._get_participant, "roomAdmin"),
            "RemoveParticipant": (
                room_pb.RoomParticipantIdentity,
                self._remove_participant,
                "roomAdmin",
            ),
            "MutePublishedTrack": (room_pb.MuteRoomTrackRequest, self._mute_track, "roomAdmin"),
            "UpdateParticipant": (
                room_pb.UpdateParticipantRequest,
                self._update_participant,
                "roomAdmin",
            ),
            "SendData": (room_pb.SendDataRequest, self._send_data, "roomAdmin"),
            "UpdateRoomMetadata": (
                room_pb.UpdateRoomMetadataRequest,
                self._update_room_metadata,
                "roomAdmin",
            ),
        }
        if method not in handlers:
            return twirp_error(404, "bad_route", f"no handler for {method}")
        request_class, handler, grant = handlers[method]
        is_json = request.content_type == "application/json"
        body = await request.read()
        message = request_class()
        try:
            if is_json:
                json_format.Parse(body or b"{}", message, ignore_unknown_fields=True)
            else:
                message.ParseFromString(body)
        except Exception:
            return twirp_error(400, "malformed", "the request body could not be decoded")
        try:
            claims = bearer_claims(request, self.api_key, self.api_secret)
            room_name = getattr(message, "room", None) or None
            require_grant(claims, grant, room_name if grant == "roomAdmin" else None)
            result = await handler(message)
        except AuthError as error:
            return twirp_error(error.status, error.code, error.message)
        except TwirpFailure as failure:
            return twirp_error(failure.status, failure.code, failure.message)
        if is_json:
            return web.Response(
                body=json_format.MessageToJson(result), content_type="application/json"
            )
        return web.Response(body=result.SerializeToString(), content_type="application/protobuf")

    def _room(self, name: str) -> Room:
        room = self.rooms.get(name)
        if room is None:
            raise TwirpFailure(404, "not_found", f"requested room does not exist: {name}")
        return room

    def _participant(self, room_name: str, identity: str) -> Participant:
        participant = self._room(room_name).participants.get(identity)
        if participant is None:
            raise TwirpFailure(404, "not_found", f"participant {identity} not found")
        return participant

    async def _create_room(self, req: room_pb.CreateRoomRequest) -> models.Room:
        room = self.get_or_create_room(
            req.name,
            empty_timeout_s=req.empty_timeout or 300,
            max_participants=req.max_participants,
            metadata=req.metadata,
        )
        if req.metadata:
            room.metadata = req.metadata
        return room.info()

    async def _list_rooms(self, req: room_pb.ListRoomsRequest) -> room_pb.ListRoomsResponse:
        names = set(req.names)
        return room_pb.ListRoomsResponse(
            rooms=[r.info() for r in self.rooms.values() if not names or r.name in names]
        )

    async def _delete_room(self, req: room_pb.DeleteRoomRequest) -> room_pb.DeleteRoomResponse:
        room = self._room(req.room)
        await self.close_room(room, models.DisconnectReason.ROOM_DELETED)
        return room_pb.DeleteRoomResponse()

    async def _list_participants(
        self, req: room_pb.ListParticipantsRequest
    ) -> room_pb.ListParticipantsResponse:
        room = self._room(req.room)
        return room_pb.ListParticipantsResponse(
            participants=[p.info() for p in room.participants.values()]
        )

    async def _get_participant(
        self, req: room_pb.RoomParticipantIdentity
    ) -> models.ParticipantInfo:
        return self._participant(req.room, req.identity).info()

    async def _remove_participant(
        self, req: room_pb.RoomParticipantIdentity
    ) -> room_pb.RemoveParticipantResponse:
        participant = self._participant(req.room, req.identity)
        await self.disconnect(participant, models.DisconnectReason.PARTICIPANT_REMOVED)
        return room_pb.RemoveParticipantResponse()

    async def _mute_track(self, req: room_pb.MuteRoomTrackRequest) -> room_pb.MuteRoomTrackResponse:
        participant = self._participant(req.room, req.identity)
        published = participant.tracks.get(req.track_sid)
        if published is None:
            raise TwirpFailure(404, "not_found", f"track {req.track_sid} not found")
        if not req.muted:
            # LiveKit refuses remote unmute unless the server enables it; the double does not.
            raise TwirpFailure(403, "permission_denied", "remote unmute not enabled")
        await participant.send(
            rtc.SignalResponse(mute=rtc.MuteTrackRequest(sid=req.track_sid, muted=True))
        )
        await self._set_muted(participant, req.track_sid, True)
        return room_pb.MuteRoomTrackResponse(track=published.info)

    async def _update_participant(
        self, req: room_pb.UpdateParticipantRequest
    ) -> models.ParticipantInfo:
        participant = self._participant(req.room, req.identity)
        if req.metadata:
            participant.metadata = req.metadata
        if req.name:
            participant.name = req.name
        participant.attributes.update(req.attributes)
        if req.HasField("permission"):
            participant.permission = req.permission
            if not req.permission.can_publish:
                for track_sid in list(participant.tracks):
                    participant.room.unpublish(participant, track_sid)
        participant.touch()
        await participant.room.broadcast_update(participant, include_self=True)
        return participant.info()

    async def _send_data(self, req: room_pb.SendDataRequest) -> room_pb.SendDataResponse:
        room = self._room(req.room)
        await room.send_server_data(req.data, req.kind, req.topic, list(req.destination_identities))
        return room_pb.SendDataResponse()

    async def _update_room_metadata(self, req: room_pb.UpdateRoomMetadataRequest) -> models.Room:
        room = self._room(req.room)
        room.metadata = req.metadata
        update = rtc.SignalResponse(room_update=rtc.RoomUpdate(room=room.info()))
        for participant in list(room.participants.values()):
            await participant.send(update)
        return room.info()

    # --- test controls -----------------------------------------------------------------------

    async def handle_cut_signal(self, request: web.Request) -> web.Response:
        """Drop a participant's signal socket without a leave (as a network failure would)."""
        identity = request.query.get("identity", "")
        for room in self.rooms.values():
            participant = room.participants.get(identity)
            if participant is not None and participant.ws is not None:
                await participant.ws.close(code=1011)
                return web.Response(text="cut")
        return web.Response(status=404, text=f"no participant {identity}")

    async def handle_set_quality(self, request: web.Request) -> web.Response:
        """Set the connection quality reported for a participant."""
        identity = request.query.get("identity", "")
        quality = getattr(models.ConnectionQuality, request.query.get("quality", "").upper(), None)
        if quality is None:
            return web.Response(status=400, text="quality must be excellent/good/poor/lost")
        for room in self.rooms.values():
            participant = room.participants.get(identity)
            if participant is not None:
                participant.quality = quality
                return web.Response(text="ok")
        return web.Response(status=404, text=f"no participant {identity}")

    # --- webhooks ----------------------------------------------------------------------------

    def webhook(
        self,
        event: str,
        room: Room,
        participant: Participant | None = None,
        track: models.TrackInfo | None = None,
        **extra: Any,
    ) -> None:
        """Send a webhook in the background (never blocks or fails the caller)."""
        if not self.webhook_url:
            return
        message = webhook_pb.WebhookEvent(
            event=event,
            room=room.info(),
            id="EV_" + secrets.token_hex(6),
            created_at=now_ms() // 1000,
            **extra,
        )
        if participant is not None:
            message.participant.CopyFrom(participant.info())
        if track is not None:
            message.track.CopyFrom(track)
        self._spawn(self.post_webhook(message))

    async def post_webhook(self, message: webhook_pb.WebhookEvent) -> None:
        """POST a webhook signed as LiveKit signs it (a JWT carrying the body's SHA-256)."""
        assert self.webhook_url and self._http is not None
        body = json_format.MessageToJson(message)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        token = (
            api.AccessToken(self.api_key, self.api_secret)
            .with_sha256(digest)
            .with_ttl(datetime.timedelta(minutes=5))
            .to_jwt()
        )
        try:
            await self._http.post(
                self.webhook_url,
                data=body,
                headers={"Authorization": token, "Content-Type": "application/webhook+json"},
            )
        except Exception as exc:
            logger.info("webhook %s to %s failed: %s", message.event, self.webhook_url, exc)


class TwirpFailure(Exception):
    """An expected RoomService failure."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def twirp_error(status: int, code: str, message: str) -> web.Response:
    """A Twirp error response as livekit-api parses it."""
    return web.json_response({"code": code, "msg": message}, status=status)
