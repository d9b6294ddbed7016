"""Going live: the destinations (saved, checked, switched, added, edited, removed), Go Live and
End live, and the private rehearsal before it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from desktop.media.errors import MediaError, MediaErrorCode
from desktop.media.outputs.destinations import Destination, DestinationKind, rtmp_target
from desktop.session.live import REHEARSAL_ID
from desktop.session.settings import Secrets
from desktop.session.studio.context import StudioContext, make_recording_folder


class Destinations:
    """The show's destinations and its time live (Go Live starts the studio's clock, End live
    stops it).

    Args:
        studio: The studio's shared state (the settings, the keys, the outputs, the clock).
    """

    def __init__(self, studio: StudioContext) -> None:
        self._studio = studio

    def destination(self, destination_id: str) -> Destination:
        """A saved destination by id."""
        for destination in self._studio.settings.destinations:
            if destination.id == destination_id:
                return destination
        raise MediaError(
            MediaErrorCode.INVALID_ARGUMENT, destination_id, "no such destination",
            "add it with Add destination… in the Outputs tab",
        )  # fmt: skip

    async def check_destinations(self) -> dict[str, str]:
        """Pre-flight every switched-on destination at once (URL, key, RTMP handshake).

        Returns:
            id → the problem in words, for each destination that would not start.
        """
        enabled = [d for d in self._studio.settings.destinations if d.enabled]

        async def one(destination: Destination) -> tuple[str, str]:
            try:
                await self._studio.live.check(destination)
            except MediaError as error:
                return destination.id, str(error)
            return destination.id, ""

        results = await asyncio.gather(*(one(d) for d in enabled))
        return {i: problem for i, problem in results if problem}

    async def go_live(self) -> dict[str, str]:
        """Pre-flight, then start every enabled destination that passed.

        A destination that fails its check is not started (so no half-video is created on the
        platform); the others go live. Returns id → problem for those that did not start.
        """
        studio = self._studio
        problems = await self.check_destinations()
        passed = [d for d in studio.settings.destinations if d.id not in problems]
        problems.update(await studio.live.go_live(passed))
        if studio.store.state.is_live:
            studio.clock.start()
        return problems

    async def rehearse(self) -> str:
        """Run the show privately: to the private RTMP URL if one is set, else into a file.

        Go Live then switches the same program (or egress) to the real destinations.

        Returns:
            Where the rehearsal goes, in words.

        Raises:
            SessionError: Already live or rehearsing, or no private sink for this path.
            MediaError: The private URL, or the folder, is not usable.
        """
        studio = self._studio
        folder = studio.settings.recording_dir()
        if not studio.settings.rehearsal_url:
            make_recording_folder(folder)
        key = studio.secrets.get(Secrets.stream_key_name(REHEARSAL_ID))
        return await studio.live.rehearse(folder, studio.settings.rehearsal_url, key)

    def set_rehearsal_url(self, url: str, key: str) -> None:
        """Rehearse to this private RTMP URL from now on ('' = into a file); key to the keyring.

        Raises:
            MediaError: The URL (or key) is not usable, in words.
        """
        studio = self._studio
        if url.strip():
            rtmp_target(url, key)
        studio.settings.rehearsal_url = url.strip()
        studio.secrets.set(Secrets.stream_key_name(REHEARSAL_ID), key.strip())
        studio.save_settings()

    async def end_rehearsal(self) -> None:
        """Stop rehearsing (nothing went out)."""
        await self._studio.live.end_rehearsal()

    def add_destination(self, name: str, url: str, key: str) -> Destination:
        """Add a custom RTMP(S) destination (switched on); the key goes to the keyring.

        Raises:
            MediaError: The URL (or key) is not usable, in words.
        """
        studio = self._studio
        rtmp_target(url, key)
        taken = {d.id for d in studio.settings.destinations}
        number = 1
        while f"custom-{number}" in taken:
            number += 1
        destination = Destination(
            f"custom-{number}", name.strip() or f"Custom {number}", DestinationKind.CUSTOM,
            url.strip(), enabled=True,
        )  # fmt: skip
        studio.secrets.set(Secrets.stream_key_name(destination.id), key.strip())
        studio.settings.destinations = [*studio.settings.destinations, destination]
        studio.save_settings()
        return destination

    def edit_destination(
        self, destination_id: str, name: str, url: str, key: str | None
    ) -> Destination:
        """Change a destination's name, ingest URL and (unless None) stream key.

        Raises:
            MediaError: No such destination, or the URL/key is not usable.
        """
        studio = self._studio
        old = self.destination(destination_id)
        new_key = key if key is not None else studio.secrets.get(
            Secrets.stream_key_name(destination_id)
        )  # fmt: skip
        rtmp_target(url, new_key, key_required=False)
        changed = replace(old, name=name.strip() or old.name, url=url.strip())
        studio.settings.destinations = [
            changed if d.id == destination_id else d for d in studio.settings.destinations
        ]
        if key is not None:
            studio.secrets.set(Secrets.stream_key_name(destination_id), key.strip())
        studio.save_settings()
        return changed

    async def remove_destination(self, destination_id: str) -> None:
        """Stop (if live) and forget a destination and its key."""
        studio = self._studio
        destination = self.destination(destination_id)
        if studio.live.is_live:
            await studio.live.set_enabled(destination, False)
        studio.settings.destinations = [
            d for d in studio.settings.destinations if d.id != destination_id
        ]
        studio.secrets.set(Secrets.stream_key_name(destination_id), "")
        studio.save_settings()

    async def set_destination_enabled(self, destination_id: str, enabled: bool) -> None:
        """Switch one destination (saved; applied at once while live)."""
        studio = self._studio
        studio.settings.destinations = [
            replace(d, enabled=enabled) if d.id == destination_id else d
            for d in studio.settings.destinations
        ]
        await studio.live.set_enabled(self.destination(destination_id), enabled)

    def retry_destination(self, destination_id: str) -> None:
        """Try a failed or waiting destination again now ("Retry now")."""
        self._studio.live.retry_now(destination_id)

    async def end_live(self) -> None:
        """Stop every destination."""
        await self._studio.live.end()
        self._studio.clock.stop()
