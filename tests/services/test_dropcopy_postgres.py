"""The DropCopy archive in PostgreSQL: the archiver against the emulator through drops and a token expiry,
exactly once; one holder per stream by advisory lock, handed over when its session ends; a zombie fenced off."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from polyinfra.core.us_dropcopy import ChainLink, DropCopyStream, LinkKind, chain_gaps, decode_batch
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import FencedOffError
from polyinfra.record.dropcopy_archive import open_archive
from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2, orders_pb2
from tests.integration.us_dropcopy_steps import emulator_archiver, until
from tests.record.sinks import postgres_schema

FIRM = "firm-pg"


@pytest.fixture
def url() -> Iterator[str]:
    with postgres_schema() as schema_url:
        yield schema_url


async def test_the_archiver_into_postgres_is_exactly_once_through_drops_and_an_expiry(url: str) -> None:
    archive = open_archive(url)
    async with Emulator(markets=1, rate=0) as emulator:
        history = emulator.us_dropcopy
        history.faults.update({"time_scale": 0.001, "heartbeat_interval_s": 50.0, "batch_size": 20, "drop_chance": 0.2})
        archiver = emulator_archiver(emulator, archive, FIRM, time_scale=0.001)
        status = archiver.status[DropCopyStream.EXECUTIONS]
        run = asyncio.create_task(archiver.run())
        try:
            history.generate(1000, seed=1)
            await until(lambda: status.new_events == 1000, "archived")
            history.expire_tokens()
            emulator.us_dropcopy_service.drop_all()
            await until(lambda: status.gaps == 1, "gap reconciled")
            history.generate(1000, seed=2)
            await until(lambda: status.new_events == 2000, "archived after the gap")
        finally:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
    ids = archive.execution_ids(FIRM)
    assert len({execution_id for _, execution_id in ids}) == len(ids) == 2000
    links = archive.chain(FIRM, DropCopyStream.EXECUTIONS)
    assert chain_gaps(links) == [] and [link.kind for link in links].count(LinkKind.GAP) == 1
    archive.close()


def _batch(token: bytes, execution_id: str) -> object:
    order = orders_pb2.Order(id="o", symbol="s", side="SIDE_BUY", price_scale=100, fractional_quantity_scale=1)
    response = dropcopy_pb2.CreateDropCopySubscriptionResponse(
        resume_token=token, executions=[orders_pb2.Execution(id=execution_id, order=order, last_px=5, last_shares=1)]
    )
    return decode_batch(DropCopyStream.EXECUTIONS, response, {})


def test_one_holder_per_stream_handed_over_when_its_session_ends_and_a_zombie_is_fenced_off(url: str) -> None:
    first, second = open_archive(url), open_archive(url)
    zombie = first.acquire(FIRM, DropCopyStream.EXECUTIONS)
    assert zombie is not None and zombie.fence == 1
    assert second.acquire(FIRM, DropCopyStream.EXECUTIONS) is None
    first.commit(zombie, _batch(b"t1", "e1"), ChainLink(LinkKind.START, b"", b"t1", 1, 0))  # type: ignore[arg-type]
    zombie.release()  # its session ends: the lock goes with it
    holder = second.acquire(FIRM, DropCopyStream.EXECUTIONS)
    assert holder is not None and holder.fence == 2
    second.commit(holder, _batch(b"t2", "e2"), ChainLink(LinkKind.CONTINUOUS, b"t1", b"t2", 1, 0))  # type: ignore[arg-type]
    with pytest.raises(FencedOffError):
        first.commit(zombie, _batch(b"t0", "e0"), ChainLink(LinkKind.CONTINUOUS, b"t1", b"t0", 1, 0))  # type: ignore[arg-type]
    assert second.cursor(FIRM, DropCopyStream.EXECUTIONS).token == b"t2"
    assert [execution_id for _, execution_id in second.execution_ids(FIRM)] == ["e1", "e2"]
    holder.release()
    first.close()
    second.close()
