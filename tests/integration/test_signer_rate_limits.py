"""The venue's per-signer token buckets (venue notes: Rate limits) end to end over real sockets: the emulator
charges each signer's order and cancel buckets and says so in ``Poly-RateLimit-*`` headers, and
:class:`~polyinfra.clob.trading.TradingClient` over :class:`~polyinfra.net.http.HttpTransport`
follows them: the tier the venue names, a hold of that wallet's bucket only when it is spent, a
warning in warning mode, and the orders a cancel-all cancelled charged after the fact.

Assertions are on the emulator's counters, the limiter's state and the order outcomes, never on
how long anything took. Where a test needs a burst to overflow a bucket, it stops the bucket's clock
(:class:`StoppableClock`) rather than hoping the machine sends faster than the bucket refills.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, Generic, TypeVar

import httpx
import pytest

from polyinfra.clob.trading import OrderSubmission, SendOrderResponse, TradingClient
from polyinfra.core.auth_headers import ApiCredentials, l2_headers
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_builder import OrderStamper, build_order
from polyinfra.core.order_signing import POLYGON_CHAIN_ID, SignedOrder, sign_order
from polyinfra.core.venue_rate_limits import clob_limits
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.trading_api import TradingSettings
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side
from polyinfra.net.http import HttpTransport
from polyinfra.net.http_request import Response
from polyinfra.net.rate_limit import AsyncRateLimiter, TicketState
from polyinfra.net.retry import RetryPolicy
from polyinfra.obs.metrics import REGISTRY
from polyinfra.obs.redaction import revealed
from tests.integration.trading_steps import empty_market, trading_client

# Hardhat account #1 (a public test key): a second wallet next to the session's own.
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
BURST = 150  # orders: more than the standard order bucket's 60, fewer than the elite one's 900
WAIT_S = 30.0
WARNING_EVENT = "venue warns the wallet is over its signer rate limit; enforced, this would be a 429"

STAMPER = OrderStamper(lambda: time.time_ns() // 1_000_000)

T = TypeVar("T", int, float)


class StoppableClock(Generic[T]):
    """``source``'s time while running; the time it was stopped at while stopped."""

    def __init__(self, source: Callable[[], T]) -> None:
        self._source = source
        self._stopped_at: T | None = None

    def __call__(self) -> T:
        return self._source() if self._stopped_at is None else self._stopped_at

    def stop(self) -> None:
        self._stopped_at = self()

    def run(self) -> None:
        self._stopped_at = None


def _unix_us() -> int:
    return time.time_ns() // 1_000


async def _emulator(**knobs: Any) -> Emulator:
    emulator = Emulator(
        markets=3,
        seed=5,
        rate=0,
        trading=TradingSettings(mined_after_s=0.05, confirmed_after_s=0.1),
        faults=FaultConfig(**knobs),
    )
    await emulator.start()
    emulator.signer_buckets.clock_us = StoppableClock(_unix_us)
    return emulator


def _bucket_clock(emulator: Emulator) -> StoppableClock[int]:
    clock = emulator.signer_buckets.clock_us
    assert isinstance(clock, StoppableClock)
    return clock


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    running = await _emulator()
    yield running
    await running.stop()


@pytest.fixture
async def admin(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as client:
        yield client


class _L2Auth(httpx.Auth):
    """Signs every request with an API key, as the venue requires before it charges a signer."""

    requires_request_body = True

    def __init__(self, credentials: ApiCredentials, address: str) -> None:
        self._credentials = credentials
        self._address = address

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            revealed(
                l2_headers(
                    self._credentials,
                    address=self._address,
                    timestamp_s=int(time.time()),
                    method=request.method,
                    request_path=request.url.path,
                    body=request.content,
                )
            )
        )
        yield request


@pytest.fixture
async def signer(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh wallet whose every request carries its API key's L2 headers."""
    key = SigningKey(secrets.token_hex(32))
    async with HttpTransport(emulator.urls["rest"]) as transport:
        credentials = await TradingClient(transport, key).create_or_derive_api_key()
    auth = _L2Auth(credentials, key.address)
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S, auth=auth) as client:
        yield client


def _address(client: httpx.AsyncClient) -> str:
    auth = client.auth
    assert isinstance(auth, _L2Auth)
    return auth._address


