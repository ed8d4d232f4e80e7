"""How ``polyinfra wallets pnl`` shows one wallet's P&L: a terminal screen, or plain lines for a pipe.

Both read a :class:`~polyinfra.core.wallet_ledger.Valuation` (realized components, open positions marked,
markets netted) and the realized series over time from the same ledger:

* :func:`pnl_screen`: a rich renderable, 80 columns wide: the components, the open positions with their
  marks, and the series as a chart (:func:`~polyinfra.cli.pnl_chart.terminal_chart`);
* :func:`pnl_lines`: the same numbers as ``name value`` lines, exact, for scripts and logs.

Amounts are exact ``Decimal`` strings in the lines; the screen shows them to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from polyinfra.cli.pnl_chart import cents, terminal_chart
from polyinfra.core.wallet_ledger import Valuation
from polyinfra.model.numbers import decimal_text

__all__ = ["pnl_lines", "pnl_screen"]

_POSITIONS_SHOWN: Final = 10
_ID_CHARS: Final = 12


def pnl_screen(wallet: str, valuation: Valuation, series: Sequence[tuple[int, Decimal]]) -> RenderableType:
    """The wallet's P&L screen: components, open positions (the largest by cost first), the chart."""
    realized = valuation.realized
    summary = Table(box=None, show_header=False, padding=(0, 2))
    summary.add_column(style="dim")
    summary.add_column(justify="right")
    for name, value in (
        ("realized (trading)", realized.realized_market),
        ("fees", realized.fees),
        ("rebates", realized.rebates),
        ("rewards", realized.rewards),
        ("referral", realized.referral),
        ("unrealized", valuation.unrealized),
    ):
        summary.add_row(name, cents(value))
    summary.add_row(Text("total", style="bold"), Text(cents(valuation.total), style=_tone(valuation.total)))
    parts: list[RenderableType] = [Text(f"wallet {wallet}", style="bold"), summary]
    if valuation.unmarked:
        parts.append(Text(f"{len(valuation.unmarked)} market(s) without a mark are left out of unrealized", "yellow"))
    positions = sorted(valuation.positions, key=lambda p: p.cost, reverse=True)
    if positions:
        table = Table(box=None, padding=(0, 1), header_style="dim")
        for column in ("market", "outcome", "shares", "avg", "mark", "value", "unrealized"):
            table.add_column(column, justify="left" if column == "market" else "right")
        for position in positions[:_POSITIONS_SHOWN]:
            table.add_row(
                _short(position.condition_id),
                str(position.outcome_index),
                cents(position.size),
                decimal_text(position.average_price.quantize(Decimal("0.0001"), rounding=ROUND_HALF_EVEN)),
                "-" if position.mark is None else decimal_text(position.mark),
                "-" if position.value is None else cents(position.value),
                "-" if position.unrealized is None else Text(cents(position.unrealized), _tone(position.unrealized)),
            )
        parts.append(table)
        if len(positions) > _POSITIONS_SHOWN:
            parts.append(Text(f"... and {len(positions) - _POSITIONS_SHOWN} more positions", style="dim"))
    sets = [c for c in valuation.conditions if c.complete_sets]
    if sets:
        held = sum((c.complete_sets for c in sets), Decimal(0))
        parts.append(Text(f"{cents(held)} complete YES+NO sets in {len(sets)} market(s), valued at 1", "dim"))
    parts.append(terminal_chart(series, title="realized P&L (USDC)"))
    return Group(*parts)


def pnl_lines(wallet: str, valuation: Valuation) -> list[str]:
    """``name value`` lines with exact values: the components, unrealized, total, then one line a position."""
    realized = valuation.realized
    lines = [
        f"wallet {wallet}",
        f"realized_market {decimal_text(realized.realized_market)}",
        f"fees {decimal_text(realized.fees)}",
        f"rebates {decimal_text(realized.rebates)}",
        f"rewards {decimal_text(realized.rewards)}",
        f"referral {decimal_text(realized.referral)}",
        f"unrealized {decimal_text(valuation.unrealized)}",
        f"total {decimal_text(valuation.total)}",
    ]
    lines.extend(f"unmarked {condition_id}" for condition_id in valuation.unmarked)
    for p in valuation.positions:
        value = "-" if p.value is None else decimal_text(p.value)
        lines.append(
            f"position {p.condition_id} {p.outcome_index} size {decimal_text(p.size)} cost {decimal_text(p.cost)}"
            f" value {value}"
        )
    return lines


def _tone(value: Decimal) -> str:
    return "green" if value > 0 else "red" if value < 0 else ""


def _short(identifier: str) -> str:
    return identifier if len(identifier) <= _ID_CHARS else identifier[: _ID_CHARS - 1] + "…"
