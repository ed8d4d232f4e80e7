"""gRPC auth for the US exchange: client interceptors that put the token on every call.

:func:`auth_interceptors` gives the four ``grpc.aio`` client interceptors (one per call shape; a
channel files each interceptor under one shape only) for ``grpc.aio.insecure_channel(...,
interceptors=...)`` or a secure one. Each call gets ``authorization: Bearer <token>`` from the
:class:`~polyinfra.us.token_manager.TokenManager` and, when the manager has one,
``x-participant-id`` (venue notes: US exchange token endpoint). Metadata the caller set is kept,
except an ``authorization`` of its own, which the manager's replaces.

Unary calls are finished here so their refusals can be acted on:

* ``UNAUTHENTICATED``: the token is replaced (:meth:`TokenManager.replace`) and the call made once
  more; refused again, it raises :class:`~polyinfra.errors.JwtAuthError`;
* ``PERMISSION_DENIED`` "missing required scope <scope>": raises
  :class:`~polyinfra.errors.MissingScopeError` naming the scope and the scopes the token has.

Streams are authenticated when they start (venue notes: US exchange token endpoint): a stream
gets the current token as it opens and keeps running across refreshes; the stream's owner calls
:meth:`TokenManager.replace` when one ends ``UNAUTHENTICATED`` and reconnects with the new token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
from grpc.aio import (
    ClientCallDetails,
    ClientInterceptor,
    StreamStreamClientInterceptor,
    StreamUnaryClientInterceptor,
    UnaryStreamClientInterceptor,
    UnaryUnaryClientInterceptor,
)

from polyinfra.core.us_auth import AccessToken, missing_scope_error
from polyinfra.us.token_manager import AUTHORIZATION, TokenManager, call_metadata, refused_token_error

__all__ = ["auth_interceptors"]


def auth_interceptors(manager: TokenManager) -> list[ClientInterceptor]:
    """The interceptors that authenticate every call of a channel with ``manager``'s tokens."""
    return [
        _UnaryUnaryAuth(manager),
        _UnaryStreamAuth(manager),
        _StreamUnaryAuth(manager),
        _StreamStreamAuth(manager),
    ]


class _Auth:
    def __init__(self, manager: TokenManager) -> None:
        self._manager = manager

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._manager!r})"

    def _details(self, details: ClientCallDetails, token: AccessToken) -> ClientCallDetails:
        kept: Sequence[tuple[str, Any]] = [
            (key, value) for key, value in (details.metadata or ()) if key.lower() != AUTHORIZATION
        ]
        metadata = grpc.aio.Metadata(*kept, *call_metadata(token, self._manager.participant_id))
        return ClientCallDetails(details.method, details.timeout, metadata, details.credentials, details.wait_for_ready)

    async def _opened(
        self, continuation: Callable[..., Any], client_call_details: ClientCallDetails, request: Any
    ) -> Any:
        """Open a call that streams (``request`` may be an iterator) with the current token."""
        return await continuation(self._details(client_call_details, await self._manager.token()), request)


class _UnaryUnaryAuth(_Auth, UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: ClientCallDetails, request: Any
    ) -> Any:
        token = await self._manager.token()
        call = await continuation(self._details(client_call_details, token), request)
        code = await call.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            token = await self._manager.replace(token)
            call = await continuation(self._details(client_call_details, token), request)
            code = await call.code()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                raise refused_token_error(token)
        if code == grpc.StatusCode.PERMISSION_DENIED:
            missing = missing_scope_error(
                await call.details() or "", granted=token.scopes, method=_method(client_call_details)
            )
            if missing is not None:
                raise missing
        return call


# Calls that stream are authenticated once, as they open: the same step for the three shapes.
class _UnaryStreamAuth(_Auth, UnaryStreamClientInterceptor):
    intercept_unary_stream = _Auth._opened


class _StreamUnaryAuth(_Auth, StreamUnaryClientInterceptor):
    intercept_stream_unary = _Auth._opened


class _StreamStreamAuth(_Auth, StreamStreamClientInterceptor):
    intercept_stream_stream = _Auth._opened


def _method(details: ClientCallDetails) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else str(method)
