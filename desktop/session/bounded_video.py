"""A remote video track's decoded frames, with a hard bound on what waits between the SDK and us.

The SDK's ``rtc.VideoStream`` bounds only its own last queue (``capacity``). Before that queue,
every decoded frame travels as an FFI event that the SDK's callback thread hands to the reading
loop with ``call_soon_threadsafe``, holding the frame's native buffer until the loop gets round
to it. A reading loop that stalls (a long paint, a GIL-heavy moment, a debugger) therefore piles
up every frame of every guest: nine 720p cameras are 370 MB a second. :class:`BoundedVideoStream`
decides on the callback thread itself, before anything is queued: at most ``capacity`` frames of
one stream wait for the reader; a frame beyond that is dropped at once (its native buffer
released on a small thread of its own, never on the SDK's callback) and counted. The reader
always gets the newest frames, and the count is the video's "dropped receive frames" figure.

It makes the same FFI request as ``rtc.VideoStream`` (a native video stream of the track, in
the asked format, strides normalised) through the SDK's FFI client, pinned with
``livekit==1.2.1``; ``tests/session/test_bounded_video.py`` reads real frames through it from
the real server, so a change in the SDK's FFI shows there.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import TYPE_CHECKING, Any

from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    from livekit import rtc
    from livekit.rtc import _ffi_client as ffi_client
    from livekit.rtc._proto import ffi_pb2, video_frame_pb2
else:
    rtc = lazy_module("livekit.rtc")
    ffi_client = lazy_module("livekit.rtc._ffi_client")
    ffi_pb2 = lazy_module("livekit.rtc._proto.ffi_pb2")
    video_frame_pb2 = lazy_module("livekit.rtc._proto.video_frame_pb2")

IDLE_EXIT_S = 1.0
"""The releasing thread ends after this long with nothing to release (drops come in bursts)."""
DEFAULT_CAPACITY_FRAMES = 2
"""Frames that may wait for the reader: the newest, and one more while it takes that one."""


class _BufferReleaser:
    """Releases dropped frames' native buffers on a thread of its own (``bc-frame-release``).

    Dropping happens on the SDK's callback thread, inside its event hand-off; calling back into
    the FFI from there is not something the SDK promises to allow, so the release is handed on.
    """

    def __init__(self) -> None:
        self._handles: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def release(self, handle_id: int) -> None:
        """Release this buffer handle soon (from any thread)."""
        with self._lock:  # with the put: an idle thread decides to end only on an empty queue
            self._handles.put(handle_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="bc-frame-release", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                handle_id = self._handles.get(timeout=IDLE_EXIT_S)
            except queue.Empty:
                with self._lock:  # a release() now starts a new thread
                    if self._handles.empty():
                        self._thread = None
                        return
                continue
            ffi_client.FfiHandle(handle_id).dispose()


_RELEASER = _BufferReleaser()


class BoundedVideoStream:
    """Decoded frames of one remote video track; at most ``capacity`` wait for the reader.

    Iterate it with ``async for`` on the loop it was made on (``rtc.VideoFrameEvent`` items, as
    ``rtc.VideoStream`` gives); :meth:`aclose` ends it.

    Args:
        track: The subscribed remote video track.
        capacity: The most frames that may wait. While that many wait, newly decoded frames
            are dropped (those already queued cannot be taken back from the loop), so after a
            stall the reader gets at most ``capacity`` old frames, then live ones again.
        format: The buffer type to decode into (``rtc.VideoBufferType``), e.g. I420.
    """

    def __init__(
        self,
        track: rtc.Track,
        capacity: int = DEFAULT_CAPACITY_FRAMES,
        format: rtc.VideoBufferType.ValueType | None = None,  # noqa: A002  (the SDK's name)
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 frame, not {capacity}")
        self.capacity = capacity
        self.received = 0
        """Frames handed to the reader."""
        self.dropped = 0
        """Frames dropped because the reader was ``capacity`` frames behind."""
        self._waiting = 0
        self._lock = threading.Lock()
        self._handle_id: int | None = None
        self._closed = False
        self._loop = asyncio.get_running_loop()
        # Subscribed before the stream exists so none of its events are missed; until its
        # handle is known, every video stream event passes and the reader skips others' ones.
        self._events = ffi_client.FfiClient.instance.queue.subscribe(self._loop, self._admit)
        request = ffi_pb2.FfiRequest()
        new_stream = request.new_video_stream
        new_stream.track_handle = track._ffi_handle.handle
        new_stream.type = video_frame_pb2.VideoStreamType.VIDEO_STREAM_NATIVE
        if format is not None:
            new_stream.format = format
        new_stream.normalize_stride = True
        try:
            response = ffi_client.FfiClient.instance.request(request)
        except BaseException:
            ffi_client.FfiClient.instance.queue.unsubscribe(self._events)
            raise
        stream = response.new_video_stream.stream
        self._handle = ffi_client.FfiHandle(stream.handle.id)
        self._handle_id = stream.handle.id

    def _admit(self, event: ffi_pb2.FfiEvent) -> bool:
        """On the SDK's callback thread: queue this event for the reader, or drop it."""
        if event.WhichOneof("message") != "video_stream_event":
            return False
        video_event = event.video_stream_event
        if self._handle_id is not None and video_event.stream_handle != self._handle_id:
            return False
        if video_event.HasField("frame_received"):
            with self._lock:
                if self._waiting >= self.capacity and self._handle_id is not None:
                    self.dropped += 1
                    _RELEASER.release(video_event.frame_received.buffer.handle.id)
                    return False
                self._waiting += 1
        return True

    def __aiter__(self) -> BoundedVideoStream:
        return self

    async def __anext__(self) -> rtc.VideoFrameEvent:
        while True:
            if self._closed:
                raise StopAsyncIteration
            event = await self._events.get()
            video_event = event.video_stream_event
            if video_event.HasField("frame_received"):
                with self._lock:
                    self._waiting -= 1
            if video_event.stream_handle != self._handle_id:
                continue  # another stream's, let through before our handle was known
            if video_event.HasField("eos"):
                self._finish()
                raise StopAsyncIteration
            if not video_event.HasField("frame_received"):
                continue
            received = video_event.frame_received
            self.received += 1
            return rtc.VideoFrameEvent(
                frame=rtc.VideoFrame._from_owned_info(received.buffer),
                timestamp_us=received.timestamp_us,
                rotation=received.rotation,
            )

    async def aclose(self) -> None:
        """Stop the stream and release every frame still waiting."""
        if self._closed:
            return
        self._handle.dispose()
        self._finish()

    def _finish(self) -> None:
        self._closed = True
        ffi_client.FfiClient.instance.queue.unsubscribe(self._events)
        while not self._events.empty():
            leftover: Any = self._events.get_nowait()
            video_event = leftover.video_stream_event
            if video_event.stream_handle == self._handle_id and video_event.HasField(
                "frame_received"
            ):
                ffi_client.FfiHandle(video_event.frame_received.buffer.handle.id).dispose()
