"""The recorder around its sink: redaction of sent frames, typed errors for hostile input (a bad
sink URL, a corrupt stored row, an undecodable recorded payload), a failing sink retried without
ending recording, venue times read from the messages, and paced replay on an injected clock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest

from polyinfra.errors import CorruptRecordError, InvalidValueError, RecorderError, SinkUrlError, SinkWriteError
from polyinfra.record.recorder import UNSTORABLE_RECORD, Recorder
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.replay import Replay
from polyinfra.record.sink_urls import open_sink
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.record.venue_time import venue_ms
from tests.record.sinks import make_records


@pytest.fixture
def sink(tmp_path: Path) -> SQLiteSink:
    return SQLiteSink(tmp_path / "tape.db")


async def _all(sink: SQLiteSink) -> list[Record]:
    return [record async for record in sink.read()]


async def test_sent_frames_are_stored_with_credentials_masked(sink: SQLiteSink) -> None:
    # The user channel's subscribe carries the API credentials (venue notes: User channel).
    subscribe = (
        '{"type": "user", "markets": [], "auth": {"apiKey": "0c4f2a5e-1b7d-4e8a-9c3f-5d6e7f8a9b0c",'
        ' "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",'
        ' "passphrase": "f0e1d2c3b4a5968778695a4b3c2d1e0f"}}'
    )
    async with Recorder(sink) as recorder:
        recorder.tap("clob", "user").frame_sent(1, subscribe)
    (sent,) = [record for record in await _all(sink) if record.kind is RecordKind.FRAME_SENT]
    assert b"0c4f2a5e" not in sent.payload
    assert b"c2VjcmV0" not in sent.payload
    assert b"f0e1d2c3" not in sent.payload
    assert msgspec.json.decode(sent.payload)["type"] == "user"


async def test_a_custom_redaction_hook_sees_every_sent_frame(sink: SQLiteSink) -> None:
    async with Recorder(sink, redact_sent=lambda frame: b"<redacted>") as recorder:
        recorder.tap("clob", "market").frame_sent(1, '{"assets_ids": ["1"]}')
    assert [r.payload for r in await _all(sink) if r.kind is RecordKind.FRAME_SENT] == [b"<redacted>"]


@pytest.mark.parametrize("url", ["mysql://localhost/x", "sqlite:///", "tape.db", "", "nats:/x"])
def test_a_sink_url_nothing_serves_is_a_typed_error(url: str) -> None:
    with pytest.raises(SinkUrlError):
        open_sink(url)


def test_a_sink_path_that_cannot_be_opened_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(RecorderError):
        open_sink(f"sqlite:///{tmp_path / 'missing-directory' / 'tape.db'}")


@pytest.mark.parametrize(
    ("column", "value"),
    [("kind", "not a kind"), ("payload", "text, not bytes"), ("recv_mono_ns", "twelve"), ("venue_ts_ms", 1.5)],
)
async def test_a_corrupt_row_is_a_typed_error(sink: SQLiteSink, tmp_path: Path, column: str, value: object) -> None:
    await sink.write(make_records(3))
    with sqlite3.connect(tmp_path / "tape.db") as editor:
        editor.execute(f"UPDATE records SET {column} = ? WHERE event_id = 's1:clob.market.1:1'", (value,))
    with pytest.raises(CorruptRecordError):
        await _all(sink)


class _FlakySink(SQLiteSink):
    """Fails its first ``failures`` writes, after storing the first of them (a commit whose answer was lost)."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures

    async def write(self, records: Sequence[Record]) -> None:
        if self.failures:
            self.failures -= 1
            await super().write(records)
            raise SinkWriteError("the disk said no")
        await super().write(records)


async def test_a_failing_sink_is_retried_and_recording_goes_on(tmp_path: Path) -> None:
    sink = _FlakySink(tmp_path / "tape.db", failures=2)
    async with Recorder(sink, retry_initial_s=0.001, retry_max_s=0.001) as recorder:
        tap = recorder.tap("clob", "market")
        for index in range(10):
            tap.frame_received(1, f"frame {index}")
    frames = [r.payload for r in await _all(sink) if r.kind is RecordKind.FRAME_RECEIVED]
    assert frames == [f"frame {index}".encode() for index in range(10)]
    assert recorder.stats.write_failures == 2
    assert recorder.acknowledged is not None


