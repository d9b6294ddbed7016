"""The stand-in's Twirp ``livekit.Egress`` service, its jobs, recorder and webhooks.

A job joins the real room through the ``livekit`` SDK as a hidden recorder participant (a token
with ``hidden`` and ``recorder``, subscribe only), keeps the newest frame of each subscribed
video track and the first microphone's audio, composes the program at a fixed small size and
rate (speaker: the first camera; grid: up to four tiles) and hands it to one encoder thread per
output. Requests are authenticated as LiveKit does (a JWT signed with the API secret carrying
``roomRecord``); webhooks are signed with the API key as LiveKit signs them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import numpy.typing as npt
from aiohttp import web
from google.protobuf import json_format
from google.protobuf.message import Message
from livekit import api, rtc
from livekit.protocol import egress as egress_pb
from livekit.protocol import webhook as webhook_pb

from tests.egress_standin.encoding import Profile, file_container, profile_of
from tests.egress_standin.hls import HlsOutput, hls_paths
from tests.egress_standin.outputs import (
    FPS,
    HEIGHT,
    SAMPLE_RATE_HZ,
    SAMPLES_PER_TICK,
    WIDTH,
    Output,
    Program,
    mask_url,
)

logger = logging.getLogger(__name__)

ACTIVE_STATES = (egress_pb.EgressStatus.EGRESS_STARTING, egress_pb.EgressStatus.EGRESS_ACTIVE)
ENDED_STATES = (
    egress_pb.EgressStatus.EGRESS_COMPLETE,
    egress_pb.EgressStatus.EGRESS_FAILED,
    egress_pb.EgressStatus.EGRESS_ABORTED,
)
JOIN_TIMEOUT_S = 10.0
ROOM_CHECK_TIMEOUT_S = 5.0
OUTPUT_JOIN_TIMEOUT_S = 15.0
MAX_AUDIO_BLOCKS = 50


class TwirpFailure(Exception):
    """A Twirp error answer: HTTP status, code and message (keys already masked)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def now_ns() -> int:
    """Wall clock in nanoseconds, as EgressInfo times are."""
    return time.time_ns()


def _check_url(url: str) -> None:
    if not url.startswith(("rtmp://", "rtmps://")):
        raise TwirpFailure(
            400, "invalid_argument", f"unsupported stream url scheme: {mask_url(url)}"
        )


@dataclass
class Track:
    """The newest picture or sound of one subscribed track."""

    source: rtc.TrackSource.ValueType
    kind: rtc.TrackKind.ValueType
    picture: npt.NDArray[np.uint8] | None = None
    audio: list[npt.NDArray[np.int16]] = field(default_factory=list)


@dataclass
class EgressJob:
    """A room composite egress: its info, its outputs and the recorder in the room."""

    info: egress_pb.EgressInfo
    layout: str
    outputs: list[Output] = field(default_factory=list)
    streams: dict[Output, egress_pb.StreamInfo] = field(default_factory=dict)
    files: dict[Output, egress_pb.FileInfo] = field(default_factory=dict)
    segments: dict[Output, egress_pb.SegmentsInfo] = field(default_factory=dict)
    tracks: dict[str, Track] = field(default_factory=dict)
    room: rtc.Room | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    stopping: bool = False
    frozen: bool = False
    """Test equipment: the writer is stuck (nothing more is written) while the egress still
    reports ACTIVE."""


