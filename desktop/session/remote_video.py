"""Remote video for tiles: a guest's camera or screen, newest frame only, at the layer that fits.

A tile holds a :class:`RemoteVideoFeed`: a queue of :class:`RemoteFrame` (I420 as decoded, no
conversion on receipt) and a way to say how tall the tile is, which picks the simulcast layer.
The tile converts only the frames it paints, scaled to its size; the SDK's own conversions to
packed RGB cost 0.2 ms (RGB24) to 1.6 ms (BGRA/RGBA) per 360p frame, for every frame received,
painted or not (measured here).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from desktop.media.fanout import FrameQueue
from desktop.session.adaptation import Layer
from desktop.session.bounded_video import BoundedVideoStream
from desktop.session.receive_drops import RECEIVE_DROPS
from desktop.session.receive_loop import Reader, ReceiveLoop, close_stream
from spaces_common.lazy import LazyMapping, lazy_module

if TYPE_CHECKING:
    from livekit import rtc
else:
    rtc = lazy_module("livekit.rtc")

_QUALITY = LazyMapping(
    lambda: {
        Layer.LOW: rtc.VideoQuality.VIDEO_QUALITY_LOW,
        Layer.MEDIUM: rtc.VideoQuality.VIDEO_QUALITY_MEDIUM,
        Layer.HIGH: rtc.VideoQuality.VIDEO_QUALITY_HIGH,
    }
)


@dataclass(frozen=True, slots=True)
class RemoteFrame:
    """A remote video frame as decoded: flat I420."""

    i420: npt.NDArray[np.uint8]
    """Flat uint8 I420 buffer: Y (w*h), U and V (w/2*h/2 each)."""
    width: int
    """Width in pixels (the layer received)."""
    height: int
    """Height in pixels."""
    timestamp_us: int
    """The frame's capture timestamp, µs."""

    @property
    def luma(self) -> npt.NDArray[np.uint8]:
        """The Y plane as (h, w), without copying."""
        return self.i420[: self.width * self.height].reshape(self.height, self.width)

    @property
    def rgb(self) -> npt.NDArray[np.uint8]:
        """An (h, w, 3) RGB copy (tools and tests; tiles paint from ``i420``)."""
        import cv2

        yuv = self.i420.reshape(self.height * 3 // 2, self.width)
        return np.asarray(cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420), np.uint8)


class RemoteVideoFeed(Protocol):
    """What a tile needs from a remote video: frames, and a way to say how big it is."""

    @property
    def frames(self) -> FrameQueue[RemoteFrame]:
        """The newest frame (the queue holds one)."""
        ...

    def fit(self, tile_height_px: int) -> None:
        """Say how tall the tile is, so the right simulcast layer is asked for."""
        ...

    async def aclose(self) -> None:
        """Stop receiving."""
        ...


LAYER_OF = LazyMapping(lambda: {quality: layer for layer, quality in _QUALITY.items()})
"""The :class:`Layer` of an SDK ``VideoQuality`` (the reverse of the table above)."""
_SIZE_ORDER = {Layer.LOW: 0, Layer.MEDIUM: 1, Layer.HIGH: 2}


class LayerWishes:
    """Which simulcast layer each part of the studio wants of each guest's video.

    One guest's video can be in a tile and in the program at once, and the SFU sends one layer
    per subscription. So the SFU is asked for the largest layer anyone still wants, and one
    part never takes away the layer another shows (a connection-quality event used to put the
    program's guest back on the top layer while the program showed them in a strip tile).
    When the last wish goes, the SDK's default, the top layer, is asked for again.

    Used on the studio's event loop only (tiles, the program feed and room events all run
    there).
    """

    def __init__(self) -> None:
        self._wishes: dict[str, dict[str, Layer]] = {}
        self._asked: dict[str, Layer] = {}

    def want(self, publication: rtc.RemoteTrackPublication, who: str, layer: Layer | None) -> None:
        """Record that ``who`` wants ``layer`` of this video (``None``: wants nothing now)."""
        if not publication.simulcasted:  # a single-layer track has nothing smaller to give
            return
        sid = publication.sid
        wishes = self._wishes.setdefault(sid, {})
        if layer is None:
            wishes.pop(who, None)
        else:
            wishes[who] = layer
        if wishes:
            wanted = max(wishes.values(), key=_SIZE_ORDER.__getitem__)
        else:
            del self._wishes[sid]
            if self._asked.pop(sid, None) in (None, Layer.HIGH):
                return  # never asked, or already on the default
            wanted = Layer.HIGH
        # Asked every time, even when unchanged: after a rejoin the SFU is back on its default
        # for this subscription, and the parts re-state their wishes when their tracks return.
        publication.set_video_quality(_QUALITY[wanted])
        if wishes:
            self._asked[sid] = wanted

    def asked(self, sid: str) -> Layer | None:
        """The layer last asked of the SFU for this video (``None``: its default)."""
        return self._asked.get(sid)

    def forget(self, sid: str) -> None:
        """The video is gone (unpublished, or its guest left): drop every wish for it.

        Nothing is asked of the SFU; there is no subscription left to ask about. Without this
        the connection's wish for a guest who left on a poor link stayed for the whole show.
        """
        self._wishes.pop(sid, None)
        self._asked.pop(sid, None)

    def wished(self, sid: str) -> dict[str, Layer]:
        """Who wants which layer of this video now (a copy)."""
        return dict(self._wishes.get(sid, {}))


