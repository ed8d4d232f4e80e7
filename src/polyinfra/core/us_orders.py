"""US exchange orders, sans-I/O: exact requests out, exact orders and executions in, unique client order ids.

**Out.** :func:`insert_request` turns a :class:`UsOrderIntent` (Decimal price in dollars, Decimal quantity in
contracts) into the venue's ``InsertOrderRequest`` through the instrument's scales
(:class:`~polyinfra.core.us_instruments.UsInstrument`): a price off the tick, a quantity below the minimum or
finer than the quantity scale is a typed error, never rounded, and an instrument whose state takes no orders
(:data:`ORDER_ENTRY_STATES`) is refused with :class:`~polyinfra.errors.InstrumentNotTradingError` before
anything is sent. The venue keeps one book per market in YES terms, so an order on the NO outcome is sent as
its YES mirror: BUY NO at p is SELL YES at 1 - p (venue notes: US exchange order entry).

**In.** :func:`order_from_wire` and :func:`execution_from_wire` are the one decoder from the venue's
``Order`` and ``Execution``: any message, however hostile, becomes a :class:`UsOrder` / :class:`UsExecution`
with exact Decimals, or a :class:`~polyinfra.errors.MalformedMessageError`. Every Order carries the scales it
was made with (``price_scale``, ``fractional_quantity_scale``), so no reference data is needed to read it;
a commission is in notional units, dollars x price_scale x quantity scale, negative for a rebate.

**Ids.** :class:`ClientOrderIds` makes client order ids unique across threads and processes without any
coordination: ``<prefix>-<pid>-<64 random bits>-<counter>``. The counter is taken under a lock, so two threads
never share one; the process id and the random part differ between processes, and are made again in a
forked child (whose counter would otherwise repeat its parent's).
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
from dataclasses import dataclass
from decimal import Context, Decimal
from enum import Enum
from typing import Final

from polyinfra.core.us_instruments import MAX_SCALE, UsInstrument, UsInstrumentState
from polyinfra.errors import InstrumentNotTradingError, InvalidValueError, MalformedMessageError
from polyinfra.model.numbers import Side
from polyinfra.wire.us.polymarket.v1 import enums_pb2, orders_pb2, positions_pb2, trading_pb2

__all__ = [
    "MAX_CLORD_ID_CHARS",
    "ORDER_ENTRY_STATES",
    "ClientOrderIds",
    "Outcome",
    "UsExecution",
    "UsOrder",
    "UsOrderIntent",
    "UsPosition",
    "UsTimeInForce",
    "check_order_entry",
    "execution_from_wire",
    "insert_request",
    "order_from_wire",
    "position_from_wire",
    "yes_space",
]

ORDER_ENTRY_STATES: Final = frozenset({UsInstrumentState.OPEN, UsInstrumentState.PREOPEN})
"""States in which the venue takes new orders (PREOPEN: entry without matching until the opening auction)."""
MAX_CLORD_ID_CHARS: Final = 64
MAX_ID_CHARS: Final = 200
MAX_TEXT_CHARS: Final = 300
_INT64_MAX: Final = (1 << 63) - 1
_EXACT: Final = Context(prec=60)


class Outcome(Enum):
    YES = "yes"
    NO = "no"


class UsTimeInForce(Enum):
    """The time-in-force values polyinfra sends, with the venue's numbers."""

    DAY = enums_pb2.TIME_IN_FORCE_DAY
    GTC = enums_pb2.TIME_IN_FORCE_GOOD_TILL_CANCEL
    IOC = enums_pb2.TIME_IN_FORCE_IMMEDIATE_OR_CANCEL
    FOK = enums_pb2.TIME_IN_FORCE_FILL_OR_KILL


@dataclass(frozen=True, slots=True)
class UsOrderIntent:
    """A limit order as a user means it: ``price`` in dollars and ``quantity`` in contracts on ``outcome``."""

    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    time_in_force: UsTimeInForce = UsTimeInForce.GTC
    outcome: Outcome = Outcome.YES
    account: str = ""


def check_order_entry(instrument: UsInstrument) -> None:
    """:class:`InstrumentNotTradingError` unless ``instrument``'s state takes new orders."""
    if instrument.state not in ORDER_ENTRY_STATES or instrument.non_tradable:
        raise InstrumentNotTradingError(
            f"{instrument.symbol} takes no orders: it is {instrument.state.name}",
            symbol=instrument.symbol,
            state=instrument.state.name,
            hint="wait for the instrument to be OPEN",
        )


def yes_space(side: Side, price: Decimal, outcome: Outcome) -> tuple[Side, Decimal]:
    """The YES-book side and price of an order: a NO order is the opposite YES order at 1 - price."""
    if outcome is Outcome.YES:
        return side, price
    return side.opposite, Decimal(1) - price


