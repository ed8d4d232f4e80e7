"""The emulator's gRPC server: the US exchange's services on their own port, in the emulator's event loop.

Services are registered from their descriptors, not through protoc's ``add_..._to_server``: the same servicer
then speaks either polyinfra's compiled-in numbers or, given ``protos`` (the renumbered set of
``--us-renumbered-protos``), another numbering, carried across by field name with the client's own
:class:`DynamicCodec`. Server reflection is on, as on the venue's preprod endpoint, and describes whichever
numbering is served, so ``grpcurl`` and polyinfra's reflection client see what is really on the wire.
``interceptors`` is where authentication plugs in (scope checks per RPC, the UNAUTHENTICATED answers); the
services themselves know nothing of tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from grpc_reflection.v1alpha import reflection

from polyinfra.core.us_descriptors import UsProtos
from polyinfra.core.us_dynamic_codec import DynamicCodec
from polyinfra.core.us_instruments import UsInstrument
from polyinfra.emulator.us.market_data import MarketDataService
from polyinfra.emulator.us.refdata import HealthService, RefDataService
from polyinfra.wire.us.polymarket.v1 import health_pb2, marketdatasubscription_pb2, refdata_pb2

__all__ = ["UsGrpcServer"]

STOP_GRACE_S: Final = 1.0


def _handler(servicer: object, method: MethodDescriptor, codec: DynamicCodec | None) -> grpc.RpcMethodHandler[Any, Any]:
    request_class = message_factory.GetMessageClass(method.input_type)
    serialize: Callable[[Message], bytes]
    deserialize: Callable[[bytes], Message]
    if codec is None:
        serialize, deserialize = request_class.SerializeToString, request_class.FromString
    else:
        serialize = codec.encode

        def deserialize(data: bytes) -> Message:
            return codec.decode(data, request_class)

    factory: Any = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(method.client_streaming, method.server_streaming)]
    return factory(  # type: ignore[no-any-return]
        getattr(servicer, method.name), request_deserializer=deserialize, response_serializer=serialize
    )


class UsGrpcServer:
    """HealthAPI and RefDataAPI over ``instruments`` (and ``market_data`` when given, and each
    ``(descriptor, servicer)`` of ``services``), with reflection, on one port; ``protos`` is the numbering
    served (default: polyinfra's)."""

    def __init__(
        self,
        instruments: Sequence[UsInstrument] | Callable[[], Sequence[UsInstrument]],
        *,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        protos: UsProtos | None = None,
        market_data: MarketDataService | None = None,
        services: Sequence[tuple[ServiceDescriptor, object]] = (),
    ) -> None:
        self._instruments = instruments if callable(instruments) else tuple(instruments)
        self._market_data = market_data
        self._more_services = tuple(services)
        self._interceptors = list(interceptors)
        self._protos = protos
        self._server: grpc.aio.Server | None = None
        self._port: int | None = None

    @property
    def port(self) -> int | None:
        return self._port

    def _services(self) -> list[tuple[ServiceDescriptor, object]]:
        services: list[tuple[ServiceDescriptor, object]] = [
            (health_pb2.DESCRIPTOR.services_by_name["HealthAPI"], HealthService()),
            (refdata_pb2.DESCRIPTOR.services_by_name["RefDataAPI"], RefDataService(self._instruments)),
        ]
        if self._market_data is not None:
            market_data = marketdatasubscription_pb2.DESCRIPTOR.services_by_name["MarketDataSubscriptionAPI"]
            services.append((market_data, self._market_data))
        return [*services, *self._more_services]

    async def start(self, host: str, port: int) -> int:
        """Bind ``host:port`` (0: a free port) and serve; returns the bound port.

        The server is made here, not in ``__init__``: grpc.aio ties a server to the running event loop.
        """
        server = grpc.aio.server(interceptors=self._interceptors)
        codec = DynamicCodec(self._protos) if self._protos is not None else None
        services = self._services()
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    service.full_name, {method.name: _handler(servicer, method, codec) for method in service.methods}
                )
                for service, servicer in services
            ]
        )
        names = [service.full_name for service, _ in services] + [reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, server, pool=self._protos.pool if self._protos else None)
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            bound = server.add_insecure_port(authority)
        except RuntimeError as exc:  # grpcio raises instead of returning 0 when the port is taken
            raise OSError(f"cannot bind the gRPC port {authority}: {exc}") from None
        if bound == 0:
            raise OSError(f"cannot bind the gRPC port {authority}")
        self._server = server
        await server.start()
        self._port = bound
        return bound

    async def stop(self) -> None:
        """Stop serving (in-flight calls get a second to finish); a server never started stops at once."""
        if self._server is not None:
            await self._server.stop(STOP_GRACE_S)
            self._server = None
        self._port = None
