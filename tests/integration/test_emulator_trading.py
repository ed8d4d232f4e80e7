"""The emulator's authenticated trading API and user channel over real sockets:
the official ``py-clob-client-v2`` creates keys, posts, lists and cancels
orders and reads its trades; forged requests get the venue's errors; the user channel agrees with REST."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest
import websockets
from py_clob_client_v2 import (
    AssetType,
    BalanceAllowanceParams,
    ClobClient,
    OpenOrderParams,
    OrderArgsV2,
    OrderPayload,
    OrderType,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException

from polyinfra.core.auth_headers import ApiCredentials, l1_headers, l2_headers
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.fees import fill_fee
from polyinfra.core.order_signing import POLYGON_CHAIN_ID, order_payload, sign_order, signed_order_from_payload
from polyinfra.emulator import runner
from polyinfra.emulator.accounts import SEED_COLLATERAL_MICROS, SEED_SHARES_MICROS
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.trading_api import TradingSettings
from polyinfra.emulator.trading_auth import TIMESTAMP_TOLERANCE_S
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import MICROS, Side, TickSize, to_micros
from polyinfra.model.orders import SignatureType, UnsignedOrder
from polyinfra.obs.redaction import revealed
from polyinfra.wire.clob_orders import OrderTypeName, PostOrderBody, encode_post_order
from tests.integration.trading_steps import WAIT_S, subscribe_user_channel

# Hardhat accounts #0 and #1 (venue notes: Test vectors): two wallets that trade with each other.
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
INVALID_API_KEY = {"error": "Unauthorized/Invalid api key"}
_salts = itertools.count(1)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    settings = TradingSettings(mined_after_s=0.05, confirmed_after_s=0.1, heartbeat_timeout_s=0.5)
    async with Emulator(markets=3, seed=5, rate=0, page_size=2, trading=settings) as running:
        yield running


@pytest.fixture
async def http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=30.0) as client:
        yield client


def _empty_market(emulator: Emulator) -> MarketInfo:
    """A market on a 0.01 or 0.001 grid with its simulated book cleared, so test orders meet each other."""
    market = next(
        info
        for info in emulator.exchange.markets.values()
        if info.tick_size in (TickSize.TICK_0_01, TickSize.TICK_0_001)
    )
    tokens = {token.token_id for token in market.tokens}
    for order in emulator.exchange.open_orders():
        if order.token_id in tokens:
            emulator.exchange.cancel(order.order_id)
    return market


class _Wallet:
    """A wallet driven with polyinfra's own signing, for the requests the official client will not send."""

    def __init__(self, private_key: str, credentials: ApiCredentials) -> None:
        self.key = SigningKey(private_key)
        self.credentials = credentials

    def order_body(
        self,
        market: MarketInfo,
        side: Side,
        price: str,
        size: str,
        *,
        order_type: OrderTypeName = "GTC",
        owner: str | None = None,
        signer_key: SigningKey | None = None,
        expiration_s: int = 0,
    ) -> PostOrderBody:
        shares = int(size) * MICROS
        collateral = int(Decimal(price) * shares)
        maker_amount, taker_amount = (collateral, shares) if side is Side.BUY else (shares, collateral)
        signer = signer_key or self.key
        order = UnsignedOrder(
            salt=next(_salts),
            maker=signer.address,
            signer=signer.address,
            token_id=int(market.tokens[0].token_id),
            maker_amount=maker_amount,
            taker_amount=taker_amount,
            side=side,
            signature_type=SignatureType.EOA,
            timestamp_ms=time.time_ns() // 1_000_000,
            neg_risk=market.neg_risk,
            expiration_s=expiration_s,
        )
        signed = sign_order(order, signer, chain_id=POLYGON_CHAIN_ID)
        return PostOrderBody(
            order=order_payload(signed), owner=owner or self.credentials.api_key, order_type=order_type
        )

    def headers(self, method: str, path: str, body: bytes, *, timestamp_s: int | None = None) -> dict[str, str]:
        return revealed(
            l2_headers(
                self.credentials,
                address=self.key.address,
                timestamp_s=int(time.time()) if timestamp_s is None else timestamp_s,
                method=method,
                request_path=path,
                body=body,
            )
        )

    async def send(self, http: httpx.AsyncClient, method: str, path: str, body: object = None) -> httpx.Response:
        raw = b"" if body is None else body if isinstance(body, bytes) else msgspec.json.encode(body)
        return await http.request(method, path, content=raw, headers=self.headers(method, path, raw))


