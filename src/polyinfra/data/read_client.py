"""What the Gamma and Data API clients share: one read-only host behind the shared HTTP pipeline.

:class:`ReadClient` owns (or borrows) an :class:`~polyinfra.net.http.HttpTransport` built with the
host's documented rate-limit table, so every request waits for the limiter, trips the breaker on a
failing host, honours ``Retry-After`` and retries what is safe to retry (every read is). It is an
async context manager and decodes each answer into the type asked for
(:class:`~polyinfra.errors.MalformedMessageError` when it does not match).
:func:`refuse_cursor_loop` ends a cursor walk the host sends round in a circle.
"""

from __future__ import annotations

from typing import TypeVar

from polyinfra.core.rate_limit_tables import RateLimitTable
from polyinfra.errors import PaginationError
from polyinfra.net.breaker import CircuitBreakers
from polyinfra.net.http import HttpTransport
from polyinfra.net.http_request import QueryParams, Timeouts
from polyinfra.net.rate_limit import AsyncRateLimiter
from polyinfra.net.retry import RetryPolicy
from polyinfra.net.transport_client import TransportClient

__all__ = ["ReadClient", "refuse_cursor_loop"]

_T = TypeVar("_T")


class ReadClient(TransportClient):
    """A client of one read-only host at ``base_url``; ``transport`` (if given) is used and left open."""

    def __init__(
        self,
        base_url: str,
        *,
        rate_limits: RateLimitTable,
        timeout_s: float = 10.0,
        limiter: AsyncRateLimiter | None = None,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        transport: HttpTransport | None = None,
    ) -> None:
        super().__init__(
            transport,
            lambda: HttpTransport(
                base_url,
                rate_limits=rate_limits,
                limiter=limiter,
                retry=retry,
                breakers=breakers,
                timeouts=Timeouts(connect_s=timeout_s, read_s=timeout_s, write_s=timeout_s, pool_s=timeout_s),
            ),
        )

    async def _get(self, path: str, params: QueryParams | None, type_: type[_T], *, endpoint: str | None = None) -> _T:
        """``GET path`` decoded as ``type_``; ``endpoint`` keys the limits when the path holds an id."""
        response = await self.transport.request("GET", path, params=params, endpoint=endpoint)
        return response.decode(type_)


def refuse_cursor_loop(endpoint: str, cursor: str, seen: set[str]) -> None:
    """Record ``cursor`` in ``seen``; :class:`~polyinfra.errors.PaginationError` if it came before: a host
    that hands back a cursor already followed would keep a walk going forever."""
    if cursor in seen:
        raise PaginationError("the venue sent a cursor already followed", reason="cursor_loop", endpoint=endpoint)
    seen.add(cursor)
