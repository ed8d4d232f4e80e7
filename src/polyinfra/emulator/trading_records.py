"""What the emulated venue keeps of each order accepted through its API and each match, and how
it shows them: ``/data/order(s)`` and ``/data/trades`` rows and user-channel ``order`` and ``trade``
messages (venue notes: Responses, User channel).

Emulator choices where the venue is not documented: sizes and prices in order rows, trade rows
and responses are decimal strings (``"10"``, ``"0.57"``) as on the user channel (venue notes: User channel); a trade is
one object per taking order with every maker in ``maker_orders``, its ``asset_id``, ``side``,
``size`` and ``price`` the taker's (price of its first, best fill), and each participant sees it
with its own ``owner``, ``maker_address`` and ``trader_side``. Rows and messages are built when asked
for, from the live records: a page of rows costs the page, not the wallet's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from msgspec import Struct

from polyinfra.core.matching import Fill, Order
from polyinfra.emulator.accounts import ApiKey
from polyinfra.emulator.exchange import fee_rate_bps
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import format_micros
from polyinfra.wire.clob_user import MakerOrder, OrderMessage, TradeMessage, TradeRecord

__all__ = ["OpenOrderRow", "OrderRecord", "Trade", "open_order_row", "order_message", "trade_message", "trade_row"]

_ZERO_ADDRESS: Final = "0x" + "00" * 20


class OpenOrderRow(Struct, gc=False):
    """An open order as the venue lists it (venue notes: Responses)."""

    id: str
    status: str
    owner: str
    maker_address: str
    market: str
    asset_id: str
    side: str
    original_size: str
    size_matched: str
    price: str
    outcome: str
    expiration: str
    order_type: str
    associate_trades: list[str]
    created_at: int


@dataclass(slots=True)
class OrderRecord:
    """Everything the venue tells about one accepted order; ``order`` is the engine's, live."""

    order: Order
    key: ApiKey
    maker_address: str
    market: MarketInfo
    order_type: str
    created_at_s: int
    size_matched_micros: int = 0
    status: str = "LIVE"
    trade_ids: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return self.market.outcome_of(self.order.token_id)


@dataclass(slots=True)
class Trade:
    """One taking order's match: ``fills`` against every maker, in matching order."""

    trade_id: str
    market: MarketInfo
    taker: OrderRecord | None
    """The taking order's record (None for an order placed inside the emulator, by the simulator)."""
    fills: tuple[Fill, ...]
    makers: tuple[OrderRecord | None, ...]
    """The maker orders' records (None for orders placed inside the emulator, by the simulator)."""
    taker_fees_micros: tuple[int, ...]
    """The pUSD fee the taker paid on each fill (a FAILED trade refunds exactly these)."""
    maker_fees_micros: tuple[int, ...]
    """The pUSD fee each maker paid on its fill (zero under a taker-only schedule)."""
    match_time_s: int
    status: str = "MATCHED"
    last_update_s: int = 0
    transaction_hash: str = ""

    def participants(self) -> dict[str, OrderRecord]:
        """The first order of each API key involved, by key: whose users see this trade."""
        found: dict[str, OrderRecord] = {}
        for record in (self.taker, *self.makers):
            if record is not None:
                found.setdefault(record.key.api_key, record)
        return found


def _rest_status(record: OrderRecord) -> str:
    # The venue's docs spell REST statuses "ORDER_STATUS_LIVE"; the socket says "LIVE" (venue notes: User channel).
    return f"ORDER_STATUS_{record.status}"


def open_order_row(record: OrderRecord) -> OpenOrderRow:
    """``record`` as a row of ``/data/orders`` and the answer of ``/data/order/{id}``."""
    order = record.order
    return OpenOrderRow(
        id=order.order_id,
        status=_rest_status(record),
        owner=record.key.api_key,
        maker_address=record.maker_address,
        market=record.market.condition_id,
        asset_id=order.token_id,
        side=order.side.value,
        original_size=format_micros(order.size_micros),
        size_matched=format_micros(record.size_matched_micros),
        price=format_micros(order.price_micros),
        outcome=record.outcome,
        expiration=str(order.expiration_s),
        order_type=record.order_type,
        associate_trades=list(record.trade_ids),
        created_at=record.created_at_s,
    )


