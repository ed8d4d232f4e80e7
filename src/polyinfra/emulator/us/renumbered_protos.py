"""Deliberately renumbered US exchange protos, so the emulator can play a venue whose numbers are not ours.

Most of the venue's field numbers are unpublished; polyinfra's are guesses. ``polyinfra emulator
--us-renumbered-protos`` serves the US exchange with these protos instead: every field number moved up by
:data:`FIELD_OFFSET` and every non-zero enum value by :data:`ENUM_OFFSET`, except in what the venue has
published (the market-data file and ``InstrumentState``). A client that trusts its compiled-in numbers then
reads garbage from it, and one that asks the server (reflection) or the venue's bundle reads it right:
the test of both paths.
"""

from __future__ import annotations

from typing import Final

from google.protobuf import descriptor_pb2

from polyinfra.core.us_descriptors import UsProtos, protos_from_files, static_protos

__all__ = ["ENUM_OFFSET", "FIELD_OFFSET", "renumbered_protos"]

FIELD_OFFSET: Final = 100
ENUM_OFFSET: Final = 50
VERIFIED_FILE: Final = "polymarket/v1/marketdatasubscription.proto"
VERIFIED_ENUMS: Final = frozenset({"InstrumentState"})


def _renumber_message(message: descriptor_pb2.DescriptorProto) -> None:
    if message.options.map_entry:
        return  # key = 1, value = 2 is protobuf's own encoding of a map
    for field in message.field:
        field.number += FIELD_OFFSET
    for reserved in message.reserved_range:
        reserved.start += FIELD_OFFSET
        reserved.end += FIELD_OFFSET
    for nested in message.nested_type:
        _renumber_message(nested)
    for enum in message.enum_type:
        _renumber_enum(enum)


def _renumber_enum(enum: descriptor_pb2.EnumDescriptorProto) -> None:
    for value in enum.value:
        if value.number != 0:  # proto3 wants its first value to be 0
            value.number += ENUM_OFFSET


def renumbered_protos() -> UsProtos:
    """polyinfra's protos with every unpublished number moved."""
    ours = static_protos()
    files = []
    for name in ours.files:
        proto = descriptor_pb2.FileDescriptorProto()
        ours.pool.FindFileByName(name).CopyToProto(proto)
        if name != VERIFIED_FILE:
            for message in proto.message_type:
                _renumber_message(message)
            for enum in proto.enum_type:
                if enum.name not in VERIFIED_ENUMS:
                    _renumber_enum(enum)
        files.append(proto.SerializeToString())
    return protos_from_files(files, source="renumbered")
