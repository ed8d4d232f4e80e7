"""The base of a client over one :class:`~polyinfra.net.http.HttpTransport`: who closes the transport.

A client either builds its transport (from its own URL, limits and timeouts) and then closes it, or is
handed one to share with other clients and then leaves it open for its owner. :class:`TransportClient`
keeps that rule in one place and makes the client an async context manager that applies it on exit,
so each client only says how it builds a transport of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from polyinfra.net.http import HttpTransport

__all__ = ["TransportClient"]


class TransportClient:
    """A client over ``transport`` when given (left open), else over ``build()``'s (closed by :meth:`aclose`)."""

    def __init__(self, transport: HttpTransport | None, build: Callable[[], HttpTransport]) -> None:
        self._owns_transport = transport is None
        self.transport = transport if transport is not None else build()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the transport, if this client built it."""
        if self._owns_transport:
            await self.transport.aclose()
