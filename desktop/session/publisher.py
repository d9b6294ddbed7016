"""Publishing the host's media: camera (simulcast), screen and microphone into a LiveKit room.

Video frames are handed to LiveKit on the capture thread itself (a direct fan-out sink:
``capture_frame`` is a synchronous copy into the SDK), so they never wait for the event loop
and the loop never wakes for them. Microphone blocks are handed over the same way, two 10 ms
blocks at a time, by :class:`~desktop.session.audio_handoff.AudioHandoff` (the SDK's own audio
handoff is a coroutine that wakes an event loop twice per handoff): a busy UI loop (painting,
layout) never delays the host's voice. Camera and
microphone are toggled with ``mute``/``unmute`` (repeated unpublishing leaks in the native
SDK); a source of another size needs a new track, because a LiveKit video source's size is
fixed.

A stopped screen share is *parked*: its track stays published but muted for
:data:`SCREEN_PARK_S`, and sharing again within that time (the usual "stop, pick another window,
share") reuses it. The SDK keeps every unpublished video track's encoder until the room is left
(rust-sdks #1277; about 15 MB and one ``VideoEncoderQueue`` thread per share, measured here), so
unpublishing on every stop made an hour of sharing on and off grow without bound.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.frames import VideoFrame, fit_frame, wall_clock_ms
from desktop.session.audio_handoff import AudioHandoff
from desktop.session.errors import SessionError, SessionErrorCode, answered
from desktop.session.link_stats import LinkSampler, LinkStats
from desktop.session.state import Source
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    from livekit import rtc
    from livekit.rtc import participant as rtc_participant
    from livekit.rtc._proto import room_pb2  # AudioEncoding: not re-exported by livekit.rtc
else:
    rtc = lazy_module("livekit.rtc")
    rtc_participant = lazy_module("livekit.rtc.participant")
    room_pb2 = lazy_module("livekit.rtc._proto.room_pb2")

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 20.0
"""Longer than the SDK's own 10 s wait for the server's answer, which it does not always keep."""
UNPUBLISH_TIMEOUT_S = 10.0
"""Longest wait for the room to confirm an unpublish; stopping a share never hangs on it."""
AUDIO_QUEUE_MS = 100
"""LiveKit's default audio queue is a second of latency; keep it short (a multiple of 10)."""
SCREEN_PARK_S = 30.0
"""How long a stopped screen share stays published (muted) so sharing again reuses its track."""
LINK_STATS_INTERVAL_S = 2.0
"""How often the uplink figures (bitrate per layer, RTT, loss) are sampled."""

CODECS = ("vp8", "h264", "vp9")
"""Video codecs a host can choose."""


def _sdk_codec(name: str) -> rtc.VideoCodec.ValueType:
    """LiveKit's code for one of :data:`CODECS` (looked up late: LiveKit loads on first use)."""
    return {"vp8": rtc.VideoCodec.VP8, "h264": rtc.VideoCodec.H264, "vp9": rtc.VideoCodec.VP9}[name]


@dataclass(frozen=True, slots=True)
class PublishDefaults:
    """How tracks are published (the platform's ConnectionRequest ``publishDefaults``)."""

    video_codec: str = "vp8"
    """h264, vp8 or vp9."""
    video_bitrate_bps: int = 2_500_000
    """Top layer bitrate of the camera."""
    audio_bitrate_bps: int = 48_000
    """Microphone bitrate."""
    width: int = 0
    """Camera width published (the camera's frames are scaled and cropped to it; 0 = publish
    the camera's own size)."""
    height: int = 0
    """Camera height published (0 = the camera's own)."""
    fps: int = 30
    """Camera frame rate published."""
    simulcast: bool = True
    """Publish the camera in several layers so small tiles get small video."""
    screen_bitrate_bps: int = 2_000_000
    """Screen share bitrate."""
    screen_fps: int = 15
    """Screen share frame rate."""

    def __post_init__(self) -> None:
        if self.video_codec not in CODECS:
            raise ValueError(f"video codec must be one of {', '.join(CODECS)}")
        if (self.width, self.height) != (0, 0) and (
            self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2
        ):
            raise ValueError("the camera's published size must be even and at least 16×16")
        if self.fps <= 0 or self.video_bitrate_bps <= 0 or self.audio_bitrate_bps <= 0:
            raise ValueError("frame rate and bitrates must be positive")


