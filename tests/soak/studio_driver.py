"""A host that runs the real studio for a long time: ``python -m tests.soak.studio_driver``.

It starts the studio through its own entry point (``desktop.ui.app.main``: the same window,
event loop, bridge and session a host gets) joined to ``--url`` with ``--token``, and plays a
host's show through the studio's commands: record, go live to ``--rtmp``, share the screen on
and off, chat, for ``--duration-s``. Every few seconds it samples its own resident memory, the
event loop's delay and the capture sinks' dropped frames, and at the end writes them, with the
chat it saw and the outputs' final states, as JSON to ``--report`` before closing the window
the way a host would. The process then exits through the studio's own quit path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

SAMPLE_INTERVAL_S = 2.0
LOOP_PROBE_INTERVAL_S = 0.05


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="studio_driver")
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rtmp", required=True, help="RTMP URL with its stream name")
    parser.add_argument("--record-dir", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--duration-s", type=float, default=120.0)
    parser.add_argument("--share-toggle-s", type=float, default=10.0)
    parser.add_argument("--chat-every-s", type=float, default=5.0)
    parser.add_argument("--screen", default="1", help="monitor number, or 'synthetic'")
    return parser.parse_args(argv)


def _prepare_settings(args: argparse.Namespace) -> None:
    from desktop.media.outputs.destinations import Destination, DestinationKind
    from desktop.session.settings import SettingsStore

    store = SettingsStore()
    settings = store.load()
    settings.recording_folder = args.record_dir
    settings.destinations = [
        Destination("custom-1", "Soak ingest", DestinationKind.CUSTOM, args.rtmp, enabled=True)
    ]
    store.save(settings)


async def _show(args: argparse.Namespace, window: Any, studio: Any) -> None:
    """Play the show; whatever happens, write the report and close the window.

    The studio runs this through its command bridge, which turns an exception into a notice
    on screen: a show that raised would otherwise leave the studio running, recording and
    painting, with nobody to close it (a soak that "hangs"). Closing does not ask: the
    question "Quit while the show runs?" would otherwise hold the window open when stopping
    the recording or the destinations failed.
    """
    report: dict[str, Any] = {
        "samples": [], "loop_delay_ms": [], "errors": [], "states": [], "stuck_actions": [],
    }  # fmt: skip
    try:
        await _play(args, window, studio, report)
    except Exception as error:  # noqa: BLE001 - named in the report; the test fails on it
        report["stuck_actions"].append(f"the show stopped: {type(error).__name__}: {error}")
    finally:
        Path(args.report).write_text(json.dumps(report))
        window.close_without_asking()


async def _play(args: argparse.Namespace, window: Any, studio: Any, report: dict[str, Any]) -> None:
    import psutil

    process = psutil.Process()
    loop = asyncio.get_running_loop()
    window.bridge.error.connect(lambda text: report["errors"].append(text))
    # Command failures come as (sentence, next step) since the notice stack (issue #17).
    window.bridge.failure.connect(lambda text, step: report["errors"].append(f"{text} {step}"))
    started = time.monotonic()

    async def probe_loop() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(LOOP_PROBE_INTERVAL_S)
            late_ms = (loop.time() - before - LOOP_PROBE_INTERVAL_S) * 1000
            report["loop_delay_ms"].append(round(max(late_ms, 0.0), 2))

    prober = asyncio.create_task(probe_loop())
    try:
        await _scenes(args, studio, report, process, loop, started)
    finally:
        prober.cancel()


async def _scenes(
    args: argparse.Namespace,
    studio: Any,
    report: dict[str, Any],
    process: Any,
    loop: asyncio.AbstractEventLoop,
    started: float,
) -> None:
    from desktop.media.screen import ScreenSource
    from desktop.media.synthetic import SyntheticScreen
    from desktop.session.state import ConnectionState

    deadline = time.monotonic() + 60
    while studio.store.state.connection is not ConnectionState.CONNECTED:
        if time.monotonic() > deadline:
            report["errors"].append(f"never connected: {studio.store.state.connection.name}")
            break
        await asyncio.sleep(0.1)
    report["connected_after_s"] = round(time.monotonic() - started, 2)
    report["connected_at"] = time.time()
    await studio.start_recording()
    report["go_live_problems"] = await studio.go_live()
    sharing = None
    next_toggle = next_chat = next_sample = time.monotonic()
    chats_sent = 0
    end = started + args.duration_s
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_toggle:
            next_toggle += args.share_toggle_s
            if sharing is None:
                sharing = SyntheticScreen() if args.screen == "synthetic" else (
                    ScreenSource(int(args.screen)))  # fmt: skip
                sharing.start()
                await _act(report, "share the screen", studio.share_screen(sharing))
            else:
                await _act(report, "stop sharing", studio.stop_sharing())
                sharing = None
        if now >= next_chat:
            next_chat += args.chat_every_s
            chats_sent += 1
            await _act(report, "send chat", studio.send_chat(f"host says {chats_sent}"))
        if now >= next_sample:
            next_sample += SAMPLE_INTERVAL_S
            sources = [s for s in (studio.camera, studio.mic, studio.screen) if s is not None]
            report["samples"].append({
                "t_s": round(now - started, 1),
                "rss_bytes": process.memory_info().rss,
                # The publisher's queues: a frame dropped there never reached the room.
                # (Displays and the program sample the newest frame and drop by design.)
                "dropped_frames": sum(q.dropped for s in sources for q in s.frames.stats()
                                      if q.name == "publisher"),
                "delivered_frames": sum(q.delivered for s in sources for q in s.frames.stats()
                                        if q.name == "publisher"),
                # Cross-thread calls waiting for the loop: a backlog here is a loop that
                # cannot keep up (frames and events queue instead of being dropped).
                "pending_calls": len(getattr(loop, "_pending", ())),
                "loop_wakeups": getattr(loop, "wakeups", 0),
                # Events the SDK delivered to its streams' queues and nobody has taken yet.
                "sdk_queued_events": _sdk_backlog(),
                "connection": studio.store.state.connection.name,
                "remotes": len(studio.store.state.remotes),
            })  # fmt: skip
        await asyncio.sleep(0.2)
    state = studio.store.state
    report["chats_sent"] = chats_sent
    report["chat_received"] = [m.text for m in state.chat if not m.is_local]
    report["chat_received_at"] = {m.text: m.timestamp_ms / 1000 for m in state.chat
                                  if not m.is_local}  # fmt: skip
    report["outputs"] = [
        {"id": s.output_id, "phase": s.phase.name, "bytes": s.bytes_written, "error": s.error,
         "path": s.path}
        for s in state.direct_outputs
    ]  # fmt: skip
    report["connection"] = state.connection.name
    report["report_time"] = time.time()
    await _act(report, "stop recording", studio.stop_recording())
    await _act(report, "end live", studio.end_live())


ACTION_TIMEOUT_S = 60.0
"""Longest a host action may take before the soak calls it stuck."""


async def _act(report: dict[str, Any], what: str, action: Coroutine[Any, Any, Any]) -> None:
    """Do one host action; one that raises or never returns is written in the report (the
    test fails on it by name) and the soak goes on, as a host would after an error notice."""
    try:
        await asyncio.wait_for(action, ACTION_TIMEOUT_S)
    except TimeoutError:
        report["stuck_actions"].append(f"{what}: no answer in {ACTION_TIMEOUT_S:.0f} s")
    except Exception as error:
        report["stuck_actions"].append(f"{what}: {type(error).__name__}: {error}")


def _sdk_backlog() -> int:
    """Events waiting in the LiveKit SDK's per-stream queues (its FFI fan-out)."""
    from livekit.rtc._ffi_client import FfiClient

    subscribers = getattr(FfiClient.instance.queue, "_subscribers", [])
    return sum(queue.qsize() for queue, *_ in subscribers)


def main(argv: list[str]) -> int:
    """Run the studio with the scripted host; returns the studio's exit status."""
    args = _parse(argv)
    # The same start as `broadcaster` (desktop/cli.py): glibc's malloc arenas capped, or each
    # capture thread started by a screen share leaves its own fragmented arena behind.
    from desktop.media.memory import limit_malloc_arenas

    limit_malloc_arenas()
    os.environ.setdefault("BROADCASTER_LOG", "WARNING")
    _prepare_settings(args)
    from desktop.ui.app import main as studio_main

    return studio_main(
        ["--synthetic-devices", "--url", args.url, "--token", args.token],
        on_ready=lambda window, studio: _show(args, window, studio),
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