class EgressService:
    """Serves ``/twirp/livekit.Egress/{method}`` and runs the jobs.

    Args:
        livekit_url: The real server's ``ws://`` URL (the recorder joins through it).
        api_key: The key requests and tokens are signed with.
        api_secret: Its secret.
        output_dir: Where relative file outputs land.
        webhook_url: Where egress webhooks go, if anywhere.
    """

    def __init__(
        self,
        livekit_url: str,
        api_key: str,
        api_secret: str,
        output_dir: Path,
        webhook_url: str | None = None,
    ) -> None:
        self.livekit_url = livekit_url
        self.api_key = api_key
        self.api_secret = api_secret
        self.output_dir = output_dir
        self.webhook_url = webhook_url
        self.jobs: dict[str, EgressJob] = {}
        self._http: aiohttp.ClientSession | None = None
        self._rooms_api: api.LiveKitAPI | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.app = web.Application(client_max_size=1024 * 1024)
        self.app.router.add_post("/twirp/livekit.Egress/{method}", self.handle)
        self.app.router.add_get("/", self.health)
        self.app.router.add_post("/test/fail-egress", self.fail_egress)
        self.app.router.add_post("/test/stall-next-start", self.stall_next_start)
        self.app.router.add_post("/test/freeze-egress", self.freeze_egress)
        self.stalled_starts = 0
        """How many of the next egresses hang in STARTING (test equipment)."""

    async def health(self, request: web.Request) -> web.Response:
        """Readiness probe."""
        return web.json_response({"jobs": len(self.jobs)})

    async def fail_egress(self, request: web.Request) -> web.Response:
        """Test equipment: make a running egress die as a crashed egress worker does.

        Body ``{"egressId": "EG_…", "error": "…"}`` (the same ``roomRecord`` token as the
        API). Every output stops where it is (files keep what was written), the recorder leaves
        the room, and the egress ends FAILED with the error, with its ``egress_ended`` webhook,
        as LiveKit reports an egress whose worker died.
        """
        try:
            job, body = await self._named_job(request)
        except TwirpFailure as failure:
            return _twirp_error(failure)
        job.info.error = str(body.get("error") or "egress worker crashed (test)")
        job.stopping = True
        for output in job.outputs:
            output.push(None)
        self._finish(job, failed=True)
        return web.json_response({"egressId": job.info.egress_id, "status": "failed"})

    async def _named_job(self, request: web.Request) -> tuple[EgressJob, dict[str, Any]]:
        """The active egress a test endpoint's body names (``egressId``), and the body.

        Raises:
            TwirpFailure: a bad token, a body that is not JSON, or no such active egress.
        """
        self._authenticate(request)
        try:
            body = await request.json()
        except ValueError:
            raise TwirpFailure(400, "malformed", "the body is not JSON") from None
        return self._active(str(body.get("egressId", ""))), body

    async def freeze_egress(self, request: web.Request) -> web.Response:
        """Test equipment: make a running egress stop writing while it still says it is fine.

        Body ``{"egressId": "EG_…"}`` (the same ``roomRecord`` token as the API). From now on
        no output gets another picture: the file stops growing, no new HLS segment is listed,
        no RTMP packet leaves. The status stays ``EGRESS_ACTIVE``, the recorder stays in the
        room and no webhook is sent, as with a real egress whose pipeline hangs. StopEgress
        still ends it (COMPLETE, with what was written before the freeze).
        """
        try:
            job, body = await self._named_job(request)
        except TwirpFailure as failure:
            return _twirp_error(failure)
        job.frozen = True
        return web.json_response({"egressId": job.info.egress_id, "status": "frozen"})

    async def stall_next_start(self, request: web.Request) -> web.Response:
        """Test equipment: the next ``count`` egresses hang in STARTING, as an egress does when
        no worker takes it; StopEgress still ends them. Body ``{"count": 1}``."""
        try:
            self._authenticate(request)
            body = await request.json()
        except TwirpFailure as failure:
            return _twirp_error(failure)
        except ValueError:
            return _twirp_error(TwirpFailure(400, "malformed", "the body is not JSON"))
        self.stalled_starts = max(0, int(body.get("count", 1)))
        return web.json_response({"stalledStarts": self.stalled_starts})

    # --- Twirp -------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """Decode, authenticate, run, encode (protobuf or JSON, as Twirp allows)."""
        handlers: dict[str, tuple[type[Message], Callable[[Any], Awaitable[Message]]]] = {
            "StartRoomCompositeEgress": (egress_pb.RoomCompositeEgressRequest, self._start),
            "UpdateStream": (egress_pb.UpdateStreamRequest, self._update_stream),
            "UpdateLayout": (egress_pb.UpdateLayoutRequest, self._update_layout),
            "StopEgress": (egress_pb.StopEgressRequest, self._stop),
            "ListEgress": (egress_pb.ListEgressRequest, self._list),
        }
        method = request.match_info["method"]
        if method not in handlers:
            return _twirp_error(TwirpFailure(404, "bad_route", f"no handler for {method}"))
        request_class, handler = handlers[method]
        try:
            self._authenticate(request)
            is_json = request.content_type == "application/json"
            body = await request.read()
            message = request_class()
            try:
                if is_json:
                    json_format.Parse(body or b"{}", message, ignore_unknown_fields=True)
                else:
                    message.ParseFromString(body)
            except Exception:
                raise TwirpFailure(400, "malformed", "the request could not be decoded") from None
            result = await handler(message)
        except TwirpFailure as failure:
            return _twirp_error(failure)
        if is_json:
            return web.Response(
                body=json_format.MessageToJson(result), content_type="application/json"
            )
        return web.Response(body=result.SerializeToString(), content_type="application/protobuf")

    def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            raise TwirpFailure(401, "unauthenticated", "no authorization token provided")
        try:
            claims = api.TokenVerifier(self.api_key, self.api_secret).verify(token)
        except Exception:
            raise TwirpFailure(401, "unauthenticated", "invalid token") from None
        if claims.video is None or not claims.video.room_record:
            raise TwirpFailure(403, "permission_denied", "permissions denied: roomRecord required")

    async def _room_exists(self, room_name: str) -> bool:
        if self._rooms_api is None:
            self._rooms_api = api.LiveKitAPI(
                "http" + self.livekit_url[2:], self.api_key, self.api_secret, failover=False
            )
        listed = await asyncio.wait_for(
            self._rooms_api.room.list_rooms(api.ListRoomsRequest(names=[room_name])),
            ROOM_CHECK_TIMEOUT_S,
        )
        return bool(listed.rooms)

    async def _start(self, req: egress_pb.RoomCompositeEgressRequest) -> egress_pb.EgressInfo:
        files = list(req.file_outputs) + ([req.file] if req.HasField("file") else [])
        urls = [u for s in req.stream_outputs for u in s.urls]
        if req.HasField("stream"):
            urls += list(req.stream.urls)
        segments = list(req.segment_outputs) + ([req.segments] if req.HasField("segments") else [])
        if not files and not urls and not segments:
            raise TwirpFailure(400, "invalid_argument", "no outputs: give file or stream outputs")
        for url in urls:
            _check_url(url)
        if not req.room_name:
            raise TwirpFailure(400, "invalid_argument", "room_name is required")
        if not await self._room_exists(req.room_name):
            raise TwirpFailure(404, "not_found", f"requested room does not exist: {req.room_name}")
        info = egress_pb.EgressInfo(
            egress_id="EG_" + secrets.token_hex(6),
            room_name=req.room_name,
            status=egress_pb.EgressStatus.EGRESS_STARTING,
            started_at=now_ns(),
            updated_at=now_ns(),
            room_composite=req,
        )
        job = EgressJob(info, req.layout or "speaker")
        self.jobs[info.egress_id] = job
        if self.stalled_starts > 0:
            # Accepted, then nothing: no recorder joins, no output opens.
            self.stalled_starts -= 1
            self._webhook("egress_started", info)
            return info
        # Outputs exist from the start (an UpdateStream may come at once); they get frames
        # once the recorder is in the room.
        for file in files:
            path = self._file_path(file, req.room_name)
            path.parent.mkdir(parents=True, exist_ok=True)
            container = file_container(file, path.suffix)
            output = self._output(job, str(path), container, profile_of(req, container))
            job.files[output] = job.info.file_results.add(
                filename=path.name, location=str(path), started_at=now_ns()
            )
            output.start()
        for url in urls:
            self._add_stream(job, url)
        for segment in segments:
            self._add_segments(job, segment, profile_of(req, "hls"))
        self._webhook("egress_started", info)
        self._spawn(self._run(job))
        return info

    def _file_path(self, file: egress_pb.EncodedFileOutput, room_name: str) -> Path:
        name = file.filepath or "{room_name}-{time}.mp4"
        name = name.replace("{room_name}", room_name).replace(
            "{time}", time.strftime("%Y%m%d%H%M%S")
        )
        if not Path(name).suffix:
            name += ".mp4"
        path = Path(name)
        return path if path.is_absolute() else self.output_dir / path

    async def _update_stream(self, req: egress_pb.UpdateStreamRequest) -> egress_pb.EgressInfo:
        job = self._active(req.egress_id)
        for url in req.add_output_urls:
            _check_url(url)
        targets = {o.target: o for o in job.streams if not o.finished.is_set()}
        for url in req.remove_output_urls:
            if url not in targets:
                raise TwirpFailure(404, "not_found", f"stream url not found: {mask_url(url)}")
        for url in req.remove_output_urls:
            targets[url].push(None)
        for url in req.add_output_urls:
            self._add_stream(job, url)
        job.info.updated_at = now_ns()
        self._webhook("egress_updated", job.info)
        return job.info

    async def _update_layout(self, req: egress_pb.UpdateLayoutRequest) -> egress_pb.EgressInfo:
        """The running composite takes the new layout on its next picture (outputs go on)."""
        job = self._active(req.egress_id)
        if not job.info.HasField("room_composite"):
            raise TwirpFailure(400, "invalid_argument", "only a room composite has a layout")
        job.layout = req.layout or "speaker"
        job.info.room_composite.layout = job.layout
        job.info.updated_at = now_ns()
        self._webhook("egress_updated", job.info)
        return job.info

    async def _stop(self, req: egress_pb.StopEgressRequest) -> egress_pb.EgressInfo:
        job = self._active(req.egress_id)
        await self._end(job)
        return job.info

    async def _list(self, req: egress_pb.ListEgressRequest) -> egress_pb.ListEgressResponse:
        items = [
            j.info
            for j in self.jobs.values()
            if (not req.room_name or j.info.room_name == req.room_name)
            and (not req.egress_id or j.info.egress_id == req.egress_id)
            and (not req.active or j.info.status in ACTIVE_STATES)
        ]
        return egress_pb.ListEgressResponse(items=items)

    def _active(self, egress_id: str) -> EgressJob:
        job = self.jobs.get(egress_id)
        if job is None:
            raise TwirpFailure(404, "not_found", f"egress {egress_id} not found")
        if job.info.status not in ACTIVE_STATES or job.stopping:
            raise TwirpFailure(412, "failed_precondition", f"egress {egress_id} is not active")
        return job

    # --- jobs --------------------------------------------------------------------------------

    async def _run(self, job: EgressJob) -> None:
        """Join the room as a hidden recorder, then compose until stopped."""
        try:
            await self._join(job)
        except Exception as exc:
            job.info.error = f"could not join the room: {type(exc).__name__}"
            for output in job.outputs:
                output.push(None)
            self._finish(job, failed=True)
            return
        await self._compose(job)

    async def _join(self, job: EgressJob) -> None:
        room = rtc.Room()
        job.room = room
        token = (
            api.AccessToken(self.api_key, self.api_secret)
            .with_identity(job.info.egress_id)
            .with_name("Recorder")
            .with_kind("egress")
            .with_ttl(datetime.timedelta(hours=6))
            .with_grants(
                api.VideoGrants(
                    room_join=True,
                    room=job.info.room_name,
                    can_subscribe=True,
                    can_publish=False,
                    can_publish_data=False,
                    hidden=True,
                    recorder=True,
                )
            )
            .to_jwt()
        )

        def subscribed(
            track: rtc.Track, publication: rtc.RemoteTrackPublication, _: rtc.RemoteParticipant
        ) -> None:
            entry = Track(publication.source, track.kind)
            job.tracks[track.sid] = entry
            video = track.kind == rtc.TrackKind.KIND_VIDEO
            reader = self._read_video(track, entry) if video else self._read_audio(track, entry)
            task = asyncio.ensure_future(reader)
            job.tasks.add(task)
            task.add_done_callback(job.tasks.discard)

        def unsubscribed(track: rtc.Track, *_: Any) -> None:
            job.tracks.pop(track.sid, None)

        def disconnected(reason: Any) -> None:
            # The room was deleted or the recorder removed: the egress ends as LiveKit's does.
            if not job.stopping:
                self._spawn(self._end(job))

        room.on("track_subscribed", subscribed)
        room.on("track_unsubscribed", unsubscribed)
        room.on("disconnected", disconnected)
        await room.connect(
            self.livekit_url,
            token,
            rtc.RoomOptions(auto_subscribe=True, connect_timeout=JOIN_TIMEOUT_S),
        )

    @staticmethod
    async def _read_video(track: rtc.Track, entry: Track) -> None:
        stream = rtc.VideoStream(track, capacity=1, format=rtc.VideoBufferType.RGB24)
        try:
            async for event in stream:
                frame = event.frame
                entry.picture = np.frombuffer(frame.data, np.uint8).reshape(
                    frame.height, frame.width, 3
                )
        finally:
            await stream.aclose()

    @staticmethod
    async def _read_audio(track: rtc.Track, entry: Track) -> None:
        stream = rtc.AudioStream(track, sample_rate=SAMPLE_RATE_HZ, num_channels=1)
        try:
            async for event in stream:
                entry.audio.append(np.frombuffer(event.frame.data, np.int16).copy())
                if len(entry.audio) > MAX_AUDIO_BLOCKS:
                    del entry.audio[0]
        finally:
            await stream.aclose()

    def _output(
        self, job: EgressJob, target: str, container_format: str, profile: Profile | None = None
    ) -> Output:
        loop = asyncio.get_running_loop()
        output = Output(
            target,
            container_format,
            lambda o: loop.call_soon_threadsafe(self._output_started, job, o),
            lambda o: loop.call_soon_threadsafe(self._output_ended, job, o),
            profile,
        )
        job.outputs.append(output)
        return output

    def _add_stream(self, job: EgressJob, url: str) -> None:
        output = self._output(job, url, "flv")
        job.streams[output] = job.info.stream_results.add(
            id="SI_" + secrets.token_hex(4),
            url=mask_url(url),
            started_at=now_ns(),
            status=egress_pb.StreamInfo.Status.ACTIVE,
        )
        output.start()

    def _add_segments(
        self, job: EgressJob, request: egress_pb.SegmentedFileOutput, profile: Profile
    ) -> None:
        """An HLS output; its SegmentsInfo follows every new segment while live."""
        loop = asyncio.get_running_loop()
        paths = hls_paths(request, job.info.room_name, self.output_dir)
        output = HlsOutput(
            paths,
            profile,
            lambda o: loop.call_soon_threadsafe(self._output_started, job, o),
            lambda o: loop.call_soon_threadsafe(self._output_ended, job, o),
            # Real egress rewrites the live playlist after each segment but reports
            # segment_results only when it ends (_output_ended); so does the stand-in.
            lambda o: None,
        )
        job.outputs.append(output)
        job.segments[output] = job.info.segment_results.add(
            playlist_name=request.playlist_name or paths.playlist.name,
            live_playlist_name=request.live_playlist_name,
            playlist_location=str(paths.playlist),
            live_playlist_location=str(paths.live_playlist or ""),
            started_at=now_ns(),
        )
        output.start()

    def _segments_changed(self, job: EgressJob, output: Output) -> None:
        """Fill the egress's segment results from an output that ended."""
        segments = job.segments.get(output)
        if segments is None or not isinstance(output, HlsOutput):
            return
        segments.segment_count = output.segment_count
        segments.duration = int(output.segments_duration_s * 1e9)
        segments.size = output.size_bytes
        job.info.updated_at = now_ns()

    def _final_sizes(self, job: EgressJob) -> None:
        """Sizes of ended outputs now, before the egress reports its end (the outputs' own
        end callbacks may run after it)."""
        for output in job.segments:
            if output.finished.is_set():
                self._segments_changed(job, output)
        for output, file in job.files.items():
            path = Path(output.target)
            if output.finished.is_set() and path.exists():
                file.size = path.stat().st_size
                file.duration = int(output.duration_s * 1e9)

    def _output_started(self, job: EgressJob, output: Output) -> None:
        if job.info.status == egress_pb.EgressStatus.EGRESS_STARTING:
            job.info.status = egress_pb.EgressStatus.EGRESS_ACTIVE
            job.info.updated_at = now_ns()
            self._webhook("egress_updated", job.info)

    def _output_ended(self, job: EgressJob, output: Output) -> None:
        ended = now_ns()
        stream = job.streams.get(output)
        if stream is not None:
            stream.ended_at = ended
            stream.duration = ended - stream.started_at
            if output.error:
                stream.status = egress_pb.StreamInfo.Status.FAILED
                stream.error = output.error
            else:
                stream.status = egress_pb.StreamInfo.Status.FINISHED
        segments = job.segments.get(output)
        if segments is not None:
            self._segments_changed(job, output)
            segments.ended_at = ended
        file = job.files.get(output)
        if file is not None:
            file.ended_at = ended
            file.duration = int(output.duration_s * 1e9)
            path = Path(output.target)
            file.size = path.stat().st_size if path.exists() else 0
        job.info.updated_at = ended
        if job.info.status in ACTIVE_STATES and not job.stopping:
            if all(o.finished.is_set() for o in job.outputs):
                # Every output ended on its own (all failed): the egress fails, as LiveKit's.
                job.info.error = output.error or "all outputs ended"
                self._finish(job, failed=True)
            else:
                self._webhook("egress_updated", job.info)

    async def _end(self, job: EgressJob) -> None:
        """Stop: flush every output, leave the room, report COMPLETE (or FAILED)."""
        if job.stopping or job.info.status in ENDED_STATES:
            return
        job.stopping = True
        job.info.status = egress_pb.EgressStatus.EGRESS_ENDING
        job.info.updated_at = now_ns()
        for output in job.outputs:
            output.push(None)
        await asyncio.get_running_loop().run_in_executor(None, _join_outputs, job.outputs)
        self._final_sizes(job)
        failed = bool(job.outputs) and all(o.error for o in job.outputs)
        if failed and not job.info.error:
            job.info.error = job.outputs[0].error
        self._finish(job, failed=failed)

    def _finish(self, job: EgressJob, failed: bool) -> None:
        if job.info.status in ENDED_STATES:
            return
        job.stopping = True
        statuses = egress_pb.EgressStatus
        job.info.status = statuses.EGRESS_FAILED if failed else statuses.EGRESS_COMPLETE
        job.info.ended_at = now_ns()
        job.info.updated_at = job.info.ended_at
        for task in job.tasks:
            task.cancel()
        if job.room is not None:
            self._spawn(job.room.disconnect())
        self._webhook("egress_ended", job.info)

    async def _compose(self, job: EgressJob) -> None:
        next_s = time.monotonic()
        while job.info.status in ACTIVE_STATES and not job.stopping:
            program = _program(job)
            for output in job.outputs:
                if not output.finished.is_set() and not job.frozen:
                    output.push(program)
            next_s += 1 / FPS
            await asyncio.sleep(max(0.0, next_s - time.monotonic()))

    # --- webhooks and teardown ---------------------------------------------------------------

    def _webhook(self, event: str, info: egress_pb.EgressInfo) -> None:
        if not self.webhook_url:
            return
        message = webhook_pb.WebhookEvent(
            event=event,
            id="EV_" + secrets.token_hex(6),
            created_at=int(time.time()),
        )
        message.egress_info.CopyFrom(info)
        self._spawn(self._post_webhook(message))

    async def _post_webhook(self, message: webhook_pb.WebhookEvent) -> None:
        assert self.webhook_url
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        body = json_format.MessageToJson(message)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        token = (
            api.AccessToken(self.api_key, self.api_secret)
            .with_sha256(digest)
            .with_ttl(datetime.timedelta(minutes=5))
            .to_jwt()
        )
        try:
            async with self._http.post(
                self.webhook_url,
                data=body,
                headers={"Authorization": token, "Content-Type": "application/webhook+json"},
            ):
                pass
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.info("webhook %s not delivered: %s", message.event, type(exc).__name__)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def aclose(self) -> None:
        """End every job, then close clients."""
        for job in list(self.jobs.values()):
            await self._end(job)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.gather(*self._background, return_exceptions=True), 10)
        if self._http is not None:
            await self._http.close()
        if self._rooms_api is not None:
            await self._rooms_api.aclose()


