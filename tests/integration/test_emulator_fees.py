"""Trading fees in the emulator over real sockets (venue notes: Fees, User channel): two wallets trade
with :class:`~polyinfra.clob.trading.TradingClient`; the taker pays
:func:`polyinfra.core.fees.fill_fee` under the market's ``/clob-markets`` schedule on top of (BUY)
or out of (SELL) the notional, the maker exactly the notional, and REST trades and user-channel
``trade`` events carry the same ``fee_rate_bps``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest
import websockets

from polyinfra.clob.rest import ClobRestClient
from polyinfra.clob.trading import AssetType, TradingClient
from polyinfra.core.fees import fill_fee
from polyinfra.emulator.accounts import SEED_SHARES_MICROS
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InsufficientBalanceError
from polyinfra.model.market import FeeSchedule, MarketInfo
from polyinfra.model.numbers import MICROS, Side, TickSize, to_micros
from polyinfra.net.http import HttpTransport
from polyinfra.wire.clob_user import TradeRecord
from tests.integration.conftest import FAST_SETTLEMENT, SETTLEMENT_PENDING_2_S
from tests.integration.trading_steps import WAIT_S, signed_order, subscribe_user_channel, trading_client

# Hardhat account #1 (venue notes: Test vectors) trades with account #0 (known_secrets).
TAKER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"

# Seed 12's four markets: on the 0.01 grid a fee-free normal market, a 0.03 normal market and a
# neg-risk market on the exponent-2 curve (0.25), as /clob-markets reports them.
MARKETS = {
    "fee-free": (Decimal(0), 1, False),
    "rate-0.03": (Decimal("0.03"), 1, False),
    "neg-risk-rate-0.25-exp-2": (Decimal("0.25"), 2, True),
}


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    settings = getattr(request, "param", FAST_SETTLEMENT)
    faults = FaultConfig(rate_limits=RateLimitMode.OFF)
    async with Emulator(markets=4, seed=12, rate=0, trading=settings, faults=faults) as running:
        yield running


@pytest.fixture
async def transport(emulator: Emulator) -> AsyncIterator[HttpTransport]:
    async with HttpTransport(emulator.urls["rest"]) as opened:
        yield opened


async def _market(emulator: Emulator, kind: str) -> tuple[MarketInfo, FeeSchedule]:
    """The market of ``kind`` with its simulated book cleared, and its schedule as ``/clob-markets`` says."""
    rate, exponent, neg_risk = MARKETS[kind]
    market = next(
        info
        for info in emulator.exchange.markets.values()
        if info.tick_size is TickSize.TICK_0_01
        and info.neg_risk is neg_risk
        and info.fee_schedule is not None
        and (info.fee_schedule.rate, info.fee_schedule.exponent) == (rate, exponent)
    )
    tokens = {token.token_id for token in market.tokens}
    for order in emulator.exchange.open_orders():
        if order.token_id in tokens:
            emulator.exchange.cancel(order.order_id)
    async with ClobRestClient(emulator.urls["rest"]) as public:
        published = (await public.get_clob_market_info(market.condition_id)).fee_schedule
    assert published is not None
    assert (published.rate, published.exponent, published.taker_only) == (rate, exponent, True)
    return market, published


@dataclass(frozen=True, slots=True)
class _Desk:
    """One market of a kind and the two wallets trading it: ``maker`` rests, ``taker`` crosses."""

    market: MarketInfo
    schedule: FeeSchedule
    maker: TradingClient
    taker: TradingClient

    @property
    def token(self) -> str:
        return self.market.tokens[0].token_id


async def _desk(emulator: Emulator, transport: HttpTransport, maker_key: str, kind: str) -> _Desk:
    market, schedule = await _market(emulator, kind)
    return _Desk(
        market, schedule, await trading_client(transport, maker_key), await trading_client(transport, TAKER_KEY)
    )


async def _holdings(client: TradingClient, token: str) -> tuple[int, int]:
    """(pUSD, shares of ``token``) as ``GET /balance-allowance`` reports them, in micro-units."""
    collateral = await client.get_balance_allowance()
    shares = await client.get_balance_allowance(AssetType.CONDITIONAL, token_id=token)
    return int(collateral.balance), int(shares.balance)


async def _moved(client: TradingClient, token: str, before: tuple[int, int]) -> tuple[int, int]:
    """How (pUSD, shares) changed since ``before``."""
    collateral, shares = await _holdings(client, token)
    return collateral - before[0], shares - before[1]


@asynccontextmanager
async def _trade_events(emulator: Emulator, client: TradingClient, market: MarketInfo) -> AsyncIterator[list[Any]]:
    """Collects the wallet's user-channel ``trade`` events of ``market`` into the yielded list."""
    credentials = client.credentials
    assert credentials is not None
    subscribe = {
        "auth": {
            "apiKey": credentials.api_key,
            "secret": credentials.secret.reveal(),
            "passphrase": credentials.passphrase.reveal(),
        },
        "type": "user",
        "markets": [market.condition_id],
    }
    events: list[Any] = []
    async with websockets.connect(emulator.urls["ws_user"]) as socket:
        await subscribe_user_channel(socket, msgspec.json.encode(subscribe).decode())

        async def collect() -> None:
            async for frame in socket:
                event = msgspec.json.decode(frame)
                if isinstance(event, dict) and event.get("event_type") == "trade":
                    events.append(event)

        collector = asyncio.create_task(collect())
        try:
            yield events
            async with asyncio.timeout(WAIT_S):
                while not events or not _settled(events):
                    await asyncio.sleep(0.01)
        finally:
            collector.cancel()
            await asyncio.gather(collector, return_exceptions=True)


