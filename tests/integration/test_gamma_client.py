"""The Gamma client against the emulator's Gamma API over real sockets: markets joined into
MarketInfo, events with tags and series, keyset paging, search, comments, refusals, rate limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from polyinfra.core.venue_rate_limits import GAMMA_LIMITS
from polyinfra.data.gamma import GammaClient
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import CursorRejectedError, HttpClientError, InvalidValueError, NotFoundError


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=6, seed=4, rate=0, faults=FaultConfig(rate_limits=RateLimitMode.OFF)) as running:
        for _ in range(40):
            running.simulator.step()
        yield running


@pytest.fixture
async def gamma(emulator: Emulator) -> AsyncIterator[GammaClient]:
    async with GammaClient(emulator.urls["gamma"]) as client:
        yield client


async def test_a_gamma_market_joins_into_the_clob_market_info(emulator: Emulator, gamma: GammaClient) -> None:
    listed = await gamma.markets(limit=100)
    assert [market.condition_id for market in listed] == list(emulator.exchange.markets)
    for market in listed:
        assert market.id is not None
        info = await gamma.market_info(str(market.id))
        expected = emulator.exchange.markets[info.condition_id]
        assert info.tokens == expected.tokens
        assert (info.tick_size, info.min_order_size, info.neg_risk) == (
            expected.tick_size,
            expected.min_order_size,
            expected.neg_risk,
        )
        assert info.fee_schedule == expected.fee_schedule
    by_slug = await gamma.market_by_slug(str(listed[0].slug))
    assert by_slug.condition_id == listed[0].condition_id


async def test_events_group_markets_with_tags_and_series(emulator: Emulator, gamma: GammaClient) -> None:
    events = await gamma.events(limit=100)
    grouped = [str(market.condition_id) for event in events for market in event.markets or ()]
    assert sorted(grouped) == sorted(emulator.exchange.markets)
    assert all(event.tags and event.series for event in events)
    tag_ids = {tag.id for tag in await gamma.tags()}
    assert {tag.id for event in events for tag in event.tags or ()} <= tag_ids
    series = await gamma.series(limit=100)
    assert sorted(str(e.id) for s in series for e in s.events or ()) == sorted(str(e.id) for e in events)
    first = await gamma.event(str(events[0].id))
    assert first.title == events[0].title
    tagged = await gamma.events(tag_id=str((events[0].tags or [])[0].id))
    assert events[0].id in {event.id for event in tagged}


async def test_keyset_walk_and_offset_refusals(emulator: Emulator, gamma: GammaClient) -> None:
    everything = await gamma.all_markets()
    assert [market.condition_id for market in everything] == list(emulator.exchange.markets)
    with pytest.raises(HttpClientError) as too_far:
        await gamma.markets(offset=2_001)
    assert "keyset" in str(too_far.value)
    with pytest.raises(CursorRejectedError):
        await gamma.transport.request("GET", "/markets/keyset", params={"after_cursor": "not-a-cursor"})
    with pytest.raises(NotFoundError):
        await gamma.market("999999")


async def test_resolved_markets_are_closed_with_their_prices(emulator: Emulator, gamma: GammaClient) -> None:
    info = next(iter(emulator.exchange.markets.values()))
    emulator.exchange.resolve_market(info.condition_id, info.tokens[1].token_id)
    assert info.condition_id not in {m.condition_id for m in await gamma.markets(limit=100)}
    closed = await gamma.markets(closed=True)
    assert [m.condition_id for m in closed] == [info.condition_id]
    assert closed[0].outcome_prices == '["0", "1"]' and closed[0].accepting_orders is False


async def test_search_and_comments(emulator: Emulator, gamma: GammaClient) -> None:
    info = next(iter(emulator.exchange.markets.values()))
    word = info.question.split()[1]
    found = await gamma.search(word.upper())
    assert found.events and any(
        market.condition_id == info.condition_id for event in found.events for market in event.markets or ()
    )
    profiles = await gamma.search("sim-maker")
    assert profiles.profiles and all(p is not None and "sim-maker" in str(p["name"]) for p in profiles.profiles)
    posted = emulator.rtds_sources.post_comment("hello", parent_entity_id=7, user_address="0x" + "12" * 20)
    comments = await gamma.comments(parent_entity_type="Event", parent_entity_id=7)
    assert [comment.id for comment in comments] == [posted.id]
    with pytest.raises(InvalidValueError):
        await gamma.comments(parent_entity_type="market", parent_entity_id=7)
    with pytest.raises(HttpClientError):
        await gamma.transport.request("GET", "/comments", params={"parent_entity_type": "market"})


async def test_gamma_requests_stay_inside_its_windows() -> None:
    scale = 0.02  # /markets: 6 per 10 s at the venue, 4 with the client's margin
    faults = FaultConfig(rate_limits=RateLimitMode.OFF, rate_limit_scale=scale)
    async with Emulator(markets=2, seed=3, rate=0, faults=faults) as emulator:
        async with GammaClient(emulator.urls["gamma"], rate_limits=GAMMA_LIMITS.scaled(scale)) as gamma:
            for _ in range(4):
                await gamma.markets()
            await gamma.events()
            await gamma.search("will")
        report = emulator.data_apis.stats()["gamma"]
        assert report["over_limit"] == 0  # type: ignore[index]
        markets = report["scopes"]["gamma_markets"]  # type: ignore[index]
        assert markets["requests"] == 4 and markets["windows"][0]["peak"] <= markets["windows"][0]["limit"]
