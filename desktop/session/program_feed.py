"""Guests into the program: who is on the program's stage, their pictures and their voices.

For each guest the producer puts in the program, the feed reads their camera as I420 (the
compositor's format: no conversion on the way) at the simulcast layer their region needs, and
their microphone as 48 kHz mono into the program's mix. A guest who mutes is silent in the
mix; a guest whose camera is off shows their initials; the active speaker is told to the
compositor for the speaker layouts. Taking a guest off the program closes their streams.

The feed also says when the program leaves people out: live, with guests publishing in the
room but only the host (or nobody) in the program (:func:`program_warning`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from desktop.media.compositor import HOST_ID, Layout, Region, RegionKind, StageMember
from desktop.media.frames import AudioFrame, PixelFormat, VideoFrame, monotonic_us
from desktop.media.outputs.program import DirectBroadcast
from desktop.session.bounded_video import BoundedVideoStream
from desktop.session.media_watchdog import MediaProbe
from desktop.session.receive_drops import RECEIVE_DROPS
from desktop.session.receive_loop import Reader, ReceiveLoop, close_stream
from desktop.session.remote_video import LAYER_OF, LAYER_WISHES
from desktop.session.state import RoomState, Source, StateStore
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    from livekit import rtc
else:
    rtc = lazy_module("livekit.rtc")

logger = logging.getLogger(__name__)

MIX_RATE_HZ = 48_000
AUDIO_FRAME_MS = 20
"""A guest's microphone is handed over 20 ms at a time: half the events of the SDK's 10 ms."""
LOW_LAYER_MAX_H = 240
"""Regions up to this tall get the smallest simulcast layer (about 320×180)."""
MEDIUM_LAYER_MAX_H = 400
"""Regions up to this tall get the middle layer (about 640×360); taller ones the top layer."""


RESUBSCRIBE_AFTER_S = 1.0
"""Asking for a stalled camera anew: subscribe again this long after unsubscribing (at once,
the SFU would keep the subscription it has)."""

PROGRAM_WISH = "program"
"""The program's name in :data:`~desktop.session.remote_video.LAYER_WISHES`."""


def layer_for(region_height_px: int) -> rtc.VideoQuality.ValueType:
    """The simulcast layer that fills a region this tall without sending more than it shows."""
    if region_height_px <= LOW_LAYER_MAX_H:
        return rtc.VideoQuality.VIDEO_QUALITY_LOW
    if region_height_px <= MEDIUM_LAYER_MAX_H:
        return rtc.VideoQuality.VIDEO_QUALITY_MEDIUM
    return rtc.VideoQuality.VIDEO_QUALITY_HIGH


def _subscribed(
    participant: rtc.RemoteParticipant, source: rtc.TrackSource.ValueType
) -> rtc.RemoteTrackPublication | None:
    """The guest's publication of ``source`` that has a subscribed track (``None``: none)."""
    return next((p for p in participant.track_publications.values()
                 if p.source == source and p.track is not None), None)  # fmt: skip


def program_warning(state: RoomState, program_stage: tuple[str, ...]) -> str:
    """What the host should know about the program while live ('' when all is well).

    Args:
        state: The room.
        program_stage: Stage ids in the program (the host is :data:`HOST_ID`).
    """
    if not state.is_live:
        return ""
    on_stage = sorted(
        (p.name or p.identity) for p in state.remotes.values() if p.can_publish and p.is_publisher
    )
    guests_in_program = [i for i in program_stage if i != HOST_ID]
    if not on_stage or guests_in_program:
        return ""
    who = ", ".join(on_stage[:3]) + (f" and {len(on_stage) - 3} more" if len(on_stage) > 3 else "")
    if not program_stage:
        return (
            f"Viewers see an empty program while {who} "
            f"{'is' if len(on_stage) == 1 else 'are'} on stage: add people to the program."
        )
    return (
        f"Viewers see only you: {who} {'is' if len(on_stage) == 1 else 'are'} on stage but not "
        "in the program. Add them with “Add to program” on their tile."
    )


