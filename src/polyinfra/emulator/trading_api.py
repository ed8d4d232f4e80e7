"""The emulated venue's authenticated REST API: API keys (L1), orders, cancels, trades, balances
and heartbeats (L2); venue notes: Authentication, REST routes.

Authentication is the venue's (venue notes: Authentication): L1 requests must carry a ClobAuth signature recovered to
``POLY_ADDRESS``, L2 requests an HMAC over ``timestamp + method + path + body`` made with the API
key's secret, its passphrase and the key's own address. Both timestamps must be within
:data:`TIMESTAMP_TOLERANCE_S` of the emulator's clock: the venue's tolerance is undocumented
(venue notes: Authentication) and "expired timestamp" is one of its 401 causes. Failures answer 401 with the venue's
bodies, ``{"error": "Invalid L1 Request headers"}`` and ``{"error": "Unauthorized/Invalid api key"}``.
A read-only key (:mod:`polyinfra.emulator.account_keys`) authenticates a GET as the key it was
created under, and nothing else. An account in closed-only mode has its BUY orders refused.

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
What open orders hold is kept per wallet as they rest, fill and leave the book, whoever's order
filled them: a scan of every open order per placement would make intake quadratic.

Fees are the 2026 model (venue notes: Fees), set at match time from the market's own fee
schedule (the ``fd`` of ``/clob-markets``) with :func:`polyinfra.core.fees.fill_fee`, per fill:
the taker pays ``shares x rate x (p(1 - p)) ** exponent`` truncated to 5 decimals, makers nothing
under ``taker_only``. Fees are taken in pUSD on both sides, a BUY paying them on top of its cost
and a SELL out of its proceeds: the V2 SDK's buy helper charges pUSD on top of the amount, which
is an inference for V2 (venue notes: Fees; V1 took buy fees in shares). Because of that
rule a BUY must hold, besides its cost, the fee its whole size would pay taking at its limit price
(what the SDK's ``adjust_buy_amount_for_fees`` leaves room for); cost plus fee only grows with the
fill price, so no fill can cost more, and no wallet goes negative through fees. A trade's
``fee_rate_bps`` (REST rows and user-channel ``trade`` events, top level for the taking order and
per ``maker_orders`` entry) is the rate the side was charged at, in basis points, the schedule's
``rate x 10000`` (``"300"`` for 0.03), and ``"0"`` for a side that paid nothing (makers under
``taker_only``, fee-free markets): after V2 the field is the fee actually charged rather than V1's
signed 1000-bps cap (venue notes: Fees), and basis points of the rate keep it the integer it always was.

Emulator choices where the venue is not documented: sizes and prices in order rows, trade rows
and responses are decimal strings (``"10"``, ``"0.57"``) as on the user channel (venue notes: User channel); a trade is
one object per taking order with every maker in ``maker_orders``, its ``asset_id``, ``side``,
``size`` and ``price`` the taker's (price of its first, best fill), and each participant sees it
with its own ``owner``, ``maker_address`` and ``trader_side``; trades go MATCHED -> MINED (with a
``transaction_hash``) -> CONFIRMED on timers (:class:`TradingSettings`).

The simulator's orders match through the same engine, so one can take users' resting orders; the
exchange reports every placement's fills, and a match the simulator took is settled from there
exactly as one a user took (makers' balances at their own prices and fees, ``size_matched``,
status, ``associate_trades``, the UPDATE event, a trade with its lifecycle and faults). The
simulator has no API key, wallet or order record, so its side of such a trade moves no balance
and pays no fee, and nobody sees the trade as TAKER: each maker sees ``trader_side`` MAKER, its
own ``owner`` and ``maker_address``, and the simulator's order in ``taker_order_id``, ``asset_id``,
``side``, ``size`` and ``price``, with a top-level ``fee_rate_bps`` of ``"0"``; simulator makers in
``maker_orders`` carry their ``sim-...`` owner and the zero address, as in users' trades.

The fault knobs ``trade_retry_rate`` and ``trade_failure_rate`` (:mod:`polyinfra.emulator.faults`)
walk the rest of the trade status machine: a retried trade goes RETRYING when it would have been MINED,
then, one ``mined_after_s`` later, FAILED or MINED (CONFIRMED ``mined_after_s`` later than usual).
A FAILED trade never reached the chain, so every balance change of its match is undone; its orders
stay as matched (emulator choice: the venue does not document re-posting, and the engine's book has
moved on).

Orders the exchange cancels by itself, a GTD order past its lifetime (checked on every placement in
its market and every ``expiry_interval_s``) and every order of a resolved market, are reported like
a user's cancel: ``CANCELED`` in ``/data/order/{id}`` and a CANCELLATION ``order`` event (venue notes: User channel).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from itertools import islice
from typing import Final, Protocol, TypeVar

import msgspec
from aiohttp import web
from msgspec import Struct

from polyinfra.core.auth_headers import (
    POLY_ADDRESS,
    POLY_API_KEY,
    POLY_NONCE,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
    recover_l1_signer,
    verify_hmac,
)
from polyinfra.core.eip712 import address_word, keccak256
from polyinfra.core.fees import fill_fee
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
from polyinfra.emulator.client_input import cursor_offset, whole_number
from polyinfra.emulator.exchange import Exchange, fee_rate_bps
from polyinfra.emulator.faults import FaultConfig, FaultDice
from polyinfra.errors import (
    ApiError,
    InvalidSignatureError,
    InvalidValueError,
    L1AuthError,
    L2AuthError,
    MalformedMessageError,
    OrderRejectedError,
)
from polyinfra.model.ids import TokenId
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import MICROS, Side, TickSize, format_micros, micros_to_decimal, to_micros
from polyinfra.model.orders import SignatureType, TimeInForce, UnsignedOrder
from polyinfra.wire.clob_orders import PostOrderBody
from polyinfra.wire.clob_rest import JSON_ENCODER, ErrorBody
from polyinfra.wire.clob_user import MakerOrder, OrderMessage, TradeMessage, TradeRecord
from polyinfra.wire.json_decoding import JsonDecoder, decode_json

__all__ = ["TIMESTAMP_TOLERANCE_S", "TradingApi", "TradingSettings", "UserEventSink"]

TIMESTAMP_TOLERANCE_S: Final = 300
"""How far an L1/L2 ``POLY_TIMESTAMP`` may be from the emulator's clock, either way (undocumented)."""

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
_ZERO_ADDRESS: Final = "0x" + "00" * 20
_TIMESTAMP_DIGITS: Final = 12
"""Digits of a unix time in seconds the emulator reads (headers, filters): past the year 30,000."""
_NONCE_DIGITS: Final = 78
"""Digits of the largest uint256, the type of an L1 nonce."""
_ORDER_BODY: Final[JsonDecoder[PostOrderBody]] = JsonDecoder(PostOrderBody, what="order body")
_ORDERS_BODY: Final[JsonDecoder[list[msgspec.Raw]]] = JsonDecoder(list[msgspec.Raw], what="orders body")