async def _wallet(http: httpx.AsyncClient, private_key: str) -> _Wallet:
    key = SigningKey(private_key)
    response = await http.post(
        "/auth/api-key", headers=revealed(l1_headers(key, chain_id=POLYGON_CHAIN_ID, timestamp_s=int(time.time())))
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return _Wallet(private_key, ApiCredentials(body["apiKey"], body["secret"], body["passphrase"]))


# --- the official client ------------------------------------------------------------------------


async def test_official_client_keys_post_list_cancel(emulator: Emulator, known_secrets: Any) -> None:
    market = _empty_market(emulator)
    token = market.tokens[0].token_id

    def use_official_client() -> dict[str, Any]:
        client = ClobClient(host=emulator.urls["rest"], chain_id=POLYGON_CHAIN_ID, key=known_secrets.private_key)
        created = client.create_api_key()
        with pytest.raises(PolyApiException) as again:
            client.create_api_key()
        derived = client.derive_api_key()
        client.set_api_creds(client.create_or_derive_api_key())
        order = client.create_order(OrderArgsV2(token_id=token, price=0.4, size=10, side="BUY"))
        posted = client.post_order(order, OrderType.GTC)
        listed = client.get_open_orders(OpenOrderParams(asset_id=token))
        one = client.get_order(posted["orderID"])
        cancelled = client.cancel_order(OrderPayload(orderID=posted["orderID"]))
        cancelled_again = client.cancel_order(OrderPayload(orderID=posted["orderID"]))
        return {
            "same_key": created.api_key == derived.api_key and created.api_secret == derived.api_secret,
            "again": (again.value.status_code, again.value.error_msg),
            "api_keys": client.get_api_keys(),
            "posted": posted,
            "listed": listed,
            "one": one,
            "cancelled": cancelled,
            "cancelled_again": cancelled_again,
            "open_after": client.get_open_orders(),
            "api_key": created.api_key,
        }

    answers = await asyncio.to_thread(use_official_client)
    assert answers["same_key"]
    assert answers["again"] == (400, {"error": "Could not create api key"})
    assert answers["api_keys"] == {"apiKeys": [answers["api_key"]]}
    posted = answers["posted"]
    order_id = posted["orderID"]
    assert posted["success"] is True and posted["status"] == "live" and posted["errorMsg"] == ""
    assert order_id.startswith("0x") and len(order_id) == 66
    assert [row["id"] for row in answers["listed"]] == [order_id]
    row = answers["one"]
    assert row["status"] == "ORDER_STATUS_LIVE" and row["price"] == "0.4" and row["original_size"] == "10"
    assert row["owner"] == answers["api_key"] and row["side"] == "BUY" and row["size_matched"] == "0"
    assert answers["cancelled"] == {"canceled": [order_id], "not_canceled": {}}
    assert answers["cancelled_again"] == {"canceled": [], "not_canceled": {order_id: "Order already canceled"}}
    assert answers["open_after"] == []


async def test_crossing_orders_fill_at_the_resting_price(emulator: Emulator, known_secrets: Any) -> None:
    market = _empty_market(emulator)
    token = market.tokens[0].token_id

    def trade_between_two_wallets() -> dict[str, Any]:
        seller = ClobClient(host=emulator.urls["rest"], chain_id=POLYGON_CHAIN_ID, key=known_secrets.private_key)
        seller.set_api_creds(seller.create_or_derive_api_key())
        buyer = ClobClient(host=emulator.urls["rest"], chain_id=POLYGON_CHAIN_ID, key=SECOND_KEY)
        buyer.set_api_creds(buyer.create_or_derive_api_key())
        resting = seller.post_order(seller.create_order(OrderArgsV2(token_id=token, price=0.6, size=10, side="SELL")))
        # Crosses at 0.65: fills at the resting 0.60 (price improvement for the taker, venue notes: Matching).
        taking = buyer.post_order(buyer.create_order(OrderArgsV2(token_id=token, price=0.65, size=10, side="BUY")))
        deadline = time.monotonic() + WAIT_S
        while any(trade["status"] != "CONFIRMED" for trade in buyer.get_trades()) and time.monotonic() < deadline:
            time.sleep(0.02)
        collateral = BalanceAllowanceParams(asset_type=AssetType.COLLATERAL)
        shares = BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=token)
        return {
            "resting": resting,
            "taking": taking,
            "buyer_trades": buyer.get_trades(TradeParams(market=market.condition_id)),
            "seller_trades": seller.get_trades(),
            "buyer_collateral": buyer.get_balance_allowance(collateral),
            "seller_collateral": seller.get_balance_allowance(collateral),
            "buyer_shares": buyer.get_balance_allowance(shares),
            "seller_shares": seller.get_balance_allowance(shares),
            "seller_order": seller.get_order(resting["orderID"]),
            "seller_open": seller.get_open_orders(),
        }

    answers = await asyncio.to_thread(trade_between_two_wallets)
    assert answers["resting"]["status"] == "live"
    taking = answers["taking"]
    assert taking["status"] == "matched" and taking["success"] is True
    assert (taking["makingAmount"], taking["takingAmount"]) == ("6", "10")
    (trade_id,) = taking["tradeIDs"]
    # The official client waited for the trade to be mined and collected its hash (venue notes: Responses).
    assert len(taking["transactionsHashes"]) == 1
    (bought,) = answers["buyer_trades"]
    (sold,) = answers["seller_trades"]
    assert bought["id"] == sold["id"] == trade_id
    assert (bought["trader_side"], sold["trader_side"]) == ("TAKER", "MAKER")
    assert bought["price"] == "0.6" and bought["size"] == "10" and bought["status"] == "CONFIRMED"
    assert bought["transaction_hash"] == taking["transactionsHashes"][0]
    (maker,) = bought["maker_orders"]
    assert maker["order_id"] == answers["resting"]["orderID"] and maker["price"] == "0.6"
    assert maker["matched_amount"] == "10" and maker["side"] == "SELL"
    cost = 6 * MICROS
    # The taker also pays the market's fee on top, in pUSD (trading_api.py); the maker nothing.
    assert market.fee_schedule is not None
    fee = to_micros(fill_fee(10, "0.6", market.fee_schedule, taker=True))
    assert answers["buyer_collateral"]["balance"] == str(SEED_COLLATERAL_MICROS - cost - fee)
    assert answers["seller_collateral"]["balance"] == str(SEED_COLLATERAL_MICROS + cost)
    assert answers["buyer_shares"]["balance"] == str(SEED_SHARES_MICROS + 10 * MICROS)
    assert answers["seller_shares"]["balance"] == str(SEED_SHARES_MICROS - 10 * MICROS)
    assert answers["seller_order"]["status"] == "ORDER_STATUS_MATCHED"
    assert answers["seller_order"]["associate_trades"] == [trade_id]
    assert answers["seller_open"] == []


