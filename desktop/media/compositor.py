"""The program picture: host, guests and screen composed in a layout, in I420, at a fixed size.

The encoder wants I420, cameras and remote guests deliver I420, so the picture is built plane
by plane (Y at full size, U and V at quarter size) and never goes through BGR: each source is
scaled once per *new* frame into its region (an unchanged source reuses its scaled planes), and
everything that does not move — background, name plates, initials, banner, logo — is drawn once
into cached I420 patches and only copied afterwards. A screen grabbed as BGRA is converted once
per new grab, at its region's size.

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
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import numpy.typing as npt

from desktop.media.frames import PixelFormat, VideoFrame

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
"""A person's frame at most this much larger than their region is cropped, not scaled."""
PICTURE_RING = 4
"""Program pictures kept in rotation; each is rewritten this many pictures later."""
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
    background_rgb: tuple[int, int, int] = (16, 18, 24)
    """Colour behind and between the regions."""
    logo_bgra: npt.NDArray[np.uint8] | None = field(default=None, compare=False)
    """An (h, w, 4) BGRA logo drawn in the top right corner, or None."""


@dataclass(frozen=True, slots=True)
class _Tile:
    planes: I420Planes
    key: tuple[object, ...]


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


def scale(image: npt.NDArray[np.uint8], w: int, h: int) -> npt.NDArray[np.uint8]:
    """Resize a plane (or a packed picture) to ``w`` × ``h`` with little aliasing, cheaply.

    OpenCV's area filter is fast for an exact halving (0.1 ms for a 720p plane) and slow for
    anything else (0.6 ms for a quarter, 2 ms for a non-whole factor, 20 ms for a 1080p BGRA
    screen). So a large shrink halves exactly (2×2 averages, on a source cropped by at most a
    pixel) while the picture is still at least twice the target, then finishes bilinear, which
    is accurate for factors under two.
    """
    while image.shape[1] >= 2 * w and image.shape[0] >= 2 * h:
        half_w, half_h = image.shape[1] // 2, image.shape[0] // 2
        image = np.asarray(
            cv2.resize(image[: half_h * 2, : half_w * 2], (half_w, half_h),
                       interpolation=cv2.INTER_AREA),
            np.uint8,
        )  # fmt: skip
    if image.shape[1] == w and image.shape[0] == h:
        return image
    return np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)


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
        self._tiles: dict[str, _Tile] = {}
        self._art: dict[tuple[object, ...], I420Planes] = {}
        self._base: tuple[tuple[object, ...], npt.NDArray[np.uint8]] | None = None
        self._last: tuple[tuple[object, ...], npt.NDArray[np.uint8]] | None = None
        self._latest: npt.NDArray[np.uint8] | None = None
        # Pictures are drawn into a small ring of buffers instead of fresh allocations: a new
        # 3 MB array per picture costs page faults every time (measured: a third of the work).
        self._ring = [np.empty(width * height * 3 // 2, np.uint8) for _ in range(PICTURE_RING)]
        self._ring_next = 0
        self._regions: tuple[Region, ...] = ()
        self.pictures = 0
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
                self._tiles.pop(source_id, None)
            else:
                self._frames[source_id] = frame

    def has_frame(self, source_id: str) -> bool:
        """Whether a source has delivered a frame that is still shown."""
        with self._lock:
            return source_id in self._frames

    def regions(self) -> tuple[Region, ...]:
        """Where each source was drawn in the latest picture."""
        return self._regions

    def latest(self) -> npt.NDArray[np.uint8] | None:
        """The latest picture (flat I420), for monitors.

        It stays unchanged for the next ``PICTURE_RING - 1`` pictures (over 100 ms at 30 fps):
        copy or convert it at once, never keep it.
        """
        return self._latest

    def planned_regions(self) -> list[Region]:
        """Where each source will go for the current scene (before the next picture)."""
        with self._lock:
            scene, screen_on = self._scene, SCREEN_ID in self._frames
        return layout_regions(scene, screen_on, self.width, self.height)

    # -- composing -----------------------------------------------------------------------------

    def compose(self) -> npt.NDArray[np.uint8]:
        """The program picture for now: flat I420 of ``width`` × ``height``.

        Read-only, and valid until ``PICTURE_RING - 1`` more pictures are composed: the encoder
        copies it at once; anything slower must copy it.
        """
        with self._lock:
            scene = self._scene
            frames = dict(self._frames)
        regions = layout_regions(scene, SCREEN_ID in frames, self.width, self.height)
        members = {m.source_id: m for m in scene.stage}
        frame_keys = tuple(
            (r.source_id, self._frame_key(frames.get(r.source_id), members.get(r.source_id)))
            for r in regions
        )
        key = (scene.layout, scene.stage, scene.pinned, scene.active_speaker, scene.banner,
               scene.name_plates, scene.background_rgb, id(scene.logo_bgra), tuple(regions),
               frame_keys)  # fmt: skip
        if self._last is not None and self._last[0] == key:
            picture = self._last[1]  # nothing moved: the same picture again, no work
        else:
            picture = self._ring[self._ring_next]
            self._ring_next = (self._ring_next + 1) % PICTURE_RING
            picture.flags.writeable = True
            np.copyto(picture, self._base_picture(scene, regions))
            planes = split_planes(picture, self.width, self.height)
            for region in regions:
                member = members.get(region.source_id)
                frame = frames.get(region.source_id)
                if region.kind is RegionKind.SCREEN or (member is not None and member.camera_on
                                                        and frame is not None):  # fmt: skip
                    if frame is not None:
                        self._draw_frame(planes, region, frame)
                else:
                    name = member.name if member else region.source_id
                    self._blit(planes, self._initials_art(name, region.width, region.height),
                               region.x, region.y)  # fmt: skip
                if (region.kind is RegionKind.PERSON and scene.name_plates and member is not None
                        and member.name):  # fmt: skip
                    self._draw_plate(planes, region, member.name)
            if scene.logo_bgra is not None:
                self._draw_logo(planes, scene.logo_bgra)
            picture.flags.writeable = False
            self._last = (key, picture)
        self._regions = tuple(regions)
        self._latest = picture
        self.pictures += 1
        return picture

    @staticmethod
    def _frame_key(frame: VideoFrame | None, member: StageMember | None) -> tuple[object, ...]:
        if member is not None and not member.camera_on:
            return ("off",)
        if frame is None:
            return ("none",)
        return (frame.sequence, frame.timestamp_us, frame.width, frame.height)

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

    def _draw_frame(self, planes: I420Planes, region: Region, frame: VideoFrame) -> None:
        key = (frame.sequence, frame.timestamp_us, frame.width, frame.height, region.width,
               region.height, region.kind)  # fmt: skip
        tile = self._tiles.get(region.source_id)
        if tile is None or tile.key != key:
            tile = _Tile(self._scale(frame, region), key)
            self._tiles[region.source_id] = tile
        y_tile = tile.planes[0]
        # People fill their region (cropped); a screen is fitted whole (letterboxed).
        off_x = (region.width - y_tile.shape[1]) // 4 * 2
        off_y = (region.height - y_tile.shape[0]) // 4 * 2
        self._blit(planes, tile.planes, region.x + off_x, region.y + off_y)

    def _scale(self, frame: VideoFrame, region: Region) -> I420Planes:
        if region.kind is RegionKind.SCREEN:
            _, _, w, h = _fit_in(frame.width, frame.height, region.width, region.height)
            crop = (0, 0, frame.width, frame.height)
        else:
            w, h = region.width, region.height
            crop = _crop_to(frame.width, frame.height, w, h)
            if w <= frame.width <= w * NEAR_SIZE and h <= frame.height <= h * NEAR_SIZE:
                # A source already about the region's size (the layer asked for): cut the
                # middle out instead of resampling it, which would cost and blur.
                crop = ((frame.width - w) // 4 * 2, (frame.height - h) // 4 * 2, w, h)
        cx, cy, cw, ch = crop
        if frame.format is PixelFormat.BGRA:
            # A screen grab: converted once per new grab, then scaled as planes (1.5 bytes a
            # pixel) — cheaper than scaling the 4-byte pixels first (measured).
            bgra = frame.data.reshape(frame.height, frame.width, 4)[cy : cy + ch, cx : cx + cw]
            yuv = cv2.cvtColor(np.ascontiguousarray(bgra), cv2.COLOR_BGRA2YUV_I420)
            src = split_planes(np.asarray(yuv, np.uint8).reshape(-1), cw, ch)
            cx = cy = 0
        else:
            src = split_planes(frame.data, frame.width, frame.height)
        y = scale(src[0][cy : cy + ch, cx : cx + cw], w, h)
        u = scale(src[1][cy // 2 : (cy + ch) // 2, cx // 2 : (cx + cw) // 2], w // 2, h // 2)
        v = scale(src[2][cy // 2 : (cy + ch) // 2, cx // 2 : (cx + cw) // 2], w // 2, h // 2)
        return y, u, v

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

    def _draw_logo(self, planes: I420Planes, logo_bgra: npt.NDArray[np.uint8]) -> None:
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
        margin = even(self.width / 64)
        x = even(self.width - cached[0].shape[1] - margin)
        y = margin
        for i, (dst, src, alpha) in enumerate(zip(planes, cached, alpha_planes, strict=True)):
            div = 1 if i == 0 else 2
            px, py = x // div, y // div
            h, w = src.shape
            area = dst[py : py + h, px : px + w]
            a = alpha.astype(np.uint16)
            area[:] = ((src * a + area * (255 - a)) // 255).astype(np.uint8)
