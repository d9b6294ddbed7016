"""A camera's NV12 frame is shown as the same picture as its I420 twin, scaled or not."""

from __future__ import annotations

import numpy as np
import pytest

from desktop.media.frames import PixelFormat
from desktop.media.synthetic import SyntheticCamera
from desktop.ui.preview_widget import FrameImage

W, H = 640, 360


def _shown(image: FrameImage) -> np.ndarray:
    qimage = image.image
    assert qimage is not None
    bits = qimage.constBits()
    rows = np.frombuffer(bits, np.uint8, qimage.sizeInBytes()).reshape(qimage.height(), -1)
    return rows[:, : qimage.width() * 4].reshape(qimage.height(), qimage.width(), 4).copy()


@pytest.mark.parametrize("area", [(W, H), (320, 200), (1280, 720)])
def test_an_nv12_frame_shows_the_picture_its_i420_twin_shows(area: tuple[int, int]) -> None:
    i420 = SyntheticCamera(W, H).make_frame(3, 0)
    nv12 = SyntheticCamera(W, H, pixel_format=PixelFormat.NV12).make_frame(3, 0)
    from_i420, from_nv12 = FrameImage(), FrameImage()
    from_i420.set_frame(i420.data, i420.format, W, H, area)
    from_nv12.set_frame(nv12.data, nv12.format, W, H, area)
    expected = _shown(from_i420)
    assert expected.shape[0] == min(area[1], area[0] * H // W)
    assert np.array_equal(_shown(from_nv12), expected)
    # Colour bars, not grey: the chroma was read from the right place (white, then yellow).
    b, g, r = (
        int(c) for c in expected[expected.shape[0] * 3 // 4, expected.shape[1] * 3 // 14, :3]
    )
    assert r > 140 and g > 140 and b < 60, (r, g, b)