# --- refusals -----------------------------------------------------------------------------------


async def test_forged_requests_get_the_venues_errors(
    emulator: Emulator, http: httpx.AsyncClient, known_secrets: Any
) -> None:
    market = _empty_market(emulator)
    first = await _wallet(http, known_secrets.private_key)
    second = await _wallet(http, SECOND_KEY)

    # L1: a key exists already; a stale timestamp; a signature by another key.
    stale_l1 = revealed(
        l1_headers(first.key, chain_id=POLYGON_CHAIN_ID, timestamp_s=int(time.time()) - 2 * TIMESTAMP_TOLERANCE_S)
    )
    assert (await http.get("/auth/derive-api-key", headers=stale_l1)).json() == {"error": "Invalid L1 Request headers"}
    forged_l1 = revealed(l1_headers(second.key, chain_id=POLYGON_CHAIN_ID, timestamp_s=int(time.time())))
    forged_l1["POLY_ADDRESS"] = first.key.address
    response = await http.post("/auth/api-key", headers=forged_l1)
    assert (response.status_code, response.json()) == (401, {"error": "Invalid L1 Request headers"})
    response = await http.get(
        "/auth/derive-api-key",
        headers=revealed(l1_headers(first.key, chain_id=POLYGON_CHAIN_ID, timestamp_s=int(time.time()), nonce=9)),
    )
    assert (response.status_code, response.json()) == (400, {"error": "Could not derive api key!"})

    body = encode_post_order(first.order_body(market, Side.BUY, "0.4", "10"))
    # L2: wrong HMAC, stale timestamp, another wallet's key.
    headers = first.headers("POST", "/order", body)
    headers["POLY_SIGNATURE"] = second.headers("POST", "/order", body)["POLY_SIGNATURE"]
    response = await http.post("/order", content=body, headers=headers)
    assert (response.status_code, response.json()) == (401, INVALID_API_KEY)
    stale = first.headers("POST", "/order", body, timestamp_s=int(time.time()) - 2 * TIMESTAMP_TOLERANCE_S)
    response = await http.post("/order", content=body, headers=stale)
    assert (response.status_code, response.json()) == (401, INVALID_API_KEY)
    response = await http.post("/order", content=body + b" ", headers=first.headers("POST", "/order", body))
    assert (response.status_code, response.json()) == (401, INVALID_API_KEY)

    async def refusal(envelope: PostOrderBody) -> str:
        response = await first.send(http, "POST", "/order", encode_post_order(envelope))
        assert response.status_code == 400, response.text
        message: str = response.json()["error"]
        return message

    tampered = first.order_body(market, Side.BUY, "0.4", "10")
    signature = tampered.order.signature
    tampered.order.signature = signature[:10] + ("1" if signature[10] == "0" else "0") + signature[11:]
    assert await refusal(tampered) == "invalid signature"
    cheaper = first.order_body(market, Side.BUY, "0.4", "10")
    cheaper.order.maker_amount = "3000000"  # the amounts signed were 4 for 10
    assert await refusal(cheaper) == "invalid signature"
    by_other = first.order_body(market, Side.BUY, "0.4", "10", signer_key=second.key)
    assert await refusal(by_other) == "the order signer address has to be the address of the API KEY"
    assert await refusal(first.order_body(market, Side.BUY, "0.4", "10", owner=second.credentials.api_key)) == (
        "the order owner has to be the owner of the API KEY"
    )
    assert await refusal(first.order_body(market, Side.BUY, "0.4", "100000")) == "not enough balance / allowance"
    assert await refusal(first.order_body(market, Side.SELL, "0.4", "5000")) == "not enough balance / allowance"
    small = await refusal(first.order_body(market, Side.BUY, "0.4", "1"))
    assert small.endswith(f"lower than the minimum: {market.min_order_size}")
    assert await refusal(first.order_body(market, Side.BUY, "0.4", "10", order_type="FOK")) == (
        "order couldn't be fully filled. FOK orders are fully filled or killed."
    )

    placed = first.order_body(market, Side.BUY, "0.4", "10")
    assert (await first.send(http, "POST", "/order", encode_post_order(placed))).json()["status"] == "live"
    duplicate = await refusal(placed)
    assert duplicate.endswith("is invalid. Duplicated.")

    # Batches: at most 15, each order answered on its own.
    good = first.order_body(market, Side.BUY, "0.3", "10")
    bad = first.order_body(market, Side.BUY, "0.3", "10", owner="nobody")
    response = await first.send(http, "POST", "/orders", [good, bad])
    answers = response.json()
    assert [answer["success"] for answer in answers] == [True, False]
    assert answers[1]["errorMsg"] == "the order owner has to be the owner of the API KEY"
    too_many = [first.order_body(market, Side.BUY, "0.3", "10") for _ in range(16)]
    response = await first.send(http, "POST", "/orders", too_many)
    assert (response.status_code, response.json()) == (400, {"error": "Too many orders in payload, max allowed: 15"})

    # Cancels: by market, then nothing is left; another wallet cannot cancel what is not its own.
    not_mine = await second.send(http, "DELETE", "/order", {"orderID": placed_id(placed, market)})
    assert not_mine.json() == {"canceled": [], "not_canceled": {placed_id(placed, market): "Order not found"}}
    by_market = await first.send(http, "DELETE", "/cancel-market-orders", {"market": market.condition_id})
    assert sorted(by_market.json()["canceled"]) == sorted([placed_id(placed, market), answers[0]["orderID"]])
    assert (await first.send(http, "GET", "/data/orders")).json()["data"] == []