def insert_request(instrument: UsInstrument, intent: UsOrderIntent, clord_id: str) -> trading_pb2.InsertOrderRequest:
    """The venue's request for ``intent`` on ``instrument``; typed errors for anything the venue would refuse
    for its form or its instrument's state (never rounded)."""
    if intent.symbol != instrument.symbol:
        raise InvalidValueError("the order's symbol is not the instrument's", symbol=intent.symbol)
    if not 0 < len(clord_id) <= MAX_CLORD_ID_CHARS:
        raise InvalidValueError(f"a client order id has 1 to {MAX_CLORD_ID_CHARS} characters", clord_id=clord_id)
    check_order_entry(instrument)
    if not isinstance(intent.price, Decimal) or not intent.price.is_finite() or not 0 < intent.price < 1:
        raise InvalidValueError("a price is a Decimal inside (0, 1) dollars", symbol=intent.symbol, price=intent.price)
    side, price = yes_space(intent.side, intent.price, intent.outcome)
    return trading_pb2.InsertOrderRequest(
        type=enums_pb2.ORDER_TYPE_LIMIT,
        side=enums_pb2.SIDE_BUY if side is Side.BUY else enums_pb2.SIDE_SELL,
        order_qty=instrument.quantity_units(intent.quantity),
        symbol=instrument.symbol,
        price=instrument.price_units(price),
        time_in_force=intent.time_in_force.value,
        clord_id=clord_id,
        account=intent.account,
    )


class ClientOrderIds:
    """Client order ids unique across threads and processes (see the module's text); ``prefix`` names the
    application in them (letters, digits and ``-``, at most 16 characters)."""

    def __init__(self, prefix: str = "pi") -> None:
        if not (0 < len(prefix) <= 16 and prefix.isascii() and prefix.replace("-", "").isalnum()):
            raise InvalidValueError("a client order id prefix is 1 to 16 letters, digits or '-'", prefix=prefix)
        self._prefix = prefix
        self._lock = threading.Lock()
        self._renew()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self) -> None:
        self._stem = f"{self._prefix}-{os.getpid():x}-{secrets.token_hex(8)}"
        self._counter = itertools.count(1)

    def next(self) -> str:
        with self._lock:
            return f"{self._stem}-{next(self._counter):x}"


@dataclass(frozen=True, slots=True)
class UsOrder:
    """The venue's ``Order``, exact: prices in dollars, quantities in contracts (YES terms, as the venue keeps
    its books). ``state`` is the OrderState name without its prefix (``"NEW"``, ``"FILLED"``)."""

    order_id: str
    clord_id: str
    symbol: str
    account: str
    side: Side
    state: str
    time_in_force: str
    price: Decimal
    quantity: Decimal
    filled: Decimal
    leaves: Decimal
    average_price: Decimal
    commission: Decimal

    @property
    def is_open(self) -> bool:
        return self.state in {"NEW", "PARTIALLY_FILLED", "PENDING_NEW", "PENDING_REPLACE", "PENDING_CANCEL"}


@dataclass(frozen=True, slots=True)
class UsExecution:
    """The venue's ``Execution``: what happened (``kind``: ``"NEW"``, ``"FILL"``, ``"EXPIRED"``, ...) and the
    order as it stands after it. ``last_quantity`` and ``last_price`` describe a fill; ``text`` and
    ``reject_reason`` a reject; ``commission`` is in dollars (negative: a rebate)."""

    execution_id: str
    kind: str
    order: UsOrder
    last_quantity: Decimal
    last_price: Decimal
    text: str
    reject_reason: str
    trade_id: str
    commission: Decimal


def _enum_name(enum: object, value: int, prefix: str, what: str) -> str:
    try:
        return enum.Name(value).removeprefix(prefix)  # type: ignore[attr-defined, no-any-return]
    except ValueError:
        raise MalformedMessageError(f"unknown {what}", value=value) from None


def _scale(value: int, name: str) -> int:
    if not 1 <= value <= MAX_SCALE:
        raise MalformedMessageError(f"{name} must be 1 to {MAX_SCALE}", value=value)
    return value


def _units(value: int, name: str) -> int:
    if not 0 <= value <= _INT64_MAX:
        raise MalformedMessageError(f"{name} is negative", value=value)
    return value


def _id(value: str, name: str, *, required: bool = False) -> str:
    if len(value) > MAX_ID_CHARS or (required and not value):
        raise MalformedMessageError(f"{name} must have 1 to {MAX_ID_CHARS} characters", length=len(value))
    return value


