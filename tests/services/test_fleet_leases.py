"""Shard leases in a JetStream key-value bucket and the fenced shard stream, on the NATS server at
127.0.0.1:4222: acquire, renew, expiry and takeover moved by an injected clock, and a paused holder's
late write refused by the server with nothing stored. Each test uses a bucket and streams of its own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.js.kv import KeyValue

from polyinfra.errors import FencedOffError, SinkWriteError
from polyinfra.record.coverage import read_manifest
from polyinfra.record.fenced_sink import FENCE_HEADER, FencedJetStreamSink
from polyinfra.record.fleet import FleetMember
from polyinfra.record.jetstream_sink import JetStreamSink, shard_stream_name
from polyinfra.record.recorder import Recorder
from polyinfra.record.records import RecordKind
from polyinfra.record.shard_leases import ShardLeases, shard_of
from tests.record.sinks import NATS_SERVER, make_records
from tests.services.lease_clock import LeaseClock, S
from tests.unique_names import unique_name

pytestmark = pytest.mark.services


@pytest.fixture
async def bucket(nats_client: Client) -> AsyncIterator[KeyValue]:
    name = unique_name("test-leases")
    jetstream = nats_client.jetstream()
    yield await jetstream.create_key_value(bucket=name, history=1)
    await jetstream.delete_key_value(name)


def test_the_shard_split_is_stable_and_uses_every_shard() -> None:
    tokens = [str(71_000_000 + index) for index in range(300)]
    assert [shard_of(token, 3) for token in tokens] == [shard_of(token, 3) for token in tokens]
    assert {shard_of(token, 3) for token in tokens} == {0, 1, 2}


async def test_acquire_renew_expire_and_take_over_with_an_injected_clock(bucket: KeyValue) -> None:
    clock = LeaseClock()
    a = ShardLeases(bucket, holder="a", lease_s=10, wall_ns=clock)
    b = ShardLeases(bucket, holder="b", lease_s=10, wall_ns=clock)

    first = await a.acquire(0)
    assert first is not None and first.previous is None
    assert await b.acquire(0) is None  # held and not expired
    clock.now_ns += 9 * S
    renewed = await a.renew(first.lease, watermark_wall_ns=clock.now_ns - 1)
    assert renewed is not None and renewed.fence == first.lease.fence
    clock.now_ns += 9 * S  # 18 s after the acquisition, 9 s after the renewal: still held
    assert await b.acquire(0) is None
    assert await a.live_members() == ["a"]
    await b.announce()
    assert await a.live_members() == ["a", "b"]

    clock.now_ns += 2 * S  # past the renewed expiry
    taken = await b.acquire(0)
    assert taken is not None
    assert taken.lease.fence > renewed.fence  # the fencing number grows with every new holder
    assert taken.previous is not None and taken.previous.holder == "a"
    assert taken.previous.watermark_wall_ns == renewed.value.watermark_wall_ns  # where the gap starts
    assert await a.renew(renewed, watermark_wall_ns=None) is None  # a's renewal finds it lost
    stored = await b.read(0)
    assert stored is not None and stored.holder == "b"

    # A released lease is taken over at once, without waiting for its expiry.
    released = await b.renew(taken.lease, watermark_wall_ns=None, release=True)
    assert released is not None
    again = await a.acquire(0)
    assert again is not None and again.previous is not None and again.previous.holder == "b"


async def test_two_members_racing_for_one_expired_shard_give_it_to_exactly_one(bucket: KeyValue) -> None:
    clock = LeaseClock()
    first = await ShardLeases(bucket, holder="dead", lease_s=1, wall_ns=clock).acquire(5)
    assert first is not None
    clock.now_ns += 2 * S
    racers = [ShardLeases(bucket, holder=f"m{index}", lease_s=1, wall_ns=clock) for index in range(3)]
    # Both read the expired lease before either writes: the compare-and-set lets one through.
    found = [await racer._get("shard.5") for racer in racers]
    assert all(entry is not None and entry[0].holder == "dead" for entry in found)
    won = [await racer.acquire(5) for racer in racers]
    assert sum(taken is not None for taken in won) == 1


async def test_a_paused_holders_late_write_is_refused_by_the_server_and_nothing_is_stored(
    bucket: KeyValue, stream: str, nats_client: Client
) -> None:
    clock = LeaseClock()
    url = f"nats://{NATS_SERVER}/{stream}"
    a = ShardLeases(bucket, holder="a", lease_s=5, wall_ns=clock)
    b = ShardLeases(bucket, holder="b", lease_s=5, wall_ns=clock)
    held = await a.acquire(0)
    assert held is not None
    zombie = FencedJetStreamSink(url, fence=held.lease.fence)
    await zombie.claim()
    records = make_records(30, session_id="a")
    await zombie.write(records[:10])

    # a pauses (no renewal); its lease expires and b takes the shard over and claims the stream.
    clock.now_ns += 6 * S
    taken = await b.acquire(0)
    assert taken is not None
    successor = FencedJetStreamSink(url, fence=taken.lease.fence)
    await successor.claim()
    jetstream = nats_client.jetstream()
    before = (await jetstream.stream_info(stream)).state.messages

    # a wakes up and writes as if nothing happened: the server refuses every message of it.
    with pytest.raises(FencedOffError) as refused:
        await zombie.write(records[10:20])
    assert refused.value.retriable is False
    assert refused.value.context["newer_fence"] == taken.lease.fence
    with pytest.raises(FencedOffError):  # and keeps refusing
        await zombie.write(records[10:20])
    assert (await jetstream.stream_info(stream)).state.messages == before

    await successor.write(records[20:30])
    last = await jetstream.get_msg(stream, seq=(await jetstream.stream_info(stream)).state.last_seq)
    assert last.headers is not None and last.headers[FENCE_HEADER] == str(taken.lease.fence)
    read = [record.event_id async for record in JetStreamSink(url).read()]
    assert read == [record.event_id for record in records[:10] + records[20:30]]
    for sink in (zombie, successor):
        await sink.close()


async def test_a_batch_retried_after_a_lost_answer_is_stored_once(stream: str) -> None:
    url = f"nats://{NATS_SERVER}/{stream}"
    sink = FencedJetStreamSink(url, fence=1)
    await sink.claim()
    records = make_records(20)
    await sink.write(records[:15])
    # As after an answer lost with its connection: the sink no longer knows the stream's end, and the
    # recorder sends the batch again with more behind it. What went in is not sent twice.
    sink._last_seq = None
    await sink.write(records[10:20])
    assert [record.event_id async for record in sink.read()] == [record.event_id for record in records]
    await sink.close()


async def test_a_fleet_recording_is_read_under_its_name_shard_after_shard(stream: str, nats_client: Client) -> None:
    # Read before the fleet recorded anything: an empty recording, and the name is not taken by it.
    early = JetStreamSink(f"nats://{NATS_SERVER}/{stream}")
    assert [record async for record in early.read()] == []
    await early.close()
    records = make_records(12)
    shards = [FencedJetStreamSink(f"nats://{NATS_SERVER}/{stream}-shard-{shard}", fence=1) for shard in range(2)]
    for shard, sink in enumerate(shards):
        await sink.claim()
        await sink.write(records[shard * 6 : shard * 6 + 6])
        await sink.close()
    fleet = JetStreamSink(f"nats://{NATS_SERVER}/{stream}")
    try:
        assert [record async for record in fleet.read()] == records
        with pytest.raises(SinkWriteError, match="recorder fleet's"):
            await fleet.write(records[:1])
    finally:
        await fleet.close()
        for shard in range(2):
            await nats_client.jetstream().delete_stream(f"{stream}-shard-{shard}")


async def test_a_recorder_fenced_off_stops_writing_and_says_why(stream: str) -> None:
    url = f"nats://{NATS_SERVER}/{stream}"
    old = FencedJetStreamSink(url, fence=1)
    await old.claim()
    recorder = Recorder(old, linger_s=0)
    await recorder.start()
    tap = recorder.tap("clob", "market")
    tap.frame_received(1, b"before")
    async with asyncio.timeout(30):
        while recorder.acknowledged is None or recorder.acknowledged.records < 2:  # header's clock sample + frame
            await asyncio.sleep(0.01)
    new = FencedJetStreamSink(url, fence=2)
    await new.claim()
    tap.frame_received(1, b"after the takeover")
    async with asyncio.timeout(30):
        while recorder.fenced_off is None:
            await asyncio.sleep(0.01)
    assert recorder.fenced_off.context["newer_fence"] == 2
    assert recorder.stats.queued == 0
    await recorder.stop()  # returns: the writer ended
    payloads = [record.payload async for record in new.read()]
    assert b"before" in payloads and b"after the takeover" not in payloads
    for sink in (old, new):
        await sink.close()


async def test_members_deal_the_shards_and_a_survivor_takes_a_paused_members_over_with_a_gap(
    bucket: KeyValue, stream: str, nats_client: Client
) -> None:
    clock = LeaseClock()
    url = f"nats://{NATS_SERVER}/{stream}"
    tokens = [str(71_000_000 + index) for index in range(40)]

    @contextlib.asynccontextmanager
    async def attach(recorder: Recorder, token_ids: list[str]) -> AsyncIterator[None]:
        tap = recorder.tap("clob", "market")  # what live books would say: each token LIVE
        for token in token_ids:
            tap.lifecycle(RecordKind.STATE_CHANGED, 0, key=token, state="live", reason="snapshot")
        yield

    def member(holder: str) -> FleetMember:
        return FleetMember(
            leases=ShardLeases(bucket, holder=holder, lease_s=9, wall_ns=clock),
            stream_url=url,
            token_ids=tokens,
            shards=4,
            lease_s=9,
            attach=attach,
            make_recorder=lambda sink: Recorder(sink, linger_s=0, wall_ns=clock),
        )

    a, b = member("a"), member("b")
    for joining in (a, b):
        await joining._leases.announce()
    await a.step()
    await b.step()
    assert (sorted(a.held), sorted(b.held)) == ([0, 2], [1, 3])  # dealt round-robin over [a, b]
    async with asyncio.timeout(30):
        while any(recorder.acknowledged is None or recorder.stats.queued for recorder in a.recorders):
            await asyncio.sleep(0.01)
    clock.now_ns += 3 * S
    await a.step()  # renews, carrying the watermark
    watermark_ns = clock.now_ns - 3 * S  # what a's recorders acknowledged: records stamped before the move

    # a pauses; its member key and leases expire; b deals itself everything and takes shards 0 and 2.
    clock.now_ns += 10 * S
    await b.step()
    assert sorted(b.held) == [0, 1, 2, 3] and b.takeovers == 2
    stored = await b._leases.read(0)
    assert stored is not None and stored.holder == "b"

    # a wakes: its recorders' writes are refused, and its next step finds its leases lost.
    a_recorders = a.recorders
    for recorder in a_recorders:
        recorder.record_gap("clob", "market", reason="late", from_wall_ns=0, to_wall_ns=1, token_ids=["x"])
    async with asyncio.timeout(30):
        while any(recorder.fenced_off is None for recorder in a_recorders):
            await asyncio.sleep(0.01)
    await a.step()
    assert a.held == {}
    await b.stop()
    await a.stop()

    span = await read_manifest(JetStreamSink(url))
    assert {shard_of(token, 4) for token in tokens} == {0, 1, 2, 3}  # every shard has tokens
    for token in tokens:
        gaps = span.manifest.coverage(token, 0, clock.now_ns + S).gaps
        reasons = [(gap.start_wall_ns, gap.end_wall_ns, gap.reason) for gap in gaps if gap.reason.startswith("lease")]
        if shard_of(token, 4) in (0, 2):
            assert reasons == [(watermark_ns, watermark_ns + 13 * S, "lease takeover")], token
        else:
            assert reasons == [], token
    for shard in range(4):
        await nats_client.jetstream().delete_stream(shard_stream_name(stream, shard))


async def test_a_lease_that_does_not_decode_is_taken_over_rather_than_failing_every_member(bucket: KeyValue) -> None:
    clock = LeaseClock()
    await bucket.put("shard.3", b"\xc1 not a lease")
    await bucket.put("member.ghost", b"{}")
    leases = ShardLeases(bucket, holder="a", lease_s=5, wall_ns=clock)
    assert await leases.live_members() == ["a"]
    taken = await leases.acquire(3)
    assert taken is not None and taken.previous is not None and taken.previous.holder == ""
    stored = await leases.read(3)
    assert stored is not None and stored.holder == "a"
