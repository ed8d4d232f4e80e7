"""Hostile Data API and Gamma answers into the client's read paths, hostile cursors and query strings
into the emulator's Data API: a valid result or a typed :class:`PolyinfraError`, never anything else.

The valid documents are the shapes the emulator serves (the venue's documented ones); ``hostile_bytes``
poisons them by class (deep nesting, huge numbers and exponents, wrong types, bytes that are not UTF-8).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st

from polyinfra.core.from_wire import (
    gamma_outcomes,
    holders_from_v1,
    holders_from_v2,
    market_info_from_gamma,
    pnl_series_from_v2,
)
from polyinfra.core.offset_walk import OffsetWalk
from polyinfra.core.wallet_activity_rows import activity_from_v1, activity_from_v2
from polyinfra.emulator.data.cursors import CursorRefusedError, CursorSigner
from polyinfra.emulator.data.data_v1 import DataApiV1
from polyinfra.emulator.data.data_v2 import DataApiV2
from polyinfra.emulator.data.knobs import DataApiKnobs
from polyinfra.emulator.data.ledger import WalletLedger
from polyinfra.emulator.data.views import DataView
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.simulator import MarketSimulator, generate_markets
from polyinfra.errors import PaginationError, PolyinfraError
from polyinfra.wire.data_api import (
    DataApiActivity,
    DataApiTokenHolders,
    V2Activity,
    V2Page,
    V2PnlPoint,
    V2TokenHolders,
)
from polyinfra.wire.gamma import GammaMarket
from polyinfra.wire.json_decoding import decode_json
from tests.fuzz.hostile import hostile_bytes, hostile_numbers, invalid_utf8

PER_PROPERTY = settings(max_examples=max(10, settings().max_examples // 4))

_ACTIVITY = {
    "proxy_wallet": "0x" + "ab" * 20,
    "timestamp": 1_796_611_672,
    "type": "TRADE",
    "size": 151.83,
    "usdc_size": 50.86305,
    "transaction_hash": "0x" + "4f" * 32,
    "condition_id": "0x" + "65" * 32,
    "asset": "7112363560821454998019698398236692996365655621053538024272136094167345328170",
    "side": "SELL",
    "price": 0.335,
    "outcome_index": 0,
}
_V2_PAGE = {"data": [_ACTIVITY, _ACTIVITY | {"type": "REDEEM", "side": None}], "pagination": {"next_cursor": "x"}}
_V1_ROW = {
    "proxyWallet": _ACTIVITY["proxy_wallet"],
    "timestamp": 1,
    "type": "TRADE",
    "size": 1.5,
    "usdcSize": 0.75,
    "transactionHash": "0x01",
    "side": "BUY",
    "price": 0.5,
}
_GAMMA_MARKET = {
    "id": "1",
    "question": "Will it?",
    "conditionId": "0x" + "ab" * 32,
    "outcomes": '["Yes", "No"]',
    "outcomePrices": '["0.4", "0.6"]',
    "clobTokenIds": '["123", "456"]',
    "orderPriceMinTickSize": 0.01,
    "orderMinSize": 5,
    "negRisk": False,
    "feesEnabled": True,
    "feeSchedule": {"rate": 0.03, "exponent": 1, "takerOnly": True, "rebateRate": 0.25},
}

_HOLDER = {"proxy_wallet": "0x" + "CD" * 20, "asset": "123", "amount": 1520.5, "outcome_index": 1, "name": "whale"}
_V2_HOLDERS = {
    "data": [
        {"token": "123", "holders": [_HOLDER | {"total_pnl": -12.5}]},
        {"token": "456", "holders": [_HOLDER | {"asset": "456", "outcome_index": None, "realized_pnl": 3}]},
    ],
    "pagination": {"next_cursor": None},
}
_V1_HOLDERS = [{"token": "123", "holders": [{"proxyWallet": "0x" + "ab" * 20, "asset": "123", "amount": 7}]}]
_PNL_POINT = {"timestamp": 1_796_000_000, "realized_market_pnl": 12.25, "fees_paid": -0.5, "rebates": None}
_USER_PNL = {
    "data": [_PNL_POINT, _PNL_POINT | {"timestamp": 1_795_000_000, "referral": 1}],
    "pagination": {"next_cursor": None},
}


@PER_PROPERTY
@given(hostile_bytes(_V2_PAGE))
def test_v2_activity_pages(body: bytes) -> None:
    try:
        page = decode_json(body, V2Page[V2Activity], what="fuzzed /v2/activity")
        rows = [activity_from_v2(row) for row in page.data]
    except PolyinfraError:
        return
    assert all(row.wallet == row.wallet.lower() for row in rows)


@PER_PROPERTY
@given(hostile_bytes([_V1_ROW]))
def test_v1_activity_rows(body: bytes) -> None:
    try:
        rows = [activity_from_v1(row) for row in decode_json(body, list[DataApiActivity], what="fuzzed /activity")]
    except PolyinfraError:
        return
    assert all(row.size is not None for row in rows)


@PER_PROPERTY
@given(hostile_bytes(_GAMMA_MARKET, _GAMMA_MARKET | {"clobTokenIds": ["123", "456"], "feeSchedule": None}))
def test_gamma_markets_join_or_fail_typed(body: bytes) -> None:
    try:
        market = decode_json(body, GammaMarket, what="fuzzed Gamma market")
        info = market_info_from_gamma(market)
        outcomes = gamma_outcomes(market)
    except PolyinfraError:
        return
    assert [token for _, token, _ in outcomes] == [token.token_id for token in info.tokens]


@PER_PROPERTY
@given(st.one_of(st.text(max_size=300), hostile_numbers(), invalid_utf8().map(lambda b: b.decode("latin-1"))))
def test_cursors_refuse_anything_they_did_not_issue(text: str) -> None:
    signer = CursorSigner(b"k" * 32)
    try:
        signer.read(text, route="/v2/activity", now_ms=0, ttl_s=0)
    except CursorRefusedError as refusal:
        assert refusal.code in {"INVALID_CURSOR", "CURSOR_EXPIRED"}
    else:
        raise AssertionError("a cursor this signer never issued was accepted")


@PER_PROPERTY
@given(st.lists(st.lists(st.integers(min_value=0, max_value=30), max_size=4), max_size=12))
def test_an_offset_walk_answers_complete_or_refuses(pages: list[list[int]]) -> None:
    walk = OffsetWalk("/activity", limit=4, max_offset=20)
    seen: list[int] = []
    last: list[int] = []
    try:
        for page in pages:
            if walk.done:
                break
            walk.accept(page)
            seen += page
            last = page
    except PaginationError:
        return
    assert len(seen) == len(set(seen)), "no row repeated in an answer"
    assert len(seen) <= 24, "never past the ceiling's last page"
    if walk.done:
        assert len(last) < 4, "only a short page ends a walk"


def _apis() -> tuple[DataApiV1, DataApiV2, str]:
    clock = iter(range(1_796_000_000_000, 1_796_000_000_000 + 10**9, 1_000))
    now = [next(clock)]
    exchange = Exchange(generate_markets(2, seed=1), clock_ms=lambda: now[0])
    simulator = MarketSimulator(exchange, seed=1)
    simulator.seed_books()
    ledger = WalletLedger(exchange, trader_address=lambda _owner: None, clock_ms=lambda: now[0])
    for _ in range(40):
        simulator.step()
        now[0] = next(clock)
    view = DataView(exchange, ledger, DataApiKnobs(), clock_ms=lambda: now[0])
    return DataApiV1(view), DataApiV2(view, CursorSigner()), ledger.wallets()[0]


_V1, _V2, _SOME_WALLET = _apis()
_ROUTES = {path: handler for _method, path, handler in (*_V1.routes(), *_V2.routes())}
_PARAMETERS = ("user", "market", "condition", "limit", "offset", "cursor", "start", "end", "type", "status")


def _values() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(_SOME_WALLET),
        st.text(max_size=40),
        hostile_numbers().map(lambda text: text[:2000]),
        st.lists(st.just("0x" + "ab" * 32), min_size=19, max_size=25).map(",".join),
    )


@PER_PROPERTY
@given(
    st.sampled_from(sorted(_ROUTES)),
    st.dictionaries(st.sampled_from(_PARAMETERS), _values(), max_size=5),
)
def test_the_emulator_data_routes_answer_hostile_queries_with_4xx(path: str, query: dict[str, Any]) -> None:
    request = make_mocked_request("GET", f"/data-api{path}?{urlencode(query)}")

    async def answer() -> web.StreamResponse:
        return await _ROUTES[path](request)

    response = asyncio.run(answer())
    assert isinstance(response, web.Response) and isinstance(response.body, bytes)
    assert response.status in (200, 400), response.status
    body = json.loads(response.body)
    if response.status == 400:
        assert isinstance(body["error"], str)


@PER_PROPERTY
@given(hostile_bytes(_V2_HOLDERS))
def test_v2_holders_convert_or_fail_typed(body: bytes) -> None:
    try:
        answer = decode_json(body, V2Page[V2TokenHolders], what="fuzzed /v2/holders")
        rows = holders_from_v2(answer.data, condition_id="0xAB")
    except PolyinfraError:
        return
    assert all(row.amount >= 0 and row.wallet == row.wallet.lower() and row.condition_id == "0xab" for row in rows)


@PER_PROPERTY
@given(hostile_bytes(_V1_HOLDERS))
def test_v1_holders_convert_or_fail_typed(body: bytes) -> None:
    try:
        rows = holders_from_v1(decode_json(body, list[DataApiTokenHolders], what="fuzzed /holders"), condition_id="0x1")
    except PolyinfraError:
        return
    assert all(row.amount >= 0 and row.pnl is None for row in rows)


@PER_PROPERTY
@given(hostile_bytes(_USER_PNL))
def test_user_pnl_series_converts_or_fails_typed(body: bytes) -> None:
    try:
        series = pnl_series_from_v2(decode_json(body, V2Page[V2PnlPoint], what="fuzzed /v2/user-pnl").data)
    except PolyinfraError:
        return
    assert [point.timestamp_s for point in series] == sorted(point.timestamp_s for point in series)


def test_the_documented_shapes_convert() -> None:
    answer = decode_json(json.dumps(_V2_HOLDERS).encode(), V2Page[V2TokenHolders], what="holders").data
    holders = holders_from_v2(answer, condition_id="0xAB")
    assert [(row.wallet, row.token_id, row.outcome_index, row.amount, row.pnl, row.name) for row in holders] == [
        ("0x" + "cd" * 20, "123", 1, Decimal("1520.5"), Decimal("-12.5"), "whale"),
        ("0x" + "cd" * 20, "456", 1, Decimal("1520.5"), None, "whale"),  # realized alone is not the P&L
    ]
    v1 = holders_from_v1(
        decode_json(json.dumps(_V1_HOLDERS).encode(), list[DataApiTokenHolders], what="holders"), condition_id="0x1"
    )
    assert [(row.outcome_index, row.amount) for row in v1] == [(0, Decimal(7))]  # its token's place in the answer
    series = pnl_series_from_v2(decode_json(json.dumps(_USER_PNL).encode(), V2Page[V2PnlPoint], what="user P&L").data)
    assert [(p.timestamp_s, p.realized_market, p.fees, p.rebates, p.referral) for p in series] == [
        (1_795_000_000, Decimal("12.25"), Decimal("-0.5"), None, Decimal(1)),
        (1_796_000_000, Decimal("12.25"), Decimal("-0.5"), None, None),
    ]
