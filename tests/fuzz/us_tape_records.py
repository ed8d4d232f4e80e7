"""Stored US market-data rows for the fuzz tests of what reads a US tape (replay, the replay server)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from hypothesis import strategies as st

from polyinfra.record.records import Record, RecordKind
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.record.tap import encode_details

SYMBOL = "tec-nfl-sbw-2026-02-08-kc"
INSTRUMENT = {"symbol": SYMBOL, "price_scale": 1000, "quantity_scale": 100, "tick_units": 5, "tick_size": "0.005"}
SUBSCRIPTION = {"token_ids": [SYMBOL], "depth": 5, "unaggregated": False, "instruments": [INSTRUMENT]}
REPLAYED_KINDS = [RecordKind.FRAME_RECEIVED, RecordKind.SUBSCRIBED, RecordKind.UNSUBSCRIBED, RecordKind.CONNECTION_LOST]
HUGE = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def subscription_of(scales: tuple[int, int, int], tick_size: str = "0.005") -> bytes:
    """A ``subscribed`` payload whose instrument has these (price, quantity, tick unit) scales and tick."""
    price_scale, quantity_scale, tick_units = scales
    instrument = {
        **INSTRUMENT,
        "price_scale": price_scale,
        "quantity_scale": quantity_scale,
        "tick_units": tick_units,
        "tick_size": tick_size,
    }
    return encode_details({**SUBSCRIPTION, "instruments": [instrument]})


def us_record(index: int, kind: RecordKind, payload: bytes, *, key: str = "", event_id: str | None = None) -> Record:
    """A row of source ``us``, channel ``marketdata``, on stream 1 unless ``event_id`` says otherwise."""
    event_id = f"s:us.marketdata.1:{index}" if event_id is None else event_id
    return Record(event_id, "s", "us", "marketdata", key, kind, index, index, None, payload)


@contextlib.asynccontextmanager
async def tape_of(records: list[Record]) -> AsyncIterator[SQLiteSink]:
    """An in-memory tape holding ``records``."""
    tape = SQLiteSink(":memory:")
    try:
        await tape.write(records)
        yield tape
    finally:
        await tape.close()
