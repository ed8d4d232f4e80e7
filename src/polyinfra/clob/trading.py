"""Trading on the CLOB over REST (venue notes: Authentication, REST routes, Responses): keys, orders, cancels, ledger.

:class:`TradingClient` is one wallet's authenticated session: its signing key (L1 headers, API-key
creation), its API credentials (L2 HMAC headers on everything else) and its wallet id, the scope
key of the venue's per-signer order and cancel buckets in the rate limiter. Every call goes through
an :class:`~polyinfra.net.http.HttpTransport`: rate limits, breaker, retries and error translation
(venue strings through :mod:`polyinfra.core.venue_errors`) happen there, once.

Posting is never blindly repeated. An order is sent as ``state_changing`` with a reconcile hook:
when its fate is unknown (timeout, reset, 5xx) the hook looks its hash up with
``GET /data/order/{hash}`` and the transport resends it only when the venue has no trace of it.
Resending is then safe twice over: the body is the *same signed order* (same salt, timestamp,
hash), which the venue cannot accept twice. Cancels are idempotent (cancelling a cancelled order
only lists it in ``not_canceled``), so they are retried like reads.

An order the venue is bound to refuse as "invalid signature" for its maker is not sent at all: an
EOA order whose maker is not its signer, or a proxy / Safe order whose maker is not the wallet
derived from its signer (:mod:`polyinfra.core.wallet_addresses`) raises
:class:`~polyinfra.errors.InvalidSignatureError` naming the right funder.

Batches (``POST /orders``) go in chunks of :data:`ORDERS_PER_REQUEST`; the result has one entry per
order, in the caller's order: the venue's answer, or the typed error for that order (its own
``errorMsg`` mapped through the venue error table, or the failure of its chunk).

Response shapes are the venue's, kept as sent (amounts as 6-decimal strings, venue notes: Responses).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Final, Generic, TypeVar

import msgspec
from msgspec import Struct, field

from polyinfra.clob.rest_endpoints import END_CURSOR, FIRST_CURSOR
from polyinfra.core.auth_headers import ApiCredentials, l1_headers, l2_headers
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_signing import POLYGON_CHAIN_ID, SignedOrder, order_payload
from polyinfra.core.venue_errors import error_from_response
from polyinfra.core.wallet_addresses import check_maker
from polyinfra.errors import (
    ApiError,
    AuthError,
    InvalidSignatureError,
    InvalidValueError,
    L1AuthError,
    MalformedMessageError,
    NotFoundError,
    OrderRejectedError,
    PolyinfraError,
)
from polyinfra.model.orders import SignatureType, TimeInForce
from polyinfra.net.http import HttpTransport
from polyinfra.net.http_request import AsyncReconcileHook, ItemsAfter, QueryParams, Response
from polyinfra.net.retry import ReconcileVerdict
from polyinfra.obs.redaction import MASK, Secret
from polyinfra.wire.clob_account import (
    BuilderApiKey,
    BuilderApiKeyInfo,
    ClosedOnlyStatus,
    Notification,
    ReadonlyApiKey,
)
from polyinfra.wire.clob_orders import PostOrderBody, encode_post_order
from polyinfra.wire.clob_rewards import TotalUserEarning, UserEarning, UserMarketRewards
from polyinfra.wire.clob_user import TradeRecord
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "CANCELS_PER_REQUEST",
    "ORDERS_PER_REQUEST",
    "AssetType",
    "BalanceAllowance",
    "CancelResult",
    "OpenOrder",
    "OrderSubmission",
    "SendOrderResponse",
    "TradingClient",
]

ORDERS_PER_REQUEST: Final = 15
"""``POST /orders`` takes at most 15 orders (venue notes: REST routes, Orders)."""
CANCELS_PER_REQUEST: Final = 1000
"""``DELETE /orders`` takes at most 1000 ids (venue notes: REST routes; older docs said 3000: the lower one is safe)."""

_ENCODER: Final = msgspec.json.Encoder()

_T = TypeVar("_T")


class SendOrderResponse(Struct, kw_only=True, gc=False):
    """One order's answer to ``POST /order`` / ``/orders`` (venue notes: Responses)."""

    success: bool = False
    error_msg: str = field(default="", name="errorMsg")
    order_id: str = field(default="", name="orderID")
    status: str = ""
    making_amount: str = field(default="", name="makingAmount")
    taking_amount: str = field(default="", name="takingAmount")
    transactions_hashes: list[str] = field(default_factory=list, name="transactionsHashes")
    trade_ids: list[str] = field(default_factory=list, name="tradeIDs")


