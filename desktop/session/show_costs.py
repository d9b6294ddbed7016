"""The show's cost and revenue as it runs, in the room state (for the header, Stats and summary).

Where a platform backend counts the show (its webhooks see every join and leave, its egress
results every byte), the studio shows the backend's figures from ``get_broadcast_status``.
Otherwise (the local studio's room, or the studio's own LiveKit server, whose in-process backend
gets no webhooks) the studio counts participant time itself from the room events it sees —
everyone in the room, the host included, from the moment they appear until they leave — takes
the bytes stored and sent from the backend's egress results when there is one, and applies the
same rules with the same code (:mod:`spaces_contract.money`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

from desktop.media.frames import wall_clock_ms
from desktop.session.state import ConnectionState, RoomState, StateStore
from spaces_contract.money import Economics, Rates, ShowEconomics, Usage, economics, participant_ms

REFRESH_S = 5.0
"""How often the figures in the state move on while nothing else changes."""


class CostMeter:
    """Counts the show's participant time from the room state and keeps ``state.costs`` fresh.

    Args:
        store: The room state (read for who is in the room; written with the figures).
        rates: Cost rates and currency.
        base_price: The appointment's price (0 when there is none).
        live_ms: Time on air so far (the studio's live clock), for the duration bonus.
        clock_ms: Wall clock in ms (tests replace it).
    """

    def __init__(
        self,
        store: StateStore,
        rates: Rates | None = None,
        base_price: Decimal = Decimal(0),
        live_ms: Callable[[], int] = lambda: 0,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.store = store
        self.rates = rates or Rates()
        self.base_price = base_price
        self._live_ms = live_ms
        self._clock_ms = clock_ms
        self._present: dict[str, int] = {}
        self._closed_ms = 0
        self._peak = 0
        self._stored_bytes = 0
        self._egress_bytes = 0
        self._backend: dict[str, str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = store.subscribe(self._on_state)
        self._on_state(store.state, store.state)

    def _on_state(self, old: RoomState, new: RoomState) -> None:
        now = self._clock_ms()
        here = set(new.remotes)
        if new.local is not None and new.connection is not ConnectionState.IDLE:
            here.add(new.local.identity)
        if new.ended:
            here = set()
        for identity in set(self._present) - here:
            self._closed_ms += max(0, now - self._present.pop(identity))
        for identity in here - set(self._present):
            self._present[identity] = now
        self._peak = max(self._peak, len(here))

    def use_backend(self, figures: ShowEconomics | None, authoritative: bool) -> None:
        """Take the backend's status: its whole figures when it counts the show itself (a
        platform), else only the bytes its egress results report."""
        if figures is None:
            return
        if authoritative:
            self._backend = {k: v for k, v in _economics_json(figures).items() if v}
        else:
            stored = Decimal(figures.stored_gb or "0") * Decimal(10**9)
            sent = Decimal(figures.egress_gb or "0") * Decimal(10**9)
            self._stored_bytes, self._egress_bytes = int(stored), int(sent)
            # The appointment's price is the backend's to know.
            self.base_price = Decimal(figures.base_price or "0")
        self.publish()

    def figures(self) -> Economics:
        """The studio's own count so far."""
        now = self._clock_ms()
        usage = Usage(
            participant_ms=participant_ms(self._closed_ms, self._present, now),
            stored_bytes=self._stored_bytes,
            egress_bytes=self._egress_bytes,
            live_ms=self._live_ms(),
            participants=self._peak,
        )
        return economics(usage, self.base_price, self.rates)

    def current(self) -> dict[str, str]:
        """What to show: the backend's figures where it is authoritative, else the studio's."""
        if self._backend is not None:
            return dict(self._backend)
        return self.figures().as_json()

    def publish(self) -> None:
        """Write the figures into the state."""
        self.store.update(costs=tuple(self.current().items()))

    def start(self) -> None:
        """Refresh the state every few seconds until :meth:`aclose`."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            self.publish()
            await asyncio.sleep(REFRESH_S)

    async def aclose(self) -> None:
        """Stop refreshing and counting (the last figures stay in the state)."""
        self._on_state(self.store.state, self.store.state)
        self.publish()
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


def _economics_json(figures: ShowEconomics) -> dict[str, str]:
    from spaces_contract.codec import camel

    return {
        camel(name): str(value)
        for name, value in vars(figures).items()
        if name != "live_duration_s" and isinstance(value, str)
    }
