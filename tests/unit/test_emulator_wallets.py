"""The emulator's wallets (:mod:`polyinfra.emulator.accounts`): fills with fees, allowances, and the
venue's balance cache that only ``/balance-allowance/update`` refreshes (venue notes: REST routes, Failure modes)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyinfra.core.fees import fill_fee
from polyinfra.core.order_signing import EXCHANGE_CONTRACTS, POLYGON_CHAIN_ID
from polyinfra.emulator.accounts import (
    COLLATERAL,
    SEED_COLLATERAL_MICROS,
    SEED_SHARES_MICROS,
    UNLIMITED_ALLOWANCE_MICROS,
    Balances,
)
from polyinfra.emulator.faults import FaultConfig
from polyinfra.errors import InvalidValueError
from polyinfra.model.market import FeeSchedule
from polyinfra.model.numbers import MICROS, Side, TickSize, to_micros

WALLET = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
TOKEN = "1234"
CONTRACTS = EXCHANGE_CONTRACTS[POLYGON_CHAIN_ID]
EXCHANGE = CONTRACTS.exchange_v2
NEG_RISK_EXCHANGE = CONTRACTS.neg_risk_exchange_v2
SPENDERS = (EXCHANGE, NEG_RISK_EXCHANGE)
CRYPTO = FeeSchedule(rate=Decimal("0.07"), exponent=1)


class _Knob:
    """Stands for the ``stale_balance_cache`` fault knob."""

    def __init__(self) -> None:
        self.on = False

    def __call__(self) -> bool:
        return self.on


def _holdings(balances: Balances) -> tuple[int, int]:
    return balances.collateral(WALLET), balances.shares(WALLET, TOKEN)


def test_a_taker_buy_pays_notional_plus_fee_and_a_sell_receives_notional_minus_fee() -> None:
    balances = Balances(SPENDERS)
    # 100 shares at 0.50 under the 0.07 crypto curve pay 1.75.
    fee = to_micros(fill_fee(100, "0.5", CRYPTO, taker=True))
    assert fee == 1_750_000
    balances.settle(WALLET, TOKEN, Side.BUY, 100 * MICROS, MICROS // 2, fee_micros=fee)
    assert _holdings(balances) == (SEED_COLLATERAL_MICROS - 50 * MICROS - fee, SEED_SHARES_MICROS + 100 * MICROS)
    balances.settle(WALLET, TOKEN, Side.SELL, 100 * MICROS, MICROS // 2, fee_micros=fee)
    assert _holdings(balances) == (SEED_COLLATERAL_MICROS - 2 * fee, SEED_SHARES_MICROS)


def test_unsettle_undoes_a_fill_fee_included() -> None:
    balances = Balances(SPENDERS)
    # 0.001 shares at 0.01 pay 4.95e-7, below the 0.00001 minimum: nothing (venue notes: Fees).
    assert fill_fee("0.001", "0.01", FeeSchedule(rate=Decimal("0.05")), taker=True) == 0
    for side, size, price, fee in ((Side.BUY, 19_690_000, 220_000, 3_118), (Side.SELL, 5 * MICROS, 999_000, 0)):
        balances.settle(WALLET, TOKEN, side, size, price, fee_micros=fee)
        balances.unsettle(WALLET, TOKEN, side, size, price, fee_micros=fee)
        assert _holdings(balances) == (SEED_COLLATERAL_MICROS, SEED_SHARES_MICROS)


@pytest.mark.parametrize(("size", "fee"), [(0, 0), (-MICROS, 0), (MICROS, -1)])
def test_a_fill_moves_a_positive_size_and_a_non_negative_fee(size: int, fee: int) -> None:
    with pytest.raises(InvalidValueError):
        Balances(SPENDERS).settle(WALLET, TOKEN, Side.BUY, size, MICROS // 2, fee_micros=fee)


@pytest.mark.parametrize(
    "schedule",
    [CRYPTO, FeeSchedule(rate=Decimal("0.03")), FeeSchedule(rate=Decimal("0.25"), exponent=2)],
    ids=["crypto-0.07", "sports-0.03", "crypto-15m-0.25-exp2"],
)
def test_a_buy_never_costs_more_than_its_limit_price_plus_the_fee_there(schedule: FeeSchedule) -> None:
    """Why the emulator holds ``size x limit + fee(size, limit)`` for a BUY: a fill at any better
    price, whatever its share of the fee curve, costs no more (trading_api module notes)."""
    tick = TickSize.TICK_0_001
    size = Decimal("1234.56")
    grid = [Decimal(step) * tick.decimal for step in range(1, 1000)]
    for limit in grid[::37]:
        most = size * limit + fill_fee(size, limit, schedule, taker=True)
        for price in grid:
            if price > limit:
                break
            assert size * price + fill_fee(size, price, schedule, taker=True) <= most


def test_allowances_start_unlimited_and_the_admin_sets_them() -> None:
    balances = Balances(SPENDERS)
    assert balances.on_chain(WALLET, COLLATERAL).allowances == dict.fromkeys(SPENDERS, UNLIMITED_ALLOWANCE_MICROS)
    balances.set_funds(WALLET, collateral_micros=250_500_000, allowances={EXCHANGE.lower(): 0})
    chain = balances.on_chain(WALLET, COLLATERAL)
    assert (chain.balance_micros, chain.allowances[EXCHANGE]) == (250_500_000, 0)
    assert chain.allowances[NEG_RISK_EXCHANGE] == UNLIMITED_ALLOWANCE_MICROS


@pytest.mark.parametrize(
    "change",
    [
        {"allowances": {"0x" + "12" * 20: 0}},
        {"allowances": {"not an address": 0}},
        {"collateral_micros": -1},
        {"collateral_micros": 5 * MICROS, "allowances": {EXCHANGE: UNLIMITED_ALLOWANCE_MICROS + 1}},
    ],
    ids=["unknown-spender", "not-an-address", "negative", "over-uint256"],
)
def test_a_bad_change_is_refused_whole(change: dict[str, object]) -> None:
    balances = Balances(SPENDERS)
    with pytest.raises(InvalidValueError):
        balances.set_funds(WALLET, **change)  # type: ignore[arg-type]
    assert balances.on_chain(WALLET, COLLATERAL) == Balances(SPENDERS).on_chain(WALLET, COLLATERAL)


def test_can_fund_weighs_balance_open_orders_and_the_allowance_of_the_orders_exchange() -> None:
    balances = Balances(SPENDERS)
    balances.set_funds(WALLET, collateral_micros=100 * MICROS, allowances={EXCHANGE: 60 * MICROS})
    assert balances.can_fund(WALLET, COLLATERAL, 40 * MICROS, held_micros=20 * MICROS, spender=EXCHANGE)
    # The allowance caps what the exchange may take, open orders included.
    assert not balances.can_fund(WALLET, COLLATERAL, 41 * MICROS, held_micros=20 * MICROS, spender=EXCHANGE)
    # The neg-risk exchange still has its unlimited allowance: only the balance binds.
    assert balances.can_fund(WALLET, COLLATERAL, 80 * MICROS, held_micros=20 * MICROS, spender=NEG_RISK_EXCHANGE)
    assert not balances.can_fund(WALLET, COLLATERAL, 81 * MICROS, held_micros=20 * MICROS, spender=NEG_RISK_EXCHANGE)
    # A SELL needs shares and no pUSD allowance.
    assert balances.can_fund(WALLET, TOKEN, SEED_SHARES_MICROS, held_micros=0, spender=None)
    assert not balances.can_fund(WALLET, TOKEN, SEED_SHARES_MICROS + 1, held_micros=0, spender=None)


def test_a_stale_cache_holds_the_old_view_per_asset_until_refreshed() -> None:
    knob = _Knob()
    balances = Balances(SPENDERS, stale_cache=knob)
    knob.on = True
    assert balances.venue_view(WALLET, COLLATERAL).balance_micros == SEED_COLLATERAL_MICROS
    # A deposit and a fill move the chain; the venue's view of both assets stays where it was.
    balances.set_funds(WALLET, collateral_micros=20_000 * MICROS, allowances={EXCHANGE: 0})
    balances.settle(WALLET, TOKEN, Side.SELL, 10 * MICROS, MICROS // 2)
    assert balances.collateral(WALLET) == 20_005 * MICROS
    cached = balances.venue_view(WALLET, COLLATERAL)
    assert (cached.balance_micros, cached.allowances[EXCHANGE]) == (SEED_COLLATERAL_MICROS, UNLIMITED_ALLOWANCE_MICROS)
    assert balances.venue_view(WALLET, TOKEN).balance_micros == SEED_SHARES_MICROS
    # Refreshing pUSD leaves the token's cache alone.
    balances.refresh(WALLET, COLLATERAL)
    fresh = balances.venue_view(WALLET, COLLATERAL)
    assert (fresh.balance_micros, fresh.allowances[EXCHANGE]) == (20_005 * MICROS, 0)
    assert balances.venue_view(WALLET, TOKEN).balance_micros == SEED_SHARES_MICROS
    balances.refresh(WALLET, TOKEN)
    assert balances.venue_view(WALLET, TOKEN).balance_micros == SEED_SHARES_MICROS - 10 * MICROS


def test_orders_need_the_stale_view_and_the_chain_to_agree() -> None:
    knob = _Knob()
    balances = Balances(SPENDERS, stale_cache=knob)
    knob.on = True
    balances.set_funds(WALLET, collateral_micros=20_000 * MICROS)
    # The venue still sees 10,000: the deposit does not count until refreshed (venue notes: Failure modes).
    assert not balances.can_fund(WALLET, COLLATERAL, 15_000 * MICROS, held_micros=0, spender=EXCHANGE)
    balances.refresh(WALLET, COLLATERAL)
    assert balances.can_fund(WALLET, COLLATERAL, 15_000 * MICROS, held_micros=0, spender=EXCHANGE)
    # A fill spends 12,000 on the chain; the venue's view still says 20,000, the chain refuses more.
    balances.settle(WALLET, TOKEN, Side.BUY, 24_000 * MICROS, MICROS // 2)
    assert balances.venue_view(WALLET, COLLATERAL).balance_micros == 20_000 * MICROS
    assert not balances.can_fund(WALLET, COLLATERAL, 9_000 * MICROS, held_micros=0, spender=EXCHANGE)
    assert balances.can_fund(WALLET, COLLATERAL, 8_000 * MICROS, held_micros=0, spender=EXCHANGE)


def test_switching_the_knob_off_shows_the_chain_and_forgets_old_snapshots() -> None:
    knob = _Knob()
    balances = Balances(SPENDERS, stale_cache=knob)
    knob.on = True
    balances.set_funds(WALLET, collateral_micros=5 * MICROS)
    assert balances.venue_view(WALLET, COLLATERAL).balance_micros == SEED_COLLATERAL_MICROS
    knob.on = False
    assert balances.venue_view(WALLET, COLLATERAL).balance_micros == 5 * MICROS
    knob.on = True
    assert balances.venue_view(WALLET, COLLATERAL).balance_micros == 5 * MICROS


def test_the_knob_is_a_validated_fault_knob() -> None:
    faults = FaultConfig()
    assert faults.stale_balance_cache is False
    faults.update({"stale_balance_cache": True})
    assert faults.as_dict()["stale_balance_cache"] is True
    with pytest.raises(InvalidValueError):
        faults.update({"stale_balance_cache": 1})
