"""``export_parquet`` read back and compared with the tape: a session recorded from the emulator is
exported, then the book delta rows rebuilt into books equal the replayed books level by level,
every ``last_trade_price`` of the tape is a trade row with the same numbers, the best bid and ask
rows end where the books end, and the numbers are exact decimals (pyarrow, and pandas when it is
installed). A directory that already holds files is refused with a typed error."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pandas
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from polyinfra.errors import ExportError
from polyinfra.record.export import export_parquet
from polyinfra.record.records import RecordKind
from polyinfra.record.replay import Replay
from polyinfra.record.sink_urls import open_sink
from tests.integration.book_comparison import levels_of_book
from tests.integration.conftest import EmulatorFactory
from tests.integration.recording_steps import recorded_books, until

FRAMES_WANTED = 300
EXACT = pa.decimal128(19, 6)


async def test_export_reads_back_equal_to_the_tape(emulator_factory: EmulatorFactory, tmp_path: Path) -> None:
    emulator = await emulator_factory(markets=2, seed=5, rate=200.0)
    tokens = list(emulator.exchange.tokens())
    sink = open_sink(f"sqlite:///{tmp_path / 'tape.db'}")
    async with recorded_books(emulator, sink, checkpoint_interval_s=0.05) as (_, books):
        frames_wanted = books.stats.frames + FRAMES_WANTED
        await until(lambda: books.stats.frames >= frames_wanted)

    out = tmp_path / "export"
    summary = await export_parquet(sink, out)
    replay = Replay(sink)
    await replay.run()
    tape = [record async for record in sink.read(kinds={RecordKind.FRAME_RECEIVED})]

    # Partitioned by source and date, with the manifest beside the tables.
    for table in ("book_deltas", "trades", "best_bid_ask"):
        assert list((out / table).glob("source=clob/date=*/part-*.parquet")), table
    coverage = json.loads((out / "coverage.json").read_text())
    assert set(coverage["keys"]) == set(tokens)
    assert all(coverage["keys"][token]["covered"] for token in tokens)

    deltas = pq.read_table(out / "book_deltas")
    assert deltas.schema.field("price").type == EXACT and deltas.schema.field("size").type == EXACT
    assert deltas.num_rows == summary.rows["book_deltas"] > 0
    rebuilt: dict[str, tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]] = {}
    snapshot_of: dict[str, str] = {}
    for row in deltas.to_pylist():
        token = row["token_id"]
        if row["is_snapshot"] and snapshot_of.get(token) != row["event_id"]:
            rebuilt[token] = ({}, {})
            snapshot_of[token] = row["event_id"]
        elif not row["is_snapshot"]:
            snapshot_of.pop(token, None)
        if row["side"] is None:
            continue
        side = rebuilt[token][0 if row["side"] == "bid" else 1]
        if row["size"]:
            side[row["price"]] = row["size"]
        else:
            side.pop(row["price"], None)
    assert rebuilt == {token: levels_of_book(replay.books[token]) for token in tokens}

    # Every trade of the tape, with its numbers as the venue sent them.
    sent: Counter[tuple[str, Decimal, Decimal, str]] = Counter()
    for frame in tape:
        document = json.loads(frame.payload)
        for event in document if isinstance(document, list) else [document]:
            if event.get("event_type") == "last_trade_price" and event["asset_id"] in tokens:
                sent[(event["asset_id"], Decimal(event["price"]), Decimal(event["size"]), event["side"])] += 1
    trades = pq.read_table(out / "trades")
    assert trades.schema.field("price").type == EXACT
    exported = Counter((row["token_id"], row["price"], row["size"], row["side"]) for row in trades.to_pylist())
    assert exported == sent and sum(sent.values()) > 0

    best = pq.read_table(out / "best_bid_ask").to_pylist()
    for token in tokens:
        last = [row for row in best if row["token_id"] == token][-1]
        book = replay.books[token]
        assert (last["bid_price"], last["bid_size"]) == tuple(book.best_bid() or (None, None))
        assert (last["ask_price"], last["ask_size"]) == tuple(book.best_ask() or (None, None))

    frame = pandas.read_parquet(out / "trades")
    assert len(frame) == trades.num_rows
    assert all(isinstance(price, Decimal) for price in frame["price"])

    # One token alone: only its rows and its coverage.
    alone = tmp_path / "alone"
    await export_parquet(sink, alone, keys=[tokens[0]])
    for table in ("book_deltas", "trades", "best_bid_ask"):
        assert set(pq.read_table(alone / table).column("token_id").to_pylist()) <= {tokens[0]}, table
    assert list(json.loads((alone / "coverage.json").read_text())["keys"]) == [tokens[0]]

    with pytest.raises(ExportError, match="not empty"):
        await export_parquet(sink, out)
    await sink.close()
