"""The direct program: camera, screen and microphone composed, encoded once per profile, sent
to many.

This is what goes out when the studio streams by itself (no LiveKit egress): the host's camera,
or the screen with the camera as a picture-in-picture, plus the microphone. One video thread
composes and encodes at a constant frame rate from the newest frames; one audio thread keeps
the audio continuous (silence fills gaps, so a stalled microphone never stalls the stream).
Outputs are added and removed while it runs, each on its own thread (see :mod:`.output`).
Outputs that want the same encoding profile share one encoder (every RTMP destination and HLS
use the program's own); a recording in another container or quality gets one more encoder fed
the same pictures and sound (see :mod:`.profiles`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from desktop.media.audio_mix import AudioMixer
from desktop.media.base import AudioCaptureSource, VideoCaptureSource
from desktop.media.compositor import HOST_ID, SCREEN_ID, Compositor, Layout, Scene, StageMember
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.fanout import FrameQueue
from desktop.media.frames import AudioFrame, VideoFrame
from desktop.media.outputs.destinations import RtmpTarget
from desktop.media.outputs.encoder import (
    AUDIO_SAMPLE_RATE_HZ,
    EncodedPacket,
    EncoderSettings,
    ProgramEncoder,
)
from desktop.media.outputs.hls import DEFAULT_SEGMENT_S, HlsSink, hls_folder
from desktop.media.outputs.output import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_MIN_FREE_BYTES,
    DEFAULT_RETRY_BASE_S,
    NETWORK_TIMEOUT_S,
    Output,
    OutputListener,
    OutputStatus,
    recording_path,
)
from desktop.media.outputs.profiles import RecordingQuality, recording_profile
from desktop.media.outputs.sinks import FileSink, RtmpSink, Sink
from desktop.media.threaded import Pacer

logger = logging.getLogger(__name__)

AUDIO_BLOCK_SAMPLES = AUDIO_SAMPLE_RATE_HZ // 100
MIX_DELAY_S = 0.06
"""The mix runs this far behind the clock so inputs arriving in 10–50 ms bursts are not cut."""
DEFAULT_HOST_NAME = ""
"""No name (and so no name plate) until the studio names the host."""

_UNCHANGED = object()


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """How outputs behave when things go wrong."""

    max_retries: int = DEFAULT_MAX_RETRIES
    """RTMP attempts after the first before giving up (no retry storm on the platform)."""
    retry_base_s: float = DEFAULT_RETRY_BASE_S
    """First back-off delay; doubles per attempt."""
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    """Free space a recording keeps on its disk."""
    network_timeout_s: float = NETWORK_TIMEOUT_S
    """An RTMP server silent (no handshake answer, no data taken) this long is cut and retried."""


@dataclass(frozen=True, slots=True)
class EncoderInfo:
    """One encoder running for the program (for the host's Stats)."""

    profile: EncoderSettings
    """What it encodes."""
    video_encoder: str
    """The video encoder's name (e.g. libx264, h264_nvenc, libvpx)."""
    output_ids: tuple[str, ...]
    """The outputs it feeds."""
    video_frames: int = 0
    """Pictures it encoded so far."""


class DirectBroadcast:
    """The studio's own program and its outputs (RTMP destinations and local recording).

    The program — the host's camera and screen and every guest on stage, in a layout, with the
    mixed sound — is composed on one video thread and mixed on one audio thread, at a constant
    rate, while a monitor watches it or an output takes it. The encoder runs while at least one
    output exists; adding or removing an output, or changing the layout, stage or banner, never
    restarts the encoder or the other outputs.

    Args:
        settings: Program size, rate, bitrates.
        options: Retry and disk-space behaviour.
        listener: Called (on an output's thread) with each output's new status.
    """

    def __init__(
        self,
        settings: EncoderSettings | None = None,
        options: OutputOptions | None = None,
        listener: OutputListener | None = None,
    ) -> None:
        self.settings = settings or EncoderSettings()
        self.settings.check()
        self.options = options or OutputOptions()
        self.compositor = Compositor(self.settings.width, self.settings.height)
        """Builds the picture; change the scene here (layout, stage, banner, pin)."""
        self.mixer = AudioMixer()
        """Mixes the host's microphone and the guests on stage."""
        self.compositor.set_scene(Scene(stage=(StageMember(HOST_ID, DEFAULT_HOST_NAME),)))
        self._listener = listener
        self._lock = threading.Lock()
        self._outputs: dict[str, Output] = {}
        self._camera: VideoCaptureSource | None = None
        self._screen: VideoCaptureSource | None = None
        self._mic: AudioCaptureSource | None = None
        self._camera_q: FrameQueue[VideoFrame] | None = None
        self._screen_q: FrameQueue[VideoFrame] | None = None
        self._mic_q: FrameQueue[AudioFrame] | None = None
        self._encoders: dict[EncoderSettings, ProgramEncoder] = {}
        self._previewing = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0_s = 0.0
        self.encode_cpu_s = 0.0
        """CPU time the video thread spent composing and encoding (for benchmarks)."""
        self.compose_cpu_s = 0.0
        """CPU time spent composing alone."""
        self.video_pictures = 0
        """Pictures composed since the program started."""
        self.audio_blocks = 0
        """10 ms audio blocks mixed since the program started."""
        self.frames_encoded = 0
        """Pictures encoded since the encoder started."""
        self.frames_skipped = 0
        """Pictures due since the encoder started that were never encoded because composing
        and encoding fell behind the frame rate (OBS's "skipped frames")."""

    # -- sources -----------------------------------------------------------------------------

    def set_sources(
        self,
        camera: VideoCaptureSource | None | object = _UNCHANGED,
        screen: VideoCaptureSource | None | object = _UNCHANGED,
        microphone: AudioCaptureSource | None | object = _UNCHANGED,
    ) -> None:
        """Choose the host's camera, screen and microphone; may be called while live."""
        with self._lock:
            if camera is not _UNCHANGED:
                if self._camera_q is not None and self._camera is not None:
                    self._camera.frames.unsubscribe(self._camera_q)
                self._camera = camera  # type: ignore[assignment]
                self._camera_q = (
                    self._camera.frames.subscribe("program", 1) if self._camera else None
                )
            if screen is not _UNCHANGED:
                if self._screen_q is not None and self._screen is not None:
                    self._screen.frames.unsubscribe(self._screen_q)
                self._screen = screen  # type: ignore[assignment]
                self._screen_q = (
                    self._screen.frames.subscribe("program", 1) if self._screen else None
                )
            if microphone is not _UNCHANGED:
                if self._mic_q is not None and self._mic is not None:
                    self._mic.frames.unsubscribe(self._mic_q)
                self._mic = microphone  # type: ignore[assignment]
                self._mic_q = self._mic.frames.subscribe("program", 50) if self._mic else None
            camera_on, mic_on = self._camera is not None, self._mic is not None
            screen_on = self._screen is not None
        if not camera_on:
            self.compositor.set_frame(HOST_ID, None)
        if not screen_on:
            self.compositor.set_frame(SCREEN_ID, None)
        self._set_member(HOST_ID, camera_on=camera_on)
        if mic_on:
            self.mixer.set_input(HOST_ID)
        else:
            self.mixer.remove_input(HOST_ID)

    # -- the scene ---------------------------------------------------------------------------

    def set_layout(self, layout: Layout) -> None:
        """Switch the layout; the next picture uses it (outputs and encoder go on)."""
        self.compositor.update(layout=layout)

    def set_banner(self, text: str) -> None:
        """Show (or with '' remove) the banner along the bottom."""
        self.compositor.update(banner=text.strip())

    def set_stage(self, members: Sequence[StageMember]) -> None:
        """Who is in the program, in order (the host included); their sound joins the mix.

        Guests leaving the stage leave the picture and the mix at once.
        """
        stage = tuple(members)
        ids = {m.source_id for m in stage}
        previous = {m.source_id for m in self.compositor.scene.stage}
        self.compositor.update(stage=stage)
        for gone in previous - ids:
            if gone != HOST_ID:
                self.mixer.remove_input(gone)
                self.compositor.set_frame(gone, None)
        for member in stage:
            if member.source_id != HOST_ID and member.source_id not in self.mixer.inputs():
                self.mixer.set_input(member.source_id)
        if HOST_ID not in ids:
            self.mixer.remove_input(HOST_ID)
        elif self._mic is not None:
            self.mixer.set_input(HOST_ID)

    def set_guest_muted(self, source_id: str, muted: bool) -> None:
        """A guest muted (by themselves or a moderator) is silent in the program."""
        if source_id in {m.source_id for m in self.compositor.scene.stage}:
            self.mixer.set_input(source_id, muted=muted)

    def push_video(self, source_id: str, frame: VideoFrame) -> None:
        """The newest frame of a guest on stage (any thread)."""
        self.compositor.set_frame(source_id, frame)

    def push_audio(self, source_id: str, frame: AudioFrame) -> None:
        """A block of a guest's sound (any thread); dropped unless they are on stage."""
        self.mixer.push(source_id, frame)

    def _set_member(self, source_id: str, **changes: object) -> None:
        stage = tuple(
            replace(m, **changes) if m.source_id == source_id else m  # type: ignore[arg-type]
            for m in self.compositor.scene.stage
        )
        self.compositor.update(stage=stage)

    # -- monitor -----------------------------------------------------------------------------

    def start_preview(self) -> None:
        """Compose the program even while nothing is live (for the Program monitor)."""
        with self._lock:
            self._previewing = True
            self._ensure_running()

    def stop_preview(self) -> None:
        """Stop composing for the monitor (the program goes on while an output runs)."""
        with self._lock:
            self._previewing = False
            idle = not self._outputs
        if idle:
            self._stop_running()

    @property
    def running(self) -> bool:
        """Whether the program is being composed."""
        return bool(self._threads)

    # -- outputs -----------------------------------------------------------------------------

    def add_rtmp(self, output_id: str, target: RtmpTarget) -> Output:
        """Start sending to an RTMP destination (the others go on untouched)."""
        sink = RtmpSink(target, max_retries=self.options.max_retries,
                        retry_base_s=self.options.retry_base_s,
                        network_timeout_s=self.options.network_timeout_s)  # fmt: skip
        return self._add(output_id, sink)

    def start_recording(
        self,
        target: str | Path,
        output_id: str = "recording",
        quality: RecordingQuality | None = None,
        suffix: str = ".mp4",
    ) -> Output:
        """Start recording the program to a file or a folder.

        Args:
            target: A file (.mp4, .mkv, .mov, .flv or .webm), or a folder for a dated file.
            output_id: The output's id.
            quality: The recording's bitrate band; None records the program's own encoding
                (sharing its encoder).
            suffix: The container of a dated file made in a folder (``.mp4`` or ``.webm``).

        The container decides the codecs: WebM is VP8 + Opus, the others H.264 + AAC. A
        profile that differs from the program's runs an encoder of its own.
        """
        path = recording_path(target, suffix=suffix)
        profile = recording_profile(self.settings, path.suffix, quality)
        sink = FileSink(path, min_free_bytes=self.options.min_free_bytes)
        return self._add(output_id, sink, profile)

    def start_hls(
        self, folder: str | Path, segment_s: int = DEFAULT_SEGMENT_S, output_id: str = "hls"
    ) -> Output:
        """Write the program as HLS (segments and a growing playlist) into a new folder inside
        ``folder``; the status's path is the playlist."""
        sink = HlsSink(hls_folder(folder), segment_s=segment_s,
                       min_free_bytes=self.options.min_free_bytes)  # fmt: skip
        return self._add(output_id, sink)

    def _add(self, output_id: str, sink: Sink, profile: EncoderSettings | None = None) -> Output:
        with self._lock:
            if output_id in self._outputs:
                raise MediaError(
                    MediaErrorCode.INVALID_ARGUMENT, output_id, "this output is already on",
                    "switch it off first",
                )  # fmt: skip
            encoder = self._ensure_encoder(profile or self.settings)
            output = Output(output_id, sink, encoder, listener=self._listener)
            self._outputs[output_id] = output
        output.start()
        return output

    def remove(self, output_id: str) -> OutputStatus | None:
        """Switch one output off (its stream or file is closed cleanly); returns its last status."""
        with self._lock:
            output = self._outputs.pop(output_id, None)
        if output is None:
            return None
        output.stop()
        with self._lock:
            last = not self._outputs
            previewing = self._previewing
            # An encoder no output uses any more stops (the others go on untouched).
            wanted = {out.encoder.settings for out in self._outputs.values()}
            idle = [e for key, e in self._encoders.items() if key not in wanted]
            for encoder in idle:
                del self._encoders[encoder.settings]
        for encoder in idle:
            encoder.close()
        if last and not previewing:
            self._stop_running()
        return output.status

    def retry_now(self, output_id: str) -> None:
        """Retry a failed or waiting output at once."""
        with self._lock:
            output = self._outputs.get(output_id)
        if output is not None:
            output.retry_now()

    def statuses(self) -> dict[str, OutputStatus]:
        """Every output's current status, by id."""
        with self._lock:
            return {key: out.status for key, out in self._outputs.items()}

    @property
    def encoder_name(self) -> str:
        """The program's own video encoder in use ('' while none runs)."""
        with self._lock:
            encoder = self._encoders.get(self.settings)
        return encoder.video_encoder_name if encoder else ""

    def encoders(self) -> list[EncoderInfo]:
        """Every encoder running now and the outputs it feeds (the program's own first)."""
        with self._lock:
            found = [
                EncoderInfo(
                    profile,
                    encoder.video_encoder_name,
                    tuple(k for k, out in self._outputs.items() if out.encoder is encoder),
                    encoder.video_frames,
                )
                for profile, encoder in self._encoders.items()
            ]
        return sorted(found, key=lambda info: info.profile != self.settings)

    def close(self) -> None:
        """Stop every output, the encoder and the program."""
        with self._lock:
            outputs = list(self._outputs.values())
            self._outputs.clear()
            self._previewing = False
        for output in outputs:
            output.stop()
        self._stop_running()
        self.set_sources(None, None, None)

    # -- program threads ---------------------------------------------------------------------

    def _ensure_running(self) -> None:
        # Called with the lock held.
        if self._threads:
            return
        self._stop = threading.Event()
        self._t0_s = time.monotonic()
        self._threads = [
            threading.Thread(target=self._video_loop, name="bc-program-video", daemon=True),
            threading.Thread(target=self._audio_loop, name="bc-program-audio", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _ensure_encoder(self, profile: EncoderSettings) -> ProgramEncoder:
        # Called with the lock held.
        encoder = self._encoders.get(profile)
        if encoder is None:
            if profile.width != self.settings.width or profile.height != self.settings.height:
                raise MediaError(
                    MediaErrorCode.INVALID_ARGUMENT, "program",
                    f"an output asked for {profile.width}x{profile.height}, the program is "
                    f"{self.settings.width}x{self.settings.height}",
                    "record at the program's size",
                )  # fmt: skip
            if not self._encoders:
                self.frames_encoded = self.frames_skipped = 0
            encoder = ProgramEncoder(profile, audio_channels=1)
            self._encoders[profile] = encoder
        self._ensure_running()
        return encoder

    def _stop_running(self) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
            self._stop.set()
        for thread in threads:
            thread.join(5.0)
        with self._lock:
            encoders = list(self._encoders.values())
            self._encoders.clear()
        for encoder in encoders:
            encoder.close()

    def _send(self, encoder: ProgramEncoder, packets: list[EncodedPacket]) -> None:
        if not packets:
            return
        with self._lock:
            outputs = [out for out in self._outputs.values() if out.encoder is encoder]
        for output in outputs:
            for packet in packets:
                output.feed(packet)

    def _video_loop(self) -> None:
        s = self.settings
        stop = self._stop
        pacer = Pacer(1.0 / s.fps, stop)
        last_pts_ms = -1
        missed_seen = 0
        while pacer.wait():
            started = time.thread_time()
            with self._lock:
                camera_q, screen_q = self._camera_q, self._screen_q
                encoders = list(self._encoders.values())
            if encoders:
                self.frames_skipped += pacer.missed - missed_seen
            missed_seen = pacer.missed
            camera = camera_q.take_latest() if camera_q else None
            if camera is not None:
                self.compositor.set_frame(HOST_ID, camera)
            screen = screen_q.take_latest() if screen_q else None
            if screen is not None:
                self.compositor.set_frame(SCREEN_ID, screen)
            try:
                picture = self.compositor.compose()
            except Exception:
                logger.exception("composing a picture failed")
                continue
            self.video_pictures += 1
            self.compose_cpu_s += time.thread_time() - started
            if not encoders:
                continue
            pts_ms = round((time.monotonic() - self._t0_s) * 1000)
            if pts_ms <= last_pts_ms:
                self.frames_skipped += 1
                continue
            last_pts_ms = pts_ms
            # Every profile's encoder gets the same picture at the same time, so outputs of
            # different profiles stay in step with each other.
            encoded = False
            for encoder in encoders:
                try:
                    packets = encoder.encode_video(picture, pts_ms)
                except Exception:
                    logger.exception("encoding a picture failed")
                    continue
                encoded = True
                self._send(encoder, packets)
            if not encoded:
                self.frames_skipped += 1
                continue
            self.frames_encoded += 1
            self.encode_cpu_s += time.thread_time() - started

    def _audio_loop(self) -> None:
        stop = self._stop
        pacer = Pacer(AUDIO_BLOCK_SAMPLES / AUDIO_SAMPLE_RATE_HZ, stop)
        done = 0
        delay = int(MIX_DELAY_S * AUDIO_SAMPLE_RATE_HZ)
        while pacer.wait():
            with self._lock:
                mic_q = self._mic_q
                encoders = list(self._encoders.values())
            while mic_q is not None and (frame := mic_q.get_nowait()) is not None:
                self.mixer.push(HOST_ID, frame)
            # The program clock decides how much sound is due; inputs that have nothing give
            # silence, so a stalled source never stalls the stream or shifts it against video.
            expected = int((time.monotonic() - self._t0_s) * AUDIO_SAMPLE_RATE_HZ) - delay
            packets: dict[int, list[EncodedPacket]] = {id(e): [] for e in encoders}
            while done + AUDIO_BLOCK_SAMPLES <= expected:
                block = self.mixer.mix(AUDIO_BLOCK_SAMPLES)
                self.audio_blocks += 1
                for encoder in encoders:
                    try:
                        packets[id(encoder)] += encoder.encode_audio(block, done)
                    except Exception:
                        logger.exception("encoding sound failed")
                done += AUDIO_BLOCK_SAMPLES
            for encoder in encoders:
                self._send(encoder, packets[id(encoder)])
