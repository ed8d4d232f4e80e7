"""Deterministic, seeded market activity for the emulator.

:func:`generate_markets` makes binary Yes/No markets, :func:`generate_neg_risk_event` a neg-risk market of
several such questions (one winner among candidates), :func:`reward_programs` their liquidity-reward programs;
:class:`MarketSimulator` trades them through
:meth:`Exchange.place <polyinfra.emulator.exchange.Exchange.place>` and
:meth:`Exchange.cancel <polyinfra.emulator.exchange.Exchange.cancel>` only, one action per
:meth:`~MarketSimulator.step`:

* makers quote around a per-market fair value that random-walks, and cancel quotes (the stalest:
  farthest from fair) so that resting orders stay bounded however long it runs;
* takers cross the spread with FOK, FAK and GTC orders on either token;
* now and then a sweeper takes all of one side but its deepest level.

Takers never reach a side's deepest level and cancels never remove a side's last order, so books
that only the simulator trades stay two-sided. No agent sells shares it does not hold
(:class:`~polyinfra.emulator.agent_holdings.AgentHoldings`): an order that would is placed as the
BUY of the other token, the same Yes-space order. Every number is integer micros drawn from one
``random.Random(seed)``: with a deterministic clock the same seed gives the same actions and events.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from polyinfra.core.ctf_positions import (
    binary_positions,
    neg_risk_condition_id,
    neg_risk_market_id,
    neg_risk_question_id,
)
from polyinfra.core.matching import BookLevels, Level, Order
from polyinfra.emulator.agent_holdings import AgentHoldings
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.rewards import RewardProgram
from polyinfra.errors import InvalidValueError
from polyinfra.model.ids import ConditionId, condition_id, token_id
from polyinfra.model.market import FeeSchedule, MarketInfo, OutcomeToken
from polyinfra.model.numbers import MICROS, Side, TickSize, to_micros
from polyinfra.model.orders import TimeInForce

__all__ = [
    "MAX_ORDERS_PER_MARKET",
    "MarketSimulator",
    "NegRiskEvent",
    "generate_markets",
    "generate_neg_risk_event",
    "reward_programs",
]

MAX_ORDERS_PER_MARKET = 40
"""Resting simulator orders per market; at this many, the stalest quote is cancelled first."""

_MAKERS = ("sim-maker-1", "sim-maker-2", "sim-maker-3")
_TAKERS = ("sim-taker-1", "sim-taker-2")
_SWEEPER = "sim-sweeper"

_MIN_LEVELS_PER_SIDE = 3  # a thinner side is replenished before anything else happens
_SEED_LEVELS_PER_SIDE = 6
_MAX_QUOTE_DISTANCE_TICKS = 8
_MAX_TAKEN_LEVELS = 3
_MAX_QUOTE_SIZE_IN_MIN_SIZES = 40
# The official clients round order sizes to 2 decimals (venue notes: Amounts).
_SIZE_STEP_MICROS = 10_000
# The fair value wanders within [0.02, 0.98]: near the ends books reach the venue's finer-tick rule.
_FAIR_MIN_MICROS = 20_000
_FAIR_MAX_MICROS = 980_000
_FAIR_STEP_MICROS = 3_000
# step(): chance in percent of each action; the rest is a maker quote.
_CANCEL_PERCENT = 28
_TAKE_PERCENT = 28
_SWEEP_PERCENT = 4
# Takers that buy below fair value and sell above it; the others pick a side at random.
_INFORMED_TAKER_PERCENT = 70

_TOPICS = (
    "Bitcoin close above $150,000",
    "Ethereum trade above $8,000",
    "the Fed cut interest rates",
    "SpaceX launch Starship to orbit",
    "Apple release a foldable iPhone",
    "the S&P 500 close above 7,500",
    "a hurricane make landfall in Florida",
    "OpenAI announce GPT-6",
    "the Lakers win the NBA Finals",
    "Taylor Swift announce a new album",
    "gold trade above $4,000 per ounce",
    "the UK hold a general election",
    "NVIDIA become the largest company by market cap",
    "a new Pope be elected",
    "Tesla deliver 600,000 vehicles in a quarter",
)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October")
_TICKS = (TickSize.TICK_0_01, TickSize.TICK_0_01, TickSize.TICK_0_001)
# No fees, and the production curves (venue notes: Fees).
_FEE_SCHEDULES = (
    FeeSchedule(),
    FeeSchedule(rate=Decimal("0.03"), exponent=1),
    FeeSchedule(rate=Decimal("0.25"), exponent=2),
)
_MIN_ORDER_SIZE = Decimal(5)
# Token ids are uint256s in decimal; the venue's are 76 or 77 digits long.
_TOKEN_ID_LOW = 10**75
_TOKEN_ID_HIGH = 10**77


def generate_markets(count: int, *, seed: int) -> list[MarketInfo]:
    """``count`` binary Yes/No markets derived from ``seed`` alone (same seed, same markets).

    Token ids are random 76-77 digit decimals and condition ids ``0x`` + 64 hex digits; tick sizes
    mix 0.01 and 0.001, ``neg_risk`` is true for about a third, and the minimum order size is 5.
    """
    if count < 0:
        raise InvalidValueError("market count must not be negative", count=count)
    rng = random.Random(seed)
    markets: list[MarketInfo] = []
    for _ in range(count):
        topic = rng.choice(_TOPICS)
        deadline = f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {rng.randint(2026, 2028)}"
        yes = OutcomeToken(token_id(str(rng.randrange(_TOKEN_ID_LOW, _TOKEN_ID_HIGH))), "Yes")
        no = OutcomeToken(token_id(str(rng.randrange(_TOKEN_ID_LOW, _TOKEN_ID_HIGH))), "No")
        markets.append(
            MarketInfo(
                condition_id=condition_id(f"0x{rng.getrandbits(256):064x}"),
                question=f"Will {topic} by {deadline}?",
                tokens=(yes, no),
                tick_size=rng.choice(_TICKS),
                min_order_size=_MIN_ORDER_SIZE,
                neg_risk=rng.randrange(3) == 0,
                fee_schedule=rng.choice(_FEE_SCHEDULES),
            )
        )
    return markets


# The neg-risk operator prepares the venue's neg-risk markets: it is the oracle their market ids are derived from.
_NEG_RISK_OPERATOR = "0x71523d0f655B41E805Cec45b17163f528B59B820"
_ELECTIONS = ("Springfield mayoral election", "Riverside council election", "Lakeview governor race")
_CANDIDATES = ("Alice Archer", "Bruno Costa", "Chen Wei", "Dana Okafor", "Emil Novak", "Fatima Rahman")


@dataclass(frozen=True, slots=True)
class NegRiskEvent:
    """A neg-risk market: its id and its questions' binary markets in question-index order."""

    market_id: str
    questions: tuple[MarketInfo, ...]


