"""The DropCopy archiver against the emulator over real sockets: exactly once through random stream drops and
token expiries, BUSTED reversals, one consumer per stream with a handover, and ``kill -9`` at random points."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import signal
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from polyinfra.core.us_books import stream_share
from polyinfra.core.us_dropcopy import DropCopyStream, LinkKind, chain_gaps
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import StreamBudgetExceededError
from polyinfra.record.dropcopy_archive import DropCopyArchive, SQLiteDropCopyArchive
from polyinfra.us.dropcopy import DropCopyArchiver
from polyinfra.us.live_books import UsLiveBooks
from polyinfra.wire.us.polymarket.v1 import report_pb2, report_pb2_grpc
from tests.integration.us_dropcopy_steps import archive_until_killed, emulator_archiver, until

FIRM = "firm-a"
TIME_SCALE = 0.001  # the emulator's minute (search limit, heartbeats) passes in 60 ms


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0, us_markets=8) as running:
        running.us_dropcopy.faults.update({"time_scale": TIME_SCALE, "heartbeat_interval_s": 50.0})
        yield running


def _archiver(emulator: Emulator, archive: DropCopyArchive, *streams: DropCopyStream) -> DropCopyArchiver:
    return emulator_archiver(emulator, archive, FIRM, *streams, time_scale=TIME_SCALE)


def _emulated_order(emulator: Emulator) -> dict[str, list[str]]:
    order: dict[str, list[str]] = defaultdict(list)
    for entry in emulator.us_dropcopy.entries(DropCopyStream.EXECUTIONS):
        order[entry.symbol].append(entry.message.id)  # type: ignore[attr-defined]
    return order


def _archived_order(archive: DropCopyArchive) -> dict[str, list[str]]:
    order: dict[str, list[str]] = defaultdict(list)
    for symbol, execution_id in archive.execution_ids(FIRM):
        order[symbol].append(execution_id)
    return order


async def test_ten_thousand_executions_through_drops_and_expiries_arrive_exactly_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    history, service = emulator.us_dropcopy, emulator.us_dropcopy_service
    history.faults.update({"batch_size": 25, "drop_chance": 0.3, "seed": 11})
    archive = SQLiteDropCopyArchive(tmp_path / "archive.db")
    archiver = _archiver(emulator, archive)
    status = archiver.status[DropCopyStream.EXECUTIONS]
    run = asyncio.create_task(archiver.run())
    try:
        for chunk in range(4):
            history.generate(2500, seed=chunk)
            await until(lambda chunk=chunk: status.new_events >= 2500 * (chunk + 1), "chunk archived")
            if chunk < 3:
                # A maintenance window: the stored token is refused from now on and every stream is cut, so
                # the reconnect must fall back to the last applied time and reconcile.
                history.expire_tokens()
                service.drop_all()
                await until(lambda chunk=chunk: status.gaps == chunk + 1, "gap reconciled")
        await until(lambda: status.caught_up, "caught up")
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert service.streams_dropped >= 100
    ids = archive.execution_ids(FIRM)
    assert len(ids) == len({execution_id for _, execution_id in ids}) == 10_000
    assert _archived_order(archive) == _emulated_order(emulator)
    links = archive.chain(FIRM, DropCopyStream.EXECUTIONS)
    assert chain_gaps(links) == []
    gaps = [link for link in links if link.kind is LinkKind.GAP]
    assert len(gaps) == 3
    assert all("SearchExecutions" in link.note and "FAILED_PRECONDITION" in link.note for link in gaps)
    assert sum(link.new_events for link in links) == 10_000
    archive.close()


async def test_a_busted_trade_reverses_its_earlier_records(emulator: Emulator, tmp_path: Path) -> None:
    history = emulator.us_dropcopy
    archive = SQLiteDropCopyArchive(tmp_path / "archive.db")
    archiver = _archiver(emulator, archive, DropCopyStream.TRADES, DropCopyStream.POSITIONS)
    run = asyncio.create_task(archiver.run())
    try:
        first = history.generate(3, seed=1)
        await until(lambda: archive.count(FIRM, DropCopyStream.TRADES) == 3, "trades archived")
        assert history.bust(f"trade-{first + 1}")
        await until(lambda: archive.count(FIRM, DropCopyStream.TRADES) == 4, "bust archived")
        await until(lambda: archive.count(FIRM, DropCopyStream.POSITIONS) == 3, "positions archived")
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    trades = archive.trades(FIRM)
    assert (f"trade-{first + 1}", "NEW", True) in trades
    assert (f"trade-{first + 1}", "BUSTED", False) in trades
    assert [reversed_ for id_, _, reversed_ in trades if id_ != f"trade-{first + 1}"] == [False, False]
    archive.close()


async def test_two_archivers_only_one_commits_and_the_other_takes_over_without_a_duplicate(
    emulator: Emulator, tmp_path: Path
) -> None:
    history = emulator.us_dropcopy
    path = tmp_path / "archive.db"
    first_archive, second_archive = SQLiteDropCopyArchive(path), SQLiteDropCopyArchive(path)
    first, second = _archiver(emulator, first_archive), _archiver(emulator, second_archive)
    first_status, second_status = first.status[DropCopyStream.EXECUTIONS], second.status[DropCopyStream.EXECUTIONS]
    first_run = asyncio.create_task(first.run())
    await until(lambda: first_status.fence is not None, "the first holds the lease")
    second_run = asyncio.create_task(second.run())
    try:
        history.generate(500, seed=1)
        await until(lambda: first_status.new_events == 500, "the first archived")
        await asyncio.sleep(0.1)
        assert second_status.state == "waiting for the lease"
        assert second_status.events == 0
        first_run.cancel()  # the holder dies: its lock goes with it
        await asyncio.gather(first_run, return_exceptions=True)
        await until(lambda: second_status.fence is not None, "the second holds the lease")
        assert second_status.fence == (first_status.fence or 0) + 1
        history.generate(500, seed=2)
        await until(lambda: second_status.new_events == 500, "the second archived")
    finally:
        second_run.cancel()
        await asyncio.gather(first_run, second_run, return_exceptions=True)
    # Resumed from the stored token: nothing the first applied came again.
    assert second_status.events == 500
    assert first_archive.count(FIRM, DropCopyStream.EXECUTIONS) == 1000
    first_archive.close()
    second_archive.close()


async def test_books_beside_an_archiver_are_planned_within_what_the_archiver_leaves(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.us_market_data_faults.streams_per_firm = 6
    archive = SQLiteDropCopyArchive(tmp_path / "archive.db")
    archiver = _archiver(emulator, archive, *DropCopyStream)
    share = stream_share(archiver.stream_count, budget=6)
    assert share == 2
    symbols = [instrument.symbol for instrument in emulator.us_market.instruments][:3]
    run = asyncio.create_task(archiver.run())
    try:
        await until(lambda: emulator.us_dropcopy_service.open_streams == 4, "the archiver's streams are open")
        async with UsLiveBooks(
            emulator.urls["grpc"], insecure=True, symbols_per_stream=1, stream_budget=share, reconnect_initial_s=0.01
        ) as books:
            await books.subscribe(symbols[:2])
            assert await books.wait_until_live(timeout_s=30)
            with pytest.raises(StreamBudgetExceededError):
                await books.subscribe(symbols[2:])  # refused here, before the venue's RESOURCE_EXHAUSTED
            assert emulator.us_stream_budget.held("") == 6
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert emulator.us_stream_budget.refused == 0
    archive.close()


KILLS = 20
_KILLS_SEED = 13


async def test_kill_minus_nine_at_random_points_loses_and_duplicates_nothing(
    emulator: Emulator, tmp_path: Path
) -> None:
    # Each archiver is a process of its own, forked from a server that imported polyinfra once, so a restart
    # costs a fork rather than a second of imports and twenty kills fit in seconds; each is a real SIGKILL.
    forks = multiprocessing.get_context("forkserver")
    forks.set_forkserver_preload(["tests.integration.us_dropcopy_steps"])
    history = emulator.us_dropcopy
    history.faults.update({"batch_size": 10, "replay_delay_s": 5.0})  # 5 ms a batch: the replay outlasts the kills
    history.generate(6000, seed=3)
    path = tmp_path / "archive.db"
    rng = random.Random(_KILLS_SEED)
    counts: list[int] = []
    for _ in range(KILLS):
        process = forks.Process(target=archive_until_killed, args=(emulator.urls["grpc"], str(path), FIRM))
        process.start()
        try:
            # After its first commit, kill it at a random point: between commits, or inside one.
            await until(lambda: path.exists() and _archived(path) > (counts[-1] if counts else 0), "progress")
            await asyncio.sleep(rng.uniform(0.0, 0.1))
        finally:
            process.kill()
            await asyncio.to_thread(process.join)
        assert process.exitcode == -signal.SIGKILL
        counts.append(_archived(path))
    history.faults.update({"replay_delay_s": 0.0})
    archive = SQLiteDropCopyArchive(path)
    archiver = _archiver(emulator, archive)
    run = asyncio.create_task(archiver.run())
    try:
        await until(lambda: archive.count(FIRM, DropCopyStream.EXECUTIONS) == 6000, "all archived")
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert counts == sorted(counts) and len(set(counts)) == KILLS and counts[-1] < 6000
    links = archive.chain(FIRM, DropCopyStream.EXECUTIONS)
    assert chain_gaps(links) == []
    # Every restart resumed after the last committed token: no record was delivered and applied twice.
    assert sum(link.events for link in links) == sum(link.new_events for link in links) == 6000
    assert _archived_order(archive) == _emulated_order(emulator)
    archive.close()


def _archived(path: Path) -> int:
    archive = SQLiteDropCopyArchive(path)
    try:
        return archive.count(FIRM, DropCopyStream.EXECUTIONS)
    finally:
        archive.close()


async def test_a_reconciling_search_refused_by_the_rate_limit_is_tried_again(
    emulator: Emulator, tmp_path: Path
) -> None:
    history = emulator.us_dropcopy
    # The search's minute is 0.6 s here.
    history.faults.update({"time_scale": 0.01, "search_per_minute": 3})
    archive = SQLiteDropCopyArchive(tmp_path / "archive.db")
    archiver = emulator_archiver(
        emulator, archive, FIRM, time_scale=0.01, reconnect_initial_s=0.05, reconnect_max_s=0.1, search_page_size=10
    )
    status = archiver.status[DropCopyStream.EXECUTIONS]
    run = asyncio.create_task(archiver.run())
    try:
        history.generate(20, seed=1)
        await until(lambda: status.new_events == 20, "archived")
        async with grpc.aio.insecure_channel(emulator.urls["grpc"]) as channel:
            report = report_pb2_grpc.ReportAPIStub(channel)
            for _ in range(3):  # someone else spent the minute's searches
                await report.SearchExecutions(report_pb2.SearchExecutionsRequest(page_size=1))
        history.expire_tokens()
        emulator.us_dropcopy_service.drop_all()
        await until(lambda: status.gaps == 1, "gap reconciled once the limit allowed")
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert status.last_error is not None and "RESOURCE_EXHAUSTED" in status.last_error
    links = archive.chain(FIRM, DropCopyStream.EXECUTIONS)
    assert chain_gaps(links) == []
    (gap,) = [link for link in links if link.kind is LinkKind.GAP]
    # The window re-read is the one since the last applied execution, which it holds.
    assert "SearchExecutions" in gap.note and "1 found in 1 page(s)" in gap.note
    archive.close()