def placed_id(envelope: PostOrderBody, market: MarketInfo) -> str:
    return signed_order_from_payload(envelope.order, chain_id=POLYGON_CHAIN_ID, neg_risk=market.neg_risk).order_hash


# --- user channel and heartbeats ----------------------------------------------------------------


async def test_user_channel_delivers_what_rest_reports(
    emulator: Emulator, http: httpx.AsyncClient, known_secrets: Any
) -> None:
    market = _empty_market(emulator)
    maker = await _wallet(http, known_secrets.private_key)
    taker = await _wallet(http, SECOND_KEY)
    subscribe: dict[str, Any] = {
        "auth": {
            "apiKey": maker.credentials.api_key,
            "secret": maker.credentials.secret.reveal(),
            "passphrase": maker.credentials.passphrase.reveal(),
        },
        "type": "user",
        "markets": [market.condition_id],
    }
    async with websockets.connect(emulator.urls["ws_user"]) as socket:
        await subscribe_user_channel(socket, msgspec.json.encode(subscribe).decode())
        resting = maker.order_body(market, Side.SELL, "0.6", "10")
        await maker.send(http, "POST", "/order", encode_post_order(resting))
        taking = await taker.send(
            http, "POST", "/order", encode_post_order(taker.order_body(market, Side.BUY, "0.7", "6"))
        )
        trade_id = taking.json()["tradeIDs"][0]
        events: list[dict[str, Any]] = []
        while len(events) < 5:
            events.append(msgspec.json.decode(await asyncio.wait_for(socket.recv(), WAIT_S)))
    order_events = [event for event in events if event["event_type"] == "order"]
    trade_events = [event for event in events if event["event_type"] == "trade"]
    order_id = placed_id(resting, market)
    assert [(event["type"], event["status"], event["size_matched"]) for event in order_events] == [
        ("PLACEMENT", "LIVE", "0"),
        ("UPDATE", "LIVE", "6"),
    ]
    assert {event["id"] for event in order_events} == {order_id}
    assert [event["status"] for event in trade_events] == ["MATCHED", "MINED", "CONFIRMED"]
    assert {event["id"] for event in trade_events} == {trade_id}
    assert all(event["trader_side"] == "MAKER" for event in trade_events)
    rest_trades = (await maker.send(http, "GET", "/data/trades")).json()["data"]
    assert [(row["id"], row["status"], row["price"], row["size"]) for row in rest_trades] == [
        (trade_id, "CONFIRMED", "0.6", "6")
    ]
    assert trade_events[-1]["transaction_hash"] == rest_trades[0]["transaction_hash"]
    rest_order = (await maker.send(http, "GET", f"/data/order/{order_id}")).json()
    assert (rest_order["size_matched"], rest_order["associate_trades"]) == ("6", [trade_id])

    # A wrong passphrase: the socket is dropped (no close frame) before any of the key's events.
    async with websockets.connect(emulator.urls["ws_user"]) as socket:
        forged = subscribe | {"auth": {**subscribe["auth"], "passphrase": "b" * 64}}
        await socket.send(msgspec.json.encode(forged).decode())
        await maker.send(http, "POST", "/order", encode_post_order(maker.order_body(market, Side.SELL, "0.8", "10")))
        with pytest.raises(websockets.ConnectionClosed) as dropped:
            await asyncio.wait_for(socket.recv(), WAIT_S)
    assert dropped.value.rcvd is None


