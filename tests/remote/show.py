"""What the remote-control show tests look at: the overlays' colours and the program's picture."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from desktop.session.studio import Studio
from tests.waiting import wait_for

COMMENT_NAME_RGB = (230, 140, 40)
"""The comment's name line (the compositor's COMMENT_NAME_BGR, as RGB)."""
TICKER_RGB = (240, 200, 20)
"""The ticker band (the compositor's TICKER_BGR, as RGB)."""


def near(a: tuple[int, int, int], b: tuple[int, int, int], tolerance: int = 30) -> bool:
    """Two colours within ``tolerance`` on every channel."""
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def program_rgb(studio: Studio) -> npt.NDArray[np.uint8]:
    """The program's latest picture (before encoding) as RGB."""
    import cv2

    compositor = studio.live.direct.compositor
    latest = compositor.latest()
    assert latest is not None
    bgr = cv2.cvtColor(latest.reshape(compositor.height * 3 // 2, compositor.width),
                       cv2.COLOR_YUV2RGB_I420)  # fmt: skip
    return np.asarray(bgr, np.uint8)


async def sent_more(studio: Studio, output_id: str, more_bytes: int) -> None:
    """Wait until the RTMP output has sent ``more_bytes`` more than now (the encoder has shipped
    what the program shows)."""

    def sent() -> int:
        return next((o.bytes_written for o in studio.store.state.direct_outputs
                     if o.output_id == output_id), 0)  # fmt: skip

    start = sent()
    await wait_for(
        lambda: sent() >= start + more_bytes,
        30,
        f"{more_bytes} more bytes sent to {output_id}",
        state=lambda: f"{sent() - start} more",
    )
