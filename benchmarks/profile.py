"""Profile the ingest path with py-spy and summarise it by stage.

``py-spy record --native -r 200 -f raw -o ingest.txt -- python -m benchmarks.profile run``
records one 10 s run of our ingest (benchmark 1, ours only); ``python -m benchmarks.profile
summary ingest.txt`` prints the share of on-CPU samples per stage as a Markdown table. Samples
of threads waiting (locks, ``epoll``, sleeps), of start-up and of the interpreter's exit are
left out.
"""

from __future__ import annotations

import asyncio
import collections
import sys

_IDLE = ("lock_PyThread_acquire_lock", "select_epoll_poll", "epoll_wait", "pthread_cond", "sem_",
         "futex", "nanosleep")  # fmt: skip
_SETUP = ("_find_and_load", "_Device.__init__", "SyntheticScreen.__init__",
          "SyntheticCamera.__init__", "FfiClient.__init__")  # fmt: skip
_STAGES = (
    ("to_i420", "our conversion (NV12→I420)"),
    ("ChangeGate.changed", "screen change gate (memcmp)"),
    ("cvtColor", "OpenCV conversions"),
    ("FfiClient.request", "SDK handoff (capture_frame → FFI)"),
    ("_Stages.add", "the benchmark's own stage timers"),
    ("make_block", "device stand-in"),
    ("bytearray", "device stand-in"),
    ("pipeline.py:10", "device stand-in"),
    ("run_camera", "capture threads: Python (fan-out, frames, pacing)"),
    ("run_screen", "capture threads: Python (fan-out, frames, pacing)"),
    ("run_mic", "capture threads: Python (fan-out, frames, pacing)"),
    ("run_forever", "event loops: Python (asyncio, audio pump)"),
)


def summarise(raw_lines: list[str]) -> dict[str, float]:
    """Share of on-CPU samples (0–100) per stage, from py-spy's raw (collapsed) output."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw_lines:
        stack, _, number = line.rstrip().rpartition(" ")
        if not number.isdigit() or any(k in stack for k in _IDLE + _SETUP):
            continue
        if stack.endswith("gc_collect_main (libpython3.11.so.1.0)") and "Thread" not in stack:
            continue  # the interpreter's exit
        stage = next((name for key, name in _STAGES if key in stack), "other (GC, interpreter)")
        counts[stage] += int(number)
    total = sum(counts.values()) or 1
    return {stage: 100 * n / total for stage, n in counts.most_common()}


def main(argv: list[str]) -> int:
    """``run`` or ``summary FILE``."""
    if argv[:1] == ["run"]:
        from benchmarks import pipeline

        print(asyncio.run(pipeline._ingest_once(True, 10.0)))
        return 0
    if argv[:1] == ["summary"] and len(argv) == 2:
        with open(argv[1], encoding="utf-8") as raw:
            shares = summarise(raw.readlines())
        print("| stage | share of on-CPU samples |\n|---|---|")
        for stage, share in shares.items():
            print(f"| {stage} | {share:.0f} % |")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