async def test_heartbeats_cancel_orders_when_they_stop(
    emulator: Emulator, http: httpx.AsyncClient, known_secrets: Any
) -> None:
    market = _empty_market(emulator)
    wallet = await _wallet(http, known_secrets.private_key)
    first = (await wallet.send(http, "POST", "/v1/heartbeats", {"heartbeat_id": None})).json()["heartbeat_id"]
    second = (await wallet.send(http, "POST", "/v1/heartbeats", {"heartbeat_id": first})).json()["heartbeat_id"]
    wrong = await wallet.send(http, "POST", "/v1/heartbeats", {"heartbeat_id": first})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "Invalid Heartbeat ID" and wrong.json()["heartbeat_id"] not in (first, second)
    await wallet.send(http, "POST", "/order", encode_post_order(wallet.order_body(market, Side.BUY, "0.4", "10")))
    assert len((await wallet.send(http, "GET", "/data/orders")).json()["data"]) == 1
    await asyncio.sleep(0.8)  # past the 0.5 s heartbeat deadline
    assert (await wallet.send(http, "GET", "/data/orders")).json()["data"] == []


# --- orders the exchange cancels, trade failures, HTTP faults ------------------------------------


def _subscription(wallet: _Wallet, market: MarketInfo) -> str:
    credentials = wallet.credentials
    auth = {
        "apiKey": credentials.api_key,
        "secret": credentials.secret.reveal(),
        "passphrase": credentials.passphrase.reveal(),
    }
    return msgspec.json.encode({"auth": auth, "type": "user", "markets": [market.condition_id]}).decode()