def generate_neg_risk_event(questions: int, *, seed: int) -> NegRiskEvent:
    """A neg-risk market of ``questions`` candidates (2 to 6), derived from ``seed`` alone.

    Unlike :func:`generate_markets`, every id is the one the chain derives: the market id from the operator,
    a zero fee and the event's metadata, question ids from it, condition ids with the neg-risk adapter as
    oracle, and token ids the positions over the wrapped collateral. So the emulated adapter's
    ``convertPositions`` and the CLOB trade the same tokens, and a client can derive them as on the venue.
    """
    if not 2 <= questions <= len(_CANDIDATES):
        raise InvalidValueError(f"a neg-risk event has 2 to {len(_CANDIDATES)} questions", questions=questions)
    rng = random.Random(f"neg-risk:{seed}")
    election = f"{rng.choice(_ELECTIONS)} {rng.randint(2027, 2030)}"
    market = neg_risk_market_id(_NEG_RISK_OPERATOR, 0, f"Who will win the {election}? (seed {seed})".encode())
    infos = []
    for index, candidate in enumerate(_CANDIDATES[:questions]):
        condition = neg_risk_condition_id(neg_risk_question_id(market, index))
        positions = binary_positions(condition, neg_risk=True)
        infos.append(
            MarketInfo(
                condition_id=condition_id(condition),
                question=f"Will {candidate} win the {election}?",
                tokens=(
                    OutcomeToken(token_id(str(positions.yes)), "Yes"),
                    OutcomeToken(token_id(str(positions.no)), "No"),
                ),
                tick_size=TickSize.TICK_0_01,
                min_order_size=_MIN_ORDER_SIZE,
                neg_risk=True,
                fee_schedule=_FEE_SCHEDULES[0],
            )
        )
    return NegRiskEvent(market, tuple(infos))


