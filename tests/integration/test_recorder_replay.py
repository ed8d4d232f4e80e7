"""Record LiveBooks against the emulator under faults (reconnect drops, duplicated and malformed
frames, audits), then replay the recording: every hash and best price the live feed verified is
verified again with the same outcome, every checkpoint of the live books matches, and the replayed
final books equal the live final books level by level. The coverage manifest shows the reconnects."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import msgspec

from polyinfra.emulator.faults import FaultConfig
from polyinfra.model.events import BookUpdated
from polyinfra.record.book_checkpoint import BookCheckpoint
from polyinfra.record.coverage import CoverageManifest
from polyinfra.record.records import RecordKind
from polyinfra.record.replay import Replay
from polyinfra.record.sink_urls import open_sink
from tests.integration.book_comparison import assert_ends_equal_to_rest, levels_of_book
from tests.integration.conftest import EmulatorFactory
from tests.integration.recording_steps import faults_until_reconnects, recorded_books, until

RECONNECTS_WANTED = 3
CHECKPOINT_ROUNDS_WANTED = 3


async def test_replay_of_a_faulty_session_rebuilds_the_live_books_exactly(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emulator = await emulator_factory(markets=3, seed=29, rate=150.0, faults=FaultConfig(seed=7))
    tokens = list(emulator.exchange.tokens())
    sink = open_sink(f"sqlite:///{tmp_path / 'tape.db'}")
    async with recorded_books(emulator, sink, checkpoint_interval_s=0.001) as (recorder, books):
        await faults_until_reconnects(emulator, books, RECONNECTS_WANTED)
        emulator.pause()
        await assert_ends_equal_to_rest(books, emulator, tokens)
        # Checkpoints of the settled books, a few watchdog ticks' worth.
        settled = recorder.stats.checkpoints
        await until(lambda: recorder.stats.checkpoints >= settled + CHECKPOINT_ROUNDS_WANTED * len(tokens))
    live = books.stats
    live_books = {token: levels_of_book(books.book(token)) for token in tokens}
    live_states = dict(books.states())  # STALE: stopping closed the sockets, which the tape recorded
    assert recorder.stats.dropped == 0
    assert live.malformed_frames > 0 and live.reconnects >= RECONNECTS_WANTED

    replay = Replay(sink)
    stats = await replay.run()
    assert stats.first_divergence is None
    assert stats.checkpoints_diverged == 0
    assert stats.checkpoints_matched >= CHECKPOINT_ROUNDS_WANTED * len(tokens)
    assert stats.frames == live.frames
    assert stats.malformed_frames == live.malformed_frames
    assert stats.hash_mismatches == live.hash_mismatches
    assert stats.best_price_mismatches == live.best_price_mismatches
    assert stats.rest_responses >= 1
    assert {token: levels_of_book(replay.books[token]) for token in tokens} == live_books
    assert dict(replay.states) == live_states

    # One token alone replays into the same book; the events can start at any point of the tape.
    alone = Replay(sink, keys=[tokens[0]])
    events = [event async for event in alone]
    assert list(alone.books) == [tokens[0]]
    assert levels_of_book(alone.books[tokens[0]]) == live_books[tokens[0]]
    assert alone.stats.first_divergence is None
    assert any(isinstance(event, BookUpdated) for event in events)
    assert {event.token_id for event in events if isinstance(event, BookUpdated)} == {tokens[0]}
    middle_ns = events[len(events) // 2].received_ns
    later = [event async for event in Replay(sink, keys=[tokens[0]], start_wall_ns=middle_ns)]
    assert 0 < len(later) < len(events)

    # Venue times come from the messages themselves (a frame's first event), never from a local clock.
    frames = [record async for record in sink.read(kinds={RecordKind.FRAME_RECEIVED})]
    stamped = [frame for frame in frames if frame.venue_ts_ms is not None]
    for frame in stamped:
        document = json.loads(frame.payload)
        first = document[0] if isinstance(document, list) else document
        assert frame.venue_ts_ms == int(first["timestamp"]), frame
    assert len(stamped) > len(frames) // 2

    manifest = CoverageManifest.of([record async for record in sink.read()])
    everything = (0, 2**63 - 1)
    for token in tokens:
        coverage = manifest.coverage(token, *everything)
        assert coverage.covered, token
        reasons = {gap.reason for gap in coverage.gaps}
        assert "subscribed" in reasons
        assert reasons & {"disconnected", "malformed frame"}, reasons
    await sink.close()

    # A checkpoint the replayed book does not match is reported, with its event id.
    with sqlite3.connect(tmp_path / "tape.db") as editor:
        (tampered,) = editor.execute(
            "SELECT event_id FROM records WHERE kind = ? ORDER BY seq DESC LIMIT 1", (RecordKind.CHECKPOINT.value,)
        ).fetchone()
        (payload,) = editor.execute("SELECT payload FROM records WHERE event_id = ?", (tampered,)).fetchone()
        wrong = msgspec.structs.replace(msgspec.msgpack.decode(payload, type=BookCheckpoint), digest="0" * 40)
        editor.execute("UPDATE records SET payload = ? WHERE event_id = ?", (msgspec.msgpack.encode(wrong), tampered))
    tampered_sink = open_sink(f"sqlite:///{tmp_path / 'tape.db'}")
    diverged = await Replay(tampered_sink).run()
    await tampered_sink.close()
    assert diverged.checkpoints_diverged == 1
    assert diverged.first_divergence is not None
    assert diverged.first_divergence.event_id == tampered
    assert diverged.first_divergence.recorded_digest == "0" * 40
