"""Microphone blocks into a LiveKit audio source on the capture thread, 20 ms at a time.

The SDK's own ``AudioSource.capture_frame`` is a coroutine: each handoff schedules a timer,
subscribes a queue to every FFI event, makes the request and then waits for the SDK's
confirmation to wake an event loop. Measured here (``docs/benchmarks.md``, ingest), 50 of those
a second on a loop thread of their own cost 3 % of a core, more than the camera's 1080p30
handoffs; nearly all of it Python waking up and going back to sleep.

:class:`AudioHandoff` makes the same FFI request straight from the microphone's capture thread
(a direct fan-out sink, as the video handoffs are) and never waits: the request only copies the
samples and queues them in the SDK, which confirms later on its callback thread. Two rules keep
what the SDK's coroutine guarantees:

- **Order.** A new handoff is made only once the SDK has confirmed the previous one (its
  queue may hold a capture back when full; two in flight could then be queued out of order).
  Blocks that arrive meanwhile wait here and go together with the next handoff.
- **Bounded.** At most :data:`MAX_WAITING_BLOCKS` wait (100 ms, the SDK queue's own size);
  older ones are dropped and counted, never piled up. A confirmation that never comes (the
  source closed underneath) stops holding blocks back after :data:`CONFIRM_TIMEOUT_S`.

Confirmations are recognised by an ``async_id`` this module chooses itself (the FFI takes a
client's id, ``request_async_id``), in a range the SDK's own counter never reaches, so the
callback can never be mistaken for another capture's and needs no bookkeeping of ids seen
early. This uses the SDK's FFI client, pinned with ``livekit==1.2.1``; the publishing tests
fail if it moves (no confirmation would ever match, and every handoff would wait).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from desktop.media.frames import AudioFrame
from spaces_common.lazy import lazy_module

if TYPE_CHECKING:
    from livekit import rtc
    from livekit.rtc import _ffi_client as ffi_client
    from livekit.rtc._proto import ffi_pb2
else:
    ffi_client = lazy_module("livekit.rtc._ffi_client")
    ffi_pb2 = lazy_module("livekit.rtc._proto.ffi_pb2")

logger = logging.getLogger(__name__)

BLOCKS_PER_HANDOFF = 2
"""10 ms microphone blocks handed over together: 20 ms, Opus's own frame length."""
MAX_WAITING_BLOCKS = 10
"""Blocks kept while the SDK has not confirmed the previous handoff (100 ms, its queue's size)."""
CONFIRM_TIMEOUT_S = 1.0
"""Longest a missing confirmation holds the next handoff back."""

CONFIRM_POLL_S = 0.002
"""How often :meth:`AudioHandoff.aclose` looks for the last confirmation (it takes about 1 ms)."""

_ASYNC_IDS = itertools.count(1 << 62)
"""Our captures' ids: the SDK numbers its own requests and handles from 1 upwards."""


