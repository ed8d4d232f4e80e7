"""US market-data tapes: a live UsLiveBooks session against the emulator, recorded with a stream dropped in
the middle, replays into the very books live held; ``book_at`` reaches the replay's book at any moment; the
Parquet export rebuilds the same books; coverage shows the drop's gap; ``polyinfra replay --channel us``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from polyinfra.emulator.runner import Emulator
from polyinfra.errors import ExportError
from polyinfra.model.events import BookUpdated, SyncState
from polyinfra.model.numbers import to_micros
from polyinfra.record.book_at import book_at
from polyinfra.record.coverage import read_manifest
from polyinfra.record.export import export_parquet
from polyinfra.record.records import RecordKind
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.record.us_replay import UsReplay
from tests.integration.cli_steps import run_polyinfra_in_process
from tests.integration.us_tape_steps import Levels, levels, record_us_session


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0, us_markets=12) as running:
        running.us_market_data_faults.heartbeat_interval_s = 0.05
        yield running


@pytest.fixture
async def tape(emulator: Emulator, tmp_path: Path) -> AsyncIterator[tuple[SQLiteSink, dict[str, Levels], Path]]:
    """A recorded session with every stream dropped once (:func:`record_us_session`), with the live books' levels."""
    path = tmp_path / "us.sqlite"
    sink = SQLiteSink(path)
    live = await record_us_session(emulator, sink)
    yield sink, live, path
    await sink.close()


async def test_a_replayed_tape_gives_the_live_books_across_a_dropped_stream(
    tape: tuple[SQLiteSink, dict[str, Levels], Path],
) -> None:
    sink, live, _ = tape
    lost = [r async for r in sink.read(kinds={RecordKind.CONNECTION_LOST}) if r.source == "us"]
    assert lost, "the tape holds the drop"
    replay = UsReplay(sink)
    events = [event async for event in replay]
    assert {symbol: levels(book) for symbol, book in replay.books.items()} == live
    assert all(state is SyncState.LIVE for state in replay.states.values())
    assert replay.stats.updates > 0 and replay.stats.invalid_updates == 0 == replay.stats.malformed_frames
    # Each symbol went stale at the drop and its next session's first update was a snapshot again.
    snapshots = [e for e in events if isinstance(e, BookUpdated) and e.snapshot]
    assert len(snapshots) >= 2 * len(live)
    manifest = (await read_manifest(sink)).manifest
    span = await read_manifest(sink)
    assert span.first_wall_ns is not None and span.last_wall_ns is not None
    for symbol in live:
        found = manifest.coverage(symbol, span.first_wall_ns, span.last_wall_ns, source="us", channel="marketdata")
        assert found.covered and any(gap.reason != "subscribed" for gap in found.gaps), found


async def test_book_at_is_the_replays_book_at_that_moment(tape: tuple[SQLiteSink, dict[str, Levels], Path]) -> None:
    sink, live, _ = tape
    symbol = sorted(live)[3]
    seen: list[tuple[int, Levels | None, SyncState | None]] = []
    replay = UsReplay(sink)
    async for record, _events in replay.steps():
        book = replay.books.get(symbol)
        seen.append((record.recv_wall_ns, None if book is None else levels(book), replay.states.get(symbol)))
    # Moments at the start, amid the session, just after the drop, and at the end; the last record of a
    # receive time is the one the book stands at.
    drop_ns = min([r.recv_wall_ns async for r in sink.read(kinds={RecordKind.CONNECTION_LOST})])
    moments = [seen[0][0], seen[len(seen) // 3][0], drop_ns, seen[-1][0]]
    for moment in moments:
        expected = [entry for entry in seen if entry[0] <= moment][-1]
        found = await book_at(sink, symbol, moment, source="us")
        assert (None if found.book is None else levels(found.book), found.state) == expected[1:]
    assert (await book_at(sink, symbol, seen[-1][0], source="us")).book is not None
    last = await book_at(sink, symbol, seen[-1][0], source="us")
    assert last.book is not None and levels(last.book) == live[symbol]


async def test_the_parquet_export_rebuilds_the_live_books(
    tape: tuple[SQLiteSink, dict[str, Levels], Path], tmp_path: Path
) -> None:
    sink, live, _ = tape
    summary = await export_parquet(sink, tmp_path / "out", source="us")
    assert summary.rows["book_deltas"] > 0 and summary.rows["best_bid_ask"] > 0
    rows = pq.read_table(tmp_path / "out" / "book_deltas").sort_by([("recv_mono_ns", "ascending")]).to_pylist()
    assert all(path.parts[-3] == "source=us" for path in summary.files if path.suffix == ".parquet")
    rebuilt: dict[str, dict[str, dict[int, int]]] = {}
    last_snapshot: dict[str, str] = {}
    for row in rows:
        symbol = row["token_id"]
        if row["is_snapshot"] and last_snapshot.get(symbol) != row["event_id"]:
            rebuilt[symbol] = {"bid": {}, "ask": {}}  # a snapshot's rows replace the book
            last_snapshot[symbol] = row["event_id"]
        if row["side"] is None:
            continue
        side = rebuilt[symbol][row["side"]]
        price, size = to_micros(row["price"]), to_micros(row["size"])
        if size:
            side[price] = size
        else:
            side.pop(price, None)
    for symbol, (bids, asks) in live.items():
        assert sorted(rebuilt[symbol]["bid"].items(), reverse=True) == bids
        assert sorted(rebuilt[symbol]["ask"].items()) == asks
    coverage = json.loads((tmp_path / "out" / "coverage.json").read_text())
    assert (coverage["source"], coverage["channel"]) == ("us", "marketdata") and set(coverage["keys"]) == set(live)
    with pytest.raises(ExportError, match="no such source"):
        await export_parquet(sink, tmp_path / "other", source="user")


async def test_the_replay_and_coverage_commands_show_the_us_books(
    tape: tuple[SQLiteSink, dict[str, Levels], Path],
) -> None:
    _, live, path = tape
    symbol = sorted(live)[0]
    code, out, err = await run_polyinfra_in_process(
        "replay", "--sink", f"sqlite:///{path}", "--channel", "us", "--key", symbol
    )
    assert code == 0, err
    assert out.startswith(f"{symbol}: live · bid ") and "0 refused" in out
    code, out, err = await run_polyinfra_in_process("coverage", "--sink", f"sqlite:///{path}", "--key", symbol)
    assert code == 0, err
    assert out.startswith(f"us/marketdata {symbol}: covered ") and "gap" in out
