"""What a checkpoint record holds: a live book exactly as polyinfra held it, and the digest of its levels.

Replay compares the digest with its own book at the same point of the stream; ``book_at`` restores
the book from the levels and replays forward from there instead of from the start of the tape.
Levels are stored as integer micro-units (the book's own representation, so nothing is rounded),
in a compact msgpack array. The digest stays beside the levels: a restored book whose digest
differs from the stored one proves the stored levels damaged.

To resume replay exactly, a checkpoint also says which connection the token was on and which
frame that connection received last: a frame the venue repeats is skipped by comparing it with
its connection's previous frame, and that comparison must see the same previous frame on resume.
"""

from __future__ import annotations

from typing import Final

import msgspec

from polyinfra.errors import CorruptRecordError
from polyinfra.model.book import OrderBook
from polyinfra.model.numbers import micros_to_decimal
from polyinfra.record.book_digest import levels_digest
from polyinfra.record.records import Record
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import PriceLevel

__all__ = ["BookCheckpoint", "FrameRef", "checkpoint_of", "decode_checkpoint", "encode_checkpoint"]


class FrameRef(msgspec.Struct, array_like=True, frozen=True):
    """Where a recorded frame is: its event id and receive time (how a sink is asked for it)."""

    event_id: str
    recv_wall_ns: int


class BookCheckpoint(msgspec.Struct, array_like=True, frozen=True):
    """One token's book at a checkpoint. Prices and sizes are micro-units, best level first."""

    digest: str
    connection: int
    last_frame: FrameRef | None
    """The last frame the token's connection received (None: none in this session of the tape)."""
    market: str
    tick_size: str | None
    timestamp_ms: int | None
    last_trade_price_micros: int | None
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]

    def as_summary(self, token_id: str) -> OrderBookSummary:
        """The checkpoint as a REST summary without a hash: how replay puts it into a book, through
        the same snapshot path (and the same checks) as any REST snapshot."""
        # A summary lists bids ascending and asks descending (best last), as the venue does.
        return OrderBookSummary(
            market=self.market,
            asset_id=token_id,
            timestamp="" if self.timestamp_ms is None else str(self.timestamp_ms),
            hash="",
            bids=[_level(price, size) for price, size in reversed(self.bids)],
            asks=[_level(price, size) for price, size in reversed(self.asks)],
            tick_size=msgspec.UNSET if self.tick_size is None else self.tick_size,
            last_trade_price=(
                msgspec.UNSET
                if self.last_trade_price_micros is None
                else str(micros_to_decimal(self.last_trade_price_micros))
            ),
        )


_encoder: Final = msgspec.msgpack.Encoder()
_decoder: Final = msgspec.msgpack.Decoder(BookCheckpoint)


def checkpoint_of(book: OrderBook, connection: int, last_frame: FrameRef | None) -> BookCheckpoint:
    """``book`` as a checkpoint of a token on ``connection``."""
    return BookCheckpoint(
        digest=levels_digest(book),
        connection=connection,
        last_frame=last_frame,
        market=book.market,
        tick_size=None if book.tick_size is None else str(book.tick_size),
        timestamp_ms=book.timestamp_ms,
        last_trade_price_micros=book.last_trade_price_micros,
        bids=book.bid_levels_micros(),
        asks=book.ask_levels_micros(),
    )


def encode_checkpoint(checkpoint: BookCheckpoint) -> bytes:
    return _encoder.encode(checkpoint)


def decode_checkpoint(record: Record) -> BookCheckpoint:
    """The checkpoint a record holds; :class:`~polyinfra.errors.CorruptRecordError` when it does not decode."""
    try:
        return _decoder.decode(record.payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptRecordError("a recorded checkpoint does not decode", event_id=record.event_id[:100]) from exc


def _level(price_micros: int, size_micros: int) -> PriceLevel:
    return PriceLevel(price=str(micros_to_decimal(price_micros)), size=str(micros_to_decimal(size_micros)))
