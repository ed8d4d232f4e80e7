"""``book_at`` against a full replay: a session recorded from the emulator under faults (reconnects,
duplicated and malformed frames), then, at several moments, the book restored from the nearest
checkpoint and replayed forward equals the book a replay from the start reaches, level by level,
after reading fewer records. A damaged checkpoint is a typed error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from polyinfra.emulator.faults import FaultConfig
from polyinfra.errors import CorruptRecordError
from polyinfra.record.book_at import book_at
from polyinfra.record.records import RecordKind
from polyinfra.record.replay import Replay
from polyinfra.record.sink_urls import open_sink
from tests.integration.book_comparison import levels_of_book
from tests.integration.conftest import EmulatorFactory
from tests.integration.recording_steps import HANG_GUARD_S, faults_until_reconnects, recorded_books, until

RECONNECTS_WANTED = 2
CHECKPOINT_ROUNDS_WANTED = 4
MOMENTS = 6


async def test_book_at_equals_a_full_replay_at_every_moment_and_reads_less(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emulator = await emulator_factory(markets=2, seed=31, rate=200.0, faults=FaultConfig(seed=11))
    tokens = list(emulator.exchange.tokens())
    path = tmp_path / "tape.db"
    sink = open_sink(f"sqlite:///{path}")
    async with recorded_books(emulator, sink, checkpoint_interval_s=0.001) as (recorder, books):
        await faults_until_reconnects(emulator, books, RECONNECTS_WANTED)
        assert await books.wait_until_live(timeout_s=HANG_GUARD_S)
        settled = recorder.stats.checkpoints
        await until(lambda: recorder.stats.checkpoints >= settled + CHECKPOINT_ROUNDS_WANTED * len(tokens))
    assert recorder.stats.dropped == 0

    frames = [record async for record in sink.read(kinds={RecordKind.FRAME_RECEIVED})]
    # Moments spread over the second half of the tape, where checkpoints lie behind them.
    half = len(frames) // 2
    moments = [frames[half + (len(frames) - half - 1) * i // (MOMENTS - 1)].recv_wall_ns for i in range(MOMENTS)]
    resumed = 0
    for t_wall_ns in moments:
        for token in tokens:
            full = Replay(sink, keys=[token], end_wall_ns=t_wall_ns + 1)
            full_stats = await full.run()
            found = await book_at(sink, token, t_wall_ns)
            assert found.state == full.states.get(token), (token, t_wall_ns)
            assert found.book is not None
            assert levels_of_book(found.book) == levels_of_book(full.books[token]), (token, t_wall_ns)
            assert (found.book.tick_size, found.book.last_trade_price_micros) == (
                full.books[token].tick_size,
                full.books[token].last_trade_price_micros,
            )
            if found.checkpoint_event_id is not None:
                resumed += 1
                assert found.records_read < full_stats.records, (found.records_read, full_stats.records)
    assert resumed >= MOMENTS * len(tokens) // 2
    await sink.close()

    # A checkpoint whose bytes were damaged ends as a typed error naming it.
    with sqlite3.connect(path) as editor:
        (damaged, wall_ns) = editor.execute(
            "SELECT event_id, recv_wall_ns FROM records WHERE kind = ? AND key = ? ORDER BY seq DESC LIMIT 1",
            (RecordKind.CHECKPOINT.value, tokens[0]),
        ).fetchone()
        editor.execute("UPDATE records SET payload = ? WHERE event_id = ?", (b"\xc1not a checkpoint", damaged))
    damaged_sink = open_sink(f"sqlite:///{path}")
    with pytest.raises(CorruptRecordError, match="checkpoint") as raised:
        await book_at(damaged_sink, tokens[0], wall_ns)
    assert raised.value.context["event_id"] == damaged
    await damaged_sink.close()
