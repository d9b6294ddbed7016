"""The money of a show, to the cent: infrastructure cost, revenue, commission and net.

Pure arithmetic on :class:`~decimal.Decimal` (no floats touch money, no I/O), so the backend
(live status, the stored stream record, ``end_stream``) and the desktop studio (its own view in
local mode) compute the same figures with the same rounding; :class:`ShowEconomics` is how the
API sends them.

The rules are the platform guide's:

- cost: $0.05 per participant-minute, $0.02 per GB stored (recordings, HLS segments),
  $0.10 per GB that egress sends out; a GB is 10^9 bytes, as clouds bill it;
- revenue: base price × min(participants / 10, 3) × 1.2 when the show ran over 60 minutes;
- the platform keeps a 20 % commission; the creator gets the rest;
- net (the platform's profit on the show) = commission − infrastructure cost.

Every amount is rounded half-up to the cent once, from exact intermediate values, so the
parts always add up to the totals shown.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from spaces_contract.codec import camel

CENT = Decimal("0.01")
BYTES_PER_GB = Decimal(1_000_000_000)
"""Decimal gigabytes, as cloud storage and transfer are billed."""
MS_PER_MINUTE = Decimal(60_000)
BONUS_AFTER_MINUTES = Decimal(60)
"""Shows longer than this (live time) earn the duration bonus."""
DURATION_BONUS = Decimal("1.2")
MAX_MULTIPLIER = Decimal(3)
PARTICIPANTS_PER_MULTIPLE = Decimal(10)


def cents(value: Decimal) -> Decimal:
    """Round an amount half-up to the cent."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money_text(value: Decimal) -> str:
    """An amount as the API sends it: a decimal string with two places (``"12.30"``)."""
    return str(cents(value))


@dataclass(frozen=True)
class Rates:
    """What the platform charges and keeps (configurable in the backend's config)."""

    participant_minute: Decimal = Decimal("0.05")
    """Cost of one participant connected for one minute."""
    storage_gb: Decimal = Decimal("0.02")
    """Cost of one GB stored (recordings and HLS segments)."""
    egress_gb: Decimal = Decimal("0.10")
    """Cost of one GB egress sends out."""
    commission_rate: Decimal = Decimal("0.20")
    """Share of the revenue the platform keeps (0.20 = 20 %)."""
    currency: str = "USD"
    """ISO 4217 code of every amount."""

    def __post_init__(self) -> None:
        for name in ("participant_minute", "storage_gb", "egress_gb", "commission_rate"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"rate {name} must be a non-negative decimal, not {value!r}")
        if self.commission_rate > 1:
            raise ValueError("commission_rate is a fraction between 0 and 1")
        if len(self.currency) != 3 or not self.currency.isalpha():
            raise ValueError(f"currency must be a three-letter code, not {self.currency!r}")


@dataclass(frozen=True)
class Usage:
    """What a show used, as counted from join/leave events and egress results."""

    participant_ms: int = 0
    """Sum over participants of the time each was in the room (hidden recorders excluded)."""
    stored_bytes: int = 0
    """Bytes egress left in storage (recording files, HLS segments)."""
    egress_bytes: int = 0
    """Bytes egress sent out of LiveKit."""
    live_ms: int = 0
    """Time on air (any live output running), for the duration bonus."""
    participants: int = 0
    """Audience size for the revenue multiplier (the peak number in the room)."""


@dataclass(frozen=True)
class Economics:
    """Every figure of a show, exact to the cent (see the module's rules)."""

    currency: str
    participant_minutes: Decimal
    """Exact, not rounded (ms / 60000)."""
    stored_gb: Decimal
    egress_gb: Decimal
    participant_cost: Decimal
    storage_cost: Decimal
    egress_cost: Decimal
    infrastructure_cost: Decimal
    """The three costs above added (each already in cents)."""
    base_price: Decimal
    revenue_multiplier: Decimal
    duration_bonus: Decimal
    total_revenue: Decimal
    commission_rate: Decimal
    platform_commission: Decimal
    creator_revenue: Decimal
    net: Decimal
    """The platform's net: commission − infrastructure cost (negative is a loss)."""

    def as_json(self) -> dict[str, str]:
        """Amounts as two-place decimal strings (the API's form; never floats)."""
        return {
            "currency": self.currency,
            "participantMinutes": str(self.participant_minutes.quantize(CENT, ROUND_HALF_UP)),
            "storedGb": str(self.stored_gb.quantize(Decimal("0.000001"), ROUND_HALF_UP)),
            "egressGb": str(self.egress_gb.quantize(Decimal("0.000001"), ROUND_HALF_UP)),
            "participantCost": money_text(self.participant_cost),
            "storageCost": money_text(self.storage_cost),
            "egressCost": money_text(self.egress_cost),
            "infrastructureCost": money_text(self.infrastructure_cost),
            "basePrice": money_text(self.base_price),
            "revenueMultiplier": str(self.revenue_multiplier.quantize(CENT, ROUND_HALF_UP)),
            "durationBonus": str(self.duration_bonus),
            "totalRevenue": money_text(self.total_revenue),
            # A percentage, as the revenue block's (the platform's guide: 20.0), written
            # exactly like every figure here: the two blocks of one answer must agree.
            "commissionRate": str((self.commission_rate * 100).quantize(CENT, ROUND_HALF_UP)),
            "platformCommission": money_text(self.platform_commission),
            "creatorRevenue": money_text(self.creator_revenue),
            "net": money_text(self.net),
        }


