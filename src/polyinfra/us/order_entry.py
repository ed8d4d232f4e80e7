"""``UsOrderEntry``: orders, positions and balances on the US exchange, exact and never sent twice.

    async with UsExchangeClient(target, tokens=tokens) as us, UsOrderStream(us) as stream:
        entry = UsOrderEntry(us, stream=stream, tier=1)
        placed = await entry.place(UsOrderIntent("aec-mlb-nyy-bos-2026-04-10", Side.BUY, Decimal("0.655"),
                                                 Decimal("3.12"), UsTimeInForce.GTC))
        await entry.cancel(order_id=placed.order_id)

Prices and quantities are Decimals, turned into the venue's int64 units through the instrument's scales
(:mod:`polyinfra.core.us_orders`): off the tick, below the minimum, or for an instrument whose state takes no
orders is a typed error before anything is sent. Instruments come from reference data once and are cached.
Given ``books`` (a running :class:`~polyinfra.us.live_books.UsLiveBooks`), a symbol those books follow is
taken as they last saw it, so an order for a book that has just halted is refused locally;
:meth:`UsOrderEntry.set_instrument_state` does the same from any other source (the instrument-state stream).

Each method waits for its own bucket of the venue's per-method limits (:func:`~polyinfra.core.venue_rate_limits.
us_order_entry_limits`, by volume ``tier``) on the shared limiter before it sends.

A refused order raises the typed error of its reject text (:mod:`polyinfra.core.us_rejects`); any other failure
the typed error of its gRPC status. **An insert is never retried blindly.** When its outcome is unknown (a
deadline, UNAVAILABLE, a cancelled call: the order may or may not have reached the exchange), the client order
id resolves it: first ``GetOpenOrders``, then the order stream (if one is given; it also knows orders that have
already filled or expired), waiting up to ``resolve_timeout_s`` for it to show the order, since the exchange
tells every accepted order there. Found: the placed order is returned with ``resolved=True``. Not found:
:class:`~polyinfra.errors.OrderOutcomeUnknownError`, to be looked up before placing the order again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final, TypeVar

from google.protobuf.message import Message

from polyinfra.core.config_checks import positive_number
from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState
from polyinfra.core.us_orders import (
    ClientOrderIds,
    UsOrder,
    UsOrderIntent,
    UsPosition,
    insert_request,
    order_from_wire,
    position_from_wire,
)
from polyinfra.core.us_rejects import reject_error, rule_for
from polyinfra.core.venue_rate_limits import us_order_entry_limits
from polyinfra.errors import (
    GrpcUnavailableError,
    InvalidValueError,
    MalformedMessageError,
    OrderOutcomeUnknownError,
    PolyinfraError,
    RequestTimeoutError,
    StreamClosedError,
)
from polyinfra.model.numbers import plain_decimal_parts
from polyinfra.net.rate_limit import AsyncRateLimiter, RateLimiter
from polyinfra.us.client import UsExchangeClient
from polyinfra.us.live_books import UsLiveBooks
from polyinfra.us.order_stream import UsOrderStream
from polyinfra.wire.us.polymarket.v1 import positions_pb2, trading_pb2

__all__ = ["UsBalance", "UsOrderEntry", "UsPlaced"]

ORDER_ENTRY_API: Final = "polymarket.v1.OrderEntryAPI"
POSITION_API: Final = "polymarket.v1.PositionAPI"
MAX_LIST_OPERATIONS: Final = 20
DEFAULT_RESOLVE_TIMEOUT_S: Final = 5.0
"""How long an insert whose answer was lost waits for the order stream to show its order."""
_UNKNOWN_OUTCOME: Final = (GrpcUnavailableError, RequestTimeoutError, StreamClosedError)
ResponseT = TypeVar("ResponseT", bound=Message)


@dataclass(frozen=True, slots=True)
class UsPlaced:
    """An order the exchange accepted: its ids, and whether it took a lookup to know (the answer was lost)."""

    order_id: str
    clord_id: str
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class UsBalance:
    """An account's cash balance and buying power in dollars."""

    balance: Decimal
    buying_power: Decimal