def _settled(events: list[Any]) -> bool:
    """Every trade the events name reached a final status (venue notes: User channel)."""
    final = {event["id"] for event in events if event["status"] in ("CONFIRMED", "FAILED")}
    return final == {event["id"] for event in events}


async def _trades(client: TradingClient) -> list[TradeRecord]:
    return [trade async for trade in client.iter_trades()]


async def _wait_for_status(client: TradingClient, trade_id: str, status: str) -> None:
    async with asyncio.timeout(WAIT_S):
        while not any(trade.id == trade_id and trade.status == status for trade in await _trades(client)):
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("kind", "fee_micros", "taker_bps"),
    [("fee-free", 0, "0"), ("rate-0.03", 43_200, "300"), ("neg-risk-rate-0.25-exp-2", 86_400, "2500")],
)
async def test_a_taker_buy_pays_the_fee_on_top_and_the_maker_exactly_the_notional(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any, kind: str, fee_micros: int, taker_bps: str
) -> None:
    desk = await _desk(emulator, transport, known_secrets.private_key, kind)
    market, maker, taker = desk.market, desk.maker, desk.taker
    # The fee is the client's own model over the published schedule: 6 shares at 0.60.
    fee = to_micros(fill_fee(6, "0.6", desk.schedule, taker=True))
    assert fee == fee_micros
    maker_before, taker_before = await _holdings(maker, desk.token), await _holdings(taker, desk.token)

    async with (
        _trade_events(emulator, maker, market) as maker_events,
        _trade_events(emulator, taker, market) as taker_events,
    ):
        await maker.post_order(signed_order(known_secrets.private_key, market, Side.SELL, "0.60", "10"))
        # Crosses at the resting 0.60 (price improvement), so the fee is taken at 0.60 too.
        taking = await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.70", "6"))
    (trade_id,) = taking.trade_ids

    notional = 6 * 600_000
    assert await _moved(taker, desk.token, taker_before) == (-(notional + fee), 6 * MICROS)
    assert await _moved(maker, desk.token, maker_before) == (notional, -6 * MICROS)

    rows = {"taker": await _trades(taker), "maker": await _trades(maker)}
    for who, events in (("taker", taker_events), ("maker", maker_events)):
        (row,) = rows[who]
        assert (row.id, row.status, row.trader_side) == (trade_id, "CONFIRMED", who.upper())
        # Top level: the taking order, charged at the schedule rate; its maker, taker-only, nothing.
        assert row.fee_rate_bps == taker_bps
        assert [maker_order.fee_rate_bps for maker_order in row.maker_orders] == ["0"]
        assert [event["status"] for event in events] == ["MATCHED", "MINED", "CONFIRMED"]
        assert {(event["id"], event["fee_rate_bps"]) for event in events} == {(trade_id, taker_bps)}
        assert {maker_order["fee_rate_bps"] for event in events for maker_order in event["maker_orders"]} == {"0"}


