"""DropCopy archivers of a fleet sharing one archive, their stream leases in a JetStream key-value bucket on the
NATS server at 127.0.0.1:4222: one commits while the other waits; the holder dies (its NATS connection gone,
its lease unreleased), the lease expires on the injected clock and the other takes over from the stored
token without a duplicate; the dead one's fence is refused. Each test uses a bucket of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js.kv import KeyValue

from polyinfra.core.us_dropcopy import ChainLink, DecodedBatch, DropCopyStream, LinkKind, chain_gaps
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import FencedOffError
from polyinfra.record.dropcopy_archive import Cursor, Lease, SQLiteDropCopyArchive
from polyinfra.record.dropcopy_fleet import FleetStreamLeases, stream_shard
from polyinfra.record.shard_leases import ShardLeases, bucket_name, decode_lease
from tests.integration.cli_steps import run_polyinfra
from tests.integration.us_dropcopy_steps import emulator_archiver, until
from tests.record.sinks import NATS_SERVER
from tests.services.lease_clock import LeaseClock, S
from tests.unique_names import unique_name

pytestmark = pytest.mark.services

FIRM = "firm-fleet"
TIME_SCALE = 0.001
LEASE_S = 10.0


@pytest.fixture
async def lease_bucket(nats_client: Client) -> AsyncIterator[str]:
    name = unique_name("test-dropcopy")
    await nats_client.jetstream().create_key_value(bucket=name, history=1)
    yield name
    await nats_client.jetstream().delete_key_value(name)


def _fleet(bucket: KeyValue, holder: str, clock: LeaseClock, renew_s: float = LEASE_S / 2) -> FleetStreamLeases:
    # The expiry is read on the test's clock; the renewals are paced in real time.
    leases = ShardLeases(bucket, holder=holder, lease_s=LEASE_S, wall_ns=clock)
    return FleetStreamLeases(leases, lease_s=LEASE_S, renew_s=renew_s)


async def test_two_archivers_one_commits_and_the_survivor_takes_over_from_a_dead_holder(
    nats_client: Client, lease_bucket: str, tmp_path: Path
) -> None:
    clock = LeaseClock()
    doomed_connection = await nats.connect(f"nats://{NATS_SERVER}", connect_timeout=5, allow_reconnect=False)
    doomed_bucket = await doomed_connection.jetstream().key_value(lease_bucket)
    survivor_bucket = await nats_client.jetstream().key_value(lease_bucket)
    path = tmp_path / "shared.db"
    first_archive, second_archive = SQLiteDropCopyArchive(path), SQLiteDropCopyArchive(path)
    async with Emulator(markets=1, rate=0) as emulator:
        history = emulator.us_dropcopy
        history.faults.update({"time_scale": TIME_SCALE, "heartbeat_interval_s": 50.0, "batch_size": 20})
        first = emulator_archiver(
            emulator, first_archive, FIRM, time_scale=TIME_SCALE, fleet=_fleet(doomed_bucket, "a", clock)
        )
        history.generate(500, seed=1)
        first_run = asyncio.create_task(first.run())
        first_status = first.status[DropCopyStream.EXECUTIONS]
        await until(lambda: first_status.new_events == 500, "the first archiver holds and archives")
        second = emulator_archiver(
            emulator, second_archive, FIRM, time_scale=TIME_SCALE, fleet=_fleet(survivor_bucket, "b", clock)
        )
        second_status = second.status[DropCopyStream.EXECUTIONS]
        second_run = asyncio.create_task(second.run())
        try:
            # The second waits: the key is held and not expired.
            await until(lambda: second_status.state == "waiting for the lease", "the second waits")
            stored = await survivor_bucket.get(f"shard.{stream_shard(FIRM, DropCopyStream.EXECUTIONS)}")
            assert stored.revision == first_status.fence
            history.generate(300, seed=2)
            await until(lambda: first_status.new_events == 800, "the holder goes on")
            assert second_status.new_events == 0 and second_status.fence is None

            # The holder dies: its connection is gone, so its lease is never released, only expires.
            await doomed_connection.close()
            first_run.cancel()
            await asyncio.gather(first_run, return_exceptions=True)
            history.generate(200, seed=3)
            clock.now_ns += round((LEASE_S + 1) * S)
            await until(lambda: second_status.new_events == 200, "the survivor takes over")
        finally:
            second_run.cancel()
            await asyncio.gather(second_run, return_exceptions=True)
    assert first_status.fence is not None and second_status.fence is not None
    assert second_status.fence > first_status.fence
    ids = second_archive.execution_ids(FIRM)
    assert len(ids) == len({execution_id for _, execution_id in ids}) == 1000
    links = second_archive.chain(FIRM, DropCopyStream.EXECUTIONS)
    assert chain_gaps(links) == [] and LinkKind.GAP not in {link.kind for link in links}

    # A zombie of the dead holder waking to commit an older token is refused.
    zombie = Lease(FIRM, DropCopyStream.EXECUTIONS, first_status.fence, None)
    token = second_archive.cursor(FIRM, DropCopyStream.EXECUTIONS).token
    with pytest.raises(FencedOffError):
        first_archive.commit(zombie, DecodedBatch(b"old", (), None), ChainLink(LinkKind.CONTINUOUS, b"x", b"old", 0, 0))
    assert second_archive.cursor(FIRM, DropCopyStream.EXECUTIONS).token == token
    first_archive.close()
    second_archive.close()


async def test_a_claim_older_than_the_stored_fence_is_refused(
    nats_client: Client, lease_bucket: str, tmp_path: Path
) -> None:
    clock = LeaseClock()
    bucket = await nats_client.jetstream().key_value(lease_bucket)
    archive = SQLiteDropCopyArchive(tmp_path / "a.db")
    slow, quick = _fleet(bucket, "slow", clock, renew_s=0.01), _fleet(bucket, "quick", clock)
    held = await slow.acquire(archive, FIRM, DropCopyStream.TRADES)
    assert held is not None and held.lease.fence == held.key_lease.revision
    assert await quick.acquire(archive, FIRM, DropCopyStream.TRADES) is None
    clock.now_ns += round((LEASE_S + 1) * S)
    taken = await quick.acquire(archive, FIRM, DropCopyStream.TRADES)
    assert taken is not None and taken.lease.fence > held.lease.fence
    # The slow one's claim arriving after the newer one (a paused process) cannot lower the fence.
    with pytest.raises(FencedOffError):
        archive.claim(FIRM, DropCopyStream.TRADES, fence=held.lease.fence)
    # Nor can it keep a lease the other took over.
    with pytest.raises(FencedOffError):
        await asyncio.wait_for(slow.keep(held), 30)
    await quick.release(taken)
    assert await slow.acquire(archive, FIRM, DropCopyStream.TRADES) is not None  # released: free at once
    archive.close()


async def test_an_archive_fenced_higher_than_the_buckets_revisions_is_claimed_once_they_pass_it(
    nats_client: Client, lease_bucket: str, tmp_path: Path
) -> None:
    bucket = await nats_client.jetstream().key_value(lease_bucket)
    archive = SQLiteDropCopyArchive(tmp_path / "a.db")
    archive.claim(FIRM, DropCopyStream.EXECUTIONS, fence=30)  # kept under its own lock until now
    fleet = _fleet(bucket, "mover", LeaseClock())
    tries = 0
    held = None
    while held is None and tries < 40:
        tries += 1
        held = await fleet.acquire(archive, FIRM, DropCopyStream.EXECUTIONS)
    assert held is not None and held.lease.fence > 30 and tries > 1
    assert archive.cursor(FIRM, DropCopyStream.EXECUTIONS) == Cursor(None, None)
    archive.close()


async def test_the_archiver_command_takes_its_lease_from_the_fleet_and_releases_it_on_exit(
    nats_client: Client, tmp_path: Path
) -> None:
    fleet = unique_name("test-dropcopy-cli")
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    async with Emulator(markets=1, rate=0) as emulator:
        emulator.us_dropcopy.faults.update({"time_scale": TIME_SCALE, "heartbeat_interval_s": 100.0})
        emulator.us_dropcopy.generate(120, seed=1)
        arguments = ["us", "dropcopy", "--grpc", emulator.urls["grpc"], "--insecure", "--store", store, "--firm", "f"]
        arguments += ["--streams", "executions", "--lease", f"nats://{NATS_SERVER}/{fleet}", "--member", "one"]
        try:
            code, out, err = await run_polyinfra(*arguments, "--duration", "1")
            entry = await (await nats_client.jetstream().key_value(bucket_name(fleet))).get(
                f"shard.{stream_shard('f', DropCopyStream.EXECUTIONS)}"
            )
        finally:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await nats_client.jetstream().delete_key_value(bucket_name(fleet))
    assert code == 0, err
    assert f"member one of fleet {fleet}: stream leases at nats://{NATS_SERVER}/{fleet}" in out
    assert "executions: 120 events (120 new)" in out
    lease = decode_lease(entry.value or b"", key="k")
    assert lease.holder == "one" and lease.released  # a clean stop hands the stream over at once
    assert f"fence {(entry.revision or 0) - 1}," in out  # the revision it acquired, before the release


async def test_a_holder_cut_off_from_nats_keeps_its_stream_until_its_own_lease_expires(
    lease_bucket: str, tmp_path: Path
) -> None:
    clock = LeaseClock()
    connection = await nats.connect(f"nats://{NATS_SERVER}", connect_timeout=5, allow_reconnect=False)
    fleet = _fleet(await connection.jetstream().key_value(lease_bucket), "cut-off", clock, renew_s=0.01)
    archive = SQLiteDropCopyArchive(tmp_path / "a.db")
    held = await fleet.acquire(archive, FIRM, DropCopyStream.EXECUTIONS)
    assert held is not None
    await connection.close()  # every renewal fails from now on
    keeping = asyncio.create_task(fleet.keep(held))
    await asyncio.sleep(0.1)  # several failed renewals: not lost while the lease has not expired
    assert not keeping.done()
    clock.now_ns += round(LEASE_S * S)
    with pytest.raises(FencedOffError) as lost:
        await asyncio.wait_for(keeping, 30)
    assert "expired before it could be renewed" in lost.value.message
    archive.close()
