"""The show benchmark: is the real studio responsive while it is live?

The studio (its own entry point, in a real X window on Xvfb) goes live with four guests on
stage — each a separate SDK participant sending a 1280x720 simulcast camera and a tone, as a
laptop does — the screen shared, the program in the Speaker layout at 1280x720 30 fps going to
RTMP (nginx-rtmp) and to a local recording, and the host chatting every few seconds. The guests,
``livekit-server``, nginx, Xvfb and this harness are pinned to one core (``taskset``) and the
studio to the other, so the figures are the studio's own.

Measured, each over the same window after a warm-up:

- **UI-thread lateness**: a 50 ms precise single-shot Qt timer on the studio's UI thread, re-armed
  as it fires; how late each one fired (p50, p99), and of the worst ticks how much was the UI
  thread's own work and how much it was blocked (``LoopLateness``).
- **Click to screen**: a real click (XTest, through the X server) on a side-panel tab, timed
  to the first screen grab (XGetImage, from outside the studio) in which the tab bar changed.
- **CPU** of the whole studio process and per thread group (from ``/proc/<pid>/task/*/stat``
  and the thread names): UI, the pictures' worker threads, compositor, encoder (libx264's own
  threads, reported apart, and the encode call on the program thread), outputs, receive,
  capture, the SDK's native threads, other.
- **Program frames skipped** (the program thread fell behind its 30 fps clock) and **RSS**.

The baseline runs in the same benchmark, in turns with ours: the same studio with the Program
monitor and the stage's tiles hidden, the floor of everything but painting them.

``python -m benchmarks.show guests URL COUNT`` (tokens on stdin) runs the guests;
``python -m benchmarks.show studio ...`` runs the studio with its scripted host.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import Row, load_note, median_spread, percentile, turns

ROOT = Path(__file__).resolve().parents[1]
GUESTS = 4
PROBE_INTERVAL_S = 0.05
"""The UI-thread probe's timer (the same 50 ms sleep the issue sampled)."""
CHAT_EVERY_S = 4.0
CLICK_EVERY_S = 1.0
EQUIPMENT_CORE = 0
"""Guests, livekit-server, nginx, Xvfb and this harness."""
STUDIO_CORE = 1
STUDIO_MEMORY_BYTES = 6 * 2**30
"""Address-space ceiling of the studio (Qt, PyAV, the SDK's runtime reserve a lot of it)."""
GUESTS_MEMORY_BYTES = 6 * 2**30
PR_SET_PDEATHSIG = 1
THREAD_GROUPS = ("ui", "pictures", "compositor", "encoder", "outputs", "receive", "capture",
                 "sdk", "other")  # fmt: skip
"""ui: the main thread; pictures: the tiles' and the monitor's worker threads; compositor: the
program thread composing; encoder: H.264 (libx264) — its encode calls on the program thread and
any threads of its own; outputs: muxing and sending, the program's audio mix; receive: the
session's receive loops; capture: camera, microphone and screen threads; sdk: the LiveKit SDK's
native threads (WebRTC encoders of the host's own tracks, decoders, network) and its FFI
callback thread."""


# -- processes ---------------------------------------------------------------------------------


def bounded(memory_bytes: int, core: int | None) -> Callable[[], None]:
    """A ``preexec_fn``: the child dies with this process, its address space is capped, and it
    runs on ``core`` (None: anywhere)."""

    def apply() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if core is not None:
            os.sched_setaffinity(0, {core})

    return apply


