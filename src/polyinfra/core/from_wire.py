"""The one module that turns wire structs into domain types (DESIGN principle 3).

Venue values are validated here, once: ids, tick sizes, sizes and fee curves that do not fit the
domain raise :class:`~polyinfra.errors.InvalidValueError` (or a subclass) naming the market and the
wire field, so a bad market is rejected where it enters, not where an order is signed.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final

from msgspec import UNSET, UnsetType

from polyinfra.core.pnl_reconciliation import VenuePnlPoint
from polyinfra.core.whale_radar import HolderRow
from polyinfra.errors import InvalidNumberError, InvalidTickSizeError, InvalidValueError, MalformedMessageError
from polyinfra.model import ids
from polyinfra.model.book import OrderBook
from polyinfra.model.ids import ConditionId, TokenId
from polyinfra.model.market import MAX_FEE_EXPONENT, FeeSchedule, MarketInfo, OutcomeToken
from polyinfra.model.numbers import (
    MAX_TIMESTAMP_DIGITS,
    MICROS,
    Side,
    TickSize,
    micros_to_decimal,
    parse_timestamp,
    to_micros,
)
from polyinfra.wire.clob_rest import (
    ClobMarketInfo,
    FeeDetails,
    LastTradePrice,
    LastTradesPricesItem,
    Market,
    OrderBookSummary,
    PriceHistory,
    TickSizeInfo,
)
from polyinfra.wire.clob_ws import PriceLevel
from polyinfra.wire.data_api import DataApiTokenHolders, V2PnlPoint, V2TokenHolders
from polyinfra.wire.gamma import GammaMarket
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "gamma_outcomes",
    "holders_from_v1",
    "holders_from_v2",
    "last_trade_from_wire",
    "market_info_from_clob_market_info",
    "market_info_from_gamma",
    "market_info_from_market",
    "order_book_from_summary",
    "pnl_series_from_v2",
    "price_from_wire",
    "price_history_from_wire",
    "tick_size_from_wire",
]

_BINARY = 2
_MAX_TIMESTAMP: Final = 10**MAX_TIMESTAMP_DIGITS


def market_info_from_market(market: Market) -> MarketInfo:
    """``GET /markets/{condition_id}`` (or a ``/markets`` page entry) to :class:`MarketInfo`.

    ``/markets`` carries no fee curve (its base fees are legacy V1 values, venue notes: Fees), so the
    result's ``fee_schedule`` is None (unknown, not zero); take fees from ``/clob-markets`` with
    :func:`market_info_from_clob_market_info`.
    """
    market_id = ids.condition_id(market.condition_id)
    return MarketInfo(
        condition_id=market_id,
        question=market.question,
        tokens=_binary_tokens(market_id, [(token.token_id, token.outcome) for token in market.tokens]),
        tick_size=_tick_size(market_id, "minimum_tick_size", market.minimum_tick_size),
        min_order_size=_size(market_id, "minimum_order_size", market.minimum_order_size),
        neg_risk=market.neg_risk,
    )


def market_info_from_gamma(market: GammaMarket) -> MarketInfo:
    """A Gamma market (venue notes: Gamma API) to :class:`MarketInfo`: its CLOB tokens (``clobTokenIds[i]``
    trades ``outcomes[i]``, both JSON-encoded strings), tick (``orderPriceMinTickSize``), minimum size,
    neg-risk flag and fee curve (``feeSchedule``, the authoritative one; ``feesEnabled`` false is no
    fee; fees on without a curve, ``null`` or absent, is unknown: ``None``).

    A market without a condition id, its token list or tick (a closed legacy market) raises
    :class:`InvalidValueError`, as does one that is not binary.
    """
    if isinstance(market.condition_id, UnsetType) or isinstance(market.order_price_min_tick_size, UnsetType):
        raise InvalidValueError("a Gamma market without a condition id or tick size", market_id=_or_none(market.id))
    market_id = ids.condition_id(market.condition_id)
    token_ids = _string_list(market_id, "clobTokenIds", market.clob_token_ids)
    outcomes = _string_list(market_id, "outcomes", market.outcomes)
    if len(token_ids) != len(outcomes):
        raise InvalidValueError(
            "clobTokenIds and outcomes differ in length",
            market=market_id,
            tokens=len(token_ids),
            outcomes=len(outcomes),
        )
    fee_schedule: FeeSchedule | None
    if market.fees_enabled is False:
        fee_schedule = FeeSchedule()
    elif market.fee_schedule is None or isinstance(market.fee_schedule, UnsetType):
        # Fees on (or not said) without a curve: unknown, never read as zero.
        fee_schedule = None
    else:
        sent = market.fee_schedule
        fee_schedule = _fee_curve(
            market_id, sent.rate, sent.exponent, sent.taker_only, prefix="feeSchedule.", names=("rate", "exponent")
        )
    return MarketInfo(
        condition_id=market_id,
        question="" if isinstance(market.question, UnsetType) else market.question,
        tokens=_binary_tokens(market_id, list(zip(token_ids, outcomes, strict=True))),
        tick_size=_tick_size(market_id, "orderPriceMinTickSize", market.order_price_min_tick_size),
        min_order_size=(
            Decimal(0)
            if isinstance(market.order_min_size, UnsetType)
            else _size(market_id, "orderMinSize", market.order_min_size)
        ),
        neg_risk=market.neg_risk is True,
        fee_schedule=fee_schedule,
    )


def gamma_outcomes(market: GammaMarket) -> list[tuple[str, str, Decimal | None]]:
    """``(outcome, token id, displayed price)`` of each outcome of a Gamma market, from its
    JSON-encoded ``outcomes``, ``clobTokenIds`` and ``outcomePrices`` (a price is None when absent or
    not a number). :class:`InvalidValueError` for lists that are missing or do not line up."""
    market_id = ids.condition_id(market.condition_id) if isinstance(market.condition_id, str) else ConditionId("")
    outcomes = _string_list(market_id, "outcomes", market.outcomes)
    token_ids = _string_list(market_id, "clobTokenIds", market.clob_token_ids)
    prices: list[Decimal | None] = [None] * len(outcomes)
    if not isinstance(market.outcome_prices, UnsetType):
        texts = _string_list(market_id, "outcomePrices", market.outcome_prices)
        prices = [_price_or_none(text) for text in texts] + prices[len(texts) :]
    if not len(outcomes) == len(token_ids) == len(prices):
        raise InvalidValueError("a Gamma market's outcome lists do not line up", market=market_id)
    return list(zip(outcomes, token_ids, prices, strict=True))


def _price_or_none(text: str) -> Decimal | None:
    try:
        return micros_to_decimal(to_micros(text))
    except InvalidNumberError:
        return None


_STRING_LIST: Final[JsonDecoder[list[str]]] = JsonDecoder(list[str], what="Gamma JSON-encoded list")


def _string_list(market: ConditionId, field: str, value: str | list[str] | UnsetType) -> list[str]:
    if isinstance(value, UnsetType):
        raise InvalidValueError("a Gamma market without its token list", market=market, field=field)
    if isinstance(value, list):
        return value
    try:
        return _STRING_LIST.decode(value)
    except MalformedMessageError as exc:
        raise InvalidValueError("not a JSON-encoded list of strings", market=market, field=field) from exc


def _or_none(value: str | UnsetType) -> str | None:
    return None if isinstance(value, UnsetType) else value


def market_info_from_clob_market_info(condition_id: str, info: ClobMarketInfo) -> MarketInfo:
    """``GET /clob-markets/{condition_id}`` (venue notes: Market info) to :class:`MarketInfo`.

    The answer has no question text, so ``question`` is ``""``. Absent keys take the official V2
    clients' defaults: min order size 0 (Rust client), neg risk false (``nr`` is omitted when
    false), and no fee when ``fd`` is absent or null.
    """
    market_id = ids.condition_id(condition_id)
    if info.condition_id is not UNSET and info.condition_id.lower() != market_id.lower():
        raise InvalidValueError(
            "clob-markets answer is for another market", market=market_id, field="c", value=info.condition_id
        )
    # Both official clients skip null entries of ``t``.
    pairs = [(token.token_id, token.outcome) for token in info.tokens if token is not None]
    return MarketInfo(
        condition_id=market_id,
        question="",
        tokens=_binary_tokens(market_id, pairs),
        tick_size=_tick_size(market_id, "mts", info.min_tick_size),
        min_order_size=Decimal(0) if info.min_order_size is UNSET else _size(market_id, "mos", info.min_order_size),
        neg_risk=False if info.neg_risk is UNSET else info.neg_risk,
        fee_schedule=_fee_schedule(market_id, info.fee_details),
    )


def order_book_from_summary(summary: OrderBookSummary) -> OrderBook:
    """A REST book summary (``GET /book``, an element of ``POST /books``) as an :class:`OrderBook`.

    Levels, tick size and last trade price are parsed strictly (any order of levels: the venue
    sends the best price last, venue notes: Order books); a tick size or last trade price that is absent (older
    summaries) or ``""`` (a token that never traded) is left unknown, as the market feed does. Values
    no venue book holds are refused as the feed refuses them: a price outside (0, 1) or off the tick
    grid, a size beyond :data:`~polyinfra.model.book.MAX_SIZE_MICROS`, a last trade outside (0, 1). The
    hash is not checked here: that is :func:`~polyinfra.core.book_hash.book_hash_matches`, over the
    summary exactly as received. A timestamp that is not decimal milliseconds leaves the book
    undated rather than refused (as does one too long to be a time): it dates the book, it is not its content.
    """
    token = ids.token_id(summary.asset_id)
    tick_size = None
    if summary.tick_size:
        try:
            tick_size = TickSize.parse(summary.tick_size)
        except InvalidTickSizeError as exc:
            raise InvalidTickSizeError(exc.message, token_id=token, field="tick_size", value=summary.tick_size) from exc
    book = OrderBook(token, market=summary.market, tick_size=tick_size)
    book.apply_snapshot(
        _levels(token, "bids", summary.bids),
        _levels(token, "asks", summary.asks),
        timestamp_ms=parse_timestamp(summary.timestamp),
    )
    problem = book.levels_error(tick_size)
    if problem is not None:
        raise InvalidNumberError(problem, token_id=token, field="bids/asks")
    if summary.last_trade_price:
        last_trade = _micros(token, "last_trade_price", summary.last_trade_price)
        if not 0 < last_trade < MICROS:
            raise InvalidNumberError(
                "not within (0, 1)", token_id=token, field="last_trade_price", value=summary.last_trade_price
            )
        book.last_trade_price_micros = last_trade
    return book


def price_from_wire(value: str | Decimal, *, token_id: str, field: str) -> Decimal:
    """A price, midpoint or spread of ``token_id`` as sent (a string or a JSON number) as an exact
    Decimal in [0, 1]; :class:`InvalidNumberError` naming the token and ``field`` otherwise."""
    micros = _micros(token_id, field, value)
    if micros > MICROS:
        raise InvalidNumberError("not within [0, 1]", token_id=token_id, field=field, value=value)
    return micros_to_decimal(micros)


def last_trade_from_wire(last: LastTradePrice | LastTradesPricesItem, *, token_id: str) -> tuple[Decimal, Side] | None:
    """``GET /last-trade-price`` (or an element of ``POST /last-trades-prices``) as (price, taker side).

    None for a token that never traded: the venue then answers price ``"0.5"`` with side ``""``
    (venue notes: REST routes), a placeholder that must not pass for a trade at 0.5.
    """
    if last.side == "":
        return None
    if last.side not in (Side.BUY, Side.SELL):
        raise InvalidValueError("not a trade side", token_id=token_id, field="side", value=last.side)
    return price_from_wire(last.price, token_id=token_id, field="price"), Side(last.side)


def tick_size_from_wire(info: TickSizeInfo, *, token_id: str) -> TickSize:
    """``GET /tick-size`` (``{"minimum_tick_size": 0.01}``) as a :class:`TickSize`."""
    try:
        return TickSize.parse(info.minimum_tick_size)
    except InvalidTickSizeError as exc:
        raise InvalidTickSizeError(
            exc.message, token_id=token_id, field="minimum_tick_size", value=info.minimum_tick_size
        ) from exc


def price_history_from_wire(history: PriceHistory, *, token_id: str) -> list[tuple[int, Decimal]]:
    """``GET /prices-history`` as (unix seconds, price) points, in the venue's order (oldest first)."""
    return [(point.t, price_from_wire(point.p, token_id=token_id, field="history.p")) for point in history.history]


