"""A video file as a camera: looped and paced at the file's frame rate (demos, tests, slides)."""

from __future__ import annotations

import cv2

from desktop.media.camera import CameraSource, bgr_to_i420
from desktop.media.frames import PixelFormat, VideoFrame, monotonic_us


class FileSource(CameraSource):
    """Plays a video file in a loop as I420 frames, paced at its frame rate.

    Args:
        path: The video file.
        loop: Start again at the end (otherwise the source stops at the end).
        name: Name shown to the user.
    """

    def __init__(self, path: str, loop: bool = True, name: str | None = None) -> None:
        super().__init__(path, name=name)
        self.loop = loop

    def _read(self) -> VideoFrame | None:
        frame = super()._read()
        if frame is not None or not self.loop or self._stop.is_set():
            return frame
        capture = self._capture
        assert capture is not None
        capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        ok, bgr = capture.read()
        if not ok or bgr is None:
            return None
        data, width, height = bgr_to_i420(bgr)
        if (width, height) != (self.width, self.height):
            data, width, height = self._rescale(bgr)
        frame = VideoFrame(data, width, height, PixelFormat.I420, monotonic_us(), self._sequence)
        self._sequence += 1
        return frame
