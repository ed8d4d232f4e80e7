"""gRPC channels to the US exchange, and unary calls whose failures end as typed errors.

:func:`open_channel` makes a ``grpc.aio`` channel with the keepalive the venue recommends (a ping every 60 s,
20 s to answer, pings allowed without calls: its load balancer drops connections idle for 10 minutes;
venue notes: US exchange connections). TLS is the default, as the venue has no plaintext endpoint;
``insecure=True`` is for the emulator.

:func:`call_unary` runs one unary RPC with a deadline and the caller's per-call metadata, and turns a
failed call into the error :mod:`polyinfra.core.us_status` names. Authentication travels in that metadata
(an ``authorization`` bearer token, ``x-participant-id``), made for each call by the caller, so a refreshed
token is used at once; it works on insecure channels too, where gRPC's own call credentials are refused.
:data:`CallMetadata` is the shape of a caller's own extra headers: a coroutine function returning
``(key, value)`` pairs, asked before each call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import grpc
from google.protobuf.message import Message

from polyinfra.core.us_status import error_from_status
from polyinfra.errors import InvalidValueError, PolyinfraError

__all__ = [
    "KEEPALIVE_OPTIONS",
    "CallHeaders",
    "CallMetadata",
    "call_unary",
    "open_channel",
    "parse_target",
    "rpc_error",
]

CallMetadata = Callable[[], Awaitable[Sequence[tuple[str, str]]]]

KEEPALIVE_OPTIONS: Final = (
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
)
# gRPC's default; a bigger answer is refused by the runtime before any of it is decoded.
MAX_RECEIVE_BYTES: Final = 4 * 1024 * 1024


class CallHeaders:
    """A call's metadata pairs, a bearer token among them: shown by their names only, and handed to gRPC
    through :meth:`pairs` inside the call expression, so no frame an error passes through holds the
    token in a local an error tracker would record."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: Sequence[tuple[str, str]] = ()) -> None:
        self._pairs = tuple(pairs)

    def __repr__(self) -> str:
        return f"CallHeaders({', '.join(key for key, _ in self._pairs)})"

    def pairs(self) -> tuple[tuple[str, str], ...] | None:
        """The pairs as gRPC takes them (None when there are none)."""
        return self._pairs or None


def parse_target(target: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:PORT"`` for IPv6) as ``(host, port)``; :class:`InvalidValueError` otherwise."""
    host, separator, port_text = target.rpartition(":")
    if not separator or not host or not port_text.isdigit() or len(port_text) > 5 or not 0 < int(port_text) < 65_536:
        raise InvalidValueError("a gRPC target is HOST:PORT, e.g. 127.0.0.1:50051", target=target[:200])
    return host.removeprefix("[").removesuffix("]"), int(port_text)


def open_channel(
    target: str, *, insecure: bool = False, max_receive_bytes: int = MAX_RECEIVE_BYTES
) -> grpc.aio.Channel:
    """A channel to ``target`` (``HOST:PORT``): TLS unless ``insecure``; keepalive as the venue recommends."""
    parse_target(target)
    options = [*KEEPALIVE_OPTIONS, ("grpc.max_receive_message_length", max_receive_bytes)]
    if insecure:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options=options)


async def call_unary(
    method: Callable[..., Any],
    request: Message | bytes,
    *,
    name: str,
    timeout_s: float,
    metadata: CallHeaders | None = None,
) -> Any:
    """``await method(request)`` with a deadline and ``metadata``; a failure raises the typed error.

    ``name`` (``"RefDataAPI/ListInstruments"``) labels errors.
    """
    try:
        return await method(request, timeout=timeout_s, metadata=metadata.pairs() if metadata is not None else None)
    except grpc.aio.AioRpcError as exc:
        raise rpc_error(exc, name) from None


def rpc_error(exc: grpc.aio.AioRpcError, name: str) -> PolyinfraError:
    """The typed error for a failed call (the venue's status code and message, never its metadata)."""
    return error_from_status(exc.code().name, exc.details() or "", method=name)
