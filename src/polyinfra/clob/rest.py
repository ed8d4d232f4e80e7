"""Async REST client for the CLOB's public market-data endpoints (clob.md §3.1).

Requests go through :class:`~polyinfra.net.http.HttpTransport`: the CLOB's documented rate limits,
retries with backoff, a circuit breaker per endpoint group, metrics and logs. Failures arrive as
:mod:`polyinfra.errors` (transport, the venue's status as its class, undecodable bodies as
:class:`~polyinfra.errors.MalformedMessageError`); no httpx or msgspec exception gets out.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Final, Self

import msgspec

from polyinfra.net.breaker import CircuitBreakers
from polyinfra.net.http import HttpTransport, Timeouts
from polyinfra.net.rate_limit import CLOB_LIMITS, RateLimitTable
from polyinfra.net.retry import RetryPolicy
from polyinfra.wire.clob_rest import OrderBookSummary

__all__ = ["BOOKS_PER_REQUEST", "ClobRestClient"]

BOOKS_PER_REQUEST: Final = 500
"""POST /books and friends refuse bigger payloads ("Payload exceeds the limit", clob.md §8)."""

_encode = msgspec.json.Encoder().encode


class ClobRestClient:
    """Market-data REST calls against the venue or the emulator (``base_url`` without a trailing slash).

    ``timeout_s`` is each attempt's connect, read, write and pool timeout. ``rate_limits``,
    ``retry`` and ``breakers`` configure the transport the client builds; pass ``transport``
    instead to share one (the client then leaves closing it to its owner).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        rate_limits: RateLimitTable = CLOB_LIMITS,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        transport: HttpTransport | None = None,
    ) -> None:
        self._owns_transport = transport is None
        self.transport = (
            transport
            if transport is not None
            else HttpTransport(
                base_url,
                rate_limits=rate_limits,
                retry=retry,
                breakers=breakers,
                timeouts=Timeouts(connect_s=timeout_s, read_s=timeout_s, write_s=timeout_s, pool_s=timeout_s),
            )
        )

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

    async def get_book(self, token_id: str) -> OrderBookSummary:
        """``GET /book``: one token's book summary."""
        response = await self.transport.request("GET", "/book", params={"token_id": token_id})
        return response.decode(OrderBookSummary)

    async def get_books(self, token_ids: Sequence[str]) -> list[OrderBookSummary]:
        """``POST /books``: many books in as few requests as the venue allows, in the order asked."""
        books: list[OrderBookSummary] = []
        for start in range(0, len(token_ids), BOOKS_PER_REQUEST):
            chunk = token_ids[start : start + BOOKS_PER_REQUEST]
            body = _encode([{"token_id": token} for token in chunk])
            response = await self.transport.request("POST", "/books", content=body)
            books.extend(response.decode(list[OrderBookSummary]))
        return books
