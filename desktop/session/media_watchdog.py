"""A watchdog for guests' media that should be arriving and is not (issue #32).

A guest on stage who publishes an unmuted camera should be in the program's picture and in
their tile; one who publishes an unmuted microphone should be in the mix. Whatever the reason
it is not (a subscription that went away underneath us, a stream read from a track that no
longer carries media, a layer the SFU stopped sending), the host could not tell: the program
showed initials for a whole show while the guest's voice was mixed.

Each place that receives a guest's media offers a :class:`MediaProbe`: whether the media is
expected now, when it last arrived, and how to ask for it again. Every ``check_s`` the watchdog
looks at each probe. Nothing for ``stall_s`` → the probe is asked again (resubscribe, re-open
the stream, re-request the layer) and the stall counted. Still nothing ``alert_s`` later → a
:class:`~desktop.session.state.MediaAlert` naming the guest goes into the state (the studio
shows it as a notice), and the probe is asked again every ``stall_s`` while it lasts. Media
arriving again clears the alert and counts the stall as recovered.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.session.state import MediaAlert, Source, StateStore

if TYPE_CHECKING:
    from desktop.session.program_feed import ProgramFeed
    from desktop.session.room_session import RoomSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WatchdogTimings:
    """When the watchdog acts (the issue's numbers; tests wait for its events, not shorten it)."""

    stall_s: float = 5.0
    """No media this long while expected → ask for it again."""
    alert_s: float = 5.0
    """Still none this long after asking → tell the host (and keep asking every ``stall_s``)."""
    check_s: float = 0.5
    """How often the probes are looked at."""


@dataclass(frozen=True, slots=True)
class MediaProbe:
    """One guest's camera or voice in one place (the program, a tile)."""

    identity: str
    """The guest."""
    source: Source
    """CAMERA or MICROPHONE."""
    where: str
    """"program" or "tile"."""
    expected: Callable[[], bool]
    """Whether it should be arriving now (on stage, published, unmuted)."""
    last_at: Callable[[], float]
    """When it last arrived (``time.monotonic()``; 0 for never)."""
    ask_again: Callable[[], None]
    """Resubscribe / re-open / re-request the layer."""

    @property
    def key(self) -> tuple[str, str, Source]:
        """Which probe this is, across checks."""
        return (self.where, self.identity, self.source)


@dataclass(slots=True)
class _Watch:
    expected_since: float
    asked_at: float = 0.0
    alerted: bool = False
    stalled: bool = False


class MediaWatchdog:
    """Asks again for guests' media that stopped arriving, then tells the host.

    Args:
        store: Where alerts and counts go (``media_alerts``, ``media_watch``).
        probes: Returns the probes to look at now (called at every check).
        timings: When to act.
        clock: Monotonic seconds (the probes' ``last_at`` use the same clock).
    """

    def __init__(
        self,
        store: StateStore,
        probes: Callable[[], Iterable[MediaProbe]],
        timings: WatchdogTimings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.timings = timings or WatchdogTimings()
        self._probes = probes
        self._clock = clock
        self._watches: dict[tuple[str, str, Source], _Watch] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Check every ``check_s`` on the running loop (again is fine)."""
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            try:
                self.check()
            except Exception:  # one bad probe must not end the watch
                logger.exception("media watchdog check failed")
            await asyncio.sleep(self.timings.check_s)

    def check(self) -> None:
        """Look at every probe once."""
        now = self._clock()
        timings = self.timings
        seen: set[tuple[str, str, Source]] = set()
        for probe in self._probes():
            if not probe.expected():
                continue
            key = probe.key
            seen.add(key)
            watch = self._watches.setdefault(key, _Watch(expected_since=now))
            last = max(probe.last_at(), watch.expected_since)
            if now - last < timings.stall_s:
                if watch.stalled:
                    self._recovered(probe, watch)
                continue
            if not watch.stalled:
                watch.stalled = True
                self._count(stalls=1)
                logger.warning("%s's %s has not reached the %s for %.0f s; asking again",
                               probe.identity, probe.source.name.lower(), probe.where,
                               now - last)  # fmt: skip
                self._ask(probe, watch, now)
            elif not watch.alerted and now - watch.asked_at >= timings.alert_s:
                watch.alerted = True
                self._alert(probe, now - last)
                self._ask(probe, watch, now)
            elif watch.alerted and now - watch.asked_at >= timings.stall_s:
                self._ask(probe, watch, now)
        for key in set(self._watches) - seen:
            # No longer expected (off stage, muted, unpublished, left): nothing to wait for.
            watch = self._watches.pop(key)
            if watch.alerted:
                self._drop_alert(key)

    def _ask(self, probe: MediaProbe, watch: _Watch, now: float) -> None:
        watch.asked_at = now
        self._count(retries=1)
        try:
            probe.ask_again()
        except Exception as exc:  # noqa: BLE001 - a track going away as we ask
            logger.info("asking again for %s's %s: %r", probe.identity, probe.source.name, exc)

    def _recovered(self, probe: MediaProbe, watch: _Watch) -> None:
        logger.info("%s's %s reaches the %s again", probe.identity,
                    probe.source.name.lower(), probe.where)  # fmt: skip
        self._watches[probe.key] = _Watch(expected_since=watch.expected_since)
        self._count(recovered=1)
        if watch.alerted:
            self._drop_alert(probe.key)

    def _alert(self, probe: MediaProbe, silent_s: float) -> None:
        state = self.store.state
        guest = state.remotes.get(probe.identity)
        name = (guest.name if guest else "") or probe.identity
        since_ms = int(time.time() * 1000 - silent_s * 1000)
        alert = MediaAlert(probe.identity, name, probe.source, probe.where, since_ms)
        others = tuple(a for a in state.media_alerts if a.key != alert.key)
        logger.warning("%s", alert.text)
        self._count(alerts=1)
        self.store.update(media_alerts=(*others, alert))

    def _drop_alert(self, key: tuple[str, str, Source]) -> None:
        where, identity, source = key
        kept = tuple(
            a for a in self.store.state.media_alerts
            if (a.where, a.identity, a.source) != (where, identity, source)
        )  # fmt: skip
        self.store.update(media_alerts=kept)

    def _count(self, **more: int) -> None:
        counts = self.store.state.media_watch
        changes = {name: getattr(counts, name) + n for name, n in more.items()}
        self.store.update(media_watch=dataclasses.replace(counts, **changes))

    async def aclose(self) -> None:
        """Stop checking and withdraw every alert."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._watches.clear()
        if self.store.state.media_alerts:
            self.store.update(media_alerts=())


def media_probes(program: ProgramFeed, session: RoomSession | None) -> list[MediaProbe]:
    """The studio's probes: guests on stage in the program, and guests' tiles."""
    return [*program.probes(), *(session.tile_probes() if session is not None else ())]
