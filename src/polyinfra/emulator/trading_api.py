"""The emulated venue's authenticated REST API: API keys (L1), orders, cancels, trades, balances
and heartbeats (L2); venue notes: Authentication, REST routes.

Requests are authenticated as the venue does (:mod:`polyinfra.emulator.trading_auth`), and what
the accepted orders and their trades become is kept by :mod:`polyinfra.emulator.order_ledger`; this
module holds the routes and the venue's checks of an order. An account in closed-only mode has its
BUY orders refused.

Orders are validated as the venue does, in this order, each answered with its error string (one of
the strings :mod:`polyinfra.core.venue_errors` maps): envelope, owner = API key, signer = API key
address (signature types EOA, POLY_PROXY, POLY_GNOSIS_SAFE), signature, maker bound to the signing
EOA ("invalid signature" otherwise: the EOA itself, the proxy or Safe derived from it by CREATE2 on
the emulator's chain, or a deposit wallet registered to it), duplicate, amount
precision (:func:`~polyinfra.core.order_amounts.amount_rule_violations`), tick, minimum size,
expiration, balance (pUSD for a BUY, shares for a SELL, minus what the wallet's open orders hold;
for a BUY also its fee and the pUSD allowance to the exchange it is signed for, venue notes: Matching).
The limit price of a limit order is ``collateral / shares`` exactly; of a FOK/FAK order the
amounts' ratio rounded to the tick away from crossing (down for a BUY, up for a SELL), since
market-order amounts are floored (venue notes: Amounts). Accepted orders match through the exchange's one engine.

Fees are taken in pUSD on top of a BUY's cost (:mod:`polyinfra.emulator.order_ledger`), so a BUY
must hold, besides its cost, the fee its whole size would pay taking at its limit price (what the
SDK's ``adjust_buy_amount_for_fees`` leaves room for); cost plus fee only grows with the fill price,
so no fill can cost more, and no wallet goes negative through fees.

Orders the exchange cancels by itself, a GTD order past its lifetime (checked on every placement in
its market and every ``expiry_interval_s``) and every order of a resolved market, are reported like
a user's cancel: ``CANCELED`` in ``/data/order/{id}`` and a CANCELLATION ``order`` event (venue notes: User channel).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from itertools import islice
from typing import Final, TypeVar

import msgspec
from aiohttp import web
from msgspec import Struct

from polyinfra.core.matching import Fill, Order, SubmitStatus
from polyinfra.core.order_amounts import amount_rule_violations
from polyinfra.core.order_signing import (
    EXCHANGE_CONTRACTS,
    POLYGON_CHAIN_ID,
    exchange_domain,
    signed_order_from_payload,
    verify_order_signature,
)
from polyinfra.core.wallet_addresses import derived_maker
from polyinfra.emulator.account_keys import AccountKeys
from polyinfra.emulator.accounts import COLLATERAL, UNLIMITED_ALLOWANCE_MICROS, Accounts, ApiKey, Balances
from polyinfra.emulator.client_input import TIMESTAMP_DIGITS, cursor_offset, same_address, whole_number
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.order_ledger import OrderLedger, UserEventSink, fee_micros
from polyinfra.emulator.trading_auth import TradingAuth
from polyinfra.emulator.trading_records import OpenOrderRow, OrderRecord, Trade, open_order_row, trade_row
from polyinfra.errors import (
    ApiError,
    InvalidSignatureError,
    InvalidValueError,
    MalformedMessageError,
    OrderRejectedError,
)
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import MICROS, Side, TickSize, format_micros, to_micros
from polyinfra.model.orders import SignatureType, TimeInForce, UnsignedOrder
from polyinfra.wire.clob_orders import PostOrderBody
from polyinfra.wire.clob_rest import JSON_ENCODER, ErrorBody
from polyinfra.wire.clob_user import TradeRecord
from polyinfra.wire.json_decoding import JsonDecoder, decode_json

__all__ = ["TradingApi", "TradingSettings"]

POST_ORDERS_LIMIT: Final = 15
"""Orders per ``POST /orders`` (venue notes: Rate limits)."""
CANCEL_ORDERS_LIMIT: Final = 1000
"""Ids per ``DELETE /orders`` (venue notes: Rate limits)."""
GTD_THRESHOLD_S: Final = 60
"""A GTD order lives until a minute before its expiration, so one expiring sooner is refused (venue notes: Orders)."""

_SIGNATURE_TYPES: Final = {str(int(kind)): kind for kind in SignatureType}
"""The ``signature_type`` query values: the enum's numbers."""

