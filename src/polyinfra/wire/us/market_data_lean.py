"""A second, leaner reading of the US exchange's market-data responses, for the hot path.

The generated ``marketdatasubscription_pb2`` classes read a ``MarketDataUpdate``'s levels as one
``BookEntry`` message object per level, and making those objects costs several times the parse of the
whole response (the benchmark ``bench/us_market_data.py`` measures it). The messages here declare the
same field numbers with wire-compatible types, so they parse the very same bytes, but read each level as
the ``bytes`` of its ``BookEntry``: a level that repeats (most do, since every update is the whole book)
is then one dictionary lookup by those bytes in :mod:`polyinfra.core.us_books`, and only a new one is
parsed as a ``BookEntry``.

What is read here, field by field (numbers from the venue's verified file, checked by a test against
the generated descriptor):

* ``LeanResponse``: ``update`` (2) alone, in the ``event`` oneof. Both response types of the
  market-data service (server stream and bidirectional) put the update at 2; a heartbeat,
  acknowledgement or error is then an unknown field and ``WhichOneof("event")`` is None, and the caller
  reads that message with the generated class.
* ``LeanUpdate``: ``symbol`` 1, ``bids`` 2 and ``offers`` 3 (each entry's bytes), ``state`` 4 (the enum's
  varint as int32, unknown values kept as the generated class keeps them), ``stats`` 5 (only
  ``last_trade_px`` 5), ``transact_time`` 6 (seconds 1, nanos 2), ``book_hidden`` 7, ``price_scale`` 8,
  ``quantity_scale`` 9, with the venue's presence rules.

The descriptors are built here, in their own pool, so nothing is generated and nothing clashes with the
venue's names.

Cheaper still, :func:`update_symbol` reads a response's symbol off its first bytes without parsing it,
for a reader that keeps the latest update of each book undecoded: it answers only for the layout
protobuf serializers write (fields in number order), and a caller that later parses the message checks
that the parse agrees (a repeated ``symbol`` field, the last of which wins, is legal protobuf).
"""

from __future__ import annotations

from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["LEAN_PACKAGE", "LeanResponse", "LeanUpdate", "update_symbol"]

LEAN_PACKAGE: Final = "polyinfra.lean.v1"

_F = descriptor_pb2.FieldDescriptorProto


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name="polyinfra/lean/market_data.proto", package=LEAN_PACKAGE)
    file.syntax = "proto3"

    def message(name: str, fields: list[tuple[str, int, int, int, str]]) -> descriptor_pb2.DescriptorProto:
        described = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = described.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = f".{LEAN_PACKAGE}.{type_name}"
        return described

    def explicit_presence(described: descriptor_pb2.DescriptorProto, *names: str) -> None:
        # proto3 ``optional``: each field in a synthetic oneof of its own, as protoc writes it.
        for field in described.field:
            if field.name in names:
                field.proto3_optional = True
                field.oneof_index = len(described.oneof_decl)
                described.oneof_decl.add(name=f"_{field.name}")

    one, many = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    message("LeanTimestamp", [("seconds", 1, _F.TYPE_INT64, one, ""), ("nanos", 2, _F.TYPE_INT32, one, "")])
    stats = message("LeanStats", [("last_trade_px", 5, _F.TYPE_INT64, one, "")])
    explicit_presence(stats, "last_trade_px")
    update = message(
        "LeanUpdate",
        [
            ("symbol", 1, _F.TYPE_STRING, one, ""),
            ("bids", 2, _F.TYPE_BYTES, many, ""),
            ("offers", 3, _F.TYPE_BYTES, many, ""),
            ("state", 4, _F.TYPE_INT32, one, ""),
            ("stats", 5, _F.TYPE_MESSAGE, one, "LeanStats"),
            ("transact_time", 6, _F.TYPE_MESSAGE, one, "LeanTimestamp"),
            ("book_hidden", 7, _F.TYPE_BOOL, one, ""),
            ("price_scale", 8, _F.TYPE_INT64, one, ""),
            ("quantity_scale", 9, _F.TYPE_INT64, one, ""),
        ],
    )
    explicit_presence(update, "state", "price_scale", "quantity_scale")
    response = message("LeanResponse", [("update", 2, _F.TYPE_MESSAGE, one, "LeanUpdate")])
    response.oneof_decl.add(name="event")
    response.field[0].oneof_index = 0
    return file


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file())

# The classes are made at run time, so their attributes are unknown to type checkers: Any, deliberately.
LeanResponse: Final[Any] = message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{LEAN_PACKAGE}.LeanResponse"))
"""A market-data response read for its ``update`` alone."""
LeanUpdate: Final[Any] = message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{LEAN_PACKAGE}.LeanUpdate"))
"""A ``MarketDataUpdate`` whose levels are their entries' bytes."""


# Wire tags: (field number << 3) | wire type 2, length-delimited.
_UPDATE_TAG: Final = 0x12  # the response's ``update``, field 2
_SYMBOL_TAG: Final = 0x0A  # the update's ``symbol``, field 1
_MORE: Final = 0x80  # a varint byte with more bytes to follow


def update_symbol(message: bytes) -> bytes:
    """The UTF-8 bytes of the symbol of ``message``, a market-data response, when it is one ``update``
    field spanning the whole message (length under 16 KiB) whose first field is a symbol of under 128
    bytes; empty for anything else (a heartbeat, another layout, a truncated message), which the caller
    parses. The bytes after the symbol are not looked at: only a parse finds them malformed. Costs a few
    byte reads and one slice, whatever the message holds.
    """
    size = len(message)
    if size < 4 or message[0] != _UPDATE_TAG:
        return b""
    length = message[1]
    start = 2
    if length & _MORE:
        high = message[2]
        if high & _MORE:
            return b""
        length = (length & ~_MORE) | (high << 7)
        start = 3
    if start + length != size or start + 2 > size or message[start] != _SYMBOL_TAG:
        return b""
    symbol_size = message[start + 1]
    end = start + 2 + symbol_size
    if symbol_size & _MORE or end > size:
        return b""
    return message[start + 2 : end]