class AudioHandoff:
    """Hands one microphone's blocks to one LiveKit ``AudioSource``, on the caller's thread.

    :meth:`put` is a fan-out sink's ``deliver``: called with each 10 ms block on the capture
    thread, it hands :data:`BLOCKS_PER_HANDOFF` of them at a time. :meth:`aclose` (after the sink
    is closed) hands on a block left over and waits for the last confirmation.

    Args:
        lk_source: The SDK's audio source (its sample rate and channels are the blocks').
        handed: Told which blocks each handoff took (tests and benchmarks).
    """

    def __init__(
        self,
        lk_source: rtc.AudioSource,
        handed: Callable[[list[AudioFrame]], None] | None = None,
    ) -> None:
        self._source = lk_source
        self._handed = handed
        self._waiting: list[AudioFrame] = []
        self._in_flight = 0
        """The async id of the handoff the SDK has not confirmed yet (0: none)."""
        self._sent_at_s = 0.0
        self._lock = threading.Lock()
        self.dropped = 0
        """Blocks dropped because the SDK held the previous handoff back for too long (or
        still held it when the handoff closed)."""
        self.errors = 0
        """Handoffs the SDK confirmed with an error."""
        self._warned = False
        # One request and one buffer, reused: only the samples and the id change per handoff
        # (the SDK copies the samples before the request returns).
        self._request = ffi_pb2.FfiRequest()
        self._buffer = np.zeros(0, np.int16)
        client = ffi_client.FfiClient.instance
        # Events never reach the queue (the filter takes what it needs and answers False), so
        # no loop ever wakes for them; the SDK requires one to subscribe. Made on a running loop.
        self._subscription = client.queue.subscribe(
            loop=asyncio.get_running_loop(), filter_fn=self._on_ffi_event
        )
        self._client = client

    def put(self, block: AudioFrame) -> None:
        """Take one block; hand the waiting ones over once there are enough (capture thread)."""
        with self._lock:
            self._waiting.append(block)
            if len(self._waiting) > MAX_WAITING_BLOCKS:
                del self._waiting[0]
                self.dropped += 1
            if len(self._waiting) < BLOCKS_PER_HANDOFF:
                return
            if self._in_flight and not self._confirm_timed_out():
                return
            blocks, self._waiting = self._waiting, []
            self._hand(blocks)

    async def aclose(self) -> None:
        """Hand on what is left, wait (bounded) for the SDK to confirm the last handoff, then stop
        listening; after the sink is closed. The source can then be closed with nothing of ours
        still under way in the SDK."""
        with self._lock:
            blocks, self._waiting = self._waiting, []
            if self._in_flight and not self._confirm_timed_out():
                self.dropped += len(blocks)  # the SDK still holds the last handoff back
            elif blocks:
                self._hand(blocks)
        while self._in_flight and time.monotonic() - self._sent_at_s < CONFIRM_TIMEOUT_S:
            await asyncio.sleep(CONFIRM_POLL_S)
        self._client.queue.unsubscribe(self._subscription)

    def _confirm_timed_out(self) -> bool:
        if time.monotonic() - self._sent_at_s < CONFIRM_TIMEOUT_S:
            return False
        if not self._warned:
            self._warned = True
            logger.warning("LiveKit did not confirm a microphone handoff within %.0f s; "
                           "handing on without waiting", CONFIRM_TIMEOUT_S)  # fmt: skip
        return True

    def _hand(self, blocks: list[AudioFrame]) -> None:
        handle = self._source._ffi_handle
        if handle.disposed:  # the source was closed: nothing takes the samples any more
            return
        first = blocks[0]
        size = sum(b.data.size for b in blocks)
        if self._buffer.size != size:
            self._buffer = np.zeros(size, np.int16)
        np.concatenate([b.data for b in blocks], out=self._buffer)
        capture = self._request.capture_audio_frame
        capture.source_handle = handle.handle
        capture.buffer.data_ptr = self._buffer.ctypes.data
        capture.buffer.sample_rate = first.sample_rate_hz
        capture.buffer.num_channels = first.num_channels
        capture.buffer.samples_per_channel = size // first.num_channels
        async_id = next(_ASYNC_IDS)
        capture.request_async_id = async_id
        # Set before the request: the confirmation can arrive before the request returns.
        self._in_flight = async_id
        self._sent_at_s = time.monotonic()
        try:
            self._client.request(self._request)
        except BaseException:
            self._in_flight = 0  # no confirmation will come; the sink logs and counts it
            raise
        if self._handed is not None:
            self._handed(blocks)

    def _on_ffi_event(self, event: ffi_pb2.FfiEvent) -> bool:
        # The SDK's callback thread, for every FFI event of the process: leave at once unless
        # a handoff of ours waits for its confirmation. Never raises: the SDK would deliver an
        # event whose filter failed to the queue nobody reads.
        try:
            self._confirm(event)
        except Exception:
            logger.exception("reading a microphone handoff's confirmation failed")
        return False

    def _confirm(self, event: ffi_pb2.FfiEvent) -> None:
        expected = self._in_flight
        if not expected or event.WhichOneof("message") != "capture_audio_frame":
            return
        done = event.capture_audio_frame
        if done.async_id != expected:
            return
        if done.error:
            self.errors += 1
            logger.warning("LiveKit refused a microphone handoff: %s", done.error)
        if self._in_flight == expected:  # not replaced meanwhile (after a missing confirmation)
            self._in_flight = 0
