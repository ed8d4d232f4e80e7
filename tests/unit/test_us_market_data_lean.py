"""The lean market-data messages read the venue's bytes as the generated classes do: the same field numbers,
wire-compatible types, and the same values out of the same bytes."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor

from polyinfra.wire.us.market_data_lean import LeanResponse, LeanUpdate
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md

# Lean type -> the venue's types it may stand for on the wire (a BookEntry is length-delimited, like bytes).
_COMPATIBLE = {
    FieldDescriptor.TYPE_BYTES: {FieldDescriptor.TYPE_MESSAGE},
    FieldDescriptor.TYPE_INT32: {FieldDescriptor.TYPE_ENUM},
}


def test_every_lean_field_has_the_venues_number_and_a_wire_compatible_type() -> None:
    pairs = [
        (LeanResponse.DESCRIPTOR, md.BiDirectionalStreamMarketDataResponse.DESCRIPTOR),
        (LeanResponse.DESCRIPTOR, md.CreateMarketDataSubscriptionResponse.DESCRIPTOR),
        (LeanUpdate.DESCRIPTOR, md.MarketDataUpdate.DESCRIPTOR),
        (LeanUpdate.DESCRIPTOR.fields_by_name["stats"].message_type, md.InstrumentStats.DESCRIPTOR),
    ]
    for lean, venue in pairs:
        for field in lean.fields:
            theirs = venue.fields_by_name[field.name]
            assert field.number == theirs.number, field.full_name
            assert theirs.type in {field.type, *_COMPATIBLE.get(field.type, ())}, field.full_name
            assert field.is_repeated == theirs.is_repeated, field.full_name
            assert field.has_presence == theirs.has_presence, field.full_name


def test_the_same_bytes_read_the_same_values() -> None:
    update = md.MarketDataUpdate(
        symbol="aec-mlb-nyy-bos-2026-04-10",
        bids=[md.BookEntry(px=655, qty=312)],
        offers=[md.BookEntry(px=660, qty=1), md.BookEntry(px=665, qty=2)],
        state="INSTRUMENT_STATE_HALTED",
        price_scale=1000,
        book_hidden=True,
    )
    update.stats.last_trade_px = 650
    update.transact_time.FromNanoseconds(1_700_000_000_123_456_789)
    data = md.BiDirectionalStreamMarketDataResponse(update=update).SerializeToString()
    lean = LeanResponse.FromString(data)
    assert lean.WhichOneof("event") == "update"
    got = lean.update
    assert (got.symbol, got.state, got.price_scale, got.book_hidden) == (update.symbol, 6, 1000, True)
    assert not got.HasField("quantity_scale") and got.stats.last_trade_px == 650
    assert (got.transact_time.seconds, got.transact_time.nanos) == (1_700_000_000, 123_456_789)
    assert [md.BookEntry.FromString(entry) for entry in got.offers] == list(update.offers)
    heartbeat = md.BiDirectionalStreamMarketDataResponse(heartbeat={}).SerializeToString()
    assert LeanResponse.FromString(heartbeat).WhichOneof("event") is None
