"""Descriptor sets: built from hostile serialized files, compared by name, and unknown numbers noticed."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2

from polyinfra.core.us_descriptors import (
    ProtoDifference,
    diff_protos,
    first_unknown_field,
    protos_from_files,
    static_protos,
)
from polyinfra.core.us_dynamic_codec import DynamicCodec
from polyinfra.emulator.us.renumbered_protos import renumbered_protos
from polyinfra.errors import MalformedMessageError, ProtoMismatchError
from polyinfra.wire.us.polymarket.v1 import enums_pb2, health_pb2, orders_pb2, refdata_pb2


def our_files() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    ours = static_protos()
    found = {}
    for name in ours.files:
        proto = descriptor_pb2.FileDescriptorProto()
        ours.pool.FindFileByName(name).CopyToProto(proto)
        found[name] = proto
    return found


def serialized(files: dict[str, descriptor_pb2.FileDescriptorProto]) -> list[bytes]:
    return [proto.SerializeToString() for proto in files.values()]


def test_our_files_in_any_order_rebuild_our_protos() -> None:
    rebuilt = protos_from_files(reversed(serialized(our_files())), source="test")
    assert rebuilt.files == tuple(sorted(our_files()))
    assert diff_protos(static_protos(), rebuilt) == []


def test_the_renumbered_set_moves_every_unpublished_number_and_only_those() -> None:
    differences = diff_protos(static_protos(), renumbered_protos())
    assert ProtoDifference("polymarket.v1.Instrument.symbol", "renumbered field", "1", "101") in differences
    assert ProtoDifference("polymarket.v1.Side.SIDE_BUY", "renumbered enum value", "1", "51") in differences
    assert (
        ProtoDifference("polymarket.v1.Order.price_to_quantity_filled", "renumbered field", "41", "141") in differences
    )
    assert {d.kind for d in differences} == {"renumbered field", "renumbered enum value"}
    market_data = static_protos().pool.FindFileByName("polymarket/v1/marketdatasubscription.proto")
    untouched = set(market_data.message_types_by_name) | {"InstrumentState"}
    assert not [d for d in differences if d.name.split(".")[2] in untouched]


def test_missing_extra_and_retyped_fields_are_named() -> None:
    files = our_files()
    refdata = files["polymarket/v1/refdata.proto"]
    (instrument,) = [m for m in refdata.message_type if m.name == "Instrument"]
    (symbol,) = [f for f in instrument.field if f.name == "symbol"]
    instrument.field.remove(symbol)
    (scale,) = [f for f in instrument.field if f.name == "price_scale"]
    scale.type = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
    instrument.field.add(name="venue_only", number=900, type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL)
    service = refdata.service[0]
    (listing,) = [m for m in service.method if m.name == "ListInstruments"]
    listing.name = "SearchInstruments"
    differences = diff_protos(static_protos(), protos_from_files(serialized(files), source="test"))
    assert differences == [
        ProtoDifference("/polymarket.v1.RefDataAPI/ListInstruments", "missing method"),
        ProtoDifference("/polymarket.v1.RefDataAPI/SearchInstruments", "extra method"),
        ProtoDifference("polymarket.v1.Instrument.price_scale", "retyped field", "int64", "string"),
        ProtoDifference("polymarket.v1.Instrument.symbol", "missing field", "1"),
        ProtoDifference("polymarket.v1.Instrument.venue_only", "extra field", "", "900"),
    ]


@pytest.mark.parametrize(
    ("mangle", "complaint"),
    [
        (lambda files: [b"\xff\xff\xff"], "does not decode"),
        (lambda files: [files["polymarket/v1/refdata.proto"].SerializeToString()], "dependency is missing"),
        (lambda files: [*serialized(files), files["polymarket/v1/types.proto"].SerializeToString()], "two of one name"),
        (lambda files: [b""] * 3, "without a name"),
        (
            lambda files: [
                descriptor_pb2.FileDescriptorProto(name=f"f{i}.proto").SerializeToString() for i in range(501)
            ],
            "more than 500",
        ),
    ],
)
def test_hostile_descriptor_sets_are_typed_errors(mangle: object, complaint: str) -> None:
    with pytest.raises(MalformedMessageError, match=complaint):
        protos_from_files(mangle(our_files()), source="test")  # type: ignore[operator]


def test_a_cycle_and_a_dangling_type_are_refused() -> None:
    a = descriptor_pb2.FileDescriptorProto(name="a.proto", dependency=["b.proto"])
    b = descriptor_pb2.FileDescriptorProto(name="b.proto", dependency=["a.proto"])
    with pytest.raises(MalformedMessageError, match="cycle"):
        protos_from_files([a.SerializeToString(), b.SerializeToString()], source="test")
    dangling = descriptor_pb2.FileDescriptorProto(name="d.proto", package="polymarket.v1")
    message = dangling.message_type.add(name="M")
    message.field.add(name="x", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE, type_name=".nowhere.T")
    with pytest.raises(MalformedMessageError, match="refuses"):
        protos_from_files([dangling.SerializeToString()], source="test")


def test_the_codec_carries_messages_by_name_across_numberings() -> None:
    codec = DynamicCodec(renumbered_protos())
    order = orders_pb2.Order(
        id="o-1", side=enums_pb2.SIDE_SELL, price=655, fractional_quantity_scale=100, price_to_quantity_filled={650: 3}
    )
    theirs = codec.encode(order)
    assert theirs != order.SerializeToString()
    assert first_unknown_field(orders_pb2.Order.FromString(theirs)) is not None  # our numbers read it as noise
    assert codec.decode(theirs, orders_pb2.Order) == order
    with pytest.raises(MalformedMessageError):
        codec.decode(b"\x0a\xff", orders_pb2.Order)


def test_the_codec_names_a_message_their_protos_lack() -> None:
    files = our_files()
    del files["polymarket/v1/health.proto"]
    codec = DynamicCodec(protos_from_files(serialized(files), source="a bundle"))
    with pytest.raises(ProtoMismatchError, match=r"a bundle protos have no message polymarket\.v1\.HealthCheckRequest"):
        codec.encode(health_pb2.HealthCheckRequest())


def test_first_unknown_field_looks_inside_nested_and_repeated_messages() -> None:
    inner = refdata_pb2.Instrument(symbol="x").SerializeToString() + b"\xa8\x06\x01"  # field 101, varint 1
    answer = refdata_pb2.ListInstrumentsResponse(instruments=[refdata_pb2.Instrument(symbol="ok")])
    answer.instruments.append(refdata_pb2.Instrument.FromString(inner))
    assert first_unknown_field(answer) == "ListInstrumentsResponse.instruments.#101"
    assert first_unknown_field(refdata_pb2.ListInstrumentsResponse(eof=True)) is None
