"""Cameras through OpenCV: a device index, a device path, a video file or a stream URL.

Each frame is stamped with the moment ``read`` returned it and handed on in a layout LiveKit
copies without converting. A V4L2 camera that delivers NV12 is read raw (``CAP_PROP_CONVERT_RGB``
off) and its frames are handed on as NV12, untouched: no conversion at all on the capture thread
(a consumer that needs I420 planes converts the frames it uses, see
:func:`~desktop.media.frames.as_i420`). A YUYV camera's planes are rearranged straight into
I420, without OpenCV's detour through BGR; anything else (MJPEG, decoded once by OpenCV; files;
streams) comes as BGR and is converted once into I420. Converted frames go into buffers from a
:class:`~desktop.media.frames.BufferPool`, so nothing is allocated per frame.
"""

from __future__ import annotations

import enum
import logging
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from desktop.media.base import SourceKind
from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.frames import (
    BufferPool,
    PixelFormat,
    VideoFrame,
    monotonic_us,
    nv12_to_i420,
)
from desktop.media.threaded import Pacer, ThreadedSource

logger = logging.getLogger(__name__)

OPEN_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 3000
LOST_AFTER_FAILED_READS = 3
"""A live device that fails this many reads in a row is reported as lost (unplugged)."""

CameraDevice = int | str
"""An OpenCV camera index, a device path (/dev/video0), a video file path, or a URL."""


def parse_camera_device(text: str) -> CameraDevice:
    """Turn a command-line/device-picker string into an OpenCV device (digits → index)."""
    text = text.strip()
    if not text:
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, "camera", "no camera named", "pick a camera"
        )
    return int(text) if text.isdigit() else text


def _is_url(device: CameraDevice) -> bool:
    return isinstance(device, str) and "://" in device


def _describe(device: CameraDevice) -> str:
    return f"camera {device}" if isinstance(device, int) else str(device)


class CameraPixels(enum.Enum):
    """What a camera's ``read`` hands over."""

    BGR = 1
    """OpenCV's packed BGR (it decoded MJPEG or converted the device's format itself)."""
    NV12 = 2
    """Raw NV12 from the device: a Y plane, then interleaved U/V at half size."""
    YUYV = 3
    """Raw YUYV 4:2:2 from the device: Y0 U Y1 V per pair of pixels."""


_RAW_FOURCCS = {"NV12": CameraPixels.NV12, "YUYV": CameraPixels.YUYV, "YUY2": CameraPixels.YUYV}


def raw_size(pixels: CameraPixels, width: int, height: int) -> int:
    """Bytes in one raw frame of this format and size (0 for BGR, whose size OpenCV knows)."""
    if pixels is CameraPixels.NV12:
        return width * height * 3 // 2
    if pixels is CameraPixels.YUYV:
        return width * height * 2
    return 0


