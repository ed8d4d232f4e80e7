"""Encode and decode US exchange messages by field name, against somebody else's descriptors.

Most of the venue's field numbers are unpublished, so polyinfra's compiled-in numbers may be wrong. When the
caller has the venue's real descriptors (its proto bundle, or server reflection), a :class:`DynamicCodec`
carries each message across by name instead: ours -> theirs before sending, theirs -> ours after receiving.
Field and enum-value *names* are the venue's documented ones, so the rest of polyinfra keeps using its
static classes and never sees the venue's numbers. A field one side lacks is left out, as protobuf itself
skips unknown fields.

Decoding is a decoder of hostile bytes: any answer becomes one of our messages or a
:class:`MalformedMessageError` (bytes that do not parse against their descriptor, values that do not fit
our field of the same name).
"""

from __future__ import annotations

from typing import Final, TypeVar

from google.protobuf import json_format, message_factory
from google.protobuf.message import DecodeError, Message

from polyinfra.core.us_descriptors import UsProtos
from polyinfra.errors import MalformedMessageError, ProtoMismatchError

__all__ = ["DynamicCodec"]

MessageT = TypeVar("MessageT", bound=Message)
MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024


class DynamicCodec:
    """Messages carried by name between our compiled protos and ``theirs``."""

    def __init__(self, theirs: UsProtos) -> None:
        self.theirs = theirs
        self._classes: dict[str, type[Message]] = {}

    def _their_class(self, full_name: str) -> type[Message]:
        found = self._classes.get(full_name)
        if found is None:
            try:
                descriptor = self.theirs.pool.FindMessageTypeByName(full_name)
            except KeyError:
                raise ProtoMismatchError(
                    f"{self.theirs.source} protos have no message {full_name}", message_type=full_name
                ) from None
            found = self._classes[full_name] = message_factory.GetMessageClass(descriptor)
        return found

    def encode(self, message: Message, *, as_type: str | None = None) -> bytes:
        """``message`` (ours) as the bytes their descriptors expect, of their message ``as_type`` when their
        method takes a message of another name."""
        theirs = self._their_class(as_type or message.DESCRIPTOR.full_name)()
        fields = json_format.MessageToDict(message, preserving_proto_field_name=True)
        try:
            json_format.ParseDict(fields, theirs, ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            raise MalformedMessageError(
                "a field does not fit their type of the same name",
                message_type=message.DESCRIPTOR.full_name,
                cause=str(exc)[:300],
            ) from None
        return theirs.SerializeToString()

    def decode(self, data: bytes, ours: type[MessageT], *, as_type: str | None = None) -> MessageT:
        """Their bytes of the message named like ``ours`` (or ``as_type``), as an ``ours``."""
        name = as_type or ours.DESCRIPTOR.full_name
        if len(data) > MAX_MESSAGE_BYTES:
            raise MalformedMessageError("message too large", message_type=name, size=len(data))
        theirs = self._their_class(name)()
        try:
            theirs.ParseFromString(data)
            fields = json_format.MessageToDict(theirs, preserving_proto_field_name=True)
            return json_format.ParseDict(fields, ours(), ignore_unknown_fields=True)
        except (DecodeError, json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
            raise MalformedMessageError(
                "their message does not decode into ours", message_type=name, cause=str(exc)[:300]
            ) from None