def holders_from_v1(answer: Sequence[DataApiTokenHolders], *, condition_id: str) -> list[HolderRow]:
    """``GET /holders?market=condition_id`` as :class:`~polyinfra.core.whale_radar.HolderRow` values (no P&L:
    v1 gives none). A row without ``outcome_index`` takes its token's place in the answer (the venue lists a
    market's tokens in outcome order). A negative or unbounded amount is a :class:`MalformedMessageError`."""
    return [
        _holder(
            token=group.token,
            place=index,
            wallet=holder.proxy_wallet,
            asset=holder.asset,
            outcome_index=holder.outcome_index,
            amount=holder.amount,
            pnl=None,
            name=_or_none(holder.name) or "",
            condition_id=condition_id,
        )
        for index, group in enumerate(answer)
        for holder in group.holders
    ]


def holders_from_v2(answer: Sequence[V2TokenHolders], *, condition_id: str) -> list[HolderRow]:
    """``GET /v2/holders?market=condition_id`` as :class:`~polyinfra.core.whale_radar.HolderRow` values: the
    P&L is ``total_pnl``, else realized plus unrealized when both came, else unavailable (None, never 0)."""
    rows = []
    for index, group in enumerate(answer):
        for holder in group.holders:
            pnl = holder.total_pnl
            if pnl is None and holder.realized_pnl is not None and holder.unrealized_pnl is not None:
                pnl = holder.realized_pnl + holder.unrealized_pnl
            outcome = UNSET if holder.outcome_index is None else holder.outcome_index
            name = _or_none(holder.name) or ""
            rows.append(
                _holder(
                    token=group.token,
                    place=index,
                    wallet=holder.proxy_wallet,
                    asset=holder.asset,
                    outcome_index=outcome,
                    amount=holder.amount,
                    pnl=pnl,
                    name=name,
                    condition_id=condition_id,
                )
            )
    return rows