class _GuestFeed:
    """One guest's streams into the program."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.video: Reader | None = None
        """Reads the camera on the receive loop (``None``: no camera stream open)."""
        self.video_publication: rtc.RemoteTrackPublication | None = None
        self.video_track: rtc.Track | None = None
        """The camera track read now (a new subscription brings a new one)."""
        self.audio: Reader | None = None
        """Reads the microphone on the receive loop."""
        self.audio_track: rtc.Track | None = None
        self.quality: rtc.VideoQuality.ValueType | None = None
        self.video_at = 0.0
        """When the last picture reached the program (``time.monotonic()``; 0: never)."""
        self.audio_at = 0.0
        """When the last sound reached the mix."""
        self.asked = 0
        """Times the watchdog asked for the camera again."""


class ProgramFeed:
    """Keeps the program's stage and the guests' media in step with the room.

    Args:
        broadcast: The program (compositor and mix) to feed.
        store: The room state (names, mute and camera state of guests).
    """

    def __init__(self, broadcast: DirectBroadcast, store: StateStore) -> None:
        self.broadcast = broadcast
        self.store = store
        self.room: rtc.Room | None = None
        self._stage: list[str] = [HOST_ID]
        self._feeds: dict[str, _GuestFeed] = {}
        self._listeners: list[Callable[[], None]] = []
        # Guests' cameras and microphones are read on their own loop (see receive_loop).
        self._receive: ReceiveLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._stopping: set[asyncio.Task[None]] = set()
        self.host_name = "Host"
        self._unsubscribe = store.subscribe(self._on_state)

    # -- what the producer changes -------------------------------------------------------------

    @property
    def stage(self) -> tuple[str, ...]:
        """Stage ids in the program, in order (:data:`HOST_ID` for the host)."""
        return tuple(self._stage)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Be told when the program's stage or layout changes."""
        self._listeners.append(listener)

    def attach(self, room: rtc.Room) -> None:
        """Follow a room: tracks of guests in the program are read as they come and go."""
        self.room = room

        def guarded(handler: Callable[..., None]) -> Callable[..., None]:
            def wrapper(*args: Any) -> None:
                try:
                    handler(*args)
                except Exception:  # the SDK's emitter would swallow it
                    logger.exception("program feed handler failed")

            return wrapper

        room.on("track_subscribed", guarded(lambda track, pub, p: self._refresh(p.identity)))
        room.on("track_unsubscribed", guarded(lambda track, pub, p: self._refresh(p.identity)))
        room.on("participant_disconnected", guarded(self._on_left))
        room.on("active_speakers_changed", guarded(self._on_speakers))

    def set_in_program(self, identity: str, in_program: bool) -> None:
        """Put a guest in the program (last in order) or take them out."""
        if in_program and identity not in self._stage:
            self._stage.append(identity)
        elif not in_program and identity in self._stage:
            self._stage.remove(identity)
        else:
            return
        self._apply_stage()
        if identity != HOST_ID:
            self._refresh(identity)
        self._changed()

    def set_layout(self, layout: Layout) -> None:
        """Switch the program's layout (outputs go on)."""
        self.broadcast.set_layout(layout)
        self._fit_layers()
        self._changed()

    def set_pinned(self, identity: str) -> None:
        """Keep someone large in solo and speaker layouts ('' follows the active speaker)."""
        stage_id = identity if identity in self._stage else ""
        self.broadcast.compositor.update(pinned=stage_id)
        self._fit_layers()
        self._changed()

    def set_banner(self, text: str) -> None:
        """Show a banner along the bottom of the program ('' removes it)."""
        self.broadcast.set_banner(text)
        self._changed()

    def warning(self) -> str:
        """What the host should know about the program now ('' when all is well)."""
        return program_warning(self.store.state, self.stage)

    # -- keeping up with the room --------------------------------------------------------------

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                logger.exception("program listener raised")

    def _member(self, stage_id: str) -> StageMember:
        state = self.store.state
        if stage_id == HOST_ID:
            local = state.local
            name = (local.name or local.identity) if local else ""
            # Whether the host's camera shows is the direct program's to say (it knows whether
            # a camera is open); only the name comes from the room.
            current = next((m for m in self.broadcast.compositor.scene.stage
                            if m.source_id == HOST_ID), None)  # fmt: skip
            return StageMember(HOST_ID, name or self.host_name,
                               current.camera_on if current else True)  # fmt: skip
        guest = state.remotes.get(stage_id)
        if guest is None:
            return StageMember(stage_id, stage_id, camera_on=False)
        camera = guest.track(Source.CAMERA)
        return StageMember(
            stage_id, guest.name or stage_id, camera is not None and not camera.muted
        )

    def _apply_stage(self) -> None:
        self.broadcast.set_stage([self._member(i) for i in self._stage])
        for identity in self._stage:
            guest = self.store.state.remotes.get(identity)
            if identity != HOST_ID and guest is not None:
                self.broadcast.set_guest_muted(identity, guest.mic_muted)
        self._fit_layers()

    def _on_state(self, old: RoomState, new: RoomState) -> None:
        if old.remotes is new.remotes and old.local is new.local:
            return
        relevant = any(
            old.remotes.get(i) != new.remotes.get(i) for i in self._stage if i != HOST_ID
        ) or old.local != new.local  # fmt: skip
        if relevant:
            self._apply_stage()
            for identity in self._stage:
                if identity != HOST_ID:
                    self._refresh(identity)

    def _on_left(self, participant: rtc.RemoteParticipant) -> None:
        self.set_in_program(participant.identity, False)

    def _on_speakers(self, speakers: list[rtc.Participant]) -> None:
        local = self.room.local_participant.identity if self.room else ""
        for speaker in speakers:
            stage_id = HOST_ID if speaker.identity == local else speaker.identity
            if stage_id in self._stage:
                self.broadcast.compositor.update(active_speaker=stage_id)
                self._fit_layers()
                return

    def _fit_layers(self) -> None:
        heights: dict[str, int] = {}
        for region in self.broadcast.compositor.planned_regions():
            if region.kind is RegionKind.PERSON:
                heights[region.source_id] = region.height
        for identity, feed in self._feeds.items():
            publication = feed.video_publication
            if publication is None or not publication.simulcasted:
                continue  # a single layer has nothing smaller to give
            quality = layer_for(heights.get(identity, 0))
            if quality != feed.quality:
                feed.quality = quality
                try:
                    LAYER_WISHES.want(publication, PROGRAM_WISH, LAYER_OF[quality])
                except Exception as exc:  # noqa: BLE001 - a guest leaving takes the track along
                    logger.debug("asking %s for a layer: %r", identity, exc)

    def layers(self) -> dict[str, rtc.VideoQuality.ValueType]:
        """The simulcast layer asked of each guest in the program (single-layer ones left out)."""
        return {i: f.quality for i, f in self._feeds.items() if f.quality is not None}

    def regions(self) -> tuple[Region, ...]:
        """Where each source is in the latest program picture."""
        return self.broadcast.compositor.regions()

    def _refresh(self, identity: str) -> None:
        """Open or close a guest's streams to match whether they are in the program."""
        if identity == HOST_ID or self._closed:
            return  # closed: the room's last events (guests leaving) open nothing new
        wanted = identity in self._stage
        participant = self.room.remote_participants.get(identity) if self.room else None
        feed = self._feeds.get(identity)
        if not wanted or participant is None:
            if feed is not None:
                del self._feeds[identity]
                asyncio.ensure_future(self._close(feed))
            return
        if feed is None:
            feed = self._feeds[identity] = _GuestFeed(identity)
        camera = _subscribed(participant, rtc.TrackSource.SOURCE_CAMERA)
        microphone = _subscribed(participant, rtc.TrackSource.SOURCE_MICROPHONE)
        # A reader left on a track that went away reads nothing for the rest of the show (the
        # SDK's VideoStream never ends when its track does), and the new subscription's track
        # was never read: the guest showed as initials while their voice was mixed (#32).
        if feed.video is not None and (camera is None or camera.track is not feed.video_track):
            self._stop_video(feed, keep_picture=camera is not None)
        if feed.audio is not None and (
            microphone is None or microphone.track is not feed.audio_track
        ):  # fmt: skip
            self._stop_reader(feed.audio)
            feed.audio, feed.audio_track = None, None
        for publication in (camera, microphone):
            if publication is None or publication.track is None:
                continue
            try:
                self._open(feed, publication, publication.track)
            except Exception as exc:  # noqa: BLE001 - a track going away as we open it
                logger.info("could not read %s's %s: %r", identity, publication.source, exc)
        self._fit_layers()

    def _stop_reader(self, reader: Reader) -> None:
        if self._receive is not None:
            task = asyncio.ensure_future(self._receive.stop(reader))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    def _stop_video(self, feed: _GuestFeed, keep_picture: bool) -> None:
        """Stop reading a guest's camera (``keep_picture``: a new track follows at once)."""
        if feed.video is not None:
            self._stop_reader(feed.video)
        feed.video, feed.video_track = None, None
        if not keep_picture:
            self.broadcast.compositor.set_frame(feed.identity, None)  # initials meanwhile

    def ask_again(self, identity: str, source: Source) -> None:
        """The watchdog saw no picture (or sound) of a guest on stage: ask for it again.

        No track: subscribe again. A track: read it anew and ask for the layer again; every
        second time, also have the SFU make the subscription anew (unsubscribe, and subscribe
        again a second later; the new track is then followed).
        """
        participant = self.room.remote_participants.get(identity) if self.room else None
        feed = self._feeds.get(identity)
        if participant is None or feed is None or identity not in self._stage:
            return
        sdk_source = (rtc.TrackSource.SOURCE_CAMERA if source is Source.CAMERA
                      else rtc.TrackSource.SOURCE_MICROPHONE)  # fmt: skip
        publication = next((p for p in participant.track_publications.values()
                            if p.source == sdk_source), None)  # fmt: skip
        if publication is None:
            return
        if publication.track is None:
            publication.set_subscribed(True)
            return
        if source is Source.CAMERA:
            feed.asked += 1
            self._stop_video(feed, keep_picture=True)
            if feed.asked % 2 == 0:
                publication.set_subscribed(False)
                self._spawn_later(RESUBSCRIBE_AFTER_S, lambda: publication.set_subscribed(True))
                return
        elif feed.audio is not None:
            self._stop_reader(feed.audio)
            feed.audio, feed.audio_track = None, None
        self._refresh(identity)

    def _spawn_later(self, delay_s: float, action: Callable[[], None]) -> None:
        async def later() -> None:
            await asyncio.sleep(delay_s)
            if not self._closed:
                try:
                    action()
                except Exception as exc:  # noqa: BLE001 - the guest may have left meanwhile
                    logger.info("asking again: %r", exc)

        task = asyncio.ensure_future(later())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def probes(self) -> list[MediaProbe]:
        """What the media watchdog looks at: each guest on stage's camera and voice."""
        probes = []
        for identity in self._stage:
            if identity == HOST_ID:
                continue
            for source in (Source.CAMERA, Source.MICROPHONE):

                def expected(i: str = identity, s: Source = source) -> bool:
                    guest = self.store.state.remotes.get(i)
                    track = guest.track(s) if guest is not None else None
                    return i in self._stage and track is not None and not track.muted

                def last_at(i: str = identity, s: Source = source) -> float:
                    feed = self._feeds.get(i)
                    if feed is None:
                        return 0.0
                    return feed.video_at if s is Source.CAMERA else feed.audio_at

                def ask(i: str = identity, s: Source = source) -> None:
                    self.ask_again(i, s)

                probes.append(MediaProbe(identity, source, "program", expected, last_at, ask))
        return probes

    def _open(
        self, feed: _GuestFeed, publication: rtc.RemoteTrackPublication, track: rtc.Track
    ) -> None:
        if self._receive is None:
            self._receive = ReceiveLoop("bc-receive-program")
            self._loop = asyncio.get_running_loop()
        if publication.source == rtc.TrackSource.SOURCE_CAMERA and feed.video is None:
            feed.video_publication = publication
            feed.video_track = track
            feed.quality = None
            feed.video = self._receive.start(lambda reader: self._read_video(feed, track, reader))
        elif publication.source == rtc.TrackSource.SOURCE_MICROPHONE and feed.audio is None:
            feed.audio_track = track
            feed.audio = self._receive.start(lambda reader: self._read_audio(feed, track, reader))

    def _ended(self, feed: _GuestFeed, reader: Reader) -> None:
        """A stream's reader ended (on the studio's loop): the next subscription opens anew."""
        if feed.video is reader:
            feed.video = None
            feed.video_track = None
            feed.video_publication = None
            # Initials until the camera is back.
            self.broadcast.compositor.set_frame(feed.identity, None)
        elif feed.audio is reader:
            feed.audio = None
            feed.audio_track = None

    def _tell_ended(self, feed: _GuestFeed, reader: Reader) -> None:
        """From the receive loop: hand the bookkeeping to the studio's loop."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._ended, feed, reader)

    async def _read_video(self, feed: _GuestFeed, track: rtc.Track, reader: Reader) -> None:
        # On the receive loop: the stream is made here, so its events wake this loop only.
        # Bounded before the loop (bounded_video): a stalled receive loop holds two frames of
        # this camera, not every frame the guest sends.
        stream = BoundedVideoStream(track, format=rtc.VideoBufferType.I420)
        counted = RECEIVE_DROPS.track(f"{feed.identity}'s camera (program)", stream)
        sequence = 0
        try:
            async for event in stream:
                frame = event.frame
                if frame.type != rtc.VideoBufferType.I420:
                    frame = frame.convert(rtc.VideoBufferType.I420)
                data = np.frombuffer(frame.data, np.uint8).copy()
                feed.video_at = time.monotonic()
                self.broadcast.push_video(
                    feed.identity,
                    VideoFrame(
                        data, frame.width, frame.height, PixelFormat.I420, monotonic_us(), sequence
                    ),  # fmt: skip
                )
                sequence += 1
        finally:
            # The track went away (unpublished, unsubscribed) or the guest left the program.
            self._tell_ended(feed, reader)
            await close_stream(stream, f"{feed.identity}'s stream")
            counted()

    async def _read_audio(self, feed: _GuestFeed, track: rtc.Track, reader: Reader) -> None:
        stream = rtc.AudioStream(
            track, sample_rate=MIX_RATE_HZ, num_channels=1, frame_size_ms=AUDIO_FRAME_MS
        )
        sequence = 0
        try:
            async for event in stream:
                frame = event.frame
                samples = np.frombuffer(frame.data, np.int16).copy()
                feed.audio_at = time.monotonic()
                self.broadcast.push_audio(
                    feed.identity,
                    AudioFrame(
                        samples, frame.sample_rate, frame.num_channels, monotonic_us(), sequence
                    ),  # fmt: skip
                )
                sequence += 1
        finally:
            self._tell_ended(feed, reader)
            await close_stream(stream, f"{feed.identity}'s stream")

    async def _close(self, feed: _GuestFeed) -> None:
        if feed.video_publication is not None:
            with contextlib.suppress(Exception):  # a guest leaving takes the track along
                LAYER_WISHES.want(feed.video_publication, PROGRAM_WISH, None)
        for reader in (feed.video, feed.audio):
            if reader is not None and self._receive is not None:
                await self._receive.stop(reader)  # the reader closes its stream

    async def aclose(self) -> None:
        """Close every guest's streams (again is fine: ending the stream, then quitting)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, lambda: None
        unsubscribe()
        self._closed = True
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            await self._close(feed)
        # Readers being stopped finish with the loop below; a pending "subscribe again" goes.
        pending = list(self._stopping)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        receive, self._receive = self._receive, None
        if receive is not None:
            await receive.aclose()