def _join_outputs(outputs: list[Output]) -> None:
    for output in outputs:
        output.finished.wait(OUTPUT_JOIN_TIMEOUT_S)


def _program(job: EgressJob) -> Program:
    videos = [t for t in job.tracks.values() if t.kind == rtc.TrackKind.KIND_VIDEO][:4]
    if job.layout != "grid":
        cameras = [t for t in videos if t.source == rtc.TrackSource.SOURCE_CAMERA]
        videos = (cameras or videos)[:1]
    tile = (WIDTH, HEIGHT) if len(videos) <= 1 else (WIDTH // 2, HEIGHT // 2)
    canvas = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for index, track in enumerate(videos):
        if track.picture is None:
            continue
        y, x = (index // 2) * tile[1], (index % 2) * tile[0]
        canvas[y : y + tile[1], x : x + tile[0]] = cv2.resize(track.picture, tile)
    audios = [t for t in job.tracks.values() if t.kind == rtc.TrackKind.KIND_AUDIO][:1]
    samples = np.zeros(0, np.int16)
    if audios and audios[0].audio:
        samples = np.concatenate(audios[0].audio)
        audios[0].audio.clear()
        if samples.size > SAMPLES_PER_TICK:
            audios[0].audio.append(samples[SAMPLES_PER_TICK:])
            samples = samples[:SAMPLES_PER_TICK]
    if samples.size < SAMPLES_PER_TICK:
        samples = np.concatenate((samples, np.zeros(SAMPLES_PER_TICK - samples.size, np.int16)))
    return Program(canvas, samples)


def _twirp_error(failure: TwirpFailure) -> web.Response:
    return web.json_response({"code": failure.code, "msg": failure.message}, status=failure.status)