# The venue's words (venue notes: Venue errors); venue_errors.py maps each to its error class.
_INVALID_L1: Final = "Invalid L1 Request headers"
_INVALID_API_KEY: Final = "Unauthorized/Invalid api key"
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


class _FundsMove(Protocol):
    """:meth:`Balances.settle` or :meth:`Balances.unsettle`."""

    def __call__(
        self, address: str, token_id: str, side: Side, size_micros: int, price_micros: int, *, fee_micros: int
    ) -> None: ...


UserEventSink = Callable[[str, str, OrderMessage | TradeMessage], None]
"""Delivers a user-channel event: (API key, condition id, event)."""


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


class _OpenOrder(Struct, gc=False):
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


class _Page(Struct, gc=False):
    limit: int
    next_cursor: str
    count: int
    data: list[_OpenOrder] | list[TradeRecord]


_Row = TypeVar("_Row", _OpenOrder, TradeRecord)


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
class _OrderRecord:
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
class _Trade:
    """One taking order's match: ``fills`` against every maker, in matching order."""

    trade_id: str
    market: MarketInfo
    taker: _OrderRecord | None
    """The taking order's record (None for an order placed inside the emulator, by the simulator)."""
    fills: tuple[Fill, ...]
    makers: tuple[_OrderRecord | None, ...]
    """The maker orders' records (None for orders placed inside the emulator, by the simulator)."""
    taker_fees_micros: tuple[int, ...]
    """The pUSD fee the taker paid on each fill (a FAILED trade refunds exactly these)."""
    maker_fees_micros: tuple[int, ...]
    """The pUSD fee each maker paid on its fill (zero under a taker-only schedule)."""
    match_time_s: int
    status: str = "MATCHED"
    last_update_s: int = 0
    transaction_hash: str = ""

    def participants(self) -> dict[str, _OrderRecord]:
        """The first order of each API key involved, by key: whose users see this trade."""
        found: dict[str, _OrderRecord] = {}
        for record in (self.taker, *self.makers):
            if record is not None:
                found.setdefault(record.key.api_key, record)
        return found