@dataclass
class _Published:
    """A source being published: its LiveKit track and how to stop feeding it."""

    publication: rtc.LocalTrackPublication
    track: rtc.LocalVideoTrack | rtc.LocalAudioTrack
    unsubscribe: Callable[[], None]
    lk_source: rtc.VideoSource | rtc.AudioSource
    width: int = 0
    height: int = 0
    drain: Callable[[], Awaitable[None]] | None = None
    """Awaited after ``unsubscribe``: until what was handed over is in the SDK (audio)."""


@dataclass
class _Parked:
    """A stopped screen share kept published and muted, ready to share again (see the module)."""

    room: rtc.Room
    publication: rtc.LocalTrackPublication
    track: rtc.LocalVideoTrack
    lk_source: rtc.VideoSource
    width: int
    height: int
    expiry: asyncio.Task[None]


async def publish_track(
    room: rtc.Room, track: rtc.LocalTrack, options: rtc.TrackPublishOptions
) -> rtc.LocalTrackPublication:
    """Publish, turning the SDK's failure (often a connection that just dropped) into words.

    Bounded: when the room is lost mid-publish (removed, server gone) the SDK's call can wait
    forever for a confirmation that will never come, so it also ends as soon as the room does.

    Raises:
        SessionError: PUBLISH_FAILED, saying why.
    """
    publishing = asyncio.ensure_future(room.local_participant.publish_track(track, options))
    deadline_s = time.monotonic() + PUBLISH_TIMEOUT_S
    reason = f"no confirmation within {PUBLISH_TIMEOUT_S:.0f} s"
    try:
        while time.monotonic() < deadline_s:
            done, _ = await asyncio.wait({publishing}, timeout=0.25)
            if done:
                return publishing.result()
            if room.connection_state == rtc.ConnectionState.CONN_DISCONNECTED:
                reason = "the room was left meanwhile"
                break
    except rtc_participant.PublishTrackError as exc:
        reason = exc.message
    finally:
        if not publishing.done():
            publishing.cancel()
    raise SessionError(
        SessionErrorCode.PUBLISH_FAILED,
        f"the server did not take the {track.name} ({reason})",
        "check the connection; it is published again when the room is back",
    )


def hand_video(lk_source: rtc.VideoSource, frame: VideoFrame) -> None:
    """Hand one frame to LiveKit without copying it first (the SDK copies it once)."""
    lk_source.capture_frame(frame.to_livekit(), timestamp_us=frame.timestamp_us)


def video_sink(
    lk_source: rtc.VideoSource,
    divider: Callable[[], int] = lambda: 1,
    interval_us: int = 0,
    size: tuple[int, int] | None = None,
) -> Callable[[VideoFrame], None]:
    """What a direct sink calls on the capture thread: frames to LiveKit.

    At most one frame per ``interval_us`` (0: every frame; a camera runs at its own pace, the
    host chose a frame rate), then every ``divider()``-th of those, scaled and cropped to
    ``size`` when given (the same frame when it already fits).
    """
    sent = 0
    due_us = 0

    def deliver(frame: VideoFrame) -> None:
        nonlocal sent, due_us
        send, due_us = pace(frame.timestamp_us, due_us, interval_us)
        if not send:
            return
        sent += 1
        if sent % max(1, divider()):
            return  # adapting to a poor connection: fewer frames, fewer bits
        if size is not None:
            frame = fit_frame(frame, *size)
        hand_video(lk_source, frame)

    return deliver


