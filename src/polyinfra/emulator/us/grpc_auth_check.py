"""The emulated US exchange's token and scope check on every gRPC call (``--us-require-auth``).

The venue checks a call's bearer token when the call starts, never again while a stream runs
(venue notes: US exchange token endpoint): a stream opened with a token keeps running after that
token expires, and only a new call needs a new token. :class:`RequireUsAuth` does the same with the
emulator's own token check (:meth:`~polyinfra.emulator.us.token_endpoint.UsTokenEndpoint.verify`,
the ``early_expiry_s`` knob applied): a call without a valid token ends ``UNAUTHENTICATED``, one whose
token lacks the service's scope ends ``PERMISSION_DENIED`` with the venue's "missing required scope"
message. Server reflection needs a valid token but no scope: the venue's gateway lets no unauthenticated
call through but health checks, and clients that read a server's protos must show they send their token
there too. Health checks need no token. The scope is the service's (:data:`SERVICE_SCOPES`) unless the
method has its own (:data:`METHOD_SCOPES`: order entry's reads, the instrument-state stream's):
:func:`scope_of`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import grpc

from polyinfra.emulator.us.token_endpoint import UsTokenEndpoint
from polyinfra.errors import JwtAuthError, MissingScopeError

__all__ = ["METHOD_SCOPES", "SERVICE_SCOPES", "TOKEN_ONLY_SERVICES", "RequireUsAuth", "scope_of"]

SERVICE_SCOPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "polymarket.v1.RefDataAPI": "read:instruments",
        "polymarket.v1.MarketDataSubscriptionAPI": "read:marketdata",
        "polymarket.v1.DropCopyAPI": "read:dropcopy",
        "polymarket.v1.ReportAPI": "read:reports",
        "polymarket.v1.OrderEntryAPI": "write:orders",
        "polymarket.v1.PositionAPI": "read:positions",
    }
)
"""The scope each checked service's calls need (venue notes: US exchange token endpoint); a service
not listed here or in :data:`TOKEN_ONLY_SERVICES` is open."""

TOKEN_ONLY_SERVICES: Final = frozenset(
    {"grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"}
)
"""Services whose calls need a valid token, whatever its scopes."""

METHOD_SCOPES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "polymarket.v1.OrderEntryAPI/PreviewOrder": "read:orders",
        "polymarket.v1.OrderEntryAPI/GetOpenOrders": "read:orders",
        "polymarket.v1.OrderEntryAPI/CreateOrderSubscription": "read:orders",
        # The venue's docs give the instrument-state stream the reference-data scope, not DropCopy's.
        "polymarket.v1.DropCopyAPI/CreateInstrumentStateChangeSubscription": "read:instruments",
    }
)
"""Methods whose scope is not their service's: order entry's reads need ``read:orders`` only, the
instrument-state stream ``read:instruments``."""


def scope_of(method: str) -> str | None:
    """The scope the call ``/service/method`` needs; None: it is open."""
    name = method.lstrip("/")
    return METHOD_SCOPES.get(name) or SERVICE_SCOPES.get(name.rpartition("/")[0])


_Continuation = Callable[[grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]]


class RequireUsAuth(grpc.aio.ServerInterceptor):
    """Refuse calls to the services of :data:`SERVICE_SCOPES` whose token ``tokens`` does not grant."""

    def __init__(self, tokens: UsTokenEndpoint) -> None:
        self._tokens = tokens

    async def intercept_service(
        self, continuation: _Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method.lstrip("/")
        scope = scope_of(method)
        if handler is None or (scope is None and method.rpartition("/")[0] not in TOKEN_ONLY_SERVICES):
            return handler
        refusal = self._refusal(handler_call_details, scope)
        return handler if refusal is None else _refusing(handler, *refusal)

    def _refusal(self, details: grpc.HandlerCallDetails, scope: str | None) -> tuple[grpc.StatusCode, str] | None:
        authorization = next(
            (
                value
                for key, value in details.invocation_metadata or ()
                if key == "authorization" and isinstance(value, str)
            ),
            "",
        )
        try:
            token = self._tokens.verify(authorization)
            if scope is not None:
                token.require(scope)
        except MissingScopeError as refused:
            return grpc.StatusCode.PERMISSION_DENIED, refused.message
        except JwtAuthError as refused:
            return grpc.StatusCode.UNAUTHENTICATED, refused.message
        return None


def _refusing(
    handler: grpc.RpcMethodHandler[Any, Any], code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of ``handler``'s shape that ends the call with ``code`` before reading a request."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, message)

    make = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    return make(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
