"""The compositor read back as pictures: each guest's colour in its region, for every layout."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from desktop.media.compositor import (
    MAX_GRID,
    SCREEN_ID,
    Compositor,
    Layout,
    RegionKind,
    StageMember,
    banner_height,
    initials,
    layout_regions,
    person_crop,
    split_planes,
)
from desktop.media.frames import PixelFormat, VideoFrame
from tests.fixtures.program import close_to, region_colour, solid_frame

COLOURS = [
    (220, 40, 40), (40, 200, 60), (50, 80, 230), (230, 200, 30), (200, 50, 200),
    (30, 200, 200), (240, 140, 30), (120, 60, 20), (250, 250, 250), (90, 90, 90),
]  # fmt: skip
SCREEN_RGB = (180, 120, 240)


def to_rgb(picture: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    yuv = picture.reshape(height * 3 // 2, width)
    return np.asarray(cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420), np.uint8)


def stage_of(count: int) -> tuple[StageMember, ...]:
    return tuple(StageMember(f"g{i}", f"Guest {i}") for i in range(count))


def bgra_screen(width: int, height: int) -> VideoFrame:
    bgra = np.empty((height, width, 4), np.uint8)
    bgra[:] = (SCREEN_RGB[2], SCREEN_RGB[1], SCREEN_RGB[0], 255)
    return VideoFrame(bgra.reshape(-1), width, height, PixelFormat.BGRA, 1, 1)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
@pytest.mark.parametrize(
    ("layout", "count", "screen"),
    [
        (Layout.SOLO, 1, False),
        (Layout.SIDE_BY_SIDE, 2, False),
        (Layout.SIDE_BY_SIDE, 3, False),
        (Layout.GRID, 4, False),
        (Layout.GRID, 9, False),
        (Layout.SPEAKER, 4, False),
        (Layout.SCREEN_STRIP, 4, True),
        (Layout.SCREEN_PIP, 2, True),
        (Layout.AUTO, 5, False),
        (Layout.AUTO, 3, True),
    ],
)
def test_each_source_is_seen_in_its_region(
    layout: Layout, count: int, screen: bool, size: tuple[int, int]
) -> None:
    width, height = size
    compositor = Compositor(width, height)
    compositor.update(layout=layout, stage=stage_of(count))
    for i in range(count):
        # Guests arrive at various sizes (whatever layer the SFU sends).
        compositor.set_frame(f"g{i}", solid_frame(640 + 320 * (i % 2), 360 + 180 * (i % 2),
                                                  COLOURS[i]))  # fmt: skip
    if screen:
        compositor.set_frame(SCREEN_ID, bgra_screen(1920, 1080))
    rgb = to_rgb(compositor.compose(), width, height)
    regions = compositor.regions()
    people = [r for r in regions if r.kind is RegionKind.PERSON]
    shown = {"solo": 1, "screen+pip": 1}.get(layout.value, count)
    assert len(people) == shown
    for region in people:
        index = int(region.source_id[1:])
        assert close_to(region_colour(rgb, region), COLOURS[index]), (region, layout)
    if screen:
        (screen_region,) = [r for r in regions if r.kind is RegionKind.SCREEN]
        assert close_to(region_colour(rgb, screen_region), SCREEN_RGB)
    # Regions never overlap, except the picture-in-picture on top of the screen.
    if layout is not Layout.SCREEN_PIP and not (layout is Layout.AUTO and screen and count == 1):
        for a in regions:
            for b in regions:
                if a is not b:
                    assert (a.x + a.width <= b.x or b.x + b.width <= a.x
                            or a.y + a.height <= b.y or b.y + b.height <= a.y)  # fmt: skip


def test_speaker_layout_follows_the_pin_then_the_active_speaker() -> None:
    compositor = Compositor(1280, 720)
    compositor.update(layout=Layout.SPEAKER, stage=stage_of(3), active_speaker="g2")
    for i in range(3):
        compositor.set_frame(f"g{i}", solid_frame(640, 360, COLOURS[i]))
    compositor.compose()
    largest = max(compositor.regions(), key=lambda r: r.width * r.height)
    assert largest.source_id == "g2"
    compositor.update(pinned="g1")
    rgb = to_rgb(compositor.compose(), 1280, 720)
    largest = max(compositor.regions(), key=lambda r: r.width * r.height)
    assert largest.source_id == "g1"
    assert close_to(region_colour(rgb, largest), COLOURS[1])


def test_grid_shows_at_most_nine() -> None:
    regions = layout_regions(
        Compositor(1920, 1080).scene.__class__(layout=Layout.GRID, stage=stage_of(10)),
        False, 1920, 1080,
    )  # fmt: skip
    assert len(regions) == MAX_GRID
    assert "g9" not in {r.source_id for r in regions}


def test_camera_off_shows_initials_not_the_last_picture() -> None:
    compositor = Compositor(1280, 720)
    compositor.update(layout=Layout.SOLO, stage=(StageMember("g0", "Ada Lovelace"),))
    compositor.set_frame("g0", solid_frame(640, 360, COLOURS[0]))
    compositor.compose()
    compositor.update(stage=(StageMember("g0", "Ada Lovelace", camera_on=False),))
    rgb = to_rgb(compositor.compose(), 1280, 720)
    (region,) = compositor.regions()
    # The centre is the initials' disc, not the guest's red picture; white letters are on it.
    assert not close_to(region_colour(rgb, region), COLOURS[0], 60)
    cx, cy = region.center
    disc = rgb[cy - region.height // 4 : cy + region.height // 4,
               cx - region.height // 4 : cx + region.height // 4]  # fmt: skip
    assert (disc.min(axis=2) > 230).mean() > 0.03  # letters
    assert initials("Ada Lovelace") == "AL" and initials("") == "?" and initials("bob") == "BO"


def test_name_plates_banner_and_logo_are_drawn() -> None:
    compositor = Compositor(1280, 720)
    compositor.update(layout=Layout.SOLO, stage=(StageMember("g0", "Grace Hopper"),))
    compositor.set_frame("g0", solid_frame(1280, 720, (40, 200, 60)))
    plain = to_rgb(compositor.compose(), 1280, 720)
    logo = np.zeros((64, 128, 4), np.uint8)
    logo[:] = (0, 0, 255, 255)  # opaque red (BGRA)
    compositor.update(banner="Episode 12: compilers", logo_bgra=logo)
    rgb = to_rgb(compositor.compose(), 1280, 720)
    band = rgb[720 - banner_height(720) :, :]
    assert (band.min(axis=2) > 230).mean() > 0.02  # white banner text
    assert close_to(tuple(np.median(band.reshape(-1, 3), axis=0).astype(int)), (200, 40, 40), 40)
    (region,) = compositor.regions()
    assert region.height == 720 - banner_height(720)  # the layout moved up for the banner
    # Name plate: a dark box with white letters in the lower left of the region.
    plate = plain[658:702, 18:160]
    assert (plate.max(axis=2) < 60).mean() > 0.3 and (plate.min(axis=2) > 230).mean() > 0.01
    corner = rgb[0:80, 1100:1280]
    assert ((corner[:, :, 0] > 200) & (corner[:, :, 1] < 60)).mean() > 0.3  # the red logo


def test_an_unchanged_scene_costs_no_work() -> None:
    compositor = Compositor(1280, 720)
    compositor.update(layout=Layout.GRID, stage=stage_of(4))
    for i in range(4):
        compositor.set_frame(f"g{i}", solid_frame(640, 360, COLOURS[i], sequence=1))
    first = compositor.compose().copy()
    version = compositor.version
    assert np.array_equal(compositor.compose(), first)
    assert compositor.version == version  # nothing was drawn
    compositor.set_frame("g0", solid_frame(640, 360, COLOURS[5], sequence=2))
    second = compositor.compose()
    assert compositor.version == version + 1
    rgb = to_rgb(second, 1280, 720)
    region = next(r for r in compositor.regions() if r.source_id == "g0")
    assert close_to(region_colour(rgb, region), COLOURS[5])


def test_the_benchmark_times_the_same_work_on_both_sides() -> None:
    """Benchmark 8 compares like with like: the same frames give the same picture both ways."""
    from benchmarks.program import HEIGHT, WIDTH, Obvious, Ours, sources

    feed = sources(640, 360)
    ours, obvious = Ours(feed), Obvious(feed)
    for n in range(3):  # new guest frames each picture, a new screen every other one
        mine = to_rgb(ours.picture(n), WIDTH, HEIGHT)
        theirs = to_rgb(obvious.picture(n), WIDTH, HEIGHT)
        for region in ours.compositor.regions():
            x0, y0 = region.x + 8, region.y + 8
            top = region.y + region.height * 2 // 3  # above the name plates (drawn differently)
            x1 = region.x + region.width - 8
            # Each region shows the same source, scaled the same size into the same place.
            # Compared at an eighth of the size: the filters differ in detail (ours averages
            # before it shrinks, theirs samples; both show the same part of each person).
            a, b = (
                cv2.resize(np.ascontiguousarray(p[y0:top, x0:x1], np.uint8),
                           ((x1 - x0) // 8, (top - y0) // 8),
                           interpolation=cv2.INTER_AREA).astype(np.int16)
                for p in (mine, theirs)
            )  # fmt: skip
            assert np.abs(a - b).mean() < 6, (n, region.source_id, np.abs(a - b).mean())


@pytest.mark.parametrize("guest_size", [(320, 180), (1280, 720)])
def test_the_benchmark_makes_the_same_planes_for_every_guest_layer(
    guest_size: tuple[int, int],
) -> None:
    """Both rows of benchmark 8 (the strip's layer and 720p guests) give the encoder the same
    I420 picture both ways, plane by plane (compared as planes: theirs is a 4:1 bilinear
    sample of noisy texture, whose RGB round trip clips more than our box average does)."""
    from benchmarks.program import HEIGHT, WIDTH, Obvious, Ours, sources

    feed = sources(*guest_size)
    ours, obvious = Ours(feed), Obvious(feed)
    for n in range(2):  # a new screen, then guests only
        mine = split_planes(ours.picture(n).copy(), WIDTH, HEIGHT)
        theirs = split_planes(obvious.picture(n), WIDTH, HEIGHT)
        for region in ours.compositor.regions():
            x0, y0 = region.x + 8, region.y + 8
            top = region.y + region.height * 2 // 3  # above the name plates (drawn differently)
            x1 = region.x + region.width - 8
            for i, (p, q) in enumerate(zip(mine, theirs, strict=True)):
                d = 1 if i == 0 else 2
                a, b = (
                    cv2.resize(np.ascontiguousarray(z[y0 // d : top // d, x0 // d : x1 // d]),
                               ((x1 - x0) // 8, (top - y0) // 8),
                               interpolation=cv2.INTER_AREA).astype(np.int16)
                    for z in (p, q)
                )  # fmt: skip
                assert np.abs(a - b).mean() < 6, (n, region.source_id, i, np.abs(a - b).mean())


def _bars(width: int, height: int) -> VideoFrame:
    """Smooth vertical and horizontal bars (16 px apart in a 312-wide tile), as I420."""
    xs = np.arange(1280, dtype=np.float32)[None, :]
    ys = np.arange(720, dtype=np.float32)[:, None]
    grey = 128 + 60 * np.sin(xs * 2 * np.pi / 64) + 40 * np.sin(ys * 2 * np.pi / 48)
    bgr = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    layer = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)  # a simulcast layer
    i420 = np.ascontiguousarray(cv2.cvtColor(layer, cv2.COLOR_BGR2YUV_I420), np.uint8).reshape(-1)
    return VideoFrame(i420, width, height, PixelFormat.I420, 1, 1)


def test_every_simulcast_layer_of_a_guest_is_framed_alike() -> None:
    """A guest's 180p, 360p and 720p layers show the same part of them in a 312×176 tile (a
    layer switch by the SFU does not zoom the picture), and the 720p one is a clean 4:1 box
    average of that part, not a blur or an aliased sample."""
    tiles = {}
    for width, height in ((320, 180), (640, 360), (1280, 720)):
        compositor = Compositor(1920, 1080)
        compositor.update(layout=Layout.SCREEN_STRIP, stage=stage_of(4), name_plates=False,
                          banner="On air")  # fmt: skip
        compositor.set_frame(SCREEN_ID, bgra_screen(1920, 1080))
        for i in range(4):
            compositor.set_frame(f"g{i}", _bars(width, height))
        y, _, _ = split_planes(compositor.compose(), 1920, 1080)
        region = next(r for r in compositor.regions() if r.source_id == "g0")
        assert (region.width, region.height) == (312, 176)
        tiles[width] = y[region.y : region.y + 176, region.x : region.x + 312].astype(np.int16)
    for width in (640, 1280):
        assert np.abs(tiles[width] - tiles[320]).mean() < 2, width

    # Pixel noise: any sampling short of averaging every pixel of each 4×4 block shows.
    noise = np.random.default_rng(7).integers(0, 256, 1280 * 720 * 3 // 2, dtype=np.uint8)
    compositor.set_frame("g0", VideoFrame(noise, 1280, 720, PixelFormat.I420, 2, 2))
    shown = split_planes(compositor.compose(), 1920, 1080)
    cx, cy, cw, ch = person_crop(1280, 720, 312, 176)
    for i, (plane, source) in enumerate(zip(shown, split_planes(noise, 1280, 720), strict=True)):
        d = 1 if i == 0 else 2
        box = cv2.resize(source[cy // d : (cy + ch) // d, cx // d : (cx + cw) // d],
                         (312 // d, 176 // d), interpolation=cv2.INTER_AREA)  # fmt: skip
        tile = plane[region.y // d : (region.y + 176) // d, region.x // d : (region.x + 312) // d]
        assert np.abs(tile.astype(np.int16) - box).max() <= 1, i


def test_an_nv12_camera_is_composed_as_its_i420_twin() -> None:
    from desktop.media.synthetic import SyntheticCamera

    pictures = []
    for pixel_format in (PixelFormat.I420, PixelFormat.NV12):
        compositor = Compositor(1280, 720)
        compositor.update(layout=Layout.SOLO, stage=stage_of(1))
        camera = SyntheticCamera(1280, 720, pixel_format=pixel_format)
        compositor.set_frame("g0", camera.make_frame(1, 0))
        pictures.append(compositor.compose().copy())
    assert np.array_equal(pictures[0], pictures[1])