class _SizeLimitedSink(SQLiteSink):
    """Refuses for good any batch holding a payload over ``limit`` bytes, as a message server does."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(path)
        self.limit = limit

    async def write(self, records: Sequence[Record]) -> None:
        if any(len(record.payload) > self.limit for record in records):
            raise SinkWriteError("record over the server's maximum payload", retriable=False)
        await super().write(records)


async def test_a_record_the_sink_can_never_hold_becomes_a_gap_and_recording_goes_on(tmp_path: Path) -> None:
    sink = _SizeLimitedSink(tmp_path / "tape.db", limit=400)
    async with Recorder(sink, batch_size=50, retry_initial_s=0.001, retry_max_s=0.001) as recorder:
        tap = recorder.tap("clob", "market")
        for index in range(10):
            tap.frame_received(1, "x" * 500 if index == 3 else f"frame {index}")
    stored = [record for record in await _all(sink) if record.source == "clob"]
    assert [record.payload for record in stored if record.kind is RecordKind.FRAME_RECEIVED] == [
        f"frame {index}".encode() for index in range(10) if index != 3
    ]
    (gap,) = [record for record in stored if record.kind is RecordKind.GAP]
    assert gap.event_id == stored[3].event_id and stored.index(gap) == 3  # in the lost record's place
    details = msgspec.json.decode(gap.payload)
    assert (details["reason"], details["kind"], details["payload_bytes"]) == (UNSTORABLE_RECORD, "frame received", 500)
    assert details["from_wall_ns"] == details["to_wall_ns"] == gap.recv_wall_ns
    assert recorder.stats.unstorable == 1
    assert recorder.acknowledged is not None and recorder.acknowledged.records == len(await _all(sink))


async def test_a_sink_that_refuses_even_the_gap_does_not_stall_recording(tmp_path: Path) -> None:
    sink = _SizeLimitedSink(tmp_path / "tape.db", limit=50)  # smaller than any gap's details
    async with Recorder(sink, batch_size=50, retry_initial_s=0.001, retry_max_s=0.001) as recorder:
        tap = recorder.tap("clob", "market")
        for index in range(5):
            tap.frame_received(1, "x" * 500 if index == 1 else f"frame {index}")
    stored = [record.payload for record in await _all(sink) if record.kind is RecordKind.FRAME_RECEIVED]
    assert stored == [b"frame 0", b"frame 2", b"frame 3", b"frame 4"]
    assert recorder.stats.unstorable == 1


async def test_the_writer_lets_a_batch_gather_and_a_stop_cuts_the_wait_short(tmp_path: Path) -> None:
    sink = SQLiteSink(tmp_path / "tape.db")
    recorder = Recorder(sink, linger_s=3_600.0)  # far longer than the test: only the stop ends the wait
    await recorder.start()
    tap = recorder.tap("clob", "market")
    await asyncio.sleep(0)  # the writer wakes for the start's clock sample, and lingers
    for index in range(5):
        tap.frame_received(1, f"frame {index}")
    async with asyncio.timeout(30):  # a hang guard, not a timing assertion
        await recorder.stop()
    assert recorder.stats.batches == 1  # the clock samples and the five frames, in one write
    frames = [record.payload for record in await _all(sink) if record.kind is RecordKind.FRAME_RECEIVED]
    assert frames == [f"frame {index}".encode() for index in range(5)]


@pytest.mark.parametrize("linger_s", [-0.001, float("nan")])
def test_a_negative_linger_is_refused(tmp_path: Path, linger_s: float) -> None:
    with pytest.raises(InvalidValueError, match="linger_s"):
        Recorder(SQLiteSink(tmp_path / "tape.db"), linger_s=linger_s)


def test_venue_time_is_the_messages_own_or_none() -> None:
    assert venue_ms("1757908892351") == 1757908892351
    assert venue_ms(None) is None
    assert venue_ms("") is None
    assert venue_ms("12abc") is None
    assert venue_ms("-5") is None
    assert venue_ms("9" * 40) is None


async def test_a_truncated_recorded_payload_is_a_typed_error(sink: SQLiteSink) -> None:
    (record,) = make_records(1)
    subscribed = msgspec.structs.replace(record, kind=RecordKind.SUBSCRIBED, payload=b'{"token_ids": ["1", ')
    await sink.write([subscribed])
    with pytest.raises(CorruptRecordError):
        await Replay(sink).run()


async def test_paced_replay_waits_the_recorded_gaps_divided_by_the_speed(sink: SQLiteSink) -> None:
    records = make_records(5)
    spaced = [
        msgspec.structs.replace(record, recv_mono_ns=1_000_000_000 + index * 200_000_000, payload=b"[]")
        for index, record in enumerate(records)
    ]
    await sink.write(spaced)
    now_s = 100.0
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        nonlocal now_s
        waits.append(seconds)
        now_s += seconds

    stats = await Replay(sink, speed=4.0, clock=lambda: now_s, sleep=sleep).run()
    assert stats.frames == 5
    assert waits == pytest.approx([0.05, 0.05, 0.05, 0.05])
    with pytest.raises(InvalidValueError):
        Replay(sink, speed=0)
