"""The double's Egress service: room composite to MP4 files and RTMP streams, with PyAV.

A composer task in the double's event loop takes the newest frame of each published video
track (speaker layout: the first camera; grid: up to four tiles) and the first microphone, at a
small fixed size and rate, and hands the program to one thread per output, which encodes H.264
+ AAC and muxes it (MP4 file, FLV over RTMP). Outputs are independent: a URL that refuses the
connection fails alone, and UpdateStream adds or removes one without touching the others.
Sizes are small on purpose: this is test equipment on a two-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np
import numpy.typing as npt
from aiohttp import web
from google.protobuf import json_format
from livekit.protocol import egress as egress_pb
from livekit.protocol import models

from tests.livekit_double.auth import AuthError, bearer_claims, require_grant

if TYPE_CHECKING:
    from tests.livekit_double.rooms import PublishedTrack, Room
    from tests.livekit_double.server import DoubleServer

logger = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS = 640, 360, 15
SAMPLE_RATE_HZ = 48_000
SAMPLES_PER_TICK = SAMPLE_RATE_HZ // FPS
OUTPUT_QUEUE = 30
ACTIVE_STATES = (egress_pb.EgressStatus.EGRESS_STARTING, egress_pb.EgressStatus.EGRESS_ACTIVE)


def now_ns() -> int:
    """Wall clock in nanoseconds, as EgressInfo times are."""
    return time.time_ns()


def mask_url(url: str) -> str:
    """Hide the stream key the way LiveKit's EgressInfo does (the key never leaves)."""
    return re.sub(r"/([^/]+)$", lambda m: "/{" + m.group(1)[:2] + "...}", url)


@dataclass
class Program:
    """One tick of the composed program."""

    rgb: npt.NDArray[np.uint8]
    audio: npt.NDArray[np.int16]


class Output(threading.Thread):
    """Encodes the program and muxes it to one file or URL."""

    def __init__(
        self,
        job: EgressJob,
        target: str,
        container_format: str | None,
        stream: egress_pb.StreamInfo | None,
        file: egress_pb.FileInfo | None,
    ) -> None:
        super().__init__(name=f"double-egress-{job.info.egress_id}", daemon=True)
        self.job = job
        self.target = target
        self.container_format = container_format
        self.stream_info = stream
        self.file_info = file
        self.queue: queue.Queue[Program | None] = queue.Queue(OUTPUT_QUEUE)
        self.error = ""
        self.finished = threading.Event()
        self.duration_s = 0.0

    def push(self, program: Program | None) -> None:
        """Hand over a tick (dropping the oldest when this output is slow)."""
        while True:
            try:
                self.queue.put_nowait(program)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()

    def run(self) -> None:
        try:
            self._encode()
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            logger.info("egress output %s failed: %s", mask_url(self.target), self.error)
        finally:
            self.finished.set()
            self.job.output_ended(self)

    def _encode(self) -> None:
        options = {"rw_timeout": "5000000"} if self.target.startswith("rtmp") else {}
        container = av.open(self.target, "w", format=self.container_format, options=options)
        try:
            video = container.add_stream("libx264", rate=FPS)
            video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            video.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(FPS * 2)}
            audio = container.add_stream("aac", rate=SAMPLE_RATE_HZ)
            audio.layout = "mono"
            fifo = av.AudioFifo()
            self.job.output_started(self)
            frames = 0
            samples = 0
            while True:
                program = self.queue.get()
                if program is None:
                    break
                frame = av.VideoFrame.from_ndarray(program.rgb, format="rgb24")
                frame.pts = frames
                frames += 1
                for packet in video.encode(frame):
                    container.mux(packet)
                chunk = av.AudioFrame.from_ndarray(
                    program.audio.reshape(1, -1), format="s16", layout="mono"
                )
                chunk.sample_rate = SAMPLE_RATE_HZ
                chunk.pts = samples
                samples += program.audio.size
                fifo.write(chunk)
                while (block := fifo.read(1024)) is not None:
                    for packet in audio.encode(block):
                        container.mux(packet)
                self.duration_s = frames / FPS
            for stream in (video, audio):
                for packet in stream.encode(None):
                    container.mux(packet)
        finally:
            container.close()