async def _events(socket: websockets.ClientConnection, count: int) -> list[dict[str, Any]]:
    return [msgspec.json.decode(await asyncio.wait_for(socket.recv(), WAIT_S)) for _ in range(count)]


async def test_expired_and_resolved_orders_are_cancellations(
    monkeypatch: pytest.MonkeyPatch, known_secrets: Any
) -> None:
    # The emulator's clock runs ahead on demand, so a GTD order's lifetime ends without a minute's wait.
    ahead_ms = [0]
    monkeypatch.setattr(runner, "_wall_clock_ms", lambda: time.time_ns() // 1_000_000 + ahead_ms[0])
    settings = TradingSettings(expiry_interval_s=0.05)
    async with (
        Emulator(markets=3, seed=5, rate=0, trading=settings) as emulator,
        httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=30.0) as http,
    ):
        market = _empty_market(emulator)
        wallet = await _wallet(http, known_secrets.private_key)
        # A GTD order lives until a minute before its expiration (venue notes: Orders): this one for 30 s.
        gtd = wallet.order_body(market, Side.BUY, "0.4", "10", order_type="GTD", expiration_s=int(time.time()) + 90)
        gtc = wallet.order_body(market, Side.BUY, "0.3", "10")
        gtd_id, gtc_id = placed_id(gtd, market), placed_id(gtc, market)
        async with websockets.connect(emulator.urls["ws_user"]) as socket:
            await subscribe_user_channel(socket, _subscription(wallet, market))
            for body in (gtd, gtc):
                placed = await wallet.send(http, "POST", "/order", encode_post_order(body))
                assert placed.json()["status"] == "live", placed.text
            assert [event["type"] for event in await _events(socket, 2)] == ["PLACEMENT", "PLACEMENT"]

            # Nobody places an order in this market: the periodic expiry cancels the GTD order.
            ahead_ms[0] = 31_000
            (expired,) = await _events(socket, 1)
            assert (expired["type"], expired["status"], expired["id"]) == ("CANCELLATION", "CANCELED", gtd_id)
            row = (await wallet.send(http, "GET", f"/data/order/{gtd_id}")).json()
            assert row["status"] == "ORDER_STATUS_CANCELED"
            assert [order["id"] for order in (await wallet.send(http, "GET", "/data/orders")).json()["data"]] == [
                gtc_id
            ]

            emulator.exchange.resolve_market(market.condition_id, market.tokens[0].token_id)
            (resolved,) = await _events(socket, 1)
            assert (resolved["type"], resolved["status"], resolved["id"]) == ("CANCELLATION", "CANCELED", gtc_id)
        row = (await wallet.send(http, "GET", f"/data/order/{gtc_id}")).json()
        assert row["status"] == "ORDER_STATUS_CANCELED"
        assert (await wallet.send(http, "GET", "/data/orders")).json()["data"] == []