def _holder(
    *,
    token: str,
    place: int,
    wallet: str,
    asset: str,
    outcome_index: int | UnsetType,
    amount: Decimal,
    pnl: Decimal | None,
    name: str,
    condition_id: str,
) -> HolderRow:
    index = place if isinstance(outcome_index, UnsetType) else outcome_index
    try:
        return HolderRow(
            wallet=wallet.lower(),
            condition_id=condition_id.lower(),
            token_id=asset or token,
            outcome_index=index,
            amount=amount,
            pnl=pnl,
            name=name[:100],
        )
    except InvalidNumberError as exc:
        raise MalformedMessageError(f"holder row refused: {exc.message}", wallet=wallet[:42]) from None


def pnl_series_from_v2(points: Sequence[V2PnlPoint]) -> list[VenuePnlPoint]:
    """``GET /v2/user-pnl`` as the :class:`~polyinfra.core.pnl_reconciliation.VenuePnlPoint` series the
    reconciliation compares a ledger with, oldest first; a component the venue left null stays None
    (unavailable, not zero). An unbounded number is a :class:`MalformedMessageError`."""
    series = []
    for point in sorted(points, key=lambda point: point.timestamp):
        if not 0 <= point.timestamp < _MAX_TIMESTAMP:
            raise MalformedMessageError("user P&L timestamp out of range", field="timestamp", value=point.timestamp)
        try:
            series.append(
                VenuePnlPoint(
                    timestamp_s=point.timestamp,
                    realized_market=point.realized_market_pnl,
                    fees=point.fees_paid,
                    rebates=point.rebates,
                    rewards=point.rewards,
                    referral=point.referral,
                )
            )
        except InvalidNumberError as exc:
            raise MalformedMessageError(f"user P&L point refused: {exc.message}") from None
    return series


