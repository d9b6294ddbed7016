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
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.compositor import Layout
from desktop.media.errors import MediaError
from desktop.media.frames import wall_clock_ms
from desktop.media.outputs.destinations import (
    Destination,
    RtmpTarget,
    mask_url,
    preflight,
    rtmp_target,
)
from desktop.media.outputs.encoder import EncoderSettings
from desktop.media.outputs.output import OutputKind, OutputStatus
from desktop.media.outputs.profiles import RecordingQuality
from desktop.media.outputs.program import DirectBroadcast, OutputOptions
from desktop.session.backend_client import Backend, named_url
from desktop.session.errors import SessionError, SessionErrorCode
from desktop.session.settings import Secrets, Settings
from desktop.session.state import StateStore
from spaces_contract.common import Layout as EgressLayout
from spaces_contract.recording import OutputFormat, Quality

logger = logging.getLogger(__name__)

EGRESS_LAYOUTS: dict[Layout, tuple[str, str]] = {
    Layout.AUTO: (
        "speaker",
        "the speaker large with the others in a strip (a shared screen large)",
    ),
    Layout.SOLO: ("speaker", "the speaker large with the others in a strip (not alone)"),
    Layout.SIDE_BY_SIDE: ("grid", "everyone in a grid"),
    Layout.GRID: ("grid", ""),
    Layout.SPEAKER: ("speaker", ""),
    Layout.SCREEN_STRIP: ("speaker", ""),
    Layout.SCREEN_PIP: ("speaker", "the screen large with the people in a strip (no corner)"),
}
"""The studio's layouts as LiveKit egress layouts, with what viewers see where they differ."""


REHEARSAL_ID = "rehearsal"
"""The private sink's output id (direct) or destination name (egress)."""


def egress_layout(layout: Layout) -> tuple[str, str]:
    """The egress layout for a studio layout, and what viewers see instead ('' = the same)."""
    return EGRESS_LAYOUTS[layout]


class GoLivePath(Protocol):
    """How the program reaches destinations: the studio's own encoder, or LiveKit egress."""

    async def start(self, targets: dict[str, RtmpTarget]) -> None:
        """Send to these destinations (id → checked target)."""
        ...

    async def add(self, destination_id: str, target: RtmpTarget) -> None:
        """Add one destination while live; the others go on."""
        ...

    async def remove(self, destination_id: str) -> None:
        """Drop one destination while live; the others go on."""
        ...

    async def stop(self) -> None:
        """Stop every destination."""
        ...

    async def switch(self, targets: dict[str, RtmpTarget], drop: str) -> None:
        """Add these destinations to what already runs, then drop one output (a rehearsal's
        private sink): the program (or egress) and the other outputs go on."""
        ...

    def viewers_see(self, layout: Layout) -> str:
        """What viewers see for a layout, where it is not what the Program monitor shows."""
        ...


class DirectPath:
    """The studio encodes the program once and pushes it to each destination itself."""

    def __init__(self, broadcast: DirectBroadcast) -> None:
        self.broadcast = broadcast

    async def start(self, targets: dict[str, RtmpTarget]) -> None:
        """Add an RTMP output per destination (one encoder for all)."""
        for output_id, target in targets.items():
            self.broadcast.add_rtmp(output_id, target)

    async def add(self, destination_id: str, target: RtmpTarget) -> None:
        """Add an RTMP output."""
        self.broadcast.add_rtmp(destination_id, target)

    async def remove(self, destination_id: str) -> None:
        """Close one RTMP output cleanly (off the event loop: it joins a thread)."""
        await asyncio.get_running_loop().run_in_executor(
            None, self.broadcast.remove, destination_id
        )

    async def stop(self) -> None:
        """Close every RTMP output (the local recording goes on)."""
        statuses = self.broadcast.statuses().items()
        for output_id in [k for k, s in statuses if s.kind is OutputKind.RTMP]:
            await self.remove(output_id)

    async def switch(self, targets: dict[str, RtmpTarget], drop: str) -> None:
        """Add an RTMP output per destination to the running encoder, then close ``drop``."""
        await self.start(targets)
        await self.remove(drop)

    def viewers_see(self, layout: Layout) -> str:
        """Viewers see exactly the program."""
        return ""


@dataclass(frozen=True)
class CloudRecording:
    """What the host chose for a cloud recording (sent to the backend's start_recording)."""

    output: OutputFormat = OutputFormat.MP4
    """Container."""
    quality: Quality = Quality.HIGH
    """Egress preset."""
    layout: EgressLayout | None = None
    """Composition (None: the one closest to the studio's program layout)."""


