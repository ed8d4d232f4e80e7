"""Properties of the wallet ledger over generated histories: cash is conserved exactly, markets do not
interfere, nothing is a float, and any row (however hostile) is applied or refused with a typed error
that leaves the ledger as it was."""

from __future__ import annotations

from dataclasses import astuple
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.wallet_ledger import WalletLedger
from polyinfra.errors import PolyinfraError
from polyinfra.model.market_outcomes import MarketMap, MarketOutcomes
from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity
from tests.wallet_rows import activity

WALLET = "0x" + "ab" * 20
OPS = ("buy", "sell", "split", "merge")
MARKETS = MarketMap.of(MarketOutcomes(c, (f"{c}-yes", f"{c}-no")) for c in ("0xa", "0xb"))


def _d(micros: int) -> Decimal:
    return Decimal(micros).scaleb(-6)


def _row(
    kind: ActivityKind, condition: str, size: int, usdc: int, outcome: int | None, side: Side | None
) -> WalletActivity:
    return activity(kind, _d(size), _d(usdc), wallet=WALLET, condition=condition, outcome=outcome, side=side)


@st.composite
def histories(draw: st.DrawFn, condition: str) -> tuple[list[WalletActivity], int]:
    """A history the venue could produce for one market, and its net cash (received minus paid, micros)."""
    held = [0, 0]
    net = 0
    rows = []
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(OPS), st.integers(0, 1), st.integers(1, 10**9), st.integers(1, 999_999)),
            max_size=14,
        )
    )
    for op, outcome, wanted, price in steps:
        size = wanted
        if op == "buy":
            usdc = size * price // 10**6
            rows.append(_row(ActivityKind.TRADE, condition, size, usdc, outcome, Side.BUY))
            held[outcome] += size
            net -= usdc
        elif op == "sell" and held[outcome]:
            size = min(wanted, held[outcome])
            usdc = size * price // 10**6
            rows.append(_row(ActivityKind.TRADE, condition, size, usdc, outcome, Side.SELL))
            held[outcome] -= size
            net += usdc
        elif op == "split":
            rows.append(_row(ActivityKind.SPLIT, condition, size, size, None, None))
            held = [h + size for h in held]
            net -= size
        elif op == "merge" and min(held):
            size = min(wanted, *held)
            rows.append(_row(ActivityKind.MERGE, condition, size, size, None, None))
            held = [h - size for h in held]
            net += size
    if draw(st.booleans()):
        winner = draw(st.integers(0, 1))
        for outcome in (0, 1):
            paid = held[outcome] if outcome == winner else 0
            rows.append(_row(ActivityKind.REDEEM, condition, held[outcome], paid, outcome, None))
            net += paid
    return rows, net


def _apply(ledger: WalletLedger, rows: list[WalletActivity]) -> None:
    for time_s, row in enumerate(rows):
        ledger.apply(WalletActivity(**{**{f: getattr(row, f) for f in row.__struct_fields__}, "timestamp_s": time_s}))


@given(histories("0xa"), st.integers(0, 10**6))
def test_realized_plus_open_cost_is_the_net_cash_exactly(history: tuple[list[WalletActivity], int], mark: int) -> None:
    rows, net = history
    ledger = WalletLedger(WALLET, MARKETS)
    _apply(ledger, rows)
    positions = ledger.positions(lambda _token: _d(mark))
    open_cost = sum((p.cost for p in positions), Decimal(0))
    assert ledger.realized.realized_market - open_cost == _d(net)
    # Realized plus unrealized (each outcome marked alone) is the net cash plus what is held, at the mark.
    valuation = ledger.valuation(lambda _token: _d(mark))
    held_value = sum((p.size * _d(mark) for p in positions), Decimal(0))
    assert ledger.realized.total + sum((p.unrealized or 0 for p in positions), Decimal(0)) == _d(net) + held_value
    assert valuation.open_cost == open_cost
    # With netting, complete sets are worth 1 whatever the mark: never less than marking them apart at 0.
    if mark == 0:
        assert valuation.unrealized >= sum((p.unrealized or 0 for p in positions), Decimal(0))


@given(histories("0xa"), histories("0xb"), st.lists(st.booleans(), max_size=40))
def test_the_order_of_independent_markets_does_not_matter(
    first: tuple[list[WalletActivity], int], second: tuple[list[WalletActivity], int], picks: list[bool]
) -> None:
    a, b = list(first[0]), list(second[0])
    interleaved = []
    for pick in picks:
        source = a if pick else b
        if source:
            interleaved.append(source.pop(0))
    interleaved += a + b
    one, other = WalletLedger(WALLET, MARKETS), WalletLedger(WALLET, MARKETS)
    _apply(one, first[0] + second[0])
    _apply(other, interleaved)
    assert one.realized == other.realized
    assert one.positions() == other.positions()
    key = lambda c: (c.condition_id, c.outcome_index, c.paid, c.received)  # noqa: E731
    assert sorted(map(key, one.closed_positions)) == sorted(map(key, other.closed_positions))


@given(histories("0xa"))
def test_nothing_is_a_float(history: tuple[list[WalletActivity], int]) -> None:
    ledger = WalletLedger(WALLET, MARKETS)
    _apply(ledger, history[0])
    values = [*astuple(ledger.realized), ledger.volume]
    for position in ledger.positions(lambda _token: Decimal("0.5")):
        values += [position.size, position.cost, position.mark, position.value, position.unrealized]
    for closed in ledger.closed_positions:
        values += [closed.paid, closed.received, closed.pnl]
    assert all(isinstance(value, Decimal) for value in values)


amounts = st.one_of(
    st.decimals(min_value=0, max_value=10**4, places=6),  # rows the ledger may well accept
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([Decimal("1e999990"), Decimal("-1"), Decimal("1E-40"), Decimal(10**20)]),
)


@given(
    histories("0xa"),
    st.sampled_from(list(ActivityKind)),
    amounts,
    amounts,
    st.one_of(st.none(), st.integers(-1, 2), st.integers()),
    st.one_of(st.none(), st.sampled_from(Side)),
    st.sampled_from(["0xa", "0xb", ""]),
    amounts,
)
def test_any_row_applies_or_is_refused_leaving_the_ledger_as_it_was(
    history: tuple[list[WalletActivity], int],
    kind: ActivityKind,
    size: Decimal,
    usdc: Decimal,
    outcome: int | None,
    side: Side | None,
    condition: str,
    fee: Decimal,
) -> None:
    ledger = WalletLedger(WALLET, MARKETS)
    _apply(ledger, history[0])
    before = (ledger.realized, ledger.positions(), ledger.closed_positions, ledger.volume)
    hostile = activity(kind, size, usdc, wallet=WALLET, condition=condition, outcome=outcome, side=side, t=10**6)
    try:
        ledger.apply(hostile, fee_usdc=fee)
    except PolyinfraError:
        assert (ledger.realized, ledger.positions(), ledger.closed_positions, ledger.volume) == before