_START_CURSOR: Final = "MA=="
_END_CURSOR: Final = "LTE="
_ORDER_BODY: Final[JsonDecoder[PostOrderBody]] = JsonDecoder(PostOrderBody, what="order body")
_ORDERS_BODY: Final[JsonDecoder[list[msgspec.Raw]]] = JsonDecoder(list[msgspec.Raw], what="orders body")

# The venue's words (venue notes: Venue errors); venue_errors.py maps each to its error class.
_CREATE_FAILED: Final = "Could not create api key"
_DERIVE_FAILED: Final = "Could not derive api key!"
_INVALID_PAYLOAD: Final = "Invalid order payload"
_OWNER_NOT_KEY: Final = "the order owner has to be the owner of the API KEY"
_SIGNER_NOT_KEY: Final = "the order signer address has to be the address of the API KEY"
_INVALID_SIGNATURE: Final = "invalid signature"
_NOT_ENOUGH_BALANCE: Final = "not enough balance / allowance"
_INVALID_EXPIRATION: Final = "invalid expiration"
_FOK_KILLED: Final = "order couldn't be fully filled. FOK orders are fully filled or killed."
_FAK_KILLED: Final = (
    "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
)
_ORDER_NOT_FOUND: Final = "Order not found"
_ALREADY_CANCELED: Final = "Order already canceled"
_ALREADY_MATCHED: Final = "Order already matched"
_INVALID_HEARTBEAT: Final = "Invalid Heartbeat ID"

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Body = TypeVar("_Body")
_Item = TypeVar("_Item")


@dataclass(frozen=True, slots=True)
class TradingSettings:
    """Timers of the emulated trading: the trade lifecycle and the heartbeat deadline."""

    mined_after_s: float = 2.0
    """A matched trade is MINED (and gets its ``transaction_hash``) this long after the match."""
    confirmed_after_s: float = 5.0
    """... and CONFIRMED this long after the match."""
    heartbeat_timeout_s: float = 10.0
    """Once heartbeats started, a key's orders are cancelled when none came for this long (venue notes: REST routes)."""
    expiry_interval_s: float = 1.0
    """How often GTD orders are expired in markets where nobody places orders (venue notes: Orders)."""
    chain_id: int = POLYGON_CHAIN_ID


class _SendOrderResponse(Struct, gc=False):
    """One order's answer, the venue's key names (venue notes: Responses)."""

    success: bool
    errorMsg: str  # noqa: N815 - the venue's key names
    orderID: str  # noqa: N815
    status: str
    makingAmount: str  # noqa: N815
    takingAmount: str  # noqa: N815
    transactionsHashes: list[str]  # noqa: N815
    tradeIDs: list[str]  # noqa: N815


class _CancelResponse(Struct, gc=False):
    canceled: list[str]
    not_canceled: dict[str, str]


class _Page(Struct, gc=False):
    limit: int
    next_cursor: str
    count: int
    data: list[OpenOrderRow] | list[TradeRecord]


_Row = TypeVar("_Row", OpenOrderRow, TradeRecord)


class _ApiKeyBody(Struct, gc=False):
    apiKey: str  # noqa: N815
    secret: str
    passphrase: str


class _CancelOneBody(Struct, gc=False):
    orderID: str | None = None  # noqa: N815
    orderId: str | None = None  # noqa: N815 - the Rust client's spelling (venue notes: REST routes)


class _CancelMarketBody(Struct, gc=False):
    market: str = ""
    asset_id: str = ""


class _HeartbeatBody(Struct, gc=False):
    heartbeat_id: str | None = None


@dataclass(slots=True)
class _Heartbeat:
    heartbeat_id: str
    deadline: asyncio.TimerHandle


