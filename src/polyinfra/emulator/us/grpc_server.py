"""The emulator's gRPC server: the US exchange's services on their own port, in the emulator's event loop.

Server reflection is on, as on the venue's preprod endpoint, so ``grpcurl`` and polyinfra's reflection
client can list and describe what it serves. ``interceptors`` is where authentication plugs in (scope checks
per RPC, the UNAUTHENTICATED answers); the services themselves know nothing of tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import grpc
from grpc_reflection.v1alpha import reflection

from polyinfra.core.us_instruments import UsInstrument
from polyinfra.emulator.us.market_data import MarketDataService
from polyinfra.emulator.us.refdata import HealthService, RefDataService
from polyinfra.wire.us.polymarket.v1 import (
    health_pb2,
    health_pb2_grpc,
    marketdatasubscription_pb2,
    marketdatasubscription_pb2_grpc,
    refdata_pb2,
    refdata_pb2_grpc,
)

__all__ = ["UsGrpcServer"]

STOP_GRACE_S: Final = 1.0


class UsGrpcServer:
    """HealthAPI and RefDataAPI over ``instruments`` (and ``market_data`` when given), with reflection, on
    one port."""

    def __init__(
        self,
        instruments: Sequence[UsInstrument],
        *,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        market_data: MarketDataService | None = None,
    ) -> None:
        self._instruments = tuple(instruments)
        self._market_data = market_data
        self._interceptors = list(interceptors)
        self._server: grpc.aio.Server | None = None
        self._port: int | None = None

    @property
    def port(self) -> int | None:
        return self._port

    async def start(self, host: str, port: int) -> int:
        """Bind ``host:port`` (0: a free port) and serve; returns the bound port.

        The server is made here, not in ``__init__``: grpc.aio ties a server to the running event loop.
        """
        server = grpc.aio.server(interceptors=self._interceptors)
        health_pb2_grpc.add_HealthAPIServicer_to_server(HealthService(), server)
        refdata_pb2_grpc.add_RefDataAPIServicer_to_server(RefDataService(self._instruments), server)
        services = [
            health_pb2.DESCRIPTOR.services_by_name["HealthAPI"].full_name,
            refdata_pb2.DESCRIPTOR.services_by_name["RefDataAPI"].full_name,
            reflection.SERVICE_NAME,
        ]
        if self._market_data is not None:
            marketdatasubscription_pb2_grpc.add_MarketDataSubscriptionAPIServicer_to_server(self._market_data, server)
            services.append(
                marketdatasubscription_pb2.DESCRIPTOR.services_by_name["MarketDataSubscriptionAPI"].full_name
            )
        reflection.enable_server_reflection(services, server)
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
