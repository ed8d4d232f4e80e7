"""The async wallet watch over the scripted ground truth, on a simulated clock: restarts against a
SQLite store deliver every row exactly once; the live fast path is delivered first and its Data API
twin never; a slow consumer holds the fetching back instead of losing rows; wallets come and go."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import msgspec
import pytest

from polyinfra.core.wallet_watch_state import Continuity, LossEvent, LossReason
from polyinfra.errors import CorruptRecordError, SinkWriteError, WrongContextError
from polyinfra.model.wallet_activity import FillSource, WalletActivity
from polyinfra.obs.metrics import REGISTRY
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.wallets.watch import WalletWatch
from polyinfra.wallets.watch_store import WalletWatchStore
from tests.wallet_world import (
    T0,
    WATCH_SETTINGS,
    ScriptedActivity,
    SimulatedTime,
    budget_kept,
    check_exactly_once,
    consume,
    live_of,
    make_truth,
    run_watch,
    wallet_address,
)


async def test_restarts_with_a_sqlite_store_deliver_every_row_exactly_once(tmp_path: Path) -> None:
    truth = make_truth(20, 3_000, seed=11, busy_share=0.3)
    time = SimulatedTime(T0)
    source = ScriptedActivity(truth, clock=time.clock, outages=[(T0 + 1_500, T0 + 1_700)])
    sink = SQLiteSink(tmp_path / "watch.db")
    events: list[WalletActivity | LossEvent] = []
    try:
        for until in (T0 + 800, T0 + 1_900, T0 + 3_000):
            watch = await run_watch(source, truth, time, until, store=sink, events=events)
            time.now_s += 30  # the process restarts
        stats = watch.stats()
        stored = [record async for record in sink.read(kinds=(RecordKind.WALLET_FILL,))]
        progress = (await WalletWatchStore(sink).load(dedupe_window_s=0, default_since_s=T0)).progress
    finally:
        await sink.close()
    fills = [event for event in events if isinstance(event, WalletActivity)]
    assert not [event for event in events if isinstance(event, LossEvent)]
    # The stored watermarks: what the consumer was handed (the last run's queue held more when it stopped).
    watermarks = {wallet: stored_progress.watermark_s for wallet, stored_progress in progress.items()}
    assert check_exactly_once(truth, fills, [], watermarks=watermarks) == len(fills) > 300
    assert min(watermarks.values()) > T0 + 2_700
    assert len(stored) == len(fills)  # every delivered row is in the store, once
    assert budget_kept(source.calls, WATCH_SETTINGS.capacity, WATCH_SETTINGS.budget_window_s)
    assert {wallet.continuity for wallet in stats.wallets} == {Continuity.RUNNING}
    assert stats.requests_in_window <= stats.budget_per_window


async def _live_rows(rows: list[WalletActivity]) -> AsyncIterator[object]:
    yield "not an activity row"  # other live events are ignored
    for row in rows:
        yield live_of(row, sent_ms=row.timestamp_s * 1_000)


def _fills_counted(source: FillSource) -> float:
    return REGISTRY.get_sample_value("polyinfra_wallet_watch_fills_total", {"source": source.value}) or 0.0


async def test_live_rows_come_first_and_their_data_api_twins_never(tmp_path: Path) -> None:
    truth = make_truth(3, 600, seed=5, busy_share=1.0)
    wallet = next(iter(truth))
    pushed = [row for row in truth[wallet] if row.timestamp_s < T0 + 300]
    time = SimulatedTime(T0 + 300)
    source = ScriptedActivity(truth, clock=time.clock)
    events: list[WalletActivity | LossEvent] = []
    sink = SQLiteSink(tmp_path / "watch.db")
    counted_before = {source: _fills_counted(source) for source in FillSource}
    try:
        await run_watch(source, truth, time, T0 + 600, store=sink, events=events, live=_live_rows(pushed))
        # A restart: what was delivered (live or not) is not delivered again.
        again: list[WalletActivity | LossEvent] = []
        await run_watch(source, truth, time, T0 + 700, store=sink, events=again, live=_live_rows(pushed))
    finally:
        await sink.close()
    fills = [event for event in events if isinstance(event, WalletActivity)]
    live = [row for row in fills if row.source is FillSource.LIVE]
    assert len(live) == len(pushed) > 10
    again_fills = [event for event in again if isinstance(event, WalletActivity)]
    counted = {source: _fills_counted(source) - counted_before[source] for source in FillSource}
    assert counted == {
        FillSource.LIVE: len(live),
        FillSource.DATA_API: len(fills) + len(again_fills) - len(live),
    }
    assert [row.transaction_hash for row in fills[: len(pushed)]] == [row.transaction_hash for row in pushed]
    stats_end = {row.wallet: T0 + 600 - 20 for row in fills}
    check_exactly_once(truth, fills, [], watermarks=stats_end)
    assert not [event for event in again if isinstance(event, WalletActivity) and event.timestamp_s < T0 + 550]


async def test_a_slow_consumer_holds_fetching_back_and_loses_nothing() -> None:
    truth = make_truth(5, 1_000, seed=2, busy_share=1.0)
    time = SimulatedTime(T0 + 1_000, T0 + 1_200)  # a backlog: every row is already there
    source = ScriptedActivity(truth, clock=time.clock)
    events: list[WalletActivity | LossEvent] = []
    watch = WalletWatch(
        source, truth, settings=WATCH_SETTINGS, since_s=T0, clock=time.clock, sleep=time.sleep, queue_size=4
    )
    async with watch:
        await consume(watch, time, events, slow=True)
    fills = [event for event in events if isinstance(event, WalletActivity)]
    check_exactly_once(truth, fills, [], watermarks={wallet: T0 + 1_000 - 10 for wallet in truth})
    assert len(fills) > 400


async def test_live_rows_finding_the_queue_full_are_counted_and_delivered_by_the_data_api() -> None:
    truth = make_truth(1, 400, seed=9, busy_share=1.0)
    wallet = next(iter(truth))
    time = SimulatedTime(T0 + 400, T0 + 600)
    source = ScriptedActivity(truth, clock=time.clock)
    events: list[WalletActivity | LossEvent] = []
    watch = WalletWatch(
        source,
        truth,
        settings=WATCH_SETTINGS,
        since_s=T0,
        live=_live_rows(truth[wallet]),
        clock=time.clock,
        sleep=time.sleep,
        queue_size=2,
    )
    async with watch:
        await consume(watch, time, events)
        overflow = watch.stats().live_overflow
    fills = [event for event in events if isinstance(event, WalletActivity)]
    assert overflow > 0
    assert {row.source for row in fills} == {FillSource.LIVE, FillSource.DATA_API}
    check_exactly_once(truth, fills, [], watermarks={wallet: T0 + 390})


async def test_wallets_added_and_removed_while_running() -> None:
    truth = make_truth(3, 1_000, seed=4, busy_share=1.0)
    first, second, third = truth
    time = SimulatedTime(T0 + 100, T0 + 300)
    source = ScriptedActivity(truth, clock=time.clock)
    events: list[WalletActivity | LossEvent] = []
    watch = WalletWatch(
        source, [first, second], settings=WATCH_SETTINGS, since_s=T0, clock=time.clock, sleep=time.sleep
    )
    async with watch:
        await consume(watch, time, events)
        watch.remove(second)
        watch.add(third, since_s=T0 + 300)
        time.until_s = T0 + 900
        await consume(watch, time, events)
        stats = {wallet.wallet: wallet for wallet in watch.stats().wallets}
    assert set(stats) == {first, third}
    seen = {(event.wallet, event.timestamp_s) for event in events if isinstance(event, WalletActivity)}
    assert any(wallet == third and ts >= T0 + 300 for wallet, ts in seen)
    assert not any(wallet == third and ts < T0 + 300 for wallet, ts in seen)
    assert not any(wallet == second and ts > T0 + 400 for wallet, ts in seen)
    assert stats[first].fills > 0 and stats[first].last_fill_s is not None


async def test_a_source_that_raises_something_else_only_degrades_its_wallet() -> None:
    truth = make_truth(2, 300, seed=1, busy_share=1.0)
    broken, healthy = truth
    time = SimulatedTime(T0 + 300, T0 + 400)
    scripted = ScriptedActivity(truth, clock=time.clock)

    class Faulty:
        async def activity_page(self, wallet: str, *, start_s: int, cursor: str | None = None, limit: int = 500):  # type: ignore[no-untyped-def]
            if wallet == broken:
                raise KeyError("a bug in the source")
            return scripted.page(wallet, start_s=start_s, cursor=cursor, limit=limit)

    events: list[WalletActivity | LossEvent] = []
    watch = WalletWatch(Faulty(), truth, settings=WATCH_SETTINGS, since_s=T0, clock=time.clock, sleep=time.sleep)
    async with watch:
        await consume(watch, time, events)
        stats = {wallet.wallet: wallet for wallet in watch.stats().wallets}
    assert stats[broken].continuity is Continuity.DEGRADED
    assert {event.wallet for event in events} == {healthy}


async def test_a_stored_record_that_does_not_decode_is_a_typed_error(tmp_path: Path) -> None:
    sink = SQLiteSink(tmp_path / "watch.db")
    try:
        store = WalletWatchStore(sink)
        truth = make_truth(1, 100, seed=1, busy_share=1.0)
        row = next(iter(truth.values()))[0]
        await store.commit([row], [], [], now_s=T0)
        # Another writer's record with the same kind but a payload that is not a row.
        record = store._fill(row)
        await sink.write([msgspec.structs.replace(record, event_id=record.event_id + "x", payload=b"\xc1")])
        with pytest.raises(CorruptRecordError):
            await WalletWatchStore(sink).load(dedupe_window_s=60, default_since_s=T0)
    finally:
        await sink.close()


class _DiskFullAfter(SQLiteSink):
    """Stores ``writes`` batches, then refuses every write: the process that had it is as good as dead."""

    def __init__(self, path: Path, writes: int) -> None:
        super().__init__(path)
        self.writes = writes

    async def write(self, records: Sequence[Record]) -> None:
        if not self.writes:
            raise SinkWriteError("no space left on the device")
        self.writes -= 1
        await super().write(records)


async def test_a_store_failure_stops_the_stream_and_a_restart_repeats_only_what_was_not_stored(
    tmp_path: Path,
) -> None:
    truth = make_truth(6, 1_200, seed=17, busy_share=1.0)
    time = SimulatedTime(T0 + 600)  # a backlog, delivered in several commits
    source = ScriptedActivity(truth, clock=time.clock)
    first_run: list[WalletActivity | LossEvent] = []
    failing = _DiskFullAfter(tmp_path / "watch.db", writes=3)
    watch = WalletWatch(
        source, truth, store=failing, settings=WATCH_SETTINGS, since_s=T0, clock=time.clock, sleep=time.sleep,
        commit_every=16,
    )  # fmt: skip
    with pytest.raises(SinkWriteError):
        async with watch:
            async for event in watch:
                first_run.append(event)
    await failing.close()
    sink = SQLiteSink(tmp_path / "watch.db")
    second_run: list[WalletActivity | LossEvent] = []
    try:
        state = await WalletWatchStore(sink).load(dedupe_window_s=10**6, default_since_s=T0)
        stored = {identity for identities in state.delivered.values() for identity in identities}
        # The first run's scheduler kept moving simulated time while its consumer waited on the failing
        # store, as far as the machine's speed let it: the restart runs on from wherever that left it.
        await run_watch(source, truth, time, max(T0 + 1_200, time.now_s + 300), store=sink, events=second_run)
        progress = (await WalletWatchStore(sink).load(dedupe_window_s=0, default_since_s=T0)).progress
    finally:
        await sink.close()
    first = [event for event in first_run if isinstance(event, WalletActivity)]
    second = [event for event in second_run if isinstance(event, WalletActivity)]
    assert 0 < len(stored) < len(first)
    repeated = {row.key for row in first} & {row.key for row in second}
    # Only rows handed out after the last stored batch come again; none that was stored.
    assert repeated and not repeated & stored
    assert repeated == {row.key for row in first} - stored
    kept = [row for row in first if row.key in stored] + second
    watermarks = {wallet: wallet_progress.watermark_s for wallet, wallet_progress in progress.items()}
    check_exactly_once(truth, kept, [], watermarks=watermarks)
    assert min(watermarks.values()) > T0 + 1_000


async def test_the_watch_runs_only_inside_async_with_and_only_once() -> None:
    source = ScriptedActivity({}, clock=lambda: T0)
    watch = WalletWatch(source, [wallet_address(1)], clock=lambda: T0)
    with pytest.raises(WrongContextError):
        await anext(watch)
    async with watch:
        pass
    with pytest.raises(WrongContextError):
        async with watch:
            pass


async def test_200_wallets_through_restarts_and_an_outage_longer_than_the_history(tmp_path: Path) -> None:
    truth = make_truth(200, 1_500, seed=23)
    time = SimulatedTime(T0)
    # The outage outlasts the 5 minutes of history the source keeps: those spans become loss events.
    source = ScriptedActivity(truth, clock=time.clock, outages=[(T0 + 600, T0 + 1_000)], retention_s=300)
    settings = dataclasses.replace(
        WATCH_SETTINGS, budget_rps=5.0, horizon_s=300, page_limit=50, min_interval_s=20.0, max_interval_s=300.0
    )
    sink = SQLiteSink(tmp_path / "watch.db")
    events: list[WalletActivity | LossEvent] = []
    try:
        for until in (T0 + 500, T0 + 1_150, T0 + 1_500):
            watch = WalletWatch(
                source, truth, store=sink, settings=settings, since_s=T0, clock=time.clock, sleep=time.sleep
            )
            time.until_s = until
            async with watch:
                await consume(watch, time, events)
            time.now_s += settings.budget_window_s  # the restart
        progress = (await WalletWatchStore(sink).load(dedupe_window_s=0, default_since_s=T0)).progress
    finally:
        await sink.close()
    fills = [event for event in events if isinstance(event, WalletActivity)]
    losses = [event for event in events if isinstance(event, LossEvent)]
    watermarks = {wallet: stored.watermark_s for wallet, stored in progress.items()}
    assert check_exactly_once(truth, fills, losses, watermarks=watermarks) > 500
    # Spans lost in the outage, or found lost by a restart when the outage had hidden them: one event
    # per wallet whichever it was, never one per retry.
    assert {loss.reason for loss in losses} <= {LossReason.HORIZON_EXPIRED, LossReason.RESTART_BEYOND_HORIZON}
    assert len({loss.wallet for loss in losses}) == len(losses) == 200
    assert budget_kept(source.calls, settings.capacity, settings.budget_window_s)


class _SlowWrites(SQLiteSink):
    """A store whose writes wait for ``gate``, counting how many run at once, and go on when their caller is
    cancelled, as a write in a thread does."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.started = asyncio.Event()
        self.running = 0
        self.most_at_once = 0

    async def write(self, records: Sequence[Record]) -> None:
        # Shielded as SQLiteSink's own thread is: cancelling the caller does not stop a write under way.
        await asyncio.shield(self._gated(records))

    async def _gated(self, records: Sequence[Record]) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.started.set()
        try:
            await self.gate.wait()
            await super().write(records)
        finally:
            self.running -= 1


async def test_a_consumer_cancelled_during_a_store_write_never_overlaps_it_with_the_next(tmp_path: Path) -> None:
    truth = make_truth(3, 300, seed=5, busy_share=1.0)
    time = SimulatedTime(T0 + 300)
    slow = _SlowWrites(tmp_path / "watch.db")
    watch = WalletWatch(
        ScriptedActivity(truth, clock=time.clock), truth, store=slow, settings=WATCH_SETTINGS, since_s=T0,
        clock=time.clock, sleep=time.sleep, commit_every=8,
    )  # fmt: skip
    handed: list[WalletActivity | LossEvent] = []

    async def take() -> None:
        async for event in watch:
            handed.append(event)

    async with watch:
        taker = asyncio.create_task(take())
        await slow.started.wait()  # the consumer is inside a commit, its write held at the gate
        taker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await taker
        slow.gate.set()  # the held write goes on; the exit's commit must wait for it, not run beside it
    stored = await WalletWatchStore(slow).load(dedupe_window_s=10**6, default_since_s=T0)
    await slow.close()
    assert slow.most_at_once == 1
    rows = [event for event in handed if isinstance(event, WalletActivity)]
    assert rows and {row.key for row in rows} <= {key for keys in stored.delivered.values() for key in keys}
