"""Chaos over real sockets: ``LiveBooks`` against an emulator that drops connections, freezes
silently, duplicates, reorders, drops and corrupts frames while its simulator trades.

Each run has the same shape: the client goes live, the faults are switched on at run time while
the simulator trades, then every knob is reset, the simulator trades a little longer without
faults and is paused; from then on every local book must end equal to ``POST /books`` (levels and
tick size) with every token LIVE. The clean trading is there because the emulator holds a
reordered frame back until the next data frame and sends it after that one: paused at once, it
would keep a stale delta for whatever frame comes next, and the books would be judged before the
last delta arrived. The audit (``audit_interval_s``) is what repairs a delta lost or applied out
of order without anything the socket says later contradicting it.

Timing is asserted only as a generous upper bound (a silent freeze is detected within the
watchdog's time plus slack); everything else is counters, states and book contents.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from polyinfra.clob.live_books import LiveBooks
from polyinfra.core.book_sync import SyncReason
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.runner import Emulator
from polyinfra.model.events import BookEvent, SyncState, SyncStateChanged
from tests.integration.book_comparison import (
    CONVERGE_TIMEOUT_S,
    POLL_S,
    assert_ends_equal_to_rest,
)
from tests.integration.conftest import EmulatorFactory

MARKETS = 3
SIMULATOR_RATE = 150.0
FAULTS_ON_S = 2.5
CLEAN_TRADING_S = 0.5
SILENCE_TIMEOUT_S = 1.0
PROBE_TIMEOUT_S = 0.5
WATCHDOG_S = SILENCE_TIMEOUT_S + PROBE_TIMEOUT_S
"""Silence, then an unanswered probe: how long a frozen socket takes to be declared dead (on a quiet
machine: a loaded one runs the watchdog late, so the tests only bound it from below)."""

# Small timers so that a run takes seconds (the defaults are 10 s pings, 15 s of silence plus a 5 s
# probe, and a 1-30 s backoff), and an audit twice a second to repair what nothing contradicts.
FAST_CLIENT: dict[str, Any] = {
    "ping_interval_s": 0.25,
    "silence_timeout_s": SILENCE_TIMEOUT_S,
    "probe_timeout_s": PROBE_TIMEOUT_S,
    "reconnect_initial_s": 0.05,
    "reconnect_max_s": 0.5,
    "audit_interval_s": 0.5,
}


async def _stop_faults_then_pause(emulator: Emulator) -> None:
    """Reset every knob, let the simulator trade without faults for a moment (which sends a frame
    held back for reordering), then pause it."""
    emulator.faults.update(FaultConfig().as_dict())
    await asyncio.sleep(CLEAN_TRADING_S)
    emulator.pause()


async def _eventually(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_S)
    return True


class StateRecorder:
    """Every sync-state change the client reports to its listener, in order."""

    def __init__(self) -> None:
        self.changes: list[SyncStateChanged] = []

    def __call__(self, event: BookEvent) -> None:
        if isinstance(event, SyncStateChanged):
            self.changes.append(event)

    def first_change_to(self, token: str, state: SyncState, *, after_ns: int) -> SyncStateChanged | None:
        return next(
            (
                change
                for change in self.changes
                if change.token_id == token and change.new is state and change.received_ns >= after_ns
            ),
            None,
        )


# --- each fault alone, then all together ---------------------------------------------------------

SINGLE_FAULTS: dict[str, tuple[dict[str, object], str]] = {
    # name: (knobs, the emulator's counter that proves the fault happened)
    "connection dropped every 100 frames": ({"drop_every_messages": 100}, "connections_dropped_by_fault"),
    "duplicated frames": ({"duplicate_rate": 0.2}, "messages_duplicated"),
    "reordered frames": ({"reorder_rate": 0.1}, "messages_reordered"),
    "dropped frames": ({"drop_rate": 0.05}, "messages_dropped"),
    "malformed frames": ({"malformed_rate": 0.05}, "messages_malformed"),
}


@pytest.mark.parametrize("fault", list(SINGLE_FAULTS))
async def test_books_end_equal_to_rest_after_a_fault(emulator_factory: EmulatorFactory, fault: str) -> None:
    knobs, injected_counter = SINGLE_FAULTS[fault]
    emulator = await emulator_factory(markets=MARKETS, seed=17, rate=SIMULATOR_RATE, faults=FaultConfig(seed=3))
    tokens = emulator.exchange.tokens()
    async with LiveBooks(emulator.urls["rest"], emulator.urls["ws_market"], **FAST_CLIENT) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=CONVERGE_TIMEOUT_S), books.states()
        emulator.faults.update(knobs)
        await asyncio.sleep(FAULTS_ON_S)
        # However slowly the machine ran meanwhile, the fault happened amid enough traffic.
        assert await _eventually(
            lambda: getattr(emulator.stats.market_channel, injected_counter) > 0 and books.stats.frames > 100,
            CONVERGE_TIMEOUT_S,
        ), (emulator.stats.market_channel, books.stats)
        await _stop_faults_then_pause(emulator)
        await assert_ends_equal_to_rest(books, emulator, tokens)
        stats = books.stats

    channel = emulator.stats.market_channel
    injected = getattr(channel, injected_counter)
    assert injected > 0, f"the fault never happened: {channel}"
    assert stats.frames > 100, f"too little traffic to prove anything: {stats}"
    if fault == "connection dropped every 100 frames":
        # Every cut session was replaced and its books re-snapshotted.
        assert stats.reconnects >= injected, stats
        assert stats.resyncs_by_reason.get(SyncReason.RECONNECT, 0) > 0, stats
    elif fault == "duplicated frames":
        # A level change carries the level's new size, a snapshot the whole book: applying either
        # twice leaves the book right, so no hash and no audit may disagree. A repeated
        # price_change is recognised and skipped (its per-entry best prices describe the book
        # part-way through the message and would raise false alarms), so nothing is resynced.
        assert stats.duplicate_frames > 0, stats
        assert stats.hash_mismatches == stats.audit_mismatches == 0, stats
        assert not stats.resyncs_by_reason, stats
    elif fault == "malformed frames":
        # Every corrupt frame was recognised as such (none half-applied), and re-snapshotted.
        assert stats.malformed_frames == injected, (stats, channel)
        assert stats.resyncs_by_reason.get(SyncReason.MALFORMED_FRAME, 0) > 0, stats
    else:
        assert stats.resyncs > 0, f"{injected} frames {fault}, none noticed: {stats}"


async def test_books_end_equal_to_rest_after_all_faults_at_once(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=MARKETS, seed=23, rate=SIMULATOR_RATE, faults=FaultConfig(seed=5))
    tokens = emulator.exchange.tokens()
    async with LiveBooks(emulator.urls["rest"], emulator.urls["ws_market"], **FAST_CLIENT) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=CONVERGE_TIMEOUT_S), books.states()
        emulator.faults.update(
            {
                "drop_every_messages": 150,
                "duplicate_rate": 0.1,
                "reorder_rate": 0.1,
                "drop_rate": 0.03,
                "malformed_rate": 0.02,
            }
        )
        await asyncio.sleep(FAULTS_ON_S / 2)
        # A silent freeze in the middle of it all, until the watchdog notices.
        emulator.faults.freeze = True
        assert await _eventually(lambda: books.stats.silences_detected > 0, CONVERGE_TIMEOUT_S), books.stats
        emulator.faults.freeze = False
        await asyncio.sleep(FAULTS_ON_S / 2)
        channel = emulator.stats.market_channel
        assert await _eventually(
            lambda: (
                min(
                    channel.connections_dropped_by_fault,
                    channel.messages_dropped,
                    channel.messages_reordered,
                    channel.messages_malformed,
                    books.stats.malformed_frames,
                )
                > 0
            ),
            CONVERGE_TIMEOUT_S,
        ), (channel, books.stats)
        await _stop_faults_then_pause(emulator)
        await assert_ends_equal_to_rest(books, emulator, tokens)
        stats = books.stats

    channel = emulator.stats.market_channel
    assert channel.connections_dropped_by_fault > 0 and channel.messages_frozen > 0, channel
    assert channel.messages_dropped > 0 and channel.messages_reordered > 0 and channel.messages_malformed > 0, channel
    assert stats.reconnects > 0 and stats.malformed_frames > 0 and stats.resyncs > 0, stats


# --- the silent freeze ---------------------------------------------------------------------------


@pytest.mark.parametrize("answers_ping", [True, False], ids=["PING answered", "PING unanswered"])
async def test_silent_freeze_is_detected_then_books_recover(
    emulator_factory: EmulatorFactory, answers_ping: bool
) -> None:
    """The venue's known failure (venue notes: Failure modes): the socket stays open, PING still gets PONG, and
    no data comes for hours; or, as a plainly dead socket, not even PONG."""
    emulator = await emulator_factory(markets=2, seed=29, rate=SIMULATOR_RATE)
    tokens = emulator.exchange.tokens()
    recorder = StateRecorder()
    # No audit: the watchdog alone must notice, and the reconnect alone repair.
    async with LiveBooks(
        emulator.urls["rest"], emulator.urls["ws_market"], **(FAST_CLIENT | {"audit_interval_s": None})
    ) as books:
        books.add_listener(recorder)
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=CONVERGE_TIMEOUT_S), books.states()
        # Longer than the watchdog's time with data flowing: no false alarm.
        await asyncio.sleep(2 * WATCHDOG_S)
        assert books.stats.silences_detected == 0, books.stats

        emulator.faults.update({"freeze": True, "freeze_answers_ping": answers_ping})
        frozen_at_ns = time.time_ns()
        assert await _eventually(
            lambda: all(recorder.first_change_to(token, SyncState.STALE, after_ns=frozen_at_ns) for token in tokens),
            CONVERGE_TIMEOUT_S,
        ), f"not every token went stale: {books.states()}, {books.stats}"
        silent = books.stats
        assert emulator.stats.market_channel.messages_frozen > 0

        emulator.faults.freeze = False
        assert await books.wait_until_live(timeout_s=CONVERGE_TIMEOUT_S), books.states()
        emulator.pause()
        await assert_ends_equal_to_rest(books, emulator, tokens)

    assert silent.silences_detected >= 1, silent
    # The silence the client measured when it gave up on the socket: never before the timeout (a
    # quiet market is not a dead socket). How soon after is the watchdog's timing, unit-tested with
    # injected times (test_book_sync.py): a busy machine's late timers cannot show it here.
    assert silent.max_silence_detection_ms >= SILENCE_TIMEOUT_S * 1000, silent
    for token in tokens:
        stale = recorder.first_change_to(token, SyncState.STALE, after_ns=frozen_at_ns)
        assert stale is not None and stale.reason == SyncReason.SILENCE, stale
        assert recorder.first_change_to(token, SyncState.LIVE, after_ns=stale.received_ns), (
            f"{token} never went LIVE again after {stale}"
        )
