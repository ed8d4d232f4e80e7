"""Liquidity rewards of the emulated venue: each market's program, what makers earn, and the routes.

A market's :class:`RewardProgram` (set by the simulator, :func:`~polyinfra.emulator.simulator.reward_programs`)
pays ``daily_rate`` pUSD per UTC day to the makers who kept liquidity near its midpoint. The
emulator's rule, exact in integer micro-units:

* a **qualifying fill** is a fill of a resting order that, when it was taken, held at least
  ``min_size`` shares (the fill's size plus what remained after it) and rested within
  ``max_spread`` of its token's midpoint as the book stood before the taking order arrived (a book
  with an empty side has no midpoint, and nothing qualifies there);
* each day's pool is shared among that day's qualifying fills in proportion to their size: a
  wallet earns ``daily_rate x its qualifying size / all qualifying size`` of the market that day,
  rounded down to the micro-pUSD. The simulator's makers compete for the pool but hold no wallet,
  so their share is paid to nobody. Until the day ends its figures are the share so far.

An order counts the same whoever took it. ``max_spread`` is shown in cents of price, as the venue
does (``3.5`` is 0.035 either side), ``min_size`` in shares.

Public routes: ``GET /rewards/markets/current`` (the programs of open markets) and
``GET /rewards/markets/{condition_id}`` (one market's program with its listing), both paged. L2
routes, for the wallet the ``signature_type`` query names: ``GET /rewards/user?date=YYYY-MM-DD``
(earnings per market of that day, paged), ``/rewards/user/total?date=`` (the day's total per
asset), ``/rewards/user/percentages`` (today's share of each market's pool, in percent, rounded
down to 0.01) and ``/rewards/user/markets?date=`` (every open rewarded market with the wallet's
share and earnings of that day, paged; ``order_by``, ``position`` and ``no_competition`` are
accepted and the markets stay in listing order). ``GET /order-scoring?order_id=`` answers
``{"scoring": bool}`` for one of the key's orders and ``POST /orders-scoring`` with a list of ids a
map of id to bool: an order scores while it rests in a rewarded market holding at least
``min_size`` within ``max_spread`` of the midpoint as the book stands now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Final

import msgspec
from aiohttp import web
from msgspec import Struct

from polyinfra.core.eip712 import to_checksum_address
from polyinfra.core.matching import Fill, Order
from polyinfra.emulator.account_keys import AccountGate
from polyinfra.emulator.accounts import ApiKey
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.paging import page_of
from polyinfra.errors import ApiError, MalformedMessageError
from polyinfra.model.ids import ConditionId
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import micros_to_decimal
from polyinfra.wire.clob_rest import JSON_ENCODER, RewardRate, Rewards
from polyinfra.wire.clob_rewards import (
    MarketEarning,
    MarketRewards,
    RewardConfig,
    RewardsMarket,
    RewardsPage,
    RewardToken,
    TotalUserEarning,
    UserEarning,
    UserMarketRewards,
)
from polyinfra.wire.clob_ws import BestBidAskMessage, MarketEvent
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["PROGRAM_DAYS", "PUSD_ADDRESS", "LiquidityRewards", "RewardProgram", "RewardsApi"]

PUSD_ADDRESS: Final = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"
"""The venue's collateral token (pUSD) on Polygon, the asset rewards are paid in."""

PROGRAM_DAYS: Final = 30
"""How long every program runs from the day the emulator starts."""

_CENTS_PER_UNIT: Final = 100
_PERCENT_HUNDREDTHS: Final = 10_000
_ASSET_RATE: Final = Decimal(1)
_DATE_LENGTH: Final = len("2026-01-01")
_SCORING_LIMIT: Final = 1_000
"""Order ids per ``POST /orders-scoring``, as many as one ``DELETE /orders`` may cancel."""
_INVALID_PAYLOAD: Final = "Invalid payload"
_ORDER_IDS: Final[JsonDecoder[list[str]]] = JsonDecoder(list[str], what="order ids")

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class RewardProgram:
    """One market's liquidity-reward program, in micro-units."""

    daily_rate_micros: int
    """pUSD the market pays its qualifying makers per UTC day."""
    min_size_micros: int
    """Shares a resting order must hold to qualify."""
    max_spread_micros: int
    """How far from the midpoint (in price) a qualifying order may rest."""

    def listing_rewards(self) -> Rewards:
        """The ``rewards`` object of the market's ``/markets`` entries."""
        return Rewards(
            rates=[
                RewardRate(asset_address=PUSD_ADDRESS, rewards_daily_rate=micros_to_decimal(self.daily_rate_micros))
            ],
            min_size=micros_to_decimal(self.min_size_micros),
            max_spread=_cents(self.max_spread_micros),
        )