LAYER_WISHES = LayerWishes()
"""The process's one registry: publication sids are unique, so every session shares it."""


class RemoteVideo:
    """One guest's camera or screen feeding one tile, following the track as it is replaced.

    A guest who unpublishes and publishes again (or whose subscription is made anew) arrives
    on a new track; the tile keeps this object and its frame queue, and the session hands the
    new track to :meth:`follow` (the SDK's ``VideoStream`` of the old track never ends, so a
    reader left on it read nothing for the rest of the show).

    Args:
        identity: Whose video it is.
        publication: The guest's publication (its layer is set through it).
        track: The subscribed track.
        choose_layer: Picks the layer for (identity, tile height); the adaptation policy.
        receive: The loop that reads the video (the session's, shared by its tiles).
    """

    def __init__(
        self,
        identity: str,
        publication: rtc.RemoteTrackPublication,
        track: rtc.Track,
        choose_layer: Callable[[str, int | None], Layer],
        receive: ReceiveLoop,
    ) -> None:
        self.identity = identity
        self.publication = publication
        self.source = publication.source
        """The SDK's track source (camera or screen)."""
        self.track = track
        """The track read now."""
        self.tile_height_px: int | None = None
        self.frame_at = 0.0
        """When the last frame arrived (``time.monotonic()``; 0 before the first)."""
        self._choose_layer = choose_layer
        self._wish = f"tile-{id(self)}"
        self._frames: FrameQueue[RemoteFrame] = FrameQueue("tile", maxsize=1)
        # Read off the studio's loop (see receive_loop): 30 events a second per tile.
        self._receive = receive
        self._reader = self._receive.start(lambda _: self._read(track))
        self._stopping: set[asyncio.Task[None]] = set()
        self._paused = False

    @property
    def frames(self) -> FrameQueue[RemoteFrame]:
        """The newest frame (the queue holds one)."""
        return self._frames

    def fit(self, tile_height_px: int) -> None:
        """Ask for the smallest simulcast layer that fills a tile this tall."""
        self.tile_height_px = tile_height_px
        self.refit()

    def refit(self) -> None:
        """Ask again for the layer the policy picks now (after a quality change)."""
        layer = self._choose_layer(self.identity, self.tile_height_px)
        LAYER_WISHES.want(self.publication, self._wish, layer)

    def follow(self, publication: rtc.RemoteTrackPublication, track: rtc.Track) -> None:
        """Read ``track`` from now on (a new subscription of the guest's video); again is fine.

        Used on the studio's loop.
        """
        if self._frames.closed or (
            track is self.track and not self._paused and not self._reader.done
        ):  # fmt: skip
            return
        if publication is not self.publication:
            with contextlib.suppress(Exception):  # the old one may be gone with its guest
                LAYER_WISHES.want(self.publication, self._wish, None)
            self.publication = publication
        self.restart(track)

    def pause(self) -> None:
        """The track was unsubscribed: stop reading it (the tile keeps its last frame)."""
        if not self._paused:
            self._paused = True
            self._stop(self._reader)

    def _stop(self, reader: Reader) -> None:
        stop = asyncio.ensure_future(self._receive.stop(reader))
        self._stopping.add(stop)
        stop.add_done_callback(self._stopping.discard)

    def restart(self, track: rtc.Track | None = None) -> None:
        """Open the stream again (on ``track``, or the same one) and ask for the layer again."""
        old, self.track = self._reader, track or self.track
        if not self._paused:
            self._stop(old)
        self._paused = False
        new_track = self.track
        self._reader = self._receive.start(lambda _: self._read(new_track))
        self.refit()

    async def _read(self, track: rtc.Track) -> None:
        # On the receive loop. A tile only ever wants the newest frame, and a stalled loop
        # must not pile up the rest (bounded_video); I420 is what the decoder gives.
        stream = BoundedVideoStream(track, format=rtc.VideoBufferType.I420)
        screen = self.publication.source == rtc.TrackSource.SOURCE_SCREENSHARE
        label = f"{self.identity}'s {'screen' if screen else 'camera'} (tile)"
        counted = RECEIVE_DROPS.track(label, stream)
        try:
            async for event in stream:
                frame = event.frame
                i420 = np.frombuffer(frame.data, np.uint8)
                self.frame_at = time.monotonic()
                self._frames.put(RemoteFrame(i420, frame.width, frame.height, event.timestamp_us))
        finally:
            await close_stream(stream, f"{self.identity}'s video")
            counted()

    async def aclose(self) -> None:
        """Stop reading (and stop wanting a layer of this video)."""
        with contextlib.suppress(Exception):  # a guest leaving takes the track along
            LAYER_WISHES.want(self.publication, self._wish, None)
        await self._receive.stop(self._reader)
        self._frames.close()