class TradingApi:
    """The venue's authenticated routes over one :class:`Exchange`; call :meth:`close` at shutdown."""

    def __init__(
        self,
        exchange: Exchange,
        accounts: Accounts,
        *,
        account_keys: AccountKeys,
        user_events: UserEventSink,
        clock_ms: Callable[[], int],
        settings: TradingSettings,
        page_size: int,
        faults: FaultConfig,
    ) -> None:
        self._exchange = exchange
        self._accounts = accounts
        self._account_keys = account_keys
        self._auth = TradingAuth(accounts, account_keys, clock_ms=clock_ms, chain_id=settings.chain_id)
        self._allowances = _allowances(settings.chain_id)
        self._balances = Balances(list(self._allowances), stale_cache=lambda: faults.stale_balance_cache)
        self._clock_ms = clock_ms
        self._settings = settings
        self._page_size = page_size
        self._heartbeats: dict[str, _Heartbeat] = {}
        self._expiry: asyncio.TimerHandle | None = None
        self._ledger = OrderLedger(
            exchange,
            accounts,
            self._balances,
            user_events=user_events,
            clock_ms=clock_ms,
            mined_after_s=settings.mined_after_s,
            confirmed_after_s=settings.confirmed_after_s,
            faults=faults,
        )

    @property
    def balances(self) -> Balances:
        return self._balances

    @property
    def ledger(self) -> OrderLedger:
        """The orders placed through these routes and their trades."""
        return self._ledger

    def routes(self) -> list[web.RouteDef]:
        table: tuple[tuple[str, str, _Handler], ...] = (
            ("POST", "/auth/api-key", self._create_api_key),
            ("GET", "/auth/derive-api-key", self._derive_api_key),
            ("GET", "/auth/api-keys", self._api_keys),
            ("DELETE", "/auth/api-key", self._delete_api_key),
            ("POST", "/order", self._post_order),
            ("POST", "/orders", self._post_orders),
            ("DELETE", "/order", self._cancel_order),
            ("DELETE", "/orders", self._cancel_orders),
            ("DELETE", "/cancel-all", self._cancel_all),
            ("DELETE", "/cancel-market-orders", self._cancel_market_orders),
            ("GET", "/data/order/{order_id}", self._get_order),
            ("GET", "/data/orders", self._get_orders),
            ("GET", "/data/trades", self._get_trades),
            ("GET", "/data/pre-migration-orders", self._get_pre_migration_orders),
            ("GET", "/balance-allowance", self._balance_allowance),
            ("GET", "/balance-allowance/update", self._update_balance_allowance),
            ("POST", "/v1/heartbeats", self._heartbeat),
        )
        return [web.route(method, path, _answer_errors(handler)) for method, path, handler in table]

    def start(self) -> None:
        """Start expiring GTD orders periodically; call from the running event loop."""
        self._expire_orders()

    def _expire_orders(self) -> None:
        # Cancellations reach their owners through the ledger, which follows the exchange's.
        self._exchange.expire_orders()
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(self._settings.expiry_interval_s, self._expire_orders)

    def close(self) -> None:
        """Stop every lifecycle, expiry and heartbeat timer, and stop listening to the exchange."""
        self._ledger.close()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        for heartbeat in self._heartbeats.values():
            heartbeat.deadline.cancel()
        self._heartbeats.clear()

    # -- authentication ------------------------------------------------------------------------

    async def authenticate(self, request: web.Request) -> ApiKey:
        """The API key an L2 request proves it holds, or :class:`ApiError` with the venue's 401;
        the server asks before anything else of a trading request is decoded."""
        return await self._auth.l2_key(request)

    # -- API keys (L1) ---------------------------------------------------------------------------

    async def _create_api_key(self, request: web.Request) -> web.Response:
        address, nonce = self._auth.l1_address(request)
        key = self._accounts.create(address, nonce)
        if key is None:
            raise ApiError(_CREATE_FAILED, status=HTTPStatus.BAD_REQUEST)
        self._balances.collateral(key.address)  # seeds the wallet (accounts.py)
        return _json(_key_body(key))

    async def _derive_api_key(self, request: web.Request) -> web.Response:
        address, nonce = self._auth.l1_address(request)
        key = self._accounts.derive(address, nonce)
        if key is None:
            raise ApiError(_DERIVE_FAILED, status=HTTPStatus.BAD_REQUEST)
        return _json(_key_body(key))

    async def _api_keys(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        return _json({"apiKeys": [owned.api_key for owned in self._accounts.keys_of(key.address)]})

    async def _delete_api_key(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        self._accounts.delete(key.api_key)
        return _json("OK")

    # -- orders ----------------------------------------------------------------------------------

    async def _post_order(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        try:
            envelope = _ORDER_BODY.decode(await request.read())
            response = self._place(key, envelope)
        except MalformedMessageError:
            raise ApiError(_INVALID_PAYLOAD, status=HTTPStatus.BAD_REQUEST) from None
        except OrderRejectedError as rejected:
            raise ApiError(rejected.message, status=HTTPStatus.BAD_REQUEST) from None
        return _json(response)

    async def _post_orders(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        try:
            items = _ORDERS_BODY.decode(await request.read())
        except MalformedMessageError:
            raise ApiError(_INVALID_PAYLOAD, status=HTTPStatus.BAD_REQUEST) from None
        if len(items) > POST_ORDERS_LIMIT:
            raise ApiError(
                f"Too many orders in payload, max allowed: {POST_ORDERS_LIMIT}", status=HTTPStatus.BAD_REQUEST
            )
        # Each order stands alone: one refused order does not stop the others (venue notes: Responses).
        answers = []
        for item in items:
            try:
                answers.append(self._place(key, _ORDER_BODY.decode(bytes(item))))
            except MalformedMessageError:
                answers.append(_refusal(_INVALID_PAYLOAD))
            except OrderRejectedError as rejected:
                answers.append(_refusal(rejected.message))
        return _json(answers)

    def _place(self, key: ApiKey, envelope: PostOrderBody) -> _SendOrderResponse:
        if envelope.owner != key.api_key:
            raise OrderRejectedError(_OWNER_NOT_KEY)
        payload = envelope.order
        market = self._exchange.market_of(payload.token_id)
        if market is None:
            raise OrderRejectedError(_INVALID_PAYLOAD)
        try:
            signed = signed_order_from_payload(payload, chain_id=self._settings.chain_id, neg_risk=market.neg_risk)
        except (MalformedMessageError, ValueError):
            raise OrderRejectedError(_INVALID_PAYLOAD) from None
        unsigned = signed.order
        signs_as_eoa = unsigned.signature_type is not SignatureType.POLY_1271
        if signs_as_eoa and not same_address(unsigned.signer, key.address):
            raise OrderRejectedError(_SIGNER_NOT_KEY)
        try:
            signer = verify_order_signature(signed, chain_id=self._settings.chain_id)
        except InvalidSignatureError:
            raise OrderRejectedError(_INVALID_SIGNATURE) from None
        # The key's EOA signed (for a deposit wallet, through it), and the maker is a wallet of that EOA.
        if not same_address(signer, key.address) or not self._owns(signer, unsigned):
            raise OrderRejectedError(_INVALID_SIGNATURE)
        if unsigned.side is Side.BUY and self._account_keys.closed_only(key.address):
            # Closed-only accounts may only reduce positions: every BUY is refused, any SELL taken.
            raise OrderRejectedError(f"'{key.address}' address in closed only mode")
        order_id = signed.order_hash
        if self._ledger.record(order_id) is not None:
            raise OrderRejectedError(f"order {order_id} is invalid. Duplicated.")

        time_in_force = TimeInForce(envelope.order_type)
        market_order = not time_in_force.rests
        side = unsigned.side
        buy = side is Side.BUY
        shares, collateral = (
            (unsigned.taker_amount, unsigned.maker_amount) if buy else (unsigned.maker_amount, unsigned.taker_amount)
        )
        tick = market.tick_size
        price = _limit_price(collateral, shares, tick, buy=buy, market_order=market_order)
        if amount_rule_violations(side, tick, price, unsigned.maker_amount, unsigned.taker_amount, market=market_order):
            raise OrderRejectedError(_amounts_message(side, tick, market_order=market_order))
        if not (tick.micros_per_tick <= price <= MICROS - tick.micros_per_tick and tick.is_on_grid(price)):
            raise OrderRejectedError(
                f"order {order_id} is invalid. Price ({format_micros(price)}) breaks minimum tick size rule: "
                f"{tick.text}"
            )
        if shares < to_micros(market.min_order_size):
            raise OrderRejectedError(
                f"order {order_id} is invalid. Size ({format_micros(shares)}) lower than the minimum: "
                f"{market.min_order_size}"
            )
        now_ms = self._clock_ms()
        expiration_s = unsigned.expiration_s
        if time_in_force is TimeInForce.GTD:
            if expiration_s <= now_ms // 1000 + GTD_THRESHOLD_S:
                raise OrderRejectedError(_INVALID_EXPIRATION)
        elif expiration_s:
            raise OrderRejectedError(_INVALID_EXPIRATION)
        maker_address = unsigned.maker
        if buy:
            # pUSD for the shares plus the taker fee of the whole size at the limit price, the most any
            # fill can cost (module notes), approved to the exchange the order is signed for.
            needed = collateral + fee_micros(market, shares, price, taker=True)
            asset = COLLATERAL
            spender: str | None = exchange_domain(self._settings.chain_id, neg_risk=market.neg_risk).verifying_contract
        else:
            needed, asset, spender = shares, payload.token_id, None
        held = self._ledger.reserved(maker_address, payload.token_id, side)
        if not self._balances.can_fund(maker_address, asset, needed, held_micros=held, spender=spender):
            raise OrderRejectedError(_NOT_ENOUGH_BALANCE)

        order = Order(
            order_id=order_id,
            owner=key.api_key,
            token_id=TokenId(payload.token_id),
            side=side,
            price_micros=price,
            size_micros=shares,
            time_in_force=time_in_force,
            post_only=envelope.post_only,
            expiration_s=expiration_s,
        )
        try:
            result = self._exchange.place(order)
        except InvalidValueError as error:
            raise OrderRejectedError(f"{_INVALID_PAYLOAD}: {error.message}") from None
        if result.status is SubmitStatus.REJECTED_POST_ONLY:
            raise OrderRejectedError(f"order {order_id} crosses the book")
        if not result.fills and result.status is SubmitStatus.KILLED:
            raise OrderRejectedError(_FOK_KILLED if time_in_force is TimeInForce.FOK else _FAK_KILLED)

        record = OrderRecord(order, key, maker_address, market, envelope.order_type, now_ms // 1000)
        trade = self._ledger.accept(record, result, now_ms)
        making, taking = _made_and_taken(side, result.fills)
        return _SendOrderResponse(
            success=True,
            errorMsg="",
            orderID=order_id,
            status="live" if result.rests else "matched",
            makingAmount=format_micros(making) if trade else "",
            takingAmount=format_micros(taking) if trade else "",
            # The hashes come once the trade is mined; the official client polls /data/trades for them.
            transactionsHashes=[],
            tradeIDs=[trade.trade_id] if trade else [],
        )

    def _owns(self, eoa: str, order: UnsignedOrder) -> bool:
        """Whether the ``order``'s maker holds funds ``eoa`` may spend under its signature type, as the
        venue binds a maker to its signer: the EOA itself, its proxy or its Safe (derived from it on
        the emulator's chain), or a deposit wallet the chain says it owns, which is also the order's
        signer. This is what keeps one key from spending another wallet's funds."""
        kind, maker = order.signature_type, order.maker
        if kind is SignatureType.POLY_1271:
            owner = self._accounts.deposit_wallet_owner(maker)
            return owner is not None and same_address(owner, eoa) and same_address(order.signer, maker)
        try:
            expected = derived_maker(kind, eoa, chain_id=self._settings.chain_id)
        except InvalidValueError:
            return False  # no such wallet on this chain (proxies on Amoy)
        return expected is not None and same_address(maker, expected)

    # -- cancels ---------------------------------------------------------------------------------

    async def _cancel_order(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        body = _decode(await request.read(), _CancelOneBody)
        order_id = body.orderID or body.orderId
        if not order_id:
            raise ApiError(_INVALID_PAYLOAD, status=HTTPStatus.BAD_REQUEST)
        return _json(self._cancel_ids(key, [order_id]))

    async def _cancel_orders(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        order_ids = _decode(await request.read(), list[str])
        if len(order_ids) > CANCEL_ORDERS_LIMIT:
            raise ApiError(
                f"Too many orders in payload, max allowed: {CANCEL_ORDERS_LIMIT}", status=HTTPStatus.BAD_REQUEST
            )
        return _json(self._cancel_ids(key, list(dict.fromkeys(order_ids))))

    async def _cancel_all(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        cancelled = self._exchange.cancel_all(key.api_key)
        return _json(_CancelResponse([order.order_id for order in cancelled], {}))

    async def _cancel_market_orders(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        body = _decode(await request.read(), _CancelMarketBody)
        chosen = [
            record.order.order_id
            for record in self._ledger.open_records(key.api_key)
            if (not body.market or record.market.condition_id == body.market)
            and (not body.asset_id or record.order.token_id == body.asset_id)
        ]
        return _json(self._cancel_ids(key, chosen))

    def _cancel_ids(self, key: ApiKey, order_ids: Iterable[str]) -> _CancelResponse:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for order_id in order_ids:
            record = self._ledger.record(order_id)
            if record is None or record.key.api_key != key.api_key:
                not_canceled[order_id] = _ORDER_NOT_FOUND
                continue
            cancelled = self._exchange.cancel(order_id).orders
            if cancelled:
                canceled.extend(order.order_id for order in cancelled)
            else:
                not_canceled[order_id] = _ALREADY_CANCELED if record.status == "CANCELED" else _ALREADY_MATCHED
        return _CancelResponse(canceled, not_canceled)

    # -- reading ---------------------------------------------------------------------------------

    async def _get_order(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        record = self._ledger.record(request.match_info["order_id"])
        if record is None or record.key.api_key != key.api_key:
            raise ApiError(_ORDER_NOT_FOUND, status=HTTPStatus.NOT_FOUND)
        return _json(open_order_row(record))

    async def _get_orders(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        query = request.query
        records = self._ledger.open_records(key.api_key)
        if not query.keys().isdisjoint(("id", "market", "asset_id")):
            records = (
                record
                for record in records
                if query.get("id", record.order.order_id) == record.order.order_id
                and query.get("market", record.market.condition_id) == record.market.condition_id
                and query.get("asset_id", record.order.token_id) == record.order.token_id
            )
        # Only the page's rows are built; a wallet with 10,000 open orders is read in 100 pages.
        return _json(self._page(query.get("next_cursor"), records, open_order_row))

    async def _get_pre_migration_orders(self, request: web.Request) -> web.Response:
        # Orders signed before the V2 cutover: the emulator only ever took V2 orders, so there are none.
        await self._auth.l2_key(request)
        no_orders: list[OrderRecord] = []
        return _json(self._page(request.query.get("next_cursor"), iter(no_orders), open_order_row))

    async def _get_trades(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        query = request.query
        chosen: list[tuple[Trade, OrderRecord]] = []
        # The filters read the fields the rows would show, without building rows off the page.
        for trade in self._ledger.trades_of(key.api_key):
            mine = trade.participants()[key.api_key]
            condition_id, token_id = trade.market.condition_id, trade.fills[0].taker_token_id
            if (
                query.get("id", trade.trade_id) == trade.trade_id
                and query.get("market", condition_id) == condition_id
                and query.get("asset_id", token_id) == token_id
                and same_address(query.get("maker_address", mine.maker_address), mine.maker_address)
                and _whole(query.get("after"), 0) <= trade.match_time_s <= _whole(query.get("before"), 1 << 63)
            ):
                chosen.append((trade, mine))
        return _json(self._page(query.get("next_cursor"), iter(chosen), lambda chosen: trade_row(*chosen)))

    def _page(self, cursor: str | None, items: Iterator[_Item], row: Callable[[_Item], _Row]) -> _Page:
        """The page of ``items`` at ``cursor``, each made a ``row``: only the page's items are made rows."""
        offset = cursor_offset(cursor or _START_CURSOR)
        if offset is None:
            raise ApiError("invalid next_cursor", status=HTTPStatus.BAD_REQUEST, next_cursor=cursor)
        end = offset + self._page_size
        if offset < 0:
            # A negative offset (the end cursor "LTE=" decodes to -1) counts from the end, as list slicing does.
            rows = list(items)
            page, more = rows[offset:end], end < len(rows)
        else:
            # One item past the page tells whether another page follows.
            taken = list(islice(items, offset, end + 1))
            page, more = taken[: self._page_size], len(taken) > self._page_size
        data = [row(item) for item in page]
        next_cursor = base64.b64encode(str(end).encode()).decode() if more else _END_CURSOR
        return _Page(limit=self._page_size, next_cursor=next_cursor, count=len(data), data=data)

    async def _balance_allowance(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        asset = self._balance_asset(request)
        funds = self._balances.venue_view(self.funder(key, request), asset)
        # Raw 6-decimal units, as the chain holds them; what the venue believes, which with the
        # stale_balance_cache knob on is its cache, not the chain (venue notes: Failure modes).
        allowances = (
            {spender: str(amount) for spender, amount in funds.allowances.items()}
            if asset == COLLATERAL
            else self._allowances
        )
        return _json({"balance": str(funds.balance_micros), "allowances": allowances})

    async def _update_balance_allowance(self, request: web.Request) -> web.Response:
        # The venue re-reads the chain into its cache for this wallet and asset (venue notes: REST routes).
        key = await self._auth.l2_key(request)
        self._balances.refresh(self.funder(key, request), self._balance_asset(request))
        return _json(None)

    def funder(self, key: ApiKey, request: web.Request) -> str:
        """The wallet a balance-allowance request is about: always one of the key's own, picked by
        its ``signature_type``: the EOA (0, or none given), its proxy (1) or Safe (2), or the
        deposit wallet registered to it last (3)."""
        kind = _SIGNATURE_TYPES.get(request.query.get("signature_type", "0"))
        if kind is None:
            raise ApiError("signature_type must be 0, 1, 2 or 3", status=HTTPStatus.BAD_REQUEST)
        wallet: str | None = None
        if kind is SignatureType.POLY_1271:
            wallet = self._accounts.deposit_wallet_of(key.address)
        else:
            # None of that kind on this chain (proxies on Amoy) is refused like an unknown deposit wallet.
            with contextlib.suppress(InvalidValueError):
                wallet = derived_maker(kind, key.address, chain_id=self._settings.chain_id)
        if wallet is None:
            raise ApiError(
                f"the API key's address owns no {kind.name} wallet on this chain", status=HTTPStatus.BAD_REQUEST
            )
        return wallet

    def _balance_asset(self, request: web.Request) -> str:
        """The asset a balance-allowance request names: :data:`COLLATERAL`, or a known token id."""
        asset_type = request.query.get("asset_type", "COLLATERAL")
        if asset_type == "COLLATERAL":
            return COLLATERAL
        token_id = request.query.get("token_id", "")
        if asset_type == "CONDITIONAL" and self._exchange.market_of(token_id) is not None:
            return token_id
        raise ApiError("Invalid asset type or token id", status=HTTPStatus.BAD_REQUEST)

    # -- heartbeats ------------------------------------------------------------------------------

    async def _heartbeat(self, request: web.Request) -> web.Response:
        key = await self._auth.l2_key(request)
        body = _decode(await request.read(), _HeartbeatBody)
        current = self._heartbeats.pop(key.api_key, None)
        if current is not None:
            current.deadline.cancel()
        fresh = str(uuid.uuid4())
        loop = asyncio.get_running_loop()
        deadline = loop.call_later(self._settings.heartbeat_timeout_s, self._heartbeat_missed, key.api_key)
        self._heartbeats[key.api_key] = _Heartbeat(fresh, deadline)
        # The first heartbeat carries no id (null or ""); every later one the id last returned.
        expected = "" if current is None else current.heartbeat_id
        if (body.heartbeat_id or "") != expected:
            return _json(ErrorBody(error=_INVALID_HEARTBEAT, heartbeat_id=fresh), status=HTTPStatus.BAD_REQUEST)
        return _json({"heartbeat_id": fresh})

    def _heartbeat_missed(self, api_key: str) -> None:
        self._heartbeats.pop(api_key, None)
        self._exchange.cancel_all(api_key)


# -- helpers -------------------------------------------------------------------------------------


def _answer_errors(handler: _Handler) -> _Handler:
    async def answered(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            # The venue's shape (venue notes: Responses); the error's context stays here, it may name an address.
            return _json(ErrorBody(error=error.message), status=error.status)

    return answered


def _json(body: object, *, status: int = HTTPStatus.OK) -> web.Response:
    return web.Response(body=JSON_ENCODER.encode(body), status=status, content_type="application/json")


def _decode(body: bytes, kind: type[_Body]) -> _Body:
    try:
        return decode_json(body or b"{}", kind, what="request body")
    except MalformedMessageError:
        raise ApiError(_INVALID_PAYLOAD, status=HTTPStatus.BAD_REQUEST) from None


def _key_body(key: ApiKey) -> _ApiKeyBody:
    credentials = key.credentials
    return _ApiKeyBody(credentials.api_key, credentials.secret.reveal(), credentials.passphrase.reveal())


def _allowances(chain_id: int) -> dict[str, str]:
    """The V2 spenders the venue reports allowances for, each unlimited: the answer for outcome
    tokens, whose exchange approvals the emulator does not model (pUSD's are per wallet, accounts.py)."""
    contracts = EXCHANGE_CONTRACTS[chain_id]
    spenders = (contracts.exchange_v2, contracts.neg_risk_exchange_v2, contracts.exchange_v3)
    return dict.fromkeys(spenders, str(UNLIMITED_ALLOWANCE_MICROS))


def _refusal(message: str) -> _SendOrderResponse:
    return _SendOrderResponse(False, message, "", "", "", "", [], [])


def _limit_price(collateral: int, shares: int, tick: TickSize, *, buy: bool, market_order: bool) -> int:
    """The order's limit price in micros (see the module docstring); 0 when ``shares`` is 0."""
    if shares <= 0:
        return 0
    if not market_order:
        return collateral * MICROS // shares
    step = tick.micros_per_tick
    if buy:
        return collateral * MICROS // (shares * step) * step
    return -(-collateral * MICROS // (shares * step)) * step


def _amounts_message(side: Side, tick: TickSize, *, market_order: bool) -> str:
    # The venue's words (venue notes: Amounts): shares carry 2 decimals, collateral the tick's amount decimals;
    # market buys are flat 2 (dollars) / 4 (shares).
    if market_order and side is Side.BUY:
        return (
            "invalid amounts, the market buy orders maker amount supports a max accuracy of 2 decimals, "
            "taker amount a max of 4 decimals"
        )
    if side is Side.BUY:
        maker, taker = tick.amount_decimals, 2
    else:
        maker, taker = 2, tick.amount_decimals
    return (
        f"invalid amounts, the {side.value.lower()} orders maker amount supports a max accuracy of {maker} "
        f"decimals, taker amount a max of {taker} decimals"
    )


def _made_and_taken(side: Side, fills: tuple[Fill, ...]) -> tuple[int, int]:
    shares = sum(fill.size_micros for fill in fills)
    collateral = sum(fill.size_micros * fill.taker_price_micros // MICROS for fill in fills)
    return (collateral, shares) if side is Side.BUY else (shares, collateral)


def _whole(text: str | None, default: int) -> int:
    if text is None:
        return default
    number = whole_number(text, max_digits=TIMESTAMP_DIGITS)
    if number is None:
        raise ApiError("invalid timestamp filter", status=HTTPStatus.BAD_REQUEST, value=text)
    return number
