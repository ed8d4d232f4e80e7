"""Sets of US exchange proto descriptors (ours, a bundle's, a server's) and the differences between them.

A :class:`UsProtos` is a descriptor pool plus the names of the ``polymarket`` files in it. :func:`static_protos`
is the set polyinfra compiled in; :func:`protos_from_files` builds one from serialized ``FileDescriptorProto``s,
as the official bundle compiles to and as server reflection sends them. That is a decoder of hostile bytes:
any input ends as a :class:`UsProtos` or a :class:`MalformedMessageError`, within fixed bounds on the number
and size of files.

:func:`diff_protos` lists how a set differs from ours, by name: fields and enum values whose numbers differ
(the dangerous kind: the bytes still parse, into the wrong fields), fields whose types differ, and what
exists on one side only (venue notes: US exchange protos). :func:`first_unknown_field` is how a client
speaking our numbers notices, on a live answer, that the server's are different.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from google.protobuf import descriptor_pb2, descriptor_pool, unknown_fields
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError, Message

from polyinfra.errors import MalformedMessageError
from polyinfra.wire.us.polymarket.v1 import (
    accounts_pb2,
    dropcopy_pb2,
    enums_pb2,
    health_pb2,
    marketdatasubscription_pb2,
    orderbook_pb2,
    orders_pb2,
    positions_pb2,
    refdata_pb2,
    report_pb2,
    trading_pb2,
    types_pb2,
)

__all__ = [
    "MAX_DESCRIPTOR_FILES",
    "ProtoDifference",
    "UsProtos",
    "diff_protos",
    "first_unknown_field",
    "protos_from_files",
    "static_protos",
]

MAX_DESCRIPTOR_FILES: Final = 500
MAX_DESCRIPTOR_BYTES: Final = 4 * 1024 * 1024
VENUE_PACKAGE_PREFIX: Final = "polymarket."
_STATIC_MODULES: Final = (
    types_pb2,
    enums_pb2,
    refdata_pb2,
    marketdatasubscription_pb2,
    orders_pb2,
    trading_pb2,
    dropcopy_pb2,
    positions_pb2,
    report_pb2,
    orderbook_pb2,
    accounts_pb2,
    health_pb2,
)


@dataclass(frozen=True, slots=True)
class UsProtos:
    """A descriptor pool and the venue files (package ``polymarket.*``) in it; ``source`` says where it came from."""

    pool: descriptor_pool.DescriptorPool
    files: tuple[str, ...]
    source: str

    def file_descriptors(self) -> Iterator[FileDescriptor]:
        for name in self.files:
            yield self.pool.FindFileByName(name)

    def messages(self) -> dict[str, Descriptor]:
        """Every message of the venue files by full name, nested ones included."""
        found: dict[str, Descriptor] = {}

        def add(message: Descriptor) -> None:
            if not message.GetOptions().map_entry:
                found[message.full_name] = message
            for nested in message.nested_types:
                add(nested)

        for file in self.file_descriptors():
            for message in file.message_types_by_name.values():
                add(message)
        return found

    def enums(self) -> dict[str, EnumDescriptor]:
        found: dict[str, EnumDescriptor] = {}
        for file in self.file_descriptors():
            found.update({enum.full_name: enum for enum in file.enum_types_by_name.values()})
        for message in self.messages().values():
            found.update({enum.full_name: enum for enum in message.enum_types})
        return found

    def methods(self) -> dict[str, str]:
        """``{"/polymarket.v1.RefDataAPI/ListInstruments": "polymarket.v1.RefDataAPI", ...}``."""
        return {
            f"/{service.full_name}/{method.name}": service.full_name
            for file in self.file_descriptors()
            for service in file.services_by_name.values()
            for method in service.methods
        }


def static_protos() -> UsProtos:
    """The protos polyinfra compiled in (package ``polyinfra.wire.us``)."""
    files = tuple(module.DESCRIPTOR.name for module in _STATIC_MODULES)
    return UsProtos(descriptor_pool.Default(), files, "polyinfra")


def protos_from_files(serialized: Iterable[bytes], *, source: str) -> UsProtos:
    """A pool of the serialized ``FileDescriptorProto``s, dependencies first whatever order they come in.

    The protobuf runtime's own files (``google/protobuf/*.proto``) may be left out: polyinfra has them.
    :class:`MalformedMessageError` for more than :data:`MAX_DESCRIPTOR_FILES` files or
    :data:`MAX_DESCRIPTOR_BYTES` bytes, undecodable bytes, two files of one name, a missing dependency, an
    import cycle, or descriptors the runtime refuses (a type that does not exist, a name defined twice).
    """
    protos: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    total = 0
    for data in serialized:
        total += len(data)
        if len(protos) >= MAX_DESCRIPTOR_FILES or total > MAX_DESCRIPTOR_BYTES:
            raise MalformedMessageError(
                f"more than {MAX_DESCRIPTOR_FILES} descriptor files or {MAX_DESCRIPTOR_BYTES} bytes", source=source
            )
        proto = descriptor_pb2.FileDescriptorProto()
        try:
            proto.ParseFromString(data)
        except DecodeError as exc:
            raise MalformedMessageError("a file descriptor does not decode", source=source, cause=str(exc)) from None
        # descriptor.proto is proto2: a string field holding invalid UTF-8 comes back as bytes.
        if not all(isinstance(text, str) for text in (proto.name, proto.package, *proto.dependency)):
            raise MalformedMessageError("a file descriptor's name or imports are not UTF-8", source=source)
        if not proto.name or protos.setdefault(proto.name, proto) is not proto:
            raise MalformedMessageError("a file descriptor without a name, or two of one name", source=source)
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()
    for name in _dependency_order(protos, source):
        try:
            if name in protos:
                pool.Add(protos[name])
            else:
                pool.AddSerializedFile(descriptor_pool.Default().FindFileByName(name).serialized_pb)
            added.add(name)
        except (TypeError, ValueError, KeyError) as exc:
            raise MalformedMessageError(
                "the runtime refuses a file descriptor", source=source, file=name[:200], cause=str(exc)[:300]
            ) from None
    try:  # the pool builds descriptors lazily: resolve every venue file now, while errors can still be typed
        for name in added:
            pool.FindFileByName(name)
    except (TypeError, ValueError, KeyError) as exc:
        raise MalformedMessageError("inconsistent file descriptors", source=source, cause=str(exc)[:300]) from None
    venue_files = tuple(sorted(name for name in protos if protos[name].package.startswith(VENUE_PACKAGE_PREFIX)))
    return UsProtos(pool, venue_files, source)


def first_unknown_field(message: Message) -> str | None:
    """The path of a field ``message`` (or a message inside it) holds under a number our protos do not have,
    ``"ListInstrumentsResponse.#101"``; None when every field was known."""
    pending = [(message.DESCRIPTOR.name, message)]
    while pending:
        path, current = pending.pop()
        unknown = unknown_fields.UnknownFieldSet(current)
        if len(unknown):
            return f"{path}.#{next(iter(unknown)).field_number}"
        for field, value in current.ListFields():
            if field.message_type is None:
                continue
            if field.message_type.GetOptions().map_entry:
                values = value.values() if field.message_type.fields_by_name["value"].message_type else ()
            else:
                values = value if field.is_repeated else (value,)
            pending.extend((f"{path}.{field.name}", item) for item in values)
    return None


def _dependency_order(protos: dict[str, descriptor_pb2.FileDescriptorProto], source: str) -> list[str]:
    """File names, each after its dependencies (the runtime's own files included where imported)."""
    order: list[str] = []
    done: set[str] = set()
    visiting: set[str] = set()
    for root, root_proto in protos.items():
        if root in done:
            continue
        visiting.add(root)
        stack = [(root, iter(root_proto.dependency))]
        while stack:
            name, dependencies = stack[-1]
            dependency = next(dependencies, None)
            if dependency is None:
                stack.pop()
                visiting.discard(name)
                done.add(name)
                order.append(name)
            elif dependency in done:
                continue
            elif dependency in visiting:
                raise MalformedMessageError("file descriptors import each other in a cycle", source=source)
            elif dependency in protos:
                visiting.add(dependency)
                stack.append((dependency, iter(protos[dependency].dependency)))
            elif _is_runtime_file(dependency):
                done.add(dependency)
                order.append(dependency)
            else:
                raise MalformedMessageError(
                    "a file descriptor's dependency is missing", source=source, dependency=dependency[:200]
                )
    return order


def _is_runtime_file(name: str) -> bool:
    if not name.startswith("google/protobuf/"):
        return False
    try:
        descriptor_pool.Default().FindFileByName(name)
    except KeyError:
        return False
    return True


@dataclass(frozen=True, slots=True, order=True)
class ProtoDifference:
    """One difference between our protos and theirs. ``kind`` is one of ``renumbered field``, ``retyped field``,
    ``renumbered enum value``, ``missing message``, ``missing field``, ``missing enum``, ``missing enum value``,
    ``missing method`` (in theirs) or ``extra message``, ``extra field``, ``extra enum value``, ``extra method``
    (only in theirs). ``ours`` and ``theirs`` show the number or type on each side."""

    name: str  # polymarket.v1.Order.price_scale, polymarket.v1.Side.SIDE_BUY, /polymarket.v1.RefDataAPI/ListSymbols
    kind: str
    ours: str = ""
    theirs: str = ""


_TYPE_NAMES: Final[dict[int, str]] = {
    int(value): name.removeprefix("TYPE_").lower() for name, value in descriptor_pb2.FieldDescriptorProto.Type.items()
}


def _field_type(field: FieldDescriptor) -> str:
    if field.message_type is not None:
        shape = field.message_type.full_name
    elif field.enum_type is not None:
        shape = field.enum_type.full_name
    else:
        shape = _TYPE_NAMES[field.type]
    return f"repeated {shape}" if field.is_repeated else shape


def diff_protos(ours: UsProtos, theirs: UsProtos) -> list[ProtoDifference]:
    """How ``theirs`` differs from ``ours``, sorted by name.

    What lives in a file ``theirs`` does not have at all, or in a service it does not offer, is not reported
    missing: a server's reflection describes only the services it serves.
    """
    found: list[ProtoDifference] = []
    our_messages, their_messages = ours.messages(), theirs.messages()
    their_files = set(theirs.files)
    for name, message in our_messages.items():
        other = their_messages.get(name)
        if other is None:
            if message.file.name in their_files:
                found.append(ProtoDifference(name, "missing message"))
            continue
        their_fields = other.fields_by_name
        for field_name, field in message.fields_by_name.items():
            counterpart = their_fields.get(field_name)
            path = f"{name}.{field_name}"
            if counterpart is None:
                found.append(ProtoDifference(path, "missing field", str(field.number)))
                continue
            if counterpart.number != field.number:
                found.append(ProtoDifference(path, "renumbered field", str(field.number), str(counterpart.number)))
            if _field_type(counterpart) != _field_type(field):
                found.append(ProtoDifference(path, "retyped field", _field_type(field), _field_type(counterpart)))
        found.extend(
            ProtoDifference(f"{name}.{field_name}", "extra field", "", str(field.number))
            for field_name, field in their_fields.items()
            if field_name not in message.fields_by_name
        )
    found.extend(ProtoDifference(name, "extra message") for name in their_messages.keys() - our_messages.keys())
    their_enums = theirs.enums()
    for name, enum in ours.enums().items():
        other_enum = their_enums.get(name)
        if other_enum is None:
            if enum.file.name in their_files:
                found.append(ProtoDifference(name, "missing enum"))
            continue
        for value_name, value in enum.values_by_name.items():
            other_value = other_enum.values_by_name.get(value_name)
            path = f"{name}.{value_name}"
            if other_value is None:
                found.append(ProtoDifference(path, "missing enum value", str(value.number)))
            elif other_value.number != value.number:
                found.append(ProtoDifference(path, "renumbered enum value", str(value.number), str(other_value.number)))
        found.extend(
            ProtoDifference(f"{name}.{value_name}", "extra enum value", "", str(value.number))
            for value_name, value in other_enum.values_by_name.items()
            if value_name not in enum.values_by_name
        )
    our_methods, their_methods = ours.methods(), theirs.methods()
    their_services = set(their_methods.values())
    found.extend(
        ProtoDifference(path, "missing method")
        for path, service in our_methods.items()
        if path not in their_methods and service in their_services
    )
    # Only methods of services we also have: a server lists others (reflection itself, services we do not use).
    found.extend(
        ProtoDifference(path, "extra method")
        for path, service in their_methods.items()
        if path not in our_methods and service in our_methods.values()
    )
    return sorted(found)
