"""The quality adaptation policy: what the session does when a connection gets better or worse.

Pure decisions, no SDK and no server: the coordinator (``room_session.py``) feeds it connection
qualities and tile sizes and applies what it returns (a camera frame divider, the simulcast
layer to ask for). That keeps the policy testable with plain values.

- The host's own link goes poor or lost: send every second camera frame (half the bits, the
  same resolution); when it is good or excellent again, back to every frame.
- A tile asks for the smallest simulcast layer that fills it (LiveKit's layers for a 720p
  camera are 320×180, 640×360 and 1280×720).
- A guest's link goes poor or lost: ask for their smallest layer whatever the tile size, and
  say so; when it recovers, each tile's size picks the layer again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from desktop.session.state import Quality

POOR_CAMERA_DIVIDER = 2
"""Send every n-th camera frame while the host's own connection is poor."""
LOW_LAYER_MAX_HEIGHT_PX = 240
"""Tiles up to this tall get the low layer (180p)."""
MEDIUM_LAYER_MAX_HEIGHT_PX = 540
"""Tiles up to this tall get the medium layer (360p); taller ones get the high layer."""

_BAD = (Quality.POOR, Quality.LOST)
_FINE = (Quality.EXCELLENT, Quality.GOOD)


class Layer(Enum):
    """A simulcast layer a viewer can ask for."""

    LOW = "low"
    """The smallest layer (320×180 for a 720p camera)."""
    MEDIUM = "medium"
    """The middle layer (640×360)."""
    HIGH = "high"
    """The full size."""


def layer_for_tile(tile_height_px: int) -> Layer:
    """The smallest layer that fills a tile this tall."""
    if tile_height_px <= LOW_LAYER_MAX_HEIGHT_PX:
        return Layer.LOW
    if tile_height_px <= MEDIUM_LAYER_MAX_HEIGHT_PX:
        return Layer.MEDIUM
    return Layer.HIGH


@dataclass(frozen=True, slots=True)
class Decision:
    """One thing the policy decided, with the words the host reads in the adaptation log."""

    description: str
    """What was done and why, in plain words."""


@dataclass
class AdaptationPolicy:
    """Remembers qualities and decides frame rate and layers from them."""

    camera_divider: int = 1
    """Send every n-th camera frame (1: all of them)."""
    _guest_quality: dict[str, Quality] = field(default_factory=dict)

    def own_quality(self, quality: Quality) -> Decision | None:
        """The host's own connection changed; returns a decision when the camera changes."""
        if quality in _BAD and self.camera_divider == 1:
            self.camera_divider = POOR_CAMERA_DIVIDER
            return Decision("your connection is poor: camera frame rate halved to save bandwidth")
        if quality in _FINE and self.camera_divider != 1:
            self.camera_divider = 1
            return Decision("your connection recovered: camera back to full frame rate")
        return None

    def guest_quality(self, identity: str, quality: Quality, has_layers: bool) -> Decision | None:
        """A guest's connection changed; returns a decision when the host should be told.

        Args:
            identity: The guest.
            quality: Their connection quality now.
            has_layers: Whether any of their video is simulcast (has a smaller layer).
        """
        previous = self._guest_quality.get(identity, Quality.UNKNOWN)
        self._guest_quality[identity] = quality
        if quality in _BAD and previous not in _BAD:
            action = (
                "asking for their smallest video layer"
                if has_layers
                else "their video has a single layer, nothing smaller to ask for"
            )
            return Decision(f"{identity}'s connection is poor: {action}")
        if quality in _FINE and previous in _BAD:
            return Decision(f"{identity}'s connection recovered: tiles pick their layers again")
        return None

    def layer(self, identity: str, tile_height_px: int | None) -> Layer:
        """The layer to ask for a guest's video shown in a tile this tall (None: no tile)."""
        if self._guest_quality.get(identity) in _BAD:
            return Layer.LOW
        return Layer.HIGH if tile_height_px is None else layer_for_tile(tile_height_px)

    def forget(self, identity: str) -> None:
        """A guest left."""
        self._guest_quality.pop(identity, None)
