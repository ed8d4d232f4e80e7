"""UsReplay's rules on small hand-made tapes: raw orders summed as the recorded subscription says, a refused
update leaving the book and turning it STALE until the next valid one, a lost stream's symbols STALE, an
unsubscribe dropping the book, snapshot-only frames and other symbols' left alone, old tapes refused."""

from __future__ import annotations

import msgspec
import pytest

from polyinfra.errors import CorruptRecordError
from polyinfra.model.events import BookUpdated, SyncState, SyncStateChanged
from polyinfra.record.book_at import book_at
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.record.tap import encode_details
from polyinfra.record.us_replay import UsReplay
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md

KC = "tec-nfl-sbw-2026-02-08-kc"
NYY = "aec-mlb-nyy-bos-2026-04-10"


def _instrument(symbol: str) -> dict[str, object]:
    return {"symbol": symbol, "price_scale": 1000, "quantity_scale": 100, "tick_units": 5, "tick_size": "0.005"}


def _subscribed(symbols: list[str], *, unaggregated: bool = False) -> bytes:
    instruments = [_instrument(symbol) for symbol in symbols]
    return encode_details({"token_ids": symbols, "depth": 5, "unaggregated": unaggregated, "instruments": instruments})


def _update(symbol: str, bids: list[tuple[int, int]], offers: tuple[tuple[int, int], ...] = ()) -> bytes:
    update = md.MarketDataUpdate(
        symbol=symbol,
        bids=[md.BookEntry(px=px, qty=qty) for px, qty in bids],
        offers=[md.BookEntry(px=px, qty=qty) for px, qty in offers],
    )
    return md.BiDirectionalStreamMarketDataResponse(update=update).SerializeToString()


class _Tape:
    def __init__(self) -> None:
        self.records: list[Record] = []

    def add(self, kind: RecordKind, payload: bytes, *, key: str = "", connection: int = 1) -> None:
        index = len(self.records)
        self.records.append(
            Record(
                f"s:us.marketdata.{connection}:{index}", "s", "us", "marketdata", key, kind, index, index, None, payload
            )
        )

    async def sink(self) -> SQLiteSink:
        sink = SQLiteSink(":memory:")
        await sink.write(self.records)
        return sink


async def test_the_books_follow_live_rules_record_by_record() -> None:
    tape = _Tape()
    tape.add(RecordKind.SUBSCRIBED, _subscribed([KC, NYY], unaggregated=True))
    tape.add(RecordKind.FRAME_RECEIVED, _update(KC, [(655, 100), (655, 212), (650, 5)], ((700, 1),)), key=KC)
    tape.add(RecordKind.FRAME_RECEIVED, _update(KC, [(651, 1)]), key=KC)  # off the tick: refused
    tape.add(RecordKind.FRAME_RECEIVED, _update(NYY, [(600, 1)]), key=NYY, connection=0)  # a snapshot-only stream
    tape.add(RecordKind.FRAME_RECEIVED, _update(NYY, [(600, 2)]), key=NYY, connection=2)  # not NYY's stream
    sink = await tape.sink()
    replay = UsReplay(sink)
    events = [event async for event in replay]
    assert replay.books[KC].bid_levels_micros() == [(655_000, 3_120_000), (650_000, 50_000)]
    assert replay.books[KC].ask_levels_micros() == [(700_000, 10_000)]
    assert replay.states == {KC: SyncState.STALE, NYY: SyncState.SYNCING}
    assert replay.books[NYY].bid_levels_micros() == []
    assert replay.stats.updates == 1 and replay.stats.invalid_updates == 1
    assert [e.reason for e in events if isinstance(e, SyncStateChanged) and e.token_id == KC] == [
        "subscribed",
        "snapshot",
        "invalid value",
    ]
    assert [e.snapshot for e in events if isinstance(e, BookUpdated)] == [True]

    tape.add(RecordKind.FRAME_RECEIVED, _update(KC, [(660, 1)]), key=KC)
    tape.add(RecordKind.FRAME_RECEIVED, _update(KC, [(665, 1)]), key=KC)
    tape.add(RecordKind.CONNECTION_LOST, encode_details({"reason": "silence", "code": None}))
    tape.add(RecordKind.UNSUBSCRIBED, encode_details({"token_ids": [NYY]}))
    sink = await tape.sink()
    replay = UsReplay(sink)
    events = [event async for event in replay]
    assert replay.books[KC].bid_levels_micros() == [(665_000, 10_000)]
    assert replay.states == {KC: SyncState.STALE}
    assert isinstance(events[-1], SyncStateChanged) and events[-1].reason == "silence"
    assert [e.snapshot for e in events if isinstance(e, BookUpdated)] == [True, True, False]
    # The book at a moment: that of the last record received by then.
    found = await book_at(sink, KC, 5, source="us")
    assert found.book is not None and found.book.bid_levels_micros() == [(660_000, 10_000)]
    assert found.state is SyncState.LIVE and found.checkpoint_event_id is None
    assert (await book_at(sink, NYY, 100, source="us")).book is None


async def test_a_tape_without_its_instruments_is_refused_with_a_typed_error() -> None:
    tape = _Tape()
    tape.add(RecordKind.SUBSCRIBED, encode_details({"token_ids": [KC]}))  # as recorded before instruments were kept
    sink = await tape.sink()
    with pytest.raises(CorruptRecordError, match="instruments"):
        await UsReplay(sink).run()
    damaged = _Tape()
    damaged.add(RecordKind.SUBSCRIBED, _subscribed([KC]))
    damaged.add(RecordKind.FRAME_RECEIVED, b"\xff\xff\xff", key=KC)
    with pytest.raises(CorruptRecordError, match="does not parse"):
        await UsReplay(await damaged.sink()).run()


async def test_a_paced_replay_waits_the_recorded_gaps_divided_by_the_speed() -> None:
    tape = _Tape()
    tape.add(RecordKind.SUBSCRIBED, _subscribed([KC]))
    tape.add(RecordKind.FRAME_RECEIVED, _update(KC, [(650, 1)]), key=KC)
    tape.add(RecordKind.FRAME_RECEIVED, _update(KC, [(655, 1)]), key=KC)
    # A second apart each, on the recorded monotonic clock.
    tape.records = [msgspec.structs.replace(r, recv_mono_ns=i * 1_000_000_000) for i, r in enumerate(tape.records)]
    now_s = 0.0
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        nonlocal now_s
        waits.append(seconds)
        now_s += seconds

    replay = UsReplay(await tape.sink(), speed=4, clock=lambda: now_s, sleep=sleep)
    await replay.run()
    assert waits == [0.25, 0.25] and replay.books[KC].bid_levels_micros() == [(655_000, 10_000)]
