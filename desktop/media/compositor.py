"""The program picture: host, guests and screen composed in a layout, in I420, at a fixed size.

The encoder wants I420, remote guests and most cameras deliver I420 (an NV12 camera's frame
is rearranged into I420 when it is drawn), so the picture is built plane by plane (Y at full
size, U and V at quarter size) and never goes through BGR, on one persistent canvas: each
source is scaled once per *new* frame straight into its region, a picture redraws only the
regions whose source changed, and everything that does not move — background, name plates,
initials, banner, logo — is drawn once into cached I420 patches and only copied where a
region under it was redrawn. A screen grabbed as BGRA is converted once
per new grab, then scaled to its region.

The compositor holds no thread of its own: the program's video thread calls :meth:`Compositor.
compose` at the output rate, while the session and the UI change the scene (layout, stage,
banner, pin) from theirs; a scene is an immutable value swapped under a lock, so a change lands
on the next picture without restarting anything downstream.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import numpy.typing as npt

from desktop.media.frames import PixelFormat, VideoFrame, as_i420

logger = logging.getLogger(__name__)

HOST_ID = "host"
"""Stage id of the studio's own camera."""
SCREEN_ID = "screen"
"""Source id of the studio's shared screen."""
MAX_GRID = 9
"""People a grid shows at most; later stage members wait off the picture."""
MAX_STRIP = 6
"""Tiles a strip (speaker or screen layouts) shows at most."""
NEAR_SIZE = 1.1
"""A person's frame at most this much larger than their region (or than 2, 4… times it) is
cropped to it (to that multiple, then halved exactly), not resampled."""
LINEAR_UP_TO = 2.25
"""The largest shrink done in one bilinear pass; larger ones halve exactly first."""
PIP_FRACTION = 0.25
"""Picture-in-picture width as a share of the program width."""

I420Planes = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]


class Layout(enum.Enum):
    """How the program arranges the people on stage and the screen."""

    AUTO = "auto"
    """Screen with picture-in-picture (one person) or a strip (more) while a screen is shared;
    otherwise solo, side by side (2–3 people) or a grid."""
    SOLO = "solo"
    """One person fills the picture: the pinned one, else the active speaker, else the first."""
    SIDE_BY_SIDE = "side-by-side"
    """Everyone on stage in one row (up to four)."""
    GRID = "grid"
    """Everyone on stage in a grid of up to 3×3."""
    SPEAKER = "speaker"
    """The pinned or speaking person large, the others in a strip below."""
    SCREEN_STRIP = "screen+strip"
    """The shared screen large, the people in a strip below."""
    SCREEN_PIP = "screen+pip"
    """The shared screen filling the picture, the speaker in a corner."""

    @property
    def label(self) -> str:
        """The name on the layout button."""
        return {
            "auto": "Auto",
            "solo": "Solo",
            "side-by-side": "Side by side",
            "grid": "Grid",
            "speaker": "Speaker",
            "screen+strip": "Screen + strip",
            "screen+pip": "Screen + corner",
        }[self.value]

    @property
    def needs_screen(self) -> bool:
        """Whether the layout is built around a shared screen."""
        return self in (Layout.SCREEN_STRIP, Layout.SCREEN_PIP)


class RegionKind(enum.Enum):
    """What a region of the program shows."""

    PERSON = "person"
    """A person's camera (or their initials with the camera off)."""
    SCREEN = "screen"
    """The shared screen."""


@dataclass(frozen=True, slots=True)
class Region:
    """Where one source sits in the program (pixels, all even)."""

    source_id: str
    """Stage id of the person, or :data:`SCREEN_ID`."""
    kind: RegionKind
    """Person or screen."""
    x: int
    """Left edge."""
    y: int
    """Top edge."""
    width: int
    """Width."""
    height: int
    """Height."""

    @property
    def center(self) -> tuple[int, int]:
        """The region's centre (x, y)."""
        return self.x + self.width // 2, self.y + self.height // 2


@dataclass(frozen=True, slots=True)
class StageMember:
    """One person on stage, in stage order."""

    source_id: str
    """Stable id (:data:`HOST_ID` for the studio's camera, the LiveKit identity for a guest)."""
    name: str
    """Shown on the name plate (none when empty) and used for the initials."""
    camera_on: bool = True
    """False shows their initials instead of their (stale) picture."""


@dataclass(frozen=True, slots=True)
class Scene:
    """Everything about the program that is not a frame: swapped whole, read without locks."""

    layout: Layout = Layout.AUTO
    """The producer's layout."""
    stage: tuple[StageMember, ...] = ()
    """People in the program, in order."""
    pinned: str = ""
    """Stage id kept large in solo and speaker layouts ('' = follow the active speaker)."""
    active_speaker: str = ""
    """Who speaks now (from the room); '' when nobody does."""
    banner: str = ""
    """Text of the banner along the bottom ('' = none)."""
    name_plates: bool = True
    """Lower-third name plates on people."""
    comment: tuple[str, str] | None = None
    """A viewer's comment shown as a lower third: (sender's name, text); None = none."""
    comment_until_s: float = 0.0
    """When the comment goes away by itself (``time.monotonic()`` seconds; 0 = until hidden)."""
    ticker: str = ""
    """Text scrolling right to left along the top of the picture ('' = no ticker)."""
    background_rgb: tuple[int, int, int] = (16, 18, 24)
    """Colour behind and between the regions."""
    logo_bgra: npt.NDArray[np.uint8] | None = field(default=None, compare=False)
    """An (h, w, 4) BGRA logo drawn in the top right corner, or None."""