class UsOrderEntry:
    """Order entry over ``client``; ``stream`` (an open :class:`UsOrderStream`) helps resolve lost answers;
    ``books`` (running :class:`UsLiveBooks`) give the live state of the symbols they follow; ``tier`` is the
    firm's volume tier (1 to 4) for the per-method limits, shared through ``limiter``."""

    def __init__(
        self,
        client: UsExchangeClient,
        *,
        stream: UsOrderStream | None = None,
        books: UsLiveBooks | None = None,
        tier: int = 1,
        limiter: AsyncRateLimiter | None = None,
        client_order_ids: ClientOrderIds | None = None,
        account: str = "",
        resolve_timeout_s: float = DEFAULT_RESOLVE_TIMEOUT_S,
    ) -> None:
        self._client = client
        self._resolve_timeout_s = positive_number("resolve_timeout_s", resolve_timeout_s)
        self._stream = stream
        self._books = books
        self._limits = us_order_entry_limits(tier)
        self._limiter = limiter if limiter is not None else AsyncRateLimiter(RateLimiter())
        self._ids = client_order_ids if client_order_ids is not None else ClientOrderIds()
        self._account = account
        self._instruments: dict[str, UsInstrument] = {}

    # --- reference data ----------------------------------------------------------------------------

    async def instrument(self, symbol: str) -> UsInstrument:
        """The instrument: as the ``books`` see it now when they follow ``symbol``; otherwise from reference data on
        first use, then as :meth:`set_instrument_state` keeps it."""
        if self._books is not None and symbol in self._books.states():
            return self._books.instrument(symbol)
        cached = self._instruments.get(symbol)
        if cached is None:
            cached = self._instruments[symbol] = await self._client.instrument(symbol)
        return cached

    def set_instrument_state(self, symbol: str, state: UsInstrumentState) -> None:
        """Record a live state for ``symbol`` (a HALTED from market data refuses orders locally from now)."""
        cached = self._instruments.get(symbol)
        if cached is not None:
            self._instruments[symbol] = replace(cached, state=state)

    # --- orders ------------------------------------------------------------------------------------

    async def place(self, intent: UsOrderIntent, *, clord_id: str | None = None) -> UsPlaced:
        """Place one order; see the module's text for refusals and a lost answer."""
        request = await self._request(intent, clord_id)
        try:
            answer = await self._call("InsertOrder", request, trading_pb2.InsertOrderResponse, symbol=request.symbol)
        except _UNKNOWN_OUTCOME as lost:
            return await self._resolve(request.clord_id, request.symbol, lost)
        return UsPlaced(order_id=answer.order_id, clord_id=request.clord_id)

    async def place_list(self, intents: Sequence[UsOrderIntent]) -> list[UsPlaced | None]:
        """Place up to 20 orders in one call; None where the exchange refused one (its REJECTED execution on
        the order stream says why). A lost answer is resolved order by order."""
        if not 0 < len(intents) <= MAX_LIST_OPERATIONS:
            raise InvalidValueError(f"a list holds 1 to {MAX_LIST_OPERATIONS} orders", count=len(intents))
        requests = [await self._request(intent, None) for intent in intents]
        try:
            answer = await self._call(
                "InsertOrderList",
                trading_pb2.InsertOrderListRequest(requests=requests),
                trading_pb2.InsertOrderListResponse,
            )
        except _UNKNOWN_OUTCOME as lost:
            placed: list[UsPlaced | None] = []
            for request in requests:
                try:
                    placed.append(await self._resolve(request.clord_id, request.symbol, lost))
                except OrderOutcomeUnknownError:
                    placed.append(None)
            return placed
        if len(answer.responses) != len(requests):
            raise MalformedMessageError("InsertOrderList answered another number of orders", sent=len(requests))
        return [
            UsPlaced(order_id=response.order_id, clord_id=request.clord_id) if response.order_id else None
            for request, response in zip(requests, answer.responses, strict=True)
        ]

    async def cancel(self, *, order_id: str = "", clord_id: str = "", symbol: str = "") -> None:
        """Cancel one open order by its id or client order id; :class:`~polyinfra.errors.UnknownOrderError` if
        it is not open."""
        if not (order_id or clord_id):
            raise InvalidValueError("cancel needs an order id or a client order id")
        request = trading_pb2.CancelOrderRequest(order_id=order_id, clord_id=clord_id, symbol=symbol)
        await self._call("CancelOrder", request, trading_pb2.CancelOrderResponse, symbol=symbol)

    async def cancel_list(self, order_ids: Sequence[str]) -> None:
        """Cancel up to 20 open orders in one call (ids not open cancel nothing)."""
        if not 0 < len(order_ids) <= MAX_LIST_OPERATIONS:
            raise InvalidValueError(f"a list holds 1 to {MAX_LIST_OPERATIONS} cancels", count=len(order_ids))
        request = trading_pb2.CancelOrderListRequest(
            requests=[trading_pb2.CancelOrderRequest(order_id=order_id) for order_id in order_ids]
        )
        await self._call("CancelOrderList", request, trading_pb2.CancelOrderListResponse)

    async def replace(self, order_id: str, symbol: str, *, price: Decimal, quantity: Decimal) -> None:
        """Move an open order to ``price`` (YES dollars) and ``quantity`` (contracts), checked as an insert is."""
        await self._call(
            "CancelReplaceOrder",
            await self._replace_request(order_id, symbol, price, quantity),
            trading_pb2.CancelReplaceOrderResponse,
            symbol=symbol,
        )

    async def replace_list(self, changes: Sequence[tuple[str, str, Decimal, Decimal]]) -> None:
        """Up to 20 replaces ``(order_id, symbol, price, quantity)`` in one call."""
        if not 0 < len(changes) <= MAX_LIST_OPERATIONS:
            raise InvalidValueError(f"a list holds 1 to {MAX_LIST_OPERATIONS} replaces", count=len(changes))
        requests = [await self._replace_request(*change) for change in changes]
        await self._call(
            "CancelReplaceOrderList",
            trading_pb2.CancelReplaceOrderListRequest(requests=requests),
            trading_pb2.CancelReplaceOrderListResponse,
        )

    async def preview(self, intent: UsOrderIntent) -> UsOrder:
        """The order the exchange would make of ``intent``, checked as an insert is; nothing is placed."""
        request = await self._request(intent, "preview")
        answer = await self._call(
            "PreviewOrder",
            trading_pb2.PreviewOrderRequest(request=request),
            trading_pb2.PreviewOrderResponse,
            limited=False,
            symbol=request.symbol,
        )
        return order_from_wire(answer.preview_order, preview=True)

    async def open_orders(self, symbols: Iterable[str] = (), accounts: Iterable[str] = ()) -> list[UsOrder]:
        """The open orders (of ``symbols`` and ``accounts``; empty: all the user's)."""
        answer = await self._call(
            "GetOpenOrders",
            trading_pb2.GetOpenOrdersRequest(symbols=list(symbols), accounts=list(accounts)),
            trading_pb2.GetOpenOrdersResponse,
            limited=False,
        )
        return [order_from_wire(order) for order in answer.orders]

    # --- positions and balances --------------------------------------------------------------------

    async def positions(self, account: str = "") -> list[UsPosition]:
        """The account's positions in contracts (quantity scales from reference data)."""
        answer = await self._client.call(
            POSITION_API,
            "ListAccountPositions",
            positions_pb2.ListAccountPositionsRequest(name=account or self._account),
            positions_pb2.ListAccountPositionsResponse,
        )
        found = []
        for position in answer.positions:
            found.append(position_from_wire(position, await self.instrument(position.symbol)))
        return found

    async def balance(self, account: str = "") -> UsBalance:
        """The account's balance and buying power (the venue sends decimal strings)."""
        answer = await self._client.call(
            POSITION_API,
            "GetAccountBalance",
            positions_pb2.GetAccountBalanceRequest(name=account or self._account),
            positions_pb2.GetAccountBalanceResponse,
        )
        return UsBalance(
            balance=_decimal(answer.balance, "balance"), buying_power=_decimal(answer.buying_power, "buying_power")
        )

    # --- internals ---------------------------------------------------------------------------------

    async def _request(self, intent: UsOrderIntent, clord_id: str | None) -> trading_pb2.InsertOrderRequest:
        if not intent.account and self._account:
            intent = UsOrderIntent(
                intent.symbol,
                intent.side,
                intent.price,
                intent.quantity,
                intent.time_in_force,
                intent.outcome,
                self._account,
            )
        return insert_request(await self.instrument(intent.symbol), intent, clord_id or self._ids.next())

    async def _replace_request(
        self, order_id: str, symbol: str, price: Decimal, quantity: Decimal
    ) -> trading_pb2.CancelReplaceOrderRequest:
        instrument = await self.instrument(symbol)
        if not isinstance(price, Decimal) or not price.is_finite() or not 0 < price < 1:
            raise InvalidValueError("a price is a Decimal inside (0, 1) dollars", symbol=symbol, price=price)
        return trading_pb2.CancelReplaceOrderRequest(
            order_id=order_id,
            symbol=symbol,
            price=instrument.price_units(price),
            order_qty=instrument.quantity_units(quantity),
        )

    async def _call(
        self,
        method: str,
        request: Message,
        response: type[ResponseT],
        *,
        limited: bool = True,
        symbol: str = "",
    ) -> ResponseT:
        ticket = await self._limiter.acquire(self._limits.route("RPC", f"/OrderEntryAPI/{method}")) if limited else None
        try:
            return await self._client.call(ORDER_ENTRY_API, method, request, response)
        except PolyinfraError as failure:
            raise _as_reject(failure, symbol, request) from None
        finally:
            if ticket is not None:
                self._limiter.complete(ticket)

    async def _resolve(self, clord_id: str, symbol: str, lost: PolyinfraError) -> UsPlaced:
        open_now = await self.open_orders([symbol])
        found = next((order for order in open_now if order.clord_id == clord_id), None)
        if found is None and self._stream is not None:
            # The exchange tells every accepted order on the order stream; give it the time to arrive.
            found = await self._stream.wait_for_clord_id(clord_id, self._resolve_timeout_s)
        if found is None:
            raise OrderOutcomeUnknownError(
                "the insert's answer was lost and no lookup shows the order",
                clord_id=clord_id,
                symbol=symbol,
                cause=type(lost).__name__,
                hint="search the exchange's orders by this client order id before placing the order again",
            ) from None
        return UsPlaced(order_id=found.order_id, clord_id=clord_id, resolved=True)


def _as_reject(failure: PolyinfraError, symbol: str, request: Message) -> PolyinfraError:
    """The reject error of ``failure`` when the venue's message is a reject text, else ``failure`` itself."""
    text = failure.context.get("venue_message")
    if not isinstance(text, str) or rule_for(text) is None:
        return failure
    clord_id = getattr(request, "clord_id", "") or None
    order_id = getattr(request, "order_id", "") or None
    return reject_error(text, symbol=symbol or None, clord_id=clord_id, order_id=order_id)


def _decimal(text: str, name: str) -> Decimal:
    try:
        plain_decimal_parts(text.lstrip("-"))
    except InvalidValueError:
        raise MalformedMessageError(f"{name} is not a decimal", value=text[:80]) from None
    return Decimal(text)
