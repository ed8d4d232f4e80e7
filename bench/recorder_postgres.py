"""The recorder's PostgreSQL sink against the anchor it must stay close to: a bare psycopg COPY.

Run: ``python bench/recorder_postgres.py [--url URL] [--frames N] [--repeat R]``
(default URL: the local test server, postgresql://127.0.0.1:5432/test; every repetition works in
a fresh schema of its own, dropped after.)

The rows are the records the recorder stores for the deterministic market stream of
bench/market_stream.py, recorded as LiveBooks records it (as bench/recorder_sqlite.py does).

Anchor: a bare binary ``COPY`` of the very rows into the same table (``polyinfra_records``, with
its day partition already made, its primary key and ``seq`` index), batches of 2,000 in one
transaction each, with psycopg's AsyncConnection. Measured, each against it (target: within 1.3x):

(a) the sink alone: ``PostgresSink.write`` of the same rows in the same batches (the write lock,
    then a ``COPY`` straight into the table inside a savepoint, one transaction);
(b) the whole recording path, from the tap's first call to ``Recorder.stop()`` returning (tap,
    queue, writer task, the sink), as the SQLite bench measures it.

And for information, the deduplicating way: (c) every batch written a second time, as a writer
restarted after a crash re-sends it (each copy is refused by the primary key and undone, then the
batch goes through the staging table and ``INSERT ... ON CONFLICT DO NOTHING``, storing nothing).

The tables and the rows' day partition are made before any clock starts: every figure is of
steady ingest, where a day's partition is made once a day.

Best and median of ``--repeat`` are shown. The server shares the machine's two cores with the
client, so both sides' work is in every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg

from market_stream import Stream, build_stream
from polyinfra.record.postgres_sink import COLUMN_TYPES, DAY_NS, RECORDS_TABLE, PostgresSink, make_day_partitions
from polyinfra.record.records import Record
from polyinfra.record.stored_rows import RECORD_COLUMNS, row_of
from recorder_sqlite import BATCH, recorded_rows, recorder_ingest, venue_times_of


@asynccontextmanager
async def fresh_schema(server_url: str) -> AsyncIterator[str]:
    """The URL of a new, empty schema on the server (dropped after)."""
    schema = f"polyinfra_bench_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(f"CREATE SCHEMA {schema}")
        try:
            separator = "&" if "?" in server_url else "?"
            yield f"{server_url}{separator}options=-csearch_path%3D{schema}"
        finally:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")


async def _tables_and_partitions(rows: list[Record], url: str) -> None:
    """The tables (made by the sink, with no record written) and the rows' day partitions, made
    before any clock starts: every measurement is of steady ingest, where a day's partition is
    made once a day."""
    sink = PostgresSink(url)
    await sink.headers()
    await sink.close()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await make_day_partitions(connection, {record.recv_wall_ns // DAY_NS for record in rows})


async def bare_copy(rows: list[Record], url: str) -> float:
    await _tables_and_partitions(rows, url)
    tuples = [row_of(record) for record in rows]
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        started = time.perf_counter()
        for start in range(0, len(tuples), BATCH):
            async with connection.transaction(), connection.cursor() as cursor:
                copy_sql = f"COPY {RECORDS_TABLE} ({RECORD_COLUMNS}) FROM STDIN (FORMAT BINARY)"
                async with cursor.copy(copy_sql) as copy:
                    copy.set_types(list(COLUMN_TYPES.values()))
                    for row in tuples[start : start + BATCH]:
                        await copy.write_row(row)
        return time.perf_counter() - started


async def _timed_writes(sink: PostgresSink, rows: list[Record]) -> float:
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        await sink.write(rows[start : start + BATCH])
    return time.perf_counter() - started


async def sink_writes(rows: list[Record], url: str) -> float:
    await _tables_and_partitions(rows, url)
    sink = PostgresSink(url)
    await sink.headers()  # connected, tables made: the anchor's clock starts there too
    elapsed = await _timed_writes(sink, rows)
    await sink.close()
    return elapsed


async def sink_rewrites(rows: list[Record], url: str) -> float:
    await _tables_and_partitions(rows, url)
    sink = PostgresSink(url)
    await _timed_writes(sink, rows)  # stored once, outside the clock
    elapsed = await _timed_writes(sink, rows)
    await sink.close()
    return elapsed


async def recorder_into_postgres(rows: list[Record], stream: Stream, venue_times: list[int | None], url: str) -> float:
    await _tables_and_partitions(rows, url)
    return await recorder_ingest(stream, venue_times, PostgresSink(url))


async def _times(server_url: str, measure: Callable[[str], Awaitable[float]], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        async with fresh_schema(server_url) as url:
            times.append(await measure(url))
    return min(times), statistics.median(times)


async def run(server_url: str, frames: int, repeat: int) -> None:
    stream = build_stream(frames=frames)
    with tempfile.TemporaryDirectory() as temporary:
        rows = await recorded_rows(stream, Path(temporary))
    events = len(rows)
    venue_times = venue_times_of(stream)
    anchor = await _times(server_url, lambda url: bare_copy(rows, url), repeat)
    written = await _times(server_url, lambda url: sink_writes(rows, url), repeat)
    recorded = await _times(server_url, lambda url: recorder_into_postgres(rows, stream, venue_times, url), repeat)
    rewritten = await _times(server_url, lambda url: sink_rewrites(rows, url), repeat)

    def line(name: str, timing: tuple[float, float], anchor_timing: tuple[float, float] | None, target: str) -> str:
        best, median = timing
        ratio = "" if anchor_timing is None else f"  {best / anchor_timing[0]:5.2f}x{target}"
        return f"  {name:<46} {events / best:>12,.0f} events/s (best)  {events / median:>12,.0f} (median){ratio}"

    print(f"{events:,} records ({len(stream.frames) + len(stream.initial_frames):,} frames), best of {repeat}")
    target = "   target <= 1.30x"
    print(line("bare psycopg COPY (anchor)", anchor, None, ""))
    print(line("(a) PostgresSink.write", written, anchor, target))
    print(line("(b) recorder: tap -> queue -> PostgreSQL sink", recorded, anchor, target))
    print(line("(c) PostgresSink.write, every batch again", rewritten, anchor, "   (no target: after a crash)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.url, args.frames, args.repeat))


if __name__ == "__main__":
    main()