@pytest.mark.parametrize("emulator", [SETTLEMENT_PENDING_2_S], indirect=True, ids=["settling 2 s"])
async def test_a_taker_sell_pays_out_of_its_proceeds_and_a_failed_trade_refunds_the_fee(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    desk = await _desk(emulator, transport, known_secrets.private_key, "rate-0.03")
    market, maker, taker, token = desk.market, desk.maker, desk.taker, desk.token
    maker_before, taker_before = await _holdings(maker, token), await _holdings(taker, token)

    await maker.post_order(signed_order(known_secrets.private_key, market, Side.BUY, "0.40", "20"))
    await taker.post_order(signed_order(TAKER_KEY, market, Side.SELL, "0.30", "10"))
    fee = to_micros(fill_fee(10, "0.4", desk.schedule, taker=True))
    assert fee == 72_000
    assert await _moved(taker, token, taker_before) == (4 * MICROS - fee, -10 * MICROS)
    assert await _moved(maker, token, maker_before) == (-4 * MICROS, 10 * MICROS)
    taker_after, maker_after = await _holdings(taker, token), await _holdings(maker, token)

    # RETRYING -> FAILED never reached the chain; the fee comes back with the rest.
    emulator.faults.update({"trade_retry_rate": 1.0, "trade_failure_rate": 1.0})
    failing = await taker.post_order(signed_order(TAKER_KEY, market, Side.SELL, "0.30", "10"))
    (failed_id,) = failing.trade_ids
    assert (await _holdings(taker, token))[0] == taker_after[0] + 4 * MICROS - fee
    await _wait_for_status(taker, failed_id, "FAILED")
    assert (await _holdings(taker, token), await _holdings(maker, token)) == (taker_after, maker_after)


async def test_a_buy_must_hold_its_fee_and_never_leaves_a_wallet_negative(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    desk = await _desk(emulator, transport, known_secrets.private_key, "rate-0.03")
    market, taker = desk.market, desk.taker
    await desk.maker.post_order(signed_order(known_secrets.private_key, market, Side.SELL, "0.50", "100"))
    fee = fill_fee(100, "0.5", desk.schedule, taker=True)
    assert fee == Decimal("0.75")

    async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as admin:

        async def deposit(collateral: str) -> None:
            answer = await admin.post(f"/_emulator/wallets/{taker.address}", json={"collateral": collateral})
            assert answer.status_code == 200, answer.text

        # 50 pUSD pays for the shares but not for the fee the venue takes on top.
        await deposit("50")
        with pytest.raises(InsufficientBalanceError):
            await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.50", "100"))
        await deposit(str(50 + fee))
        await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.50", "100"))
    assert await _holdings(taker, desk.token) == (0, SEED_SHARES_MICROS + 100 * MICROS)


async def test_fee_rate_and_last_trade_price_report_the_markets_fees(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    """``/fee-rate`` is V1's fee authorization (1000 on fee markets, 0 elsewhere; venue notes: Fees), and the
    market channel's ``last_trade_price`` carries the taker's rate as the trade rows do."""
    charged = await _desk(emulator, transport, known_secrets.private_key, "rate-0.03")
    free, _ = await _market(emulator, "fee-free")
    async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as http:
        for market, base_fee in ((charged.market, 1000), (free, 0)):
            token = market.tokens[0].token_id
            by_query = await http.get("/fee-rate", params={"token_id": token})
            by_path = await http.get(f"/fee-rate/{token}")
            assert by_query.json() == by_path.json() == {"base_fee": base_fee}
        unknown = await http.get("/fee-rate", params={"token_id": "12345"})
        assert (unknown.status_code, unknown.json()) == (404, {"error": "fee rate not found for market"})
        malformed = await http.get("/fee-rate", params={"token_id": "0xnot-a-token"})
        assert (malformed.status_code, malformed.json()) == (400, {"error": "Invalid token id"})

    async with websockets.connect(emulator.urls["ws_market"]) as socket:
        await socket.send(msgspec.json.encode({"assets_ids": [charged.token], "type": "market"}).decode())
        await socket.send("PING")
        async with asyncio.timeout(WAIT_S):
            while await socket.recv() != "PONG":  # the initial dump comes first
                pass
        await charged.maker.post_order(signed_order(known_secrets.private_key, charged.market, Side.SELL, "0.60", "10"))
        await charged.taker.post_order(signed_order(TAKER_KEY, charged.market, Side.BUY, "0.60", "6"))
        async with asyncio.timeout(WAIT_S):
            while True:
                frame = msgspec.json.decode(await socket.recv())
                events = frame if isinstance(frame, list) else [frame]
                trades = [event for event in events if event.get("event_type") == "last_trade_price"]
                if trades:
                    break
    assert [(event["price"], event["size"], event["fee_rate_bps"]) for event in trades] == [("0.6", "6", "300")]
