"""Rooms and participants of the LiveKit double: signalling state plus one aiortc peer
connection per participant (LiveKit's single-PC mode: the client offers, the server answers).

Media is relayed by decoding each published track once and re-encoding it for every
subscriber (aiortc's ``MediaRelay``); aiortc does not receive simulcast, so only one layer of a
simulcast publisher arrives, which is all a relay needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
    sdp,
)
from aiortc.codecs import HEADER_EXTENSIONS
from aiortc.contrib.media import MediaRelay
from aiortc.rtcdtlstransport import RtpRouter
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters
from aiortc.rtp import RtpPacket
from aiortc.sdp import candidate_from_sdp
from livekit.protocol import models, rtc

logger = logging.getLogger(__name__)

PING_INTERVAL_S = 5
PING_TIMEOUT_S = 20
QUALITY_INTERVAL_S = 1.0
RESUME_GRACE_S = 15.0
SPEAKING_RMS = 500.0
"""Audio above this RMS (int16 units) counts as speaking."""

# A simulcast publisher puts each layer's RID in this header extension. aiortc does not offer
# it, but the first answer must accept it, or libwebrtc later publishes simulcast "successfully"
# and no media flows. Accepting the extension costs nothing: packets are routed by SSRC/MID.
_RID_EXTENSION = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
if not any(ext.uri == _RID_EXTENSION for ext in HEADER_EXTENSIONS["video"]):
    HEADER_EXTENSIONS["video"].append(RTCRtpHeaderExtensionParameters(id=10, uri=_RID_EXTENSION))


def _route_rtp_by_mid(self: RtpRouter, packet: RtpPacket) -> Any:
    # libwebrtc announces no SSRCs for simulcast sections and tags the first packets of each
    # stream with the MID header extension; aiortc only routes by SSRC or by a payload type
    # that a single receiver owns, so a second video track of one publisher would be dropped.
    if packet.ssrc not in self.ssrc_table and packet.extensions.mid is not None:
        receiver = self.mid_table.get(packet.extensions.mid)
        if receiver is not None:
            self.ssrc_table[packet.ssrc] = receiver
            return receiver
    return _route_rtp_by_ssrc(self, packet)


_route_rtp_by_ssrc = RtpRouter.route_rtp
RtpRouter.route_rtp = _route_rtp_by_mid  # type: ignore[method-assign]


def new_sid(prefix: str) -> str:
    """A server id like LiveKit's: prefix plus 12 random characters."""
    return prefix + secrets.token_hex(6)


def now_ms() -> int:
    """Wall clock in milliseconds."""
    return int(time.time() * 1000)


@dataclass
class PublishedTrack:
    """A track a participant publishes, and the relay that fans it out."""

    info: models.TrackInfo
    owner: Participant
    source: MediaStreamTrack | None = None
    relay: MediaRelay = field(default_factory=MediaRelay)
    drain: asyncio.Task[None] | None = None

    def subscribe(self) -> MediaStreamTrack:
        """A new consumer of this track's decoded frames."""
        assert self.source is not None
        return self.relay.subscribe(self.source, buffered=False)


