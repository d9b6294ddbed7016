"""The tiles benchmark compares what it claims: each side painted the layer it would receive.

Benchmarks are not asserted by the suite (their figures depend on the machine), but what they
compare is: if the naive path were fed the small layer again, or ours the big one, the ratio
would describe a comparison nobody makes.
"""

from __future__ import annotations

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
