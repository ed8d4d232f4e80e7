"""The venue's documented rate limits, enforced by the emulator (venue notes: Rate limits).

The venue's limits are per IP and enforced by Cloudflare on sliding windows: 10 s windows for
everything, plus 10-minute "sustained" windows on the trading endpoints. A request counts against
every scope that covers it: its endpoint's row(s), ``clob_general`` and ``general``.

:data:`CLOB_RATE_LIMITS` is the table. :class:`RateLimiter` is the sans-I/O part: sliding windows
per (client address, scope) with times passed in, the admission decisions and the counters.
:class:`ThrottleGate` is the asyncio part of the ``throttle`` mode: it queues a request, scope by
scope, until it fits.

Three modes (:class:`RateLimitMode`):

* ``throttle`` (the default): delay the request until it fits, as Cloudflare does on the real
  venue ("requests are throttled (delayed/queued) rather than immediately rejected", venue notes: Rate limits).
  A client that ignores the limits then sees slow answers, not errors, exactly as in production.
* ``reject``: answer 429 ``{"error": "Too Many Requests"}`` with ``Retry-After`` (seconds) at once,
  for testing a client's 429 handling. A rejected request does not use up budget, so its
  ``Retry-After`` (rounded up to whole seconds) is when it will fit.
* ``off``: never delay nor reject; the windows and counters still run, so ``over_limit`` shows what
  the venue would have throttled.

``over_limit`` counts requests that arrived while one of their scope's windows was already full:
a client with a correct limiter keeps it at 0 in every mode.

Behind Cloudflare the venue also keeps **per-signer token buckets** (venue notes: Rate limits): for
each signer (the ``POLY_ADDRESS`` of an L2 request) an order bucket and a cancel bucket whose rate
and capacity depend on the signer's volume tier. :func:`signer_route` says which bucket a trading
request draws from and what it costs; :class:`SignerBuckets` is the sans-I/O part, with times
passed in as unix microseconds; :class:`SignerLimitMode` is ``enforce`` (429), ``warn`` (let it
through with ``Poly-RateLimit-Warning: true``, as the venue did for two weeks from 2026-07-24) or
``off``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Final

import msgspec

from polyinfra.core.venue_rate_limits import SIGNER_TIERS as VENUE_SIGNER_TIERS
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "BURST_WINDOW_S",
    "CLOB_RATE_LIMITS",
    "DEFAULT_SIGNER_TIER",
    "RATE_LIMIT_REMAINING",
    "RATE_LIMIT_RESET",
    "RATE_LIMIT_TIER",
    "RATE_LIMIT_WARNING",
    "SIGNER_TIERS",
    "SUSTAINED_WINDOW_S",
    "BucketLimits",
    "LimitScope",
    "RateLimitMode",
    "RateLimiter",
    "RateWindow",
    "ScopeStats",
    "SignerBucket",
    "SignerBuckets",
    "SignerDecision",
    "SignerLimitMode",
    "SignerRoute",
    "SignerStats",
    "SignerTier",
    "SlidingWindow",
    "ThrottleGate",
    "TokenBucket",
    "signer_route",
    "signer_tier",
]

BURST_WINDOW_S: Final = 10.0
"""Every documented limit has a 10 s window (venue notes: Rate limits)."""

SUSTAINED_WINDOW_S: Final = 600.0
"""Trading endpoints also have a 10-minute window (venue notes: Rate limits)."""

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
    # endpoints together (venue notes: REST routes); /data/orders, /data/trades and /notifications also
    # have rows of their own, and a request counts against both.
    _per_10s("ledger", 900, r"/data/(order/[^/]+|orders|trades)|/notifications", ["GET"]),
    _per_10s("data_orders", 500, "/data/orders", ["GET"]),
    _per_10s("data_trades", 500, "/data/trades", ["GET"]),
    _per_10s("notifications", 125, "/notifications"),
    _per_10s(
        "api_keys",
        100,
        r"/auth/(api-key|derive-api-key|api-keys|readonly-api-key|readonly-api-keys|builder-api-key"
        r"|validate-readonly-api-key|ban-status/closed-only)",
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
"""The CLOB's documented limits (venue notes: Rate limits): the emulator serves only the CLOB, so ``general``
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


# --- per-signer token buckets (venue notes: Rate limits) -------------------------------------------

_MICROS_PER_S: Final = 1_000_000

RATE_LIMIT_REMAINING: Final = "Poly-RateLimit-Remaining"
RATE_LIMIT_RESET: Final = "Poly-RateLimit-Reset"
RATE_LIMIT_TIER: Final = "Poly-RateLimit-Tier"
RATE_LIMIT_WARNING: Final = "Poly-RateLimit-Warning"


