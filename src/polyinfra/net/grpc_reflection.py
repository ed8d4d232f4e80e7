"""A server's descriptors over gRPC server reflection, for a client that must not trust its own numbers.

The venue's reflection exists on some environments and is not promised
(venue notes: US exchange connections); the emulator always has it. :func:`fetch_protos` lists the
server's services, asks for the file defining each and for any dependency not yet sent, and builds a
:class:`UsProtos` from them with the one descriptor decoder
(:func:`polyinfra.core.us_descriptors.protos_from_files`), so whatever the server sends ends as
descriptors or a typed error. Every step is bounded: requests, files, bytes and time.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError
from grpc_reflection.v1alpha import reflection_pb2

from polyinfra.core.us_descriptors import MAX_DESCRIPTOR_FILES, UsProtos, protos_from_files
from polyinfra.errors import MalformedMessageError, ProtoMismatchError, RequestTimeoutError
from polyinfra.net.grpc_channel import CallHeaders, rpc_error

__all__ = ["fetch_protos"]

REFLECTION_SERVICE: Final = "grpc.reflection.v1alpha.ServerReflection"
MAX_SERVICES: Final = 200
MAX_REQUESTS: Final = 2 * MAX_DESCRIPTOR_FILES


async def fetch_protos(
    channel: grpc.aio.Channel, *, target: str, timeout_s: float, metadata: CallHeaders | None = None
) -> UsProtos:
    """The descriptors of every service ``channel``'s server offers (reflection's own left out);
    ``metadata`` goes with the call (a server may want a token for reflection too)."""
    try:
        async with asyncio.timeout(timeout_s):
            files = await _fetch_files(channel, None if metadata is None else metadata.pairs())
    except TimeoutError:
        raise RequestTimeoutError("server reflection did not answer in time", target=target) from None
    except grpc.aio.AioRpcError as exc:
        raise rpc_error(exc, "ServerReflection/ServerReflectionInfo") from None
    return protos_from_files(files.values(), source=f"reflection at {target}")


async def _fetch_files(channel: grpc.aio.Channel, metadata: Any) -> dict[str, bytes]:
    call = channel.stream_stream(
        f"/{REFLECTION_SERVICE}/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )(metadata=metadata)
    try:
        listing = await _ask(call, reflection_pb2.ServerReflectionRequest(list_services=""))
        services = [s.name for s in listing.list_services_response.service if s.name != REFLECTION_SERVICE]
        if not services or len(services) > MAX_SERVICES:
            raise ProtoMismatchError("server reflection lists no services, or too many", services=len(services))
        files: dict[str, bytes] = {}
        wanted: list[reflection_pb2.ServerReflectionRequest] = [
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=name) for name in services
        ]
        asked: set[str] = set()
        for _ in range(MAX_REQUESTS):
            if not wanted:
                return files
            answer = await _ask(call, wanted.pop())
            for data in answer.file_descriptor_response.file_descriptor_proto:
                if len(files) >= MAX_DESCRIPTOR_FILES:
                    raise MalformedMessageError(f"server reflection sent more than {MAX_DESCRIPTOR_FILES} files")
                name, dependencies = _name_and_dependencies(data)
                files.setdefault(name, data)
                for dependency in dependencies:
                    if (
                        dependency not in files
                        and dependency not in asked
                        and not dependency.startswith("google/protobuf/")
                    ):
                        asked.add(dependency)
                        wanted.append(reflection_pb2.ServerReflectionRequest(file_by_filename=dependency))
        raise MalformedMessageError(f"server reflection needed more than {MAX_REQUESTS} requests")
    finally:
        call.cancel()


async def _ask(
    call: grpc.aio.StreamStreamCall[Any, Any],
    request: reflection_pb2.ServerReflectionRequest,
) -> reflection_pb2.ServerReflectionResponse:
    await call.write(request)
    answer = await call.read()
    if not isinstance(answer, reflection_pb2.ServerReflectionResponse):  # grpc.aio.EOF
        raise MalformedMessageError("server reflection ended its stream")
    if answer.HasField("error_response"):
        raise ProtoMismatchError(
            "server reflection refused a request",
            code=answer.error_response.error_code,
            venue_message=answer.error_response.error_message[:300],
        )
    return answer


def _name_and_dependencies(data: bytes) -> tuple[str, list[str]]:
    proto = descriptor_pb2.FileDescriptorProto()
    try:
        proto.ParseFromString(data)
    except DecodeError:
        raise MalformedMessageError("server reflection sent a file descriptor that does not decode") from None
    return proto.name, list(proto.dependency)
