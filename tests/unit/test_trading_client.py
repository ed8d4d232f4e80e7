"""TradingClient over the real HttpTransport pipeline, with a fake venue behind httpx.MockTransport.

The fake venue checks what the real one checks on the way in (L1 signature, L2 HMAC over the exact
bytes) and answers with the venue's shapes, so these tests pin auth, chunking, per-order errors,
reconciliation of a timed-out post, paging and the per-wallet rate-limit scope.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from polyinfra.clob.trading import OrderSubmission, SendOrderResponse, TradingClient
from polyinfra.core.auth_headers import ApiCredentials, recover_l1_signer, verify_hmac
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_signing import SignedOrder, sign_order
from polyinfra.errors import (
    InsufficientBalanceError,
    L1AuthError,
    L2AuthError,
    OrderRejectedError,
    PolyinfraError,
    RequestTimeoutError,
)
from polyinfra.model.numbers import Side
from polyinfra.model.orders import SignatureType, TimeInForce, UnsignedOrder
from polyinfra.net.http import HttpTransport
from polyinfra.net.retry import RetryPolicy

Handler = Callable[[httpx.Request], httpx.Response]
API_KEY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def key(known_secrets) -> SigningKey:
    return SigningKey(known_secrets.private_key)


@pytest.fixture
def credentials(known_secrets) -> ApiCredentials:
    return ApiCredentials(API_KEY, known_secrets.random_api_secret, known_secrets.api_passphrase)


def _client(handler: Handler, key: SigningKey, credentials: ApiCredentials | None) -> TradingClient:
    transport = HttpTransport("http://venue", retry=RetryPolicy(base_delay_s=0.001, max_delay_s=0.002, deadline_s=5.0))
    # The pipeline is the real one; only the socket is replaced.
    transport._client = httpx.AsyncClient(base_url="http://venue", transport=httpx.MockTransport(handler))
    return TradingClient(transport, key, credentials=credentials, wallet_id="w1", clock_s=lambda: 1_710_000_000)


def _check_l2(request: httpx.Request, credentials: ApiCredentials) -> None:
    verify_hmac(
        credentials,
        request.headers["POLY_SIGNATURE"],
        timestamp=request.headers["POLY_TIMESTAMP"],
        method=request.method,
        request_path=request.url.path,
        body=request.content,
    )


def _signed(key: SigningKey, salt: int) -> SignedOrder:
    order = UnsignedOrder(
        salt=salt,
        maker=key.address,
        signer=key.address,
        token_id=1234,
        maker_amount=50_000_000,
        taker_amount=100_000_000,
        side=Side.BUY,
        signature_type=SignatureType.EOA,
        timestamp_ms=1_710_000_000_000 + salt,
    )
    return sign_order(order, key, chain_id=137)


def _ok(order_id: str) -> dict[str, object]:
    return {
        "success": True,
        "errorMsg": "",
        "orderID": order_id,
        "status": "live",
        "makingAmount": "",
        "takingAmount": "",
    }


async def test_create_or_derive_falls_back_only_on_the_documented_400(key: SigningKey, known_secrets) -> None:
    seen: list[str] = []

    def venue(request: httpx.Request) -> httpx.Response:
        assert recover_l1_signer(request.headers, chain_id=137) == key.address
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            return httpx.Response(400, json={"error": "Could not create api key"})
        body = {
            "apiKey": API_KEY,
            "secret": known_secrets.random_api_secret,
            "passphrase": known_secrets.api_passphrase,
        }
        return httpx.Response(200, json=body)

    client = _client(venue, key, None)
    credentials = await client.create_or_derive_api_key()
    assert credentials.api_key == API_KEY and client.credentials == credentials
    assert seen == ["POST /auth/api-key", "GET /auth/derive-api-key"]
    assert known_secrets.random_api_secret not in repr(credentials)


async def test_create_or_derive_does_not_hide_other_failures(key: SigningKey) -> None:
    def venue(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST", "an invalid L1 signature must not be retried as a derive"
        return httpx.Response(401, json={"error": "Invalid L1 Request headers"})

    with pytest.raises(L1AuthError):
        await _client(venue, key, None).create_or_derive_api_key()


async def test_post_order_sends_the_exact_signed_body(key: SigningKey, credentials: ApiCredentials) -> None:
    signed = _signed(key, 1)

    def venue(request: httpx.Request) -> httpx.Response:
        _check_l2(request, credentials)
        body = json.loads(request.content)
        assert list(body) == ["order", "owner", "orderType", "deferExec", "postOnly"]
        assert (body["owner"], body["orderType"], body["postOnly"]) == (API_KEY, "GTD", True)
        return httpx.Response(200, json=_ok(signed.order_hash))

    answer = await _client(venue, key, credentials).post_order(signed, order_type=TimeInForce.GTD, post_only=True)
    assert answer.order_id == signed.order_hash


async def test_a_refusal_inside_a_200_is_a_typed_error(key: SigningKey, credentials: ApiCredentials) -> None:
    signed = _signed(key, 2)
    refusal = {"success": False, "errorMsg": "not enough balance / allowance", "orderID": ""}
    client = _client(lambda request: httpx.Response(200, json=refusal), key, credentials)
    with pytest.raises(InsufficientBalanceError) as raised:
        await client.post_order(signed)
    assert raised.value.context["order_hash"] == signed.order_hash


async def test_post_orders_chunks_by_15_with_one_result_per_order(key: SigningKey, credentials: ApiCredentials) -> None:
    submissions = [OrderSubmission(_signed(key, salt)) for salt in range(1, 33)]
    batches: list[int] = []

    def venue(request: httpx.Request) -> httpx.Response:
        _check_l2(request, credentials)
        orders = json.loads(request.content)
        batches.append(len(orders))
        if len(batches) == 3:
            return httpx.Response(400, json={"error": "Invalid order payload"})
        answers = [_ok(f"id{entry['order']['salt']}") for entry in orders]
        answers[0] = {"success": True, "errorMsg": "weird new venue message", "orderID": ""}
        return httpx.Response(200, json=answers)

    results = await _client(venue, key, credentials).post_orders(submissions)
    assert batches == [15, 15, 2]
    assert len(results) == 32
    assert isinstance(results[0], OrderRejectedError) and isinstance(results[15], OrderRejectedError)
    assert all(isinstance(result, SendOrderResponse) for index, result in enumerate(results[:30]) if index % 15)
    assert all(isinstance(result, PolyinfraError) for result in results[30:])


@pytest.mark.parametrize("exists", [False, True])
async def test_a_timed_out_post_is_reconciled_before_any_resend(
    key: SigningKey, credentials: ApiCredentials, exists: bool
) -> None:
    signed = _signed(key, 3)
    posts: list[bytes] = []
    lookups: list[str] = []

    def venue(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request.content)
            if len(posts) == 1:
                raise httpx.ReadTimeout("no answer", request=request)
            return httpx.Response(200, json=_ok(signed.order_hash))
        _check_l2(request, credentials)
        lookups.append(request.url.path)
        if exists:
            return httpx.Response(200, json={"id": signed.order_hash, "status": "ORDER_STATUS_LIVE"})
        return httpx.Response(404, json={"error": "order not found"})

    client = _client(venue, key, credentials)
    if exists:
        with pytest.raises(RequestTimeoutError) as raised:
            await client.post_order(signed)
        assert raised.value.context["reconciliation"] == "applied"
        assert len(posts) == 1, "an order the venue has is never sent again"
    else:
        assert (await client.post_order(signed)).order_id == signed.order_hash
        assert len(posts) == 2 and posts[0] == posts[1], "the resend is the same signed order"
    assert lookups == [f"/data/order/{signed.order_hash}"]


async def test_pages_until_the_end_cursor(key: SigningKey, credentials: ApiCredentials) -> None:
    cursors: list[str] = []

    def venue(request: httpx.Request) -> httpx.Response:
        _check_l2(request, credentials)
        assert request.url.path == "/data/orders"
        cursor = request.url.params["next_cursor"]
        cursors.append(cursor)
        assert request.url.params["market"] == "0xabc"
        following = {"MA==": "MTAw", "MTAw": "LTE="}[cursor]
        return httpx.Response(200, json={"limit": 100, "count": 1, "next_cursor": following, "data": [{"id": cursor}]})

    orders = [order.id async for order in _client(venue, key, credentials).iter_open_orders(market="0xabc")]
    assert orders == cursors == ["MA==", "MTAw"]


async def test_cancels_and_balance(key: SigningKey, credentials: ApiCredentials) -> None:
    calls: list[tuple[str, str, object]] = []

    def venue(request: httpx.Request) -> httpx.Response:
        _check_l2(request, credentials)
        body = json.loads(request.content) if request.content else dict(request.url.params)
        calls.append((request.method, request.url.path, body))
        if request.url.path.startswith("/balance-allowance"):
            return httpx.Response(200, json={"balance": "1000000", "allowances": {"0xE1": "1"}})
        return httpx.Response(200, json={"canceled": ["a"], "not_canceled": {"b": "Order already canceled"}})

    client = _client(venue, key, credentials)
    assert (await client.cancel("a")).canceled == ["a"]
    # The standard tier's per-signer cancel bucket holds fewer ids than the venue's 1000 per request.
    merged = await client.cancel_many([f"id{index}" for index in range(100)])
    assert merged.canceled == ["a", "a"] and merged.not_canceled == {"b": "Order already canceled"}
    await client.cancel_market(market="0xabc")
    await client.cancel_all()
    assert (await client.get_balance_allowance()).balance == "1000000"
    assert [(method, path) for method, path, _ in calls] == [
        ("DELETE", "/order"),
        *[("DELETE", "/orders")] * (len(calls) - 4),
        ("DELETE", "/cancel-market-orders"),
        ("DELETE", "/cancel-all"),
        ("GET", "/balance-allowance"),
    ]
    assert calls[0][2] == {"orderID": "a"}
    sizes = [len(body) for method, path, body in calls if path == "/orders"]  # type: ignore[arg-type]
    assert sum(sizes) == 100 and sizes[0] == client._items_per_request("DELETE", "/orders", 1000) < 100
    assert calls[-3][2] == {"market": "0xabc"}
    assert calls[-1][2] == {"asset_type": "COLLATERAL", "signature_type": "0"}


async def test_l2_failure_is_typed_and_keeps_secrets_out(
    key: SigningKey, credentials: ApiCredentials, known_secrets
) -> None:
    client = _client(
        lambda request: httpx.Response(401, json={"error": "Unauthorized/Invalid api key"}), key, credentials
    )
    with pytest.raises(L2AuthError) as raised:
        await client.cancel_all()
    text = str(raised.value) + repr(client)
    assert known_secrets.api_passphrase not in text and known_secrets.random_api_secret not in text


async def test_orders_are_charged_to_the_wallets_own_bucket(key: SigningKey, credentials: ApiCredentials) -> None:
    signed = _signed(key, 4)
    client = _client(lambda request: httpx.Response(200, json=_ok(signed.order_hash)), key, credentials)
    limiter = client._transport.limiter
    acquire = limiter.acquire
    recorded: list[tuple[str, str | None]] = []

    async def spy(route, **options):  # type: ignore[no-untyped-def]
        recorded.append((route.endpoint, options["wallet"]))
        return await acquire(route, **options)

    limiter.acquire = spy  # type: ignore[method-assign]
    await client.post_order(signed)
    assert recorded == [("POST /order", "w1")]


def test_a_half_built_client_has_a_repr() -> None:
    # Error trackers repr every traceback local, a client whose __init__ raised among them.
    assert repr(TradingClient.__new__(TradingClient)) == "TradingClient(wallet_id=None, address=None)"
