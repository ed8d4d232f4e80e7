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
from polyinfra.record.tap import encode_details
from polyinfra.record.us_replay import UsReplay
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md
from tests.fuzz.hostile import hostile_bytes
from tests.fuzz.us_tape_records import (
    HUGE,
    REPLAYED_KINDS,
    SUBSCRIPTION,
    SYMBOL,
    subscription_of,
    tape_of,
    us_record,
)


async def _replayed(records: list[Record]) -> UsReplay:
    async with tape_of(records) as tape:
        replay = UsReplay(tape)
        async for _ in replay:
            pass
        return replay


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(REPLAYED_KINDS),
            hostile_bytes(SUBSCRIPTION, {"token_ids": [SYMBOL]}, {"reason": "silence", "code": None}),
            st.sampled_from(["", SYMBOL, "other"]),
            st.sampled_from([None, "no-connection", "s:us.marketdata.x:1", "s:us.marketdata.0:1"]),
        ),
        max_size=6,
    ),
    scales=st.tuples(HUGE, HUGE, HUGE),
)
def test_hostile_us_rows_replay_to_books_or_a_typed_error(
    steps: list[tuple[RecordKind, bytes, str, str | None]], scales: tuple[int, int, int]
) -> None:
    records = [us_record(0, RecordKind.SUBSCRIBED, subscription_of(scales))]
    records += [
        us_record(index, kind, payload, key=key, event_id=event_id)
        for index, (kind, payload, key, event_id) in enumerate(steps, start=1)
    ]
    with contextlib.suppress(PolyinfraError):
        asyncio.run(_replayed(records))


_LEVELS = st.lists(st.tuples(HUGE, HUGE), max_size=7)


@given(updates=st.lists(st.tuples(_LEVELS, _LEVELS, st.sampled_from([SYMBOL, "", "other"])), min_size=1, max_size=5))
def test_hostile_levels_are_refused_as_live_refuses_them(
    updates: list[tuple[list[tuple[int, int]], list[tuple[int, int]], str]],
) -> None:
    records = [us_record(0, RecordKind.SUBSCRIBED, encode_details(SUBSCRIPTION))]
    for index, (bids, offers, symbol) in enumerate(updates, start=1):
        update = md.MarketDataUpdate(
            symbol=symbol,
            bids=[md.BookEntry(px=px, qty=qty) for px, qty in bids],
            offers=[md.BookEntry(px=px, qty=qty) for px, qty in offers],
        )
        payload = md.BiDirectionalStreamMarketDataResponse(update=update).SerializeToString()
        # Stored under the symbol it names, as the live client stores updates.
        records.append(us_record(index, RecordKind.FRAME_RECEIVED, payload, key=symbol))
    replay = asyncio.run(_replayed(records))
    ours = sum(1 for _, _, symbol in updates if symbol == SYMBOL)
    assert replay.stats.updates + replay.stats.invalid_updates == ours
    book = replay.books[SYMBOL]
    for price, size in book.bid_levels_micros() + book.ask_levels_micros():
        assert 0 < price < MICROS and price % 5_000 == 0 and 0 < size <= MAX_SIZE_MICROS
