"""What stands in front of the emulator's Gamma and Data API: their documented rate limits, the
outage knob, and each host's error shape.

Each host has its own table of scopes (venue notes: Rate limits) over the path below its prefix, and
its own :class:`~polyinfra.emulator.rate_limits.RateLimiter`, so ``GET /_emulator/data/stats`` shows
per scope the requests, ``over_limit`` (requests that arrived while a window was full: a client with
a correct limiter keeps it at 0), throttled and rejected counts and each window's peak. Mode and
scale are the emulator's fault knobs ``rate_limits`` and ``rate_limit_scale``, as for the CLOB: a
request over budget is delayed (``throttle``, what Cloudflare does), answered 429 with
``Retry-After`` (``reject``) or only counted (``off``). The Data API's routes without a documented
limit of their own draw only from its general budget; the venue's all-hosts budget (15,000 per 10 s)
is not shared with the CLOB's here.

Errors are shaped as each host sends them: Gamma ``{"type": ..., "error": ...}``, Data API v1
``{"error": ...}``, v2 ``{"error", "code", "retryable", "trace_id"}`` with an ``x-trace-id`` header.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Final

import msgspec
from aiohttp import web

from polyinfra.emulator.data.knobs import DataApiKnobs
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import (
    BURST_WINDOW_S,
    LimitScope,
    RateLimiter,
    RateLimitMode,
    RateWindow,
    ThrottleGate,
)

__all__ = ["DATA_SCOPES", "GAMMA_SCOPES", "HostEdge", "data_error", "gamma_error", "v2_error"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_encode = msgspec.json.Encoder().encode
_trace_ids = itertools.count(1)


def _scope(name: str, limit: int, path: str | None = None, methods: tuple[str, ...] = ()) -> LimitScope:
    return LimitScope(
        name, (RateWindow(limit, BURST_WINDOW_S),), None if path is None else re.compile(path), frozenset(methods)
    )


# Narrowest first, as the CLOB's table (a throttled request passes its scopes in this order).
GAMMA_SCOPES: Final = (
    _scope("gamma_events", 500, r"/events(/.*)?", ("GET",)),
    _scope("gamma_markets", 300, r"/markets(/.*)?"),
    _scope("gamma_listing", 900, r"/(events|markets)(/keyset)?", ("GET",)),
    _scope("gamma_comments", 200, r"/comments(/.*)?", ("GET",)),
    _scope("gamma_tags", 200, r"/tags(/.*)?", ("GET",)),
    _scope("gamma_public_search", 350, "/public-search", ("GET",)),
    _scope("gamma_general", 4_000),
)
"""Gamma's documented limits over the path below ``/gamma`` (venue notes: Rate limits)."""

DATA_SCOPES: Final = (
    _scope("data_ok", 100, "/ok"),
    _scope("data_trades", 200, r"(/v2)?/trades", ("GET",)),
    _scope("data_positions", 150, r"(/v2)?/positions", ("GET",)),
    _scope("data_closed_positions", 150, "/closed-positions", ("GET",)),
    _scope("data_user_pnl", 200, "/v2/user-pnl", ("GET",)),
    _scope("data_general", 1_000),
)
"""The Data API's documented limits over the path below ``/data-api``; v2 routes share their v1
twins' rows and ``/v2/user-pnl`` has the user P&L API's (venue notes: Rate limits)."""


def gamma_error(message: str, status: int, *, kind: str = "validation error") -> web.Response:
    """Gamma's error shape."""
    return _json({"type": kind, "error": message}, status)


def data_error(message: str, status: int) -> web.Response:
    """The Data API v1's error shape."""
    return _json({"error": message}, status)


def v2_error(message: str, status: int, *, code: str, retryable: bool = False) -> web.Response:
    """The Data API v2's error shape, with its trace id in the body and the ``x-trace-id`` header."""
    trace_id = f"emu-{next(_trace_ids):08x}"
    response = _json({"error": message, "code": code, "retryable": retryable, "trace_id": trace_id}, status)
    response.headers["x-trace-id"] = trace_id
    return response


class HostEdge:
    """Rate limits and the outage knob for one host mounted at ``prefix`` (``/gamma``, ``/data-api``)."""

    def __init__(
        self,
        prefix: str,
        scopes: tuple[LimitScope, ...],
        *,
        faults: FaultConfig,
        knobs: DataApiKnobs,
        refusal: Callable[[str, int, bool, str], web.Response],
    ) -> None:
        self.prefix = prefix
        self.limiter = RateLimiter(scopes, scale=faults.rate_limit_scale)
        self._gate = ThrottleGate(self.limiter)
        self._faults = faults
        self._knobs = knobs
        self._refusal = refusal

    def wrap(self, handler: _Handler) -> _Handler:
        async def edge(request: web.Request) -> web.StreamResponse:
            path = request.path[len(self.prefix) :] or "/"
            limited = await self._limit(request, path)
            if limited is not None:
                return limited
            if self._knobs.outage_requests > 0:
                self._knobs.outage_requests -= 1
                status = self._knobs.outage_status
                refused = self._refusal("service unavailable", status, True, path)
                refused.headers["Retry-After"] = str(self._knobs.retry_after_s)
                return refused
            return await handler(request)

        return edge

    async def _limit(self, request: web.Request, path: str) -> web.Response | None:
        limiter = self.limiter
        limiter.scale = self._faults.rate_limit_scale
        client = request.remote or "unknown"
        scopes = limiter.covering(request.method, path)
        now = asyncio.get_running_loop().time()
        limiter.arrive(client, scopes, now)
        mode = self._faults.rate_limits
        if mode is RateLimitMode.THROTTLE:
            await self._gate.pass_through(client, scopes)
        elif mode is RateLimitMode.REJECT:
            wait_s = limiter.admit_or_reject(client, scopes, now)
            if wait_s > 0:
                refused = self._refusal("Too Many Requests", HTTPStatus.TOO_MANY_REQUESTS, True, path)
                # Whole seconds, rounded up: a retry at Retry-After fits.
                refused.headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
                return refused
        else:
            for scope in scopes:
                limiter.admit(client, scope, now)
        return None


def _json(body: object, status: int) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")
