"""The recorder's SQLite sink and replay, each against the anchor it must stay close to.

Run: ``python bench/recorder_sqlite.py [--frames N] [--repeat R]``

Both use the same deterministic market stream (bench/market_stream.py), recorded as LiveBooks
records it: the tokens subscribed on connection 1, the session opened, then every frame.

(a) Ingest. Anchor: a bare ``executemany`` of the very rows the recorder stores, into the same
    schema with the same settings (WAL, ``synchronous=FULL``, batches of 2,000 in one
    transaction each). Measured: the whole recording path, from the tap's first call to
    ``Recorder.stop()`` returning (tap, queue, writer task, worker thread, SQLite). Target: within 1.3x.
(b) Replay, two ways, each against live decode + apply of the same frames (a ``BookSync`` fed
    them as LiveBooks feeds it). With events: ``async for event in Replay(sink)``, every domain
    event built and handed to the consumer, against live building them (as for a consumer).
    Books only: ``Replay(sink).run()``, which builds no events, against live building none (as
    LiveBooks does when nobody consumes them). Measured: reading the records back from SQLite,
    parsing and applying them into the same machinery. Target: within 1.25x. Live and replay
    runs alternate, so that the load of this shared machine falls on both alike, and both are
    timed twice: wall clock, and the process's CPU time (which a busy machine disturbs far less,
    since time spent waiting for a core is not counted; the replay's reads in SQLite's worker
    thread are).

Each repetition starts from an empty file and fresh books; best and median of ``--repeat`` are shown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from msgspec.structs import astuple

from market_stream import Stream, build_stream
from polyinfra.core.book_sync import BookSync, Instant
from polyinfra.record.recorder import Recorder
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.replay import Replay
from polyinfra.record.sink import Sink
from polyinfra.record.sqlite_sink import INSERT_RECORD, SQLiteSink, connect_sqlite
from polyinfra.record.tap import ChannelTap
from polyinfra.record.venue_time import venue_ms

BATCH = 2_000
CONNECTION = 1
FRAMES_PER_READ = 200
"""Frames the tap takes between two returns to the event loop, as a socket reader would."""


def venue_times_of(stream: Stream) -> list[int | None]:
    """Each frame's venue time, which LiveBooks hands the tap from the frame its core decoded anyway."""
    times: list[int | None] = []
    for frame in stream.initial_frames + stream.frames:
        document = json.loads(frame)
        first = document[0] if isinstance(document, list) else document
        times.append(venue_ms(first.get("timestamp")))
    return times


async def record_stream(tap: ChannelTap, stream: Stream, venue_times: list[int | None]) -> None:
    """What LiveBooks records for this stream on one connection."""
    tap.tokens(RecordKind.SUBSCRIBED, CONNECTION, stream.token_ids)
    tap.lifecycle(RecordKind.CONNECTED, CONNECTION, token_ids=stream.token_ids, session=1)
    for index, frame in enumerate(stream.initial_frames + stream.frames):
        tap.frame_received(CONNECTION, frame, venue_ts_ms=venue_times[index])
        if index % FRAMES_PER_READ == 0:
            await asyncio.sleep(0)


async def recorded_rows(stream: Stream, directory: Path) -> list[Record]:
    """The records the recorder stores for the stream (read back, to feed the anchor the same rows)."""
    sink = SQLiteSink(directory / "rows.db")
    async with Recorder(sink, queue_size=len(stream.frames) + 1_000) as recorder:
        await record_stream(recorder.tap("clob", "market"), stream, venue_times_of(stream))
    rows = [record async for record in sink.read()]
    await sink.close()
    return rows


def bare_executemany(rows: list[Record], path: Path) -> float:
    tuples = [astuple(record) for record in rows]  # a record's fields are the table's columns, in order
    connection = connect_sqlite(path)
    started = time.perf_counter()
    for start in range(0, len(tuples), BATCH):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(INSERT_RECORD, tuples[start : start + BATCH])
        connection.execute("COMMIT")
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