def pin(pid: int, cores: int | str) -> None:
    """Pin every thread of a running process to ``cores`` (a core, or a list such as "0-1";
    ``taskset -a``)."""
    subprocess.run(["taskset", "-a", "-p", "-c", str(cores), str(pid)], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def end_group(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """Wait for a process started in its own session, then kill what is left of its group."""
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


# -- clicks and the screen, from outside the studio ----------------------------------------------


class XClicker:
    """Clicks through the X server (XTest) and watches a screen region change (XGetImage)."""

    def __init__(self, display: str) -> None:
        import mss

        self._x11 = ctypes.CDLL("libX11.so.6")
        self._xtst = ctypes.CDLL("libXtst.so.6")
        self._x11.XOpenDisplay.restype = ctypes.c_void_p
        self._x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self._x11.XFlush.argtypes = [ctypes.c_void_p]
        self._x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
        self._xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                                    ctypes.c_int, ctypes.c_ulong]  # fmt: skip
        self._xtst.XTestFakeButtonEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                                                    ctypes.c_ulong]  # fmt: skip
        self._display = self._x11.XOpenDisplay(display.encode())
        if not self._display:
            raise RuntimeError(f"cannot open X display {display}")
        self._grabber = mss.mss(display=display)

    def grab(self, region: dict[str, int]) -> bytes:
        """The region's pixels now."""
        return bytes(self._grabber.grab(region).raw)

    def click_and_time(self, x: int, y: int, region: dict[str, int], timeout_s: float) -> float:
        """Click at (x, y); ms until ``region`` first looks different (NaN: it never did)."""
        before = self.grab(region)
        self._xtst.XTestFakeMotionEvent(self._display, -1, x, y, 0)
        self._x11.XFlush(self._display)
        time.sleep(0.05)  # a pointer that arrived, then a press: as a hand does it
        before = self.grab(region)
        started = time.monotonic()
        self._xtst.XTestFakeButtonEvent(self._display, 1, 1, 0)
        self._xtst.XTestFakeButtonEvent(self._display, 1, 0, 0)
        self._x11.XFlush(self._display)
        while time.monotonic() - started < timeout_s:
            if self.grab(region) != before:
                return (time.monotonic() - started) * 1000
        return float("nan")

    def close(self) -> None:
        """Let the display go."""
        self._grabber.close()
        self._x11.XCloseDisplay(self._display)


# -- one run ---------------------------------------------------------------------------------------


async def _one(
    server: Any, display: str, rtmp_url: str, work: Path, duration_s: float, hidden: bool,
    guest_tokens: list[str],
) -> dict[str, Any]:  # fmt: skip
    """The studio live for ``duration_s`` (after a warm-up); its report plus the clicks."""
    room = f"show-{time.monotonic_ns()}"
    tag = "baseline" if hidden else "ours"
    run_dir = work / f"{tag}-{time.monotonic_ns()}"
    (run_dir / "recordings").mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
           "BROADCASTER_CONFIG_DIR": str(run_dir / "cfg"), "BROADCASTER_LOG": "WARNING",
           "DISPLAY": display, "QT_QPA_PLATFORM": "xcb"}  # fmt: skip
    guests = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.show", "guests", server.ws_url, str(len(guest_tokens))],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=bounded(GUESTS_MEMORY_BYTES, EQUIPMENT_CORE),
    )  # fmt: skip
    studio: subprocess.Popen[bytes] | None = None
    clicks_ms: list[float] = []
    try:
        assert guests.stdin is not None and guests.stdout is not None
        tokens = [server.token(f"guest-{i}", room) for i in range(len(guest_tokens))]
        guests.stdin.write(("\n".join(tokens) + "\n").encode())
        guests.stdin.flush()
        line = await asyncio.to_thread(guests.stdout.readline)
        if b"publishing" not in line:
            raise RuntimeError(f"the guests did not start: {line!r}")
        report_path = run_dir / "report.json"
        targets_path = run_dir / "targets.json"
        studio = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "benchmarks.show", "studio",
             "--url", server.ws_url, "--token", server.token("host", room),
             "--rtmp", rtmp_url, "--record-dir", str(run_dir / "recordings"),
             "--report", str(report_path), "--targets", str(targets_path),
             "--duration-s", str(duration_s), "--guests", str(len(guest_tokens)),
             *(["--hide-video"] if hidden else [])],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(run_dir / "stderr", "wb"),
            start_new_session=True, preexec_fn=bounded(STUDIO_MEMORY_BYTES, STUDIO_CORE),
        )  # fmt: skip
        clicks_ms = await asyncio.to_thread(_click_while_measuring, display, targets_path,
                                            report_path, studio, duration_s)  # fmt: skip
        await asyncio.to_thread(end_group, studio, 120.0)
        if not report_path.exists():
            err = (run_dir / "stderr").read_text(errors="replace")[-600:]
            raise RuntimeError(f"the studio wrote no report (exit {studio.returncode}): {err}")
        report: dict[str, Any] = json.loads(report_path.read_text())
    finally:
        if studio is not None and studio.poll() is None:
            end_group(studio, 0.1)
        if guests.stdin is not None:
            with contextlib.suppress(OSError):
                guests.stdin.close()
        await asyncio.to_thread(end_group, guests, 30.0)
    report["clicks_ms"] = clicks_ms
    return report