def _levels(token: TokenId, field: str, levels: Sequence[PriceLevel]) -> list[tuple[int, int]]:
    return [
        (_micros(token, f"{field}.price", level.price), _micros(token, f"{field}.size", level.size)) for level in levels
    ]


def _micros(token: str, field: str, value: str | Decimal) -> int:
    try:
        return to_micros(value)
    except InvalidNumberError as exc:
        raise InvalidNumberError(exc.message, token_id=token, field=field, value=value) from exc


def _binary_tokens(market: ConditionId, pairs: Sequence[tuple[str, str]]) -> tuple[OutcomeToken, OutcomeToken]:
    if len(pairs) != _BINARY:
        raise InvalidValueError("not a binary market: expected two outcome tokens", market=market, tokens=len(pairs))
    (first_id, first_outcome), (second_id, second_outcome) = pairs
    first = OutcomeToken(_token_id(market, first_id), first_outcome)
    second = OutcomeToken(_token_id(market, second_id), second_outcome)
    if first.token_id == second.token_id:
        raise InvalidValueError("both outcomes have the same token id", market=market, token_id=first.token_id)
    return first, second


def _token_id(market: ConditionId, text: str) -> TokenId:
    try:
        return ids.token_id(text)
    except InvalidValueError as exc:
        raise InvalidValueError(exc.message, market=market, field="token_id", value=text) from exc