class LiquidityRewards:
    """The programs and the qualifying fills of every market of ``exchange`` (see the module notes).

    ``maker_wallet`` names the wallet of a resting order by its id (None for the simulator's);
    ``clock_ms`` is the exchange's clock, which dates each fill.
    """

    def __init__(
        self,
        exchange: Exchange,
        programs: Mapping[ConditionId, RewardProgram],
        *,
        maker_wallet: Callable[[str], str | None],
        clock_ms: Callable[[], int],
    ) -> None:
        self._exchange = exchange
        self.programs = dict(programs)
        self._maker_wallet = maker_wallet
        self._clock_ms = clock_ms
        self.start_date = _day(clock_ms())
        self._midpoints: dict[str, int | None] = {token: exchange.midpoint(token) for token in exchange.tokens()}
        """Each token's midpoint as its book stands after the last action: before the next one."""
        self._qualifying: defaultdict[tuple[str, str], defaultdict[str | None, int]] = defaultdict(
            lambda: defaultdict(int)
        )
        """(day, condition id) -> qualifying size per wallet (None: the simulator's makers)."""
        self._unsubscribers = (exchange.subscribe_fills(self._on_fills), exchange.subscribe(self._on_events))

    def close(self) -> None:
        for unsubscribe in self._unsubscribers:
            unsubscribe()

    def _on_events(self, events: Sequence[MarketEvent]) -> None:
        # Fill listeners run before an action's events are published, so a fill meets the midpoints
        # of the book before the taking order arrived.
        for event in events:
            if isinstance(event, BestBidAskMessage):
                self._midpoints[event.asset_id] = self._exchange.midpoint(event.asset_id)

    def _on_fills(self, fills: Sequence[Fill]) -> None:
        day = _day(self._clock_ms())
        for fill in fills:
            market = self._exchange.market_of(fill.maker_token_id)
            program = None if market is None else self.programs.get(market.condition_id)
            if market is None or program is None:
                continue
            held = fill.size_micros + fill.maker_remaining_micros
            midpoint = self._midpoints.get(fill.maker_token_id)
            if held < program.min_size_micros or midpoint is None:
                continue
            if abs(fill.maker_price_micros - midpoint) > program.max_spread_micros:
                continue
            wallet = self._maker_wallet(fill.maker_order_id)
            owner = None if wallet is None else to_checksum_address(wallet)
            self._qualifying[day, market.condition_id][owner] += fill.size_micros

    def earnings_micros(self, wallet: str, day: str, condition_id: str) -> int:
        """The wallet's share of the market's pool on ``day``, in micro-pUSD (rounded down)."""
        program = self.programs.get(ConditionId(condition_id))
        mine, everyone = self._sizes(wallet, day, condition_id)
        return 0 if program is None or not everyone else program.daily_rate_micros * mine // everyone

    def share_hundredths(self, wallet: str, day: str, condition_id: str) -> int:
        """The wallet's share of the market's qualifying size on ``day``, in hundredths of a percent (rounded down)."""
        mine, everyone = self._sizes(wallet, day, condition_id)
        return 0 if not everyone else _PERCENT_HUNDREDTHS * mine // everyone

    def markets_earned(self, wallet: str, day: str) -> list[ConditionId]:
        """The markets where the wallet has qualifying fills on ``day``, in listing order."""
        return [condition for condition in self.programs if self._sizes(wallet, day, condition)[0] > 0]

    def _sizes(self, wallet: str, day: str, condition_id: str) -> tuple[int, int]:
        """The wallet's qualifying size in the market on ``day``, and everyone's."""
        sizes = self._qualifying.get((day, condition_id))
        if sizes is None:
            return 0, 0
        return sizes.get(to_checksum_address(wallet), 0), sum(sizes.values())

    def scores(self, order: Order) -> bool:
        """Whether a resting order earns now: in a rewarded market, holding at least ``min_size``
        and within ``max_spread`` of its token's midpoint as the book stands."""
        market = self._exchange.market_of(order.token_id)
        program = None if market is None else self.programs.get(market.condition_id)
        midpoint = self._exchange.midpoint(order.token_id) if program is not None else None
        return (
            program is not None
            and midpoint is not None
            and order.remaining_micros >= program.min_size_micros
            and abs(order.price_micros - midpoint) <= program.max_spread_micros
        )

    def today(self) -> str:
        return _day(self._clock_ms())