def _click_while_measuring(
    display: str, targets_path: Path, report_path: Path, studio: subprocess.Popen[bytes],
    duration_s: float,
) -> list[float]:  # fmt: skip
    """Wait for the studio to say where its tabs are, then click them in turns until the
    measuring window ends; the times from each click to the change on screen."""
    deadline = time.monotonic() + 180
    while not targets_path.exists():
        if studio.poll() is not None or time.monotonic() > deadline or report_path.exists():
            return []
        time.sleep(0.1)
    time.sleep(0.2)
    targets = json.loads(targets_path.read_text())
    profiler = _profile(studio.pid, targets_path.parent / "py-spy.txt", duration_s - 1.0)
    clicker = XClicker(display)
    clicks: list[float] = []
    try:
        end = time.monotonic() + duration_s - 1.0
        turn = 0
        while time.monotonic() < end and studio.poll() is None:
            x, y = targets["tabs"][turn % len(targets["tabs"])]
            clicks.append(clicker.click_and_time(x, y, targets["region"], 2.0))
            turn += 1
            time.sleep(CLICK_EVERY_S)
    finally:
        clicker.close()
        if profiler is not None:
            end_group(profiler, 30.0)
    return clicks


def _profile(pid: int, out: Path, duration_s: float) -> subprocess.Popen[bytes] | None:
    """With ``BENCH_SHOW_PY_SPY`` naming a py-spy binary: sample the studio's threads (raw
    collapsed stacks into ``out``) over the measuring window, from the equipment core."""
    py_spy = os.environ.get("BENCH_SHOW_PY_SPY")
    if not py_spy:
        return None
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--duration", str(int(duration_s)), "--rate", "100",
         "--format", "raw", "--threads", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=bounded(2 * 2**30, EQUIPMENT_CORE),
    )  # fmt: skip


async def measure(quick: bool) -> list[Row]:
    """Ours and the baseline in turns; the show rows."""
    from benchmarks import room
    from benchmarks.soak import _start_xvfb
    from tests.fixtures.rtmp import start_rtmp_server, stop_rtmp_server

    duration_s = 15.0 if quick else 60.0
    repeats = 1 if quick else 2
    work = Path(tempfile.mkdtemp(prefix="bench-show-"))
    affinity = os.sched_getaffinity(0)
    if len(affinity) < 2 or STUDIO_CORE not in affinity:
        return [Row("show", "needs two cores", float("nan"), notes="fewer than 2 cores here")]
    os.sched_setaffinity(0, {EQUIPMENT_CORE})
    server = room.start_livekit()
    rtmp, nginx = start_rtmp_server(work / "rtmp")
    display, xvfb = _start_xvfb()
    samples: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    try:
        for proc in (server.process, nginx, xvfb):
            if proc is not None:
                pin(proc.pid, EQUIPMENT_CORE)
        if not display:
            return [Row("show", "needs Xvfb", float("nan"), notes="Xvfb is not installed")]
        tokens = [f"guest-{i}" for i in range(GUESTS)]
        for ours in turns(repeats):
            report = await _one(server, display, rtmp.url(key=f"show{len(samples[ours])}"),
                                work, duration_s, not ours, tokens)  # fmt: skip
            samples[ours].append(report)
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(timeout=10)
        stop_rtmp_server(nginx)
        room.stop_livekit(server)
        os.sched_setaffinity(0, affinity)
    return _rows(samples[True], samples[False], duration_s)