@dataclass(frozen=True)
class ShowEconomics:
    """Cost, revenue, commission and net of a show, to the cent (two-place decimal strings:
    money is never a float). Participant time is counted from LiveKit's join and leave
    webhooks, bytes from egress results; see ``spaces_contract/money.py`` for the rules."""

    currency: str
    participant_minutes: str
    stored_gb: str
    egress_gb: str
    participant_cost: str
    storage_cost: str
    egress_cost: str
    infrastructure_cost: str
    base_price: str
    revenue_multiplier: str
    duration_bonus: str
    total_revenue: str
    commission_rate: str
    """A percentage: "20.00" is 20 % (as the revenue block's ``commissionRate``)."""
    platform_commission: str
    creator_revenue: str
    net: str
    """The platform's net: commission minus infrastructure cost."""
    live_duration_s: float = 0.0
    """Time on air the duration bonus was judged on."""

    @classmethod
    def of(cls, values: dict[str, str], live_duration_s: float = 0.0) -> ShowEconomics:
        """From :meth:`Economics.as_json` (or the stored copy of it)."""
        return cls(
            **{f: values.get(camel(f), "") for f in _ECONOMICS_FIELDS},
            live_duration_s=live_duration_s,
        )


_ECONOMICS_FIELDS = [
    f.name for f in dataclasses.fields(ShowEconomics) if f.name != "live_duration_s"
]


def revenue_multiplier(participants: int) -> Decimal:
    """min(participants / 10, 3)."""
    return min(Decimal(max(participants, 0)) / PARTICIPANTS_PER_MULTIPLE, MAX_MULTIPLIER)


def duration_bonus(live_ms: int) -> Decimal:
    """1.2 for a show live for more than 60 minutes, else 1."""
    return DURATION_BONUS if Decimal(live_ms) / MS_PER_MINUTE > BONUS_AFTER_MINUTES else Decimal(1)


def economics(usage: Usage, base_price: Decimal, rates: Rates) -> Economics:
    """Cost, revenue split and net of a show from what it used."""
    minutes = Decimal(max(usage.participant_ms, 0)) / MS_PER_MINUTE
    stored_gb = Decimal(max(usage.stored_bytes, 0)) / BYTES_PER_GB
    egress_gb = Decimal(max(usage.egress_bytes, 0)) / BYTES_PER_GB
    participant_cost = cents(minutes * rates.participant_minute)
    storage_cost = cents(stored_gb * rates.storage_gb)
    egress_cost = cents(egress_gb * rates.egress_gb)
    infrastructure = participant_cost + storage_cost + egress_cost
    multiplier = revenue_multiplier(usage.participants)
    bonus = duration_bonus(usage.live_ms)
    total = cents(base_price * multiplier * bonus)
    commission = cents(total * rates.commission_rate)
    return Economics(
        currency=rates.currency,
        participant_minutes=minutes,
        stored_gb=stored_gb,
        egress_gb=egress_gb,
        participant_cost=participant_cost,
        storage_cost=storage_cost,
        egress_cost=egress_cost,
        infrastructure_cost=infrastructure,
        base_price=cents(base_price),
        revenue_multiplier=multiplier,
        duration_bonus=bonus,
        total_revenue=total,
        commission_rate=rates.commission_rate,
        platform_commission=commission,
        creator_revenue=total - commission,
        net=commission - infrastructure,
    )


# --- counting participant time and live time ------------------------------------------------


def participant_ms(closed_ms: int, present: Mapping[str, int], now_ms: int) -> int:
    """Participant time so far: the finished stays plus everyone still in the room until now.

    Args:
        closed_ms: Time of stays that already ended.
        present: Identity → when they joined (ms) for everyone in the room now.
        now_ms: The moment to count to.
    """
    return closed_ms + sum(max(0, now_ms - since) for since in present.values())


def union_ms(intervals: Iterable[tuple[int, int]]) -> int:
    """Total time covered by (start, end) intervals, overlaps counted once."""
    total = 0
    current_start = current_end = None
    for start, end in sorted((s, e) for s, e in intervals if e > s):
        if current_end is None or start > current_end:
            if current_end is not None and current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None and current_start is not None:
        total += current_end - current_start
    return total
