"""``polyinfra relay``: a JetStream recording copied into PostgreSQL exactly once, across a relay killed
with SIGKILL mid-batch (fetched, its transaction open, nothing acknowledged) and a batch that was
committed before a crash lost its acknowledgements. Real NATS (127.0.0.1:4222) and PostgreSQL
(127.0.0.1:5432); the relay is held mid-batch by the PostgreSQL sink's own write lock, so no timing
decides where it dies."""

from __future__ import annotations

import asyncio
import contextlib

import nats
import nats.errors
import nats.js.errors
import psycopg
import pytest
from nats.aio.client import Client

from polyinfra.record.fenced_sink import FencedJetStreamSink
from polyinfra.record.jetstream_sink import JetStreamSink, shard_stream_name, shard_stream_url
from polyinfra.record.postgres_sink import _WRITE_LOCK, PostgresSink
from polyinfra.record.records import SessionHeader
from polyinfra.record.relay import Relay
from tests.integration.cli_steps import start_polyinfra
from tests.record.sinks import NATS_SERVER, make_records, postgres_schema

pytestmark = pytest.mark.services

_RECORDS = 600
_DEADLINE_S = 120.0
_POLL_S = 0.1
_DURABLE = "test-relay"


async def test_a_relay_killed_mid_batch_and_restarted_stores_every_record_once(
    stream: str, nats_client: Client
) -> None:
    source_url = f"nats://{NATS_SERVER}/{stream}"
    records = make_records(_RECORDS)
    source = JetStreamSink(source_url)
    await source.write_header(SessionHeader("s1", "host", 1, 1, "clock"))
    await source.write(records)
    await source.close()
    with postgres_schema() as target_url:
        # A batch a crashed relay committed but never acknowledged: it is delivered again below.
        target = PostgresSink(target_url)
        await target.write(records[:100])
        await target.close()
        arguments = ["relay", "--from", source_url, "--to", target_url, "--durable", _DURABLE]
        # The killed relay's batch comes back only after the acknowledgement wait: long enough that the
        # restarted relay is fetching by then, so a consumer that let newer messages through ahead of
        # the redelivered batch would store them first (the order is checked at the end).
        arguments += ["--batch", "150", "--ack-wait-s", "4", "--status-s", "0.5"]
        consumer = nats_client.jetstream()

        # The first relay fetches its first batch and blocks inside its transaction on the write lock.
        with psycopg.connect(target_url) as holder:
            holder.execute(_WRITE_LOCK)
            first = await start_polyinfra(*arguments)
            try:
                async with asyncio.timeout(_DEADLINE_S):
                    while True:
                        with contextlib.suppress(nats.js.errors.NotFoundError):
                            info = await consumer.consumer_info(stream, _DURABLE)
                            if info.num_ack_pending > 0 and _waiting_on_the_lock(target_url):
                                break
                        await asyncio.sleep(_POLL_S)
            finally:
                first.kill()  # SIGKILL, mid-batch
                await first.wait()
            holder.rollback()
        assert _stored(target_url) == 100

        second = await start_polyinfra(*arguments)
        try:
            async with asyncio.timeout(_DEADLINE_S):
                while True:
                    info = await consumer.consumer_info(stream, _DURABLE)
                    if info.num_pending == 0 and info.num_ack_pending == 0 and _stored(target_url) == _RECORDS:
                        break
                    await asyncio.sleep(_POLL_S)
        finally:
            second.terminate()
            _, err = await asyncio.wait_for(second.communicate(), _DEADLINE_S)
        assert second.returncode == 0, err.decode()
        assert "relay: " in err.decode()

        target = PostgresSink(target_url)
        try:
            assert [record async for record in target.read()] == records
            assert [header.session_id for header in await target.headers()] == ["s1"]
        finally:
            await target.close()


def _stored(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*), count(DISTINCT event_id) FROM polyinfra_records").fetchone()
    assert row is not None and row[0] == row[1], row  # never an event twice
    return int(row[0])


def _waiting_on_the_lock(url: str) -> bool:
    """Whether a session of the relay's waits for the write lock (its batch is inside a transaction)."""
    application = url.partition("application_name=")[2].partition("&")[0]
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
            (application,),
        ).fetchone()
    return row is not None and row[0] > 0


async def test_the_relay_copies_a_fleets_shard_streams_once_each(stream: str, nats_client: Client) -> None:
    records = make_records(90)
    for shard in range(3):
        sink = FencedJetStreamSink(shard_stream_url(f"nats://{NATS_SERVER}/{stream}", shard), fence=1)
        await sink.claim()  # the takeover marker is in the stream too: the relay stores nothing of it
        await sink.write(records[shard::3])
        await sink.close()
    with postgres_schema() as target_url:
        source, target = JetStreamSink(f"nats://{NATS_SERVER}/{stream}"), PostgresSink(target_url)
        relay = Relay(source, target, durable=_DURABLE, batch_size=20)
        running = asyncio.create_task(relay.run())
        try:
            async with asyncio.timeout(_DEADLINE_S):
                while relay.stats.records < len(records):
                    await asyncio.sleep(_POLL_S)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        assert relay.stats.corrupt == 0
        assert sorted([record.event_id async for record in target.read()]) == sorted(r.event_id for r in records)
        await source.close()
        await target.close()
    for shard in range(3):
        info = await nats_client.jetstream().consumer_info(shard_stream_name(stream, shard), _DURABLE)
        assert info.num_ack_pending == 0 and info.num_pending == 0  # every message acknowledged
        await nats_client.jetstream().delete_stream(shard_stream_name(stream, shard))