@dataclass
class EgressJob:
    """A running room composite egress."""

    manager: EgressManager
    info: egress_pb.EgressInfo
    room: Room
    layout: str
    outputs: list[Output] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_stream(self, url: str) -> None:
        stream = self.info.stream_results.add(
            id="SI_" + secrets.token_hex(4), url=mask_url(url), started_at=now_ns(),
            status=egress_pb.StreamInfo.Status.ACTIVE,
        )  # fmt: skip
        output = Output(self, url, "flv", stream, None)
        self.outputs.append(output)
        output.start()

    def add_file(self, path: Path) -> None:
        file = self.info.file_results.add(
            filename=str(path), started_at=now_ns(), location=str(path)
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        output = Output(self, str(path), "mp4" if path.suffix != ".ogg" else "ogg", None, file)
        self.outputs.append(output)
        output.start()

    def output_started(self, output: Output) -> None:
        self.manager.loop.call_soon_threadsafe(self.manager.activate, self)

    def output_ended(self, output: Output) -> None:
        self.manager.loop.call_soon_threadsafe(self.manager.output_ended, self, output)

    def remove_stream(self, url: str) -> bool:
        for output in self.outputs:
            if output.target == url and output.stream_info is not None:
                output.push(None)
                return True
        return False


class EgressManager:
    """Holds egress jobs and serves the Egress Twirp service."""

    def __init__(self, server: DoubleServer, output_dir: Path) -> None:
        self.server = server
        self.output_dir = output_dir
        self.jobs: dict[str, EgressJob] = {}
        self.loop = asyncio.get_event_loop()

    # --- Twirp -------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        from tests.livekit_double.server import TwirpFailure, twirp_error

        self.loop = asyncio.get_running_loop()
        method = request.match_info["method"]
        handlers: dict[str, tuple[Any, Any]] = {
            "StartRoomCompositeEgress": (egress_pb.RoomCompositeEgressRequest, self._start),
            "UpdateStream": (egress_pb.UpdateStreamRequest, self._update_stream),
            "StopEgress": (egress_pb.StopEgressRequest, self._stop),
            "ListEgress": (egress_pb.ListEgressRequest, self._list),
        }
        if method not in handlers:
            return twirp_error(404, "bad_route", f"no handler for {method}")
        request_class, handler = handlers[method]
        is_json = request.content_type == "application/json"
        body = await request.read()
        message = request_class()
        try:
            if is_json:
                json_format.Parse(body or b"{}", message, ignore_unknown_fields=True)
            else:
                message.ParseFromString(body)
            claims = bearer_claims(request, self.server.api_key, self.server.api_secret)
            require_grant(claims, "roomRecord")
            result = await handler(message)
        except AuthError as error:
            return twirp_error(error.status, error.code, error.message)
        except TwirpFailure as failure:
            return twirp_error(failure.status, failure.code, failure.message)
        except Exception:
            return twirp_error(400, "malformed", "the request body could not be decoded")
        if is_json:
            return web.Response(
                body=json_format.MessageToJson(result), content_type="application/json"
            )
        return web.Response(body=result.SerializeToString(), content_type="application/protobuf")

    async def _start(self, req: egress_pb.RoomCompositeEgressRequest) -> egress_pb.EgressInfo:
        from tests.livekit_double.server import TwirpFailure

        room = self.server.rooms.get(req.room_name)
        if room is None:
            raise TwirpFailure(404, "not_found", f"requested room does not exist: {req.room_name}")
        files = list(req.file_outputs) + ([req.file] if req.HasField("file") else [])
        urls = [u for s in req.stream_outputs for u in s.urls]
        if req.HasField("stream"):
            urls += list(req.stream.urls)
        if not files and not urls:
            raise TwirpFailure(400, "invalid_argument", "no outputs: give file or stream outputs")
        for url in urls:
            if not url.startswith(("rtmp://", "rtmps://")):
                raise TwirpFailure(
                    400, "invalid_argument", f"unsupported stream url scheme: {mask_url(url)}"
                )
        info = egress_pb.EgressInfo(
            egress_id="EG_" + secrets.token_hex(6),
            room_id=room.sid,
            room_name=room.name,
            status=egress_pb.EgressStatus.EGRESS_STARTING,
            started_at=now_ns(),
            updated_at=now_ns(),
            room_composite=req,
        )
        job = EgressJob(self, info, room, req.layout or "speaker")
        self.jobs[info.egress_id] = job
        for file in files:
            job.add_file(self._file_path(file, room.name))
        for url in urls:
            job.add_stream(url)
        job.task = asyncio.ensure_future(self._compose(job))
        room.active_recording = bool(files) or room.active_recording
        self.server.webhook("egress_started", room, egress_info=info)
        return info

    def _file_path(self, file: egress_pb.EncodedFileOutput, room_name: str) -> Path:
        name = file.filepath or "{room_name}-{time}.mp4"
        name = name.replace("{room_name}", room_name).replace(
            "{time}", time.strftime("%Y%m%d%H%M%S")
        )
        if not Path(name).suffix:
            name += ".ogg" if file.file_type == egress_pb.EncodedFileType.OGG else ".mp4"
        path = Path(name)
        return path if path.is_absolute() else self.output_dir / path

    async def _update_stream(self, req: egress_pb.UpdateStreamRequest) -> egress_pb.EgressInfo:
        from tests.livekit_double.server import TwirpFailure

        job = self._active(req.egress_id)
        for url in req.add_output_urls:
            if not url.startswith(("rtmp://", "rtmps://")):
                raise TwirpFailure(
                    400, "invalid_argument", f"unsupported stream url scheme: {mask_url(url)}"
                )
        for url in req.remove_output_urls:
            if not job.remove_stream(url):
                raise TwirpFailure(404, "not_found", f"stream url not found: {mask_url(url)}")
        for url in req.add_output_urls:
            job.add_stream(url)
        job.info.updated_at = now_ns()
        self.server.webhook("egress_updated", job.room, egress_info=job.info)
        return job.info

    async def _stop(self, req: egress_pb.StopEgressRequest) -> egress_pb.EgressInfo:
        job = self._active(req.egress_id)
        job.info.status = egress_pb.EgressStatus.EGRESS_ENDING
        job.info.updated_at = now_ns()
        for output in job.outputs:
            output.push(None)
        if job.task is not None:
            job.task.cancel()
        await asyncio.get_running_loop().run_in_executor(None, self._join, job)
        self._finish(job)
        return job.info

    @staticmethod
    def _join(job: EgressJob) -> None:
        for output in job.outputs:
            output.finished.wait(15)

    async def _list(self, req: egress_pb.ListEgressRequest) -> egress_pb.ListEgressResponse:
        items = [
            j.info for j in self.jobs.values()
            if (not req.room_name or j.info.room_name == req.room_name)
            and (not req.egress_id or j.info.egress_id == req.egress_id)
            and (not req.active or j.info.status in (egress_pb.EgressStatus.EGRESS_STARTING,
                                                       egress_pb.EgressStatus.EGRESS_ACTIVE))
        ]  # fmt: skip
        return egress_pb.ListEgressResponse(items=items)

    def _active(self, egress_id: str) -> EgressJob:
        from tests.livekit_double.server import TwirpFailure

        job = self.jobs.get(egress_id)
        if job is None:
            raise TwirpFailure(404, "not_found", f"egress {egress_id} not found")
        if job.info.status not in (egress_pb.EgressStatus.EGRESS_STARTING,
                                   egress_pb.EgressStatus.EGRESS_ACTIVE):  # fmt: skip
            raise TwirpFailure(412, "failed_precondition", f"egress {egress_id} is not active")
        return job

    # --- state -------------------------------------------------------------------------------

    def activate(self, job: EgressJob) -> None:
        if job.info.status == egress_pb.EgressStatus.EGRESS_STARTING:
            job.info.status = egress_pb.EgressStatus.EGRESS_ACTIVE
            job.info.updated_at = now_ns()
            self.server.webhook("egress_updated", job.room, egress_info=job.info)

    def output_ended(self, job: EgressJob, output: Output) -> None:
        ended = now_ns()
        if output.stream_info is not None:
            stream = output.stream_info
            stream.ended_at = ended
            stream.duration = ended - stream.started_at
            if output.error:
                stream.status = egress_pb.StreamInfo.Status.FAILED
                stream.error = output.error
            else:
                stream.status = egress_pb.StreamInfo.Status.FINISHED
        if output.file_info is not None:
            file = output.file_info
            file.ended_at = ended
            file.duration = int(output.duration_s * 1e9)
            path = Path(output.target)
            file.size = path.stat().st_size if path.exists() else 0
        job.info.updated_at = ended
        running = [o for o in job.outputs if not o.finished.is_set()]
        if job.info.status in (egress_pb.EgressStatus.EGRESS_STARTING,
                               egress_pb.EgressStatus.EGRESS_ACTIVE):  # fmt: skip
            if not running:
                # Every output ended on its own (all failed): the egress fails as LiveKit's does.
                job.info.error = output.error or "all outputs ended"
                self._finish(job)
            else:
                self.server.webhook("egress_updated", job.room, egress_info=job.info)

    def _finish(self, job: EgressJob) -> None:
        if job.info.status in (egress_pb.EgressStatus.EGRESS_COMPLETE,
                               egress_pb.EgressStatus.EGRESS_FAILED):  # fmt: skip
            return
        if job.task is not None:
            job.task.cancel()
        failed = all(o.error for o in job.outputs)
        job.info.status = (
            egress_pb.EgressStatus.EGRESS_FAILED
            if failed
            else egress_pb.EgressStatus.EGRESS_COMPLETE
        )
        if failed and not job.info.error:
            job.info.error = job.outputs[0].error if job.outputs else "no outputs"
        job.info.ended_at = now_ns()
        job.info.updated_at = job.info.ended_at
        job.room.active_recording = any(
            j.room is job.room and j is not job and j.info.file_results
            and j.info.status == egress_pb.EgressStatus.EGRESS_ACTIVE
            for j in self.jobs.values()
        )  # fmt: skip
        self.server.webhook("egress_ended", job.room, egress_info=job.info)

    async def stop_room(self, room: Room) -> None:
        """The room closed: end its egresses."""
        for job in list(self.jobs.values()):
            if job.room is room and job.info.status in ACTIVE_STATES:
                await self._stop(egress_pb.StopEgressRequest(egress_id=job.info.egress_id))

    # --- composition ---------------------------------------------------------------------------

    async def _compose(self, job: EgressJob) -> None:
        latest: dict[str, npt.NDArray[np.uint8]] = {}
        audio_buffer: list[npt.NDArray[np.int16]] = []
        readers: dict[str, asyncio.Task[None]] = {}

        async def read_video(published: PublishedTrack, size: tuple[int, int]) -> None:
            consumer = published.subscribe()
            try:
                while True:
                    frame = await consumer.recv()
                    latest[published.info.sid] = frame.to_ndarray(  # type: ignore[union-attr]
                        format="rgb24", width=size[0], height=size[1]
                    )
            except Exception:
                latest.pop(published.info.sid, None)

        async def read_audio(published: PublishedTrack) -> None:
            consumer = published.subscribe()
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE_HZ)
            try:
                while True:
                    frame = await consumer.recv()
                    for mono in resampler.resample(frame):  # type: ignore[arg-type]
                        audio_buffer.append(mono.to_ndarray().reshape(-1).astype(np.int16))
                        if len(audio_buffer) > 50:
                            del audio_buffer[0]
            except Exception:
                return

        interval_s = 1 / FPS
        next_s = time.monotonic()
        try:
            while True:
                tracks = self._room_tracks(job.room)
                videos = [t for t in tracks if t.info.type == models.TrackType.VIDEO][:4]
                if job.layout != "grid":
                    cameras = [t for t in videos if t.info.source == models.TrackSource.CAMERA]
                    videos = (cameras or videos)[:1]
                audios = [t for t in tracks if t.info.type == models.TrackType.AUDIO][:1]
                tile = (WIDTH, HEIGHT) if len(videos) <= 1 else (WIDTH // 2, HEIGHT // 2)
                for track in videos:
                    key = f"{track.info.sid}-{tile[0]}"
                    if key not in readers:
                        readers[key] = asyncio.ensure_future(read_video(track, tile))
                for track in audios:
                    if track.info.sid not in readers:
                        readers[track.info.sid] = asyncio.ensure_future(read_audio(track))
                canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
                for index, track in enumerate(videos):
                    picture = latest.get(track.info.sid)
                    if picture is None or picture.shape[1] != tile[0]:
                        continue
                    y, x = (index // 2) * tile[1], (index % 2) * tile[0]
                    canvas[y : y + tile[1], x : x + tile[0]] = picture
                samples = np.concatenate(audio_buffer) if audio_buffer else np.zeros(0, np.int16)
                audio_buffer.clear()
                if samples.size < SAMPLES_PER_TICK:
                    samples = np.concatenate(
                        (samples, np.zeros(SAMPLES_PER_TICK - samples.size, np.int16))
                    )
                else:
                    audio_buffer.append(samples[SAMPLES_PER_TICK:])
                    samples = samples[:SAMPLES_PER_TICK]
                program = Program(canvas, samples)
                for output in job.outputs:
                    if not output.finished.is_set():
                        output.push(program)
                next_s += interval_s
                await asyncio.sleep(max(0.0, next_s - time.monotonic()))
        finally:
            for task in readers.values():
                task.cancel()

    @staticmethod
    def _room_tracks(room: Room) -> list[PublishedTrack]:
        return [
            t
            for p in room.participants.values()
            for t in p.tracks.values()
            if t.source is not None and not t.info.muted
        ]