class Participant:
    """One connected client: its signal socket, peer connection and tracks."""

    def __init__(
        self,
        room: Room,
        identity: str,
        name: str,
        metadata: str,
        attributes: dict[str, str],
        permission: models.ParticipantPermission,
        single_pc: bool = True,
    ) -> None:
        self.room = room
        self.sid = new_sid("PA_")
        self.identity = identity
        self.name = name
        self.metadata = metadata
        self.attributes = dict(attributes)
        self.permission = permission
        self.joined_at_ms = now_ms()
        self.state = models.ParticipantInfo.State.JOINED
        self.version = 1
        self.ws: web.WebSocketResponse | None = None
        self.single_pc = single_pc
        self.pc = RTCPeerConnection()
        # Classic mode (/rtc): a second connection on which the server offers what it sends.
        self.sub_pc: RTCPeerConnection | None = (
            None
            if single_pc
            else RTCPeerConnection(RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
        )
        self.tracks: dict[str, PublishedTrack] = {}
        self.pending: dict[str, models.TrackInfo] = {}  # by client track id (cid)
        self.subscriptions: dict[str, RTCRtpTransceiver] = {}  # by track sid
        self.wanted: list[PublishedTrack] = []  # subscriptions waiting for a media section
        self.negotiation = asyncio.Lock()
        # The server's own data channels carry data to the client: on the one connection in
        # single-PC mode, on the subscriber connection in classic mode.
        sending_pc = self.sub_pc or self.pc
        self.reliable: RTCDataChannel = sending_pc.createDataChannel("_reliable", ordered=True)
        self.lossy: RTCDataChannel = sending_pc.createDataChannel(
            "_lossy", ordered=False, maxRetransmits=0
        )
        self.offer_id = 0
        self.trickled_candidates: dict[int, bool] = {}
        self.quality = models.ConnectionQuality.EXCELLENT
        self.speaking_level = 0.0
        self.closed = False
        self.disconnect_task: asyncio.Task[None] | None = None
        self.pc.on("datachannel", self._on_datachannel)

    # --- info -------------------------------------------------------------------------------

    def info(self) -> models.ParticipantInfo:
        """The participant as LiveKit describes it."""
        return models.ParticipantInfo(
            sid=self.sid,
            identity=self.identity,
            name=self.name,
            state=self.state,
            tracks=[t.info for t in self.tracks.values()],
            metadata=self.metadata,
            joined_at=self.joined_at_ms // 1000,
            joined_at_ms=self.joined_at_ms,
            version=self.version,
            permission=self.permission,
            is_publisher=bool(self.tracks),
            attributes=self.attributes,
        )

    def touch(self) -> None:
        """Bump the version so clients apply this update."""
        self.version += 1

    # --- signalling out -----------------------------------------------------------------------

    async def send(self, response: rtc.SignalResponse) -> None:
        """Send a signal message; a closed socket is ignored (the client will resume)."""
        ws = self.ws
        if ws is None or ws.closed:
            return
        try:
            await ws.send_bytes(response.SerializeToString())
        except (ConnectionError, RuntimeError):
            logger.debug("%s: signal socket gone", self.identity)

    # --- media in -----------------------------------------------------------------------------

    def _bundle_all(self) -> None:
        """Put every media section on the one bundled transport the client uses.

        aiortc bundles only the sections it meets in the first offer's BUNDLE group handling;
        a section first answered inactive can keep a transport of its own that never
        connects, and a track attached to it later would never be sent.
        """
        sctp = self.pc.sctp
        transceivers = self.pc.getTransceivers()
        primary = sctp.transport if sctp is not None else None
        if primary is None and transceivers:
            primary = transceivers[0].receiver.transport
        for transceiver in transceivers:
            if primary is not None and transceiver.receiver.transport is not primary:
                transceiver.receiver.setTransport(primary)
                transceiver.sender.setTransport(primary)
                transceiver._bundled = True

    def _collect_new_tracks(self) -> None:
        """Match newly offered send sections to the tracks announced with add_track.

        The msid's track id is the client's cid. aiortc only reads msid through the legacy
        "msid-semantic: WMS <ids>" line, which libwebrtc no longer writes, so read it here.
        """
        description = sdp.SessionDescription.parse(self.pc.remoteDescription.sdp)
        msid_by_mid = {m.rtp.muxId: m.msid for m in description.media}
        known = {id(p.source) for p in self.tracks.values()}
        for transceiver in self.pc.getTransceivers():
            track = transceiver.receiver.track
            if track is None or id(track) in known:
                continue
            if getattr(transceiver, "_offerDirection", None) not in ("recvonly", "sendrecv"):
                continue
            msid = msid_by_mid.get(transceiver.mid or "") or ""
            cid = msid.split()[1] if " " in msid else ""
            if cid in self.pending:
                self._on_track(self.pending.pop(cid), track)

    def _on_track(self, info: models.TrackInfo, track: MediaStreamTrack) -> None:
        info.mid = ""
        published = PublishedTrack(info=info, owner=self, source=track)
        published.drain = asyncio.ensure_future(self._drain(published))
        self.tracks[info.sid] = published
        self.touch()
        self.room.on_track_published(self, published)

    async def _drain(self, published: PublishedTrack) -> None:
        """Keep decoding so the relay never backs up, and measure audio for active speakers."""
        consumer = published.subscribe()
        is_audio = published.info.type == models.TrackType.AUDIO
        first = True
        try:
            while True:
                frame = await consumer.recv()
                if first:
                    logger.info("%s: first frame of %s", self.identity, published.info.sid)
                    first = False
                if is_audio:
                    samples = frame.to_ndarray().astype(np.float32)  # type: ignore[union-attr]
                    rms = float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
                    self.speaking_level = 0.8 * self.speaking_level + 0.2 * rms
        except Exception:  # the track ended (MediaStreamError) or the room closed
            return

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        kind = (
            models.DataPacket.Kind.RELIABLE
            if channel.label == "_reliable"
            else models.DataPacket.Kind.LOSSY
        )

        @channel.on("message")
        def on_message(message: bytes | str) -> None:
            if isinstance(message, str):
                message = message.encode()
            self.room.relay_data(self, message, kind)

    # --- negotiation --------------------------------------------------------------------------

    async def answer_offer(self, offer_sdp: str) -> None:
        """Answer a client offer, attaching waiting subscriptions to free media sections."""
        async with self.negotiation:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            self._bundle_all()
            self._collect_new_tracks()
            self._detect_unpublished()
            self._attach_wanted()
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
            mids = {t.mid: sid for sid, t in self.subscriptions.items() if t.mid is not None}
            logger.debug("%s: answer with subscriptions %s", self.identity, mids)
            await self.send(
                rtc.SignalResponse(
                    answer=rtc.SessionDescription(
                        type="answer", sdp=self.pc.localDescription.sdp, mid_to_track_id=mids
                    )
                )
            )
            await self.trickle_local_candidates(self.pc, rtc.SignalTarget.PUBLISHER)
            await self._request_sections()

    def _attach_wanted(self) -> None:
        still: list[PublishedTrack] = []
        for published in self.wanted:
            if published.info.sid in self.subscriptions or published.source is None:
                continue
            kind = "audio" if published.info.type == models.TrackType.AUDIO else "video"
            free = next(
                (
                    t
                    for t in self.pc.getTransceivers()
                    if t.kind == kind
                    # aiortc stores the offer's direction reversed: the client's recvonly
                    # sections are "sendonly" from here.
                    and getattr(t, "_offerDirection", None) in ("sendonly", "sendrecv")
                    and t.sender.track is None
                    and not t.stopped
                    and t not in self.subscriptions.values()
                ),
                None,
            )
            if free is None:
                still.append(published)
                continue
            free.direction = "sendonly"
            free.sender.replaceTrack(published.subscribe())
            # The client matches media to tracks by the stream id "PA_x|TR_y" and the MID map.
            free.sender._stream_id = f"{published.owner.sid}|{published.info.sid}"
            free.sender._track_id = published.info.sid
            self.subscriptions[published.info.sid] = free
        self.wanted = still

    async def _request_sections(self) -> None:
        audio = sum(1 for p in self.wanted if p.info.type == models.TrackType.AUDIO)
        video = len(self.wanted) - audio
        if audio or video:
            await self.send(
                rtc.SignalResponse(
                    media_sections_requirement=rtc.MediaSectionsRequirement(
                        num_audios=audio, num_videos=video
                    )
                )
            )

    async def renegotiate(self) -> None:
        """Start a negotiation so waiting subscriptions get media sections.

        Single-PC mode: ask the client for a new offer (the server never offers there).
        Classic mode: offer on the subscriber connection.
        """
        if self.sub_pc is not None:
            await self.offer_subscriber()
            return
        await self.send(
            rtc.SignalResponse(
                media_sections_requirement=rtc.MediaSectionsRequirement(num_audios=0, num_videos=0)
            )
        )

    async def offer_subscriber(self) -> None:
        """Classic mode: attach waiting subscriptions and send the subscriber offer."""
        assert self.sub_pc is not None
        async with self.negotiation:
            for published in self.wanted:
                if published.info.sid in self.subscriptions or published.source is None:
                    continue
                transceiver = self.sub_pc.addTransceiver(published.subscribe(), "sendonly")
                transceiver.sender._stream_id = f"{published.owner.sid}|{published.info.sid}"
                transceiver.sender._track_id = published.info.sid
                self.subscriptions[published.info.sid] = transceiver
            self.wanted = []
            offer = await self.sub_pc.createOffer()
            await self.sub_pc.setLocalDescription(offer)
            self.offer_id += 1
            await self.send(
                rtc.SignalResponse(
                    offer=rtc.SessionDescription(
                        type="offer", sdp=self.sub_pc.localDescription.sdp, id=self.offer_id
                    )
                )
            )
            await self.trickle_local_candidates(self.sub_pc, rtc.SignalTarget.SUBSCRIBER)

    async def trickle_local_candidates(self, pc: RTCPeerConnection, target: Any) -> None:
        """Trickle the server's candidates too, as LiveKit does (aiortc also puts them in the
        SDP, so a client that ignores trickle still connects)."""
        if pc.localDescription is None or self.trickled_candidates.get(id(pc)):
            return
        description = sdp.SessionDescription.parse(pc.localDescription.sdp)
        if not description.media:
            return
        media = description.media[0]
        for candidate in media.ice_candidates:
            init = {
                "candidate": "candidate:" + sdp.candidate_to_sdp(candidate),
                "sdpMid": media.rtp.muxId,
                "sdpMLineIndex": 0,
            }
            await self.send(
                rtc.SignalResponse(
                    trickle=rtc.TrickleRequest(candidateInit=json.dumps(init), target=target)
                )
            )
        self.trickled_candidates[id(pc)] = True

    async def apply_subscriber_answer(self, answer_sdp: str) -> None:
        """Classic mode: the client's answer to the subscriber offer."""
        if self.sub_pc is None:
            return
        await self.sub_pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    def _detect_unpublished(self) -> None:
        for sid, published in list(self.tracks.items()):
            transceiver = next(
                (t for t in self.pc.getTransceivers() if t.receiver.track is published.source),
                None,
            )
            direction = getattr(transceiver, "_offerDirection", None) if transceiver else None
            if transceiver is None or direction not in ("recvonly", "sendrecv"):
                self.room.unpublish(self, sid)

    async def add_ice_candidate(self, candidate_init: str, subscriber: bool = False) -> None:
        """Apply a trickled candidate from the client."""
        data = json.loads(candidate_init)
        text = data.get("candidate", "")
        if not text:
            return
        if text.startswith("candidate:"):
            text = text[len("candidate:") :]
        candidate = candidate_from_sdp(text)
        candidate.sdpMid = data.get("sdpMid")
        candidate.sdpMLineIndex = data.get("sdpMLineIndex")
        pc = self.sub_pc if subscriber and self.sub_pc is not None else self.pc
        with contextlib.suppress(Exception):  # candidates for a finished ICE gathering
            await pc.addIceCandidate(candidate)

    async def close(self) -> None:
        """Tear down media and the socket."""
        if self.closed:
            return
        self.closed = True
        for published in self.tracks.values():
            if published.drain is not None:
                published.drain.cancel()
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        await self.pc.close()
        if self.sub_pc is not None:
            await self.sub_pc.close()


class Room:
    """A room: its participants, and the rules that connect their tracks."""

    def __init__(
        self,
        server: Any,
        name: str,
        empty_timeout_s: int = 300,
        max_participants: int = 0,
        metadata: str = "",
    ) -> None:
        self.server = server
        self.sid = new_sid("RM_")
        self.name = name
        self.empty_timeout_s = empty_timeout_s
        self.max_participants = max_participants
        self.metadata = metadata
        self.creation_time_ms = now_ms()
        self.participants: dict[str, Participant] = {}  # by identity
        self.active_recording = False
        self.speakers: list[str] = []

    def info(self) -> models.Room:
        """The room as LiveKit describes it."""
        publishers = sum(1 for p in self.participants.values() if p.tracks)
        return models.Room(
            sid=self.sid,
            name=self.name,
            empty_timeout=self.empty_timeout_s,
            max_participants=self.max_participants,
            creation_time=self.creation_time_ms // 1000,
            creation_time_ms=self.creation_time_ms,
            metadata=self.metadata,
            num_participants=len(self.participants),
            num_publishers=publishers,
            active_recording=self.active_recording,
            enabled_codecs=[
                models.Codec(mime="audio/opus"),
                models.Codec(mime="video/VP8"),
                models.Codec(mime="video/H264"),
            ],
        )

    def others(self, participant: Participant) -> list[Participant]:
        """Everyone else in the room."""
        return [p for p in self.participants.values() if p is not participant]

    async def broadcast_update(
        self, participant: Participant, *, include_self: bool = False
    ) -> None:
        """Tell the others (and optionally the participant) about a changed participant."""
        update = rtc.SignalResponse(update=rtc.ParticipantUpdate(participants=[participant.info()]))
        targets = self.participants.values() if include_self else self.others(participant)
        await asyncio.gather(*(p.send(update) for p in list(targets)))

    def on_track_published(self, owner: Participant, published: PublishedTrack) -> None:
        """A track's media arrived: announce it, then subscribe everyone else to it."""

        async def announce() -> None:
            await self.broadcast_update(owner)
            for other in self.others(owner):
                if other.permission.can_subscribe:
                    other.wanted.append(published)
                    await other.renegotiate()
            self.server.webhook("track_published", self, owner, published.info)

        asyncio.ensure_future(announce())

    def unpublish(self, owner: Participant, track_sid: str) -> None:
        """Remove a track and stop sending it to subscribers."""
        published = owner.tracks.pop(track_sid, None)
        if published is None:
            return
        owner.touch()
        if published.drain is not None:
            published.drain.cancel()

        async def retract() -> None:
            await owner.send(
                rtc.SignalResponse(
                    track_unpublished=rtc.TrackUnpublishedResponse(track_sid=track_sid)
                )
            )
            await self.broadcast_update(owner)
            for other in self.others(owner):
                other.wanted = [w for w in other.wanted if w is not published]
                transceiver = other.subscriptions.pop(track_sid, None)
                if transceiver is not None:
                    transceiver.sender.replaceTrack(None)
                    transceiver.direction = "inactive"
                    await other.renegotiate()
            self.server.webhook("track_unpublished", self, owner, published.info)

        asyncio.ensure_future(retract())

    def relay_data(self, sender: Participant, payload: bytes, kind: int) -> None:
        """Forward a data packet to its destinations, stamped with the sender's identity."""
        packet = models.DataPacket()
        try:
            packet.ParseFromString(payload)
        except Exception:
            logger.warning("%s sent an unreadable data packet", sender.identity)
            return
        if not sender.permission.can_publish_data:
            return
        packet.participant_identity = sender.identity
        packet.participant_sid = sender.sid
        destinations = set(packet.destination_identities)
        data = packet.SerializeToString()
        for other in self.others(sender):
            if destinations and other.identity not in destinations:
                continue
            channel = other.reliable if kind == models.DataPacket.Kind.RELIABLE else other.lossy
            if channel.readyState == "open":
                channel.send(data)

    async def send_server_data(
        self, payload: bytes, kind: Any, topic: str, destinations: list[str]
    ) -> None:
        """RoomService.SendData: a user packet from the server to participants."""
        packet = models.DataPacket(
            kind=kind,
            user=models.UserPacket(payload=payload, topic=topic),
            destination_identities=destinations,
        )
        data = packet.SerializeToString()
        for participant in self.participants.values():
            if destinations and participant.identity not in destinations:
                continue
            channel = (
                participant.reliable
                if kind == models.DataPacket.Kind.RELIABLE
                else participant.lossy
            )
            if channel.readyState == "open":
                channel.send(data)

    async def tick_quality_and_speakers(self) -> None:
        """Send connection quality and active speakers, as LiveKit does periodically."""
        updates = rtc.ConnectionQualityUpdate(
            updates=[
                rtc.ConnectionQualityInfo(
                    participant_sid=p.sid,
                    quality=p.quality,
                    score=5.0 if p.quality == models.ConnectionQuality.EXCELLENT else 2.0,
                )
                for p in self.participants.values()
            ]
        )
        message = rtc.SignalResponse(connection_quality=updates)
        speaking = sorted(
            (p for p in self.participants.values() if p.speaking_level > SPEAKING_RMS),
            key=lambda p: -p.speaking_level,
        )
        sids = [p.sid for p in speaking]
        speakers_message = None
        if sids != self.speakers:
            stopped = [s for s in self.speakers if s not in sids]
            self.speakers = sids
            speakers_message = rtc.SignalResponse(
                speakers_changed=rtc.SpeakersChanged(
                    speakers=[
                        models.SpeakerInfo(
                            sid=p.sid, level=min(1.0, p.speaking_level / 10000), active=True
                        )
                        for p in speaking
                    ]
                    + [models.SpeakerInfo(sid=s, level=0.0, active=False) for s in stopped]
                )
            )

        async def tell(participant: Participant) -> None:
            # One stuck socket must not hold up everyone else's updates.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(participant.send(message), 2)
                if speakers_message is not None:
                    await asyncio.wait_for(participant.send(speakers_message), 2)

        await asyncio.gather(*(tell(p) for p in list(self.participants.values())))


OnEvent = Callable[..., None]
