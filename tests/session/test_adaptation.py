"""The quality adaptation policy, with plain values (no server, no SDK)."""

from __future__ import annotations

import pytest

from desktop.session.adaptation import AdaptationPolicy, Layer, layer_for_tile
from desktop.session.state import Quality


@pytest.mark.parametrize(
    ("tile_height_px", "layer"),
    [(90, Layer.LOW), (240, Layer.LOW), (241, Layer.MEDIUM), (540, Layer.MEDIUM),
     (541, Layer.HIGH), (1080, Layer.HIGH)],
)  # fmt: skip
def test_a_tile_asks_for_the_smallest_layer_that_fills_it(
    tile_height_px: int, layer: Layer
) -> None:
    assert layer_for_tile(tile_height_px) is layer


def test_own_poor_link_halves_the_camera_frame_rate_once_and_recovers() -> None:
    policy = AdaptationPolicy()
    assert policy.own_quality(Quality.GOOD) is None and policy.camera_divider == 1
    poor = policy.own_quality(Quality.POOR)
    assert poor is not None and "your connection is poor" in poor.description
    assert policy.camera_divider == 2
    # Staying bad (poor → lost) changes nothing and says nothing more.
    assert policy.own_quality(Quality.LOST) is None and policy.camera_divider == 2
    recovered = policy.own_quality(Quality.EXCELLENT)
    assert recovered is not None and "recovered" in recovered.description
    assert policy.camera_divider == 1
    assert policy.own_quality(Quality.UNKNOWN) is None and policy.camera_divider == 1


def test_a_guest_on_a_poor_link_gets_the_low_layer_until_they_recover() -> None:
    policy = AdaptationPolicy()
    assert policy.layer("ann", 720) is Layer.HIGH
    assert policy.layer("ann", None) is Layer.HIGH
    poor = policy.guest_quality("ann", Quality.POOR, has_layers=True)
    assert poor is not None and poor.description == (
        "ann's connection is poor: asking for their smallest video layer"
    )
    assert policy.layer("ann", 720) is Layer.LOW and policy.layer("ann", None) is Layer.LOW
    assert policy.layer("bob", 720) is Layer.HIGH  # others are not affected
    assert policy.guest_quality("ann", Quality.LOST, has_layers=True) is None
    recovered = policy.guest_quality("ann", Quality.GOOD, has_layers=True)
    assert recovered is not None and "recovered" in recovered.description
    assert policy.layer("ann", 720) is Layer.HIGH and policy.layer("ann", 200) is Layer.LOW


def test_a_single_layer_guest_is_named_as_such_and_a_leaver_is_forgotten() -> None:
    policy = AdaptationPolicy()
    decision = policy.guest_quality("cam", Quality.POOR, has_layers=False)
    assert decision is not None and "single layer" in decision.description
    policy.forget("cam")
    assert policy.layer("cam", 720) is Layer.HIGH
    # A first report of good quality is no news.
    assert policy.guest_quality("new", Quality.EXCELLENT, has_layers=True) is None
