"""A small market-channel tape built by hand: two tokens on connection 1, their books, then one
price change per recorded second. For tests that need a tape but not a recording session."""

from __future__ import annotations

from typing import Final

import msgspec

from polyinfra.core.book_summary import book_message, hashed_summary
from polyinfra.record.records import Record, RecordKind
from polyinfra.wire.clob_ws import PriceChange, PriceChangeMessage

SESSION: Final = "synthetic"
MARKET: Final = "0x" + "ab" * 32
TOKENS: Final = ("1111", "2222")
_NS_PER_S: Final = 1_000_000_000
_encode = msgspec.json.Encoder().encode


def tape_record(index: int, kind: RecordKind, payload: bytes, *, mono_s: int = 0) -> Record:
    """Record ``index`` of connection 1, received ``mono_s`` recorded seconds into the session."""
    return Record(
        event_id=f"{SESSION}:clob.market.1:{index}",
        session_id=SESSION,
        source="clob",
        channel="market",
        key="",
        kind=kind,
        recv_wall_ns=1_000 * _NS_PER_S + mono_s * _NS_PER_S + index,
        recv_mono_ns=mono_s * _NS_PER_S,
        venue_ts_ms=None,
        payload=payload,
    )


def books_frame() -> bytes:
    return _encode(
        [
            book_message(
                hashed_summary(
                    market=MARKET,
                    asset_id=token,
                    timestamp="1000",
                    bids=[(400_000, 10_000_000), (450_000, 5_000_000)],
                    asks=[(600_000, 7_000_000), (550_000, 3_000_000)],
                    min_order_size="5",
                    tick_size="0.01",
                    neg_risk=False,
                    last_trade_price="0.5",
                )
            )
            for token in TOKENS
        ]
    )


def price_change(size: int = 12) -> PriceChangeMessage:
    entries = [PriceChange(asset_id=token, price="0.46", side="BUY", size=str(size)) for token in TOKENS]
    return PriceChangeMessage(market=MARKET, timestamp=str(1000 + size), price_changes=entries)


def synthetic_tape(price_changes: int = 0) -> list[Record]:
    """Connected, subscribed and the books at second 0, then a price change at each second after."""
    subscribed = _encode({"token_ids": list(TOKENS)})
    opening = [
        tape_record(0, RecordKind.CONNECTED, subscribed),
        tape_record(1, RecordKind.SUBSCRIBED, subscribed),
        tape_record(2, RecordKind.FRAME_RECEIVED, books_frame()),
    ]
    changes = [
        tape_record(3 + n, RecordKind.FRAME_RECEIVED, _encode(price_change(20 + n)), mono_s=1 + n)
        for n in range(price_changes)
    ]
    return opening + changes
