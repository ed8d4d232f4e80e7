"""The emulator Data API's positions, hand-computed: average cost, partial closes, a position that
flips side, redemption after resolution and transfers, all exact."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from polyinfra.emulator.data import ledger as ledger_module
from polyinfra.emulator.data.knobs import DataApiKnobs
from polyinfra.emulator.data.ledger import TRANSFER, Position, WalletLedger
from polyinfra.emulator.data.views import DataView, dollars, shares
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.simulator import MarketSimulator, generate_markets
from polyinfra.errors import InvalidValueError
from polyinfra.model.numbers import MICROS, Side

_SHARE = MICROS


def _position() -> Position:
    return Position(condition_id="0xc", token_id="1", outcome_index=0, outcome="Yes")


def test_average_cost_and_a_partial_close() -> None:
    position = _position()
    position.trade(Side.BUY, 10 * _SHARE, 400_000, 1)
    position.trade(Side.BUY, 10 * _SHARE, 600_000, 2)
    assert position.avg_price_micros == 500_000
    position.trade(Side.SELL, 5 * _SHARE, 700_000, 3)  # 5 x (0.70 - 0.50) = 1.00
    assert dollars(position.realized_picos) == 1
    assert (position.size_micros, position.avg_price_micros) == (15 * _SHARE, 500_000)
    assert shares(position.bought_micros) == 20


def test_a_sale_past_the_holding_flips_the_position() -> None:
    position = _position()
    position.trade(Side.BUY, 10 * _SHARE, 500_000, 1)
    position.trade(Side.SELL, 15 * _SHARE, 300_000, 2)  # 10 x (0.30 - 0.50) = -2.00, then short 5 at 0.30
    assert dollars(position.realized_picos) == -2
    assert (position.size_micros, position.avg_price_micros) == (-5 * _SHARE, 300_000)
    position.trade(Side.BUY, 5 * _SHARE, 100_000, 3)  # the short closes: 5 x (0.30 - 0.10) = +1.00
    assert dollars(position.realized_picos) == -1
    assert position.size_micros == 0 and position.cost_picos == 0


def test_thirds_stay_exact() -> None:
    position = _position()
    for price in (100_000, 200_000, 400_000):
        position.trade(Side.BUY, 1 * _SHARE, price, 1)
    assert position.avg_price_micros == Fraction(700_000, 3)
    position.trade(Side.SELL, 1 * _SHARE, 300_000, 2)  # 0.30 - 0.2333... = 0.0666...
    assert position.realized_picos == Fraction(200_000, 3) * _SHARE
    assert str(dollars(position.realized_picos)) == "0.066667"


def test_redeeming_a_winner_and_a_loser() -> None:
    winner, loser = _position(), _position()
    winner.trade(Side.BUY, 10 * _SHARE, 600_000, 1)
    loser.trade(Side.BUY, 4 * _SHARE, 350_000, 1)
    assert winner.redeem(MICROS, 2) == 10 * _SHARE * MICROS  # 10 pUSD paid
    assert loser.redeem(0, 2) == 0
    assert dollars(winner.realized_picos) == 4  # 10 - 6
    assert dollars(loser.realized_picos) == Decimal("-1.4")  # 0 - 1.40
    assert winner.size_micros == loser.size_micros == 0


def test_past_its_capacity_the_ledger_forgets_the_oldest_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_module, "ROWS_KEPT", 10)
    exchange = Exchange(generate_markets(1, seed=2), clock_ms=lambda: 1_796_000_000_000)
    simulator = MarketSimulator(exchange, seed=2)
    simulator.seed_books()
    ledger = WalletLedger(exchange, trader_address=lambda _owner: None, clock_ms=lambda: 1_796_000_000_000)
    while not ledger.rows or ledger.rows[-1].seq < 30:
        simulator.step()
    assert len(ledger.rows) == 10
    assert [row.seq for row in ledger.rows] == list(range(ledger.rows[0].seq, ledger.rows[0].seq + 10))
    kept = sorted(row.seq for wallet in ledger.wallets() for row in ledger.rows_of(wallet, until_ms=2**62))
    assert kept == [row.seq for row in ledger.rows], "each wallet forgot exactly its share"


def test_a_transfer_moves_shares_at_cost_and_no_feed_lists_it() -> None:
    now_ms = 1_796_000_000_000
    exchange = Exchange(generate_markets(1, seed=2), clock_ms=lambda: now_ms)
    simulator = MarketSimulator(exchange, seed=2)
    simulator.seed_books()
    ledger = WalletLedger(exchange, trader_address=lambda _owner: None, clock_ms=lambda: now_ms)
    view = DataView(exchange, ledger, DataApiKnobs(), clock_ms=lambda: now_ms)

    def holder() -> tuple[str, Position] | None:
        for book in ledger.books(until_ms=now_ms):
            for position in book.positions.values():
                if position.size_micros >= 2 * _SHARE:
                    return book.wallet, position
        return None

    while (found := holder()) is None:
        simulator.step()
    sender, before = found
    size, cost, realized = before.size_micros, before.cost_picos, before.realized_picos
    feed = len(view.activity_rows(sender, conditions=set(), kinds=set(), start_s=0, end_s=0, side=None))
    receiver = "0x" + "7" * 40
    rows = ledger.transfer(sender, receiver, before.token_id, _SHARE)
    assert [(row.wallet, row.kind, row.side) for row in rows] == [
        (sender, TRANSFER, Side.SELL),
        (receiver, TRANSFER, Side.BUY),
    ]
    after = ledger.book(sender, until_ms=now_ms).positions[before.token_id]
    assert after.size_micros == size - _SHARE
    assert after.cost_picos == cost * (size - _SHARE) / size  # left at their average cost
    assert after.realized_picos == realized  # a transfer realizes nothing
    received = ledger.book(receiver, until_ms=now_ms).positions[before.token_id]
    assert (received.size_micros, received.cost_picos) == (_SHARE, 0)
    assert len(view.activity_rows(sender, conditions=set(), kinds=set(), start_s=0, end_s=0, side=None)) == feed
    assert view.activity_rows(receiver, conditions=set(), kinds=set(), start_s=0, end_s=0, side=None) == []
    for refused in (
        (sender, receiver, before.token_id, size),  # more than the sender still holds
        (sender, receiver, "no-such-token", _SHARE),
        (sender, receiver, before.token_id, 0),
        (sender, sender, before.token_id, _SHARE),
    ):
        with pytest.raises(InvalidValueError):
            ledger.transfer(*refused)