class CancelResult(Struct, kw_only=True, gc=False):
    """``DELETE /order(s)``, ``/cancel-all``, ``/cancel-market-orders`` (venue notes: Responses): the ids
    cancelled, and the others with the venue's reason."""

    canceled: list[str] = field(default_factory=list)
    not_canceled: dict[str, str] = field(default_factory=dict)


_CANCEL_RESULT: Final[JsonDecoder[CancelResult]] = JsonDecoder(CancelResult, what="cancel answer")


class OpenOrder(Struct, kw_only=True, gc=False):
    """``GET /data/order/{id}`` and the rows of ``/data/orders`` (venue notes: Responses), strings as sent."""

    id: str
    status: str = ""
    owner: str = ""
    maker_address: str = ""
    market: str = ""
    asset_id: str = ""
    side: str = ""
    original_size: str = ""
    size_matched: str = ""
    price: str = ""
    outcome: str = ""
    expiration: str = ""
    order_type: str = ""
    associate_trades: list[str] | None = None
    created_at: int | None = None


class _Page(Struct, Generic[_T], gc=False):
    data: list[_T]
    next_cursor: str = END_CURSOR
    limit: int | None = None
    count: int | None = None


class BalanceAllowance(Struct, gc=False):
    """``GET /balance-allowance`` (venue notes: REST routes): balance and allowance per spender, 6-decimal
    integer strings as sent."""

    balance: str
    allowances: dict[str, str] = field(default_factory=dict)


class _ApiKeyAnswer(Struct, gc=False):
    api_key: str = field(name="apiKey")
    secret: str
    passphrase: str

    def __repr__(self) -> str:
        # Held as a local while the credentials are built: a traceback from there must not show them.
        return f"_ApiKeyAnswer(api_key={self.api_key!r}, secret={MASK}, passphrase={MASK})"


class _ApiKeysAnswer(Struct, gc=False):
    api_keys: list[str] = field(name="apiKeys")


class _HeartbeatAnswer(Struct, gc=False):
    heartbeat_id: str


class AssetType(StrEnum):
    """What ``/balance-allowance`` reports on: pUSD, or one outcome token."""

    COLLATERAL = "COLLATERAL"
    CONDITIONAL = "CONDITIONAL"


@dataclass(frozen=True, slots=True)
class OrderSubmission:
    """A signed order and what travels next to it in ``POST /order(s)``."""

    signed: SignedOrder
    order_type: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    defer_exec: bool = False


def _unix_seconds() -> int:
    return int(time.time())


def _cancelled_count(answer: bytes) -> int:
    """How many orders a cancel answer lists as cancelled: the venue debits them from the signer's
    cancel bucket after the fact (venue notes: Rate limits), so the limiter charges them too."""
    try:
        return len(_CANCEL_RESULT.decode(answer).canceled)
    except MalformedMessageError:
        return 0  # the caller's own decode of the answer reports it


