"""The emulator's liquidity-reward rule, driven through the exchange with a clock the test sets:
which maker fills qualify, how a day's pool is shared (rounded down to the micro-pUSD), and which
resting orders score."""

from __future__ import annotations

from itertools import count

from polyinfra.core.matching import Order
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.rewards import LiquidityRewards, RewardProgram
from polyinfra.emulator.simulator import generate_markets
from polyinfra.model.numbers import MICROS, Side, to_micros
from polyinfra.model.orders import TimeInForce

ALICE = "0x" + "aa" * 20
BOB = "0x" + "bb" * 20
DAY_MS = 86_400_000
# 100 pUSD a day, orders of 20 shares or more, within 0.03 of the midpoint.
PROGRAM = RewardProgram(daily_rate_micros=100 * MICROS, min_size_micros=20 * MICROS, max_spread_micros=30_000)


class _Venue:
    """One market, its reward program and the wallets behind the test's orders."""

    def __init__(self) -> None:
        self.now_ms = 1_800_000_000_000
        (self.market,) = generate_markets(1, seed=4)
        self.exchange = Exchange([self.market], clock_ms=lambda: self.now_ms)
        self.wallets: dict[str, str] = {}
        self.rewards = LiquidityRewards(
            self.exchange,
            {self.market.condition_id: PROGRAM},
            maker_wallet=self.wallets.get,
            clock_ms=lambda: self.now_ms,
        )
        self._ids = count()

    def place(self, side: Side, price: str, size: int, *, wallet: str | None = None) -> Order:
        """A Yes order of ``wallet`` (None: a simulator agent, which has none)."""
        order = Order(
            order_id=f"0x{next(self._ids):064x}",
            owner="sim-maker-1" if wallet is None else f"key-of-{wallet}",
            token_id=self.market.tokens[0].token_id,
            side=side,
            price_micros=to_micros(price),
            size_micros=size * MICROS,
            time_in_force=TimeInForce.GTC,
        )
        if wallet is not None:
            self.wallets[order.order_id] = wallet
        self.exchange.place(order)
        return order

    @property
    def day(self) -> str:
        return self.rewards.today()


def test_the_pool_is_shared_by_qualifying_size_with_the_simulator_competing() -> None:
    venue = _Venue()
    condition = venue.market.condition_id
    venue.place(Side.SELL, "0.51", 100, wallet=BOB)
    venue.place(Side.BUY, "0.49", 30, wallet=ALICE)
    venue.place(Side.BUY, "0.48", 30)  # the simulator's: it shares the pool, nobody is paid its part
    venue.place(Side.BUY, "0.47", 25, wallet=BOB)
    venue.place(Side.BUY, "0.40", 50, wallet=BOB)  # 0.10 from the midpoint: never qualifies
    # One taker sweeps them all; each fill is judged against the 0.50 midpoint before it arrived.
    venue.place(Side.SELL, "0.40", 95)

    # 100 x 30 / 85 = 35.2941176...: rounded down to the micro-pUSD.
    assert venue.rewards.earnings_micros(ALICE, venue.day, condition) == 35_294_117
    assert venue.rewards.earnings_micros(BOB, venue.day, condition) == 100 * MICROS * 25 // 85
    assert venue.rewards.share_hundredths(ALICE, venue.day, condition) == 3_529
    assert venue.rewards.markets_earned(ALICE, venue.day) == [condition]


def test_small_orders_and_empty_books_do_not_qualify() -> None:
    venue = _Venue()
    condition = venue.market.condition_id
    # No ask yet: no midpoint, so the bid taken earns nothing however close it is.
    venue.place(Side.BUY, "0.50", 40, wallet=ALICE)
    venue.place(Side.SELL, "0.50", 20, wallet=BOB)
    venue.place(Side.SELL, "0.52", 50, wallet=BOB)
    # Two-sided now (0.50 / 0.52), but 10 shares are under the program's 20.
    venue.place(Side.BUY, "0.51", 10, wallet=ALICE)
    venue.place(Side.SELL, "0.51", 10, wallet=BOB)
    assert venue.rewards.earnings_micros(ALICE, venue.day, condition) == 0
    assert venue.rewards.markets_earned(ALICE, venue.day) == []


def test_each_day_has_its_own_pool_and_resting_orders_score_as_the_book_stands() -> None:
    venue = _Venue()
    condition = venue.market.condition_id
    venue.place(Side.SELL, "0.52", 100, wallet=BOB)
    resting = venue.place(Side.BUY, "0.50", 40, wallet=ALICE)
    far = venue.place(Side.BUY, "0.45", 40, wallet=ALICE)
    assert venue.rewards.scores(resting) and not venue.rewards.scores(far)
    first_day = venue.day
    venue.place(Side.SELL, "0.50", 10, wallet=BOB)
    venue.now_ms += DAY_MS
    venue.place(Side.SELL, "0.50", 10, wallet=BOB)
    for day in (first_day, venue.day):
        assert venue.rewards.earnings_micros(ALICE, day, condition) == PROGRAM.daily_rate_micros
    # 20 shares left: still the minimum, still scoring; the taker side never earns.
    assert venue.rewards.scores(resting)
    assert venue.rewards.earnings_micros(BOB, venue.day, condition) == 0
