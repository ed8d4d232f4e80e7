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
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.record.tap import encode_details
from polyinfra.record.us_replay import UsReplay
from polyinfra.record.us_replay_server import TapeBooks, tape_instruments
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md
from tests.fuzz.hostile import hostile_bytes

SYMBOL = "tec-nfl-sbw-2026-02-08-kc"
_INSTRUMENT = {"symbol": SYMBOL, "price_scale": 1000, "quantity_scale": 100, "tick_units": 5, "tick_size": "0.005"}
_SUBSCRIPTION = {"token_ids": [SYMBOL], "depth": 5, "unaggregated": False, "instruments": [_INSTRUMENT]}
_KINDS = [RecordKind.FRAME_RECEIVED, RecordKind.SUBSCRIBED, RecordKind.UNSUBSCRIBED, RecordKind.CONNECTION_LOST]
_HUGE = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_TICKS = st.one_of(st.sampled_from(["0.005", "0.5", "5", "NaN", "-0.005", "1e999999999", "sNaN", ""]), st.text())


def _record(index: int, kind: RecordKind, payload: bytes, *, key: str = "", event_id: str | None = None) -> Record:
    event_id = f"s:us.marketdata.1:{index}" if event_id is None else event_id
    return Record(event_id, "s", "us", "marketdata", key, kind, index, index, None, payload)


def _update(entries: int, symbol: str = SYMBOL) -> bytes:
    levels = [md.BookEntry(px=500 - 5 * index, qty=100) for index in range(entries)]
    offers = [md.BookEntry(px=505 + 5 * index, qty=100) for index in range(entries)]
    update = md.MarketDataUpdate(symbol=symbol, bids=levels, offers=offers)
    return md.BiDirectionalStreamMarketDataResponse(update=update).SerializeToString()


async def _served(records: list[Record], depth: int) -> list[md.MarketDataUpdate | None]:
    """What a stream of ``depth`` would be sent for the symbol after each record."""
    tape = SQLiteSink(":memory:")
    try:
        await tape.write(records)
        replay = UsReplay(tape)
        books = TapeBooks(replay, await tape_instruments(tape))
        served = []
        async for record in replay.records():
            books.apply(record)
            served.append(books.update(SYMBOL, depth, unaggregated=False))
        return served
    finally:
        await tape.close()


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(_KINDS),
            st.one_of(
                hostile_bytes(_SUBSCRIPTION, {"token_ids": [SYMBOL]}, {"reason": "silence", "code": None}),
                st.integers(min_value=0, max_value=8).map(_update),
            ),
            st.sampled_from(["", SYMBOL, "other"]),
            st.sampled_from([None, "no-connection", "s:us.marketdata.x:1", "s:us.marketdata.0:1"]),
        ),
        max_size=6,
    ),
    scales=st.tuples(_HUGE, _HUGE, _HUGE),
    tick_size=_TICKS,
    depth=st.integers(min_value=1, max_value=10),
)
def test_hostile_us_rows_serve_recorded_updates_or_a_typed_error(
    steps: list[tuple[RecordKind, bytes, str, str | None]], scales: tuple[int, int, int], tick_size: str, depth: int
) -> None:
    price_scale, quantity_scale, tick_units = scales
    instrument = {
        **_INSTRUMENT,
        "price_scale": price_scale,
        "quantity_scale": quantity_scale,
        "tick_units": tick_units,
        "tick_size": tick_size,
    }
    records = [_record(0, RecordKind.SUBSCRIBED, encode_details({**_SUBSCRIPTION, "instruments": [instrument]}))]
    records += [
        _record(index, kind, payload, key=key, event_id=event_id)
        for index, (kind, payload, key, event_id) in enumerate(steps, start=1)
    ]
    with contextlib.suppress(PolyinfraError):
        for served in asyncio.run(_served(records, depth)):
            assert served is None or (
                served.symbol == SYMBOL and len(served.bids) <= depth and len(served.offers) <= depth
            )


@given(tick_size=_TICKS, scales=st.tuples(_HUGE, _HUGE, _HUGE))
def test_a_listed_tape_instrument_has_the_recorded_scales_or_is_refused(
    tick_size: str, scales: tuple[int, int, int]
) -> None:
    price_scale, quantity_scale, tick_units = scales
    instrument = {
        "symbol": SYMBOL,
        "price_scale": price_scale,
        "quantity_scale": quantity_scale,
        "tick_units": tick_units,
        "tick_size": tick_size,
    }
    subscription = encode_details({**_SUBSCRIPTION, "instruments": [instrument]})

    async def listed() -> list[UsInstrument]:
        tape = SQLiteSink(":memory:")
        try:
            await tape.write([_record(0, RecordKind.SUBSCRIBED, subscription)])
            return await tape_instruments(tape)
        finally:
            await tape.close()

    with contextlib.suppress(PolyinfraError):
        (found,) = asyncio.run(listed())
        scales_found = book_scales(found)
        assert (scales_found.price_scale, scales_found.quantity_scale, scales_found.tick_units) == scales