def cloud_recording(settings: Settings) -> CloudRecording:
    """The host's recording choices from the settings (unknown words fall back to defaults)."""
    outputs = {o.value: o for o in OutputFormat}
    qualities = {q.value: q for q in Quality}
    layouts = {la.value: la for la in EgressLayout}
    return CloudRecording(
        outputs.get(settings.recording_output, OutputFormat.MP4),
        qualities.get(settings.recording_quality, Quality.HIGH),
        layouts.get(settings.recording_layout),
    )


@dataclass(frozen=True)
class LocalRecording:
    """What the host chose for a local recording (the same words as the cloud's)."""

    suffix: str = ".mp4"
    """The file's container: ``.mp4`` (H.264 + AAC) or ``.webm`` (VP8 + Opus)."""
    quality: RecordingQuality | None = None
    """The bitrate band (the program's size and frame rate are kept); None records the
    program's own encoding, sharing its encoder."""


def local_recording(settings: Settings) -> LocalRecording:
    """The host's container and quality for local recordings (unknown words, and ``stream``:
    the stream's own encoding, which shares the program's encoder)."""
    qualities = {q.value: q for q in RecordingQuality}
    return LocalRecording(
        ".webm" if settings.recording_output == OutputFormat.WEBM.value else ".mp4",
        qualities.get(settings.local_recording_quality),
    )


class EgressPath:
    """LiveKit egress composes the room and sends it out (through the backend's actions)."""

    def __init__(self, backend: Backend, room_name: str, store: StateStore) -> None:
        self.backend = backend
        self.room_name = room_name
        self.store = store
        self.layout = Layout.AUTO
        """The studio's layout, sent as the egress layout when an egress starts."""
        self.cloud_recording = False
        """Whether this studio started a cloud recording that it has not stopped."""

    async def start(self, targets: dict[str, RtmpTarget]) -> None:
        """One egress for every destination, in the layout closest to the studio's."""
        await self.backend.start_rtmp(
            self.room_name,
            [named_url(i, t.publish_url) for i, t in targets.items()],
            layout=self.egress_layout,
        )

    async def add(self, destination_id: str, target: RtmpTarget) -> None:
        """Add a URL to the running egress (or start one if it ended by itself)."""
        entry = [named_url(destination_id, target.publish_url)]
        try:
            await self.backend.update_rtmp(self.room_name, add=entry)
        except SessionError as error:
            # 409: the egress ended when its last destination failed; start anew.
            if error.code is not SessionErrorCode.ALREADY_ACTIVE:
                raise
            await self.backend.start_rtmp(self.room_name, entry, layout=self.egress_layout)

    async def remove(self, destination_id: str) -> None:
        """Remove a URL from the running egress."""
        await self.backend.update_rtmp(self.room_name, remove=[destination_id])

    async def switch(self, targets: dict[str, RtmpTarget], drop: str) -> None:
        """Update the same egress (LiveKit's UpdateStream): the destinations' URLs in, then
        ``drop``'s out. If the egress ended by itself meanwhile, start one for the destinations.

        Two updates, not one: an egress ends when its last stream goes, and some egress
        versions register added URLs asynchronously, so removing the private sink in the same
        request could end the egress before the destinations count.
        """
        entries = [named_url(i, t.publish_url) for i, t in targets.items()]
        try:
            await self.backend.update_rtmp(self.room_name, add=entries)
        except SessionError as error:
            # 409: the egress ended (its only output, the private sink, failed); start anew.
            if error.code is not SessionErrorCode.ALREADY_ACTIVE:
                raise
            await self.backend.start_rtmp(self.room_name, entries, layout=self.egress_layout)
            return
        await self.backend.update_rtmp(self.room_name, remove=[drop])

    async def stop(self) -> None:
        """Stop the egress (already ended by itself is fine)."""
        try:
            await self.backend.stop_rtmp(self.room_name)
        except SessionError as error:
            # 409: the egress already ended by itself (every destination failed).
            if error.code is not SessionErrorCode.ALREADY_ACTIVE:
                raise

    async def start_cloud_recording(self, options: CloudRecording | None = None) -> None:
        """A room-composite recording: the host's container, quality and layout (default:
        the egress layout closest to the studio's)."""
        options = options or CloudRecording()
        await self.backend.start_recording(
            self.room_name, options.output, options.layout or self.egress_layout, options.quality
        )
        self.cloud_recording = True

    async def stop_cloud_recording(self) -> None:
        """Stop the cloud recording if one runs."""
        if self.store.state.is_recording or self.cloud_recording:
            self.cloud_recording = False
            await self.backend.stop_recording(self.room_name)

    @property
    def egress_layout(self) -> EgressLayout:
        """The egress layout for the studio's."""
        return EgressLayout(egress_layout(self.layout)[0])

    def viewers_see(self, layout: Layout) -> str:
        """Egress has two layouts; say what viewers get where the studio's differs."""
        return egress_layout(layout)[1]

    async def follow_layout(self) -> bool:
        """Have the running egresses (live stream, cloud recording) take the studio's layout.

        Returns whether an egress was running to take it (none runs: the next start uses it).
        """
        answer = await self.backend.update_layout(self.room_name, self.egress_layout)
        return bool(answer.egress_ids)


