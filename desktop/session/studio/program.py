"""The program as the host changes it: the layout, who is on stage (and may publish), the
pinned guest, the banner and the preview; each handed to the program feed and its compositor
(the on-screen overlays are :class:`~desktop.session.on_screen.OnScreen`'s).
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop.media.compositor import Layout
from desktop.media.outputs.program import EncoderInfo
from desktop.session.studio.context import StudioContext


@dataclass(frozen=True)
class ProgramInfo:
    """What the studio's own encoder makes (for the Stats panel)."""

    width: int
    """Picture width."""
    height: int
    """Picture height."""
    fps: int
    """Frames per second."""
    encoder: str
    """The encoder's name ('' when nothing is being encoded)."""
    frames_skipped: int = 0
    """Pictures the encoder never made because it fell behind (since it started)."""
    frames_total: int = 0
    """Pictures due since the encoder started (made plus skipped)."""
    encoders: tuple[EncoderInfo, ...] = ()
    """Every encoder running (the program's own first): a recording in another container or
    quality runs one of its own, which costs CPU."""


class ProgramDesk:
    """The host's controls of the program (what viewers see).

    Args:
        studio: The studio's shared state (the program feed, the outputs, the moderator).
    """

    def __init__(self, studio: StudioContext) -> None:
        self._studio = studio

    def program_info(self) -> ProgramInfo:
        """What the studio's own encoder makes now."""
        direct = self._studio.live.direct
        s = direct.settings
        skipped = direct.frames_skipped
        return ProgramInfo(s.width, s.height, s.fps, direct.encoder_name or "", skipped,
                           direct.frames_encoded + skipped,
                           tuple(direct.encoders()))  # fmt: skip

    def set_program_layout(self, layout: Layout) -> str:
        """Switch the program's layout while live or not.

        Returns what viewers see instead where the egress path cannot follow ('' = the same).
        """
        self._studio.program.set_layout(layout)
        return self._studio.live.set_layout(layout)

    async def set_in_program(self, identity: str, in_program: bool) -> str:
        """Add a guest to the stage (the program, and permission to publish) or send them back.

        Returns a note for the host ('' when all is done): without the platform backend only
        the program changes, since the guest's permissions need the server's API.
        """
        self._studio.program.set_in_program(identity, in_program)
        if self._studio.moderator is None:
            return (
                "the program was changed; the guest's permission to publish stays as it is "
                "(that needs the platform backend)"
            )
        await self._studio.moderator.set_on_stage(identity, in_program)
        return ""

    def set_pinned(self, identity: str) -> None:
        """Keep a guest large in the solo and speaker layouts ('' to follow the speaker)."""
        self._studio.program.set_pinned(identity)

    def set_banner(self, text: str) -> None:
        """Show a banner in the program ('' removes it)."""
        self._studio.program.set_banner(text)

    def set_program_preview(self, on: bool) -> None:
        """Compose the program for the monitor even while not live."""
        if on:
            self._studio.live.direct.start_preview()
        else:
            self._studio.live.direct.stop_preview()