async def _signer_stats(admin: httpx.AsyncClient) -> dict[str, Any]:
    stats: dict[str, Any] = (await admin.get("/_emulator/stats")).json()["signer_rate_limits"]
    return stats


def _over_limit(stats: dict[str, Any], address: str) -> int:
    signer: dict[str, int] = stats["signers"].get(address.lower(), {"over_limit": 0})
    return signer["over_limit"]


def _bid(key: SigningKey, market: MarketInfo) -> SignedOrder:
    """A far-from-the-money BUY that rests on the book."""
    built = build_order(
        token_id=market.tokens[0].token_id,
        side=Side.BUY,
        price="0.10",
        size="5",
        maker=key.address,
        stamper=STAMPER,
        market=market,
    )
    return sign_order(built.order, key, chain_id=POLYGON_CHAIN_ID)


async def _post_all(client: TradingClient, orders: list[SignedOrder]) -> list[SendOrderResponse]:
    return await asyncio.gather(*(client.post_order(order) for order in orders))


def _http_events(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    return [
        record.msg  # type: ignore[misc]
        for record in caplog.records
        if record.name == "polyinfra.net.http" and isinstance(record.msg, dict) and record.msg["event"] == event
    ]


# --- the emulator's buckets ------------------------------------------------------------------------


async def test_the_emulator_charges_each_signer_and_says_so(
    emulator: Emulator, admin: httpx.AsyncClient, signer: httpx.AsyncClient
) -> None:
    bucket_clock = _bucket_clock(emulator)
    bucket_clock.stop()  # nothing refills: every count and time below is exact at any speed
    # Authenticated requests with invalid orders: the route answers 400, the bucket (before it) charges the signer.
    first = await signer.post("/order", json={})
    assert first.status_code == 400
    assert (first.headers["Poly-RateLimit-Remaining"], first.headers["Poly-RateLimit-Tier"]) == ("59", "standard")
    one_token_later_us = bucket_clock() + 1_000_000 // 40  # standard orders refill at 40/s
    assert int(first.headers["Poly-RateLimit-Reset"]) == -(-one_token_later_us // 1_000_000)
    # A request without credentials is not charged, whatever signer it names, and carries no headers.
    stranger = await admin.post("/order", json={}, headers={"POLY_ADDRESS": _address(signer)})
    assert stranger.status_code == 401
    assert "Poly-RateLimit-Remaining" not in stranger.headers
    # A batch of 15 costs 15, a cancel draws from the other bucket.
    batch = await signer.post("/orders", json=[{"order": {}}] * 15)
    assert batch.headers["Poly-RateLimit-Remaining"] == "44"
    cancel = await signer.request("DELETE", "/order", json={"orderID": "0x01"})
    assert cancel.headers["Poly-RateLimit-Remaining"] == "119"
    answers = await asyncio.gather(*(signer.post("/order", json={}) for _ in range(80)))
    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(refused) == 80 - 44, "80 orders cannot all fit the 44 tokens left"
    assert refused[0].json() == {"error": "Too Many Requests"}
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert int(refused[0].headers["Poly-RateLimit-Remaining"]) <= 0
    stats = await _signer_stats(admin)
    assert stats["mode"] == "enforce"
    assert _over_limit(stats, _address(signer)) == stats["rejected"] == len(refused)

    # The tier is set per signer through the wallet route; a bad one is a 400 naming the field.
    answer = await admin.post(f"/_emulator/wallets/{_address(signer)}", json={"tier": "gold"})
    assert (answer.status_code, answer.json()["tier"]) == (200, "gold")
    gold = await signer.post("/order", json={})
    assert gold.headers["Poly-RateLimit-Tier"] == "gold"
    bad = await admin.post(f"/_emulator/wallets/{_address(signer)}", json={"tier": "Wood", "collateral": "1"})
    assert bad.status_code == 400
    assert "field='tier'" in bad.json()["error"]
    assert (await admin.get(f"/_emulator/wallets/{_address(signer)}")).json()["chain"]["collateral"] == "10000"


async def test_warning_mode_and_off_mode(
    emulator: Emulator, admin: httpx.AsyncClient, signer: httpx.AsyncClient
) -> None:
    _bucket_clock(emulator).stop()
    await admin.post("/_emulator/faults", json={"signer_rate_limit_warning": True})
    answers = await asyncio.gather(*(signer.post("/order", json={}) for _ in range(80)))
    assert {answer.status_code for answer in answers} == {400}, "nothing refused for the rate"
    warned = [answer for answer in answers if answer.headers.get("Poly-RateLimit-Warning") == "true"]
    stats = await _signer_stats(admin)
    assert (stats["mode"], stats["warned"], stats["rejected"]) == ("warn", len(warned), 0)
    assert len(warned) == 80 - 60, "80 orders cannot all fit a bucket of 60"
    await admin.post("/_emulator/faults", json={"rate_limits": "off"})
    answers = await asyncio.gather(*(signer.post("/order", json={}) for _ in range(80)))
    assert all("Poly-RateLimit-Remaining" not in answer.headers for answer in answers)
    assert (await _signer_stats(admin))["mode"] == "off"


# --- the client follows them -------------------------------------------------------------------------


async def test_a_client_that_thinks_it_is_elite_follows_the_venues_tier_and_never_goes_over(
    emulator: Emulator, admin: httpx.AsyncClient, known_secrets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Fails if the headers are ignored: an elite-sized limiter lets all 150 orders go at once,
    and the venue's standard bucket (60) refuses most of them."""
    market = empty_market(emulator)
    key = SigningKey(known_secrets.private_key)
    async with HttpTransport(emulator.urls["rest"], rate_limits=clob_limits("elite")) as transport:
        client = await trading_client(transport, known_secrets.private_key)
        with caplog.at_level(logging.INFO, logger="polyinfra.net.http"):
            (first,) = await _post_all(client, [_bid(key, market)])
            assert transport.limiter.core.wallet_tier(client.wallet_id) == "standard"
            placed = await _post_all(client, [_bid(key, market) for _ in range(BURST)])
        assert all(answer.success for answer in [first, *placed])
        retiered = _http_events(caplog, "venue re-tiered the wallet's signer rate limits")
        assert [(event["tier"], event["previous"]) for event in retiered] == [("standard", "elite")]
    stats = await _signer_stats(admin)
    assert stats["signers"][key.address.lower()]["requests"] == BURST + 1
    assert _over_limit(stats, key.address) == 0


async def test_a_cold_burst_is_held_on_the_429s_loses_no_order_and_holds_no_other_wallet(
    emulator: Emulator, admin: httpx.AsyncClient, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    first_key, second_key = SigningKey(known_secrets.private_key), SigningKey(SECOND_KEY)
    await admin.post(f"/_emulator/wallets/{second_key.address}", json={"tier": "elite"})
    # The first wallet's bucket does not refill until the second wallet is done, however slowly
    # the machine runs; meanwhile its orders keep meeting 429s, so they retry patiently.
    bucket_clock = _bucket_clock(emulator)
    bucket_clock.stop()
    patient = RetryPolicy(max_attempts=1_000, max_delay_s=1.0, deadline_s=240.0)
    shared = AsyncRateLimiter()  # one limiter, one transport (and breakers) per wallet, as WalletRegistry does
    async with (
        HttpTransport(
            emulator.urls["rest"], rate_limits=clob_limits("elite"), limiter=shared, retry=patient
        ) as first_transport,
        HttpTransport(emulator.urls["rest"], rate_limits=clob_limits("elite"), limiter=shared) as second_transport,
    ):
        first = await trading_client(first_transport, known_secrets.private_key)
        second = await trading_client(second_transport, SECOND_KEY)
        second_waits: list[float] = []
        send = second_transport.request

        async def send_and_note_the_wait(*args: Any, **kwargs: Any) -> Response:
            response = await send(*args, **kwargs)
            second_waits.append(response.rate_limit_wait_s)
            return response

        second_transport.request = send_and_note_the_wait  # type: ignore[method-assign]
        first_done = asyncio.Event()

        async def first_burst() -> list[SendOrderResponse]:
            # All 150 are admitted before the first answer can say the wallet is standard.
            try:
                return await _post_all(first, [_bid(first_key, market) for _ in range(BURST)])
            finally:
                first_done.set()

        async def second_meanwhile() -> list[SendOrderResponse]:
            while _over_limit(await _signer_stats(admin), first_key.address) == 0:
                await asyncio.sleep(0.01)
            # The first wallet is held now; the second one's orders go through meanwhile.
            answers = await _post_all(second, [_bid(second_key, market) for _ in range(30)])
            assert not first_done.is_set(), "the second wallet finished while the first was still held"
            bucket_clock.run()
            return answers

        placed, others = await asyncio.gather(first_burst(), second_meanwhile())
        # Not one of the second wallet's orders waited for the limiter: the hold is on the first
        # wallet's bucket only, not on the endpoint's IP-wide budget both wallets share.
        assert second_waits == [0.0] * len(others)
    assert all(answer.success for answer in others)
    assert len({answer.order_id for answer in placed if answer.success}) == BURST, "every order accepted"
    stats = await _signer_stats(admin)
    assert _over_limit(stats, second_key.address) == 0
    assert stats["signers"][first_key.address.lower()]["requests"] == BURST + _over_limit(stats, first_key.address)


async def test_warning_mode_lets_everything_through_and_the_client_warns_once_a_minute(
    known_secrets: Any, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = await _emulator(signer_rate_limit_warning=True)
    try:
        _bucket_clock(emulator).stop()  # the bucket pays for 60 orders (the login's request is no order)
        market = empty_market(emulator)
        key = SigningKey(known_secrets.private_key)
        counted_before = REGISTRY.get_sample_value("polyinfra_signer_rate_limit_warnings_total", {"endpoint": "/order"})
        async with HttpTransport(emulator.urls["rest"], rate_limits=clob_limits("elite")) as transport:
            client = await trading_client(transport, known_secrets.private_key)
            with caplog.at_level(logging.WARNING, logger="polyinfra.net.http"):
                started = time.monotonic()
                placed = await _post_all(client, [_bid(key, market) for _ in range(BURST)])
                elapsed_s = time.monotonic() - started
        assert all(answer.success for answer in placed)
        async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as admin:
            stats = await _signer_stats(admin)
        assert stats["rejected"] == 0
        assert stats["warned"] == _over_limit(stats, key.address) == BURST - 60
        counted = REGISTRY.get_sample_value("polyinfra_signer_rate_limit_warnings_total", {"endpoint": "/order"})
        assert (counted or 0) - (counted_before or 0) == stats["warned"]
        # Once a minute of the transport's clock (monotonic): one warning, or one more per minute
        # the burst took on a very slow machine, never one per warned order.
        warnings = _http_events(caplog, WARNING_EVENT)
        assert 1 <= len(warnings) <= 1 + elapsed_s // 60
    finally:
        await emulator.stop()


async def test_a_cancel_all_is_charged_the_orders_it_cancelled(
    emulator: Emulator, admin: httpx.AsyncClient, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    key = SigningKey(known_secrets.private_key)
    # Both sides' clocks stop before the cancel-all, so neither bucket refills before it is looked at.
    client_clock = StoppableClock(time.monotonic)
    async with HttpTransport(emulator.urls["rest"], clock=client_clock) as transport:
        client = await trading_client(transport, known_secrets.private_key)
        orders = [_bid(key, market) for _ in range(BURST)]
        placed = await client.post_orders([OrderSubmission(order) for order in orders])
        assert all(isinstance(answer, SendOrderResponse) for answer in placed)
        _bucket_clock(emulator).stop()
        client_clock.stop()
        cancelled = await client.cancel_all()
        assert len(cancelled.canceled) == BURST
        # The venue debited 1 + 150 from a cancel bucket of 120 (standard may go negative) ...
        assert client.credentials is not None
        async with httpx.AsyncClient(
            base_url=emulator.urls["rest"], timeout=WAIT_S, auth=_L2Auth(client.credentials, key.address)
        ) as wallet_http:
            probe = await wallet_http.request("DELETE", "/order", json={"orderID": "0x01"})
        assert probe.status_code == 429
        assert int(probe.headers["Poly-RateLimit-Remaining"]) == 120 - 1 - BURST
        # ... and the client charged them too: its next cancel waits instead of meeting that 429.
        route = transport.rate_limits.route("DELETE", "/order")
        ticket = transport.limiter.core.submit(route, wallet=client.wallet_id, now=client_clock())
        transport.limiter.core.pump(client_clock())
        assert ticket.state is TicketState.WAITING
        transport.limiter.core.cancel(ticket)
    assert _over_limit(await _signer_stats(admin), key.address) == 1, "only the probe"