async def _cross(
    emulator: Emulator, http: httpx.AsyncClient, maker: _Wallet, taker: _Wallet, market: MarketInfo
) -> tuple[list[str], str]:
    """A SELL of the maker filled by the taker; the maker's trade statuses on the user channel, the trade id."""
    async with websockets.connect(emulator.urls["ws_user"]) as socket:
        await subscribe_user_channel(socket, _subscription(maker, market))
        await maker.send(http, "POST", "/order", encode_post_order(maker.order_body(market, Side.SELL, "0.6", "10")))
        taking = await taker.send(
            http, "POST", "/order", encode_post_order(taker.order_body(market, Side.BUY, "0.6", "10"))
        )
        statuses: list[str] = []
        while statuses[-1:] not in (["CONFIRMED"], ["FAILED"]):
            event = msgspec.json.decode(await asyncio.wait_for(socket.recv(), WAIT_S))
            if event["event_type"] == "trade":
                statuses.append(event["status"])
    return statuses, taking.json()["tradeIDs"][0]


async def test_trade_faults_walk_retrying_to_confirmed_or_failed(
    emulator: Emulator, http: httpx.AsyncClient, known_secrets: Any
) -> None:
    market = _empty_market(emulator)
    token = market.tokens[0].token_id
    maker = await _wallet(http, known_secrets.private_key)
    taker = await _wallet(http, SECOND_KEY)
    balances = emulator.trading.balances

    def holdings() -> list[int]:
        return [
            amount
            for wallet in (maker, taker)
            for amount in (balances.collateral(wallet.key.address), balances.shares(wallet.key.address, token))
        ]

    # The trade status machine: MATCHED/MINED -> RETRYING -> MINED ... -> CONFIRMED.
    emulator.faults.update({"trade_retry_rate": 1.0, "trade_failure_rate": 0.0})
    statuses, retried_id = await _cross(emulator, http, maker, taker, market)
    assert statuses == ["MATCHED", "RETRYING", "MINED", "CONFIRMED"]
    after_first = holdings()
    cost = 6 * MICROS
    shares = 10 * MICROS
    assert market.fee_schedule is not None
    fee = to_micros(fill_fee(10, "0.6", market.fee_schedule, taker=True))
    assert after_first == [
        SEED_COLLATERAL_MICROS + cost,
        SEED_SHARES_MICROS - shares,
        SEED_COLLATERAL_MICROS - cost - fee,
        SEED_SHARES_MICROS + shares,
    ]

    # RETRYING -> FAILED (terminal): the match's balance changes are undone for both sides.
    emulator.faults.trade_failure_rate = 1.0
    statuses, failed_id = await _cross(emulator, http, maker, taker, market)
    assert statuses == ["MATCHED", "RETRYING", "FAILED"]
    assert holdings() == after_first
    rows = {row["id"]: row for row in (await taker.send(http, "GET", "/data/trades")).json()["data"]}
    assert (rows[retried_id]["status"], rows[failed_id]["status"]) == ("CONFIRMED", "FAILED")
    assert rows[retried_id]["transaction_hash"].startswith("0x") and rows[failed_id]["transaction_hash"] == ""


async def test_http_faults_reach_the_trading_routes(
    emulator: Emulator, http: httpx.AsyncClient, known_secrets: Any
) -> None:
    wallet = await _wallet(http, known_secrets.private_key)
    emulator.faults.update({"http_429_rate": 1.0, "retry_after_s": 3})
    throttled = await wallet.send(http, "GET", "/data/orders")
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    # The control endpoints stay exempt, or a test could not switch the fault off again.
    switched = await http.post("/_emulator/faults", json={"http_429_rate": 0.0, "http_5xx_rate": 1.0})
    assert switched.status_code == 200
    assert (await wallet.send(http, "POST", "/order", b"{}")).status_code == 500
    emulator.faults.update({"http_5xx_rate": 0.0, "latency_ms": 200})
    started = time.monotonic()
    assert (await wallet.send(http, "GET", "/data/orders")).status_code == 200
    assert time.monotonic() - started >= 0.2
    assert emulator.stats.http.injected_429 == 1 and emulator.stats.http.injected_5xx == 1
