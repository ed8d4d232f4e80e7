"""``polyinfra us watch`` as a user runs it, against an emulator over real sockets: JSON lines whose books
equal the emulator's, the plain-lines table, and a one-line error for a symbol the exchange does not list."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from polyinfra.emulator.runner import Emulator
from tests.integration.cli_steps import run_polyinfra

KC = "tec-nfl-sbw-2026-02-08-kc"
NYY = "aec-mlb-nyy-bos-2026-04-10"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    # No simulated activity: the books the command prints must equal the emulator's at the end.
    async with Emulator(markets=1, rate=0) as running:
        yield running


async def test_jsonl_lines_carry_the_emulators_books_exactly(emulator: Emulator) -> None:
    code, out, err = await run_polyinfra(
        "us", "watch", "--grpc", emulator.urls["grpc"], "--insecure",
        "--symbols", f"{KC},{NYY}", "--jsonl", "--depth", "3", "--duration", "2",
    )  # fmt: skip
    assert code == 0, err
    last = {}
    for line in out.splitlines():
        record = json.loads(line)
        assert record["type"] == "book"
        last[record["token_id"]] = record
    assert set(last) == {KC, NYY}
    for symbol, record in last.items():
        scales = emulator.us_market.scales(symbol)
        assert record["sync_state"] == "live"
        for side, levels in zip(("bids", "asks"), emulator.us_market.levels(symbol, 3), strict=True):
            expected = [(Decimal(px) / scales.price_scale, Decimal(qty) / scales.quantity_scale) for px, qty in levels]
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
