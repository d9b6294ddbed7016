"""Frames made ready for a screen: scaled to the size they are shown at, then converted to BGRA.

No Qt here: the UI wraps the BGRA buffer in a ``Format_RGB32`` image (the raster engine's fast
path: painting is then a plain row copy). All the work is OpenCV, which lets go of the GIL, so
the UI runs it on a worker thread and its own thread only draws finished pictures.

Scaling comes first, on the YUV planes (1.5 bytes a pixel rather than 4), and only then the
colour conversion, of the shown size: a 1280x720 program shown at 480x270 converts 130 000
pixels, not 920 000. Buffers are reused from one frame to the next.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from desktop.media.frames import PixelFormat

# OpenCV splits even a tile-sized conversion across worker threads that then spin waiting for
# work: on two cores that cost 0.10 ms of CPU per 404x228 tile frame on top of the 0.20 ms the
# conversion itself takes (measured). Pictures made for display are small; one thread.
cv2.setNumThreads(1)


def fitted_wh(width: int, height: int, area_w: int, area_h: int) -> tuple[int, int]:
    """The largest even size with the frame's aspect ratio inside ``area_w`` x ``area_h``
    (at least 2x2), rounded as ``QSize.scaled`` with ``KeepAspectRatio`` does.

    Per frame and per tile, so plain arithmetic: the same through the Qt bindings cost
    ≈ 30 µs a call, a tenth of converting the frame.
    """
    if width <= 0 or height <= 0:
        return 2, 2
    scaled_w = area_h * width // height
    if scaled_w <= area_w:
        out_w, out_h = scaled_w, area_h
    else:
        out_w, out_h = area_w, area_w * height // width
    return max(2, out_w & ~1), max(2, out_h & ~1)


def i420_planes(data: npt.NDArray[np.uint8], width: int, height: int) -> list[np.ndarray]:
    """Views of a flat I420 buffer's Y, U and V planes as 2-D arrays."""
    luma, chroma = width * height, width * height // 4
    return [
        data[:luma].reshape(height, width),
        data[luma : luma + chroma].reshape(height // 2, width // 2),
        data[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2),
    ]


class DisplayConverter:
    """Scales and converts frames into BGRA of the shown size, reusing its scratch planes.

    One converter per thread that converts (its scratch buffer is its own); the BGRA buffer
    written is the caller's, so a picture on screen is never written while it is painted.
    """

    def __init__(self) -> None:
        self._planes: npt.NDArray[np.uint8] = np.empty(0, np.uint8)
        self._planes_wh = (0, 0)

    def convert(
        self,
        data: npt.NDArray[np.uint8],
        pixel_format: PixelFormat,
        width: int,
        height: int,
        out: npt.NDArray[np.uint8],
    ) -> npt.NDArray[np.uint8]:
        """Write a flat I420, NV12 or BGRA frame into ``out``, an (h, w, 4) BGRA buffer of
        the shown size (from :func:`fitted_wh`); returns ``out``.

        Scaling is smooth: exact halvings (area averages) while the picture is more than twice
        the size shown, then one bilinear pass — the quality of ``Qt.SmoothTransformation``,
        at a fraction of a general area resize's cost (a 1920x1080 screen shown at 532x300:
        13 ms of CPU a frame with ``INTER_AREA``, measured).
        """
        out_h, out_w = out.shape[:2]
        same = (out_w, out_h) == (width, height)
        if pixel_format is PixelFormat.BGRA:
            bgra = data.reshape(height, width, 4)
            if same:
                np.copyto(out, bgra)
            else:
                _resize(bgra, out)
            return out
        planes = data if same else self._scratch(out_w, out_h)
        if not same and pixel_format is PixelFormat.NV12:
            # The Y plane and the interleaved U/V plane (as one two-channel picture).
            luma, out_luma = width * height, out_w * out_h
            pairs = data[luma : luma * 3 // 2].reshape(height // 2, width // 2, 2)
            _resize(data[:luma].reshape(height, width), planes[:out_luma].reshape(out_h, out_w))
            _resize(pairs, planes[out_luma:].reshape(out_h // 2, out_w // 2, 2))
        elif not same:
            for src, dst in zip(i420_planes(data, width, height),
                                i420_planes(planes, out_w, out_h), strict=True):  # fmt: skip
                _resize(src, dst)
        code = cv2.COLOR_YUV2BGRA_NV12 if pixel_format is PixelFormat.NV12 else (
            cv2.COLOR_YUV2BGRA_I420)  # fmt: skip
        cv2.cvtColor(planes.reshape(out_h * 3 // 2, out_w), code, dst=out)
        return out

    def _scratch(self, out_w: int, out_h: int) -> npt.NDArray[np.uint8]:
        if self._planes_wh != (out_w, out_h):
            self._planes = np.empty(out_w * out_h * 3 // 2, np.uint8)
            self._planes_wh = (out_w, out_h)
        return self._planes


def _resize(src: np.ndarray, dst: np.ndarray) -> None:
    """Scale ``src`` into ``dst`` (both 2-D, or 3-D with the same channels): halve while more
    than twice the target, then one bilinear pass."""
    out_h, out_w = dst.shape[:2]
    while src.shape[1] >= 2 * out_w and src.shape[0] >= 2 * out_h:
        half = (src.shape[1] // 2, src.shape[0] // 2)
        src = cv2.resize(src[: half[1] * 2, : half[0] * 2], half, interpolation=cv2.INTER_AREA)
    cv2.resize(src, (out_w, out_h), dst=dst, interpolation=cv2.INTER_LINEAR)