def order_from_wire(message: orders_pb2.Order, *, preview: bool = False) -> UsOrder:
    """The venue's ``Order`` as a :class:`UsOrder`; :class:`MalformedMessageError` for anything that cannot be
    one (no id unless it is a ``preview``, ids or symbols too long, a scale out of range, a negative quantity,
    an unknown enum)."""
    # An order made before the venue added the scales to it leaves them 0: whole units of a dollar price scale.
    price_scale = _scale(message.price_scale or 1, "price_scale")
    quantity_scale = _scale(message.fractional_quantity_scale or 1, "fractional_quantity_scale")
    price_divisor, quantity_divisor = Decimal(price_scale), Decimal(quantity_scale)
    side = _enum_name(enums_pb2.Side, message.side, "SIDE_", "side")
    if side not in ("BUY", "SELL"):
        raise MalformedMessageError("an order's side is BUY or SELL", side=side)
    return UsOrder(
        order_id=_id(message.id, "order id", required=not preview),
        clord_id=_id(message.clord_id, "clord_id"),
        symbol=_id(message.symbol, "symbol"),
        account=_id(message.account, "account"),
        side=Side.BUY if side == "BUY" else Side.SELL,
        state=_enum_name(enums_pb2.OrderState, message.state, "ORDER_STATE_", "order state"),
        time_in_force=_enum_name(enums_pb2.TimeInForce, message.time_in_force, "TIME_IN_FORCE_", "time in force"),
        price=_EXACT.divide(Decimal(_units(message.price, "price")), price_divisor),
        quantity=_EXACT.divide(Decimal(_units(message.order_qty, "order_qty")), quantity_divisor),
        filled=_EXACT.divide(Decimal(_units(message.cum_qty, "cum_qty")), quantity_divisor),
        leaves=_EXACT.divide(Decimal(_units(message.leaves_qty, "leaves_qty")), quantity_divisor),
        average_price=_EXACT.divide(Decimal(_units(message.avg_px, "avg_px")), price_divisor),
        commission=_EXACT.divide(
            Decimal(message.commission_notional_total_collected), price_divisor * quantity_divisor
        ),
    )


def execution_from_wire(message: orders_pb2.Execution) -> UsExecution:
    """The venue's ``Execution`` as a :class:`UsExecution`; :class:`MalformedMessageError` for anything that
    cannot be one (see :func:`order_from_wire`; an execution without its order is one)."""
    if not message.HasField("order"):
        raise MalformedMessageError("an execution carries its order", execution_id=message.id[:80])
    order = order_from_wire(message.order)
    scales = Decimal(message.order.price_scale or 1) * Decimal(message.order.fractional_quantity_scale or 1)
    return UsExecution(
        execution_id=_id(message.id, "execution id", required=True),
        kind=_enum_name(enums_pb2.ExecutionType, message.type, "EXECUTION_TYPE_", "execution type"),
        order=order,
        last_quantity=_EXACT.divide(
            Decimal(_units(message.last_shares, "last_shares")), Decimal(message.order.fractional_quantity_scale or 1)
        ),
        last_price=_EXACT.divide(Decimal(_units(message.last_px, "last_px")), Decimal(message.order.price_scale or 1)),
        text=message.text[:MAX_TEXT_CHARS],
        reject_reason=_enum_name(
            enums_pb2.OrdRejectReason, message.order_reject_reason, "ORD_REJECT_REASON_", "reject reason"
        ),
        trade_id=_id(message.trade_id, "trade id"),
        commission=_EXACT.divide(Decimal(message.commission_notional_collected), scales),
    )


@dataclass(frozen=True, slots=True)
class UsPosition:
    """A position in contracts (``net`` negative: short YES), exact."""

    account: str
    symbol: str
    net: Decimal
    bought: Decimal
    sold: Decimal


def position_from_wire(message: positions_pb2.Position, instrument: UsInstrument) -> UsPosition:
    """The venue's ``Position`` in ``instrument``'s quantity scale (a Position carries none of its own);
    :class:`MalformedMessageError` for ids too long, another instrument's symbol or negative totals."""
    if message.symbol != instrument.symbol:
        raise MalformedMessageError("a position of another instrument", symbol=message.symbol[:80])
    scale = Decimal(instrument.quantity_scale)
    return UsPosition(
        account=_id(message.account, "account"),
        symbol=instrument.symbol,
        net=_EXACT.divide(Decimal(message.net_position), scale),
        bought=_EXACT.divide(Decimal(_units(message.qty_bought, "qty_bought")), scale),
        sold=_EXACT.divide(Decimal(_units(message.qty_sold, "qty_sold")), scale),
    )