def _figures(report: dict[str, Any]) -> dict[str, float]:
    cpu = report["cpu_percent"]
    groups: dict[str, float] = report["groups_percent"]
    encoder = groups.get("encoder", 0.0)
    clicks = [c for c in report.get("clicks_ms", []) if c == c]
    return {
        "late_p50": percentile(report["late_ms"], 50),
        "late_p99": percentile(report["late_ms"], 99),
        "own_p99": report["lateness"]["own_delay_p99"],
        "run_queue": report["lateness"]["run_queue"],
        "tail_cpu": report["lateness"]["tail_cpu_ms"],
        "tail_blocked": report["lateness"]["tail_blocked_ms"],
        "click_p50": percentile(clicks, 50) if clicks else float("nan"),
        "click_max": max(clicks) if clicks else float("nan"),
        "clicks_missed": float(len(report.get("clicks_ms", [])) - len(clicks)),
        "cpu": cpu,
        "cpu_less_encoder": cpu - encoder,
        "skipped": float(report["frames_skipped"]),
        "encoded": float(report["frames_encoded"]),
        "rss": report["rss_mib"],
        "encoder_threads": float(report.get("encoder_threads", 0)),
        **{f"group:{name}": groups.get(name, 0.0) for name in THREAD_GROUPS},
    }


def _rows(ours: list[dict[str, Any]], base: list[dict[str, Any]], duration_s: float) -> list[Row]:
    o = [_figures(r) for r in ours]
    b = [_figures(r) for r in base]

    def row(metric: str, key: str, target: str = "", met: Callable[[float], bool] | None = None,
            notes: str = "") -> Row:  # fmt: skip
        mine, spread = median_spread([f[key] for f in o])
        theirs, their_spread = median_spread([f[key] for f in b])
        verdict = None if met is None else bool(met(mine))
        return Row("show", metric, mine, theirs, spread, target, verdict, notes, their_spread)

    def med(key: str, side: list[dict[str, float]] = o) -> float:
        return statistics.median(f[key] for f in side)

    top_groups = sorted(((med(f"group:{g}"), g) for g in THREAD_GROUPS), reverse=True)[:4]
    groups_note = ", ".join(f"{g} {v:.0f} %" for v, g in top_groups)
    late_note = (
        f"UI-thread timer lateness over {duration_s:.0f} s; the UI thread waited for a free core "
        f"{med('run_queue'):.0f} % of the time; less that wait p99 {med('own_p99'):.1f} ms; in "
        f"its worst 1 % of ticks the UI thread worked {med('tail_cpu'):.1f} ms and was blocked "
        f"{med('tail_blocked'):.1f} ms (the GIL or a lock); the studio's largest thread groups: "
        f"{groups_note}; {load_note()}"
    )
    clicks = [c for r in ours for c in r.get("clicks_ms", [])]
    click_note = (
        f"{len(clicks)} clicks on the side panel's tabs (XTest), to the first screen grab "
        f"showing the change; slowest {med('click_max'):.0f} ms; {med('clicks_missed'):.0f} "
        f"never seen within 2 s; {late_note}"
    )
    skipped_note = (
        f"{med('skipped'):.0f} of {med('encoded') + med('skipped'):.0f} program pictures; the "
        f"program thread shares the studio's core with everything else in this table; the whole "
        f"studio got {med('cpu'):.0f} % of a core; {load_note()}"
    )
    cpu_note = (
        f"whole studio {med('cpu'):.0f} % less the H.264 encoder {med('group:encoder'):.0f} % "
        f"(libx264: its encode calls on the program thread; it started no threads of its own "
        f"here: {med('encoder_threads'):.0f}); the largest groups: {groups_note}; the baseline "
        f"(monitor and tiles hidden) {med('cpu_less_encoder', b):.0f} %; {load_note()}"
    )
    rows = [
        row("UI-thread lateness p50, ms", "late_p50", "< 2 ms", lambda v: v < 2, late_note),
        row("UI-thread lateness p99, ms", "late_p99", "< 16 ms", lambda v: v < 16, late_note),
        row("  p99 less the wait for a free core, ms", "own_p99"),
        row("  UI thread waiting for a free core, % of time", "run_queue",
            notes="ready to run, no core free (/proc/thread-self/schedstat)"),
        row("click → change on screen p50, ms", "click_p50", "< 50 ms", lambda v: v < 50,
            click_note),
        row("  slowest click, ms", "click_max"),
        row("program frames skipped", "skipped", "0", lambda v: v == 0, skipped_note),
        row("studio CPU less the H.264 encoder, % core", "cpu_less_encoder", "< 80 %",
            lambda v: v < 80, cpu_note),
        row("  whole studio process, % core", "cpu"),
    ]  # fmt: skip
    for group in THREAD_GROUPS:
        rows.append(row(f"  {group}, % core", f"group:{group}"))
    rows.append(row("resident memory, MiB", "rss"))
    return rows


