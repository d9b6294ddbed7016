"""The stage: the host, a screen share and every guest as 16:9 tiles.

Tiles are laid out by hand, not by a grid layout, so every tile keeps a 16:9 shape whatever the
window's shape: the column count is the one that makes tiles largest. A screen share is the
show's focus: it takes the big area on the left and the people line up beside it.
"""

from __future__ import annotations

import logging
import math

from PySide6.QtCore import QRect
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QWidget

from desktop.media.base import VideoCaptureSource
from desktop.session.remote_video import RemoteVideoFeed
from desktop.session.state import ParticipantState, RoomState, Source, TrackState
from desktop.session.studio import Studio
from desktop.ui.bridge import StateBridge
from desktop.ui.tile import VideoTile

logger = logging.getLogger(__name__)

ASPECT = 16 / 9
GAP_PX = 8
SHARE_SHARE = 0.76
"""Part of the stage's width the screen share takes (the people get the rest)."""
NARROW_SHARE_SHARE = 0.66
"""Part of a narrow stage's height the screen share takes (people in rows below)."""


def best_grid(count: int, width: int, height: int) -> tuple[int, int, int]:
    """Columns, rows and tile width that make ``count`` 16:9 tiles largest in the area."""
    best = (1, max(1, count), 0)
    for columns in range(1, max(1, count) + 1):
        rows = math.ceil(count / columns)
        tile_w = min(
            (width - GAP_PX * (columns - 1)) / columns,
            (height - GAP_PX * (rows - 1)) / rows * ASPECT,
        )
        if tile_w > best[2]:
            best = (columns, rows, int(tile_w))
    return best


