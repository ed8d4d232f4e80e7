"""The emulated US exchange end to end: orders entered through ``UsOrderEntry`` match in the emulator's order
engine, and what they did (executions, trades) reaches the DropCopy archive over the DropCopy streams, exactly
once, as a firm's back office would see it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.core.us_orders import UsOrderIntent, UsTimeInForce
from polyinfra.emulator.runner import Emulator
from polyinfra.model.numbers import Side
from polyinfra.record.dropcopy_archive import SQLiteDropCopyArchive
from polyinfra.us.client import UsExchangeClient
from polyinfra.us.order_entry import UsOrderEntry
from tests.integration.us_dropcopy_steps import emulator_archiver, until

MLB = "aec-mlb-nyy-bos-2026-04-10"
FIRM = "emulator"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0, seed_books=False) as running:
        running.us_dropcopy.faults.update({"time_scale": 0.001})
        yield running


async def test_a_match_entered_by_two_accounts_is_archived_once_from_dropcopy(
    emulator: Emulator, tmp_path: Path
) -> None:
    archive = SQLiteDropCopyArchive(tmp_path / "archive.db")
    archiver = emulator_archiver(
        emulator, archive, FIRM, DropCopyStream.EXECUTIONS, DropCopyStream.TRADES, time_scale=0.001, since_ns=1
    )
    run = asyncio.create_task(archiver.run())
    try:
        async with UsExchangeClient(emulator.urls["grpc"], insecure=True) as client:
            alice = UsOrderEntry(client, account="firms/emulator/accounts/alice")
            bob = UsOrderEntry(client, account="firms/emulator/accounts/bob")
            resting = await alice.place(UsOrderIntent(MLB, Side.SELL, Decimal("0.6"), Decimal(2)))
            taking = await bob.place(UsOrderIntent(MLB, Side.BUY, Decimal("0.6"), Decimal(1), UsTimeInForce.IOC))
            await alice.cancel(order_id=resting.order_id)
        reported = emulator.us_dropcopy.entries(DropCopyStream.EXECUTIONS)
        await until(lambda: archive.count(FIRM, DropCopyStream.EXECUTIONS) == len(reported), "executions archived")
        await until(lambda: archive.count(FIRM, DropCopyStream.TRADES) >= 1, "the trade archived")
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    # New, partial fill and cancel of the resting order, new and fill of the taker: five, each once.
    ids = [execution_id for _, execution_id in archive.execution_ids(FIRM)]
    assert len(ids) == len(set(ids)) == len(reported) == 5
    assert {symbol for symbol, _ in archive.execution_ids(FIRM)} == {MLB}
    assert {(state, flag) for _, state, flag in archive.trades(FIRM)} <= {("NEW", False), ("CLEARED", False)}
    assert resting.order_id != taking.order_id
    archive.close()
