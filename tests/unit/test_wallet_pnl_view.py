"""The wallet P&L screen and lines show the ledger's numbers: exact in the lines, to the cent on screen."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console

from polyinfra.cli.wallet_pnl_view import pnl_lines, pnl_screen
from polyinfra.core.wallet_ledger import WalletLedger
from polyinfra.model.market_outcomes import MarketMap, MarketOutcomes
from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind
from tests.wallet_rows import WALLET, activity, trade

MARKETS = MarketMap.of([MarketOutcomes("0xm1", ("y1", "n1")), MarketOutcomes("0xm2", ("y2", "n2"))])


def _ledger() -> WalletLedger:
    ledger = WalletLedger(WALLET, MARKETS)
    ledger.apply(trade(Side.BUY, 0, "100", "40", t=1_765_000_000), fee_usdc=Decimal("1.2"))
    ledger.apply(trade(Side.BUY, 1, "100", "55", t=1_765_003_600))
    ledger.apply(trade(Side.SELL, 0, "40", "20.333333", t=1_765_007_200))  # 20.333333 - 16
    ledger.apply(trade(Side.BUY, 0, "10", "3", condition="0xm2", t=1_765_010_800))
    ledger.apply(activity(ActivityKind.REWARD, "0", "0.5", condition="", t=1_765_014_400))
    return ledger


def test_lines_carry_exact_values() -> None:
    valuation = _ledger().valuation({"n1": Decimal("0.52")}.get)
    lines = pnl_lines(WALLET, valuation)
    assert lines[:8] == [
        f"wallet {WALLET}",
        "realized_market 4.333333",
        "fees -1.2",
        "rebates 0",
        "rewards 0.5",
        "referral 0",
        "unrealized 1.8",  # 60 sets + 40 NO x 0.52 = 80.8 against 79; 0xm2 is unmarked
        "total 5.433333",
    ]
    assert "unmarked 0xm2" in lines
    assert "position 0xm1 1 size 100 cost 55 value 52" in lines
    assert "position 0xm2 0 size 10 cost 3 value -" in lines


def test_the_screen_fits_80_columns_and_shows_the_numbers() -> None:
    ledger = _ledger()
    valuation = ledger.valuation({"n1": Decimal("0.52"), "y1": Decimal("0.45")}.get)
    series = ledger.realized_series()
    assert series == [(t, components.total) for t, components in ledger.history()]
    assert series[-1] == (1_765_014_400, Decimal("3.633333"))  # 4.333333 - 1.2 + 0.5
    console = Console(width=80, record=True, color_system=None)
    console.print(pnl_screen(WALLET, valuation, series))
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.split() == ["realized", "(trading)", "4.33"] for line in lines)
    assert any(line.split() == ["total", "5.43"] for line in lines)
    assert "1 market(s) without a mark are left out of unrealized" in text
    assert "60.00 complete YES+NO sets in 1 market(s), valued at 1" in text
    # The largest position by cost comes first: the NO of 0xm1 (55), then its YES (24), then 0xm2 (3).
    rows = [line.split() for line in lines if line.lstrip().startswith("0xm")]
    assert [row[:2] for row in rows] == [["0xm1", "1"], ["0xm1", "0"], ["0xm2", "0"]]
    assert rows[0][2:] == ["100.00", "0.5500", "0.52", "52.00", "-3.00"]
    assert "realized P&L (USDC)" in text
