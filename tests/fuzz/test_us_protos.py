"""Hostile protos: descriptor files (as server reflection or a bundle's compiler sends them), bundle zips and
messages in somebody else's numbering (answers and streamed messages, as a client reads them) each end as a valid
result or their typed error, nothing else."""

from __future__ import annotations

import asyncio
import io
import zipfile

from google.protobuf.message import DecodeError, Message
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.us_descriptors import UsProtos, diff_protos, first_unknown_field, protos_from_files, static_protos
from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.core.us_dynamic_codec import DynamicCodec
from polyinfra.core.us_proto_bundle import read_zip_bundle, rooted_bundle
from polyinfra.emulator.us.renumbered_protos import renumbered_protos
from polyinfra.errors import MalformedMessageError, ProtoBundleError
from polyinfra.us.client import UsExchangeClient, UsMethod
from polyinfra.wire.us.polymarket.v1 import (
    dropcopy_pb2,
    health_pb2,
    orders_pb2,
    positions_pb2,
    refdata_pb2,
    trading_pb2,
)

OURS = static_protos()
OUR_FILES = [OURS.pool.FindFileByName(name).serialized_pb for name in OURS.files]
CODEC = DynamicCodec(renumbered_protos())


def _mutated(data: bytes, flips: list[tuple[int, int]], cut: int) -> bytes:
    mutable = bytearray(data[: max(cut, 0)] if cut else data)
    for position, value in flips:
        if mutable:
            mutable[position % len(mutable)] = value
    return bytes(mutable)


descriptor_files = st.one_of(
    st.lists(st.binary(max_size=200), max_size=8),
    st.builds(
        lambda picks, flips, cut: [_mutated(OUR_FILES[i % len(OUR_FILES)], flips, cut) for i in picks],
        st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=12),
        st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=4),
        st.integers(min_value=0, max_value=3000),
    ),
)


@given(descriptor_files)
def test_any_descriptor_files_are_a_protos_set_or_malformed(files: list[bytes]) -> None:
    try:
        protos = protos_from_files(files, source="fuzz")
    except MalformedMessageError:
        return
    assert isinstance(protos, UsProtos)
    diff_protos(OURS, protos)  # comparing with anything that loaded must not raise


def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


names = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1, max_size=60),
    st.sampled_from(["api/polymarket/v1/marketdatasubscription.proto", "../x.proto", "/abs.proto", "a/b.proto"]),
)
bundles = st.one_of(
    st.binary(max_size=500),
    st.builds(_zip, st.lists(st.tuples(names, st.binary(max_size=200)), max_size=6, unique_by=lambda e: e[0])),
    st.builds(
        lambda data, flips: _mutated(data, flips, 0),
        st.builds(
            _zip, st.lists(st.tuples(names, st.binary(max_size=100)), min_size=1, max_size=3, unique_by=lambda e: e[0])
        ),
        st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), min_size=1, max_size=6),
    ),
)


@given(bundles)
def test_any_bundle_bytes_are_proto_files_or_refused(data: bytes) -> None:
    try:
        files = read_zip_bundle(data)
        rooted = rooted_bundle(files)
    except ProtoBundleError:
        return
    assert all(name.endswith(".proto") and ".." not in name.split("/") for name in rooted)


@given(
    st.binary(max_size=400),
    st.sampled_from([orders_pb2.Order, refdata_pb2.ListInstrumentsResponse, health_pb2.HealthCheckResponse]),
)
def test_any_bytes_in_their_numbering_decode_or_are_malformed(data: bytes, ours: type) -> None:
    try:
        decoded = CODEC.decode(data, ours)
    except MalformedMessageError:
        return
    assert isinstance(decoded, ours)
    assert CODEC.decode(CODEC.encode(decoded), ours) == decoded


@given(st.binary(max_size=400))
def test_unknown_fields_are_found_in_any_parsed_answer(data: bytes) -> None:
    try:
        answer = refdata_pb2.ListInstrumentsResponse.FromString(data)
    except DecodeError:  # gRPC refuses these before polyinfra sees them
        return
    path = first_unknown_field(answer)
    assert path is None or path.startswith("ListInstrumentsResponse")


async def _stream_methods() -> list[UsMethod[Message]]:
    """How each stream's messages are read, in polyinfra's numbering and (carried by name) in the renumbered one."""
    found: list[UsMethod[Message]] = []
    for protos in (None, renumbered_protos()):
        async with UsExchangeClient("127.0.0.1:9", insecure=True, protos=protos) as client:
            for service, method, response in STREAMS:
                found.append(await client.method(service, method, response))
    return found


STREAMS: list[tuple[str, str, type[Message]]] = [
    ("polymarket.v1.OrderEntryAPI", "CreateOrderSubscription", trading_pb2.CreateOrderSubscriptionResponse),
    ("polymarket.v1.PositionAPI", "CreatePositionSubscription", positions_pb2.CreatePositionSubscriptionResponse),
    *(
        ("polymarket.v1.DropCopyAPI", stream.method, response)
        for stream, response in zip(
            DropCopyStream,
            [
                dropcopy_pb2.CreateDropCopySubscriptionResponse,
                dropcopy_pb2.CreateTradeCaptureReportSubscriptionResponse,
                dropcopy_pb2.CreateInstrumentStateChangeSubscriptionResponse,
                dropcopy_pb2.CreatePositionChangeSubscriptionResponse,
            ],
            strict=True,
        )
    ),
]
STREAM_METHODS = asyncio.run(_stream_methods())
# A real order-stream message in the renumbered numbering, for mutations to start from.
SNAPSHOT = CODEC.encode(
    trading_pb2.CreateOrderSubscriptionResponse(
        snapshot=trading_pb2.OrderSubscriptionSnapshot(
            orders=[orders_pb2.Order(id="o-1", symbol="s", order_qty=3, price=600)]
        )
    )
)
stream_messages = st.one_of(
    st.binary(max_size=400),
    st.builds(
        _mutated,
        st.just(SNAPSHOT),
        st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=4),
        st.integers(min_value=0, max_value=len(SNAPSHOT)),
    ),
)


@given(stream_messages, st.integers(min_value=0, max_value=len(STREAM_METHODS) - 1))
def test_any_streamed_bytes_are_one_of_our_messages_or_malformed(data: bytes, pick: int) -> None:
    rpc = STREAM_METHODS[pick]
    ours = STREAMS[pick % len(STREAMS)][2]
    try:
        decoded = rpc.decode(data)
    except MalformedMessageError:  # ProtoMismatchError included: their numbers are not ours
        return
    assert isinstance(decoded, ours)
    assert first_unknown_field(decoded) is None
