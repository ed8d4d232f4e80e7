"""The sink contract, run against every sink in ``tests.record.sinks.SINKS``: written order, every
field intact, each ``event_id`` stored once, the recorder's acknowledged watermark, overflow gaps,
and ``kill -9`` of a writer process at several points followed by a restart."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import msgspec
import pytest

from polyinfra.obs.metrics import REGISTRY
from polyinfra.record.recorder import Recorder
from polyinfra.record.records import Record, RecordKind, SessionHeader
from polyinfra.record.sink import Sink
from polyinfra.record.sink_urls import open_sink
from polyinfra.record.tap import QUEUE_OVERFLOW
from tests.record.sinks import SINKS, make_records, sink_url

HANG_GUARD_S = 60.0


@pytest.fixture(params=SINKS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return sink_url(request.param, tmp_path)


@pytest.fixture
async def sink(url: str) -> AsyncIterator[Sink]:
    opened = open_sink(url)
    yield opened
    await opened.close()


async def _all(sink: Sink, **filters: object) -> list[Record]:
    return [record async for record in sink.read(**filters)]  # type: ignore[arg-type]


async def test_reads_back_every_field_in_written_order(sink: Sink) -> None:
    records = make_records(5_000)
    for start in range(0, len(records), 700):
        await sink.write(records[start : start + 700])
    assert await _all(sink) == records


async def test_writing_an_event_again_stores_it_once(sink: Sink) -> None:
    records = make_records(300)
    await sink.write(records[:200])
    await sink.write(records[100:])  # a restarted writer re-sends what it cannot prove was stored
    await sink.write(records[:50])
    stored = await _all(sink)
    assert [record.event_id for record in stored] == [record.event_id for record in records]


async def test_reads_a_window_of_kinds(sink: Sink) -> None:
    records = make_records(100)
    gap = msgspec.structs.replace(records[60], event_id="s1:recorder..0:0", kind=RecordKind.GAP)
    await sink.write([*records, gap])
    window = await _all(sink, start_wall_ns=records[10].recv_wall_ns, end_wall_ns=records[20].recv_wall_ns)
    assert window == records[10:20]
    assert await _all(sink, kinds={RecordKind.GAP}) == [gap]
    assert await _all(sink, kinds=set()) == []


async def test_reads_one_source_and_channel(sink: Sink) -> None:
    records = make_records(42)
    elsewhere = [("clob", "user"), ("rtds", "market"), ("rtds", "user")] * 14
    others = [
        msgspec.structs.replace(record, event_id=f"{record.event_id}-{place}", source=place[0], channel=place[1])
        for record, place in zip(records, elsewhere, strict=True)
    ]
    await sink.write([record for pair in zip(records, others, strict=True) for record in pair])
    assert await _all(sink, source_channel=("clob", "market")) == records
    assert await _all(sink, source_channel=("rtds", "user")) == others[2::3]
    window = records[5:9]
    filters = {"start_wall_ns": window[0].recv_wall_ns, "end_wall_ns": window[-1].recv_wall_ns + 1}
    assert await _all(sink, source_channel=("clob", "market"), kinds={RecordKind.FRAME_RECEIVED}, **filters) == window
    assert await _all(sink, source_channel=("clob", "nothing")) == []


async def test_session_headers_round_trip(sink: Sink) -> None:
    first = SessionHeader("s1", "host-a", 1_000, 7, "clock_gettime(CLOCK_REALTIME)")
    second = SessionHeader("s2", "host-a", 2_000, 9, "clock_gettime(CLOCK_REALTIME)")
    await sink.write_header(second)
    await sink.write_header(first)
    await sink.write_header(first)
    assert await sink.headers() == [first, second]


async def test_the_watermark_is_the_last_record_stored(sink: Sink) -> None:
    async with Recorder(sink, batch_size=64) as recorder:
        tap = recorder.tap("clob", "market")
        for index in range(1_000):
            tap.frame_received(1, f'{{"n": {index}}}')
    stored = await _all(sink)
    watermark = recorder.acknowledged
    assert watermark is not None
    assert watermark.event_id == stored[-1].event_id
    assert watermark.records == len(stored) == recorder.stats.written
    frames = [record for record in stored if record.kind is RecordKind.FRAME_RECEIVED]
    assert [record.payload for record in frames] == [f'{{"n": {index}}}'.encode() for index in range(1_000)]
    assert [record.recv_mono_ns for record in stored] == sorted(record.recv_mono_ns for record in stored)
    assert await sink.headers() == [recorder.header]


class _GatedSink(Sink):
    """Passes writes to ``inner`` once ``gate`` is set: holds the writer so the queue can fill."""

    def __init__(self, inner: Sink) -> None:
        self.url = inner.url
        self._inner = inner
        self.gate = asyncio.Event()
        self.write_started = asyncio.Event()

    async def write_header(self, header: SessionHeader) -> None:
        await self._inner.write_header(header)

    async def write(self, records: Sequence[Record]) -> None:
        self.write_started.set()
        await self.gate.wait()
        await self._inner.write(records)

    def read_chunks(self, **filters: object) -> AsyncIterator[Sequence[Record]]:  # type: ignore[override]
        return self._inner.read_chunks(**filters)  # type: ignore[arg-type]

    async def headers(self) -> list[SessionHeader]:
        return await self._inner.headers()

    async def close(self) -> None:
        await self._inner.close()


def _dropped_metric() -> float:
    value = REGISTRY.get_sample_value("polyinfra_recorder_dropped_total", {"source": "clob", "channel": "market"})
    return value or 0.0


async def test_an_overflow_is_a_stored_gap_never_a_silent_loss(sink: Sink) -> None:
    gated = _GatedSink(sink)
    dropped_before = _dropped_metric()
    recorder = Recorder(gated, queue_size=6)
    await recorder.start()
    tap = recorder.tap("clob", "market")
    await asyncio.wait_for(gated.write_started.wait(), HANG_GUARD_S)  # the writer holds the clock sample
    for index in range(9):
        tap.frame_received(1, f"frame {index}")
    assert recorder.stats.dropped == 3
    assert recorder.stats.queued == 6
    gated.gate.set()
    async with asyncio.timeout(HANG_GUARD_S):
        while recorder.stats.queued:
            await asyncio.sleep(0.01)
    tap.frame_received(1, "after the overflow")
    await recorder.stop()
    stored = [record for record in await _all(sink) if record.source == "clob"]
    assert [record.kind for record in stored] == [RecordKind.FRAME_RECEIVED] * 6 + [
        RecordKind.GAP,
        RecordKind.FRAME_RECEIVED,
    ]
    gap = msgspec.json.decode(stored[6].payload)
    assert gap["reason"] == QUEUE_OVERFLOW
    assert gap["dropped"] == 3
    assert stored[5].recv_wall_ns <= gap["from_wall_ns"] <= gap["to_wall_ns"] <= stored[7].recv_wall_ns
    assert _dropped_metric() - dropped_before == 3


def _writer(mode: str, url: str, count: int, batch_size: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.record.sink_writer_child", mode, url, str(count), str(batch_size)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )


async def _kill_after(writer: subprocess.Popen[str], acknowledgements: int) -> tuple[int, str]:
    """SIGKILL the writer right after it printed its ``acknowledgements``-th watermark; returns that watermark."""
    assert writer.stdout is not None
    line = ""
    for _ in range(acknowledgements):
        line = await asyncio.wait_for(asyncio.to_thread(writer.stdout.readline), HANG_GUARD_S)
        assert line.startswith("acked "), f"the writer ended early: {line!r}"
    writer.kill()  # while the next batch is on its way
    writer.wait()
    _, count, event_id = line.split()
    return int(count), event_id


@pytest.mark.parametrize("kill_after_acks", [1, 4, 9])
async def test_kill_9_loses_no_acknowledged_event_and_stores_none_twice(url: str, kill_after_acks: int) -> None:
    batches, batch_size = 12, 250
    acknowledged, last_event_id = await _kill_after(_writer("sink", url, batches, batch_size), kill_after_acks)
    records = make_records(batches * batch_size)
    assert records[acknowledged - 1].event_id == last_event_id
    sink = open_sink(url)
    try:
        stored_ids = [record.event_id for record in await _all(sink)]
        assert len(stored_ids) == len(set(stored_ids))
        assert {record.event_id for record in records[:acknowledged]} <= set(stored_ids)
    finally:
        await sink.close()

    restarted = _writer("sink", url, batches, batch_size)  # re-sends everything, from the first record
    assert await asyncio.to_thread(restarted.wait) == 0
    sink = open_sink(url)
    try:
        assert await _all(sink) == records
    finally:
        await sink.close()


@pytest.mark.parametrize("kill_after_acks", [2, 5])
async def test_kill_9_of_a_recorder_keeps_everything_below_its_watermark(url: str, kill_after_acks: int) -> None:
    frames = 20_000
    acknowledged, last_event_id = await _kill_after(_writer("recorder", url, frames, 100), kill_after_acks)
    restarted = _writer("recorder", url, 300, 100)  # a new session after the crash, run to its end
    assert await asyncio.to_thread(restarted.wait) == 0
    sink = open_sink(url)
    try:
        stored = await _all(sink)
        headers = await sink.headers()
    finally:
        await sink.close()
    assert len({record.event_id for record in stored}) == len(stored)
    crashed, after = ([record for record in stored if record.session_id == header.session_id] for header in headers)
    # Everything up to the watermark, in order and without a hole: the clock sample, then frames 0, 1, 2...
    assert crashed[acknowledged - 1].event_id == last_event_id
    received = [record.payload for record in crashed[:acknowledged] if record.kind is RecordKind.FRAME_RECEIVED]
    assert received == [f"frame {index}".encode() for index in range(len(received))]
    assert len(received) == acknowledged - 1
    assert [record.payload for record in after if record.kind is RecordKind.FRAME_RECEIVED] == [
        f"frame {index}".encode() for index in range(300)
    ]
