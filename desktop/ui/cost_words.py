"""The show's money in words: the rows the header's tooltip, Stats and the summary show."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation

from desktop.ui.words import CURRENCY_SIGNS


def amount(text: str, currency: str) -> str:
    """``"12.3", "USD"`` → ``"$12.30"``; a negative is ``"−$4.09"``; unknown codes are named."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        return "—"
    code = (currency or "USD").upper()
    sign = CURRENCY_SIGNS.get(code)
    digits = f"{abs(value):,.2f}"
    shown = f"{sign}{digits}" if sign else f"{digits} {code}"
    return ("−" if value < 0 else "") + shown


def cost_lines(costs: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(label, value) rows of the show's cost and revenue, in the order a host reads them."""
    figures = dict(costs)
    if not figures:
        return []
    currency = figures.get("currency", "USD")

    def money(key: str) -> str:
        return amount(figures.get(key, "0"), currency)

    try:
        rate = f"{Decimal(figures.get('commissionRate', '20')):.0f} %"  # a percentage
    except InvalidOperation:
        rate = "20 %"
    minutes = figures.get("participantMinutes", "0")
    return [
        ("Participant-minutes", f"{minutes} ({money('participantCost')})"),
        ("Storage and egress", f"{money('storageCost')} stored, {money('egressCost')} sent"),
        ("Infrastructure cost", money("infrastructureCost")),
        ("Revenue so far", money("totalRevenue")),
        (f"Platform commission ({rate})", money("platformCommission")),
        ("Creator's share", money("creatorRevenue")),
        ("Platform net", money("net")),
    ]


def cost_tooltip(costs: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """The rows as tooltip lines (empty when there is nothing to show)."""
    return "\n".join(f"{label}: {value}" for label, value in cost_lines(costs))
