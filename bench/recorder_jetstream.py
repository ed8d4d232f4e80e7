"""The recorder's NATS JetStream sink against bare nats-py acknowledged publishes of the same messages.

Run: ``python bench/recorder_jetstream.py [--frames N] [--repeat R] [--server HOST:PORT]``
(NATS with JetStream must be up; each repetition writes into a fresh stream, deleted afterwards.)

The records are those the recorder stores for the deterministic market stream of
bench/market_stream.py (as in bench/recorder_sqlite.py), in batches of 2,000.

Anchor: bare nats-py, per batch: ``publish_async`` of every message (the sink's own envelopes,
subjects and ``Nats-Msg-Id`` headers, made before the clock starts), then wait for every ack.
Measured:
(a) ``JetStreamSink.write`` of the records, batch by batch: envelopes and subjects made, the same
    publishes, every ack awaited. Target: within 1.5x of the anchor.
(b) The whole recording path into JetStream, tap to ``Recorder.stop()`` (tap, queue, writer task, sink).
(c) Reading the recording back (``JetStreamSink.read``), beside them for its absolute rate.
(d) ``FencedJetStreamSink.write``, a fleet shard's writes: the same batches, each message expecting
    the one before it (the fencing chain). Target: within 1.5x of the anchor.

Best and median of ``--repeat`` are shown, with absolute records/s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import nats

from market_stream import build_stream
from polyinfra.record.fenced_sink import FencedJetStreamSink
from polyinfra.record.jetstream_sink import DUPLICATE_WINDOW_S, JetStreamSink, record_subject
from polyinfra.record.records import Record
from recorder_sqlite import BATCH, recorded_rows, recorder_ingest, venue_times_of


async def _in_fresh_stream(server: str, measure: Callable[[str], Awaitable[float]]) -> float:
    """``measure`` run against a new stream's URL; the stream is deleted afterwards."""
    url = f"nats://{server}/bench-{uuid.uuid4().hex[:12]}"
    try:
        return await measure(url)
    finally:
        connection = await nats.connect(f"nats://{server}")
        await connection.jetstream().delete_stream(url.rpartition("/")[2])
        await connection.close()


async def bare_publishes(rows: list[Record], url: str) -> float:
    server, _, stream = url.removeprefix("nats://").partition("/")
    messages = [
        (record_subject(stream, row.source, row.channel, row.key), msgspec.msgpack.encode(row), row.event_id)
        for row in rows
    ]
    connection = await nats.connect(f"nats://{server}")
    jetstream = connection.jetstream()
    await jetstream.add_stream(name=stream, subjects=[f"polyinfra.{stream}.>"], duplicate_window=DUPLICATE_WINDOW_S)
    started = time.perf_counter()
    for start in range(0, len(messages), BATCH):
        acks = [
            await jetstream.publish_async(subject, payload, headers={"Nats-Msg-Id": message_id})
            for subject, payload, message_id in messages[start : start + BATCH]
        ]
        await asyncio.gather(*acks)
    elapsed = time.perf_counter() - started
    await connection.close()
    return elapsed


async def sink_writes(rows: list[Record], url: str, *, fenced: bool = False) -> float:
    """``JetStreamSink.write`` (or a fleet shard's ``FencedJetStreamSink.write``) batch by batch."""
    if fenced:
        sink: JetStreamSink = FencedJetStreamSink(url, fence=1)
        await sink.claim()  # connect, create the stream and start the chain before the clock starts
        first = 0
    else:
        sink = JetStreamSink(url)
        await sink.write(rows[:1])  # connect and create the stream before the clock starts, as the anchor does
        first = 1
    started = time.perf_counter()
    for start in range(first, len(rows), BATCH):
        await sink.write(rows[start : start + BATCH])
    elapsed = time.perf_counter() - started
    await sink.close()
    return elapsed


async def sink_reads(rows: list[Record], url: str) -> float:
    sink = JetStreamSink(url)
    for start in range(0, len(rows), BATCH):
        await sink.write(rows[start : start + BATCH])
    started = time.perf_counter()
    read = [record async for record in sink.read()]
    elapsed = time.perf_counter() - started
    assert read == rows
    await sink.close()
    return elapsed


def _times(measure: Callable[[], float], repeat: int) -> tuple[float, float]:
    times = [measure() for _ in range(repeat)]
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--server", default="127.0.0.1:4222")
    args = parser.parse_args()
    stream = build_stream(frames=args.frames)
    with tempfile.TemporaryDirectory() as temporary:
        rows = asyncio.run(recorded_rows(stream, Path(temporary)))
    venue_times = venue_times_of(stream)
    server = args.server

    def run(measure: Callable[[str], Awaitable[float]]) -> tuple[float, float]:
        return _times(lambda: asyncio.run(_in_fresh_stream(server, measure)), args.repeat)

    anchor = run(lambda url: bare_publishes(rows, url))
    writes = run(lambda url: sink_writes(rows, url))
    ingest = run(lambda url: recorder_ingest(stream, venue_times, JetStreamSink(url)))
    reads = run(lambda url: sink_reads(rows, url))
    fenced = run(lambda url: sink_writes(rows, url, fenced=True))
    events = len(rows)

    def line(name: str, timing: tuple[float, float], ratio_to: tuple[float, float] | None) -> str:
        best, median = timing
        ratio = "" if ratio_to is None else f"  {best / ratio_to[0]:5.2f}x"
        return f"  {name:<46} {events / best:>10,.0f} records/s (best)  {events / median:>10,.0f} (median){ratio}"

    print(f"{events:,} records, {sum(len(row.payload) for row in rows):,} payload bytes, best of {args.repeat}")
    print(line("bare nats-py publish_async + acks (anchor)", anchor, None))
    print(line("JetStreamSink.write", writes, anchor) + "   target <= 1.50x")
    print(line("recorder: tap -> queue -> JetStream sink", ingest, anchor))
    print(line("JetStreamSink.read", reads, None))
    print(line("FencedJetStreamSink.write (a fleet shard)", fenced, anchor) + "   target <= 1.50x")


if __name__ == "__main__":
    main()