class SignerLimitMode(StrEnum):
    """What the emulator does with a request its signer's bucket cannot pay for."""

    ENFORCE = "enforce"
    """Answer 429 with ``Retry-After``."""
    WARN = "warn"
    """Let it through with ``Poly-RateLimit-Warning: true`` (the venue's first two weeks)."""
    OFF = "off"
    """No buckets at all (the ``rate_limits`` knob at ``off``)."""


class SignerBucket(StrEnum):
    """The two buckets every signer has."""

    ORDER = "order"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class BucketLimits:
    """A token bucket's refill rate (tokens per second) and capacity (the burst it allows)."""

    rate_per_s: int
    burst: int

    def scaled(self, scale: float) -> tuple[Fraction, int]:
        """The rate and the burst times ``scale`` (the ``rate_limit_scale`` knob), the burst rounded
        down and at least 1, as :meth:`RateWindow.scaled_limit` does."""
        # The knob as written (0.01), not its binary approximation: the rate stays an exact fraction.
        factor = Fraction(Decimal(repr(scale)))
        return self.rate_per_s * factor, max(1, math.floor(self.burst * factor))


@dataclass(frozen=True, slots=True)
class SignerTier:
    """A volume tier's two buckets, and whether an after-the-fact debit may take them below zero."""

    name: str
    orders: BucketLimits
    cancels: BucketLimits
    negative_allowed: bool

    def limits(self, bucket: SignerBucket) -> BucketLimits:
        return self.orders if bucket is SignerBucket.ORDER else self.cancels


# Tiers whose buckets an after-the-fact debit may not take below zero (venue notes: Rate limits).
_NEVER_NEGATIVE: Final = frozenset({"platinum", "diamond", "elite"})

SIGNER_TIERS: Final[Mapping[str, SignerTier]] = {
    name: SignerTier(
        name,
        BucketLimits(tier.orders_per_s, tier.order_burst),
        BucketLimits(tier.cancels_per_s, tier.cancel_burst),
        negative_allowed=name not in _NEVER_NEGATIVE,
    )
    # The client's table of the venue's tiers (by 30-day maker volume, refreshed every 3 h): one source.
    for name, tier in VENUE_SIGNER_TIERS.items()
}
"""The venue's per-signer tiers by lower-case name, as ``Poly-RateLimit-Tier`` names them."""

DEFAULT_SIGNER_TIER: Final = "standard"
"""The tier of a signer nobody has set one for (no 30-day volume yet)."""


def signer_tier(name: str) -> SignerTier:
    """The tier called ``name``; :class:`InvalidValueError` naming the ``tier`` field if there is none."""
    tier = SIGNER_TIERS.get(name)
    if tier is None:
        raise InvalidValueError("unknown rate-limit tier", field="tier", value=name, known=list(SIGNER_TIERS))
    return tier