# -- the guests (a process of their own, on the equipment core) ------------------------------------


async def _guest(url: str, token: str, index: int, stop: asyncio.Event) -> None:
    from livekit import rtc
    from livekit.rtc._proto.room_pb2 import DegradationPreference

    from benchmarks.guests import FPS, HEIGHT, TOP_BITRATE_BPS, WIDTH
    from desktop.media.synthetic import SyntheticCamera, SyntheticMicrophone

    room = rtc.Room()
    await room.connect(url, token)
    video = rtc.VideoSource(WIDTH, HEIGHT)
    audio = rtc.AudioSource(48_000, 1, queue_size_ms=100)
    await room.local_participant.publish_track(
        rtc.LocalVideoTrack.create_video_track("camera", video),
        rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA, simulcast=True,
            video_encoding=rtc.VideoEncoding(max_bitrate=TOP_BITRATE_BPS, max_framerate=FPS),
            degradation_preference=(
                DegradationPreference.DEGRADATION_PREFERENCE_MAINTAIN_RESOLUTION),
        ),
    )  # fmt: skip
    await room.local_participant.publish_track(
        rtc.LocalAudioTrack.create_audio_track("mic", audio),
        rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE),
    )
    camera = SyntheticCamera(WIDTH, HEIGHT, FPS)
    mic = SyntheticMicrophone(frequency_hz=300.0 + 100 * index, level_dbfs=-10)

    async def tone() -> None:
        while not stop.is_set():
            await audio.capture_frame(mic.make_block(0).to_livekit())

    toning = asyncio.ensure_future(tone())
    loop = asyncio.get_running_loop()
    next_s, sequence = loop.time(), 0
    try:
        while not stop.is_set():
            video.capture_frame(camera.make_frame(sequence, 0).to_livekit())
            sequence += 1
            next_s += 1 / FPS
            await asyncio.sleep(max(0.0, next_s - loop.time()))
    finally:
        toning.cancel()
        await asyncio.gather(toning, return_exceptions=True)
        await room.disconnect()