class TradingClient:
    """One wallet's authenticated trading session over ``transport`` (async).

    ``key`` signs L1 headers and is the address the API key belongs to (the EOA even when trading
    for a proxy, Safe or deposit wallet, venue notes: Authentication). ``credentials`` may come later from
    :meth:`create_or_derive_api_key`. ``wallet_id`` keys the per-signer rate-limit buckets
    (default: the key's address, as the venue counts per signer); ``signature_type`` is the
    wallet's, sent with balance queries. ``clock_s`` reads unix seconds for header timestamps.
    The transport belongs to the caller, who closes it.
    """

    def __init__(
        self,
        transport: HttpTransport,
        key: SigningKey,
        *,
        credentials: ApiCredentials | None = None,
        wallet_id: str | None = None,
        signature_type: SignatureType = SignatureType.EOA,
        chain_id: int = POLYGON_CHAIN_ID,
        clock_s: Callable[[], int] = _unix_seconds,
    ) -> None:
        self._transport = transport
        self._key = key
        self.credentials = credentials
        self.wallet_id = wallet_id or key.address
        self.signature_type = signature_type
        self.chain_id = chain_id
        self._clock_s = clock_s

    def __repr__(self) -> str:
        # getattr: a client whose __init__ raised is among its traceback's locals, half built.
        address = getattr(getattr(self, "_key", None), "address", None)
        return f"TradingClient(wallet_id={getattr(self, 'wallet_id', None)!r}, address={address!r})"

    @property
    def address(self) -> str:
        """The signing key's EOA address."""
        return self._key.address

    # --- API keys (L1) -------------------------------------------------------------------------

    async def create_api_key(self, nonce: int = 0) -> ApiCredentials:
        """``POST /auth/api-key``: a new key for (address, ``nonce``); kept as :attr:`credentials`."""
        response = await self._l1("POST", "/auth/api-key", nonce)
        return self._keep(response)

    async def derive_api_key(self, nonce: int = 0) -> ApiCredentials:
        """``GET /auth/derive-api-key``: the existing key for (address, ``nonce``); kept as :attr:`credentials`."""
        response = await self._l1("GET", "/auth/derive-api-key", nonce)
        return self._keep(response)

    async def create_or_derive_api_key(self, nonce: int = 0) -> ApiCredentials:
        """Create the key, or derive it when the venue says it already exists.

        Only that answer (400 ``Could not create api key``, venue notes: API keys) falls back to deriving:
        the official clients derive on *any* failure, which hides the real error (an invalid
        signature, a stale timestamp, an outage) behind a confusing derive failure (venue notes: API keys).
        """
        try:
            return await self.create_api_key(nonce)
        except L1AuthError as error:
            message = str(error.context.get("venue_message", "")).lower()
            if error.context.get("status") != 400 or "could not create api key" not in message:
                raise
        return await self.derive_api_key(nonce)

    async def get_api_keys(self) -> list[str]:
        """``GET /auth/api-keys`` (L2): the keys of this address. Also the cheapest proof that the
        credentials in use are accepted: refused ones raise :class:`~polyinfra.errors.L2AuthError`."""
        response = await self._l2("GET", "/auth/api-keys")
        return response.decode(_ApiKeysAnswer).api_keys

    async def _l1(self, method: str, path: str, nonce: int) -> Response:
        headers = l1_headers(self._key, chain_id=self.chain_id, timestamp_s=self._clock_s(), nonce=nonce)
        return await self._transport.request(method, path, headers=headers, wallet=self.wallet_id)

    def _keep(self, response: Response) -> ApiCredentials:
        answer = response.decode(_ApiKeyAnswer)
        self.credentials = ApiCredentials(answer.api_key, Secret(answer.secret), Secret(answer.passphrase))
        return self.credentials

    # --- orders (L2) ---------------------------------------------------------------------------

    async def post_order(
        self,
        signed: SignedOrder,
        *,
        order_type: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        defer_exec: bool = False,
    ) -> SendOrderResponse:
        """``POST /order``. Returns the venue's answer, or raises the typed error for its refusal.

        If the fate of the request stays unknown after reconciliation, the error is raised with
        ``needs_reconciliation`` in its context: look the order hash up before placing it again.
        """
        refused = self._maker_refusal(signed)
        if refused is not None:
            raise refused
        body = encode_post_order(self._body(OrderSubmission(signed, order_type, post_only, defer_exec)))
        response = await self._l2(
            "POST", "/order", content=body, state_changing=True, reconcile=self._reconciler([signed.order_hash])
        )
        answer = response.decode(SendOrderResponse)
        error = self._refusal(answer, signed.order_hash, "/order")
        if error is not None:
            raise error
        return answer

    async def post_orders(self, submissions: Sequence[OrderSubmission]) -> list[SendOrderResponse | PolyinfraError]:
        """``POST /orders`` in chunks of 15: one result per order, in order, never raising for one order.

        A chunk that fails as a whole (refused, or its fate unknown after reconciliation) gives
        its error to each of its orders; the other chunks are still sent.
        """
        if not submissions:
            raise InvalidValueError("post_orders needs at least one order")
        # An order the venue must refuse for its maker is answered here and never sent.
        refusals = [self._maker_refusal(submission.signed) for submission in submissions]
        sendable = [submission for submission, refusal in zip(submissions, refusals, strict=True) if refusal is None]
        answers: list[SendOrderResponse | PolyinfraError] = []
        per_request = self._items_per_request("POST", "/orders", ORDERS_PER_REQUEST)
        for start in range(0, len(sendable), per_request):
            chunk = sendable[start : start + per_request]
            answers.extend(await self._post_chunk(chunk))
        sent = iter(answers)
        return [next(sent) if refusal is None else refusal for refusal in refusals]

    def _maker_refusal(self, signed: SignedOrder) -> InvalidSignatureError | None:
        """The error the venue would answer ("invalid signature") for a maker that is not the
        signer's own wallet under its signature type, naming the right one; None when it is."""
        order = signed.order
        try:
            check_maker(order.signature_type, order.signer, order.maker, chain_id=self.chain_id)
        except InvalidSignatureError as error:
            return error
        return None

    async def _post_chunk(self, chunk: Sequence[OrderSubmission]) -> list[SendOrderResponse | PolyinfraError]:
        hashes = [submission.signed.order_hash for submission in chunk]
        body = b"[" + b",".join(encode_post_order(self._body(submission)) for submission in chunk) + b"]"
        try:
            response = await self._l2(
                "POST",
                "/orders",
                content=body,
                state_changing=True,
                items=len(chunk),
                reconcile=self._reconciler(hashes),
            )
            answers = response.decode(list[SendOrderResponse])
        except PolyinfraError as failure:
            return [failure] * len(chunk)
        if len(answers) != len(chunk):
            # Without one answer per order, no answer can be paired with its order safely.
            mismatch = OrderRejectedError(
                "POST /orders answered a different number of results than orders sent; reconcile by order hash",
                sent=len(chunk),
                answered=len(answers),
                needs_reconciliation=True,
            )
            return [mismatch] * len(chunk)
        results: list[SendOrderResponse | PolyinfraError] = []
        for order_hash, answer in zip(hashes, answers, strict=True):
            error = self._refusal(answer, order_hash, "/orders")
            results.append(answer if error is None else error)
        return results

    def _items_per_request(self, method: str, path: str, venue_limit: int) -> int:
        """The venue's batch limit, or less when a per-item rate-limit window is smaller.

        The per-signer cancel bucket of the standard tier holds fewer ids than one ``DELETE
        /orders`` may carry; a bigger request could never be admitted. Capacity is computed as
        the limiter does (``floor(limit * margin)``, at least 1).
        """
        route = self._transport.rate_limits.route(method, path)
        margin = self._transport.limiter.core.margin
        fits = [
            max(1, math.floor(window.limit * margin))
            for scope in (*route.scopes, *route.shared)
            if scope.counts_items
            for window in scope.windows
        ]
        return min([venue_limit, *fits])

    def _body(self, submission: OrderSubmission) -> PostOrderBody:
        if self.credentials is None:
            raise AuthError("no API credentials: call create_or_derive_api_key first")
        return PostOrderBody(
            order=order_payload(submission.signed),
            owner=self.credentials.api_key,
            order_type=submission.order_type.value,
            defer_exec=submission.defer_exec,
            post_only=submission.post_only,
        )

    @staticmethod
    def _refusal(answer: SendOrderResponse, order_hash: str, endpoint: str) -> PolyinfraError | None:
        """The typed error of a 200 answer that refuses the order (``errorMsg`` set, or no success).

        The venue reports per-order refusals inside a 200 (venue notes: Responses), sometimes even with
        ``success: true``; the message goes through the same error table as HTTP errors.
        """
        if answer.success and not answer.error_msg:
            return None
        message = answer.error_msg or "order not accepted (success false, no errorMsg)"
        error = error_from_response(
            200, _ENCODER.encode({"error": message}), method="POST", endpoint=endpoint, order_hash=order_hash
        )
        if type(error) is ApiError:
            # No row of the table knows the message: still a refusal of this order, not an HTTP failure.
            return OrderRejectedError(
                error.message, status=200, endpoint=endpoint, venue_message=message, order_hash=order_hash
            )
        return error

    def _reconciler(self, hashes: Sequence[str]) -> AsyncReconcileHook:
        async def reconcile(_: PolyinfraError) -> ReconcileVerdict:
            found = [await self._order_exists(order_hash) for order_hash in hashes]
            if all(exists is False for exists in found):
                return ReconcileVerdict.NOT_APPLIED
            if all(exists is True for exists in found):
                return ReconcileVerdict.APPLIED
            return ReconcileVerdict.UNKNOWN

        return reconcile

    async def _order_exists(self, order_hash: str) -> bool | None:
        """True / False when the venue says, None when it could not be asked."""
        try:
            order = await self._get_order_or_none(order_hash)
        except NotFoundError:
            return False
        except PolyinfraError:
            return None
        return order is not None

    # --- cancels (L2) --------------------------------------------------------------------------

    async def cancel(self, order_id: str) -> CancelResult:
        """``DELETE /order`` of one order by its id (hash)."""
        return await self._cancel("/order", {"orderID": order_id})

    async def cancel_many(self, order_ids: Sequence[str]) -> CancelResult:
        """``DELETE /orders`` in chunks of at most 1000 ids (fewer when the wallet's cancel bucket is
        smaller); the results merged."""
        if isinstance(order_ids, str) or not order_ids:
            raise InvalidValueError("cancel_many takes a non-empty list of order ids")
        merged = CancelResult()
        per_request = self._items_per_request("DELETE", "/orders", CANCELS_PER_REQUEST)
        for start in range(0, len(order_ids), per_request):
            chunk = list(order_ids[start : start + per_request])
            result = await self._cancel("/orders", chunk, items=len(chunk))
            merged.canceled.extend(result.canceled)
            merged.not_canceled.update(result.not_canceled)
        return merged

    async def cancel_all(self) -> CancelResult:
        """``DELETE /cancel-all``: every open order of this API key."""
        return await self._cancel("/cancel-all", None, items_after=_cancelled_count)

    async def cancel_market(self, *, market: str | None = None, asset_id: str | None = None) -> CancelResult:
        """``DELETE /cancel-market-orders`` of a market (condition id) and/or one of its tokens."""
        if not market and not asset_id:
            raise InvalidValueError("cancel_market needs market or asset_id (or use cancel_all)")
        # V2 leaves empty fields out (venue notes: REST routes).
        body = {name: value for name, value in (("market", market), ("asset_id", asset_id)) if value}
        return await self._cancel("/cancel-market-orders", body, items_after=_cancelled_count)

    async def _cancel(
        self, path: str, body: object, *, items: int = 1, items_after: ItemsAfter | None = None
    ) -> CancelResult:
        content = None if body is None else _ENCODER.encode(body)
        response = await self._l2("DELETE", path, content=content, items=items, items_after=items_after)
        return response.decode(CancelResult)

    # --- reads (L2) ----------------------------------------------------------------------------

    async def get_order(self, order_id: str) -> OpenOrder:
        """``GET /data/order/{id}``; :class:`NotFoundError` when the venue knows no such order."""
        order = await self._get_order_or_none(order_id)
        if order is None:
            raise NotFoundError("no such order", status=200, order_id=order_id, endpoint="/data/order/{id}")
        return order

    async def _get_order_or_none(self, order_id: str) -> OpenOrder | None:
        if not order_id or "/" in order_id or "?" in order_id:
            raise InvalidValueError("not an order id", order_id=order_id)
        response = await self._l2("GET", f"/data/order/{order_id}", endpoint="GET /data/order/*")
        # An unknown id may come back as 200 with null or {} rather than 404 (undocumented).
        if response.content.strip() in (b"", b"null", b"{}"):
            return None
        return response.decode(OpenOrder)

    def iter_open_orders(self, *, market: str | None = None, asset_id: str | None = None) -> AsyncIterator[OpenOrder]:
        """Every open order (``GET /data/orders``), page after page, optionally of one market or token."""
        return self._pages("/data/orders", OpenOrder, {"market": market, "asset_id": asset_id})

    def iter_trades(
        self,
        *,
        market: str | None = None,
        asset_id: str | None = None,
        after_s: int | None = None,
        before_s: int | None = None,
        maker_address: str | None = None,
        trade_id: str | None = None,
    ) -> AsyncIterator[TradeRecord]:
        """Every trade of this API key (``GET /data/trades``), page after page, filtered as given."""
        filters = {
            "market": market,
            "asset_id": asset_id,
            "after": after_s,
            "before": before_s,
            "maker_address": maker_address,
            "id": trade_id,
        }
        return self._pages("/data/trades", TradeRecord, filters)

    async def _pages(self, path: str, item: type[_T], filters: Mapping[str, str | int | None]) -> AsyncIterator[_T]:
        params: dict[str, str | int] = {name: value for name, value in filters.items() if value is not None}
        cursor = FIRST_CURSOR
        seen: set[str] = set()
        while cursor and cursor != END_CURSOR:
            if cursor in seen:
                # A cursor the venue already gave would loop forever.
                raise OrderRejectedError("the venue repeated a paging cursor", endpoint=path, next_cursor=cursor)
            seen.add(cursor)
            response = await self._l2("GET", path, params={**params, "next_cursor": cursor})
            page = response.decode(_Page[item])  # type: ignore[valid-type]
            for row in page.data:
                yield row
            cursor = page.next_cursor

    async def get_balance_allowance(
        self, asset_type: AssetType = AssetType.COLLATERAL, *, token_id: str | None = None
    ) -> BalanceAllowance:
        """``GET /balance-allowance`` of pUSD, or of ``token_id`` for :attr:`AssetType.CONDITIONAL`."""
        response = await self._l2("GET", "/balance-allowance", params=self._balance_params(asset_type, token_id))
        return response.decode(BalanceAllowance)

    async def update_balance_allowance(
        self, asset_type: AssetType = AssetType.COLLATERAL, *, token_id: str | None = None
    ) -> None:
        """``GET /balance-allowance/update``: make the venue re-read the chain (a stale cache is the
        usual cause of "not enough balance / allowance" despite funds, venue notes: Failure modes)."""
        await self._l2("GET", "/balance-allowance/update", params=self._balance_params(asset_type, token_id))

    async def refresh_balances(self, tokens: Iterable[str] = ()) -> None:
        """Make the venue re-read pUSD and each outcome token of ``tokens`` from the chain: what to call after
        an on-chain operation moved them (split, merge, redeem, convert), so they can be traded at once."""
        await self.update_balance_allowance(AssetType.COLLATERAL)
        for token in tokens:
            await self.update_balance_allowance(AssetType.CONDITIONAL, token_id=token)

    def _balance_params(self, asset_type: AssetType, token_id: str | None) -> dict[str, str | int]:
        if (asset_type is AssetType.CONDITIONAL) != (token_id is not None):
            raise InvalidValueError("token_id is given exactly for CONDITIONAL balances", asset_type=asset_type.value)
        params: dict[str, str | int] = {"asset_type": asset_type.value, "signature_type": int(self.signature_type)}
        if token_id is not None:
            params["token_id"] = token_id
        return params

    async def post_heartbeat(self, heartbeat_id: str | None = None) -> str:
        """``POST /v1/heartbeats``; returns the id to send next time. Once started, missing heartbeats
        for ~10 s make the venue cancel every open order of the key (venue notes: REST routes)."""
        body = _ENCODER.encode({"heartbeat_id": heartbeat_id})
        response = await self._l2("POST", "/v1/heartbeats", content=body)
        return response.decode(_HeartbeatAnswer).heartbeat_id

    async def _l2(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: QueryParams | None = None,
        endpoint: str | None = None,
        state_changing: bool = False,
        items: int = 1,
        items_after: ItemsAfter | None = None,
        reconcile: AsyncReconcileHook | None = None,
    ) -> Response:
        if self.credentials is None:
            raise AuthError("no API credentials: call create_or_derive_api_key first")
        headers = l2_headers(
            self.credentials,
            address=self._key.address,
            timestamp_s=self._clock_s(),
            method=method,
            request_path=path,
            body=content,
        )
        return await self._transport.request(
            method,
            path,
            endpoint=endpoint,
            params=params,
            content=content,
            headers=headers,
            state_changing=state_changing,
            wallet=self.wallet_id,
            items=items,
            items_after=items_after,
            reconcile=reconcile,
        )

    # --- account extras (L2): closed-only, notifications, read-only and builder keys, rewards ---

    async def get_closed_only_mode(self) -> bool:
        """``GET /auth/ban-status/closed-only``: True when the venue lets this account only close positions."""
        response = await self._l2("GET", "/auth/ban-status/closed-only")
        return response.decode(ClosedOnlyStatus).closed_only

    async def get_notifications(self) -> list[Notification]:
        """``GET /notifications``: the venue's notifications about this key's orders (fills, cancels)
        for the wallet of :attr:`signature_type`, oldest first."""
        response = await self._l2("GET", "/notifications", params={"signature_type": int(self.signature_type)})
        return response.decode(list[Notification])

    async def drop_notifications(self, ids: Sequence[int]) -> None:
        """``DELETE /notifications``: dismiss these notifications (ids the venue does not know are ignored)."""
        if isinstance(ids, str | int) or not ids:
            raise InvalidValueError("drop_notifications takes a non-empty list of notification ids")
        await self._l2("DELETE", "/notifications", params={"ids": ",".join(str(int(each)) for each in ids)})

    async def create_readonly_api_key(self) -> str:
        """``POST /auth/readonly-api-key``: a key that only reads. It comes without a secret: requests
        with it are signed with these credentials' secret and passphrase."""
        response = await self._l2("POST", "/auth/readonly-api-key")
        return response.decode(ReadonlyApiKey).api_key

    async def get_readonly_api_keys(self) -> list[str]:
        """``GET /auth/readonly-api-keys``: the account's read-only keys."""
        response = await self._l2("GET", "/auth/readonly-api-keys")
        return response.decode(list[str])

    async def delete_readonly_api_key(self, key: str) -> None:
        """``DELETE /auth/readonly-api-key`` of one of the account's read-only keys."""
        if not key:
            raise InvalidValueError("delete_readonly_api_key needs the key to delete")
        await self._l2("DELETE", "/auth/readonly-api-key", content=_ENCODER.encode({"key": key}))

    async def create_builder_api_key(self) -> BuilderApiKey:
        """``POST /auth/builder-api-key``: a new builder key with its secret and passphrase (never in a ``repr``)."""
        response = await self._l2("POST", "/auth/builder-api-key")
        return response.decode(BuilderApiKey)

    async def get_builder_api_keys(self) -> list[BuilderApiKeyInfo]:
        """``GET /auth/builder-api-key``: the account's builder keys, revoked ones with ``revoked_at``."""
        response = await self._l2("GET", "/auth/builder-api-key")
        return response.decode(list[BuilderApiKeyInfo])

    async def revoke_builder_api_key(self) -> None:
        """``DELETE /auth/builder-api-key``: revoke the account's live builder keys."""
        await self._l2("DELETE", "/auth/builder-api-key")

    def iter_earnings(self, day: date) -> AsyncIterator[UserEarning]:
        """``GET /rewards/user``: what the wallet of :attr:`signature_type` earned per market on ``day``, paged."""
        return self._pages("/rewards/user", UserEarning, self._rewards_filters(day))

    async def get_total_earnings(self, day: date) -> list[TotalUserEarning]:
        """``GET /rewards/user/total``: the wallet's earnings on ``day`` over every market, one entry per asset."""
        response = await self._l2("GET", "/rewards/user/total", params=self._rewards_filters(day))
        return response.decode(list[TotalUserEarning])

    def iter_rewards_markets(self, day: date) -> AsyncIterator[UserMarketRewards]:
        """``GET /rewards/user/markets``: every rewarded market with the wallet's share and earnings on ``day``."""
        return self._pages("/rewards/user/markets", UserMarketRewards, self._rewards_filters(day))

    async def get_reward_percentages(self) -> dict[str, Decimal]:
        """``GET /rewards/user/percentages``: the wallet's share of each market's reward pool today, in percent."""
        response = await self._l2(
            "GET", "/rewards/user/percentages", params={"signature_type": int(self.signature_type)}
        )
        return response.decode(dict[str, Decimal])

    async def is_order_scoring(self, order_id: str) -> bool:
        """``GET /order-scoring``: whether the order earns liquidity rewards as it rests now."""
        response = await self._l2("GET", "/order-scoring", params={"order_id": order_id})
        return response.decode(_ScoringAnswer).scoring

    async def are_orders_scoring(self, order_ids: Sequence[str]) -> dict[str, bool]:
        """``POST /orders-scoring``: :meth:`is_order_scoring` for many orders in one request."""
        if isinstance(order_ids, str) or not order_ids:
            raise InvalidValueError("are_orders_scoring takes a non-empty list of order ids")
        response = await self._l2("POST", "/orders-scoring", content=_ENCODER.encode(list(order_ids)))
        return response.decode(dict[str, bool])

    def iter_pre_migration_orders(self) -> AsyncIterator[OpenOrder]:
        """``GET /data/pre-migration-orders``: open orders signed before the V2 cutover, page after page."""
        return self._pages("/data/pre-migration-orders", OpenOrder, {})

    def _rewards_filters(self, day: date) -> dict[str, str | int]:
        return {"date": day.isoformat(), "signature_type": int(self.signature_type)}


class _ScoringAnswer(Struct, gc=False):
    scoring: bool