def even(value: float) -> int:
    """``value`` rounded down to an even number of at least 2."""
    return max(2, int(value) // 2 * 2)


def rgb_to_yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """The BT.601 limited-range Y, U, V of an RGB colour (what OpenCV's I420 conversion uses)."""
    bgr = np.full((2, 2, 3), (rgb[2], rgb[1], rgb[0]), np.uint8)
    yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).reshape(-1)
    return int(yuv[0]), int(yuv[4]), int(yuv[5])


def split_planes(buf: npt.NDArray[np.uint8], width: int, height: int) -> I420Planes:
    """Views of the Y, U and V planes of a flat I420 buffer."""
    y_size, c_size = width * height, (width // 2) * (height // 2)
    return (
        buf[:y_size].reshape(height, width),
        buf[y_size : y_size + c_size].reshape(height // 2, width // 2),
        buf[y_size + c_size : y_size + 2 * c_size].reshape(height // 2, width // 2),
    )


def bgr_to_planes(bgr: npt.NDArray[np.uint8]) -> I420Planes:
    """Convert a small BGR (or BGRA) picture with even sides to I420 planes (for cached art)."""
    height, width = bgr.shape[:2]
    code = cv2.COLOR_BGRA2YUV_I420 if bgr.shape[2] == 4 else cv2.COLOR_BGR2YUV_I420
    yuv = np.ascontiguousarray(cv2.cvtColor(bgr, code), np.uint8).reshape(-1)
    y, u, v = split_planes(yuv, width, height)
    return y.copy(), u.copy(), v.copy()


def initials(name: str) -> str:
    """Up to two initials of a name ("Ada Lovelace" → "AL"; "" → "?")."""
    words = [w for w in name.replace("_", " ").replace("-", " ").split() if w]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].upper()
    return (words[0][0] + words[-1][0]).upper()


def _name_colour(name: str) -> tuple[int, int, int]:
    # A stable colour per name, so a guest keeps theirs across layouts (BGR, muted tones).
    seed = sum(ord(c) * (i + 1) for i, c in enumerate(name)) % 360
    hsv = np.array([[[seed // 2, 110, 150]]], np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def _overlaps(region: Region, box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    return (w > 0 and region.x < x + w and x < region.x + region.width
            and region.y < y + h and y < region.y + region.height)  # fmt: skip


def _grid_shape(count: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    return cols, rows


def _cells(
    count: int, x: int, y: int, width: int, height: int, gap: int, cols: int, rows: int
) -> list[tuple[int, int, int, int]]:
    """Equal 16:9 cells for ``count`` people, ``cols`` × ``rows``, centred in an area."""
    cell_w = (width - gap * (cols - 1)) / cols
    cell_h = (height - gap * (rows - 1)) / rows
    # Cells keep 16:9: fit them into whatever the area allows.
    if cell_w * 9 / 16 > cell_h:
        cell_w = cell_h * 16 / 9
    else:
        cell_h = cell_w * 9 / 16
    w, h = even(cell_w), even(cell_h)
    out: list[tuple[int, int, int, int]] = []
    for row in range(rows):
        in_row = min(cols, count - row * cols)
        if in_row <= 0:
            break
        row_w = in_row * w + (in_row - 1) * gap
        total_h = rows * h + (rows - 1) * gap
        x0 = x + (width - row_w) // 2
        y0 = y + (height - total_h) // 2 + row * (h + gap)
        for col in range(in_row):
            out.append((even(x0 + col * (w + gap)), even(y0), w, h))
    return out


def resolve_layout(scene: Scene, screen_on: bool) -> Layout:
    """The layout actually drawn: AUTO decided, screen layouts falling back when nobody shares."""
    count = len(scene.stage)
    layout = scene.layout
    if layout is Layout.AUTO:
        if screen_on:
            return Layout.SCREEN_PIP if count <= 1 else Layout.SCREEN_STRIP
        if count <= 1:
            return Layout.SOLO
        return Layout.SIDE_BY_SIDE if count <= 3 else Layout.GRID
    if layout.needs_screen and not screen_on:
        return Layout.SOLO if count <= 1 else Layout.SPEAKER
    return layout


def _featured(scene: Scene) -> str:
    ids = [m.source_id for m in scene.stage]
    for candidate in (scene.pinned, scene.active_speaker):
        if candidate in ids:
            return candidate
    return ids[0] if ids else ""


def layout_regions(scene: Scene, screen_on: bool, width: int, height: int) -> list[Region]:
    """Where every visible source goes for a scene, in a ``width`` × ``height`` program.

    The banner, when set, takes a band along the bottom and the layout fills the rest.
    """
    layout = resolve_layout(scene, screen_on)
    gap = even(height / 60)
    area_h = height - (banner_height(height) if scene.banner else 0)
    ids = [m.source_id for m in scene.stage]
    featured = _featured(scene)
    person = RegionKind.PERSON

    def people(cells: list[tuple[int, int, int, int]], who: list[str]) -> list[Region]:
        return [Region(i, person, *cell) for i, cell in zip(who, cells, strict=False)]

    def strip(who: list[str], top: int, strip_h: int) -> list[Region]:
        who = who[:MAX_STRIP]
        if not who:
            return []
        return people(_cells(len(who), 0, top, width, strip_h, gap, len(who), 1), who)

    if layout is Layout.SOLO:
        return [Region(featured, person, 0, 0, width, even(area_h))] if featured else []
    if layout is Layout.SIDE_BY_SIDE:
        who = ids[:4]
        return people(_cells(len(who), gap, gap, width - 2 * gap, area_h - 2 * gap, gap,
                             len(who), 1), who)  # fmt: skip
    if layout is Layout.GRID:
        who = ids[:MAX_GRID]
        if not who:
            return []
        cols, rows = _grid_shape(len(who))
        return people(_cells(len(who), gap, gap, width - 2 * gap, area_h - 2 * gap, gap,
                             cols, rows), who)  # fmt: skip
    strip_h = even(area_h / 5)
    main_h = area_h - strip_h - gap
    if layout is Layout.SPEAKER:
        if not featured:
            return []
        others = [i for i in ids if i != featured]
        if not others:
            return [Region(featured, person, 0, 0, width, even(area_h))]
        main = _cells(1, 0, 0, width, main_h, gap, 1, 1)[0]
        return [Region(featured, person, *main), *strip(others, main_h + gap, strip_h - gap)]
    if layout is Layout.SCREEN_STRIP:
        if not ids:
            return [Region(SCREEN_ID, RegionKind.SCREEN, 0, 0, width, even(area_h))]
        main = _cells(1, 0, 0, width, main_h, gap, 1, 1)[0]
        return [Region(SCREEN_ID, RegionKind.SCREEN, *main),
                *strip(ids, main_h + gap, strip_h - gap)]  # fmt: skip
    # SCREEN_PIP
    regions = [Region(SCREEN_ID, RegionKind.SCREEN, 0, 0, width, even(area_h))]
    if featured:
        pip_w = even(width * PIP_FRACTION)
        pip_h = even(pip_w * 9 / 16)
        margin = even(width / 64)
        regions.append(
            Region(featured, person, even(width - pip_w - margin),
                   even(area_h - pip_h - margin), pip_w, pip_h)
        )  # fmt: skip
    return regions


def banner_height(height: int) -> int:
    """Height of the banner band for a program ``height`` pixels tall."""
    return even(height / 10)


TICKER_SPEED_PER_S = 0.12
"""How fast the ticker scrolls, in program widths per second (a word stays ~8 s on screen)."""
COMMENT_NAME_BGR = (40, 140, 230)
"""Background of the comment's name line (an orange, BGR)."""
COMMENT_TEXT_BGR = (245, 245, 245)
"""Background of the comment's text line (near white, BGR)."""
TICKER_BGR = (20, 200, 240)
"""Background of the ticker band (a yellow, BGR)."""
OVERLAY_BGRS = (COMMENT_NAME_BGR, COMMENT_TEXT_BGR, TICKER_BGR)
MAX_OVERLAY_ART = 12
"""Comment and ticker pictures kept drawn (the latest ones; dict order is insertion order)."""


def ticker_box(width: int, height: int) -> Region:
    """Where the ticker band goes: along the top, the whole width."""
    return Region("ticker", RegionKind.PERSON, 0, 0, width, even(height / 14))


def comment_boxes(width: int, height: int, banner: bool) -> tuple[Region, Region]:
    """Where a comment's lower third goes: its name line and, under it, its text line.

    Bottom left, above the banner band when there is one, over the people (as on television).
    """
    bottom = height - (banner_height(height) if banner else 0) - even(height / 24)
    name_h, text_h = even(height / 18), even(height / 12)
    x = even(width / 32)
    text_w = even(width * 0.7)
    text = Region("comment-text", RegionKind.PERSON, x, bottom - text_h, text_w, text_h)
    name = Region("comment-name", RegionKind.PERSON, x, text.y - name_h, even(text_w / 2), name_h)
    return name, text


def comment_visible(scene: Scene, now_s: float) -> bool:
    """Whether the scene's comment shows at ``now_s`` (monotonic seconds)."""
    return scene.comment is not None and (
        scene.comment_until_s <= 0 or now_s < scene.comment_until_s
    )


def _crop_to(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """The centred part of a source with the destination's aspect (cover), even coordinates."""
    scale = max(dst_w / src_w, dst_h / src_h)
    w = min(src_w, even(dst_w / scale))
    h = min(src_h, even(dst_h / scale))
    return (src_w - w) // 4 * 2, (src_h - h) // 4 * 2, w, h


def _fit_in(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """Where a source goes inside a region keeping its aspect (contain), even coordinates."""
    scale = min(dst_w / src_w, dst_h / src_h)
    w, h = min(dst_w, even(src_w * scale)), min(dst_h, even(src_h * scale))
    return (dst_w - w) // 4 * 2, (dst_h - h) // 4 * 2, w, h


def _near_crop(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int] | None:
    """The middle of a source that is about 1, 2, 4… times its region, that many times its size.

    Such a source is cut, not resampled: at the region's size (the layer the program asked
    for) it is used as it is; at 2ⁿ times it is then only halved exactly n times: box filters,
    sharp and alias-free, and cheaper — for a 720p guest in a 312×176 tile the last pass on its
    luma is a halving (about 20 µs) instead of a bilinear one (about 75 µs, measured). Every
    simulcast layer of a guest (180p, 360p, 720p) is so framed alike in its tile: a layer
    switch does not zoom the picture. At most :data:`NEAR_SIZE` of the source's width or height
    is lost. None when the source is not near such a size.
    """
    factor = 1
    while dst_w * factor <= src_w and dst_h * factor <= src_h:
        w, h = dst_w * factor, dst_h * factor
        if src_w <= w * NEAR_SIZE and src_h <= h * NEAR_SIZE:
            return (src_w - w) // 4 * 2, (src_h - h) // 4 * 2, w, h
        factor *= 2
    return None


def person_crop(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """The part (x, y, w, h) of a person's ``src_w`` × ``src_h`` frame shown in their region.

    The centred part with the region's aspect; for a frame about 1, 2, 4… times the region's
    size, exactly that multiple (see :func:`_near_crop`), so every simulcast layer of a guest
    (180p, 360p, 720p) is framed alike in a tile.
    """
    return _near_crop(src_w, src_h, dst_w, dst_h) or _crop_to(src_w, src_h, dst_w, dst_h)


def scale(
    image: npt.NDArray[np.uint8], w: int, h: int, out: npt.NDArray[np.uint8] | None = None
) -> npt.NDArray[np.uint8]:
    """Resize a plane (or a packed picture) to ``w`` × ``h`` with little aliasing, cheaply.

    OpenCV's area filter is slow for anything but whole factors (2.9 ms for a 720p plane to
    312×176, measured) and plain bilinear aliases badly past a factor of two. But bilinear at
    exactly one half samples the middle of each 2×2 block, which *is* their average (a box
    filter, bit-identical to INTER_AREA) at bilinear's speed (0.06 ms for a 720p plane). So a
    large shrink halves exactly (on a source cropped by at most a pixel) while the picture is
    still more than :data:`LINEAR_UP_TO` times the target, then finishes bilinear, which
    barely aliases up to that factor (at two it is the same box filter again).

    With ``out`` (a ``h`` × ``w`` view, e.g. a region of the program's plane) the last pass
    writes straight into it, and it is returned.
    """
    while image.shape[1] > LINEAR_UP_TO * w and image.shape[0] > LINEAR_UP_TO * h:
        half_w, half_h = image.shape[1] // 2, image.shape[0] // 2
        image = np.asarray(
            cv2.resize(image[: half_h * 2, : half_w * 2], (half_w, half_h),
                       interpolation=cv2.INTER_LINEAR),
            np.uint8,
        )  # fmt: skip
    if image.shape[1] == w and image.shape[0] == h:
        if out is None:
            return image
        out[:] = image
        return out
    if out is None:
        return np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)
    written = cv2.resize(image, (w, h), dst=out, interpolation=cv2.INTER_LINEAR)
    if written is not out and not np.shares_memory(written, out):
        out[:] = written  # OpenCV chose to allocate (it should not for a matching view)
    return out


@dataclass(slots=True)
class _Drawn:
    """What the program's canvas holds, so the next picture redraws only what changed."""

    static: tuple[object, ...] | None = None
    """Layout, stage, background, banner, plates and logo it was drawn with (None: nothing)."""
    content: list[tuple[object, ...] | None] = field(default_factory=list)
    """Per region: the key of what is drawn there (a source's frame, initials)."""
    shapes: list[tuple[int, int] | None] = field(default_factory=list)
    """Per region: the size of the tile drawn there (a screen may not cover its region)."""


class Compositor:
    """Builds the program picture from the newest frame of each source and the current scene.

    Thread-safe: frames and scene changes may come from any thread; :meth:`compose` is called
    by one thread (the program's video thread) at the output rate.

    Args:
        width: Program width (even).
        height: Program height (even).
    """

    def __init__(self, width: int, height: int) -> None:
        if width % 2 or height % 2 or width < 16 or height < 16:
            raise ValueError("the program size must be even and at least 16")
        self.width = width
        self.height = height
        self._lock = threading.Lock()
        self._scene = Scene()
        self._frames: dict[str, VideoFrame] = {}
        self._art: dict[tuple[object, ...], I420Planes] = {}
        self._base: tuple[tuple[object, ...], npt.NDArray[np.uint8]] | None = None
        # One persistent canvas, drawn in place: a picture only rewrites the regions whose
        # source sent a new frame. (A ring of canvases would need every change copied into
        # each of them in turn — measured: a fifth more work at 1080p.) Readers other than the
        # encoder, which copies each picture on the composing thread, take a copy under the
        # drawing lock (:meth:`latest`).
        self._canvas = np.empty(width * height * 3 // 2, np.uint8)
        self._planes = split_planes(self._canvas, width, height)
        self._drawn = _Drawn()
        self._draw_lock = threading.Lock()
        self._version = 0
        self._layout_cache: tuple[tuple[object, ...], list[Region]] | None = None
        self._regions: tuple[Region, ...] = ()
        self._grab_i420: npt.NDArray[np.uint8] | None = None
        self._camera_i420: npt.NDArray[np.uint8] | None = None
        """Where an NV12 camera frame is converted (once per new frame drawn), kept."""
        self.pictures = 0
        self._ticker_start_s = 0.0
        """When the current ticker text started scrolling (monotonic seconds)."""
        """Pictures composed so far."""

    # -- what the program shows ----------------------------------------------------------------

    @property
    def scene(self) -> Scene:
        """The current scene."""
        return self._scene

    def set_scene(self, scene: Scene) -> None:
        """Replace the whole scene (takes effect on the next picture)."""
        with self._lock:
            self._scene = scene

    def update(self, **changes: object) -> Scene:
        """Change some of the scene's fields (``layout=``, ``stage=``, ``banner=``…)."""
        with self._lock:
            self._scene = replace(self._scene, **changes)  # type: ignore[arg-type]
            return self._scene

    def set_frame(self, source_id: str, frame: VideoFrame | None) -> None:
        """The newest frame of a source (``None`` forgets it: camera gone, share stopped)."""
        with self._lock:
            if frame is None:
                self._frames.pop(source_id, None)
            else:
                self._frames[source_id] = frame

    def has_frame(self, source_id: str) -> bool:
        """Whether a source has delivered a frame that is still shown."""
        with self._lock:
            return source_id in self._frames

    def regions(self) -> tuple[Region, ...]:
        """Where each source was drawn in the latest picture."""
        return self._regions

    @property
    def version(self) -> int:
        """Changes whenever a picture with new content is drawn (0: none yet)."""
        return self._version

    def latest(self) -> npt.NDArray[np.uint8] | None:
        """A copy of the latest picture (flat I420), for monitors; None before the first."""
        with self._draw_lock:
            return self._canvas.copy() if self._version else None

    def planned_regions(self) -> list[Region]:
        """Where each source will go for the current scene (before the next picture)."""
        with self._lock:
            scene, screen_on = self._scene, SCREEN_ID in self._frames
        return layout_regions(scene, screen_on, self.width, self.height)

    # -- composing -----------------------------------------------------------------------------

    def compose(self) -> npt.NDArray[np.uint8]:
        """The program picture for now: flat I420 of ``width`` × ``height``.

        Read-only, and valid until the next call (it is the canvas itself): the encoder copies
        it at once on the same thread; others use :meth:`latest`.

        Only what changed since the previous picture is drawn: the regions whose source sent
        a new frame (scaled straight into their place), and their plates. The background,
        banner and logo are redrawn only when the layout, stage or banner changed.
        """
        with self._lock:
            scene = self._scene
            frames = dict(self._frames)
        regions = self._layout(scene, SCREEN_ID in frames)
        now_s = time.monotonic()
        comment = scene.comment if comment_visible(scene, now_s) else None
        members = {m.source_id: m for m in scene.stage}
        content = [
            self._content_key(r, frames.get(r.source_id), members.get(r.source_id)) for r in regions
        ]
        # Who speaks or is pinned matters only through the regions: a new speaker in a grid
        # redraws nothing.
        static = (tuple(regions), scene.stage, scene.banner, scene.name_plates,
                  scene.background_rgb, id(scene.logo_bgra), comment,
                  scene.ticker)  # fmt: skip
        drawn, planes = self._drawn, self._planes
        # A ticker moves: every picture redraws its band, even when nothing else changed.
        if drawn.static == static and drawn.content == content and not scene.ticker:
            self._regions = tuple(regions)
            self.pictures += 1
            return self._canvas  # nothing moved: the same picture again, no work
        with self._draw_lock:
            self._canvas.flags.writeable = True
            whole = drawn.static != static
            if whole:
                np.copyto(self._canvas, self._base_picture(scene, regions))
                drawn.static = static
                drawn.content = [None] * len(regions)
                drawn.shapes = [None] * len(regions)
            logo_box = self._logo_box(scene.logo_bgra)
            for i, region in enumerate(regions):
                if drawn.content[i] == content[i]:
                    continue
                member = members.get(region.source_id)
                frame = frames.get(region.source_id)
                shape = self._draw_region(planes, scene, region, member, frame, drawn.shapes[i])
                drawn.content[i], drawn.shapes[i] = content[i], shape
                if (region.kind is RegionKind.PERSON and scene.name_plates and member is not None
                        and member.name):  # fmt: skip
                    self._draw_plate(planes, region, member.name)
                if scene.logo_bgra is not None and not whole and _overlaps(region, logo_box):
                    self._draw_logo(planes, scene.logo_bgra, clip=region)
            if scene.logo_bgra is not None and whole:
                self._draw_logo(planes, scene.logo_bgra)
            # Overlays go on last, over whatever was redrawn under them.
            if comment is not None:
                self._draw_comment(planes, comment, bool(scene.banner))
            if scene.ticker:
                self._draw_ticker(planes, scene.ticker, now_s)
            self._canvas.flags.writeable = False
            self._version += 1
        self._regions = tuple(regions)
        self.pictures += 1
        return self._canvas

    def _layout(self, scene: Scene, screen_on: bool) -> list[Region]:
        # Regions depend on a few fields of the scene only; worked out once per change.
        key = (scene.layout, tuple(m.source_id for m in scene.stage), scene.pinned,
               scene.active_speaker, bool(scene.banner), screen_on)  # fmt: skip
        if self._layout_cache is None or self._layout_cache[0] != key:
            self._layout_cache = (key, layout_regions(scene, screen_on, self.width, self.height))
        return self._layout_cache[1]

    @staticmethod
    def _content_key(
        region: Region, frame: VideoFrame | None, member: StageMember | None
    ) -> tuple[object, ...]:
        """What a region shows: a source's frame (and the region's size), or initials."""
        if region.kind is RegionKind.PERSON and (member is None or not member.camera_on):
            return ("off",)
        if frame is None:
            return ("none",)
        return (frame.sequence, frame.timestamp_us, frame.width, frame.height)

    def _draw_region(
        self,
        planes: I420Planes,
        scene: Scene,
        region: Region,
        member: StageMember | None,
        frame: VideoFrame | None,
        shape_before: tuple[int, int] | None,
    ) -> tuple[int, int] | None:
        """Draw one region's source (or initials); returns the size of what covers it."""
        if region.kind is RegionKind.SCREEN or (member is not None and member.camera_on
                                                and frame is not None):  # fmt: skip
            if frame is None:
                self._fill(planes, region, scene.background_rgb)
                return None
            shape = self._scaled_size(frame, region)
            if shape != (region.width, region.height) and shape != shape_before:
                # A letterboxed screen of a new size: clear what the old one covered.
                self._fill(planes, region, scene.background_rgb)
            x = region.x + (region.width - shape[0]) // 4 * 2
            y = region.y + (region.height - shape[1]) // 4 * 2
            self._scale_into(planes, frame, region, x, y, shape)
            return shape
        name = member.name if member else region.source_id
        self._blit(planes, self._initials_art(name, region.width, region.height),
                   region.x, region.y)  # fmt: skip
        return (region.width, region.height)

    def _fill(self, planes: I420Planes, region: Region, rgb: tuple[int, int, int]) -> None:
        for plane, value, div in zip(planes, rgb_to_yuv(rgb), (1, 2, 2), strict=True):
            plane[region.y // div : (region.y + region.height) // div,
                  region.x // div : (region.x + region.width) // div] = value  # fmt: skip

    def _base_picture(self, scene: Scene, regions: list[Region]) -> npt.NDArray[np.uint8]:
        # Background and banner never change between scene changes: drawn once, copied after.
        key = (scene.background_rgb, scene.banner)
        if self._base is not None and self._base[0] == key:
            return self._base[1]
        y_val, u_val, v_val = rgb_to_yuv(scene.background_rgb)
        base = np.empty(self.width * self.height * 3 // 2, np.uint8)
        y, u, v = split_planes(base, self.width, self.height)
        y[:], u[:], v[:] = y_val, u_val, v_val
        if scene.banner:
            band_h = banner_height(self.height)
            art = self._text_art(scene.banner, self.width, band_h, (40, 40, 200), (255, 255, 255))
            self._blit((y, u, v), art, 0, self.height - band_h)
        self._base = (key, base)
        return base

    @staticmethod
    def _scaled_size(frame: VideoFrame, region: Region) -> tuple[int, int]:
        """Size of a source in its region: people fill it (cropped), a screen fits whole."""
        if region.kind is RegionKind.SCREEN:
            _, _, w, h = _fit_in(frame.width, frame.height, region.width, region.height)
            return w, h
        return region.width, region.height

    def _scale_into(
        self,
        planes: I420Planes,
        frame: VideoFrame,
        region: Region,
        x: int,
        y: int,
        shape: tuple[int, int],
    ) -> None:
        """Scale a source's frame straight into the canvas at (x, y), plane by plane."""
        w, h = shape
        if region.kind is RegionKind.SCREEN:
            crop = (0, 0, frame.width, frame.height)
        else:
            crop = person_crop(frame.width, frame.height, w, h)
        cx, cy, cw, ch = crop
        if frame.format is PixelFormat.BGRA:
            # A screen grab: converted once per new grab, then scaled as planes (1.5 bytes a
            # pixel) — cheaper than scaling the 4-byte pixels first (measured).
            bgra = frame.data.reshape(frame.height, frame.width, 4)[cy : cy + ch, cx : cx + cw]
            # Into a buffer kept for the next grab rather than 3 MB fresh each time (no
            # measurable change where malloc hands the freed block back; safe where not).
            if self._grab_i420 is None or self._grab_i420.shape != (ch * 3 // 2, cw):
                self._grab_i420 = np.empty((ch * 3 // 2, cw), np.uint8)
            cv2.cvtColor(np.ascontiguousarray(bgra), cv2.COLOR_BGRA2YUV_I420, dst=self._grab_i420)
            src = split_planes(self._grab_i420.reshape(-1), cw, ch)
            cx = cy = 0
        else:
            if frame.format is PixelFormat.NV12:
                # A camera's frame as it delivered it: into I420 planes here, for this picture
                # only (the publisher hands NV12 on as is).
                size = frame.width * frame.height * 3 // 2
                if self._camera_i420 is None or self._camera_i420.size != size:
                    self._camera_i420 = np.empty(size, np.uint8)
                frame = as_i420(frame, self._camera_i420)
            src = split_planes(frame.data, frame.width, frame.height)
        dst_y, dst_u, dst_v = planes
        scale(src[0][cy : cy + ch, cx : cx + cw], w, h, out=dst_y[y : y + h, x : x + w])
        cx2, cy2, cw2, ch2 = cx // 2, cy // 2, cw // 2, ch // 2
        x2, y2, w2, h2 = x // 2, y // 2, w // 2, h // 2
        for plane, dst in ((src[1], dst_u), (src[2], dst_v)):
            scale(plane[cy2 : cy2 + ch2, cx2 : cx2 + cw2], w2, h2, dst[y2 : y2 + h2, x2 : x2 + w2])

    @staticmethod
    def _blit(planes: I420Planes, art: I420Planes, x: int, y: int) -> None:
        for i, (dst, src) in enumerate(zip(planes, art, strict=True)):
            div = 1 if i == 0 else 2
            px, py = x // div, y // div
            h = min(src.shape[0], dst.shape[0] - py)
            w = min(src.shape[1], dst.shape[1] - px)
            if h > 0 and w > 0:
                dst[py : py + h, px : px + w] = src[:h, :w]

    def _draw_plate(self, planes: I420Planes, region: Region, name: str) -> None:
        plate_h = even(max(18, min(region.height / 7, self.height / 14)))
        if plate_h * 2 > region.height:
            return  # a tile too small for a readable plate
        art = self._plate_art(name, region.width, plate_h)
        margin = even(plate_h / 3)
        self._blit(planes, art, region.x + margin, region.y + region.height - plate_h - margin)

    def _draw_comment(self, planes: I420Planes, comment: tuple[str, str], banner: bool) -> None:
        """A viewer's comment as a lower third: their name on a coloured line, the text under."""
        name_box, text_box = comment_boxes(self.width, self.height, banner)
        name, text = comment
        self._forget_overlay_art()
        name_art = self._text_art(name or "Viewer", name_box.width, name_box.height,
                                  COMMENT_NAME_BGR, (255, 255, 255))  # fmt: skip
        text_art = self._text_art(text, text_box.width, text_box.height, COMMENT_TEXT_BGR,
                                  (20, 20, 20))  # fmt: skip
        self._blit(planes, name_art, name_box.x, name_box.y)
        self._blit(planes, text_art, text_box.x, text_box.y)

    def _forget_overlay_art(self) -> None:
        """Forget all but the latest comments' and tickers' pictures: viewers write new things
        all show long, and each would otherwise stay cached."""
        overlay = [k for k in self._art if k[0] == "ticker"
                   or (k[0] == "text" and len(k) == 6 and k[4] in OVERLAY_BGRS)]  # fmt: skip
        for stale in overlay[: max(0, len(overlay) - MAX_OVERLAY_ART)]:
            del self._art[stale]

    def _draw_ticker(self, planes: I420Planes, text: str, now_s: float) -> None:
        """The ticker band, its text moved left by how long it has been showing."""
        box = ticker_box(self.width, self.height)
        key = ("ticker", text, self.width, box.height)
        cached = self._art.get(key)
        if cached is None:
            self._forget_overlay_art()
            # The text and half a screen of gap, drawn once; shown through a moving window
            # over two copies of it so the text wraps around without a seam.
            scale = box.height / 40
            (text_w, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
            one = max(self.width, even(text_w + self.width / 2))
            y, u, v = self._text_art(text, one, box.height, TICKER_BGR, (20, 20, 20))
            cached = (np.hstack((y, y)), np.hstack((u, u)), np.hstack((v, v)))
            self._art[key] = cached
            self._ticker_start_s = now_s
        strip = cached
        one = strip[0].shape[1] // 2
        offset = even((now_s - self._ticker_start_s) * TICKER_SPEED_PER_S * self.width) % one
        visible = min(self.width, one)
        window = (
            strip[0][:, offset : offset + visible],
            strip[1][:, offset // 2 : (offset + visible) // 2],
            strip[2][:, offset // 2 : (offset + visible) // 2],
        )
        self._blit(planes, window, box.x, box.y)

    def _plate_art(self, name: str, max_w: int, plate_h: int) -> I420Planes:
        key = ("plate", name, max_w, plate_h)
        art = self._art.get(key)
        if art is None:
            scale = plate_h / 40
            (text_w, _), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
            width = even(min(max_w * 2 / 3, text_w + plate_h))
            art = self._text_art(name, width, plate_h, (30, 30, 30), (255, 255, 255))
            self._art[key] = art
        return art

    def _text_art(
        self,
        text: str,
        width: int,
        height: int,
        bg_bgr: tuple[int, int, int],
        fg_bgr: tuple[int, int, int],
    ) -> I420Planes:
        key = ("text", text, width, height, bg_bgr, fg_bgr)
        art = self._art.get(key)
        if art is None:
            bgr = np.full((height, width, 3), bg_bgr, np.uint8)
            scale = height / 40
            (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
            # Long text is shrunk to fit rather than cut.
            if text_w > width - height // 2:
                scale *= (width - height // 2) / max(1, text_w)
                (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
            origin = (height // 4, (height + text_h) // 2)
            cv2.putText(bgr, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, fg_bgr, 2, cv2.LINE_AA)
            art = bgr_to_planes(bgr)
            self._art[key] = art
        return art

    def _initials_art(self, name: str, width: int, height: int) -> I420Planes:
        key = ("initials", name, width, height)
        art = self._art.get(key)
        if art is None:
            bgr = np.full((height, width, 3), (45, 40, 38), np.uint8)
            radius = max(4, min(width, height) // 4)
            centre = (width // 2, height // 2)
            cv2.circle(bgr, centre, radius, _name_colour(name), -1, cv2.LINE_AA)
            text = initials(name)
            scale = radius / 28
            (text_w, text_h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
            origin = (centre[0] - text_w // 2, centre[1] + text_h // 2)
            cv2.putText(bgr, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2,
                        cv2.LINE_AA)  # fmt: skip
            art = bgr_to_planes(bgr)
            self._art[key] = art
        return art

    def _logo_box(self, logo_bgra: npt.NDArray[np.uint8] | None) -> tuple[int, int, int, int]:
        """Where the logo goes (x, y, w, h); empty without a logo."""
        if logo_bgra is None:
            return (0, 0, 0, 0)
        target_w = even(self.width / 8)
        target_h = even(logo_bgra.shape[0] * target_w / logo_bgra.shape[1])
        margin = even(self.width / 64)
        return (even(self.width - target_w - margin), margin, target_w, target_h)

    def _draw_logo(
        self, planes: I420Planes, logo_bgra: npt.NDArray[np.uint8], clip: Region | None = None
    ) -> None:
        key = ("logo", id(logo_bgra), self.width)
        cached = self._art.get(key)
        if cached is None:
            target_w = even(self.width / 8)
            target_h = even(logo_bgra.shape[0] * target_w / logo_bgra.shape[1])
            scaled = np.asarray(cv2.resize(logo_bgra, (target_w, target_h),
                                           interpolation=cv2.INTER_AREA), np.uint8)  # fmt: skip
            colour = bgr_to_planes(np.ascontiguousarray(scaled[:, :, :3]))
            alpha = scaled[:, :, 3]
            alpha_c = np.asarray(cv2.resize(alpha, (target_w // 2, target_h // 2),
                                            interpolation=cv2.INTER_AREA), np.uint8)  # fmt: skip
            # Alpha is stored as a fourth "plane" pair: full size for Y, quarter for U and V.
            cached = (*colour[:1], colour[1], colour[2])
            self._art[key] = cached
            self._art[(*key, "alpha")] = (alpha, alpha_c, alpha_c)
        alpha_planes = self._art[(*key, "alpha")]
        x, y, logo_w, logo_h = self._logo_box(logo_bgra)
        # Only inside ``clip`` (a region just redrawn): elsewhere the logo is already there, and
        # blending it twice would darken its soft edges.
        x0, y0, x1, y1 = x, y, x + logo_w, y + logo_h
        if clip is not None:
            x0, y0 = max(x0, clip.x), max(y0, clip.y)
            x1, y1 = min(x1, clip.x + clip.width), min(y1, clip.y + clip.height)
            if x1 <= x0 or y1 <= y0:
                return
        for i, (dst, src, alpha) in enumerate(zip(planes, cached, alpha_planes, strict=True)):
            div = 1 if i == 0 else 2
            area = dst[y0 // div : y1 // div, x0 // div : x1 // div]
            sy, sx = (y0 - y) // div, (x0 - x) // div
            part = src[sy : sy + area.shape[0], sx : sx + area.shape[1]]
            a = alpha[sy : sy + area.shape[0], sx : sx + area.shape[1]].astype(np.uint16)
            area[:] = ((part * a + area * (255 - a)) // 255).astype(np.uint8)