def trade_row(trade: Trade, mine: OrderRecord) -> TradeRecord:
    """``trade`` as a ``/data/trades`` row, seen by the participant whose order is ``mine``."""
    # The taking order's own fields come from its first fill: a simulator's order has no record.
    market = trade.market
    first = trade.fills[0]
    makers = [
        MakerOrder(
            order_id=fill.maker_order_id,
            owner=fill.maker_owner,
            maker_address=_ZERO_ADDRESS if maker is None else maker.maker_address,
            matched_amount=format_micros(fill.size_micros),
            price=format_micros(fill.maker_price_micros),
            fee_rate_bps=fee_rate_bps(market, taker=False),
            asset_id=fill.maker_token_id,
            outcome=market.outcome_of(fill.maker_token_id),
            side=fill.maker_side.value,
        )
        for fill, maker in zip(trade.fills, trade.makers, strict=True)
    ]
    return TradeRecord(
        id=trade.trade_id,
        taker_order_id=first.taker_order_id,
        market=market.condition_id,
        asset_id=first.taker_token_id,
        side=first.taker_side.value,
        size=format_micros(sum(fill.size_micros for fill in trade.fills)),
        # The simulator pays no fee: "0", as for any side charged nothing (module notes).
        fee_rate_bps="0" if trade.taker is None else fee_rate_bps(market, taker=True),
        price=format_micros(first.taker_price_micros),
        status=trade.status,
        match_time=str(trade.match_time_s),
        last_update=str(trade.last_update_s),
        outcome=market.outcome_of(first.taker_token_id),
        bucket_index=0,
        owner=mine.key.api_key,
        maker_address=mine.maker_address,
        transaction_hash=trade.transaction_hash,
        maker_orders=makers,
        trader_side="TAKER" if mine is trade.taker else "MAKER",
    )


def order_message(record: OrderRecord, kind: str, now_ms: int) -> OrderMessage:
    """The user-channel ``order`` message of ``kind`` (PLACEMENT, UPDATE, CANCELLATION) about ``record``."""
    order = record.order
    return OrderMessage(
        asset_id=order.token_id,
        associate_trades=list(record.trade_ids),
        created_at=str(record.created_at_s),
        expiration=str(order.expiration_s),
        id=order.order_id,
        maker_address=record.maker_address,
        market=record.market.condition_id,
        order_owner=record.key.api_key,
        order_type=record.order_type,
        original_size=format_micros(order.size_micros),
        outcome=record.outcome,
        owner=record.key.api_key,
        price=format_micros(order.price_micros),
        side=order.side.value,
        size_matched=format_micros(record.size_matched_micros),
        status=record.status,
        timestamp=str(now_ms),
        type=kind,
    )


def trade_message(row: TradeRecord, now_ms: int) -> TradeMessage:
    """The user-channel ``trade`` message that tells a participant its trade ``row`` now."""
    return TradeMessage(
        asset_id=row.asset_id,
        bucket_index=row.bucket_index,
        fee_rate_bps=row.fee_rate_bps,
        id=row.id,
        last_update=row.last_update,
        maker_address=row.maker_address,
        maker_orders=row.maker_orders,
        market=row.market,
        match_time=row.match_time,
        outcome=row.outcome,
        owner=row.owner,
        price=row.price,
        side=row.side,
        size=row.size,
        status=row.status,
        taker_order_id=row.taker_order_id,
        timestamp=str(now_ms),
        trade_owner=row.owner,
        trader_side=row.trader_side,
        transaction_hash=row.transaction_hash,
        type="TRADE",
    )
