"""Hostile stored US market-data rows into :class:`~polyinfra.record.us_replay.UsReplay`: any payload,
key or event id under any replayed record kind gives books or a typed
:class:`~polyinfra.errors.PolyinfraError`, never another exception; hostile levels in well-formed updates
are refused as live refuses them (counted, the book kept valid)."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.errors import PolyinfraError
from polyinfra.model.book import MAX_SIZE_MICROS
from polyinfra.model.numbers import MICROS
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.record.tap import encode_details
from polyinfra.record.us_replay import UsReplay
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md
from tests.fuzz.hostile import hostile_bytes

SYMBOL = "tec-nfl-sbw-2026-02-08-kc"
_INSTRUMENT = {"symbol": SYMBOL, "price_scale": 1000, "quantity_scale": 100, "tick_units": 5, "tick_size": "0.005"}
_SUBSCRIPTION = {"token_ids": [SYMBOL], "depth": 5, "unaggregated": False, "instruments": [_INSTRUMENT]}
_KINDS = [RecordKind.FRAME_RECEIVED, RecordKind.SUBSCRIBED, RecordKind.UNSUBSCRIBED, RecordKind.CONNECTION_LOST]
_HUGE = st.integers(min_value=-(2**63), max_value=2**63 - 1)


def _record(index: int, kind: RecordKind, payload: bytes, *, key: str = "", event_id: str | None = None) -> Record:
    event_id = f"s:us.marketdata.1:{index}" if event_id is None else event_id
    return Record(event_id, "s", "us", "marketdata", key, kind, index, index, None, payload)


async def _replayed(records: list[Record]) -> UsReplay:
    tape = SQLiteSink(":memory:")
    try:
        await tape.write(records)
        replay = UsReplay(tape)
        async for _ in replay:
            pass
        return replay
    finally:
        await tape.close()


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(_KINDS),
            hostile_bytes(_SUBSCRIPTION, {"token_ids": [SYMBOL]}, {"reason": "silence", "code": None}),
            st.sampled_from(["", SYMBOL, "other"]),
            st.sampled_from([None, "no-connection", "s:us.marketdata.x:1", "s:us.marketdata.0:1"]),
        ),
        max_size=6,
    ),
    scales=st.tuples(_HUGE, _HUGE, _HUGE),
)
def test_hostile_us_rows_replay_to_books_or_a_typed_error(
    steps: list[tuple[RecordKind, bytes, str, str | None]], scales: tuple[int, int, int]
) -> None:
    price_scale, quantity_scale, tick_units = scales
    instrument = {**_INSTRUMENT, "price_scale": price_scale, "quantity_scale": quantity_scale, "tick_units": tick_units}
    subscription = encode_details({**_SUBSCRIPTION, "instruments": [instrument]})
    records = [_record(0, RecordKind.SUBSCRIBED, subscription)]
    records += [
        _record(index, kind, payload, key=key, event_id=event_id)
        for index, (kind, payload, key, event_id) in enumerate(steps, start=1)
    ]
    with contextlib.suppress(PolyinfraError):
        asyncio.run(_replayed(records))


_LEVELS = st.lists(st.tuples(_HUGE, _HUGE), max_size=7)


@given(updates=st.lists(st.tuples(_LEVELS, _LEVELS, st.sampled_from([SYMBOL, "", "other"])), min_size=1, max_size=5))
def test_hostile_levels_are_refused_as_live_refuses_them(
    updates: list[tuple[list[tuple[int, int]], list[tuple[int, int]], str]],
) -> None:
    records = [_record(0, RecordKind.SUBSCRIBED, encode_details(_SUBSCRIPTION))]
    for index, (bids, offers, symbol) in enumerate(updates, start=1):
        update = md.MarketDataUpdate(
            symbol=symbol,
            bids=[md.BookEntry(px=px, qty=qty) for px, qty in bids],
            offers=[md.BookEntry(px=px, qty=qty) for px, qty in offers],
        )
        payload = md.BiDirectionalStreamMarketDataResponse(update=update).SerializeToString()
        # Stored under the symbol it names, as the live client stores updates.
        records.append(_record(index, RecordKind.FRAME_RECEIVED, payload, key=symbol))
    replay = asyncio.run(_replayed(records))
    ours = sum(1 for _, _, symbol in updates if symbol == SYMBOL)
    assert replay.stats.updates + replay.stats.invalid_updates == ours
    book = replay.books[SYMBOL]
    for price, size in book.bid_levels_micros() + book.ask_levels_micros():
        assert 0 < price < MICROS and price % 5_000 == 0 and 0 < size <= MAX_SIZE_MICROS
