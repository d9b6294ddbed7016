"""``python -m benchmarks [--quick] [--json PATH]``: every benchmark, one table, JSON too.

``--quick`` only proves each benchmark still runs and produces its figures (CI); the full run
takes about 45 minutes (the studio soak, which gives the memory figures, is 30 of them);
``--only soak`` runs just the soak, ``--only tiles`` just the tiles (local and SFU),
``--only program`` just the compositing benchmark, ``--only ingest`` just benchmark 1 (ingest),
``--only show`` just the studio live with four guests (the "show" rows).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time

from benchmarks.common import Row
from desktop.media.memory import limit_malloc_arenas
from tests.fixtures import processes


def _breach(sentence: str) -> None:
    """Past the memory ceiling (its thread has already stopped every child): end the run."""
    print(f"\n{sentence}\nThe benchmark run stopped there.", file=sys.stderr, flush=True)
    os._exit(3)


def _machine() -> dict[str, str]:
    import psutil

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cores": str(psutil.cpu_count()),
        "memory_gib": f"{psutil.virtual_memory().total / 2**30:.1f}",
    }


def _table(rows: list[Row]) -> str:
    lines = [
        f"{'benchmark':<15} {'metric':<46} {'ours':>9} {'±':>6} {'baseline':>9} {'±':>6} "
        f"{'ratio':>6}  target",
        "-" * 130,
    ]
    for r in rows:
        spread = f"{r.spread:6.2f}" if r.spread else f"{'':>6}"
        if r.baseline is not None:
            base = f"{r.baseline:9.2f} " + (f"{r.baseline_spread:6.2f}" if r.baseline_spread
                                             else f"{'':>6}")  # fmt: skip
        else:
            base = f"{'—':>9} {'':>6}"
        ratio = f"{r.ratio:5.1f}x" if r.ratio is not None else f"{'':>6}"
        verdict = "" if r.met is None else (" MET" if r.met else " MISSED")
        lines.append(f"{r.benchmark:<15} {r.metric:<46} {r.ours:9.2f} {spread} {base} {ratio}  "
                     f"{r.target}{verdict}")  # fmt: skip
        if r.met is False and r.notes:
            lines.append(f"{'':<15}   why: {r.notes}")
    lines.append("± is max − min over the repeats (ours and the baseline ran in turns)")
    return "\n".join(lines)


async def _run(quick: bool, soak_s: float | None) -> list[Row]:
    from benchmarks import pipeline, program, room, show, soak, tiles

    short = 2.0 if quick else 10.0
    repeats = 1 if quick else 5  # quick: one run of each side, only to prove it runs
    rows: list[Row] = []
    rows += await pipeline.ingest(short, repeats)
    rows += await pipeline.audio(short if quick else 20.0, 1 if quick else 3)
    with tempfile.TemporaryDirectory() as tmp:
        rows += await asyncio.get_running_loop().run_in_executor(
            None, pipeline.direct_outputs, short, tmp
        )
    rows += tiles.run(short, repeats)
    rows += program.run(short)
    server = room.start_livekit()
    try:
        rows += await room.glass_to_glass(server, short if quick else 30.0)
        rows += await room.remote_tiles(server, short, repeats)
        rows += await asyncio.get_running_loop().run_in_executor(
            None, room.startup, server, 1 if quick else 5
        )
        # The memory figures are the soak's: 30 minutes of the real studio in a churning room.
        rows += await soak.run(server, soak_s or (40.0 if quick else 1800.0))
    finally:
        room.stop_livekit(server)
    rows += await show.measure(quick)  # its own server: the equipment is pinned to one core
    return rows


async def _tiles_only(quick: bool) -> list[Row]:
    from benchmarks import room, tiles

    short, repeats = (2.0, 1) if quick else (10.0, 5)
    rows = tiles.run(short, repeats)
    server = room.start_livekit()
    try:
        rows += await room.remote_tiles(server, short, repeats)
    finally:
        room.stop_livekit(server)
    return rows


async def _soak_only(quick: bool, soak_s: float | None) -> list[Row]:
    from benchmarks import room, soak

    server = room.start_livekit()
    try:
        return await soak.run(server, soak_s or (40.0 if quick else 1800.0))
    finally:
        room.stop_livekit(server)


def main(argv: list[str]) -> int:
    """Run, print the table, write the JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="short runs: prove each one works")
    parser.add_argument("--json", default="benchmarks/results.json", help="where to write JSON")
    parser.add_argument("--soak-s", type=float, default=None,
                        help="length of the studio soak (default 1800, quick 40)")  # fmt: skip
    parser.add_argument("--only", choices=("soak", "tiles", "program", "ingest", "show"),
                        default=None, help="run just this benchmark")  # fmt: skip
    parser.add_argument(
        "--memory-ceiling-mib", type=int, default=None,
        help="stop the run, with a sentence, when its whole process tree holds more than this "
        f"(PSS; default {processes.DEFAULT_CEILING_MIB}, or {processes.CEILING_ENV})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    # Every process the run starts carries its mark and dies with it (tests/fixtures/processes).
    processes.ensure_run_mark()
    ceiling_mib = args.memory_ceiling_mib or processes.ceiling_mib()
    ceiling = processes.MemoryCeiling(
        ceiling_mib * 2**20, "the benchmark run's processes", _breach
    ).start()
    # The same allocator policy as the app's own entry point (desktop/cli.py).
    limit_malloc_arenas()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    started = time.monotonic()
    load_before = os.getloadavg()
    if args.only == "soak":
        rows = asyncio.run(_soak_only(args.quick, args.soak_s))
    elif args.only == "tiles":  # local and through the real SFU
        rows = asyncio.run(_tiles_only(args.quick))
    elif args.only == "ingest":
        from benchmarks import pipeline

        quick = args.quick
        rows = asyncio.run(pipeline.ingest(2.0 if quick else 10.0, 1 if quick else 5))
    elif args.only == "show":
        from benchmarks import show

        rows = asyncio.run(show.measure(args.quick))
    elif args.only == "program":
        from benchmarks import program

        rows = program.run(2.0 if args.quick else 10.0)
    else:
        rows = asyncio.run(_run(args.quick, args.soak_s))
    print(_table(rows))
    machine = _machine()
    load_after = os.getloadavg()
    machine["load_average"] = f"{load_before[0]:.1f} at start, {load_after[0]:.1f} at end " \
                              f"(1-min; other work on the machine)"  # fmt: skip
    print(f"\n{machine}  ({time.monotonic() - started:.0f} s{', quick' if args.quick else ''})")
    ceiling.close()
    print(
        f"process tree memory: peak {processes.mib(ceiling.peak.total_bytes)} PSS (RSS summed "
        f"{processes.mib(ceiling.peak_rss_total_bytes)}), ceiling "
        f"{processes.mib(ceiling.ceiling_bytes)}"
    )
    with open(args.json, "w", encoding="utf-8") as out:
        json.dump({"machine": machine, "quick": args.quick,
                   "rows": [r.to_json() for r in rows]}, out, indent=2)  # fmt: skip
    missing = [r for r in rows if r.ours != r.ours]  # NaN: a figure was not produced
    if missing:
        print(f"no figure for: {', '.join(r.metric for r in missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    # Everything is written; skip the interpreter's final garbage collection, where the LiveKit
    # FFI and Qt objects still alive can abort the process ("none_dealloc") after a good run.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
