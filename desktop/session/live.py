"""Go Live and recording, one set of commands for both paths.

* **Direct** (local studio, no server): the studio encodes its own program and pushes it to each
  destination itself (:class:`~desktop.media.outputs.program.DirectBroadcast`).
* **Egress** (in a platform room): the backend's ``start_rtmp``/``update_rtmp``/``stop_rtmp``
  and ``start_recording``/``stop_recording`` have LiveKit compose the room and send it out.

Either way, each destination has its own switch that works while live, "Go Live" starts the
enabled set, "End" stops them all, and every status lands in the room state for the cards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from pathlib import Path

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.errors import MediaError
from desktop.media.outputs.destinations import Destination, RtmpTarget, preflight, rtmp_target
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.output import OutputKind, OutputStatus
from desktop.media.outputs.program import DirectBroadcast, OutputOptions
from desktop.session.backend_client import Backend, named_url
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.settings import Secrets
from desktop.session.state import StateStore

logger = logging.getLogger(__name__)


class LiveOutputs:
    """Destinations and recording for one studio session.

    Args:
        store: Room state to report into (``direct_outputs``, ``is_live``, ``live_since_ms``).
        secrets: Where stream keys are read from.
        encoder: Program settings for the direct path.
        options: Retry and disk behaviour for the direct path.
        backend: The platform backend; given, Go Live goes through egress for ``room_name``
            and cloud recording is offered.
        room_name: The room (egress path).
        rtmp_via_egress: With a backend, whether Go Live uses its egress (the platform) or
            pushes from this computer (the studio's own LiveKit server, which may have no
            egress service).
    """

    def __init__(
        self,
        store: StateStore,
        secrets: Secrets,
        encoder: EncoderSettings | None = None,
        options: OutputOptions | None = None,
        backend: Backend | None = None,
        room_name: str = "",
        rtmp_via_egress: bool = True,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.backend = backend
        self.rtmp_via_egress = rtmp_via_egress
        self.room_name = room_name
        # Output threads report through the loop that started them (set by the async commands).
        self._loop: asyncio.AbstractEventLoop | None = None
        self.direct = DirectBroadcast(encoder, options, listener=self._on_status)
        self._destinations: dict[str, Destination] = {}
        self._live = False

    @property
    def via_egress(self) -> bool:
        """Whether Go Live goes through the backend's LiveKit egress."""
        return self.backend is not None and self.rtmp_via_egress

    def set_sources(
        self,
        camera: VideoCaptureSource | None,
        screen: VideoCaptureSource | None,
        microphone: AudioCaptureSource | None,
    ) -> None:
        """What the direct program shows and plays (may change while live)."""
        self.direct.set_sources(camera=camera, screen=screen, microphone=microphone)

    # -- checks ------------------------------------------------------------------------------

    def target(self, destination: Destination) -> RtmpTarget:
        """The destination's checked URL with its key (raises :class:`MediaError`)."""
        key = self.secrets.get(Secrets.stream_key_name(destination.id))
        return rtmp_target(destination.url, key, key_required=destination.needs_key)

    async def check(self, destination: Destination) -> None:
        """Preflight: URL well formed, key present, host resolves and accepts a connection."""
        target = self.target(destination)
        await asyncio.get_running_loop().run_in_executor(None, preflight, target)

    # -- going live --------------------------------------------------------------------------

    async def go_live(self, destinations: Iterable[Destination]) -> dict[str, str]:
        """Start every enabled destination; returns id → error for those that could not start.

        A destination with a bad URL or key is reported and skipped; the others still start.
        """
        self._loop = asyncio.get_running_loop()
        problems: dict[str, str] = {}
        started: dict[str, RtmpTarget] = {}
        for destination in destinations:
            if not destination.enabled:
                continue
            try:
                started[destination.id] = self.target(destination)
                self._destinations[destination.id] = destination
            except MediaError as error:
                problems[destination.id] = str(error)
        if not started:
            return problems
        if self.via_egress:
            assert self.backend is not None
            await self.backend.start_rtmp(
                self.room_name, [named_url(i, t.publish_url) for i, t in started.items()]
            )
        else:
            for output_id, target in started.items():
                self.direct.add_rtmp(output_id, target)
        self._live = True
        self.store.update(is_live=True, live_since_ms=int(time.time() * 1000))
        return problems

    async def set_enabled(self, destination: Destination, enabled: bool) -> None:
        """Switch one destination while live; the others and the recording go on untouched."""
        self._loop = asyncio.get_running_loop()
        if not self._live:
            return
        if enabled:
            target = self.target(destination)
            self._destinations[destination.id] = destination
            if self.via_egress:
                assert self.backend is not None
                entry = [named_url(destination.id, target.publish_url)]
                try:
                    await self.backend.update_rtmp(self.room_name, add=entry)
                except SessionError as error:
                    # 409: the egress ended when its last destination failed; start anew.
                    if error.code is not SessionErrorCode.ALREADY_ACTIVE:
                        raise
                    await self.backend.start_rtmp(self.room_name, entry)
            else:
                self.direct.add_rtmp(destination.id, target)
        else:
            self._destinations.pop(destination.id, None)
            if self.via_egress:
                assert self.backend is not None
                await self.backend.update_rtmp(self.room_name, remove=[destination.id])
            else:
                await asyncio.get_running_loop().run_in_executor(
                    None, self.direct.remove, destination.id
                )

    def retry_now(self, destination_id: str) -> None:
        """Retry a failed or waiting destination at once (direct path)."""
        self.direct.retry_now(destination_id)

    async def end(self) -> None:
        """Stop every destination (the recording goes on until stopped)."""
        if not self._live:
            return
        self._live = False
        if self.via_egress:
            assert self.backend is not None
            try:
                await self.backend.stop_rtmp(self.room_name)
            except SessionError as error:
                # 409: the egress already ended by itself (every destination failed).
                if error.code is not SessionErrorCode.ALREADY_ACTIVE:
                    raise
        else:
            loop = asyncio.get_running_loop()
            for output_id in [k for k, s in self.direct.statuses().items()
                              if s.kind is OutputKind.RTMP]:  # fmt: skip
                await loop.run_in_executor(None, self.direct.remove, output_id)
        self._destinations.clear()
        self.store.update(is_live=False, live_since_ms=0)

    # -- recording ---------------------------------------------------------------------------

    async def start_recording(
        self, folder: Path, cloud: bool = False, local: bool = True
    ) -> Path | None:
        """Record: in the cloud (egress path), locally (crash-safe file), or both.

        Returns the local file's path when one is being written.
        """
        self._loop = asyncio.get_running_loop()
        if cloud and self.backend is not None:
            await self.backend.start_recording(self.room_name)
        if local:
            output = self.direct.start_recording(folder)
            return Path(output.status.path)
        return None

    async def stop_recording(self) -> None:
        """Stop the cloud and the local recording."""
        if self.backend is not None and self.store.state.is_recording:
            await self.backend.stop_recording(self.room_name)
        await asyncio.get_running_loop().run_in_executor(None, self.direct.remove, "recording")

    async def aclose(self) -> None:
        """End everything (the recording is closed cleanly)."""
        try:
            await self.end()
        except SessionError as error:
            logger.warning("ending the stream: %s", error)
        await asyncio.get_running_loop().run_in_executor(None, self.direct.close)

    # -- plumbing ----------------------------------------------------------------------------

    def _on_status(self, status: OutputStatus) -> None:
        # Output threads report here; the state belongs to the event loop.
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._apply, status)
        except RuntimeError:
            pass  # the loop is closed: the studio is quitting

    def _apply(self, status: OutputStatus) -> None:
        outputs = {s.output_id: s for s in self.store.state.direct_outputs}
        outputs[status.output_id] = status
        self.store.update(direct_outputs=tuple(outputs.values()))
