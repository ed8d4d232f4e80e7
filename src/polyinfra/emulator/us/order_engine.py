"""The emulated US exchange's order engine: order entry over the US books, and everything it reports.

Orders go into the books of :class:`~polyinfra.emulator.us.market.UsMarket` (the shared matching engine, one
YES-space book per instrument; a client sends a NO order as its YES mirror, so the wire only ever holds YES
prices) and meet the simulated agents there. The life of one order::

    insert --refused--> Refusal (the call fails with the catalogue's sentence; a REJECTED execution is published)
       |
       +--> NEW --(fills)--> PARTIAL_FILL ... --> FILL
             |                 |
             |                 +--> CANCELED  (cancel; IOC remainder)
             +--> EXPIRED      (FOK that cannot fill entirely: nothing traded)

Every step is an ``Execution`` of the venue's shape, and every fill also a ``Trade`` (state NEW, CLEARED
once :meth:`UsOrderEngine.clear_trades` runs, which the gRPC service schedules right after the call that
traded), a ``PositionChange`` per account that traded, and a commission: the venue's fee
``theta x contracts x p x (1 - p)`` rounded to the cent (taker 0.0695, maker -0.0125, a rebate), in notional
units (dollars x price_scale x quantity scale). All of it goes to the :class:`UsExchangeEvents` listeners in
the order it happened; the engine never knows who listens (the order and position streams, the DropCopy
history).

Refusals use the venue's sentences (:data:`~polyinfra.core.us_rejects.REJECT_TEXTS`): an unknown symbol, an
instrument not OPEN ("Book is HALTED"; PREOPEN too, as the emulator runs no opening auction), a client order
id used by an open order, a type other than a limit order of DAY/GTC/IOC/FOK, a quantity below the minimum,
a price outside (0, 1) or off the tick, and buying power: a BUY reserves price x quantity, a SELL (1 - price)
x quantity (the NO side it amounts to), against a starting balance per account. A halted book also refuses
cancels (SUSPENDED allows them), as the venue's states say.

Instrument states change by :meth:`UsOrderEngine.set_state` (the admin call) or on a schedule
(:meth:`UsOrderEngine.schedule_state`, applied by :meth:`UsOrderEngine.apply_due` on the engine's clock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Final, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from polyinfra.core.matching import Fill, Order, SubmitResult
from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState, instrument_to_wire
from polyinfra.core.us_rejects import REJECT_TEXTS
from polyinfra.emulator.us.exchange_events import UsExchangeEvents
from polyinfra.emulator.us.market import UsMarket
from polyinfra.emulator.us.order_faults import UsOrderFaults
from polyinfra.errors import InvalidValueError
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import Side
from polyinfra.model.orders import TimeInForce
from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2, enums_pb2, orders_pb2, positions_pb2, trading_pb2

__all__ = ["DEFAULT_ACCOUNT", "STARTING_BALANCE_USD", "Refusal", "UsOrderEngine"]

MessageT = TypeVar("MessageT", orders_pb2.Order, positions_pb2.Position)

DEFAULT_ACCOUNT: Final = "firms/emulator/accounts/default"
STARTING_BALANCE_USD: Final = Decimal(100_000)
TAKER_FEE: Final = Decimal("0.0695")
MAKER_FEE: Final = Decimal("-0.0125")
_CENT: Final = Decimal("0.01")
MAX_ID_CHARS: Final = 200
_OWNER_PREFIX: Final = "us:"
_TIME_IN_FORCE: Final = {
    enums_pb2.TIME_IN_FORCE_DAY: TimeInForce.GTC,  # the venue's DAY orders do not expire at the roll either
    enums_pb2.TIME_IN_FORCE_GOOD_TILL_CANCEL: TimeInForce.GTC,
    enums_pb2.TIME_IN_FORCE_IMMEDIATE_OR_CANCEL: TimeInForce.FAK,
    enums_pb2.TIME_IN_FORCE_FILL_OR_KILL: TimeInForce.FOK,
}
_OPEN_STATES: Final = frozenset({enums_pb2.ORDER_STATE_NEW, enums_pb2.ORDER_STATE_PARTIALLY_FILLED})
_CANCEL_STATES: Final = frozenset({UsInstrumentState.OPEN, UsInstrumentState.PREOPEN, UsInstrumentState.SUSPENDED})


class Refusal(Exception):  # noqa: N818 - a refusal is an answer, not a failure of the emulator
    """An order-entry call refused: the gRPC status ``code`` (its name) and the venue's ``text``."""

    def __init__(self, code: str, text: str, reason: int = enums_pb2.ORD_REJECT_REASON_EXCHANGE_OPTION) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.reason = reason