class RewardsApi:
    """The rewards routes over :class:`LiquidityRewards`; the L2 ones authenticate through ``gate``."""

    def __init__(
        self,
        rewards: LiquidityRewards,
        exchange: Exchange,
        gate: AccountGate,
        *,
        resting_order: Callable[[ApiKey, str], Order | None],
        page_size: int,
    ) -> None:
        self._rewards = rewards
        self._exchange = exchange
        self._gate = gate
        self._resting_order = resting_order
        self._page_size = page_size

    def routes(self) -> list[tuple[str, str, _Handler]]:
        return [
            ("GET", "/rewards/markets/current", self._current),
            ("GET", "/rewards/markets/{condition_id}", self._market),
            ("GET", "/rewards/user", self._user_earnings),
            ("GET", "/rewards/user/total", self._user_total),
            ("GET", "/rewards/user/percentages", self._user_percentages),
            ("GET", "/rewards/user/markets", self._user_markets),
            ("GET", "/order-scoring", self._order_scoring),
            ("POST", "/orders-scoring", self._orders_scoring),
        ]

    # -- public ----------------------------------------------------------------------------------

    async def _current(self, request: web.Request) -> web.Response:
        return self._paged(
            request, [self._rewards_market(market, program) for market, program in self._open_programs()]
        )

    async def _market(self, request: web.Request) -> web.Response:
        condition = ConditionId(request.match_info["condition_id"])
        market = self._exchange.markets.get(condition)
        if market is None:
            raise ApiError("market not found", status=HTTPStatus.NOT_FOUND, condition_id=condition)
        program = self._rewards.programs.get(condition)
        found = [] if program is None else [self._market_rewards(market, program)]
        return self._paged(request, found)

    # -- L2 --------------------------------------------------------------------------------------

    async def _user_earnings(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        wallet = self._gate.funder(key, request)
        day = _date_query(request)
        earned = [
            UserEarning(
                date=day,
                condition_id=condition,
                asset_address=PUSD_ADDRESS,
                maker_address=wallet,
                earnings=micros_to_decimal(self._rewards.earnings_micros(wallet, day, condition)),
                asset_rate=_ASSET_RATE,
            )
            for condition in self._rewards.markets_earned(wallet, day)
        ]
        return self._paged(request, earned)

    async def _user_total(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        wallet = self._gate.funder(key, request)
        day = _date_query(request)
        total = sum(self._rewards.earnings_micros(wallet, day, condition) for condition in self._rewards.programs)
        earned = TotalUserEarning(
            date=day,
            asset_address=PUSD_ADDRESS,
            maker_address=wallet,
            earnings=micros_to_decimal(total),
            asset_rate=_ASSET_RATE,
        )
        return _json([earned])

    async def _user_percentages(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        wallet = self._gate.funder(key, request)
        day = self._rewards.today()
        shares = {
            condition: _percent(self._rewards.share_hundredths(wallet, day, condition))
            for condition in self._rewards.markets_earned(wallet, day)
        }
        return _json(shares)

    async def _user_markets(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        wallet = self._gate.funder(key, request)
        day = _date_query(request)
        rows = []
        for market, program in self._open_programs():
            listed = self._market_rewards(market, program)
            earnings = micros_to_decimal(self._rewards.earnings_micros(wallet, day, market.condition_id))
            rows.append(
                UserMarketRewards(
                    **msgspec.structs.asdict(listed),
                    maker_address=wallet,
                    earning_percentage=_percent(self._rewards.share_hundredths(wallet, day, market.condition_id)),
                    earnings=[MarketEarning(asset_address=PUSD_ADDRESS, earnings=earnings, asset_rate=_ASSET_RATE)],
                )
            )
        return self._paged(request, rows)

    async def _order_scoring(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        order_id = request.query.get("order_id", "")
        if not order_id:
            raise ApiError("order_id is required", status=HTTPStatus.BAD_REQUEST)
        return _json({"scoring": self._scoring(key, order_id)})

    async def _orders_scoring(self, request: web.Request) -> web.Response:
        key = await self._gate.authenticate(request)
        try:
            order_ids = _ORDER_IDS.decode(await request.read())
        except MalformedMessageError:
            raise ApiError(_INVALID_PAYLOAD, status=HTTPStatus.BAD_REQUEST) from None
        if len(order_ids) > _SCORING_LIMIT:
            raise ApiError(f"Too many orders in payload, max allowed: {_SCORING_LIMIT}", status=HTTPStatus.BAD_REQUEST)
        return _json({order_id: self._scoring(key, order_id) for order_id in order_ids})

    # -- helpers ---------------------------------------------------------------------------------

    def _scoring(self, key: ApiKey, order_id: str) -> bool:
        # Another key's order, or one no longer resting, is simply not scoring for this key.
        order = self._resting_order(key, order_id)
        return order is not None and self._rewards.scores(order)

    def _open_programs(self) -> list[tuple[MarketInfo, RewardProgram]]:
        return [
            (market, program)
            for condition, market in self._exchange.markets.items()
            if (program := self._rewards.programs.get(condition)) is not None
            and self._exchange.winning_token(condition) is None
        ]

    def _configs(self, program: RewardProgram) -> list[RewardConfig]:
        start = date.fromisoformat(self._rewards.start_date)
        return [
            RewardConfig(
                asset_address=PUSD_ADDRESS,
                start_date=start.isoformat(),
                end_date=(start + timedelta(days=PROGRAM_DAYS - 1)).isoformat(),
                rate_per_day=micros_to_decimal(program.daily_rate_micros),
                total_rewards=micros_to_decimal(program.daily_rate_micros * PROGRAM_DAYS),
            )
        ]

    def _rewards_market(self, market: MarketInfo, program: RewardProgram) -> RewardsMarket:
        return RewardsMarket(
            condition_id=market.condition_id,
            rewards_max_spread=_cents(program.max_spread_micros),
            rewards_min_size=micros_to_decimal(program.min_size_micros),
            rewards_config=self._configs(program),
        )

    def _market_rewards(self, market: MarketInfo, program: RewardProgram) -> MarketRewards:
        return MarketRewards(
            **msgspec.structs.asdict(self._rewards_market(market, program)),
            question=market.question,
            market_slug=self._exchange.listing(market.condition_id).slug,
            tokens=[
                RewardToken(
                    token_id=token.token_id,
                    outcome=token.outcome,
                    price=micros_to_decimal(self._exchange.display_price(token.token_id)),
                )
                for token in market.tokens
            ],
        )

    def _paged(self, request: web.Request, items: Sequence[Struct]) -> web.Response:
        page, next_cursor = page_of(items, request.query.get("next_cursor"), self._page_size)
        return _json(RewardsPage(limit=self._page_size, count=len(page), next_cursor=next_cursor, data=page))


def _day(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms // 1000, tz=UTC).date().isoformat()


def _cents(price_micros: int) -> Decimal:
    """A price distance in cents, as the venue shows ``max_spread`` (35,000 micros is 3.5)."""
    return micros_to_decimal(price_micros * _CENTS_PER_UNIT)


def _percent(hundredths: int) -> Decimal:
    """Hundredths of a percent as a percentage: 10,000 is 100.00."""
    return Decimal(hundredths).scaleb(-2)


def _date_query(request: web.Request) -> str:
    text = request.query.get("date", "")
    try:
        if len(text) != _DATE_LENGTH:
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ApiError("invalid date, expected YYYY-MM-DD", status=HTTPStatus.BAD_REQUEST) from None


def _json(body: object) -> web.Response:
    return web.Response(body=JSON_ENCODER.encode(body), content_type="application/json")
