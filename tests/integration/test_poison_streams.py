"""One hostile frame or answer never ends a stream: every class of poison, into every stream and REST
answer the clients read, over real sockets.

The emulator's poison knobs (``poison_rate`` for WebSocket data frames, ``poison_http_rate`` for the
answers to reading REST requests, ``poison_classes`` to choose the class) plant one hostile value in
a valid message: nesting 50,000 deep, a 5,000-digit number, ``1e999999``, a value of the wrong JSON
type, or bytes that are not UTF-8. Each test switches one class on while the client works, waits
until the client has counted poison as malformed, switches it off, and then waits for the client to
be whole again: every book LIVE and equal to ``POST /books``, or the user channel in sync and
delivering the next real order event from its socket, with no background task dead.

Nothing waits on wall-clock speed: each step waits for a state (a counter, a sync state) with a
generous bound, so a loaded machine is slower, never wrong.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable
from typing import Any

import pytest

from polyinfra.clob.live_books import LiveBooks
from polyinfra.clob.live_books_stats import LiveBooksStats
from polyinfra.clob.user_channel import UserChannel, UserChannelStats
from polyinfra.core.book_sync import SyncReason
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.poison import PoisonClass
from polyinfra.emulator.runner import Emulator
from polyinfra.model.numbers import Side
from polyinfra.model.trading_events import OrderUpdate, UserChannelEvent
from polyinfra.net.http import HttpTransport
from polyinfra.obs.metrics import REGISTRY
from tests.integration.book_comparison import CONVERGE_TIMEOUT_S, POLL_S, assert_ends_equal_to_rest
from tests.integration.conftest import EmulatorFactory
from tests.integration.trading_steps import empty_market, signed_order, trading_client

MARKETS = 15
"""30 tokens."""
TOKENS_PER_CONNECTION = 8
"""So that the tokens spread over 4 connections, each of which one poisoned frame used to end."""
SIMULATOR_RATE = 150.0
POISONED_FRAMES = 20
"""Poisoned frames a LiveBooks run waits for before switching the poison off."""
POISONED_ANSWERS = 10
"""Poisoned ``POST /books`` answers a LiveBooks run waits for in each stage (snapshots, then audits)."""
POISONED_ORDERS = 3
MALFORMED_ANSWERS = 3
"""Unusable reconciliation answers the user channel must have retried before the poison stops."""
MAX_LOG_LINE_CHARS = 4_000
"""A poisoned frame is up to 100 KB and a poisoned number 5,000 digits: no log line may carry one."""

# The audit is on because a poisoned id (a 5,000-digit asset id, say) makes a change about a token
# nobody has, which no client can tell from a real one: that book has lost a change, as with a
# dropped frame, and only the venue's REST book shows it.
FAST_CLIENT: dict[str, Any] = {
    "tokens_per_connection": TOKENS_PER_CONNECTION,
    "ping_interval_s": 0.25,
    "silence_timeout_s": 1.0,
    "probe_timeout_s": 0.5,
    "reconnect_initial_s": 0.05,
    "reconnect_max_s": 0.5,
    "audit_interval_s": 0.5,
}
FAST_USER_CHANNEL: dict[str, Any] = {"reconnect_initial_s": 0.05, "reconnect_max_s": 0.5}

CLASSES = list(PoisonClass)


async def _eventually(condition: Callable[[], bool], what: Callable[[], object]) -> None:
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting: {what()}"
        await asyncio.sleep(POLL_S)


def _assert_no_task_died(stats: LiveBooksStats | UserChannelStats) -> None:
    # Each poisoned message was handled in its own step: no session runner, worker or watchdog
    # needed the supervisor.
    assert not stats.task_failures, stats


def _assert_logs_bounded(lines: list[str]) -> None:
    longest = max(map(len, lines), default=0)
    assert longest <= MAX_LOG_LINE_CHARS, f"a log line of {longest} chars: {max(lines, key=len)[:300]}"


# --- LiveBooks ------------------------------------------------------------------------------------


Stage = tuple[dict[str, object], Callable[[Emulator], bool]]
"""Fault knobs to set, and when enough poison was sent under them."""


async def _poisoned_books(
    emulator_factory: EmulatorFactory, stages: list[Stage], *, from_start: bool
) -> LiveBooksStats:
    """Books of 30 tokens kept through poison, switched on once they are live (or ``from_start``,
    before their first snapshots) and off after the last stage; then they must be whole again.
    Returns the client's stats."""
    emulator = await emulator_factory(markets=MARKETS, seed=31, rate=SIMULATOR_RATE, faults=FaultConfig(seed=7))
    tokens = emulator.exchange.tokens()
    async with LiveBooks(emulator.urls["rest"], emulator.urls["ws_market"], **FAST_CLIENT) as books:
        if from_start:
            emulator.faults.update(stages[0][0])
        await books.subscribe(tokens)
        if not from_start:
            assert await books.wait_until_live(timeout_s=CONVERGE_TIMEOUT_S), books.states()
        for knobs, enough in stages:
            emulator.faults.update(knobs)
            await _eventually(functools.partial(enough, emulator), lambda: (emulator.stats, books.stats))
        emulator.faults.update(FaultConfig().as_dict())
        emulator.pause()
        await assert_ends_equal_to_rest(books, emulator, tokens)
        stats = books.stats
    assert stats.connected == stats.connections == math.ceil(len(tokens) / TOKENS_PER_CONNECTION), stats
    _assert_no_task_died(stats)
    return stats


