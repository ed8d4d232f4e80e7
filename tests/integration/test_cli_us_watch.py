"""``polyinfra us watch`` as a user runs it, against an emulator over real sockets: JSON lines whose books
equal the emulator's, the plain-lines table, a one-line error for a symbol the exchange does not list, and
``--record`` making a tape that replays into the emulator's books."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from polyinfra.emulator.runner import Emulator
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.record.us_replay import UsReplay
from tests.integration.cli_steps import run_polyinfra
from tests.integration.us_market_data_steps import order_levels_micros

KC = "tec-nfl-sbw-2026-02-08-kc"
NYY = "aec-mlb-nyy-bos-2026-04-10"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    # No simulated activity: the books the command prints must equal the emulator's at the end.
    async with Emulator(markets=1, rate=0) as running:
        yield running


@pytest.mark.parametrize("raw_orders", [False, True], ids=["levels", "raw-orders"])
async def test_jsonl_lines_carry_the_emulators_books_exactly(emulator: Emulator, raw_orders: bool) -> None:
    code, out, err = await run_polyinfra(
        "us", "watch", "--grpc", emulator.urls["grpc"], "--insecure",
        "--symbols", f"{KC},{NYY}", "--jsonl", "--depth", "3", "--duration", "2",
        *(["--raw-orders"] if raw_orders else []),
    )  # fmt: skip
    assert code == 0, err
    last = {}
    for line in out.splitlines():
        record = json.loads(line)
        assert record["type"] == "book"
        last[record["token_id"]] = record
    assert set(last) == {KC, NYY}
    for symbol, record in last.items():
        assert record["sync_state"] == "live"
        # Raw orders a side, summed by price (the seeded books hold one order a level: the same levels).
        sides = order_levels_micros(emulator, symbol, 3) if raw_orders else emulator.us_market.levels_micros(symbol, 3)
        for side, levels in zip(("bids", "asks"), sides, strict=True):
            expected = [(Decimal(price) / 1_000_000, Decimal(size) / 1_000_000) for price, size in levels]
            assert [(Decimal(price), Decimal(size)) for price, size in record[side]] == expected


async def test_lines_and_an_unknown_symbol(emulator: Emulator) -> None:
    code, out, err = await run_polyinfra(
        "us", "watch", "--grpc", emulator.urls["grpc"], "--insecure", "--top", "2", "--duration", "1.5",
        "--refresh-s", "0.5",
    )  # fmt: skip
    assert code == 0, err
    assert "US live 2/2" in out and f"1. {KC}" in out and "streams 1/1" in out
    target = emulator.urls["grpc"]
    code, _, err = await run_polyinfra("us", "watch", "--grpc", target, "--insecure", "--symbols", "nope")
    assert code == 1 and "instrument does not exist" in err


async def test_a_recorded_watch_replays_into_the_books_it_showed(emulator: Emulator, tmp_path: Path) -> None:
    tape = tmp_path / "us.sqlite"
    code, _, err = await run_polyinfra(
        "us", "watch", "--grpc", emulator.urls["grpc"], "--insecure", "--symbols", f"{KC},{NYY}", "--jsonl",
        "--depth", "3", "--raw-orders", "--duration", "1", "--record", f"sqlite:///{tape}",
    )  # fmt: skip
    assert code == 0, err
    sink = SQLiteSink(tape)
    try:
        replay = UsReplay(sink)
        await replay.run()
    finally:
        await sink.close()
    # Raw orders summed by price, from the depth and aggregation the tape kept.
    assert {symbol: (book.bid_levels_micros(), book.ask_levels_micros()) for symbol, book in replay.books.items()} == {
        symbol: order_levels_micros(emulator, symbol, 3) for symbol in (KC, NYY)
    }