def pace(stamp_us: int, due_us: int, interval_us: int) -> tuple[bool, int]:
    """Whether a frame taken at ``stamp_us`` is sent to keep at most one per ``interval_us``,
    and the next frame's due time (0 interval: every frame goes).

    A frame a quarter of an interval before its due time still goes (cameras' timestamps
    jitter); after a stall the due time restarts from the frame, so no burst follows.
    """
    if not interval_us:
        return True, due_us
    if stamp_us + interval_us // 4 < due_us:
        return False, due_us
    return True, max(due_us, stamp_us - interval_us // 2) + interval_us


class Publisher:
    """The host's published sources in one room.

    Args:
        room: Returns the joined room, or raises NOT_CONNECTED.
        defaults: How to publish.
        spawn: Runs a coroutine as a task the session owns.
        changed: Called after the set of published tracks (or their mute state) changed.
        camera_divider: Returns n: send every n-th camera frame (the adaptation policy's).
    """

    def __init__(
        self,
        room: Callable[[], rtc.Room],
        defaults: PublishDefaults,
        spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
        changed: Callable[[], None],
        camera_divider: Callable[[], int],
    ) -> None:
        self._room = room
        self.defaults = defaults
        self._spawn = spawn
        self._changed = changed
        self._camera_divider = camera_divider
        self._published: dict[Source, _Published] = {}
        self._parked: _Parked | None = None
        self.screen_park_s = SCREEN_PARK_S
        """How long a stopped screen share stays parked before it is unpublished."""

    def parked_sids(self) -> frozenset[str]:
        """Track sids published but parked (a stopped screen share): not shown as the host's."""
        parked = self._parked
        return frozenset() if parked is None else frozenset({parked.publication.sid})

    def publication(self, source: Source) -> rtc.LocalTrackPublication | None:
        """The publication of a source, if it is published."""
        published = self._published.get(source)
        return None if published is None else published.publication

    async def publish_camera(self, camera: VideoCaptureSource) -> rtc.LocalTrackPublication:
        """Publish a camera with the defaults (simulcast on unless disabled)."""
        d = self.defaults
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            simulcast=d.simulcast,
            video_codec=_sdk_codec(d.video_codec),
            video_encoding=rtc.VideoEncoding(max_bitrate=d.video_bitrate_bps, max_framerate=d.fps),
        )
        return await self._publish_video(Source.CAMERA, camera, options, is_screencast=False)

    async def publish_screen(self, screen: VideoCaptureSource) -> rtc.LocalTrackPublication:
        """Share a screen: screencast mode keeps text sharp under congestion.

        A parked share of the same size in the same room is unmuted and fed again instead of a
        new track being published (each new video track costs memory until the room is left).
        """
        reused = await self._unpark(screen)
        if reused is not None:
            return reused
        d = self.defaults
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_SCREENSHARE,
            simulcast=False,
            video_codec=_sdk_codec(d.video_codec),
            video_encoding=rtc.VideoEncoding(
                max_bitrate=d.screen_bitrate_bps, max_framerate=d.screen_fps
            ),
        )
        return await self._publish_video(Source.SCREEN, screen, options, is_screencast=True)

    async def publish_microphone(self, mic: AudioCaptureSource) -> rtc.LocalTrackPublication:
        """Publish a microphone."""
        room = self._room()
        await self.stop(Source.MICROPHONE)
        lk_source = rtc.AudioSource(
            mic.sample_rate_hz, mic.num_channels, queue_size_ms=AUDIO_QUEUE_MS
        )
        track = rtc.LocalAudioTrack.create_audio_track("microphone", lk_source)
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_MICROPHONE,
            audio_encoding=room_pb2.AudioEncoding(max_bitrate=self.defaults.audio_bitrate_bps),
        )
        publication = await publish_track(room, track, options)
        self._published[Source.MICROPHONE] = self._feed_audio(publication, track, lk_source, mic)
        self._changed()
        return publication

    async def _publish_video(
        self,
        kind: Source,
        capture: VideoCaptureSource,
        options: rtc.TrackPublishOptions,
        is_screencast: bool,
    ) -> rtc.LocalTrackPublication:
        room = self._room()
        await self.stop(kind)
        width, height = self._published_size(kind, capture)
        # Simulcast layers follow the size given here: the camera's is the chosen preset (its
        # frames are scaled to it), a screen's is its real size.
        lk_source = rtc.VideoSource(width, height, is_screencast=is_screencast)
        name = "screen" if kind is Source.SCREEN else "camera"
        track = rtc.LocalVideoTrack.create_video_track(name, lk_source)
        publication = await publish_track(room, track, options)
        self._published[kind] = self._feed_video(
            kind, publication, track, lk_source, capture, (width, height)
        )
        self._changed()
        return publication

    def _published_size(self, kind: Source, capture: VideoCaptureSource) -> tuple[int, int]:
        if kind is Source.CAMERA and self.defaults.width and self.defaults.height:
            return self.defaults.width, self.defaults.height
        return capture.width or 1280, capture.height or 720

    def _feed_video(
        self,
        kind: Source,
        publication: rtc.LocalTrackPublication,
        track: rtc.LocalVideoTrack,
        lk_source: rtc.VideoSource,
        capture: VideoCaptureSource,
        size: tuple[int, int],
    ) -> _Published:
        divider = self._camera_divider if kind is Source.CAMERA else (lambda: 1)
        camera = kind is Source.CAMERA
        # The camera sends at most the chosen frame rate (frames come at the device's pace),
        # at the chosen size; a screen goes as it is.
        interval_us = 1_000_000 // self.defaults.fps if camera and self.defaults.fps else 0
        deliver = video_sink(lk_source, divider, interval_us, size if camera else None)
        sink = capture.frames.attach("publisher", deliver)
        unsubscribe = functools.partial(capture.frames.unsubscribe, sink)
        width, height = size
        return _Published(
            publication, track, unsubscribe, lk_source, width, height,
        )  # fmt: skip

    def _feed_audio(
        self,
        publication: rtc.LocalTrackPublication,
        track: rtc.LocalAudioTrack,
        lk_source: rtc.AudioSource,
        mic: AudioCaptureSource,
    ) -> _Published:
        handoff = AudioHandoff(lk_source)
        sink = mic.frames.attach("publisher", handoff.put)

        # No block is being handed over once unsubscribe returns; drain hands on the last.
        unsubscribe = functools.partial(mic.frames.unsubscribe, sink)
        return _Published(publication, track, unsubscribe, lk_source, drain=handoff.aclose)

    async def switch_video(self, kind: Source, capture: VideoCaptureSource) -> None:
        """Switch the camera or screen while live; the track stays when the size is the same."""
        current = self._published.get(kind)
        size = self._published_size(kind, capture)
        if current is None or (current.width, current.height) != size:
            if current is not None:
                await self.stop(kind, unpublish=True)
            if kind is Source.CAMERA:
                await self.publish_camera(capture)
            else:
                await self.publish_screen(capture)
            return
        current.unsubscribe()
        assert isinstance(current.track, rtc.LocalVideoTrack)
        assert isinstance(current.lk_source, rtc.VideoSource)
        self._published[kind] = self._feed_video(
            kind, current.publication, current.track, current.lk_source, capture, size
        )

    async def switch_microphone(self, mic: AudioCaptureSource) -> None:
        """Switch to another microphone while live, keeping the track (and its mute state)."""
        current = self._published.get(Source.MICROPHONE)
        if current is None:
            await self.publish_microphone(mic)
            return
        current.unsubscribe()
        if current.drain is not None:
            await current.drain()  # the old microphone's last blocks go first
        assert isinstance(current.track, rtc.LocalAudioTrack)
        assert isinstance(current.lk_source, rtc.AudioSource)
        self._published[Source.MICROPHONE] = self._feed_audio(
            current.publication, current.track, current.lk_source, mic
        )

    async def set_muted(self, source: Source, muted: bool) -> None:
        """Mute or unmute camera or microphone (``track.mute()``, never unpublish)."""
        published = self._published.get(source)
        if published is None:
            what = source.name.lower()
            raise SessionError(
                SessionErrorCode.NOT_CONNECTED, f"no {what} is published", "start it first"
            )
        if muted:
            published.track.mute()
        else:
            published.track.unmute()
        self._changed()

    async def stop(self, source: Source, unpublish: bool = False) -> None:
        """Stop feeding a source; with ``unpublish`` also take its track out of the room.

        The screen is parked rather than unpublished at once (see the module).
        """
        published = self._published.pop(source, None)
        if published is None:
            return
        published.unsubscribe()  # a direct sink: no frame is being handed over once this returns
        if published.drain is not None:
            await published.drain()
        if not unpublish:
            return
        if source is Source.SCREEN and self._park(published):
            self._changed()
            return
        await self._unpublish(published.publication.sid, published.lk_source, source.name)
        self._changed()

    async def _unpublish(
        self, sid: str, lk_source: rtc.VideoSource | rtc.AudioSource, name: str
    ) -> None:
        try:
            await answered(
                self._room().local_participant.unpublish_track(sid), f"taking out the {name}",
                UNPUBLISH_TIMEOUT_S, "",
            )  # fmt: skip
        except SessionError as error:
            # The room is gone already (nothing to take out), or it did not answer: the capture
            # has stopped either way, and the server drops the track with the connection.
            logger.debug("unpublishing the %s: %s", name, error)
        # Release the native source now: left to the garbage collector, every screen share
        # started and stopped kept its buffers (about 10 MB each at 720p, measured).
        try:
            await lk_source.aclose()
        except Exception as exc:  # noqa: BLE001 - already gone with the room is fine
            logger.debug("closing the %s source: %r", name, exc)

    def _park(self, published: _Published) -> bool:
        """Mute a stopped screen share and keep it for :attr:`screen_park_s`; False if not."""
        track, lk_source = published.track, published.lk_source
        if not isinstance(track, rtc.LocalVideoTrack) or not isinstance(lk_source, rtc.VideoSource):
            return False
        try:
            room = self._room()
        except SessionError:
            return False
        stale, self._parked = self._parked, None
        if stale is not None:  # not expected (sharing again takes it): do not strand it
            stale.expiry.cancel()
            self._spawn(self._unpublish(stale.publication.sid, stale.lk_source, "parked screen"))
        track.mute()  # guests see the share end at once; the track waits for the next share
        self._parked = _Parked(
            room, published.publication, track, lk_source, published.width, published.height,
            self._spawn(self._expire_parked()),
        )  # fmt: skip
        return True

    async def _expire_parked(self) -> None:
        await asyncio.sleep(self.screen_park_s)
        parked, self._parked = self._parked, None
        if parked is None:
            return
        if parked.room is self._room_or_none():
            await self._unpublish(parked.publication.sid, parked.lk_source, "parked screen")
        self._changed()

    async def _unpark(self, screen: VideoCaptureSource) -> rtc.LocalTrackPublication | None:
        """Share ``screen`` on the parked track if it fits; otherwise unpublish the parked one."""
        parked = self._parked
        if parked is None:
            return None
        self._drop_parked()
        room = self._room_or_none()
        if parked.room is not room:
            return None  # a new connection: the old room took the track with it
        if (parked.width, parked.height) != self._published_size(Source.SCREEN, screen):
            await self._unpublish(parked.publication.sid, parked.lk_source, "parked screen")
            return None
        await self.stop(Source.SCREEN)
        parked.track.unmute()
        self._published[Source.SCREEN] = self._feed_video(
            Source.SCREEN, parked.publication, parked.track, parked.lk_source, screen,
            (parked.width, parked.height),
        )  # fmt: skip
        self._changed()
        return parked.publication

    def _drop_parked(self) -> None:
        parked, self._parked = self._parked, None
        if parked is not None:
            parked.expiry.cancel()

    def _room_or_none(self) -> rtc.Room | None:
        try:
            return self._room()
        except SessionError:
            return None

    async def aclose(self) -> None:
        """Stop every pump (the room takes the tracks with it when it is left)."""
        self._drop_parked()
        for source in list(self._published):
            await self.stop(source)

    async def sample_link(
        self, running: Callable[[], bool], report: Callable[[LinkStats], None]
    ) -> None:
        """Sample WebRTC's counters of every published track every few seconds, while running."""
        sampler = LinkSampler()
        while running():
            await asyncio.sleep(LINK_STATS_INTERVAL_S)
            reports: dict[Source, list[Any]] = {}
            for source, published in list(self._published.items()):
                try:
                    # Bounded: a read that never answers would stop the samples for good, and
                    # the SDK's wait for it keeps every event meanwhile.
                    reports[source] = await asyncio.wait_for(
                        published.track.get_stats(), LINK_STATS_INTERVAL_S
                    )
                except Exception as exc:  # noqa: BLE001 - a track closing mid-sample is normal
                    logger.debug("stats of %s: %r", source.name, exc)
            if reports:
                report(sampler.sample(reports, wall_clock_ms()))