# Liquidity-reward programs: pUSD per day, the smallest qualifying order (in minimum order sizes)
# and how far from the midpoint it may rest (price micros), picked per market; about a third of
# the markets have none, as most of the venue's markets pay no rewards.
_REWARD_DAILY_RATES_MICROS = (10 * MICROS, 25 * MICROS, 100 * MICROS)
_REWARD_MIN_SIZES_IN_MIN_SIZES = (1, 4, 10)
_REWARD_MAX_SPREADS_MICROS = (20_000, 35_000, 45_000)


def reward_programs(markets: Sequence[MarketInfo], *, seed: int) -> dict[ConditionId, RewardProgram]:
    """The liquidity-reward program of each of ``markets`` that has one, derived from ``seed`` and
    the markets alone (their own random stream: the markets and the simulator's actions stay as they were)."""
    rng = random.Random(f"rewards:{seed}")
    programs: dict[ConditionId, RewardProgram] = {}
    for market in markets:
        daily_rate, min_sizes, max_spread = (
            rng.choice(_REWARD_DAILY_RATES_MICROS),
            rng.choice(_REWARD_MIN_SIZES_IN_MIN_SIZES),
            rng.choice(_REWARD_MAX_SPREADS_MICROS),
        )
        if rng.randrange(3):
            programs[market.condition_id] = RewardProgram(
                daily_rate_micros=daily_rate,
                min_size_micros=min_sizes * to_micros(market.min_order_size),
                max_spread_micros=max_spread,
            )
    return programs


@dataclass(slots=True)
class _Quote:
    """A resting simulator order with its Yes-space side (BUY = bid) and price."""

    order: Order
    side: Side
    price_micros: int


@dataclass(slots=True)
class _MarketAgents:
    fair_micros: int
    quotes: list[_Quote] = field(default_factory=list)