def i420_planes(
    out: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y, U and V planes of a flat I420 buffer."""
    luma = width * height
    chroma = luma // 4
    return (
        out[:luma].reshape(height, width),
        out[luma : luma + chroma].reshape(height // 2, width // 2),
        out[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2),
    )


def to_i420(
    raw: np.ndarray, pixels: CameraPixels, width: int, height: int, out: np.ndarray
) -> None:
    """Write one camera frame as I420 into ``out`` (width*height*3/2 bytes), in one pass.

    ``width`` and ``height`` are even. NV12 keeps its Y plane and splits its U/V pairs; YUYV
    takes its Y samples and every other row of its 4:2:2 chroma; BGR is converted by OpenCV.
    No Python runs per pixel.
    """
    y, u, v = i420_planes(out, width, height)
    if pixels is CameraPixels.NV12:
        nv12_to_i420(raw, width, height, out)
    elif pixels is CameraPixels.YUYV:
        packed = raw.reshape(height, width, 2)
        cv2.cvtColor(packed, cv2.COLOR_YUV2GRAY_YUY2, dst=y)
        pairs = packed.reshape(height, width // 2, 4)[0::2]
        np.copyto(u, pairs[:, :, 1])
        np.copyto(v, pairs[:, :, 3])
    else:
        bgr = raw[:height, :width]
        cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420, dst=out.reshape(height * 3 // 2, width))


def bgr_to_i420(bgr: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Convert a BGR image to a flat I420 buffer, cropping to even dimensions.

    Returns:
        The buffer, its width and its height.
    """
    height, width = bgr.shape[:2]
    even_w, even_h = width & ~1, height & ~1
    out = np.empty(even_w * even_h * 3 // 2, np.uint8)
    to_i420(bgr, CameraPixels.BGR, even_w, even_h, out)
    return out, even_w, even_h


def _fourcc(capture: cv2.VideoCapture) -> str:
    code = int(capture.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF
    return "".join(chr((code >> shift) & 0xFF) for shift in (0, 8, 16, 24))


class CameraSource(ThreadedSource[VideoFrame]):
    """A camera (or video file/stream) read with OpenCV and published as I420 or NV12 frames.

    NV12 frames are what an NV12 camera delivered, as delivered; everything else is I420.

    Args:
        device: Index, device path, file path or URL.
        width: Requested width (the device may give another; see ``width`` after start).
        height: Requested height.
        fps: Requested frame rate.
        name: Name shown to the user; defaults to the device.
    """

    def __init__(
        self,
        device: CameraDevice = 0,
        width: int = 1280,
        height: int = 720,
        fps: float = 30.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name or _describe(device), SourceKind.CAMERA)
        if width <= 0 or height <= 0 or fps <= 0:
            raise MediaError(
                MediaErrorCode.INVALID_ARGUMENT,
                self.name,
                f"{width}x{height} at {fps} fps is not a valid request",
                "ask for a positive size and frame rate",
            )
        self.device = device
        self.requested = (width, height, fps)
        self._capture: cv2.VideoCapture | None = None
        self._width = self._height = 0
        self._fps = 0.0
        self._sequence = 0
        self._pacer: Pacer | None = None
        self._is_file = isinstance(device, str) and not _is_url(device) and Path(device).is_file()
        self._pending: np.ndarray | None = None
        self._pixels = CameraPixels.BGR
        self._pool: BufferPool | None = None

    @property
    def pixels(self) -> CameraPixels:
        """What the device hands over (after ``start``): raw NV12/YUYV, or OpenCV's BGR.

        NV12 frames are published as NV12, the others as I420.
        """
        return self._pixels

    @property
    def width(self) -> int:
        """Actual frame width (after ``start``)."""
        return self._width

    @property
    def height(self) -> int:
        """Actual frame height (after ``start``)."""
        return self._height

    @property
    def fps(self) -> float:
        """Actual frame rate the device reports (after ``start``)."""
        return self._fps

    def _open(self) -> None:
        device = self.device
        if isinstance(device, str) and device.startswith("/dev/") and not os.path.exists(device):
            raise MediaError(
                MediaErrorCode.DEVICE_NOT_FOUND,
                self.name,
                "no such camera device",
                "plug the camera in, or pick another one in the device list",
            )
        if isinstance(device, str) and not _is_url(device) and not device.startswith("/dev/"):
            if not Path(device).is_file():
                raise MediaError(
                    MediaErrorCode.DEVICE_NOT_FOUND,
                    self.name,
                    "no such video file",
                    "check the path",
                )
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            OPEN_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            READ_TIMEOUT_MS,
        ]
        capture = cv2.VideoCapture(device, cv2.CAP_ANY, params)
        if not capture.isOpened():
            capture.release()
            raise self._open_error()
        width, height, fps = self.requested
        if not self._is_file and not _is_url(device):
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
            capture.set(cv2.CAP_PROP_FPS, fps)
        # The first frame tells the real size: devices silently pick the nearest mode.
        ok, first = capture.read()
        if not ok or first is None:
            capture.release()
            raise MediaError(
                MediaErrorCode.DEVICE_BUSY,
                self.name,
                "opened but delivered no picture",
                "close other apps using the camera, or pick another one",
            )
        self._height, self._width = first.shape[0] & ~1, first.shape[1] & ~1
        self._pixels = CameraPixels.BGR
        if self._is_live_v4l2():
            first = self._use_native_pixels(capture, first)
        self._pool = BufferPool(self._width * self._height * 3 // 2)
        reported_fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self._fps = reported_fps if 0 < reported_fps < 241 else fps
        self._capture = capture
        self._pending = first
        self._sequence = 0
        # Files have no clock of their own: pace them at their frame rate like a camera.
        self._pacer = Pacer(1.0 / self._fps, self._stop) if self._is_file else None
        logger.info(
            "%s opened: %dx%d at %.1f fps (asked %dx%d at %.1f)",
            self.name,
            self._width,
            self._height,
            self._fps,
            width,
            height,
            fps,
        )

    def _is_live_v4l2(self) -> bool:
        device = self.device
        local = isinstance(device, int) or str(device).startswith("/dev/video")
        return sys.platform.startswith("linux") and local and not self._is_file

    def _use_native_pixels(self, capture: cv2.VideoCapture, first: np.ndarray) -> np.ndarray:
        """Read NV12/YUYV cameras raw; returns the first frame in the format now in use.

        Falls back to OpenCV's BGR when the device's raw frame is not the size the format
        implies (a driver or backend that does not hand raw frames over as expected).
        """
        pixels = _RAW_FOURCCS.get(_fourcc(capture))
        if pixels is None or (self._width, self._height) != (first.shape[1], first.shape[0]):
            return first
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        ok, raw = capture.read()
        if ok and raw is not None and raw.size == raw_size(pixels, self._width, self._height):
            self._pixels = pixels
            logger.info("%s: reading %s as delivered, no BGR conversion", self.name, pixels.name)
            return np.ascontiguousarray(raw)
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 1)
        return first

    def _open_error(self) -> MediaError:
        if isinstance(self.device, int):
            return MediaError(
                MediaErrorCode.DEVICE_NOT_FOUND,
                self.name,
                "there is no camera with this number",
                "run 'broadcaster devices' to see the cameras, or use the synthetic camera",
            )
        if _is_url(self.device):
            return MediaError(
                MediaErrorCode.DEVICE_NOT_FOUND,
                self.name,
                "the stream could not be opened",
                "check the URL and that the stream is running",
            )
        return MediaError(
            MediaErrorCode.DEVICE_BUSY,
            self.name,
            "the device could not be opened",
            "close other apps using the camera (or check it is a camera), then try again",
        )

    def _read(self) -> VideoFrame | None:
        capture = self._capture
        assert capture is not None
        if self._pending is not None:
            bgr, self._pending = self._pending, None
            timestamp_us = monotonic_us()
        else:
            if self._pacer is not None and not self._pacer.wait():
                return None
            failures = 0
            while True:
                ok, bgr = capture.read()
                timestamp_us = monotonic_us()
                if ok and bgr is not None and self._whole(bgr):
                    break
                if self._is_file:
                    return None  # end of the file
                failures += 1
                if failures >= LOST_AFTER_FAILED_READS or self._stop.is_set():
                    if self._stop.is_set():
                        return None
                    raise MediaError(
                        MediaErrorCode.DEVICE_LOST,
                        self.name,
                        "stopped delivering pictures (unplugged or taken by another app)",
                        "reconnect the camera and start it again, or pick another one",
                    )
                time.sleep(0.05)
        width, height = self._width, self._height
        if self._pixels is CameraPixels.NV12:
            # Handed on as the device delivered it: OpenCV's read() returns a new array each
            # time, which nothing else writes, and LiveKit takes NV12 as it takes I420.
            nv12 = bgr.reshape(-1)
            frame = VideoFrame(nv12, width, height, PixelFormat.NV12, timestamp_us, self._sequence)
            self._sequence += 1
            return frame
        if self._pixels is CameraPixels.BGR and (bgr.shape[1] & ~1, bgr.shape[0] & ~1) != (
            width,
            height,
        ):
            bgr = self._rescale(bgr)
        assert self._pool is not None
        data = self._pool.acquire()
        to_i420(bgr, self._pixels, width, height, data)
        frame = VideoFrame(data, width, height, PixelFormat.I420, timestamp_us, self._sequence)
        self._sequence += 1
        return frame

    def _whole(self, raw: np.ndarray) -> bool:
        """Whether a raw frame has every byte its format needs (a torn one counts as a failed
        read)."""
        needed = raw_size(self._pixels, self._width, self._height)
        return not needed or raw.size == needed

    def _rescale(self, bgr: np.ndarray) -> np.ndarray:
        # A stream changed size mid-way: keep the size the sinks were set up for.
        resized = cv2.resize(bgr, (self._width, self._height), interpolation=cv2.INTER_AREA)
        return np.asarray(resized, np.uint8)

    def _close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._pending = None