@dataclass(slots=True)
class _Account:
    balance: Decimal = STARTING_BALANCE_USD
    positions: dict[str, positions_pb2.Position] = field(default_factory=dict)


def _timestamp(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(seconds * 1_000_000_000))
    return stamp


class UsOrderEngine:
    """Order entry over ``market``; ``listeners`` hear every execution, trade, state and position change;
    ``clock_s`` is unix seconds."""

    def __init__(
        self,
        market: UsMarket,
        *,
        listeners: Iterable[UsExchangeEvents] = (),
        faults: UsOrderFaults | None = None,
        clock_s: Callable[[], float],
    ) -> None:
        self._market = market
        self._listeners = list(listeners)
        self.faults = faults if faults is not None else UsOrderFaults()
        self.clock_s = clock_s
        """The engine's clock (unix seconds): times executions and the state schedule."""
        self._orders: dict[str, orders_pb2.Order] = {}
        self._open_by_clord: dict[tuple[str, str], str] = {}
        self._accounts: dict[str, _Account] = {}
        self._uncleared: list[orders_pb2.Trade] = []
        self._schedule: list[tuple[float, str, UsInstrumentState]] = []
        self._next_id = 0
        market.on_fills(self._agent_fills)

    def add_listener(self, listener: UsExchangeEvents) -> None:
        self._listeners.append(listener)

    # --- reads ---------------------------------------------------------------------------------

    def instrument(self, symbol: str) -> UsInstrument:
        """The instrument as it is now; :class:`InvalidValueError` when there is none."""
        instrument = self._market.instrument(symbol)
        if instrument is None:
            raise InvalidValueError("no such instrument", symbol=symbol[:200])
        return instrument

    def order(self, order_id: str) -> orders_pb2.Order | None:
        return self._orders.get(order_id)

    def orders_with_clord_id(self, clord_id: str) -> list[orders_pb2.Order]:
        """Every order ever made with this client order id (to count duplicates)."""
        return [order for order in self._orders.values() if order.clord_id == clord_id]

    def open_orders(self, symbols: Sequence[str] = (), accounts: Sequence[str] = ()) -> list[orders_pb2.Order]:
        return [
            _copy(order)
            for order in self._orders.values()
            if order.state in _OPEN_STATES
            and (not symbols or order.symbol in symbols)
            and (not accounts or order.account in accounts)
        ]

    def positions(self, account: str) -> list[positions_pb2.Position]:
        return [_copy(position) for position in self._account(account).positions.values()]

    def balance(self, account: str) -> tuple[Decimal, Decimal]:
        """The account's balance and buying power, in dollars."""
        return self._account(account).balance, self._buying_power(account)

    # --- order entry -------------------------------------------------------------------------------

    def insert(self, request: trading_pb2.InsertOrderRequest) -> orders_pb2.Order:
        """Accept and match ``request``; :class:`Refusal` (with a REJECTED execution published) otherwise."""
        self.apply_due()
        account = request.account or DEFAULT_ACCOUNT
        try:
            instrument = self._checked(request, account)
        except Refusal as refusal:
            self._publish_reject(request, account, refusal)
            raise
        order = self._new_order(request, account, instrument)
        self._orders[order.id] = order
        self._execution(order, enums_pb2.EXECUTION_TYPE_NEW)
        self._open_by_clord[(account, order.clord_id)] = order.id
        self._match(order, instrument)
        return _copy(order)

    def preview(self, request: trading_pb2.InsertOrderRequest) -> orders_pb2.Order:
        """The order ``request`` would make, checked as an insert is, changing nothing."""
        account = request.account or DEFAULT_ACCOUNT
        instrument = self._checked(request, account, consume_faults=False)
        order = self._new_order(request, account, instrument, order_id="")
        return order

    def cancel(self, request: trading_pb2.CancelOrderRequest) -> None:
        """Cancel one open order by id (or client order id); :class:`Refusal` "Unknown order" otherwise."""
        self.apply_due()
        order = self._find_open(request.order_id, request.clord_id, request.symbol)
        instrument = self._instrument(order.symbol)
        if instrument.state not in _CANCEL_STATES:
            raise Refusal("FAILED_PRECONDITION", REJECT_TEXTS["book_not_open"].format(state=instrument.state.name))
        self._market.cancel(order.symbol, order.id)
        self._close(order, enums_pb2.ORDER_STATE_CANCELED, enums_pb2.EXECUTION_TYPE_CANCELED)

    def replace(self, request: trading_pb2.CancelReplaceOrderRequest) -> None:
        """Change an open order's price and quantity (its remainder leaves the book and comes back at the new
        price, losing its time priority); refused as an insert would be."""
        self.apply_due()
        order = self._find_open(request.order_id, request.clord_id, request.symbol)
        if self.faults.take("latency_stopgap_rejects"):
            raise Refusal("FAILED_PRECONDITION", REJECT_TEXTS["latency_stopgap"])
        instrument = self._instrument(order.symbol)
        if instrument.state is not UsInstrumentState.OPEN:
            raise Refusal("FAILED_PRECONDITION", REJECT_TEXTS["book_not_open"].format(state=instrument.state.name))
        price = request.price or order.price
        quantity = request.order_qty or order.order_qty
        self._check_price_quantity(instrument, price, quantity)
        if quantity <= order.cum_qty:
            raise Refusal(
                "INVALID_ARGUMENT", REJECT_TEXTS["minimum_quantity"].format(minimum=order.cum_qty + 1, given=quantity)
            )
        held = self._reserve(instrument, order.side, order.price, order.leaves_qty)
        cost = self._reserve(instrument, order.side, price, quantity - order.cum_qty)
        available = self._buying_power(order.account) + held
        if cost > available:
            raise Refusal(
                "FAILED_PRECONDITION", REJECT_TEXTS["buying_power"].format(available=available, requested=cost)
            )
        self._market.cancel(order.symbol, order.id)
        order.price = price
        order.order_qty = quantity
        order.leaves_qty = quantity - order.cum_qty
        self._execution(order, enums_pb2.EXECUTION_TYPE_REPLACE)
        self._match(order, instrument)

    # --- instrument states -----------------------------------------------------------------------

    def set_state(self, symbol: str, state: UsInstrumentState) -> UsInstrument:
        """Move ``symbol`` to ``state`` now and publish the change."""
        self.instrument(symbol)
        instrument = self._market.set_state(symbol, state)
        for listener in self._listeners:
            listener.instrument_state_change(instrument_to_wire(instrument))
        return instrument

    def schedule_state(self, symbol: str, state: UsInstrumentState, at_s: float) -> None:
        """Move ``symbol`` to ``state`` once the engine's clock reaches ``at_s``."""
        self.instrument(symbol)
        self._schedule.append((at_s, symbol, state))
        self._schedule.sort(key=lambda entry: entry[0])

    def apply_due(self) -> None:
        """Apply every scheduled state change that is due."""
        now = self.clock_s()
        while self._schedule and self._schedule[0][0] <= now:
            _, symbol, state = self._schedule.pop(0)
            self.set_state(symbol, state)

    def clear_trades(self) -> None:
        """Clear the trades made so far: each is reported again in state CLEARED."""
        trades, self._uncleared = self._uncleared, []
        for trade in trades:
            trade.state = enums_pb2.TRADE_STATE_CLEARED
            for listener in self._listeners:
                listener.trade(trade)

    # --- internals ---------------------------------------------------------------------------------

    def _id(self, kind: str) -> str:
        self._next_id += 1
        return f"{kind}-{self._next_id}"

    def _account(self, account: str) -> _Account:
        return self._accounts.setdefault(account, _Account())

    def _instrument(self, symbol: str) -> UsInstrument:
        instrument = self._market.instrument(symbol)
        if instrument is None:
            raise Refusal("NOT_FOUND", REJECT_TEXTS["unknown_instrument"], enums_pb2.ORD_REJECT_REASON_UNKNOWN_SYMBOL)
        return instrument

    def _checked(
        self, request: trading_pb2.InsertOrderRequest, account: str, *, consume_faults: bool = True
    ) -> UsInstrument:
        if consume_faults and self.faults.take("latency_stopgap_rejects"):
            raise Refusal("FAILED_PRECONDITION", REJECT_TEXTS["latency_stopgap"])
        if consume_faults and self.faults.inject_reject and self.faults.take("inject_reject_count"):
            raise Refusal("FAILED_PRECONDITION", _injected_text(self.faults.inject_reject))
        if len(request.clord_id) > MAX_ID_CHARS or len(account) > MAX_ID_CHARS:
            raise Refusal("INVALID_ARGUMENT", f"clord_id and account have at most {MAX_ID_CHARS} characters")
        instrument = self._instrument(request.symbol)
        if instrument.state is not UsInstrumentState.OPEN:
            raise Refusal(
                "FAILED_PRECONDITION",
                REJECT_TEXTS["book_not_open"].format(state=instrument.state.name),
                enums_pb2.ORD_REJECT_REASON_EXCHANGE_CLOSED,
            )
        if not request.clord_id or (account, request.clord_id) in self._open_by_clord:
            raise Refusal("ALREADY_EXISTS", REJECT_TEXTS["duplicate_clord_id"])
        if (
            request.type != enums_pb2.ORDER_TYPE_LIMIT
            or request.time_in_force not in _TIME_IN_FORCE
            or request.side not in (enums_pb2.SIDE_BUY, enums_pb2.SIDE_SELL)
        ):
            raise Refusal(
                "INVALID_ARGUMENT", REJECT_TEXTS["order_type"], enums_pb2.ORD_REJECT_REASON_INCORRECT_ORDER_TYPE
            )
        self._check_price_quantity(instrument, request.price, request.order_qty)
        if self._would_self_match(account, request):
            raise Refusal("FAILED_PRECONDITION", REJECT_TEXTS["self_match"])
        cost = self._reserve(instrument, request.side, request.price, request.order_qty)
        available = self._buying_power(account)
        if cost > available:
            raise Refusal(
                "FAILED_PRECONDITION", REJECT_TEXTS["buying_power"].format(available=available, requested=cost)
            )
        return instrument

    def _check_price_quantity(self, instrument: UsInstrument, price: int, quantity: int) -> None:
        if quantity < instrument.minimum_quantity_units:
            raise Refusal(
                "INVALID_ARGUMENT",
                REJECT_TEXTS["minimum_quantity"].format(minimum=instrument.minimum_quantity_units, given=quantity),
                enums_pb2.ORD_REJECT_REASON_INCORRECT_QUANTITY,
            )
        tick = instrument.tick_units
        if price < tick:
            text = REJECT_TEXTS["low_price_limit"].format(limit=instrument.price(tick), given=instrument.price(price))
            raise Refusal("INVALID_ARGUMENT", text, enums_pb2.ORD_REJECT_REASON_PRICE_OUT_OF_BOUNDS)
        if price > instrument.price_scale - tick:
            high = instrument.price(instrument.price_scale - tick)
            text = REJECT_TEXTS["high_price_limit"].format(limit=high, given=instrument.price(price))
            raise Refusal("INVALID_ARGUMENT", text, enums_pb2.ORD_REJECT_REASON_PRICE_OUT_OF_BOUNDS)
        if price % tick:
            raise Refusal(
                "INVALID_ARGUMENT", REJECT_TEXTS["tick_size"], enums_pb2.ORD_REJECT_REASON_INVALID_PRICE_INCREMENT
            )

    def _would_self_match(self, account: str, request: trading_pb2.InsertOrderRequest) -> bool:
        # The venue's default instruction refuses the aggressor when it would trade with its own firm's order.
        buying = request.side == enums_pb2.SIDE_BUY
        return any(
            order.account == account
            and order.symbol == request.symbol
            and order.state in _OPEN_STATES
            and order.side != request.side
            and (order.price <= request.price if buying else order.price >= request.price)
            for order in self._orders.values()
        )

    @staticmethod
    def _reserve(instrument: UsInstrument, side: int, price: int, quantity: int) -> Decimal:
        per_contract = instrument.price(price if side == enums_pb2.SIDE_BUY else instrument.price_scale - price)
        return per_contract * instrument.quantity(quantity)

    def _buying_power(self, account: str) -> Decimal:
        reserved = sum(
            (
                self._reserve(self._instrument(order.symbol), order.side, order.price, order.leaves_qty)
                for order in self._orders.values()
                if order.account == account and order.state in _OPEN_STATES
            ),
            Decimal(0),
        )
        return self._account(account).balance - reserved

    def _new_order(
        self,
        request: trading_pb2.InsertOrderRequest,
        account: str,
        instrument: UsInstrument,
        order_id: str | None = None,
    ) -> orders_pb2.Order:
        now = _timestamp(self.clock_s())
        return orders_pb2.Order(
            id=self._id("ord") if order_id is None else order_id,
            type=request.type,
            side=request.side,
            order_qty=request.order_qty,
            symbol=request.symbol,
            clord_id=request.clord_id,
            time_in_force=request.time_in_force,
            account=account,
            leaves_qty=request.order_qty,
            state=enums_pb2.ORDER_STATE_NEW,
            price=request.price,
            insert_time=now,
            create_time=now,
            last_transact_time=now,
            price_scale=instrument.price_scale,
            fractional_quantity_scale=instrument.quantity_scale,
        )

    def _publish_reject(self, request: trading_pb2.InsertOrderRequest, account: str, refusal: Refusal) -> None:
        now = _timestamp(self.clock_s())
        order = orders_pb2.Order(
            id=self._id("ord"),
            type=request.type,
            side=request.side,
            order_qty=request.order_qty,
            symbol=request.symbol[:200],
            clord_id=request.clord_id[:200],
            time_in_force=request.time_in_force,
            account=account[:200],
            price=request.price,
            state=enums_pb2.ORDER_STATE_REJECTED,
            insert_time=now,
            last_transact_time=now,
        )
        self._execution(order, enums_pb2.EXECUTION_TYPE_REJECTED, text=refusal.text, order_reject_reason=refusal.reason)

    def _execution(self, order: orders_pb2.Order, kind: int, **fields: object) -> orders_pb2.Execution:
        execution = orders_pb2.Execution(
            id=self._id("exe"),
            order=order,
            type=kind,  # type: ignore[arg-type]
            transact_time=_timestamp(self.clock_s()),
            **fields,  # type: ignore[arg-type]
        )
        for listener in self._listeners:
            listener.execution(execution)
        return execution

    def _match(self, order: orders_pb2.Order, instrument: UsInstrument) -> None:
        scales = self._market.scales(order.symbol)
        engine_order = Order(
            order_id=order.id,
            owner=_OWNER_PREFIX + order.account,
            token_id=TokenId(order.symbol),
            side=Side.BUY if order.side == enums_pb2.SIDE_BUY else Side.SELL,
            price_micros=order.price * scales.price_micros,
            size_micros=order.leaves_qty * scales.quantity_micros,
            time_in_force=_TIME_IN_FORCE[order.time_in_force],
        )
        result: SubmitResult = self._market.submit(order.symbol, engine_order)
        for fill in result.fills:
            self._fill(order.symbol, fill, instrument)
        if result.killed_micros and not result.fills and order.time_in_force == enums_pb2.TIME_IN_FORCE_FILL_OR_KILL:
            self._close(order, enums_pb2.ORDER_STATE_EXPIRED, enums_pb2.EXECUTION_TYPE_EXPIRED)
        elif result.killed_micros:
            self._close(order, enums_pb2.ORDER_STATE_CANCELED, enums_pb2.EXECUTION_TYPE_CANCELED)

    def _agent_fills(self, symbol: str, fills: Sequence[Fill]) -> None:
        instrument = self._market.instrument(symbol)
        if instrument is None:
            return
        for fill in fills:
            if fill.maker_owner.startswith(_OWNER_PREFIX):
                self._fill(symbol, fill, instrument)
        self.clear_trades()

    def _fill(self, symbol: str, fill: Fill, instrument: UsInstrument) -> None:
        scales = self._market.scales(symbol)
        px = fill.maker_price_micros // scales.price_micros
        qty = fill.size_micros // scales.quantity_micros
        trade_id = self._id("trd")
        executions: list[orders_pb2.Execution] = []
        for order_id, owner, side, aggressor in (
            (fill.taker_order_id, fill.taker_owner, fill.taker_side, True),
            (fill.maker_order_id, fill.maker_owner, fill.maker_side, False),
        ):
            order = self._orders.get(order_id) if owner.startswith(_OWNER_PREFIX) else None
            if order is None:
                # The other side is a simulated agent: the trade report shows its side of the match only.
                executions.append(
                    orders_pb2.Execution(
                        id=self._id("exe"),
                        order=orders_pb2.Order(
                            symbol=symbol,
                            side=enums_pb2.SIDE_BUY if side is Side.BUY else enums_pb2.SIDE_SELL,
                            price_scale=instrument.price_scale,
                            fractional_quantity_scale=instrument.quantity_scale,
                        ),
                        last_shares=qty,
                        last_px=px,
                        type=enums_pb2.EXECUTION_TYPE_FILL,
                        trade_id=trade_id,
                        aggressor=aggressor,
                    )
                )
                continue
            executions.append(self._order_fill(order, instrument, px, qty, trade_id, aggressor=aggressor))
        trade = orders_pb2.Trade(
            id=trade_id,
            aggressor=executions[0],
            passive=executions[1],
            trade_type=enums_pb2.TRADE_TYPE_REGULAR,
            state=enums_pb2.TRADE_STATE_NEW,
        )
        for listener in self._listeners:
            listener.trade(trade)
        self._uncleared.append(orders_pb2.Trade.FromString(trade.SerializeToString()))

    def _order_fill(
        self, order: orders_pb2.Order, instrument: UsInstrument, px: int, qty: int, trade_id: str, *, aggressor: bool
    ) -> orders_pb2.Execution:
        price, contracts = instrument.price(px), instrument.quantity(qty)
        fee = ((TAKER_FEE if aggressor else MAKER_FEE) * contracts * price * (1 - price)).quantize(_CENT, ROUND_HALF_UP)
        commission = int(fee * instrument.price_scale * instrument.quantity_scale)
        notional = order.avg_px * order.cum_qty + px * qty
        order.cum_qty += qty
        order.leaves_qty -= qty
        order.avg_px = notional // order.cum_qty
        order.price_to_quantity_filled[px] += qty
        order.commission_notional_total_collected += commission
        order.last_trade_id = trade_id
        order.last_transact_time.CopyFrom(_timestamp(self.clock_s()))
        done = order.leaves_qty == 0
        order.state = enums_pb2.ORDER_STATE_FILLED if done else enums_pb2.ORDER_STATE_PARTIALLY_FILLED
        if done:
            self._open_by_clord.pop((order.account, order.clord_id), None)
        buying = order.side == enums_pb2.SIDE_BUY
        account = self._account(order.account)
        account.balance += (-price * contracts if buying else price * contracts) - fee
        self._position(order.account, order.symbol, qty if buying else -qty, px * qty if buying else -px * qty)
        return self._execution(
            order,
            enums_pb2.EXECUTION_TYPE_FILL if done else enums_pb2.EXECUTION_TYPE_PARTIAL_FILL,
            last_shares=qty,
            last_px=px,
            trade_id=trade_id,
            aggressor=aggressor,
            commission_notional_collected=commission,
        )

    def _position(self, account: str, symbol: str, quantity: int, cost: int) -> None:
        positions = self._account(account).positions
        position = positions.setdefault(symbol, positions_pb2.Position(account=account, symbol=symbol))
        position.net_position += quantity
        if quantity > 0:
            position.qty_bought += quantity
        else:
            position.qty_sold -= quantity
        position.cost += cost
        now = _timestamp(self.clock_s())
        position.update_time.CopyFrom(now)
        change = dropcopy_pb2.PositionChange(position=position, change_time=now)
        for listener in self._listeners:
            listener.position_change(change)

    def _find_open(self, order_id: str, clord_id: str, symbol: str) -> orders_pb2.Order:
        order = self._orders.get(order_id) if order_id else None
        if order is None and clord_id:
            order = next(
                (
                    o
                    for o in self._orders.values()
                    if o.clord_id == clord_id and o.state in _OPEN_STATES and (not symbol or o.symbol == symbol)
                ),
                None,
            )
        if order is None or order.state not in _OPEN_STATES:
            raise Refusal("NOT_FOUND", REJECT_TEXTS["unknown_order"])
        return order

    def _close(self, order: orders_pb2.Order, state: int, kind: int) -> None:
        order.state = state  # type: ignore[assignment]
        order.leaves_qty = 0
        self._open_by_clord.pop((order.account, order.clord_id), None)
        self._execution(order, kind)


def _copy(message: MessageT) -> MessageT:
    return type(message).FromString(message.SerializeToString())


def _injected_text(name: str) -> str:
    """The catalogue's sentence ``name`` with example numbers, for the ``inject_reject`` knob."""
    return REJECT_TEXTS[name].format(
        limit="0.01", given="0", minimum=1, available=0, requested=1, state="HALTED", detail="injected by a knob"
    )
