"""The venue's documented rate limits, enforced by the emulator (apis.md §5, which supersedes clob.md §8).

The venue's limits are per IP and enforced by Cloudflare on sliding windows: 10 s windows for
everything, plus 10-minute "sustained" windows on the trading endpoints. A request counts against
every scope that covers it: its endpoint's row(s), ``clob_general`` and ``general``.

:data:`CLOB_RATE_LIMITS` is the table. :class:`RateLimiter` is the sans-I/O part: sliding windows
per (client address, scope) with times passed in, the admission decisions and the counters.
:class:`ThrottleGate` is the asyncio part of the ``throttle`` mode: it queues a request, scope by
scope, until it fits.

Three modes (:class:`RateLimitMode`):

* ``throttle`` (the default): delay the request until it fits, as Cloudflare does on the real
  venue ("requests are throttled (delayed/queued) rather than immediately rejected", apis.md §5).
  A client that ignores the limits then sees slow answers, not errors, exactly as in production.
* ``reject``: answer 429 ``{"error": "Too Many Requests"}`` with ``Retry-After`` (seconds) at once,
  for testing a client's 429 handling. A rejected request does not use up budget, so its
  ``Retry-After`` (rounded up to whole seconds) is when it will fit.
* ``off``: never delay nor reject; the windows and counters still run, so ``over_limit`` shows what
  the venue would have throttled.

``over_limit`` counts requests that arrived while one of their scope's windows was already full:
a client with a correct limiter keeps it at 0 in every mode.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = [
    "BURST_WINDOW_S",
    "CLOB_RATE_LIMITS",
    "SUSTAINED_WINDOW_S",
    "LimitScope",
    "RateLimitMode",
    "RateLimiter",
    "RateWindow",
    "ScopeStats",
    "SlidingWindow",
    "ThrottleGate",
]

BURST_WINDOW_S: Final = 10.0
"""Every documented limit has a 10 s window (apis.md §5)."""

SUSTAINED_WINDOW_S: Final = 600.0
"""Trading endpoints also have a 10-minute window (apis.md §5)."""

_RECHECK_S: Final = 0.5
"""Longest a throttled request sleeps before it looks at its windows (and the scale) again."""


class RateLimitMode(StrEnum):
    """What the emulator does with a request that does not fit its windows."""

    THROTTLE = "throttle"
    REJECT = "reject"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class RateWindow:
    """At most ``limit`` requests in any ``seconds``-long sliding window."""

    limit: int
    seconds: float

    def scaled_limit(self, scale: float) -> int:
        """The limit times ``scale``, rounded down, at least 1 (a scope never closes for good)."""
        return max(1, math.floor(self.limit * scale))


@dataclass(frozen=True, slots=True)
class LimitScope:
    """One row of the rate-limit table: the requests it covers and its windows.

    ``path`` is a regular expression the whole request path must match (``None``: every path);
    ``methods`` the HTTP methods covered (empty: all).
    """

    name: str
    windows: tuple[RateWindow, ...]
    path: re.Pattern[str] | None = None
    methods: frozenset[str] = frozenset()

    def covers(self, method: str, path: str) -> bool:
        """Whether a request counts against this scope."""
        return (not self.methods or method in self.methods) and (
            self.path is None or self.path.fullmatch(path) is not None
        )


def _per_10s(name: str, limit: int, path: str | None = None, methods: Iterable[str] = ()) -> LimitScope:
    return LimitScope(
        name,
        (RateWindow(limit, BURST_WINDOW_S),),
        re.compile(path) if path is not None else None,
        frozenset(methods),
    )


def _trading(name: str, method: str, path: str, burst: int, sustained: int) -> LimitScope:
    return LimitScope(
        name,
        (RateWindow(burst, BURST_WINDOW_S), RateWindow(sustained, SUSTAINED_WINDOW_S)),
        re.compile(path),
        frozenset({method}),
    )


# Narrowest first: a throttled request passes its scopes in this order, so a request queued for
# /book has not yet used any of the general budget that other endpoints share.
CLOB_RATE_LIMITS: Final[tuple[LimitScope, ...]] = (
    _per_10s("ok", 100, "/ok"),
    _per_10s("book", 1_500, "/book"),
    _per_10s("price", 1_500, "/price"),
    _per_10s("midpoint", 1_500, "/midpoint"),
    _per_10s("books", 500, "/books"),
    _per_10s("prices", 500, "/prices"),
    _per_10s("midpoints", 500, "/midpoints"),
    _per_10s("prices_history", 1_000, "/prices-history"),
    _per_10s("tick_size", 200, "/tick-size"),
    _per_10s("balance_allowance", 200, "/balance-allowance", ["GET"]),
    _per_10s("balance_allowance_update", 50, "/balance-allowance/update"),
    # The table's "ledger /trades, /orders, /notifications, /order" row: the account's read
    # endpoints together (clob.md §3.3, §3.4); /data/orders, /data/trades and /notifications also
    # have rows of their own, and a request counts against both.
    _per_10s("ledger", 900, r"/data/(order/[^/]+|orders|trades)|/notifications", ["GET"]),
    _per_10s("data_orders", 500, "/data/orders", ["GET"]),
    _per_10s("data_trades", 500, "/data/trades", ["GET"]),
    _per_10s("notifications", 125, "/notifications"),
    _per_10s(
        "api_keys",
        100,
        r"/auth/(api-key|derive-api-key|api-keys|readonly-api-key|readonly-api-keys|builder-api-key"
        r"|validate-readonly-api-key)",
    ),
    _trading("post_order", "POST", "/order", 5_000, 120_000),
    _trading("delete_order", "DELETE", "/order", 5_000, 120_000),
    _trading("post_orders", "POST", "/orders", 2_000, 21_000),
    _trading("delete_orders", "DELETE", "/orders", 2_000, 15_000),
    _trading("cancel_all", "DELETE", "/cancel-all", 250, 6_000),
    _trading("cancel_market_orders", "DELETE", "/cancel-market-orders", 1_500, 21_000),
    _per_10s("clob_general", 9_000),
    _per_10s("general", 15_000),
)
"""The CLOB's documented limits (apis.md §5): the emulator serves only the CLOB, so ``general``
(all of the venue's hosts, per IP) and ``clob_general`` cover the same requests here."""


class SlidingWindow:
    """The admission times of one client in one window, oldest first."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        # A request admitted at t is inside the window (now - seconds, now] until now >= t + seconds.
        horizon = now - self.seconds
        while self._times and self._times[0] <= horizon:
            self._times.popleft()

    def usage(self, now: float) -> int:
        """Requests admitted in the window ending at ``now``."""
        self._expire(now)
        return len(self._times)

    def wait_s(self, now: float, limit: int) -> float:
        """How long until one more request fits under ``limit`` (0.0: it fits now)."""
        used = self.usage(now)
        if used < limit:
            return 0.0
        # Room for one more once all but limit - 1 of the admitted requests have left the window.
        return self._times[used - limit] + self.seconds - now

    def admit(self, now: float) -> int:
        """Record a request admitted at ``now`` (times never decrease); returns the usage after it."""
        self._times.append(now)
        return self.usage(now)


@dataclass(slots=True)
class ScopeStats:
    """Counters of one scope over all clients."""

    requests: int = 0
    """Requests covered by the scope."""
    over_limit: int = 0
    """Requests that arrived while one of the scope's windows was full (for the client's address)."""
    throttled: int = 0
    """Requests delayed by the scope (``throttle`` mode)."""
    rejected: int = 0
    """Requests answered 429 because of the scope (``reject`` mode)."""
    peaks: list[int] = field(default_factory=list)
    """The highest usage seen of each window (same order as the scope's windows), over all clients."""


class RateLimiter:
    """Sliding windows per (client address, scope) and the counters; sans-I/O, times in seconds.

    ``scale`` multiplies every limit (see :meth:`RateWindow.scaled_limit`); it is read on every call,
    so it can change while the emulator runs.
    """

    def __init__(self, scopes: Iterable[LimitScope] = CLOB_RATE_LIMITS, *, scale: float = 1.0) -> None:
        self.scopes = tuple(scopes)
        self.scale = scale
        self.stats = {scope.name: ScopeStats(peaks=[0] * len(scope.windows)) for scope in self.scopes}
        self._windows: dict[tuple[str, str], tuple[SlidingWindow, ...]] = {}

    def covering(self, method: str, path: str) -> tuple[LimitScope, ...]:
        """The scopes a request counts against."""
        return tuple(scope for scope in self.scopes if scope.covers(method, path))

    def arrive(self, client: str, scopes: Iterable[LimitScope], now: float) -> None:
        """Count a request arriving at ``now`` against its scopes (requests, over_limit)."""
        for scope in scopes:
            stats = self.stats[scope.name]
            stats.requests += 1
            if self.wait_s(client, scope, now) > 0:
                stats.over_limit += 1

    def wait_s(self, client: str, scope: LimitScope, now: float) -> float:
        """How long until one more request of ``client`` fits every window of ``scope``."""
        windows = self._windows_of(client, scope)
        return max(
            window.wait_s(now, limit.scaled_limit(self.scale))
            for window, limit in zip(windows, scope.windows, strict=True)
        )

    def admit(self, client: str, scope: LimitScope, now: float) -> None:
        """Record a request of ``client`` admitted by ``scope`` at ``now``."""
        peaks = self.stats[scope.name].peaks
        for index, window in enumerate(self._windows_of(client, scope)):
            peaks[index] = max(peaks[index], window.admit(now))

    def admit_or_reject(self, client: str, scopes: Iterable[LimitScope], now: float) -> float:
        """``reject`` mode: admit the request into every scope if it fits all of them and return 0.0;
        otherwise admit it nowhere, count it rejected by the full scopes and return how long
        until it would fit (the ``Retry-After``)."""
        waits = [(scope, self.wait_s(client, scope, now)) for scope in scopes]
        longest_wait_s = max((wait for _, wait in waits), default=0.0)
        if longest_wait_s > 0:
            for scope, wait in waits:
                if wait > 0:
                    self.stats[scope.name].rejected += 1
            return longest_wait_s
        for scope, _ in waits:
            self.admit(client, scope, now)
        return 0.0

    def as_dict(self) -> dict[str, object]:
        """The counters per scope, with each window's (scaled) limit and peak usage (JSON-ready)."""
        return {
            "scale": self.scale,
            "over_limit": sum(stats.over_limit for stats in self.stats.values()),
            "scopes": {
                scope.name: {
                    "requests": stats.requests,
                    "over_limit": stats.over_limit,
                    "throttled": stats.throttled,
                    "rejected": stats.rejected,
                    "windows": [
                        {"seconds": window.seconds, "limit": window.scaled_limit(self.scale), "peak": peak}
                        for window, peak in zip(scope.windows, stats.peaks, strict=True)
                    ],
                }
                for scope in self.scopes
                for stats in (self.stats[scope.name],)
            },
        }

    def _windows_of(self, client: str, scope: LimitScope) -> tuple[SlidingWindow, ...]:
        key = (client, scope.name)
        windows = self._windows.get(key)
        if windows is None:
            windows = tuple(SlidingWindow(window.seconds) for window in scope.windows)
            self._windows[key] = windows
        return windows


class ThrottleGate:
    """``throttle`` mode over a :class:`RateLimiter`: queue each request, scope by scope, until it fits.

    Each (client, scope) has a first-come-first-served queue (an :class:`asyncio.Lock`): the request
    at its head sleeps until the scope's windows have room, then is admitted and the next one moves
    up. Scopes are passed one after the other, never held together, so a request throttled on
    ``/book`` does not hold up the client's requests to other endpoints, only later ``/book`` ones.
    """

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter
        self._queues: dict[tuple[str, str], asyncio.Lock] = {}

    async def pass_through(self, client: str, scopes: Iterable[LimitScope]) -> None:
        """Return once the request is admitted by every scope (``throttled`` counts the delays)."""
        loop = asyncio.get_running_loop()
        for scope in scopes:
            queue = self._queue(client, scope)
            # Waiting behind earlier requests of the same scope is being throttled too.
            delayed = queue.locked()
            async with queue:
                # Short naps, not one long sleep: the scale can change while a request waits (a
                # test raising it releases the queue within a nap; a smaller one makes it wait longer).
                while (wait_s := self._limiter.wait_s(client, scope, loop.time())) > 0:
                    delayed = True
                    await asyncio.sleep(min(wait_s, _RECHECK_S))
                if delayed:
                    self._limiter.stats[scope.name].throttled += 1
                self._limiter.admit(client, scope, loop.time())

    def _queue(self, client: str, scope: LimitScope) -> asyncio.Lock:
        return self._queues.setdefault((client, scope.name), asyncio.Lock())