async def recorder_ingest(stream: Stream, venue_times: list[int | None], sink: Sink) -> float:
    """The whole recording path into ``sink``, which it closes."""
    recorder = Recorder(sink, queue_size=len(stream.frames) + 1_000, batch_size=BATCH)
    await recorder.start()
    started = time.perf_counter()
    await record_stream(recorder.tap("clob", "market"), stream, venue_times)
    await recorder.stop()
    elapsed = time.perf_counter() - started
    await sink.close()
    return elapsed


class Elapsed(NamedTuple):
    wall_s: float
    cpu_s: float


def _now() -> Elapsed:
    return Elapsed(time.perf_counter(), time.process_time())


def _since(started: Elapsed) -> Elapsed:
    now = _now()
    return Elapsed(now.wall_s - started.wall_s, now.cpu_s - started.cpu_s)


def live_apply(stream: Stream, *, events: bool) -> Elapsed:
    sync = BookSync(random=lambda: 0.0)
    sync.emit_events = events
    frames = stream.initial_frames + stream.frames
    started = _now()
    sync.add(stream.token_ids, CONNECTION, Instant(0.0, 0))
    sync.connection_proven(CONNECTION, Instant(0.0, 0))
    for index, frame in enumerate(frames):
        sync.receive_frame(CONNECTION, frame, Instant(index / 1e6, index))
        sync.take_events()
    return _since(started)


async def replay(path: Path, *, events: bool) -> Elapsed:
    sink = SQLiteSink(path)
    started = _now()
    if events:
        async for _ in Replay(sink):
            pass
    else:
        await Replay(sink).run()
    elapsed = _since(started)
    await sink.close()
    return elapsed


def _times(measure: Callable[[int], float], repeat: int) -> tuple[float, float]:
    return _best_and_median([measure(run) for run in range(repeat)])


def _best_and_median(times: list[float]) -> tuple[float, float]:
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    stream = build_stream(frames=args.frames)
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        rows = asyncio.run(recorded_rows(stream, directory))
        events = len(rows)
        anchor = _times(lambda run: bare_executemany(rows, directory / f"anchor-{run}.db"), args.repeat)
        venue_times = venue_times_of(stream)
        ingest = _times(
            lambda run: asyncio.run(recorder_ingest(stream, venue_times, SQLiteSink(directory / f"ingest-{run}.db"))),
            args.repeat,
        )
        # (events?, clock) -> (live timings, replay timings), runs alternating.
        timings: dict[tuple[bool, str], tuple[list[float], list[float]]] = {}
        for _ in range(args.repeat):
            for with_events in (True, False):
                live = live_apply(stream, events=with_events)
                replayed = asyncio.run(replay(directory / "ingest-0.db", events=with_events))
                for clock in ("wall", "cpu"):
                    lives, replays = timings.setdefault((with_events, clock), ([], []))
                    lives.append(live.wall_s if clock == "wall" else live.cpu_s)
                    replays.append(replayed.wall_s if clock == "wall" else replayed.cpu_s)

    def line(name: str, timing: tuple[float, float], anchor_timing: tuple[float, float] | None) -> str:
        best, median = timing
        ratio = "" if anchor_timing is None else f"  {best / anchor_timing[0]:5.2f}x"
        return f"  {name:<42} {events / best:>12,.0f} events/s (best)  {events / median:>12,.0f} (median){ratio}"

    print(f"{events:,} records ({len(stream.frames) + len(stream.initial_frames):,} frames), best of {args.repeat}")
    print("ingest")
    print(line("bare executemany (anchor)", anchor, None))
    print(line("recorder: tap -> queue -> SQLite sink", ingest, anchor) + "   target <= 1.30x")
    for (with_events, clock), (lives, replays) in timings.items():
        print(f"replay, {'with events' if with_events else 'books only'}, {clock} clock")
        live_timing = _best_and_median(lives)
        print(line("live decode + apply (anchor)", live_timing, None))
        print(line("replay: read + parse + apply", _best_and_median(replays), live_timing) + "   target <= 1.25x")


if __name__ == "__main__":
    main()