class TokenBucket:
    """Tokens refilled continuously at ``rate`` per second up to ``capacity``, in exact integers.

    The level is kept in units of ``1 / (10**6 * rate.denominator)`` token, in which one microsecond
    refills exactly ``rate.numerator`` units: no rounding, however the rate was scaled. A new bucket
    is full. Times are microseconds that never go back.
    """

    __slots__ = ("_capacity_units", "_level", "_refill_per_us", "_unit", "_updated_us", "capacity", "rate")

    def __init__(self, rate: Fraction, capacity: int, now_us: int) -> None:
        self._configure(rate, capacity)
        self._level = self._capacity_units
        self._updated_us = now_us

    def _configure(self, rate: Fraction, capacity: int) -> None:
        if rate <= 0 or capacity < 1:
            raise InvalidValueError(
                "a token bucket needs a positive rate and capacity", rate=str(rate), capacity=capacity
            )
        self.rate = rate
        self.capacity = capacity
        self._unit = _MICROS_PER_S * rate.denominator
        self._refill_per_us = rate.numerator
        self._capacity_units = capacity * self._unit

    def resize(self, rate: Fraction, capacity: int, now_us: int) -> None:
        """Change the rate and capacity (a new tier or scale), keeping the tokens held, up to the new capacity."""
        self._refill(now_us)
        held = Fraction(self._level, self._unit)
        self._configure(rate, capacity)
        self._level = min(self._capacity_units, math.floor(held * self._unit))

    def remaining(self, now_us: int) -> int:
        """Whole tokens held, rounded down (negative after an after-the-fact debit beyond them)."""
        self._refill(now_us)
        return self._level // self._unit

    def ready_at_us(self, cost: int, now_us: int) -> int | None:
        """When the bucket holds ``cost`` tokens (``now_us`` if it does now); None if it never can."""
        if cost > self.capacity:
            return None
        self._refill(now_us)
        missing = cost * self._unit - self._level
        return now_us + max(0, -(-missing // self._refill_per_us))

    def take(self, cost: int, now_us: int) -> bool:
        """Take ``cost`` tokens if the bucket holds all of them; otherwise take none."""
        self._refill(now_us)
        if self._level < cost * self._unit:
            return False
        self._level -= cost * self._unit
        return True

    def debit(self, cost: int, now_us: int, *, negative_allowed: bool) -> None:
        """Take ``cost`` tokens whatever the bucket holds: below zero if ``negative_allowed``, else down to zero."""
        self._refill(now_us)
        self._level -= cost * self._unit
        if not negative_allowed:
            self._level = max(0, self._level)

    def _refill(self, now_us: int) -> None:
        if now_us > self._updated_us:
            self._level = min(self._capacity_units, self._level + (now_us - self._updated_us) * self._refill_per_us)
            self._updated_us = now_us


_BATCH: Final[JsonDecoder[list[msgspec.Raw]]] = JsonDecoder(list[msgspec.Raw], what="orders body")


class _CancelAnswer(msgspec.Struct):
    canceled: list[str] = msgspec.field(default_factory=list)


_CANCEL_ANSWER: Final = msgspec.json.Decoder(_CancelAnswer)


@dataclass(frozen=True, slots=True)
class SignerRoute:
    """What a trading request costs its signer (venue notes: Rate limits).

    ``per_item``: the cost is the number of entries of the JSON array body (orders, ids);
    otherwise 1. ``debits_cancelled``: the orders the answer lists as cancelled are debited after
    the fact on top (``/cancel-all``, ``/cancel-market-orders``).
    """

    bucket: SignerBucket
    per_item: bool = False
    debits_cancelled: bool = False

    def cost(self, body: bytes) -> int:
        """The up-front cost of a request with ``body`` (read only for ``per_item`` routes); the
        server asks once the request is authenticated, so no stranger's body is decoded here."""
        if not self.per_item:
            return 1
        try:
            items = _BATCH.decode(body)
        except MalformedMessageError:
            return 1  # not a batch: the route refuses it, but the attempt reached the limiter
        return max(1, len(items))

    @staticmethod
    def cancelled(answer: bytes) -> int:
        """The number of orders a cancel answer lists under ``canceled`` (0 if it is not one)."""
        try:
            return len(_CANCEL_ANSWER.decode(answer).canceled)
        except msgspec.DecodeError:
            return 0


_SIGNER_ROUTES: Final[Mapping[tuple[str, str], SignerRoute]] = {
    ("POST", "/order"): SignerRoute(SignerBucket.ORDER),
    ("POST", "/orders"): SignerRoute(SignerBucket.ORDER, per_item=True),
    ("DELETE", "/order"): SignerRoute(SignerBucket.CANCEL),
    ("DELETE", "/orders"): SignerRoute(SignerBucket.CANCEL, per_item=True),
    ("DELETE", "/cancel-all"): SignerRoute(SignerBucket.CANCEL, debits_cancelled=True),
    ("DELETE", "/cancel-market-orders"): SignerRoute(SignerBucket.CANCEL, debits_cancelled=True),
}


def signer_route(method: str, path: str) -> SignerRoute | None:
    """The signer bucket a request draws from, or None for a request no bucket covers."""
    return _SIGNER_ROUTES.get((method, path))


@dataclass(frozen=True, slots=True)
class SignerDecision:
    """What a signer's bucket said about one request, and the headers that tell the client.

    ``passed``: the request goes on to the route. ``over_limit``: the bucket could not pay for it
    (refused, or let through uncharged in ``warn`` mode). ``remaining``: whole tokens left after it.
    ``reset_at_us``: when the bucket holds ``cost`` tokens again (None: ``cost`` is over the burst,
    so never).
    """

    passed: bool
    over_limit: bool
    cost: int
    remaining: int
    reset_at_us: int | None
    tier: str

    def headers(self) -> dict[str, str]:
        headers = {RATE_LIMIT_REMAINING: str(self.remaining), RATE_LIMIT_TIER: self.tier}
        if self.reset_at_us is not None:
            # Whole unix seconds, rounded up: a client waiting until then is never early.
            headers[RATE_LIMIT_RESET] = str(-(-self.reset_at_us // _MICROS_PER_S))
        if self.over_limit and self.passed:
            headers[RATE_LIMIT_WARNING] = "true"
        return headers

    def retry_after_s(self, now_us: int) -> int | None:
        """Whole seconds until ``reset_at_us``, at least 1 (None: never)."""
        if self.reset_at_us is None:
            return None
        return max(1, -(-(self.reset_at_us - now_us) // _MICROS_PER_S))


@dataclass(slots=True)
class SignerStats:
    """Counters of one signer over both buckets."""

    requests: int = 0
    over_limit: int = 0
    """Requests its bucket could not pay for (refused or, in ``warn`` mode, warned)."""
    rejected: int = 0
    warned: int = 0


def _unix_us() -> int:
    return time.time_ns() // 1_000


class SignerBuckets:
    """Every signer's order and cancel buckets, their tiers and counters; sans-I/O, unix microseconds.

    Signers are addresses, in any case. ``scale`` multiplies every rate and burst (see
    :meth:`BucketLimits.scaled`); it is read on every call, so it can change while the emulator runs.
    ``clock_us`` is the time the emulator charges at (the wall clock by default). The buckets refill
    with it, so whether a burst fits depends on how fast the machine sends it; a test that must know
    swaps in a clock it can stop.
    """

    def __init__(self, *, scale: float = 1.0, clock_us: Callable[[], int] = _unix_us) -> None:
        self.scale = scale
        self.clock_us = clock_us
        self._tiers: dict[str, SignerTier] = {}
        self._buckets: dict[tuple[str, SignerBucket], TokenBucket] = {}
        self.stats: dict[str, SignerStats] = {}

    def set_tier(self, signer: str, tier: SignerTier) -> None:
        """Put ``signer`` in ``tier``; its buckets keep their tokens, up to the new capacity."""
        self._tiers[signer.lower()] = tier

    def tier(self, signer: str) -> SignerTier:
        return self._tiers.get(signer.lower(), SIGNER_TIERS[DEFAULT_SIGNER_TIER])

    def charge(self, signer: str, bucket: SignerBucket, cost: int, now_us: int, *, enforce: bool) -> SignerDecision:
        """Pay ``cost`` tokens for a request, all or nothing. One the bucket cannot pay for is
        refused when ``enforce``, otherwise let through without being charged (``warn`` mode:
        the bucket then shows what enforcement would)."""
        signer = signer.lower()
        tier = self.tier(signer)
        tokens = self._bucket(signer, bucket, tier, now_us)
        stats = self.stats.setdefault(signer, SignerStats())
        stats.requests += 1
        paid = tokens.take(cost, now_us)
        if not paid:
            stats.over_limit += 1
            if enforce:
                stats.rejected += 1
            else:
                stats.warned += 1
        return SignerDecision(
            passed=paid or not enforce,
            over_limit=not paid,
            cost=cost,
            remaining=tokens.remaining(now_us),
            reset_at_us=tokens.ready_at_us(cost, now_us),
            tier=tier.name,
        )

    def debit_after(
        self, signer: str, bucket: SignerBucket, cost: int, now_us: int, decision: SignerDecision
    ) -> SignerDecision:
        """Debit ``cost`` more tokens once the answer is known (the orders a cancel-all cancelled),
        below zero on tiers that allow it; ``decision`` as it stands after the debit."""
        signer = signer.lower()
        tier = self.tier(signer)
        tokens = self._bucket(signer, bucket, tier, now_us)
        tokens.debit(cost, now_us, negative_allowed=tier.negative_allowed)
        return dataclasses.replace(
            decision, remaining=tokens.remaining(now_us), reset_at_us=tokens.ready_at_us(decision.cost, now_us)
        )

    def as_dict(self) -> dict[str, object]:
        """The counters, in total and per signer with its tier (JSON-ready)."""
        totals = SignerStats()
        for stats in self.stats.values():
            totals.requests += stats.requests
            totals.over_limit += stats.over_limit
            totals.rejected += stats.rejected
            totals.warned += stats.warned
        return {
            "scale": self.scale,
            **dataclasses.asdict(totals),
            "signers": {
                signer: {"tier": self.tier(signer).name, **dataclasses.asdict(stats)}
                for signer, stats in self.stats.items()
            },
        }

    def _bucket(self, signer: str, bucket: SignerBucket, tier: SignerTier, now_us: int) -> TokenBucket:
        rate, burst = tier.limits(bucket).scaled(self.scale)
        tokens = self._buckets.get((signer, bucket))
        if tokens is None:
            tokens = self._buckets[(signer, bucket)] = TokenBucket(rate, burst, now_us)
        elif (tokens.rate, tokens.capacity) != (rate, burst):
            tokens.resize(rate, burst, now_us)
        return tokens