async def _guests_main(url: str, tokens: list[str]) -> None:
    stop = asyncio.Event()
    guests = [asyncio.ensure_future(_guest(url, t, i, stop)) for i, t in enumerate(tokens)]
    await asyncio.sleep(1.0)
    print("publishing", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until stdin closes
    stop.set()
    await asyncio.gather(*guests, return_exceptions=True)


# -- the studio with a scripted host (a process of its own, on the studio's core) ---------------


def _thread_cpu_s() -> dict[int, tuple[str, float]]:
    """tid → (name, CPU seconds) of every thread of this process."""
    ticks = os.sysconf("SC_CLK_TCK")
    threads: dict[int, tuple[str, float]] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        threads[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / ticks)
    return threads


SDK_THREAD_HINTS = ("tokio", "rtc", "webrtc", "signaling", "worker_thread", "network_thread",
                    "Queue", "queue", "Pacer", "pacer", "Decod", "Encod", "Audio", "livekit",
                    "VoiceProcess", "ModuleProcess", "PacedSender", "IncomingVideo")  # fmt: skip


def _group(name: str, python_name: str | None, is_main: bool, encoder_tids: bool) -> str:
    if is_main:
        return "ui"
    if python_name is not None:
        if python_name.startswith("bc-ui-"):
            return "pictures"
        if python_name == "bc-program-video":
            return "compositor"  # split into compose and the encode call by the caller
        if python_name.startswith(("bc-output-", "bc-program-audio", "bc-watchdog")):
            return "outputs"
        if python_name.startswith("bc-receive"):
            return "receive"
        if python_name.endswith("-capture"):
            return "capture"
        if python_name.startswith("Dummy-"):
            return "sdk"  # the SDK's FFI callback thread, which Python meets as a dummy thread
        return "other"
    if encoder_tids:
        return "encoder"
    if any(hint in name for hint in SDK_THREAD_HINTS):
        return "sdk"
    return "other"


def _pictures_cpu_s() -> float:
    """CPU seconds the picture workers spent so far (0 in a studio without them: the tree
    before issue #29, which the profile "before" in docs/benchmarks.md was taken of)."""
    try:
        from desktop.ui.frame_worker import workers
    except ImportError:
        return 0.0
    return sum(w.cpu_s for w in workers().values())


def _studio_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.show studio")
    for name in ("--url", "--token", "--rtmp", "--record-dir", "--report", "--targets"):
        parser.add_argument(name, required=True)
    parser.add_argument("--duration-s", type=float, default=60.0)
    parser.add_argument("--guests", type=int, default=GUESTS)
    parser.add_argument("--warm-up-s", type=float, default=8.0)
    parser.add_argument("--hide-video", action="store_true")
    args = parser.parse_args(argv)
    from desktop.media.memory import limit_malloc_arenas
    from desktop.media.outputs.destinations import Destination, DestinationKind
    from desktop.session.settings import SettingsStore

    limit_malloc_arenas()
    store = SettingsStore()
    settings = store.load()
    settings.recording_folder = args.record_dir
    settings.destinations = [
        Destination("show-1", "Show ingest", DestinationKind.CUSTOM, args.rtmp, enabled=True)
    ]
    store.save(settings)
    from desktop.ui.app import main as studio_main

    return studio_main(
        ["--synthetic-devices", "--url", args.url, "--token", args.token],
        on_ready=lambda window, studio: show(args, window, studio),
    )


async def show(args: argparse.Namespace, window: Any, studio: Any) -> None:
    """Play the show and measure; write the report; close the window whatever happens."""
    report: dict[str, Any] = {"errors": []}
    try:
        await _play(args, window, studio, report)
    except Exception as error:  # noqa: BLE001 - the report says it; the harness fails on it
        report["errors"].append(f"{type(error).__name__}: {error}")
    finally:
        Path(args.report).write_text(json.dumps(report))
        window.close_without_asking()


async def _wait(until: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout_s:.0f} s")
        await asyncio.sleep(0.1)


async def _play(args: argparse.Namespace, window: Any, studio: Any, report: dict[str, Any]) -> None:
    from PySide6.QtCore import QPoint, Qt, QTimer

    from benchmarks.tiles import LoopLateness
    from desktop.media.compositor import Layout
    from desktop.session.state import ConnectionState, Source

    state = studio.store
    await _wait(lambda: state.state.connection is ConnectionState.CONNECTED, 60, "connection")
    await _wait(lambda: sum(p.track(Source.CAMERA) is not None
                            for p in state.state.remotes.values()) >= args.guests,
                60, "guests' cameras")  # fmt: skip
    for identity in sorted(state.state.remotes):
        await studio.set_in_program(identity, True)
    window.program.choose_layout(Layout.SPEAKER)
    screens = window.controls.list_screens()
    window.controls.share(next(iter(screens)))
    if args.hide_video:
        window.stage.hide()
        window.program.monitor.hide()
    before_live = set(_thread_cpu_s())
    await studio.start_recording()
    report["go_live_problems"] = await studio.go_live()
    await asyncio.sleep(1.0)
    # libx264's threads: native threads born while the encoder opened, under the name the
    # process started with (Python's own threads are known by their ids).
    python_ids = {t.native_id for t in threading.enumerate()}
    main_name = _thread_cpu_s()[os.getpid()][0]
    encoder_tids = {
        tid for tid, (name, _) in _thread_cpu_s().items()
        if tid not in before_live and tid not in python_ids and name == main_name
    }  # fmt: skip
    await asyncio.sleep(args.warm_up_s)

    # The probe: a precise 50 ms single-shot timer on the UI thread, re-armed as it fires.
    lateness = LoopLateness(PROBE_INTERVAL_S)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(int(PROBE_INTERVAL_S * 1000))

    def fired() -> None:
        lateness.tick()
        timer.start()

    timer.timeout.connect(fired)
    direct = studio.live.direct
    skipped0, encoded0 = direct.frames_skipped, direct.frames_encoded
    compose0, encode0 = direct.compose_cpu_s, direct.encode_cpu_s
    threads0 = _thread_cpu_s()
    pictures0 = _pictures_cpu_s()
    started, cpu0 = time.monotonic(), time.process_time()
    timer.start()
    lateness.tick(measure=False)
    # Where the harness clicks: two side-panel tabs, and the tab bar's region on screen.
    bar = window.side.tabBar()
    tabs = []
    for index in (0, 2):
        centre = bar.mapToGlobal(bar.tabRect(index).center())
        tabs.append((centre.x(), centre.y()))
    origin = bar.mapToGlobal(QPoint(0, 0))
    region = {"left": origin.x(), "top": origin.y(), "width": bar.width(), "height": bar.height()}
    Path(args.targets).write_text(json.dumps({"tabs": tabs, "region": region}))
    chats = 0
    next_chat = time.monotonic()
    sending: list[asyncio.Task[None]] = []
    while time.monotonic() - started < args.duration_s:
        if time.monotonic() >= next_chat:
            # Sent as a host does, without waiting for the room's answer before the next.
            next_chat += CHAT_EVERY_S
            chats += 1
            sending.append(asyncio.ensure_future(studio.send_chat(f"host says {chats}")))
        await asyncio.sleep(0.2)
    wall_s = time.monotonic() - started
    cpu_s = time.process_time() - cpu0
    threads1 = _thread_cpu_s()
    timer.stop()
    python_names = {t.native_id: t.name for t in threading.enumerate()}
    groups = dict.fromkeys(THREAD_GROUPS, 0.0)
    for tid, (name, cpu) in threads1.items():
        used = cpu - threads0.get(tid, (name, 0.0))[1]
        group = _group(name, python_names.get(tid), tid == os.getpid(), tid in encoder_tids)
        if group != "pictures":  # counted by the workers themselves (their threads come and go)
            groups[group] += used
    groups["pictures"] = _pictures_cpu_s() - pictures0
    # The program thread composes, then calls the encoder: its time split by its own counters.
    encode_call = max(0.0, (direct.encode_cpu_s - encode0) - (direct.compose_cpu_s - compose0))
    encode_call = min(encode_call, groups["compositor"])
    groups["encoder"] += encode_call
    groups["compositor"] -= encode_call
    rss_pages = int(Path("/proc/self/statm").read_text().split()[1])
    report.update({
        "late_ms": lateness.late_ms,
        "lateness": lateness.figures(wall_s),
        "cpu_percent": 100 * cpu_s / wall_s,
        "groups_percent": {g: 100 * s / wall_s for g, s in groups.items()},
        "frames_skipped": direct.frames_skipped - skipped0,
        "frames_encoded": direct.frames_encoded - encoded0,
        "rss_mib": rss_pages * resource.getpagesize() / 2**20,
        "chats": chats,
        "encoder_threads": len(encoder_tids),
        "threads": {f"{python_names.get(t, n)}:{t}": round(c - threads0.get(t, (n, 0.0))[1], 2)
                    for t, (n, c) in threads1.items()},
        "stage_frames": window.stage.frame_counts(),
        "monitor_pictures": window.program.monitor.pictures_shown,
    })  # fmt: skip
    failed = await asyncio.gather(*sending, return_exceptions=True)
    report["chat_failures"] = [repr(f) for f in failed if f is not None]
    await studio.stop_recording()
    await studio.end_live()


def main(argv: list[str]) -> int:
    """``guests URL COUNT`` or ``studio ...``."""
    if argv[:1] == ["guests"]:
        url, count = argv[1], int(argv[2])
        tokens = [sys.stdin.readline().strip() for _ in range(count)]
        asyncio.run(_guests_main(url, tokens))
        return 0
    if argv[:1] == ["studio"]:
        return _studio_main(argv[1:])
    print("usage: python -m benchmarks.show guests URL COUNT | studio ...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
