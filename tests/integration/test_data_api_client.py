"""The Data API client against the emulator's Data API over real sockets: every route, the v2 cursor
walks, the pagination traps refused, 21 condition ids, the rate-limit counters, Retry-After, the lag,
and activity pages equal to the emulator's ground truth (its ledger, and RTDS activity)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from itertools import pairwise

import httpx
import pytest

from polyinfra.core.venue_rate_limits import DATA_LIMITS
from polyinfra.data.data_api import DataApiClient
from polyinfra.emulator.data.ledger import LedgerRow
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.live.rtds_sources import agent_wallet
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import CursorRejectedError, HttpClientError, PaginationError
from polyinfra.model.numbers import MICROS
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity, WalletActivitySource
from polyinfra.net.retry import RetryPolicy

_STEPS = 300


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=4, seed=11, rate=0, faults=FaultConfig(rate_limits=RateLimitMode.OFF)) as running:
        for _ in range(_STEPS):
            running.simulator.step()
        yield running


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[DataApiClient]:
    async with DataApiClient(emulator.urls["data"], lag_allowance_s=0) as opened:
        yield opened


def _busiest(emulator: Emulator) -> str:
    ledger = emulator.data_apis.ledger
    return max(ledger.wallets(), key=lambda wallet: len(ledger.rows_of(wallet, until_ms=2**62)))


def _expected(row: LedgerRow) -> tuple[object, ...]:
    return (
        row.transaction_hash,
        row.wallet,
        row.condition_id,
        row.token_id,
        row.outcome_index,
        row.side,
        Decimal(row.size_micros) / MICROS,
        None if row.price_micros is None else Decimal(row.price_micros) / MICROS,
        row.timestamp_ms // 1000,
    )


def _seen(row: WalletActivity) -> tuple[object, ...]:
    return (
        row.transaction_hash,
        row.wallet,
        row.condition_id,
        row.token_id,
        row.outcome_index,
        row.side,
        row.size,
        row.price,
        row.timestamp_s,
    )


async def test_activity_pages_equal_the_ground_truth(emulator: Emulator, client: DataApiClient) -> None:
    source: WalletActivitySource = client  # the seam the wallet watch pages through (checked by mypy)
    wallet = _busiest(emulator)
    truth = emulator.data_apis.ledger.rows_of(wallet, until_ms=2**62)
    assert len(truth) > 30
    rows: list[WalletActivity] = []
    cursor = None
    pages = 0
    while True:
        page = await source.activity_page(wallet, start_s=0, cursor=cursor, limit=7)
        rows += page.rows
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == -(-len(truth) // 7)
    assert [_seen(row) for row in rows] == [_expected(row) for row in truth]
    # Every row once, a wallet on both sides of one fill (a simulator maker crossing its own quote) included.
    assert len({row.key for row in rows}) == len(rows)
    # The same fills RTDS published, under the same settlement hashes.
    published = {
        (p.payload.transaction_hash, p.payload.proxy_wallet.lower(), p.payload.asset, p.payload.side, p.payload.size)
        for p in emulator.rtds_sources.published_activity
        if p.kind == "trades"
    }
    assert {(r.transaction_hash, r.wallet, r.token_id, r.side, r.size) for r in rows} <= published


async def test_complete_through_never_vouches_for_the_lag(emulator: Emulator) -> None:
    wallet = _busiest(emulator)
    newest_s = emulator.data_apis.ledger.rows_of(wallet, until_ms=2**62)[-1].timestamp_ms // 1000
    async with DataApiClient(emulator.urls["data"], clock_s=lambda: newest_s + 3, lag_allowance_s=10) as client:
        page = await client.activity_page(wallet, start_s=0, limit=500)
        assert page.next_cursor is None
        assert page.complete_through_s == newest_s + 3 - 10 - 1
        middle = await client.activity_page(wallet, start_s=0, limit=5)
        assert middle.next_cursor is not None
        assert middle.complete_through_s <= middle.rows[-1].timestamp_s - 1


async def test_the_lag_hides_recent_rows_until_the_clock_passes(emulator: Emulator, client: DataApiClient) -> None:
    wallet = _busiest(emulator)
    view = emulator.data_apis.view
    newest_ms = emulator.data_apis.ledger.rows_of(wallet, until_ms=2**62)[-1].timestamp_ms
    emulator.data_apis.knobs.lag_s = 7
    view.clock_ms = lambda: newest_ms + 2_000
    hidden = await client.activity_v2(wallet, start_s=0)
    assert all(row.timestamp * 1000 <= newest_ms - 5_000 for row in hidden)
    view.clock_ms = lambda: newest_ms + 7_000
    shown = await client.activity_v2(wallet, start_s=0)
    assert len(shown) == len(emulator.data_apis.ledger.rows_of(wallet, until_ms=newest_ms)) > len(hidden)


async def test_v2_walks_resend_their_filters_on_every_page(emulator: Emulator, client: DataApiClient) -> None:
    wallet = _busiest(emulator)
    sent: list[dict[str, str]] = []

    async def record(request: httpx.Request) -> None:
        sent.append(dict(request.url.params))

    client.transport._client.event_hooks["request"].append(record)
    rows = await client.activity_v2(wallet, start_s=0)
    assert len(rows) == len(emulator.data_apis.ledger.rows_of(wallet, until_ms=2**62))
    board = await client.leaderboard_v2(time_period="ALL")
    assert [entry.rank for entry in board] == list(range(1, len(board) + 1))
    activity_pages = [params for params in sent if "start" in params]
    for params in sent:
        params.pop("cursor", None)
    assert activity_pages and all(params == activity_pages[0] for params in activity_pages)
    assert activity_pages[0] == {"user": wallet, "start": "0", "sort_direction": "ASC", "limit": "500"}


async def test_a_cohort_cursor_contradicted_is_refused(emulator: Emulator, client: DataApiClient) -> None:
    first = await client.transport.request("GET", "/v2/leaderboard", params={"time_period": "ALL", "limit": "1"})
    cursor = first.decode(dict[str, object])["pagination"]["next_cursor"]  # type: ignore[index]
    assert isinstance(cursor, str)
    same = {"time_period": "ALL", "cursor": cursor}
    assert (await client.transport.request("GET", "/v2/leaderboard", params=same)).status == 200
    with pytest.raises(CursorRejectedError) as refused:
        await client.transport.request("GET", "/v2/leaderboard", params={"time_period": "DAY", "cursor": cursor})
    assert refused.value.context["venue_code"] == "CURSOR_MISMATCH"


async def test_an_expired_cursor_is_refused(emulator: Emulator, client: DataApiClient) -> None:
    wallet = _busiest(emulator)
    emulator.data_apis.knobs.cursor_ttl_s = 30
    page = await client.activity_page(wallet, start_s=0, limit=3)
    assert page.next_cursor is not None
    view = emulator.data_apis.view
    later = view.clock_ms() + 31_000
    view.clock_ms = lambda: later
    with pytest.raises(CursorRejectedError):
        await client.activity_page(wallet, start_s=0, cursor=page.next_cursor, limit=3)


async def test_v1_walks_return_everything_and_fail_closed(emulator: Emulator) -> None:
    wallet = _busiest(emulator)
    rows = len(emulator.data_apis.ledger.rows_of(wallet, until_ms=2**62))
    url = emulator.urls["data"]
    async with DataApiClient(url, v1_page_limit=5) as client:
        assert len(await client.activity(wallet)) == rows
        emulator.data_apis.knobs.v1_repeat_past_offset = 10
        with pytest.raises(PaginationError) as repeated:
            await client.activity(wallet)
        assert repeated.value.context["reason"] == "repeated_rows"
    emulator.data_apis.knobs.v1_repeat_past_offset = 0
    emulator.data_apis.knobs.v1_max_offset = 10
    async with DataApiClient(url, v1_page_limit=5, v1_ceilings={"/activity": 10}) as client:
        with pytest.raises(PaginationError) as ceiling:
            await client.activity(wallet)
        assert ceiling.value.context["reason"] == "offset_ceiling"


async def test_21_condition_ids_go_in_two_requests(emulator: Emulator, client: DataApiClient) -> None:
    wallet = _busiest(emulator)
    markets = [str(condition) for condition in emulator.exchange.markets]
    padding = [f"0x{index:064x}" for index in range(21 - len(markets))]
    everything = await client.positions(wallet)
    chunked = await client.positions(wallet, markets=[*padding, *markets])
    assert sorted(p.asset for p in chunked) == sorted(p.asset for p in everything)
    chunked_v2 = await client.positions_v2(wallet, markets=[*padding, *markets])
    assert sorted(p.asset for p in chunked_v2) == sorted(p.asset for p in await client.positions_v2(wallet))
    with pytest.raises(HttpClientError):
        await client.transport.request(
            "GET", "/v2/positions", params={"user": wallet, "condition": ",".join([*padding, *markets])}
        )


async def test_positions_values_and_boards_follow_the_fills(emulator: Emulator, client: DataApiClient) -> None:
    wallet = _busiest(emulator)
    book = emulator.data_apis.ledger.book(wallet, until_ms=2**62)
    held = {token: p.size_micros for token, p in book.positions.items() if p.size_micros > MICROS}
    v1 = await client.positions(wallet)
    assert {p.asset: p.size for p in v1} == {token: Decimal(size) / MICROS for token, size in held.items()}
    v2 = await client.positions_v2(wallet)
    assert {p.asset for p in v2} == {token for token, p in book.positions.items() if p.size_micros > 0}
    closed = await client.closed_positions(wallet)
    assert {p.asset for p in closed} == {token for token, p in book.positions.items() if p.size_micros == 0}
    values = await client.value(wallet)
    value_v2 = await client.value_v2(wallet)
    assert value_v2 is not None and values[0].value == value_v2.value_usdc
    assert sum(p.current_value for p in v2 if p.current_size > 0 and p.current_value) == value_v2.value_usdc
    board = await client.leaderboard(time_period="ALL")
    assert {entry.proxy_wallet for entry in board} == set(emulator.data_apis.ledger.wallets())
    stats = await client.user_stats(wallet)
    assert stats is not None and stats.trades == len({p.condition_id for p in book.positions.values()})
    assert await client.user_stats("0x" + "ab" * 20) is None
    series = await client.user_pnl(wallet)
    assert series[-1].total_pnl == stats.all_time_pnl
    assert series[-1].trade_count == book.trades
    assert all(a.timestamp < b.timestamp for a, b in pairwise(series[:-1]))
    counts = [point.trade_count or 0 for point in series]
    assert counts == sorted(counts) and series[0].trade_count
    trades = await client.trades(user=wallet, taker_only=False)
    trades_v2 = await client.trades_v2(user=wallet, taker_only=False)
    assert len(trades) == len(trades_v2) == book.trades
    holders = await client.holders_v2(list(emulator.exchange.markets)[:2])
    assert len(holders) == 4 and all(h.total_pnl is not None for t in holders for h in t.holders)
    v1_holders = await client.holders(list(emulator.exchange.markets)[:2])
    assert [t.token for t in v1_holders] == [t.token for t in holders]


async def test_redeemable_after_resolution_then_redeem_rows(emulator: Emulator, client: DataApiClient) -> None:
    wallet = _busiest(emulator)
    book = emulator.data_apis.ledger.book(wallet, until_ms=2**62)
    position = next(p for p in book.positions.values() if p.size_micros > 0)
    info = emulator.exchange.markets[position.condition_id]  # type: ignore[index]
    emulator.exchange.resolve_market(info.condition_id, position.token_id)
    redeemable = await client.positions_v2(wallet, status="REDEEMABLE")
    assert position.token_id in {p.asset for p in redeemable}
    assert all(p.redeemable and p.cur_price == 1 for p in redeemable)
    start_s = emulator.data_apis.view.clock_ms() // 1000
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"http://127.0.0.1:{emulator.port}/_emulator/data/redeem",
            json={"wallet": wallet, "condition_id": info.condition_id},
        )
    assert answer.status_code == 200
    page = await client.activity_page(wallet, start_s=start_s)
    redeems = [row for row in page.rows if row.kind is ActivityKind.REDEEM]
    assert redeems and redeems[0].token_id == position.token_id
    assert redeems[0].usdc_size == redeems[0].size == Decimal(position.size_micros) / MICROS
    assert await client.positions_v2(wallet, status="REDEEMABLE") == []
    winners = await client.biggest_winners(time_period="ALL")
    assert all(winner.condition_id == info.condition_id for winner in winners)


async def test_retry_after_of_an_outage_is_honoured(emulator: Emulator) -> None:
    emulator.data_apis.knobs.update({"outage_requests": 1, "retry_after_s": 1})
    async with DataApiClient(emulator.urls["data"], retry=RetryPolicy(base_delay_s=0.01)) as client:
        response = await client.transport.request("GET", "/v2/value", params={"user": _busiest(emulator)})
    assert response.attempts == 2
    assert response.retry_wait_s >= 1.0, "the pause is the venue's Retry-After, not the 10 ms backoff"


async def test_v2_errors_carry_code_and_trace_id(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.urls["data"]) as http:
        answer = await http.get("/v2/activity", params={"user": "0x" + "ab" * 20, "offset": "5"})
    body = answer.json()
    assert answer.status_code == 400
    assert body["code"] == "OFFSET_NOT_SUPPORTED" and body["retryable"] is False
    assert body["trace_id"] == answer.headers["x-trace-id"]


async def test_the_client_stays_inside_every_window() -> None:
    scale = 0.1  # /positions: 15 per 10 s at the venue, 12 with the client's margin
    faults = FaultConfig(rate_limits=RateLimitMode.OFF, rate_limit_scale=scale)
    async with Emulator(markets=2, seed=3, rate=0, faults=faults) as emulator:
        for _ in range(60):
            emulator.simulator.step()
        wallets = emulator.data_apis.ledger.wallets()
        async with DataApiClient(emulator.urls["data"], rate_limits=DATA_LIMITS.scaled(scale)) as client:
            for index in range(12):
                await client.positions(wallets[index % len(wallets)])
                await client.activity_v2(wallets[index % len(wallets)], start_s=0)
        report = emulator.data_apis.stats()["data"]
        assert report["over_limit"] == 0  # type: ignore[index]
        positions = report["scopes"]["data_positions"]  # type: ignore[index]
        assert positions["requests"] == 12 and positions["windows"][0]["peak"] <= positions["windows"][0]["limit"]
        # The counters do count: the same burst without a limiter goes over.
        async with httpx.AsyncClient(base_url=emulator.urls["data"]) as http:
            for _ in range(10):
                await http.get("/positions", params={"user": wallets[0]})
        assert emulator.data_apis.stats()["data"]["scopes"]["data_positions"]["over_limit"] > 0  # type: ignore[index]


async def test_over_budget_answers_429_with_retry_after_in_each_shape() -> None:
    faults = FaultConfig(rate_limits=RateLimitMode.REJECT, rate_limit_scale=0.01)  # /positions: 1 per 10 s
    async with Emulator(markets=1, seed=3, rate=0, faults=faults) as emulator:
        user = {"user": "0x" + "ab" * 20}
        async with httpx.AsyncClient(base_url=emulator.urls["data"]) as http:
            assert (await http.get("/positions", params=user)).status_code == 200
            v1 = await http.get("/positions", params=user)
            v2 = await http.get("/v2/positions", params=user)
        assert (v1.status_code, v1.json()) == (429, {"error": "Too Many Requests"})
        assert v2.status_code == 429 and v2.json()["code"] == "RATE_LIMITED" and v2.json()["retryable"] is True
        assert 1 <= int(v1.headers["Retry-After"]) <= 10 and 1 <= int(v2.headers["Retry-After"]) <= 10
        assert emulator.data_apis.stats()["data"]["scopes"]["data_positions"]["rejected"] == 2  # type: ignore[index]


async def test_a_crowd_of_wallets_trades_and_each_history_is_served_whole() -> None:
    async with Emulator(markets=3, seed=8, rate=0, crowd_wallets=40) as emulator:
        for _ in range(200):
            emulator.simulator.step()
            emulator.crowd.step()
            emulator.crowd.step()
        ledger = emulator.data_apis.ledger
        crowd = {agent_wallet(member).lower() for member in emulator.crowd.members}
        traded = crowd & set(ledger.wallets())
        assert len(traded) >= 30, "most of the crowd traded"
        for info in emulator.exchange.markets.values():
            levels = emulator.exchange.levels(info.tokens[0].token_id)
            assert levels.bids and levels.asks, "the crowd keeps books two-sided"
        async with DataApiClient(emulator.urls["data"], lag_allowance_s=0) as client:
            for wallet in sorted(traded)[:5]:
                page = await client.activity_page(wallet, start_s=0)
                assert page.next_cursor is None
                assert [_seen(row) for row in page.rows] == [
                    _expected(row) for row in ledger.rows_of(wallet, until_ms=2**62)
                ]


async def test_a_v1_walk_survives_fills_arriving_during_it(emulator: Emulator) -> None:
    wallet = _busiest(emulator)
    ledger = emulator.data_apis.ledger

    async def trade_more(response: httpx.Response) -> None:
        for _ in range(3):  # new fills (some of them the wallet's) between every two pages
            emulator.simulator.step()

    async with DataApiClient(emulator.urls["data"], v1_page_limit=10) as client:
        client.transport._client.event_hooks["response"].append(trade_more)
        rows = await client.activity(wallet)
    keys = [(row.transaction_hash, row.asset, row.side) for row in rows]
    assert len(keys) == len(set(keys))
    truth = [(row.transaction_hash, row.token_id, row.side) for row in ledger.rows_of(wallet, until_ms=2**62)]
    assert keys == truth[: len(keys)] and len(keys) > 40