class LiveOutputs:
    """Destinations and recording for one studio session.

    Go Live takes one of two paths with the same commands: :class:`DirectPath` (the studio's
    own program) or :class:`EgressPath` (a platform room's egress), chosen by whether a backend
    is set. The local recording is always the studio's own program.

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
        self._direct_path = DirectPath(self.direct)
        self._egress_path: EgressPath | None = None
        self._destinations: dict[str, Destination] = {}
        self._live = False
        self.cloud_recording_options = CloudRecording()
        """Container, quality and layout of cloud recordings."""
        self.local_recording_options = LocalRecording()
        """Container and quality of local recordings."""
        self._rehearsal = ""

    @property
    def is_live(self) -> bool:
        """Whether Go Live is on (some destinations may be failing)."""
        return self._live

    @property
    def via_egress(self) -> bool:
        """Whether Go Live goes through the backend's LiveKit egress."""
        return self.backend is not None and self.rtmp_via_egress

    @property
    def path(self) -> GoLivePath:
        """The path Go Live takes now."""
        egress = self._egress()
        return egress if egress is not None and self.rtmp_via_egress else self._direct_path

    def _egress(self) -> EgressPath | None:
        """The backend's egress (Go Live through it, and cloud recording), if there is one."""
        if self.backend is None:
            return None
        egress = self._egress_path
        if egress is None or egress.backend is not self.backend or (
            egress.room_name != self.room_name
        ):  # fmt: skip
            egress = EgressPath(self.backend, self.room_name, self.store)
            egress.layout = self.direct.compositor.scene.layout
            self._egress_path = egress
        return egress

    def set_sources(
        self,
        camera: VideoCaptureSource | None,
        screen: VideoCaptureSource | None,
        microphone: AudioCaptureSource | None,
    ) -> None:
        """What the direct program shows and plays (may change while live)."""
        self.direct.set_sources(camera=camera, screen=screen, microphone=microphone)

    def set_layout(self, layout: Layout) -> str:
        """Switch the program's layout; returns what viewers see instead ('' = the same).

        The direct program switches on its next picture. With egress, the layout is the one
        the next egress starts with; a running one follows through :meth:`follow_layout`.
        Egress has only a grid and a speaker layout: where the studio's differs, the answer
        says in words what viewers get.
        """
        self.direct.set_layout(layout)
        egress = self._egress()
        if egress is not None:
            egress.layout = layout  # the cloud recording follows the layout too
        path = self.path
        if isinstance(path, EgressPath):
            return path.viewers_see(layout)
        return ""

    @property
    def egress_running(self) -> bool:
        """Whether an egress composes the room now (live or rehearsing through egress, or a
        cloud recording)."""
        egress = self._egress()
        if egress is None:
            return False
        recording = egress.cloud_recording or self.store.state.is_recording
        return ((self._live or bool(self._rehearsal)) and self.via_egress) or recording

    async def follow_layout(self) -> None:
        """Send the current layout to the running egresses (nothing to do when none runs).

        Their outputs go on: LiveKit's ``UpdateLayout`` changes the composition in place.
        Raises :class:`SessionError` when the backend or egress refuses.
        """
        egress = self._egress()
        if egress is not None and self.egress_running:
            await egress.follow_layout()

    # -- checks ------------------------------------------------------------------------------

    def target(self, destination: Destination) -> RtmpTarget:
        """The destination's checked URL with its key (raises :class:`MediaError`)."""
        key = self.secrets.get(Secrets.stream_key_name(destination.id))
        return rtmp_target(destination.url, key, key_required=destination.needs_key)

    async def check(self, destination: Destination) -> None:
        """Preflight: URL well formed, key present, host resolves and accepts a connection."""
        target = self.target(destination)
        await asyncio.get_running_loop().run_in_executor(None, preflight, target)

    # -- rehearsal ---------------------------------------------------------------------------

    @property
    def is_rehearsing(self) -> bool:
        """Whether the program runs into a private sink, waiting for Go Live."""
        return bool(self._rehearsal)

    async def rehearse(
        self, folder: Path | None = None, private_url: str = "", key: str = ""
    ) -> str:
        """Run the show into a private sink: a private RTMP URL, else a file in ``folder``.

        Go Live then adds the real destinations to the same program (or the same egress) and
        drops the private sink, so nothing restarts. Through the platform's egress only a
        private RTMP URL can be the sink (an egress stream takes URLs).

        Returns:
            The sink in words (a stream key masked).

        Raises:
            SessionError: Already live or rehearsing, or no sink this path can use.
            MediaError: The private URL is not usable.
        """
        self._loop = asyncio.get_running_loop()
        if self._live or self._rehearsal:
            raise SessionError(
                SessionErrorCode.ALREADY_ACTIVE, "already live or rehearsing",
                "end the rehearsal (or the stream) first",
            )  # fmt: skip
        path = self.path
        if private_url:
            target = rtmp_target(private_url, key)
            await path.start({REHEARSAL_ID: target})
            shown = f"a private stream to {mask_url(target.publish_url)}"
        elif isinstance(path, EgressPath):
            raise SessionError(
                SessionErrorCode.INVALID_REQUEST,
                "a rehearsal through the platform needs a private RTMP URL",
                "set one with Rehearse ▸ Private stream…, or rehearse in the local studio",
            )  # fmt: skip
        else:
            if folder is None:
                raise SessionError(
                    SessionErrorCode.INVALID_REQUEST, "no folder for the rehearsal file",
                    "choose a recording folder with Record ▸ Choose folder",
                )  # fmt: skip
            file = folder / time.strftime("Rehearsal %Y-%m-%d %H-%M-%S.mp4")
            self.direct.start_recording(file, output_id=REHEARSAL_ID)
            shown = f"a private file, {file.name}"
        self._rehearsal = shown
        self.store.update(rehearsal=shown)
        return shown

    async def end_rehearsal(self) -> None:
        """Stop the rehearsal's private sink (nothing went out)."""
        if not self._rehearsal:
            return
        self._rehearsal = ""
        try:
            if isinstance(self.path, EgressPath):
                await self.path.stop()
            else:
                await self._direct_path.remove(REHEARSAL_ID)
        finally:
            self.store.update(rehearsal="")

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
        if self._rehearsal:
            # From rehearsal to live: the same program (or egress) gains the destinations and
            # loses the private sink; nothing restarts.
            await self.path.switch(started, REHEARSAL_ID)
            self._rehearsal = ""
        else:
            await self.path.start(started)
        self._live = True
        self.store.update(is_live=True, live_since_ms=wall_clock_ms(), rehearsal="")
        return problems

    async def set_enabled(self, destination: Destination, enabled: bool) -> None:
        """Switch one destination while live; the others and the recording go on untouched."""
        self._loop = asyncio.get_running_loop()
        if not self._live:
            return
        if enabled:
            target = self.target(destination)
            self._destinations[destination.id] = destination
            await self.path.add(destination.id, target)
        else:
            self._destinations.pop(destination.id, None)
            await self.path.remove(destination.id)

    def retry_now(self, destination_id: str) -> None:
        """Retry a failed or waiting destination at once (direct path)."""
        self.direct.retry_now(destination_id)

    async def end(self) -> None:
        """Stop every destination (the recording goes on until stopped), or the rehearsal."""
        if self._rehearsal:
            await self.end_rehearsal()
        if not self._live:
            return
        self._live = False
        await self.path.stop()
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
        egress = self._egress()
        if cloud and egress is not None:
            await egress.start_cloud_recording(self.cloud_recording_options)
        if local:
            chosen = self.local_recording_options
            output = self.direct.start_recording(
                folder, quality=chosen.quality, suffix=chosen.suffix
            )
            return Path(output.status.path)
        return None

    async def start_hls(self, folder: Path, segment_s: int = 4) -> Path:
        """Write the program as HLS into a new folder inside ``folder``; returns the playlist."""
        self._loop = asyncio.get_running_loop()
        output = self.direct.start_hls(folder, segment_s)
        return Path(output.status.path)

    async def stop_hls(self) -> None:
        """End the HLS output (its playlist is closed with #EXT-X-ENDLIST)."""
        await asyncio.get_running_loop().run_in_executor(None, self.direct.remove, "hls")

    async def stop_recording(self) -> None:
        """Stop the cloud and the local recording."""
        egress = self._egress()
        if egress is not None:
            await egress.stop_cloud_recording()
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
