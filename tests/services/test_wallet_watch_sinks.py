"""The wallet watch's state in the server sinks: in PostgreSQL (127.0.0.1:5432, a fresh schema)
restarts deliver every row exactly once, and a batch committed twice (a crash between storing and
knowing it was stored) is stored once, because a fill's event id and receive time are both its own;
NATS JetStream (127.0.0.1:4222, a stream of the test's own) restores the same state from it."""

from __future__ import annotations

import pytest

from polyinfra.core.wallet_watch_state import LossEvent, LossReason, WalletProgress
from polyinfra.model.wallet_activity import WalletActivity
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.sink_urls import open_sink
from polyinfra.wallets.watch_store import StoredWatch, WalletWatchStore
from tests.record.sinks import NATS_SERVER, postgres_schema
from tests.wallet_world import T0, ScriptedActivity, SimulatedTime, check_exactly_once, make_truth, run_watch

pytestmark = pytest.mark.services


async def test_restarts_against_postgresql_deliver_every_row_exactly_once() -> None:
    truth = make_truth(10, 1_500, seed=21, busy_share=0.4)
    time = SimulatedTime(T0)
    source = ScriptedActivity(truth, clock=time.clock, outages=[(T0 + 700, T0 + 800)])
    events: list[WalletActivity | LossEvent] = []
    with postgres_schema() as url:
        sink = open_sink(url)
        try:
            for until in (T0 + 600, T0 + 1_500):
                await run_watch(source, truth, time, until, store=sink, events=events)
                time.now_s += 20
            stored = (await WalletWatchStore(sink).load(dedupe_window_s=0, default_since_s=T0)).progress
            fills_stored = [record async for record in sink.read(kinds=(RecordKind.WALLET_FILL,))]
        finally:
            await sink.close()
    fills = [event for event in events if isinstance(event, WalletActivity)]
    watermarks = {wallet: progress.watermark_s for wallet, progress in stored.items()}
    assert check_exactly_once(truth, fills, [], watermarks=watermarks) == len(fills) == len(fills_stored) > 100
    assert min(watermarks.values()) > T0 + 1_300


async def _commit_twice(url: str) -> tuple[list[Record], StoredWatch, list[WalletActivity]]:
    truth = make_truth(2, 300, seed=3, busy_share=1.0)
    rows = [row for rows in truth.values() for row in rows][:20]
    loss = LossEvent(rows[0].wallet, T0, T0 + 50, LossReason.CONTINUITY_LOST, "HttpClientError")
    progress = WalletProgress(rows[0].wallet, T0 + 250, T0 + 240, "cursor-1")
    sink = open_sink(url)
    try:
        await WalletWatchStore(sink).commit(rows, [loss], [], now_s=T0 + 100, requests_s=[T0 + 90, T0 + 95])
        # Another run, the same batch and then its progress.
        await WalletWatchStore(sink).commit(rows, [loss], [progress], now_s=T0 + 200, requests_s=[T0 + 190])
        state = await WalletWatchStore(sink).load(dedupe_window_s=10_000, default_since_s=T0, requests_since_s=T0 + 92)
        stored = [record async for record in sink.read()]
    finally:
        await sink.close()
    assert state.progress == {rows[0].wallet: progress}
    assert state.losses == {rows[0].wallet: 1}
    assert state.requests_s == [T0 + 95, T0 + 190]  # the requests of the window that ends at the load
    return stored, state, rows


async def test_a_batch_committed_twice_is_stored_once_in_postgresql() -> None:
    with postgres_schema() as url:
        stored, state, rows = await _commit_twice(url)
    assert len(stored) == 24  # 20 fills, one loss, one progress, two runs' requests
    assert sum(len(identities) for identities in state.delivered.values()) == len(rows)


async def test_the_state_comes_back_from_nats_jetstream(stream: str) -> None:
    _, state, rows = await _commit_twice(f"nats://{NATS_SERVER}/{stream}")
    assert {identity for identities in state.delivered.values() for identity in identities} == {row.key for row in rows}