class MarketSimulator:
    """Seeded agents trading every open market of an exchange, one action per :meth:`step`.

    Synchronous on purpose: a server calls :meth:`step` at whatever rate it is configured for.
    Markets listed after construction join in; resolved markets are left alone.
    """

    def __init__(self, exchange: Exchange, *, seed: int) -> None:
        self._exchange = exchange
        self._rng = random.Random(seed)
        self._agents: dict[ConditionId, _MarketAgents] = {}
        self._holdings = AgentHoldings(exchange, (*_MAKERS, *_TAKERS, _SWEEPER))

    def seed_books(self) -> None:
        """Give every open market a two-sided book of several levels around its fair value."""
        for market_id in list(self._exchange.markets):
            if self._exchange.winning_token(market_id) is not None:
                continue
            agents = self._market_agents(self._exchange.markets[market_id])
            for distance in range(1, _SEED_LEVELS_PER_SIDE + 1):
                for side in (Side.BUY, Side.SELL):
                    for _ in range(self._rng.randint(1, 2)):
                        # Re-read the market: a quote can move it to a finer tick (venue notes: Market channel).
                        self._quote(self._exchange.markets[market_id], agents, side, distance)

    def step(self) -> None:
        """Perform one action (a quote, a cancel, a take or a sweep) on one open market."""
        rng = self._rng
        open_markets = [
            info
            for market_id, info in self._exchange.markets.items()
            if self._exchange.winning_token(market_id) is None
        ]
        if not open_markets:
            return
        info = rng.choice(open_markets)
        agents = self._market_agents(info)
        agents.fair_micros = _reflect(agents.fair_micros + rng.randint(-_FAIR_STEP_MICROS, _FAIR_STEP_MICROS))
        agents.quotes = [quote for quote in agents.quotes if quote.order.remaining_micros]
        levels = self._exchange.levels(info.tokens[0].token_id)

        if len(agents.quotes) >= MAX_ORDERS_PER_MARKET and self._cancel(agents, levels, stalest=True):
            return
        for side, side_levels in ((Side.BUY, levels.bids), (Side.SELL, levels.asks)):
            if len(side_levels) < _MIN_LEVELS_PER_SIDE:
                self._quote(info, agents, side, rng.randint(1, _MAX_QUOTE_DISTANCE_TICKS))
                return
        roll = rng.randrange(100)
        if roll < _CANCEL_PERCENT:
            acted = self._cancel(agents, levels, stalest=rng.randrange(2) == 0)
        elif roll < _CANCEL_PERCENT + _TAKE_PERCENT:
            acted = self._take(info, agents, levels)
        elif roll < _CANCEL_PERCENT + _TAKE_PERCENT + _SWEEP_PERCENT:
            acted = self._sweep(info, agents, levels)
        else:
            acted = False
        if not acted:
            self._quote(info, agents, rng.choice((Side.BUY, Side.SELL)), rng.randint(1, _MAX_QUOTE_DISTANCE_TICKS))

    # --- agents ----------------------------------------------------------------------------------

    def _market_agents(self, info: MarketInfo) -> _MarketAgents:
        agents = self._agents.get(info.condition_id)
        if agents is None:
            levels = self._exchange.levels(info.tokens[0].token_id)
            if levels.bids and levels.asks:
                fair = (levels.bids[-1].price_micros + levels.asks[-1].price_micros) // 2
            else:
                fair = self._rng.randrange(200_000, 800_001, 10_000)
            agents = self._agents[info.condition_id] = _MarketAgents(fair)
        return agents

    def _quote(self, info: MarketInfo, agents: _MarketAgents, side: Side, distance_ticks: int) -> None:
        """A maker quote ``distance_ticks`` from the reference price; on the other side if this one has no room."""
        levels = self._exchange.levels(info.tokens[0].token_id)
        tick = info.tick_size.micros_per_tick
        reference = _reference_price(agents.fair_micros, levels)
        price = _maker_price(side, reference, distance_ticks, tick, levels)
        if price is None:
            # Both sides cannot lack room at once: the reference price lies inside the spread.
            side = side.opposite
            price = _maker_price(side, reference, distance_ticks, tick, levels)
        if price is None:
            return
        min_size = to_micros(info.min_order_size)
        size = self._size(min_size, min_size * _MAX_QUOTE_SIZE_IN_MIN_SIZES)
        post_only = self._rng.randrange(2) == 0
        self._submit(
            info,
            agents,
            owner=self._rng.choice(_MAKERS),
            side=side,
            yes_price_micros=price,
            size_micros=size,
            time_in_force=TimeInForce.GTC,
            post_only=post_only,
        )

    def _cancel(self, agents: _MarketAgents, levels: BookLevels, *, stalest: bool) -> bool:
        """Cancel one of the simulator's quotes that is not the last order of its side."""
        cancellable = [quote for quote in agents.quotes if _keeps_side_filled(quote, levels)]
        if not cancellable:
            return False
        if stalest:
            quote = max(cancellable, key=lambda candidate: abs(candidate.price_micros - agents.fair_micros))
        else:
            quote = self._rng.choice(cancellable)
        self._exchange.cancel(quote.order.order_id)
        agents.quotes.remove(quote)
        return True

    def _take(self, info: MarketInfo, agents: _MarketAgents, levels: BookLevels) -> bool:
        """Cross the spread through up to a few levels with a FOK, FAK or GTC order, sometimes too big."""
        rng = self._rng
        if not (levels.bids and levels.asks):
            return False
        if rng.randrange(100) < _INFORMED_TAKER_PERCENT:
            # Trading toward fair value is what drags the book along with it.
            mid = (levels.bids[-1].price_micros + levels.asks[-1].price_micros) // 2
            side = Side.BUY if agents.fair_micros > mid else Side.SELL
        else:
            side = rng.choice((Side.BUY, Side.SELL))
        reachable = _reachable_levels(side, levels)
        if not reachable:
            return False
        taken = reachable[-rng.randint(1, min(_MAX_TAKEN_LEVELS, len(reachable))) :]
        available = sum(level.size_micros for level in taken)
        limit = _taker_limit(side, taken[0].price_micros, info.tick_size.micros_per_tick)
        if limit is None:
            return False
        # Up to half again what is there: a FOK is then killed, a FAK loses its remainder, a GTC rests it.
        size = self._size(to_micros(info.min_order_size), available + available // 2)
        time_in_force = rng.choice((TimeInForce.FOK, TimeInForce.FAK, TimeInForce.GTC))
        self._submit(
            info,
            agents,
            owner=rng.choice(_TAKERS),
            side=side,
            yes_price_micros=limit,
            size_micros=size,
            time_in_force=time_in_force,
        )
        return True

    def _sweep(self, info: MarketInfo, agents: _MarketAgents, levels: BookLevels) -> bool:
        """Take every level of one side but the deepest with one FAK."""
        side = self._rng.choice((Side.BUY, Side.SELL))
        reachable = _reachable_levels(side, levels)
        if len(reachable) < 2:
            return False
        limit = _taker_limit(side, reachable[0].price_micros, info.tick_size.micros_per_tick)
        if limit is None:
            return False
        size = max(sum(level.size_micros for level in reachable), to_micros(info.min_order_size))
        self._submit(
            info,
            agents,
            owner=_SWEEPER,
            side=side,
            yes_price_micros=limit,
            size_micros=size,
            time_in_force=TimeInForce.FAK,
        )
        return True

    def _submit(
        self,
        info: MarketInfo,
        agents: _MarketAgents,
        *,
        owner: str,
        side: Side,
        yes_price_micros: int,
        size_micros: int,
        time_in_force: TimeInForce,
        post_only: bool = False,
    ) -> None:
        """Place a Yes-space order, expressed on either token (a Yes bid at p is also a No sell at 1-p),
        but never as a SELL of shares ``owner`` does not hold."""
        token, token_side, price = self._holdings.placeable(
            owner, info, side, yes_price_micros, size_micros, on_no=self._rng.randrange(2) == 1
        )
        order = Order(
            # Shaped like the venue's order ids, which are EIP-712 hashes (venue notes: Order signing).
            order_id=f"0x{self._rng.getrandbits(256):064x}",
            owner=owner,
            token_id=token,
            side=token_side,
            price_micros=price,
            size_micros=size_micros,
            time_in_force=time_in_force,
            post_only=post_only,
        )
        if self._exchange.place(order).rests:
            agents.quotes.append(_Quote(order, side, yes_price_micros))

    def _size(self, min_micros: int, max_micros: int) -> int:
        """A size with 2 decimals between the two bounds (the minimum when they are inverted)."""
        return self._rng.randrange(min_micros, max(min_micros, max_micros) + 1, _SIZE_STEP_MICROS)


def _reflect(fair_micros: int) -> int:
    """Keep a random-walking fair value inside its bounds by bouncing off them."""
    if fair_micros < _FAIR_MIN_MICROS:
        return 2 * _FAIR_MIN_MICROS - fair_micros
    if fair_micros > _FAIR_MAX_MICROS:
        return 2 * _FAIR_MAX_MICROS - fair_micros
    return fair_micros


def _floor_to_grid(price_micros: int, tick_micros: int) -> int:
    return price_micros // tick_micros * tick_micros


def _ceil_to_grid(price_micros: int, tick_micros: int) -> int:
    return -(-price_micros // tick_micros) * tick_micros


def _reference_price(fair_micros: int, levels: BookLevels) -> int:
    """Fair value clamped into the current spread: makers quote around it, so they never cross and
    still fill the book with distinct levels when fair value has run away from it."""
    reference = fair_micros
    if levels.asks:
        reference = min(reference, levels.asks[-1].price_micros)
    if levels.bids:
        reference = max(reference, levels.bids[-1].price_micros)
    return reference


def _maker_price(
    side: Side, reference_micros: int, distance_ticks: int, tick_micros: int, levels: BookLevels
) -> int | None:
    """The Yes-space grid price ``distance_ticks`` beyond the reference on ``side`` (clamped inside
    (0, 1)); None when that would reach the opposite best price."""
    offset = (distance_ticks - 1) * tick_micros
    if side is Side.BUY:
        price = max(_floor_to_grid(reference_micros - 1, tick_micros) - offset, tick_micros)
        crosses = bool(levels.asks) and price >= levels.asks[-1].price_micros
    else:
        price = min(_ceil_to_grid(reference_micros + 1, tick_micros) + offset, MICROS - tick_micros)
        crosses = bool(levels.bids) and price <= levels.bids[-1].price_micros
    return None if crosses or not tick_micros <= price <= MICROS - tick_micros else price


def _reachable_levels(side: Side, levels: BookLevels) -> list[Level]:
    """The opposite side's levels a taker on ``side`` may take, best last: all but the deepest."""
    opposite = levels.asks if side is Side.BUY else levels.bids
    return opposite[1:]


def _taker_limit(side: Side, level_price_micros: int, tick_micros: int) -> int | None:
    """The limit that reaches a level, on the grid (rounded the less aggressive way); None if none is."""
    if side is Side.BUY:
        limit = _floor_to_grid(level_price_micros, tick_micros)
    else:
        limit = _ceil_to_grid(level_price_micros, tick_micros)
    return limit if tick_micros <= limit <= MICROS - tick_micros else None


def _keeps_side_filled(quote: _Quote, levels: BookLevels) -> bool:
    """True when cancelling ``quote`` leaves its Yes-space side with at least one order."""
    side_levels = levels.bids if quote.side is Side.BUY else levels.asks
    return len(side_levels) > 1 or (bool(side_levels) and side_levels[-1].size_micros > quote.order.remaining_micros)
