"""Hostile stored US market-data rows served (:mod:`polyinfra.record.us_replay_server`): the reference data
read from any ``subscribed`` payload and the books served from any run of rows are valid or a typed
:class:`~polyinfra.errors.PolyinfraError`, never another exception; what is served is a recorded update of
the symbol, never deeper than asked."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.us_books import book_scales
from polyinfra.core.us_instruments import UsInstrument
from polyinfra.errors import PolyinfraError
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.us_replay import UsReplay
from polyinfra.record.us_replay_server import TapeBooks, tape_instruments
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

_TICKS = st.one_of(st.sampled_from(["0.005", "0.5", "5", "NaN", "-0.005", "1e999999999", "sNaN", ""]), st.text())


def _update(entries: int, symbol: str = SYMBOL) -> bytes:
    levels = [md.BookEntry(px=500 - 5 * index, qty=100) for index in range(entries)]
    offers = [md.BookEntry(px=505 + 5 * index, qty=100) for index in range(entries)]
    update = md.MarketDataUpdate(symbol=symbol, bids=levels, offers=offers)
    return md.BiDirectionalStreamMarketDataResponse(update=update).SerializeToString()


async def _served(records: list[Record], depth: int) -> list[md.MarketDataUpdate | None]:
    """What a stream of ``depth`` would be sent for the symbol after each record."""
    async with tape_of(records) as tape:
        replay = UsReplay(tape)
        books = TapeBooks(replay, await tape_instruments(tape))
        served = []
        async for record in replay.records():
            books.apply(record)
            served.append(books.update(SYMBOL, depth, unaggregated=False))
        return served


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(REPLAYED_KINDS),
            st.one_of(
                hostile_bytes(SUBSCRIPTION, {"token_ids": [SYMBOL]}, {"reason": "silence", "code": None}),
                st.integers(min_value=0, max_value=8).map(_update),
            ),
            st.sampled_from(["", SYMBOL, "other"]),
            st.sampled_from([None, "no-connection", "s:us.marketdata.x:1", "s:us.marketdata.0:1"]),
        ),
        max_size=6,
    ),
    scales=st.tuples(HUGE, HUGE, HUGE),
    tick_size=_TICKS,
    depth=st.integers(min_value=1, max_value=10),
)
def test_hostile_us_rows_serve_recorded_updates_or_a_typed_error(
    steps: list[tuple[RecordKind, bytes, str, str | None]], scales: tuple[int, int, int], tick_size: str, depth: int
) -> None:
    records = [us_record(0, RecordKind.SUBSCRIBED, subscription_of(scales, tick_size))]
    records += [
        us_record(index, kind, payload, key=key, event_id=event_id)
        for index, (kind, payload, key, event_id) in enumerate(steps, start=1)
    ]
    with contextlib.suppress(PolyinfraError):
        for served in asyncio.run(_served(records, depth)):
            assert served is None or (
                served.symbol == SYMBOL and len(served.bids) <= depth and len(served.offers) <= depth
            )


@given(tick_size=_TICKS, scales=st.tuples(HUGE, HUGE, HUGE))
def test_a_listed_tape_instrument_has_the_recorded_scales_or_is_refused(
    tick_size: str, scales: tuple[int, int, int]
) -> None:
    async def listed() -> list[UsInstrument]:
        async with tape_of([us_record(0, RecordKind.SUBSCRIBED, subscription_of(scales, tick_size))]) as tape:
            return await tape_instruments(tape)

    with contextlib.suppress(PolyinfraError):
        (found,) = asyncio.run(listed())
        scales_found = book_scales(found)
        assert (scales_found.price_scale, scales_found.quantity_scale, scales_found.tick_units) == scales