@pytest.mark.parametrize("poison", CLASSES)
async def test_books_survive_poisoned_market_frames(
    emulator_factory: EmulatorFactory, poison: PoisonClass, gate_log_lines: list[str]
) -> None:
    stats = await _poisoned_books(
        emulator_factory,
        [
            (
                {"poison_rate": 0.05, "poison_classes": [poison]},
                lambda emulator: emulator.stats.market_channel.messages_poisoned >= POISONED_FRAMES,
            )
        ],
        from_start=False,
    )
    # A frame that does not decode is malformed; a number the core refuses (1e999999 as a price) is
    # an invalid value of a frame that decoded. Either way it was refused and its books resynced.
    assert stats.malformed_frames + stats.resyncs_by_reason.get(SyncReason.INVALID_VALUE, 0) > 0, stats
    _assert_logs_bounded(gate_log_lines)


@pytest.mark.parametrize("poison", CLASSES)
async def test_books_survive_poisoned_rest_answers(
    emulator_factory: EmulatorFactory, poison: PoisonClass, gate_log_lines: list[str]
) -> None:
    # Every answer poisoned from the start: no first snapshot can succeed, each is retried. Then
    # half of them, so that books go live and the audits (twice a second) read poison too.
    stats = await _poisoned_books(
        emulator_factory,
        [
            (
                {"poison_http_rate": 1.0, "poison_classes": [poison]},
                lambda emulator: emulator.stats.http.answers_poisoned >= POISONED_ANSWERS,
            ),
            (
                {"poison_http_rate": 0.5},
                lambda emulator: emulator.stats.http.answers_poisoned >= 2 * POISONED_ANSWERS,
            ),
        ],
        from_start=True,
    )
    # An answer that does not decode is malformed; a summary the core refuses (1e999999 as a price)
    # fails its token's snapshot, and an audit cannot judge with it. Each was refused and retried.
    assert stats.malformed_answers + stats.snapshot_failures + stats.audits_inconclusive > 0, stats
    _assert_logs_bounded(gate_log_lines)


# --- UserChannel ----------------------------------------------------------------------------------


class _Orders:
    """The order events a listener got."""

    def __init__(self) -> None:
        self.updates: list[OrderUpdate] = []

    def __call__(self, event: UserChannelEvent) -> None:
        if isinstance(event, OrderUpdate):
            self.updates.append(event)

    def from_socket(self, order_id: str) -> bool:
        return any(update.order_id == order_id and not update.reconciled for update in self.updates)


async def _next_order_arrives_from_the_socket(
    emulator: Emulator, channel: UserChannel, orders: _Orders, maker: Any, key: str, price: str
) -> None:
    market = next(info for info in emulator.exchange.markets.values() if info.condition_id in channel.markets)
    order = signed_order(key, market, Side.SELL, price, "5")
    await maker.post_order(order)
    await _eventually(lambda: orders.from_socket(order.order_hash), lambda: (orders.updates, channel.stats))