def _tick_size(market: ConditionId, field: str, value: Decimal) -> TickSize:
    try:
        return TickSize.parse(value)
    except InvalidTickSizeError as exc:
        raise InvalidTickSizeError(exc.message, market=market, field=field, value=value) from exc


def _size(market: ConditionId, field: str, value: Decimal) -> Decimal:
    try:
        return micros_to_decimal(to_micros(value))
    except InvalidNumberError as exc:
        raise InvalidNumberError(exc.message, market=market, field=field, value=value) from exc


def _fee_schedule(market: ConditionId, details: FeeDetails | UnsetType | None) -> FeeSchedule:
    if not isinstance(details, FeeDetails):
        return FeeSchedule()
    return _fee_curve(market, details.rate, details.exponent, details.taker_only, prefix="fd.", names=("r", "e"))


def _fee_curve(
    market: ConditionId,
    rate_sent: Decimal | UnsetType,
    exponent_sent: Decimal | UnsetType,
    taker_only_sent: bool | UnsetType,
    *,
    prefix: str,
    names: tuple[str, str],
) -> FeeSchedule:
    rate_field, exponent_field = (prefix + name for name in names)
    rate = Decimal(0) if isinstance(rate_sent, UnsetType) else rate_sent
    # Makers never pay under CLOB V2; every observed schedule is taker-only (venue notes: Fees).
    taker_only = True if isinstance(taker_only_sent, UnsetType) else taker_only_sent
    if isinstance(exponent_sent, UnsetType):
        if rate:
            # The official clients would default the exponent to 0 here; guessing a fee curve for
            # real money is worse than refusing the market.
            raise InvalidValueError("fee rate without an exponent", market=market, field=exponent_field, rate=rate)
        return FeeSchedule(taker_only=taker_only)
    exponent = exponent_sent
    # Range first: int() of an exponent such as 1e200000 would build a 200,000-digit int.
    if not (exponent.is_finite() and 0 <= exponent <= MAX_FEE_EXPONENT and exponent == exponent.to_integral_value()):
        raise InvalidNumberError(
            f"fee exponent is not an integer in [0, {MAX_FEE_EXPONENT}]",
            market=market,
            field=exponent_field,
            value=exponent,
        )
    try:
        return FeeSchedule(rate=rate, exponent=int(exponent), taker_only=taker_only)
    except InvalidNumberError as exc:
        raise InvalidNumberError(exc.message, market=market, field=rate_field, value=rate) from exc