@dataclass(slots=True)
class _Holdings:
    """What one wallet's open orders hold: pUSD for its BUYs, shares of each token for its SELLs."""

    collateral_micros: int = 0
    shares_micros: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))

    def change(self, order: Order, remaining_before: int, remaining_after: int) -> None:
        """Account for ``order``'s remaining size going from ``remaining_before`` to ``remaining_after``."""
        if order.side is Side.BUY:
            # Each order's pUSD is rounded down on its own, so the total is the sum of what the orders hold.
            price = order.price_micros
            self.collateral_micros += remaining_after * price // MICROS - remaining_before * price // MICROS
        else:
            self.shares_micros[order.token_id] += remaining_after - remaining_before


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
        self._allowances = _allowances(settings.chain_id)
        self._balances = Balances(list(self._allowances), stale_cache=lambda: faults.stale_balance_cache)
        self._user_events = user_events
        self._clock_ms = clock_ms
        self._settings = settings
        self._page_size = page_size
        self._orders: dict[str, _OrderRecord] = {}
        self._holdings: defaultdict[bytes, _Holdings] = defaultdict(_Holdings)
        """By the maker address's ABI word: addresses compare case-insensitively."""
        self._trades: dict[str, _Trade] = {}
        self._trades_by_key: dict[str, list[_Trade]] = {}
        """Each API key's trades (it took part in), in match order: ``/data/trades`` reads only its own."""
        self._heartbeats: dict[str, _Heartbeat] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._trade_dice = FaultDice(faults, "trades")
        self._expiry: asyncio.TimerHandle | None = None
        self._unsubscribers = (
            exchange.subscribe_cancellations(self._on_cancelled),
            exchange.subscribe_fills(self._on_filled),
        )

    @property
    def balances(self) -> Balances:
        return self._balances

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
        # Cancellations reach their owners through _on_cancelled.
        self._exchange.expire_orders()
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_later(self._settings.expiry_interval_s, self._expire_orders)

    def close(self) -> None:
        """Stop every lifecycle, expiry and heartbeat timer, and stop listening to the exchange."""
        for unsubscribe in self._unsubscribers:
            unsubscribe()
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for heartbeat in self._heartbeats.values():
            heartbeat.deadline.cancel()
        self._heartbeats.clear()

    # -- authentication ------------------------------------------------------------------------

    def _check_timestamp(self, text: str | None, message: str) -> None:
        timestamp_s = whole_number(text, max_digits=_TIMESTAMP_DIGITS)
        if timestamp_s is None:
            raise ApiError(message, status=HTTPStatus.UNAUTHORIZED)
        if abs(timestamp_s - self._clock_ms() // 1000) > TIMESTAMP_TOLERANCE_S:
            raise ApiError(message, status=HTTPStatus.UNAUTHORIZED, reason="timestamp outside the window")

    def _l1_address(self, request: web.Request) -> tuple[str, int]:
        headers = request.headers
        self._check_timestamp(headers.get(POLY_TIMESTAMP), _INVALID_L1)
        nonce = whole_number(headers.get(POLY_NONCE, "0"), max_digits=_NONCE_DIGITS)
        if nonce is None:
            raise ApiError(_INVALID_L1, status=HTTPStatus.UNAUTHORIZED, reason="POLY_NONCE is not a uint256")
        names = (POLY_ADDRESS, POLY_SIGNATURE, POLY_TIMESTAMP, POLY_NONCE)
        try:
            address = recover_l1_signer(
                {name: headers[name] for name in names if name in headers}, chain_id=self._settings.chain_id
            )
        except L1AuthError as error:
            raise ApiError(_INVALID_L1, status=HTTPStatus.UNAUTHORIZED, reason=error.message) from None
        return address, nonce

    async def authenticate(self, request: web.Request) -> ApiKey:
        """The API key an L2 request proves it holds, or :class:`ApiError` with the venue's 401;
        the server asks before anything else of a trading request is decoded."""
        return await self._l2_key(request)

    async def _l2_key(self, request: web.Request) -> ApiKey:
        headers = request.headers
        api_key = headers.get(POLY_API_KEY, "")
        key = self._accounts.get(api_key)
        if key is None:
            # A read-only key is signed for with the key it was created under, and only reads (account_keys.py).
            signing_key = self._account_keys.signing_key_of(api_key)
            if signing_key is not None and request.method == "GET":
                key = self._accounts.get(signing_key)
        if key is None:
            raise ApiError(_INVALID_API_KEY, status=HTTPStatus.UNAUTHORIZED)
        timestamp = headers.get(POLY_TIMESTAMP)
        self._check_timestamp(timestamp, _INVALID_API_KEY)
        passphrase = headers.get(POLY_PASSPHRASE, "").encode()
        address = headers.get(POLY_ADDRESS, "")
        # The key is bound to its EOA (venue notes: Authentication): another address with a valid HMAC is still refused.
        if not hmac.compare_digest(passphrase, key.credentials.passphrase.reveal().encode()) or not _same_address(
            address, key.address
        ):
            raise ApiError(_INVALID_API_KEY, status=HTTPStatus.UNAUTHORIZED)
        try:
            verify_hmac(
                key.credentials,
                headers.get(POLY_SIGNATURE, ""),
                timestamp=timestamp or "",
                method=request.method,
                request_path=request.path,
                body=await request.read(),
            )
        except L2AuthError:
            raise ApiError(_INVALID_API_KEY, status=HTTPStatus.UNAUTHORIZED) from None
        return key

    # -- API keys (L1) ---------------------------------------------------------------------------

    async def _create_api_key(self, request: web.Request) -> web.Response:
        address, nonce = self._l1_address(request)
        key = self._accounts.create(address, nonce)
        if key is None:
            raise ApiError(_CREATE_FAILED, status=HTTPStatus.BAD_REQUEST)
        self._balances.collateral(key.address)  # seeds the wallet (accounts.py)
        return _json(_key_body(key))

    async def _derive_api_key(self, request: web.Request) -> web.Response:
        address, nonce = self._l1_address(request)
        key = self._accounts.derive(address, nonce)
        if key is None:
            raise ApiError(_DERIVE_FAILED, status=HTTPStatus.BAD_REQUEST)
        return _json(_key_body(key))

    async def _api_keys(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
        return _json({"apiKeys": [owned.api_key for owned in self._accounts.keys_of(key.address)]})

    async def _delete_api_key(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
        self._accounts.delete(key.api_key)
        return _json("OK")

    # -- orders ----------------------------------------------------------------------------------

    async def _post_order(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
        try:
            envelope = _ORDER_BODY.decode(await request.read())
            response = self._place(key, envelope)
        except MalformedMessageError:
            raise ApiError(_INVALID_PAYLOAD, status=HTTPStatus.BAD_REQUEST) from None
        except OrderRejectedError as rejected:
            raise ApiError(rejected.message, status=HTTPStatus.BAD_REQUEST) from None
        return _json(response)

    async def _post_orders(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
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
        if signs_as_eoa and not _same_address(unsigned.signer, key.address):
            raise OrderRejectedError(_SIGNER_NOT_KEY)
        try:
            signer = verify_order_signature(signed, chain_id=self._settings.chain_id)
        except InvalidSignatureError:
            raise OrderRejectedError(_INVALID_SIGNATURE) from None
        # The key's EOA signed (for a deposit wallet, through it), and the maker is a wallet of that EOA.
        if not _same_address(signer, key.address) or not self._owns(signer, unsigned):
            raise OrderRejectedError(_INVALID_SIGNATURE)
        if unsigned.side is Side.BUY and self._account_keys.closed_only(key.address):
            # Closed-only accounts may only reduce positions: every BUY is refused, any SELL taken.
            raise OrderRejectedError(f"'{key.address}' address in closed only mode")
        order_id = signed.order_hash
        if order_id in self._orders:
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
            needed = collateral + _fee_micros(market, shares, price, taker=True)
            asset = COLLATERAL
            spender: str | None = exchange_domain(self._settings.chain_id, neg_risk=market.neg_risk).verifying_contract
        else:
            needed, asset, spender = shares, payload.token_id, None
        held = self._reserved(maker_address, payload.token_id, side)
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

        record = _OrderRecord(order, key, maker_address, market, envelope.order_type, now_ms // 1000)
        self._orders[order_id] = record
        if result.rests:
            self._wallet_holdings(maker_address).change(order, 0, order.remaining_micros)
        record.status = "LIVE" if result.rests else "MATCHED"
        record.size_matched_micros = result.filled_micros
        self._emit_order(record, "PLACEMENT", now_ms)
        trade = self._settle(market, record, result.fills, now_ms) if result.fills else None
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

    def resting_order(self, key: ApiKey, order_id: str) -> Order | None:
        """One of ``key``'s orders while it rests on a book, else None."""
        record = self._orders.get(order_id)
        if record is None or record.key.api_key != key.api_key or record.status != "LIVE":
            return None
        return record.order

    def maker_address_of(self, order_id: str) -> str | None:
        """The wallet (maker address) of an order placed through this API, or None (the simulator's)."""
        record = self._orders.get(order_id)
        return None if record is None else record.maker_address

    def _owns(self, eoa: str, order: UnsignedOrder) -> bool:
        """Whether the ``order``'s maker holds funds ``eoa`` may spend under its signature type, as the
        venue binds a maker to its signer: the EOA itself, its proxy or its Safe (derived from it on
        the emulator's chain), or a deposit wallet the chain says it owns, which is also the order's
        signer. This is what keeps one key from spending another wallet's funds."""
        kind, maker = order.signature_type, order.maker
        if kind is SignatureType.POLY_1271:
            owner = self._accounts.deposit_wallet_owner(maker)
            return owner is not None and _same_address(owner, eoa) and _same_address(order.signer, maker)
        try:
            expected = derived_maker(kind, eoa, chain_id=self._settings.chain_id)
        except InvalidValueError:
            return False  # no such wallet on this chain (proxies on Amoy)
        return expected is not None and _same_address(maker, expected)

    def _reserved(self, maker_address: str, token_id: str, side: Side) -> int:
        """What the wallet's open orders hold: pUSD for BUYs, the token's shares for SELLs (venue notes: Matching)."""
        holdings = self._wallet_holdings(maker_address)
        return holdings.collateral_micros if side is Side.BUY else holdings.shares_micros[token_id]

    def _wallet_holdings(self, maker_address: str) -> _Holdings:
        return self._holdings[address_word(maker_address)]

    def _settle(self, market: MarketInfo, taker: _OrderRecord | None, fills: Sequence[Fill], now_ms: int) -> _Trade:
        """Record, settle and announce one placement's match in ``market``; ``taker`` None for the simulator's."""
        makers = tuple(self._orders.get(fill.maker_order_id) for fill in fills)
        # Each fill pays its own fee, rounded on its own (fees are set at match time, per trade);
        # the simulator has no wallet to pay from.
        taker_fees = tuple(
            0 if taker is None else _fee_micros(market, fill.size_micros, fill.taker_price_micros, taker=True)
            for fill in fills
        )
        maker_fees = tuple(
            _fee_micros(market, fill.size_micros, fill.maker_price_micros, taker=False) for fill in fills
        )
        match_time_s = now_ms // 1000
        trade = _Trade(
            str(uuid.uuid4()),
            market,
            taker,
            tuple(fills),
            makers,
            taker_fees,
            maker_fees,
            match_time_s,
            last_update_s=match_time_s,
        )
        self._trades[trade.trade_id] = trade
        for api_key in trade.participants():
            self._trades_by_key.setdefault(api_key, []).append(trade)
        if taker is not None:
            taker.trade_ids.append(trade.trade_id)
        self._move_funds(trade, self._balances.settle)
        for fill, maker in zip(fills, makers, strict=True):
            if maker is None:
                continue
            maker.size_matched_micros += fill.size_micros
            if trade.trade_id not in maker.trade_ids:
                maker.trade_ids.append(trade.trade_id)
            if not fill.maker_remaining_micros:
                maker.status = "MATCHED"
            self._emit_order(maker, "UPDATE", now_ms)
        self._emit_trade(trade)
        loop = asyncio.get_running_loop()
        mined_s, confirmed_s = self._settings.mined_after_s, self._settings.confirmed_after_s
        # Both decisions are drawn at the match, so a seed gives the same fates in matching order.
        steps: tuple[tuple[float, str], ...]
        if not self._trade_dice.trade_retries():
            steps = ((mined_s, "MINED"), (confirmed_s, "CONFIRMED"))
        elif self._trade_dice.retry_fails():
            steps = ((mined_s, "RETRYING"), (2 * mined_s, "FAILED"))
        else:
            steps = ((mined_s, "RETRYING"), (2 * mined_s, "MINED"), (confirmed_s + mined_s, "CONFIRMED"))
        for delay_s, status in steps:
            self._schedule(loop, delay_s, trade, status)
        return trade

    def _roll_back(self, trade: _Trade) -> None:
        """Undo every balance change of a FAILED trade's match, fees refunded (accounts.py)."""
        self._move_funds(trade, self._balances.unsettle)

    def _move_funds(self, trade: _Trade, move: _FundsMove) -> None:
        """Apply ``move`` (settle, or unsettle to undo) to both sides of every fill, each with its own
        fee; the simulator's orders, taking or resting, hold no wallet."""
        taker = trade.taker
        fees = zip(trade.taker_fees_micros, trade.maker_fees_micros, strict=True)
        for fill, maker, (taker_fee, maker_fee) in zip(trade.fills, trade.makers, fees, strict=True):
            if taker is not None:
                move(
                    taker.maker_address,
                    fill.taker_token_id,
                    fill.taker_side,
                    fill.size_micros,
                    fill.taker_price_micros,
                    fee_micros=taker_fee,
                )
            if maker is not None:
                move(
                    maker.maker_address,
                    fill.maker_token_id,
                    fill.maker_side,
                    fill.size_micros,
                    fill.maker_price_micros,
                    fee_micros=maker_fee,
                )

    def _schedule(self, loop: asyncio.AbstractEventLoop, delay_s: float, trade: _Trade, status: str) -> None:
        def advance() -> None:
            self._timers.discard(timer)
            trade.status = status
            trade.last_update_s = self._clock_ms() // 1000
            # Only a mined trade has a transaction on chain (``transaction_hash``, venue notes: Responses).
            if status == "MINED":
                trade.transaction_hash = "0x" + keccak256(trade.trade_id.encode()).hex()
            elif status == "FAILED":
                self._roll_back(trade)
            self._emit_trade(trade)

        timer = loop.call_later(delay_s, advance)
        self._timers.add(timer)

    # -- cancels ---------------------------------------------------------------------------------

    async def _cancel_order(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
        body = _decode(await request.read(), _CancelOneBody)
        order_id = body.orderID or body.orderId
        if not order_id:
            raise ApiError(_INVALID_PAYLOAD, status=HTTPStatus.BAD_REQUEST)
        return _json(self._cancel_ids(key, [order_id]))

    async def _cancel_orders(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
        order_ids = _decode(await request.read(), list[str])
        if len(order_ids) > CANCEL_ORDERS_LIMIT:
            raise ApiError(
                f"Too many orders in payload, max allowed: {CANCEL_ORDERS_LIMIT}", status=HTTPStatus.BAD_REQUEST
            )
        return _json(self._cancel_ids(key, list(dict.fromkeys(order_ids))))

    async def _cancel_all(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
        cancelled = self._exchange.cancel_all(key.api_key)
        return _json(_CancelResponse([order.order_id for order in cancelled], {}))

    async def _cancel_market_orders(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
        body = _decode(await request.read(), _CancelMarketBody)
        chosen = [
            record.order.order_id
            for record in self._open_records(key)
            if (not body.market or record.market.condition_id == body.market)
            and (not body.asset_id or record.order.token_id == body.asset_id)
        ]
        return _json(self._cancel_ids(key, chosen))

    def _cancel_ids(self, key: ApiKey, order_ids: Iterable[str]) -> _CancelResponse:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for order_id in order_ids:
            record = self._orders.get(order_id)
            if record is None or record.key.api_key != key.api_key:
                not_canceled[order_id] = _ORDER_NOT_FOUND
                continue
            cancelled = self._exchange.cancel(order_id).orders
            if cancelled:
                canceled.extend(order.order_id for order in cancelled)
            else:
                not_canceled[order_id] = _ALREADY_CANCELED if record.status == "CANCELED" else _ALREADY_MATCHED
        return _CancelResponse(canceled, not_canceled)

    def _on_cancelled(self, orders: Sequence[Order]) -> None:
        """Mark every order the exchange took off a book, whoever asked, and tell its owner."""
        now_ms = self._clock_ms()
        for order in orders:
            record = self._orders.get(order.order_id)
            if record is not None:
                record.status = "CANCELED"
                self._wallet_holdings(record.maker_address).change(order, order.remaining_micros, 0)
                self._emit_order(record, "CANCELLATION", now_ms)

    def _on_filled(self, fills: Sequence[Fill]) -> None:
        """Release what every filled resting order of ours held, whoever's order took it (venue notes: Matching), and
        settle the match when the simulator's order took ours: :meth:`_place` settles its own."""
        user_market: MarketInfo | None = None
        for fill in fills:
            maker = self._orders.get(fill.maker_order_id)
            if maker is not None:
                remaining = fill.maker_remaining_micros
                self._wallet_holdings(maker.maker_address).change(maker.order, remaining + fill.size_micros, remaining)
                user_market = maker.market
        # Orders placed through this API are owned by their API key (_place checks it); the simulator's never are.
        if user_market is not None and self._accounts.get(fills[0].taker_owner) is None:
            self._settle(user_market, None, fills, self._clock_ms())

    # -- reading ---------------------------------------------------------------------------------

    def _open_records(self, key: ApiKey) -> Iterator[_OrderRecord]:
        return (
            self._orders[order.order_id]
            for order in self._exchange.open_orders(key.api_key)
            if order.order_id in self._orders
        )

    async def _get_order(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
        record = self._orders.get(request.match_info["order_id"])
        if record is None or record.key.api_key != key.api_key:
            raise ApiError(_ORDER_NOT_FOUND, status=HTTPStatus.NOT_FOUND)
        return _json(_open_order(record))

    async def _get_orders(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
        query = request.query
        records = self._open_records(key)
        if not query.keys().isdisjoint(("id", "market", "asset_id")):
            records = (
                record
                for record in records
                if query.get("id", record.order.order_id) == record.order.order_id
                and query.get("market", record.market.condition_id) == record.market.condition_id
                and query.get("asset_id", record.order.token_id) == record.order.token_id
            )
        # Only the page's rows are built; a wallet with 10,000 open orders is read in 100 pages.
        return _json(self._page(query.get("next_cursor"), records, _open_order))

    async def _get_pre_migration_orders(self, request: web.Request) -> web.Response:
        # Orders signed before the V2 cutover: the emulator only ever took V2 orders, so there are none.
        await self._l2_key(request)
        no_orders: list[_OrderRecord] = []
        return _json(self._page(request.query.get("next_cursor"), iter(no_orders), _open_order))

    async def _get_trades(self, request: web.Request) -> web.Response:
        key = await self._l2_key(request)
        query = request.query
        chosen: list[tuple[_Trade, _OrderRecord]] = []
        # The filters read the fields the rows would show, without building rows off the page.
        for trade in self._trades_by_key.get(key.api_key, ()):
            mine = trade.participants()[key.api_key]
            condition_id, token_id = trade.market.condition_id, trade.fills[0].taker_token_id
            if (
                query.get("id", trade.trade_id) == trade.trade_id
                and query.get("market", condition_id) == condition_id
                and query.get("asset_id", token_id) == token_id
                and _same_address(query.get("maker_address", mine.maker_address), mine.maker_address)
                and _whole(query.get("after"), 0) <= trade.match_time_s <= _whole(query.get("before"), 1 << 63)
            ):
                chosen.append((trade, mine))
        return _json(self._page(query.get("next_cursor"), iter(chosen), lambda chosen: _trade_record(*chosen)))

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
        key = await self._l2_key(request)
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
        key = await self._l2_key(request)
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
        key = await self._l2_key(request)
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

    # -- user-channel events ---------------------------------------------------------------------

    def _emit_order(self, record: _OrderRecord, kind: str, now_ms: int) -> None:
        order = record.order
        event = OrderMessage(
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
        self._user_events(record.key.api_key, record.market.condition_id, event)

    def _emit_trade(self, trade: _Trade) -> None:
        for api_key, mine in trade.participants().items():
            row = _trade_record(trade, mine)
            event = TradeMessage(
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
                timestamp=str(self._clock_ms()),
                trade_owner=row.owner,
                trader_side=row.trader_side,
                transaction_hash=row.transaction_hash,
                type="TRADE",
            )
            self._user_events(api_key, row.market, event)


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


def _same_address(first: str, second: str) -> bool:
    try:
        return address_word(first) == address_word(second)
    except InvalidValueError:
        return False


def _key_body(key: ApiKey) -> _ApiKeyBody:
    credentials = key.credentials
    return _ApiKeyBody(credentials.api_key, credentials.secret.reveal(), credentials.passphrase.reveal())


def _allowances(chain_id: int) -> dict[str, str]:
    """The V2 spenders the venue reports allowances for, each unlimited: the answer for outcome
    tokens, whose exchange approvals the emulator does not model (pUSD's are per wallet, accounts.py)."""
    contracts = EXCHANGE_CONTRACTS[chain_id]
    spenders = (contracts.exchange_v2, contracts.neg_risk_exchange_v2, contracts.exchange_v3)
    return dict.fromkeys(spenders, str(UNLIMITED_ALLOWANCE_MICROS))


def _fee_micros(market: MarketInfo, size_micros: int, price_micros: int, *, taker: bool) -> int:
    """The pUSD fee, in micro-units, of one side of a fill under the market's own schedule."""
    schedule = market.fee_schedule
    # Fee-free markets skip the Decimal arithmetic: this runs for every BUY placed.
    if schedule is None or not schedule.rate:
        return 0
    fee = fill_fee(micros_to_decimal(size_micros), micros_to_decimal(price_micros), schedule, taker=taker)
    return to_micros(fee)


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


def _rest_status(record: _OrderRecord) -> str:
    # The venue's docs spell REST statuses "ORDER_STATUS_LIVE"; the socket says "LIVE" (venue notes: User channel).
    return f"ORDER_STATUS_{record.status}"


def _open_order(record: _OrderRecord) -> _OpenOrder:
    order = record.order
    return _OpenOrder(
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


def _trade_record(trade: _Trade, mine: _OrderRecord) -> TradeRecord:
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


def _whole(text: str | None, default: int) -> int:
    if text is None:
        return default
    number = whole_number(text, max_digits=_TIMESTAMP_DIGITS)
    if number is None:
        raise ApiError("invalid timestamp filter", status=HTTPStatus.BAD_REQUEST, value=text)
    return number
