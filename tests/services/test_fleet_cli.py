"""The scale-out run: three ``polyinfra record --fleet`` processes against one emulator, recording into
the NATS server at 127.0.0.1:4222; one is killed with SIGKILL mid-run, a survivor takes its shard over
within the lease time, and the fleet's coverage manifest shows a ``lease takeover`` gap for exactly
that shard's tokens while the others have none. Conditions are polled (the lease bucket, the streams,
the manifest) under one generous deadline; nothing waits a fixed time."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import msgspec
import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js.kv import KeyValue

from polyinfra.cli.fleet_record import open_lease_bucket
from polyinfra.record.coverage import RecordedSpan, read_manifest
from polyinfra.record.fleet import LEASE_TAKEOVER
from polyinfra.record.jetstream_sink import JetStreamSink, shard_stream_name
from polyinfra.record.shard_leases import LeaseValue, bucket_name, shard_of
from tests.integration.cli_steps import run_polyinfra, start_polyinfra
from tests.integration.conftest import EmulatorFactory, emulator_factory  # noqa: F401 (the fixture)
from tests.record.sinks import NATS_SERVER
from tests.unique_names import unique_name

pytestmark = pytest.mark.services

_SHARDS = 3
_DEADLINE_S = 240.0
_POLL_S = 0.2


async def _leases(kv: KeyValue) -> dict[int, LeaseValue]:
    """Shard -> its lease, of every shard that was ever held."""
    found = {}
    for shard in range(_SHARDS):
        with contextlib.suppress(nats.js.errors.KeyNotFoundError):
            entry = await kv.get(f"shard.{shard}")
            found[shard] = msgspec.msgpack.decode(entry.value or b"", type=LeaseValue)
    return found


async def _holders(kv: KeyValue) -> dict[int, str]:
    return {shard: lease.holder for shard, lease in (await _leases(kv)).items()}


async def _manifest(url: str) -> RecordedSpan:
    fleet = JetStreamSink(url)
    try:
        return await read_manifest(fleet)
    finally:
        await fleet.close()


async def _drain(stream: asyncio.StreamReader, lines: list[bytes]) -> None:
    """Keeps a process's stderr flowing (a full pipe would stop it) and its lines for a failure's message."""
    while line := await stream.readline():
        lines.append(line)


async def test_three_recorders_one_killed_its_shard_is_taken_over_and_the_manifest_shows_the_gap(
    emulator_factory: EmulatorFactory,  # noqa: F811
    nats_client: Client,
) -> None:
    emulator = await emulator_factory(markets=6, seed=3, rate=100.0)
    tokens = list(emulator.exchange.tokens())
    assert {shard_of(token, _SHARDS) for token in tokens} == set(range(_SHARDS))  # no shard is empty
    name = unique_name("test-fleet")
    sink = f"nats://{NATS_SERVER}/{name}"
    jetstream = nats_client.jetstream()
    kv = await jetstream.create_key_value(bucket=bucket_name(name), history=1)
    arguments = ["--sink", sink, "--fleet", name, "--shards", str(_SHARDS), "--lease-s", "2", "--fleet-size", "3"]
    arguments += ["--join-s", str(_DEADLINE_S), "--status-s", "1", "--top", "6"]
    arguments += ["--rest", emulator.urls["rest"], "--ws", emulator.urls["ws_market"]]
    processes = [await start_polyinfra("record", *arguments, "--member-id", f"m{index}") for index in range(3)]
    stderr: list[list[bytes]] = [[] for _ in processes]
    drains = []
    for process, lines in zip(processes, stderr, strict=True):
        assert process.stderr is not None
        drains.append(asyncio.create_task(_drain(process.stderr, lines)))
    try:
        async with asyncio.timeout(_DEADLINE_S):
            # Every member holds a shard, has renewed it with a watermark, and every shard's stream
            # has live data in it.
            while True:
                leases = await _leases(kv)
                holders = {shard: lease.holder for shard, lease in leases.items()}
                renewed = all(lease.watermark_wall_ns is not None for lease in leases.values())
                if len(set(holders.values())) == 3 and len(holders) == _SHARDS and renewed:
                    counts = []
                    for shard in range(_SHARDS):
                        with contextlib.suppress(nats.js.errors.NotFoundError):
                            counts.append((await jetstream.stream_info(shard_stream_name(name, shard))).state.messages)
                    if len(counts) == _SHARDS and min(counts) >= 50:
                        break
                await asyncio.sleep(_POLL_S)
            victim_shard = next(shard for shard, holder in holders.items() if holder == "m1")
            processes[1].kill()  # SIGKILL: no release, no last write
            await processes[1].wait()

            # A survivor takes the shard over once the lease expired, and records into it again.
            taken_by = None
            while taken_by is None:
                holder = (await _holders(kv)).get(victim_shard)
                if holder in ("m0", "m2"):
                    taken_by = holder
                await asyncio.sleep(_POLL_S)
            victim_tokens = [token for token in tokens if shard_of(token, _SHARDS) == victim_shard]
            while True:
                span = await _manifest(sink)
                assert span.first_wall_ns is not None
                found = [
                    span.manifest.coverage(token, span.first_wall_ns, span.last_wall_ns) for token in victim_tokens
                ]
                taken_over = [[gap for gap in one.gaps if gap.reason == LEASE_TAKEOVER] for one in found]
                live_again = [
                    bool(gaps) and any(interval.start_wall_ns >= gaps[0].end_wall_ns for interval in one.covered)
                    for one, gaps in zip(found, taken_over, strict=True)
                ]
                if all(live_again):
                    break
                await asyncio.sleep(_POLL_S)

            for index in (0, 2):
                processes[index].send_signal(signal.SIGINT)
            for index in (0, 2):
                assert await processes[index].wait() == 0, b"".join(stderr[index]).decode()[-2_000:]
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        for drain in drains:
            await drain

    # The survivors released their leases when they stopped, so a successor would not wait.
    leases = await _leases(kv)
    assert len(leases) == _SHARDS and all(lease.released for lease in leases.values())
    span = await _manifest(sink)
    assert span.first_wall_ns is not None
    for token in tokens:
        coverage = span.manifest.coverage(token, span.first_wall_ns, span.last_wall_ns)
        takeover_gaps = [gap for gap in coverage.gaps if gap.reason.startswith("lease")]
        if shard_of(token, _SHARDS) == victim_shard:
            assert [gap.reason for gap in takeover_gaps] == [LEASE_TAKEOVER], (token, coverage.gaps)
            # Covered before it (by the killed process, up to its watermark) and after it.
            (takeover,) = takeover_gaps
            assert coverage.covered[0].end_wall_ns <= takeover.start_wall_ns, coverage.covered
            assert coverage.covered[-1].start_wall_ns >= takeover.end_wall_ns, coverage.covered
        else:
            assert takeover_gaps == [], (token, coverage.gaps)
        assert coverage.covered, token

    code, out, err = await run_polyinfra("coverage", "--sink", sink)
    assert code == 0, err
    assert out.count(f": {LEASE_TAKEOVER}") == len(victim_tokens), out

    status = b"".join(stderr[0] + stderr[2]).decode()
    assert "record: member m0 · shards " in status
    assert "takeovers 1" in status
    for shard in range(_SHARDS):
        await jetstream.delete_stream(shard_stream_name(name, shard))
    await jetstream.delete_key_value(bucket_name(name))


async def test_the_lease_connection_once_made_rides_out_a_minute_without_its_server(nats_client: Client) -> None:
    name = unique_name("test-leases")
    server = f"nats://{NATS_SERVER}"
    connection, _ = await open_lease_bucket(server, name, f"{server}/fleet")
    try:
        # The first connection's few tries (test_cli_us_dropcopy) are over: a running member retries for a minute.
        options = connection.options
        assert options["max_reconnect_attempts"] * options["reconnect_time_wait"] >= 60
    finally:
        await connection.close()
        await nats_client.jetstream().delete_key_value(name)