class StageWidget(QWidget):
    """Own tile, the screen share (emphasised) and guests, each 16:9.

    Args:
        studio: The studio (to open guests' video at the layer a tile needs).
        bridge: The state bridge.
        parent: Parent widget.
    """

    def __init__(self, studio: Studio, bridge: StateBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.studio, self.bridge = studio, bridge
        self.setObjectName("Stage")
        self.setAccessibleName("Stage")
        self.setMinimumSize(320, 180)
        self.own_tile = VideoTile(ParticipantState("host", "You"), Source.CAMERA, self)
        self.own_tile.set_local_source(studio.camera)
        self.screen_tile: VideoTile | None = None
        self.tiles: dict[str, VideoTile] = {}

    # -- inputs ------------------------------------------------------------------------------

    def show_state(self, old: RoomState, new: RoomState) -> None:
        """Follow the room: own tile, guests' tiles."""
        if new.local is not None:
            self.own_tile.set_participant(
                ParticipantState(
                    new.local.identity,
                    "You",
                    tracks=new.local.tracks,
                    quality=new.local.quality,
                    is_speaking=new.local.is_speaking,
                )  # fmt: skip
            )
        if (
            old.remotes != new.remotes
            or (not self.tiles and new.remotes)
            or (self.tiles and not new.remotes)
        ):
            self._sync_guests(new)

    def set_own_source(self, camera: VideoCaptureSource | None) -> None:
        """The host's camera changed."""
        self.own_tile.set_local_source(camera)

    def show_share(self, screen: VideoCaptureSource | None, label: str = "") -> None:
        """Show what the host shares (or stop showing it)."""
        if screen is None:
            if self.screen_tile is not None:
                self.screen_tile.set_local_source(None)
                self.screen_tile.hide()
                self.screen_tile.setParent(None)
                self.screen_tile.deleteLater()
                self.screen_tile = None
            self.relayout()
            return
        if self.screen_tile is None:
            self.screen_tile = VideoTile(ParticipantState("host", "You"), Source.SCREEN, self)
            self.screen_tile.set_participant(
                ParticipantState(
                    "host", "You", tracks=(TrackState("local-screen", Source.SCREEN, True),)
                )
            )
            self.screen_tile.show()
        self.screen_tile.set_local_source(screen)
        self.screen_tile.setToolTip(f"You are sharing {label}")
        self.relayout()

    def _sync_guests(self, state: RoomState) -> None:
        for identity in list(self.tiles):
            if identity not in state.remotes:
                tile = self.tiles.pop(identity)
                video = tile.remote_video
                tile.set_remote_video(None)
                if video is not None:
                    self.bridge.run(_quietly_close(video), "close a guest's video")
                tile.hide()
                tile.setParent(None)
                tile.deleteLater()
        for identity, person in state.remotes.items():
            found = self.tiles.get(identity)
            if found is None:
                tile = VideoTile(person, Source.CAMERA, self)
                self.tiles[identity] = tile
                tile.show()
            else:
                tile = found
            tile.set_participant(person)
            camera = person.track(Source.CAMERA)
            if tile.remote_video is None and camera is not None and camera.subscribed:
                tile.set_remote_video(
                    self.studio.open_video(identity, Source.CAMERA, max(tile.height(), 180))
                )
        self.relayout()

    # -- layout ------------------------------------------------------------------------------

    def people(self) -> list[VideoTile]:
        """The host's tile then guests, by name."""
        guests = sorted(
            self.tiles.values(),
            key=lambda t: (t.participant.name or t.participant.identity).lower(),
        )
        return [self.own_tile, *guests]

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt naming)
        """Lay the tiles out again for the new size."""
        super().resizeEvent(event)
        self.relayout()

    def relayout(self) -> None:
        """Place every tile at 16:9: share large on the left, people beside it."""
        area = self.rect().adjusted(GAP_PX, GAP_PX, -GAP_PX, -GAP_PX)
        people = self.people()
        if self.screen_tile is not None:
            if area.width() >= area.height() * 1.5:
                # Wide stage: the share on the left, people in a column beside it.
                share_w = int(area.width() * SHARE_SHARE)
                share_rect = QRect(area.left(), area.top(), share_w, area.height())
                side = QRect(area.left() + share_w + GAP_PX, area.top(),
                             area.width() - share_w - GAP_PX, area.height())  # fmt: skip
                columns_max = 1
            else:
                # Narrow stage (the Program monitor beside it): the share on top, people below.
                share_h = int(area.height() * NARROW_SHARE_SHARE)
                share_rect = QRect(area.left(), area.top(), area.width(), share_h)
                side = QRect(area.left(), area.top() + share_h + GAP_PX,
                             area.width(), area.height() - share_h - GAP_PX)  # fmt: skip
                columns_max = 0
            self.screen_tile.setGeometry(_fit(share_rect))
            self.screen_tile.show()
            self._grid(people, side, columns_max=columns_max)
        else:
            self._grid(people, area)
        for tile in people:
            tile.show()

    def _grid(self, tiles: list[VideoTile], area: QRect, columns_max: int = 0) -> None:
        count = len(tiles)
        if count == 0 or area.width() <= 0 or area.height() <= 0:
            return
        if columns_max:
            columns, rows = columns_max, count
            tile_w = int(min(area.width(), (area.height() - GAP_PX * (rows - 1)) / rows * ASPECT))
        else:
            columns, rows, tile_w = best_grid(count, area.width(), area.height())
        tile_h = int(tile_w / ASPECT)
        used_w = columns * tile_w + (columns - 1) * GAP_PX
        used_h = rows * tile_h + (rows - 1) * GAP_PX
        left = area.left() + (area.width() - used_w) // 2
        top = area.top() + (area.height() - used_h) // 2
        for index, tile in enumerate(tiles):
            row, column = divmod(index, columns)
            # A last row that is not full is centred, like a meeting's gallery.
            in_row = min(columns, count - row * columns)
            offset = (columns - in_row) * (tile_w + GAP_PX) // 2
            tile.setGeometry(
                left + offset + column * (tile_w + GAP_PX), top + row * (tile_h + GAP_PX),
                tile_w, tile_h,
            )  # fmt: skip

    # -- frames ------------------------------------------------------------------------------

    def tick(self) -> None:
        """Paint new frames (each display tick)."""
        self.own_tile.tick()
        if self.screen_tile is not None:
            self.screen_tile.tick()
        for tile in self.tiles.values():
            tile.tick()

    def frame_counts(self) -> tuple[int, int]:
        """Frames painted and frames skipped (replaced before a paint) over every tile."""
        tiles = [*self.people(), *([self.screen_tile] if self.screen_tile else [])]
        return (sum(t.frames_shown for t in tiles), sum(t.frames_skipped for t in tiles))

    def close_tiles(self) -> None:
        """Stop painting (the window closes)."""
        self.own_tile.set_local_source(None)
        if self.screen_tile is not None:
            self.screen_tile.set_local_source(None)


def _fit(area: QRect) -> QRect:
    """The largest 16:9 rectangle centred in ``area``."""
    width = min(area.width(), int(area.height() * ASPECT))
    height = int(width / ASPECT)
    rect = QRect(0, 0, width, height)
    rect.moveCenter(area.center())
    return rect


async def _quietly_close(video: RemoteVideoFeed) -> None:
    """Close a guest's video; after the room is gone there may be nothing left to close."""
    try:
        await video.aclose()
    except Exception as error:  # the host need not hear about a stream that already ended
        logger.info("closing a guest's video: %s", error)
