"""The tiles benchmark compares what it claims: each side painted the layer it would receive.

Benchmarks are not asserted by the suite (their figures depend on the machine), but what they
compare is: if the naive path were fed the small layer again, or ours the big one, the ratio
would describe a comparison nobody makes.
"""

from __future__ import annotations

import threading
import time

from pytestqt.qtbot import QtBot

from benchmarks import guests, tiles
from desktop.session.adaptation import Layer, layer_for_tile


def test_each_side_paints_the_layer_it_would_receive(qtbot: QtBot) -> None:
    rows = {row.metric: row for row in tiles.run(0.5, 1)}
    layer = rows["layer received (height), px"]
    # Read back from the tiles painted: ours the layer a 3x3 stage's tile asks for, the naive
    # path a typical guest's top layer.
    assert layer.ours == tiles.LAYERS[layer_for_tile(229).value][1] == 180
    assert layer.baseline == tiles.LAYERS[tiles.NAIVE_LAYER][1] == 720
    assert layer_for_tile(229) is Layer.LOW
    assert "1280x720" in layer.notes and "320x180" in layer.notes
    # Both sides painted frames, and the CPU figures exist for both.
    per_frame = rows["CPU per frame painted, ms"]
    assert per_frame.ours > 0 and per_frame.baseline is not None and per_frame.baseline > 0


def test_loop_lateness_takes_out_only_the_wait_for_a_core() -> None:
    lateness = tiles.LoopLateness(0.0)
    waited = tiles.run_queue_wait_s()
    for _ in range(20):
        lateness.tick()
        sum(range(20_000))  # some work between ticks: each tick is "late" by it
    assert tiles.run_queue_wait_s() >= waited
    assert len(lateness.late_ms) == 19
    pairs = zip(lateness.own_ms, lateness.late_ms, strict=True)
    assert all(0 <= own <= late for own, late in pairs)
    assert sum(lateness.late_ms) > 0
    figures = lateness.figures(wall_s=1.0)
    assert figures["own_delay_p99"] <= figures["delay_p99"]


def test_loop_lateness_tells_work_from_being_blocked() -> None:
    """A late tick is split into the thread's own CPU and the time it was blocked (a lock or
    the GIL held elsewhere): here one tick is late by busy work, one by waiting on a lock."""
    interval_s = 0.005
    lateness = tiles.LoopLateness(interval_s)
    lock = threading.Lock()

    def hold(seconds: float) -> None:
        with lock:
            time.sleep(seconds)

    for _ in range(50):  # punctual ticks
        lateness.tick()
        time.sleep(interval_s)
    end = time.thread_time() + 0.05
    while time.thread_time() < end:  # 50 ms of this thread's own CPU
        pass
    lateness.tick()
    holder = threading.Thread(target=hold, args=(0.06,))
    holder.start()
    time.sleep(0.005)
    with lock:  # blocked about 55 ms behind another thread's lock
        pass
    holder.join()
    lateness.tick()
    figures = lateness.figures(wall_s=1.0)
    worst = sorted(zip(lateness.own_ms, lateness.cpu_ms, strict=True))[-2:]
    by_cpu = max(worst, key=lambda pair: pair[1])
    by_lock = min(worst, key=lambda pair: pair[1])
    assert by_cpu[1] >= 45, worst  # the busy tick's lateness is its own CPU
    assert by_lock[1] < 10 and by_lock[0] >= 45, worst  # the blocked one's is not
    # The tail figures come from the worst 1 % (here the two late ticks).
    assert 0 <= figures["tail_cpu_ms"] <= by_cpu[1]
    assert 0 <= figures["tail_blocked_ms"] <= by_lock[0] - by_lock[1]


def test_the_guests_report_the_median_layer_they_sent() -> None:
    reports = [
        {"q": (320, 180, 15.0), "h": (640, 360, 20.0), "f": (1280, 720, 30.0)},
        {"q": (320, 180, 14.0), "h": (640, 360, 19.0), "f": (1280, 720, 2.0)},
        {"q": (320, 180, 13.0), "h": (0, 0, 0.0)},
    ]
    summary = guests.summary(reports, cpu_percent=40.0)
    assert summary["layers"]["q"] == [320, 180, 14.0]
    assert summary["layers"]["h"] == [640, 360, 19.0]
    assert summary["layers"]["f"] == [1280, 720, 16.0]  # only the guests that sent it
    assert summary["guests"] == 3
