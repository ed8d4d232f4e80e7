"""The seeded market simulator: deterministic, busy, and safe to run for hours."""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec
import pytest

from polyinfra.core.matching import MatchKind, Order, SubmitResult, SubmitStatus
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.simulator import (
    MAX_ORDERS_PER_MARKET,
    MarketSimulator,
    generate_markets,
    generate_neg_risk_event,
)
from polyinfra.errors import InvalidValueError
from polyinfra.model.numbers import TickSize
from polyinfra.model.orders import TimeInForce
from polyinfra.wire.clob_ws import MarketEvent

T0_MS = 1_750_000_000_000


def counting_clock(step_ms: int = 113):
    now = T0_MS

    def clock_ms() -> int:
        nonlocal now
        now += step_ms
        return now

    return clock_ms


def recorded_run(*, market_seed: int, simulator_seed: int, steps: int) -> list[bytes]:
    """Every event batch of a fresh exchange, seeded and stepped, as JSON."""
    exchange = Exchange(generate_markets(3, seed=market_seed), clock_ms=counting_clock())
    batches: list[bytes] = []
    exchange.subscribe(lambda batch: batches.append(msgspec.json.encode(batch)))
    simulator = MarketSimulator(exchange, seed=simulator_seed)
    simulator.seed_books()
    for _ in range(steps):
        simulator.step()
    return batches


# --- markets -------------------------------------------------------------------------------------


def test_generated_markets_look_like_the_venues() -> None:
    markets = generate_markets(40, seed=5)

    assert len(markets) == 40
    for market in markets:
        assert re.fullmatch(r"0x[0-9a-f]{64}", market.condition_id)
        assert re.fullmatch(r"Will .+ by \w+ \d{1,2}, \d{4}\?", market.question)
        assert [token.outcome for token in market.tokens] == ["Yes", "No"]
        for token in market.tokens:
            assert re.fullmatch(r"[1-9]\d{75,76}", token.token_id)
            assert int(token.token_id) < 2**256
        assert market.min_order_size == 5
    assert {market.tick_size for market in markets} == {TickSize.TICK_0_01, TickSize.TICK_0_001}
    assert {market.neg_risk for market in markets} == {False, True}
    assert len({market.fee_schedule for market in markets}) > 1
    assert len({token.token_id for market in markets for token in market.tokens}) == 80


def test_generated_markets_come_from_the_seed() -> None:
    assert generate_markets(6, seed=1) == generate_markets(6, seed=1)
    assert generate_markets(6, seed=1) != generate_markets(6, seed=2)
    assert generate_markets(0, seed=1) == []
    with pytest.raises(InvalidValueError):
        generate_markets(-1, seed=1)


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_events() -> None:
    first = recorded_run(market_seed=3, simulator_seed=8, steps=3_000)
    assert len(first) > 2_000  # a killed FOK changes nothing and emits nothing
    assert first == recorded_run(market_seed=3, simulator_seed=8, steps=3_000)


def test_different_seed_different_events() -> None:
    assert recorded_run(market_seed=3, simulator_seed=8, steps=300) != recorded_run(
        market_seed=3, simulator_seed=9, steps=300
    )


# --- behaviour -----------------------------------------------------------------------------------


def test_seed_books_gives_every_token_a_two_sided_book_of_several_levels() -> None:
    exchange = Exchange(generate_markets(6, seed=4), clock_ms=counting_clock())
    MarketSimulator(exchange, seed=4).seed_books()
    for token in exchange.tokens():
        summary = exchange.book_summary(token)
        assert len(summary.bids) >= 3 and len(summary.asks) >= 3, token


def test_twenty_thousand_steps_stay_two_sided_bounded_and_busy() -> None:
    markets = generate_markets(4, seed=11)
    exchange = Exchange(markets, clock_ms=counting_clock())
    results: list[SubmitResult] = []
    place = exchange.place

    def recording_place(order: Order) -> SubmitResult:
        result = place(order)
        results.append(result)
        return result

    exchange.place = recording_place  # type: ignore[method-assign]
    simulator = MarketSimulator(exchange, seed=11)
    simulator.seed_books()
    most_resting = 0

    for _ in range(20_000):
        simulator.step()
        for market in markets:
            yes = market.tokens[0].token_id
            assert exchange.best_bid(yes) is not None and exchange.best_ask(yes) is not None
        most_resting = max(most_resting, len(exchange.open_orders()))

    assert most_resting <= len(markets) * MAX_ORDERS_PER_MARKET
    for token in exchange.tokens():
        book = exchange.levels(token)
        assert 1 <= len(book.bids) <= MAX_ORDERS_PER_MARKET and 1 <= len(book.asks) <= MAX_ORDERS_PER_MARKET
        assert exchange.last_trade(token) is not None
    fills = [fill for result in results for fill in result.fills]
    assert {fill.kind for fill in fills} == set(MatchKind)
    assert {result.order.time_in_force for result in results if result.fills} == {
        TimeInForce.GTC,
        TimeInForce.FOK,
        TimeInForce.FAK,
    }
    assert {result.status for result in results} >= {SubmitStatus.RESTING, SubmitStatus.FILLED, SubmitStatus.KILLED}
    assert any(result.order.owner == "sim-sweeper" and len(result.fills) > 2 for result in results)
    assert len(fills) > 2_000


def test_markets_listed_later_are_traded_and_resolved_ones_left_alone() -> None:
    first, second, late = generate_markets(3, seed=21)
    exchange = Exchange([first, second], clock_ms=counting_clock())
    simulator = MarketSimulator(exchange, seed=21)
    simulator.seed_books()
    exchange.resolve_market(second.condition_id, second.tokens[0].token_id)
    exchange.add_market(late)
    events: list[Sequence[MarketEvent]] = []
    exchange.subscribe(events.append)

    for _ in range(400):
        simulator.step()

    late_book = exchange.levels(late.tokens[0].token_id)
    assert late_book.bids and late_book.asks
    assert exchange.levels(second.tokens[0].token_id) == ([], [])
    touched = {event.market for batch in events for event in batch}
    assert second.condition_id not in touched


def test_step_without_open_markets_does_nothing() -> None:
    (market,) = generate_markets(1, seed=1)
    exchange = Exchange([market], clock_ms=counting_clock())
    exchange.resolve_market(market.condition_id, market.tokens[1].token_id)
    simulator = MarketSimulator(exchange, seed=1)
    simulator.seed_books()
    simulator.step()
    assert exchange.open_orders() == []


def test_neg_risk_event_is_deterministic_and_bounded() -> None:
    event = generate_neg_risk_event(4, seed=9)
    assert event == generate_neg_risk_event(4, seed=9)
    assert len(event.questions) == 4 and all(info.neg_risk for info in event.questions)
    assert len({info.condition_id for info in event.questions}) == 4
    for count in (0, 1, 7):
        with pytest.raises(InvalidValueError):
            generate_neg_risk_event(count, seed=9)