@pytest.mark.parametrize("poison", CLASSES)
async def test_user_channel_survives_poisoned_frames(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any, poison: PoisonClass, gate_log_lines: list[str]
) -> None:
    market = empty_market(emulator)
    key = known_secrets.private_key
    maker = await trading_client(transport, key)
    orders = _Orders()
    async with UserChannel(
        emulator.urls["ws_user"], maker, markets=[market.condition_id], **FAST_USER_CHANNEL
    ) as channel:
        channel.add_listener(orders)
        assert await channel.wait_in_sync(CONVERGE_TIMEOUT_S)
        emulator.faults.update({"poison_rate": 1.0, "poison_classes": [poison]})
        for index in range(POISONED_ORDERS):
            await maker.post_order(signed_order(key, market, Side.SELL, f"0.{70 + index}", "5"))
        await _eventually(
            lambda: emulator.stats.user_channel.messages_poisoned >= POISONED_ORDERS, lambda: emulator.stats
        )
        await _eventually(lambda: channel.stats.malformed_frames > 0, lambda: channel.stats)
        emulator.faults.update({"poison_rate": 0.0})
        assert await channel.wait_in_sync(CONVERGE_TIMEOUT_S)
        await _next_order_arrives_from_the_socket(emulator, channel, orders, maker, key, "0.80")
        stats = channel.stats
    assert stats.sessions == 1, f"the poison ended the session: {stats}"
    _assert_no_task_died(stats)
    _assert_logs_bounded(gate_log_lines)


@pytest.mark.parametrize("poison", CLASSES)
async def test_user_channel_survives_poisoned_rest_answers(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any, poison: PoisonClass, gate_log_lines: list[str]
) -> None:
    market = empty_market(emulator)
    key = known_secrets.private_key
    maker = await trading_client(transport, key)
    await maker.post_order(signed_order(key, market, Side.SELL, "0.70", "5"))
    orders = _Orders()
    # Every reading answer poisoned from the start: the first reconciliations fail and are retried.
    emulator.faults.update({"poison_http_rate": 1.0, "poison_classes": [poison]})
    async with UserChannel(
        emulator.urls["ws_user"], maker, markets=[market.condition_id], **FAST_USER_CHANNEL
    ) as channel:
        channel.add_listener(orders)
        await _eventually(lambda: channel.stats.malformed_answers >= MALFORMED_ANSWERS, lambda: channel.stats)
        emulator.faults.update({"poison_http_rate": 0.0})
        assert await channel.wait_in_sync(CONVERGE_TIMEOUT_S), channel.stats
        await _next_order_arrives_from_the_socket(emulator, channel, orders, maker, key, "0.80")
        stats = channel.stats
    assert emulator.stats.http.answers_poisoned >= MALFORMED_ANSWERS
    _assert_no_task_died(stats)
    _assert_logs_bounded(gate_log_lines)


# --- the supervisor -------------------------------------------------------------------------------


async def test_a_connection_task_that_dies_anyway_is_restarted(emulator_factory: EmulatorFactory) -> None:
    """A bug outside the per-frame step (here: the reader itself raising) ends a session runner;
    the supervisor notices, logs and counts it, and starts the connection again."""
    emulator = await emulator_factory(markets=2, seed=37, rate=SIMULATOR_RATE)
    tokens = emulator.exchange.tokens()
    exported = REGISTRY.get_sample_value("polyinfra_task_failures_total", {"task": "live-books connection"}) or 0.0
    async with LiveBooks(emulator.urls["rest"], emulator.urls["ws_market"], **FAST_CLIENT) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=CONVERGE_TIMEOUT_S), books.states()
        on_frame = books._on_frame
        crashes = 0

        def crash_once(*args: Any) -> None:
            nonlocal crashes
            if not crashes:
                crashes += 1
                raise RuntimeError("a bug in the reader")
            on_frame(*args)

        books._on_frame = crash_once  # type: ignore[method-assign]
        await _eventually(lambda: bool(books.stats.task_failures), lambda: books.stats)
        assert await books.wait_until_live(timeout_s=CONVERGE_TIMEOUT_S), books.states()
        emulator.pause()
        await assert_ends_equal_to_rest(books, emulator, tokens)
        stats = books.stats
    assert stats.task_failures == {"live-books connection": 1}, stats
    assert stats.reconnects >= 1, stats
    assert REGISTRY.get_sample_value("polyinfra_task_failures_total", {"task": "live-books connection"}) == exported + 1
