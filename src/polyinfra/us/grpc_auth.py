"""gRPC auth for the US exchange: client interceptors that put the token on every call.

:func:`auth_interceptors` gives the four ``grpc.aio`` client interceptors (one per call shape; a
channel files each interceptor under one shape only) for ``grpc.aio.insecure_channel(...,
interceptors=...)`` or a secure one. Each call gets ``authorization: Bearer <token>`` from the
:class:`~polyinfra.us.token_manager.TokenManager` and, when the manager has one,
``x-participant-id`` (venue notes: US exchange token endpoint). Metadata the caller set is kept,
except an ``authorization`` of its own, which the manager's replaces.

Every authenticated call here, whatever its shape or owner, goes through one rule,
:meth:`CallAuth.call` (the clients :class:`~polyinfra.us.client.UsExchangeClient` and
:class:`~polyinfra.us.live_books.UsLiveBooks` use it too):

* the call is made with the current token (:meth:`TokenManager.token`, refreshed ahead of expiry);
* ``UNAUTHENTICATED``: the token is replaced (:meth:`TokenManager.replace`, one mint however many
  calls were refused with it) and the call made once more; refused again, it raises
  :class:`~polyinfra.errors.JwtAuthError` (the credentials are not accepted for this API);
* ``UNAUTHENTICATED`` without a token manager: raises :class:`~polyinfra.errors.GrpcAuthError`
  saying that the server wants a token and how to configure one (:data:`NO_TOKENS_HINT`);
* ``PERMISSION_DENIED`` "missing required scope <scope>": raises
  :class:`~polyinfra.errors.MissingScopeError` naming the scope and the scopes the token has.

Streams are authenticated when they start (venue notes: US exchange token endpoint): a stream
gets the current token as it opens and keeps running across refreshes; a stream the venue ends
``UNAUTHENTICATED`` is a call refused, opened again once with the replaced token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

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
from polyinfra.core.us_status import error_from_status
from polyinfra.errors import GrpcAuthError
from polyinfra.net.grpc_channel import CallHeaders, CallMetadata
from polyinfra.us.token_manager import AUTHORIZATION, TokenManager, call_metadata, refused_token_error

__all__ = ["NO_TOKENS_HINT", "CallAuth", "auth_interceptors"]

_T = TypeVar("_T")

NO_TOKENS_HINT: Final = (
    "pass tokens= (a TokenManager); the polyinfra us commands mint them from POLYINFRA_US_CLIENT_ID and "
    "POLYINFRA_US_PRIVATE_KEY_FILE (with --token-url for a server other than the venue's)"
)
"""How to authenticate calls to a server that refused one made without a token."""
_UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED.name
_PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED.name


class CallAuth:
    """The metadata every call of one client sends, and the rule for a refused token.

    ``tokens`` authenticates the calls (none: they go without a token, as to the emulator by
    default); ``extra`` (a coroutine function returning header pairs) adds headers of the caller's
    own to every call, asked afresh each time.
    """

    def __init__(self, tokens: TokenManager | None = None, extra: CallMetadata | None = None) -> None:
        self._tokens = tokens
        self._extra = extra

    def __repr__(self) -> str:
        return f"CallAuth({self._tokens!r})"

    async def metadata(self, token: AccessToken | None) -> CallHeaders:
        """The metadata of a call made with ``token`` (None: without one)."""
        extra = tuple(await self._extra()) if self._extra is not None else ()
        if token is None or self._tokens is None:
            return CallHeaders(extra)
        return CallHeaders((*extra, *call_metadata(token, self._tokens.participant_id)))

    async def call(self, attempt: Callable[[CallHeaders], Awaitable[_T]]) -> _T:
        """``attempt(metadata)``, made once more with a replaced token when it raises the typed
        ``UNAUTHENTICATED`` error (:func:`~polyinfra.core.us_status.error_from_status`'s
        :class:`~polyinfra.errors.GrpcAuthError`). A missing scope raises
        :class:`~polyinfra.errors.MissingScopeError`; a second refusal :class:`~polyinfra.errors.JwtAuthError`."""
        token = await self._tokens.token() if self._tokens is not None else None
        try:
            return await self._attempt(attempt, token)
        except GrpcAuthError as refused:
            if refused.context.get("code") != _UNAUTHENTICATED:
                raise
            if self._tokens is None:
                raise GrpcAuthError(
                    f"{refused.context.get('method')} needs an access token and none is configured",
                    retriable=False,
                    code=_UNAUTHENTICATED,
                    method=refused.context.get("method"),
                    hint=NO_TOKENS_HINT,
                ) from None
            if token is None:
                raise
        token = await self._tokens.replace(token)
        try:
            return await self._attempt(attempt, token)
        except GrpcAuthError as refused:
            if refused.context.get("code") == _UNAUTHENTICATED:
                raise refused_token_error(token) from None
            raise

    async def _attempt(self, attempt: Callable[[CallHeaders], Awaitable[_T]], token: AccessToken | None) -> _T:
        try:
            return await attempt(await self.metadata(token))
        except GrpcAuthError as refused:
            if refused.context.get("code") == _PERMISSION_DENIED:
                missing = missing_scope_error(
                    refused.message,
                    granted=token.scopes if token is not None else (),
                    method=refused.context.get("method"),
                )
                if missing is not None:
                    raise missing from None
            raise


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
        self._auth = CallAuth(manager)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._manager!r})"

    @staticmethod
    def _details(details: ClientCallDetails, metadata: CallHeaders) -> ClientCallDetails:
        kept: Sequence[tuple[str, Any]] = [
            (key, value) for key, value in (details.metadata or ()) if key.lower() != AUTHORIZATION
        ]
        return ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*kept, *(metadata.pairs() or ())),
            details.credentials,
            details.wait_for_ready,
        )

    async def _opened(
        self, continuation: Callable[..., Any], client_call_details: ClientCallDetails, request: Any
    ) -> Any:
        """Open a call that streams (``request`` may be an iterator) with the current token."""
        return await continuation(
            self._details(client_call_details, await self._auth.metadata(await self._manager.token())), request
        )


class _UnaryUnaryAuth(_Auth, UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: ClientCallDetails, request: Any
    ) -> Any:
        method = _method(client_call_details)

        async def attempt(metadata: CallHeaders) -> Any:
            call = await continuation(self._details(client_call_details, metadata), request)
            code = await call.code()
            if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise error_from_status(code.name, await call.details() or "", method=method)
            return call

        return await self._auth.call(attempt)


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
