"""The compositor's overlays: a comment's lower third (until hidden or its time is up), the
ticker (moving picture to picture), and their pictures not piling up over a long show."""

from __future__ import annotations

import time

import cv2
import numpy as np
import numpy.typing as npt

from desktop.media.compositor import (
    Compositor,
    Region,
    banner_height,
    comment_boxes,
    comment_visible,
    ticker_box,
)
from tests.fixtures.program import region_colour
from tests.remote.show import COMMENT_NAME_RGB, TICKER_RGB, near

W, H = 640, 360


def rgb(compositor: Compositor) -> npt.NDArray[np.uint8]:
    """The compositor's latest picture as RGB."""
    picture = compositor.latest()
    assert picture is not None
    return np.asarray(cv2.cvtColor(picture.reshape(H * 3 // 2, W), cv2.COLOR_YUV2RGB_I420))


def test_a_comment_shows_until_its_time_is_up_then_the_picture_under_it_returns() -> None:
    compositor = Compositor(W, H)
    name_box, text_box = comment_boxes(W, H, banner=False)
    compositor.compose()
    before = rgb(compositor)[text_box.y : text_box.y + text_box.height].copy()
    compositor.update(comment=("Marta", "Greetings"), comment_until_s=time.monotonic() + 3600)
    compositor.compose()
    assert near(region_colour(rgb(compositor), name_box), COMMENT_NAME_RGB)
    compositor.update(comment_until_s=time.monotonic() - 1)  # its time is up
    assert not comment_visible(compositor.scene, time.monotonic())
    compositor.compose()
    after = rgb(compositor)[text_box.y : text_box.y + text_box.height]
    assert np.array_equal(before, after)


def test_with_a_banner_the_comment_sits_above_it() -> None:
    _, text_box = comment_boxes(W, H, banner=True)
    assert text_box.y + text_box.height <= H - banner_height(H)


def test_the_ticker_moves_and_old_overlay_pictures_are_forgotten() -> None:
    compositor = Compositor(W, H)
    band = ticker_box(W, H)
    compositor.update(ticker="Next week: live from Lisbon")
    compositor.compose()
    first = rgb(compositor)[: band.height].copy()
    assert near(region_colour(rgb(compositor), band), TICKER_RGB)
    time.sleep(0.3)  # the ticker moves with time: let some pass
    compositor.compose()
    assert np.abs(rgb(compositor)[: band.height].astype(int) - first).mean() > 1
    for n in range(60):
        compositor.update(comment=(f"Viewer {n}", f"Message number {n}"))
        compositor.compose()
    assert len(compositor._art) < 30
    assert isinstance(band, Region)
