"""Client-side rate limits: a sans-I/O limiter that keeps a host's budgets, and fair waiting for it.

The budgets are tables (:mod:`polyinfra.core.rate_limit_tables`; the venues' own in
:mod:`polyinfra.core.venue_rate_limits`) that route each request to the scopes it draws from:

* :class:`RateLimiter` is the pure core: it keeps the ledgers, admits tickets in a fair order and
  says when the next waiting one fits, for a ``now`` it is given. It never reads a clock;
* :class:`AsyncRateLimiter` and :class:`SyncRateLimiter` wait for it (one timer for all waiters,
  never a polling loop) and record each wait in the ``RATE_LIMIT_WAIT`` histogram.

**How requests are counted.** The venue counts a request when it arrives, somewhere between our
admission and our receipt of the answer. A request therefore takes its units at admission and keeps
them until ``period_s`` after it *completed*: while it is in flight it holds them indefinitely. With
the budget never exceeded at any admission, every interval of ``period_s`` at the venue sees at most
the budget whatever the network delays, and any number of concurrent tasks cannot overshoot.

**Margin.** Budgets are ``floor(limit * margin)`` (default 80 %), leaving room for other processes on
the same IP and for the venue's own clock.

**Fairness.** Waiters are served first come, first served on every scope they contend for: a
request never takes units of a scope that an earlier waiter is short of, so big batches are not
starved by small requests. Requests that need nothing an earlier waiter lacks go ahead (a request
for ``/book`` does not wait behind one for ``/ok`` that is over its own budget).

**The venue's word wins for the signer buckets.** A wallet's order and cancel buckets start at the
tier it was configured with; the transport (:mod:`polyinfra.net.http`) re-tiers a wallet when the
venue's ``Poly-RateLimit-Tier`` says otherwise (the venue re-tiers by 30-day volume), holds only
that wallet's buckets until ``Poly-RateLimit-Reset`` when they run dry, and charges after the fact
what a cancel-all cancelled (``complete(..., extra_items=n)``), as the venue debits it.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from polyinfra.core.rate_limit_tables import Route, Scope, Window
from polyinfra.errors import InvalidValueError, RateLimitedError
from polyinfra.obs.metrics import RATE_LIMIT_WAIT

__all__ = [
    "DEFAULT_MARGIN",
    "AsyncRateLimiter",
    "PumpResult",
    "RateLimiter",
    "SyncRateLimiter",
    "Ticket",
    "TicketState",
]

DEFAULT_MARGIN: Final = 0.8
"""Share of each documented limit polyinfra uses by default."""


# --- the sans-I/O limiter --------------------------------------------------------------------------


class _WindowLedger:
    """Units of one window of one scope key: in flight, and completed ones until they expire."""

    __slots__ = ("_expiring", "_expiring_units", "capacity", "in_flight", "period_s")

    def __init__(self, window: Window, margin: float) -> None:
        self.capacity = max(1, math.floor(window.limit * margin))
        self.period_s = window.period_s
        self.in_flight = 0
        # (expiry, units), in expiry order: completions are recorded at non-decreasing times.
        self._expiring: deque[tuple[float, int]] = deque()
        self._expiring_units = 0

    def _prune(self, now: float) -> None:
        expiring = self._expiring
        while expiring and expiring[0][0] <= now:
            self._expiring_units -= expiring.popleft()[1]

    def fits(self, units: int, now: float) -> bool:
        self._prune(now)
        return self.in_flight + self._expiring_units + units <= self.capacity

    def fit_at(self, units: int, now: float) -> float | None:
        """Earliest time ``units`` fit, or None while in-flight requests alone leave too little."""
        self._prune(now)
        excess = self.in_flight + self._expiring_units + units - self.capacity
        if excess <= 0:
            return now
        if self.in_flight + units > self.capacity:
            return None
        for expiry, expired_units in self._expiring:
            excess -= expired_units
            if excess <= 0:
                return expiry
        raise AssertionError("the expiring units cover the excess")  # in_flight + units <= capacity

    def resize(self, window: Window, margin: float) -> None:
        """A new limit and period; the units in flight and expiring stay counted."""
        self.capacity = max(1, math.floor(window.limit * margin))
        self.period_s = window.period_s

    def complete(self, units: int, now: float, extra: int = 0) -> None:
        """``units`` in flight are done, plus ``extra`` charged after the fact: all expire a period from now."""
        self.in_flight -= units
        units += extra
        expiry = now + self.period_s
        if self._expiring and self._expiring[-1][0] >= expiry:
            # Same instant (or a clock that stood still): merge to keep the deque short and sorted.
            last_expiry, last_units = self._expiring.pop()
            self._expiring.append((last_expiry, last_units + units))
        else:
            self._expiring.append((expiry, units))
        self._expiring_units += units


class _ScopeLedger:
    __slots__ = ("held_until", "windows")

    def __init__(self, scope: Scope, margin: float) -> None:
        self.windows = tuple(_WindowLedger(window, margin) for window in scope.windows)
        self.held_until = -math.inf

    def resize(self, scope: Scope, margin: float) -> None:
        if len(scope.windows) != len(self.windows):
            raise InvalidValueError("a scope can only be resized to as many windows", scope=scope.name)
        for ledger, window in zip(self.windows, scope.windows, strict=True):
            ledger.resize(window, margin)


class TicketState(Enum):
    """Where a :class:`Ticket` is in its life."""

    WAITING = "waiting"
    ADMITTED = "admitted"
    DONE = "done"


class Ticket:
    """One request's claim on its scopes, from :meth:`RateLimiter.submit` to completion."""

    __slots__ = ("_charges", "_counts_items", "_keys", "admitted_at", "route", "seq", "state", "submitted_at")

    def __init__(
        self,
        route: Route,
        keys: tuple[str, ...],
        charges: tuple[tuple[_ScopeLedger, int], ...],
        seq: int,
        now: float,
    ) -> None:
        self.route = route
        self.seq = seq
        self.submitted_at = now
        self.admitted_at: float | None = None
        self.state = TicketState.WAITING
        self._keys = keys
        self._charges = charges
        self._counts_items = tuple(scope.counts_items for scope in (*route.scopes, *route.shared))

    @property
    def waited_s(self) -> float:
        """Seconds from submission to admission (0 until admitted)."""
        return 0.0 if self.admitted_at is None else self.admitted_at - self.submitted_at

    def _short_keys(self, now: float) -> list[str]:
        return [
            key
            for key, (ledger, units) in zip(self._keys, self._charges, strict=True)
            if now < ledger.held_until or not all(window.fits(units, now) for window in ledger.windows)
        ]

    def _fit_at(self, now: float) -> float | None:
        latest = now
        for ledger, units in self._charges:
            latest = max(latest, ledger.held_until)
            for window in ledger.windows:
                at = window.fit_at(units, now)
                if at is None:
                    return None
                latest = max(latest, at)
        return latest


@dataclass(frozen=True, slots=True)
class PumpResult:
    """What :meth:`RateLimiter.pump` did: the tickets it admitted, and when to pump next.

    ``wake_at`` is None when no waiter can fit before an in-flight request completes (or none waits).
    """

    admitted: list[Ticket]
    wake_at: float | None


class RateLimiter:
    """The sans-I/O limiter: ledgers per scope key, a fair queue of waiting tickets.

    Drive it with :meth:`submit`, :meth:`pump` (admit what fits now, learn when to pump next),
    :meth:`complete` / :meth:`cancel`, all given ``now`` in seconds of one monotonic clock. One
    limiter may serve several tables: scopes with the same name share a budget. Not thread-safe;
    :class:`SyncRateLimiter` locks around it.
    """

    def __init__(self, *, margin: float = DEFAULT_MARGIN) -> None:
        if not (math.isfinite(margin) and 0 < margin <= 1):
            raise InvalidValueError("the margin must be in (0, 1]", margin=margin)
        self.margin = margin
        self._ledgers: dict[str, _ScopeLedger] = {}
        self._queues: dict[tuple[str, ...], deque[Ticket]] = {}
        self._seq = 0
        # Per wallet, the tier the venue says it is in and that tier's per-wallet scopes by name,
        # replacing the table's (see set_wallet_tier).
        self._wallet_tiers: dict[str, tuple[str, dict[str, Scope]]] = {}

    def submit(self, route: Route, *, items: int = 1, wallet: str | None = None, now: float) -> Ticket:
        """Queue a request of ``items`` items (orders, ids; 1 for a plain request) for ``route``.

        Per-wallet scopes are charged to ``wallet`` (one anonymous budget when it is None).
        Raises :class:`RateLimitedError` (not retriable) when the request can never fit a window.
        """
        if isinstance(items, bool) or not isinstance(items, int) or items < 1:
            raise InvalidValueError("items must be a positive integer", items=items)
        keys: list[str] = []
        charges: list[tuple[_ScopeLedger, int]] = []
        for scope in (*route.scopes, *route.shared):
            key, ledger = self._ledger(scope, wallet)
            units = items if scope.counts_items else 1
            if any(units > window.capacity for window in ledger.windows):
                raise RateLimitedError(
                    "the request costs more than a whole window allows; split it",
                    retriable=False,
                    request_sent=False,
                    endpoint=route.endpoint,
                    scope=scope.name,
                    items=items,
                )
            keys.append(key)
            charges.append((ledger, units))
        self._seq += 1
        ticket = Ticket(route, tuple(keys), tuple(charges), self._seq, now)
        self._queues.setdefault(ticket._keys, deque()).append(ticket)
        return ticket

    def pump(self, now: float) -> PumpResult:
        """Admit every waiting ticket that fits now, in fair order, and say when to pump next."""
        admitted: list[Ticket] = []
        wake_at: float | None = None
        # Queues hold tickets of identical scope keys, so only each queue's head can go next;
        # heads are visited in arrival order.
        heads: list[tuple[int, tuple[str, ...]]] = []
        for keys, queue in list(self._queues.items()):
            while queue and queue[0].state is not TicketState.WAITING:
                queue.popleft()
            if queue:
                heads.append((queue[0].seq, keys))
            else:
                del self._queues[keys]
        heapq.heapify(heads)
        contended: set[str] = set()  # keys an earlier waiter is short of
        while heads:
            _, keys = heapq.heappop(heads)
            if not contended.isdisjoint(keys):
                continue  # behind an earlier waiter; it is pumped again when that one is admitted
            queue = self._queues[keys]
            ticket = queue[0]
            short = ticket._short_keys(now)
            if short:
                contended.update(short)
                fit_at = ticket._fit_at(now)
                if fit_at is not None and (wake_at is None or fit_at < wake_at):
                    wake_at = fit_at
                continue
            self._admit(ticket, now)
            admitted.append(ticket)
            queue.popleft()
            while queue and queue[0].state is not TicketState.WAITING:
                queue.popleft()
            if queue:
                heapq.heappush(heads, (queue[0].seq, keys))
            else:
                del self._queues[keys]
        return PumpResult(admitted, wake_at)

    def earliest_fit(self, ticket: Ticket, now: float) -> float | None:
        """When ``ticket`` would fit if no earlier waiter took anything: a lower bound on its admission.

        None while in-flight requests alone leave too little room (the time depends on their answers).
        """
        return ticket._fit_at(now)

    def complete(self, ticket: Ticket, now: float, *, extra_items: int = 0) -> None:
        """An admitted request got its answer (or failed after it may have been sent): its units
        count until ``period_s`` from now. A waiting ticket is withdrawn.

        ``extra_items`` are items the venue charges once it has acted (the orders a
        ``/cancel-all`` cancelled, venue notes: Rate limits): item-counting scopes count them too, even beyond
        their capacity, as the venue's bucket goes below zero.
        """
        if isinstance(extra_items, bool) or not isinstance(extra_items, int) or extra_items < 0:
            raise InvalidValueError("extra_items must be a non-negative integer", extra_items=extra_items)
        if ticket.state is TicketState.ADMITTED:
            for (ledger, units), counts_items in zip(ticket._charges, ticket._counts_items, strict=True):
                for window in ledger.windows:
                    window.complete(units, now, extra_items if counts_items else 0)
        ticket.state = TicketState.DONE

    def cancel(self, ticket: Ticket) -> None:
        """Withdraw a ticket that was never sent: waiting, or admitted but abandoned before sending."""
        if ticket.state is TicketState.ADMITTED:
            for ledger, units in ticket._charges:
                for window in ledger.windows:
                    window.in_flight -= units
        ticket.state = TicketState.DONE

    def hold(self, route: Route, until: float, *, wallet: str | None = None, per_wallet_only: bool = False) -> None:
        """Admit nothing for ``route``'s own scopes before ``until`` (after a venue 429 with
        Retry-After: our count and the venue's disagree, e.g. another process on the same IP).

        ``per_wallet_only``: hold only ``wallet``'s per-wallet scopes (its signer bucket is empty
        at the venue; the IP-wide ones and other wallets are not concerned).
        """
        for scope in route.scopes:
            if per_wallet_only and not scope.per_wallet:
                continue
            _, ledger = self._ledger(scope, wallet)
            ledger.held_until = max(ledger.held_until, until)

    def wallet_tier(self, wallet: str | None) -> str | None:
        """The tier set by :meth:`set_wallet_tier` for ``wallet`` (None: its table's)."""
        entry = self._wallet_tiers.get(wallet or "")
        return None if entry is None else entry[0]

    def set_wallet_tier(self, wallet: str | None, tier: str, scopes: Iterable[Scope]) -> None:
        """From now on, size ``wallet``'s per-wallet scopes as ``scopes`` (those of volume ``tier``),
        whatever its routes' table says. Units already counted stay counted: only the limits change."""
        replacements = {scope.name: scope for scope in scopes if scope.per_wallet}
        self._wallet_tiers[wallet or ""] = (tier, replacements)
        for scope in replacements.values():
            ledger = self._ledgers.get(_ledger_key(scope, wallet))
            if ledger is not None:
                ledger.resize(scope, self.margin)

    @property
    def waiting(self) -> int:
        """Tickets waiting for admission."""
        return sum(1 for queue in self._queues.values() for ticket in queue if ticket.state is TicketState.WAITING)

    def _ledger(self, scope: Scope, wallet: str | None) -> tuple[str, _ScopeLedger]:
        # The first definition of a scope name makes its ledger: tables sharing a name share it,
        # except a wallet's per-wallet scopes once the venue has named its tier.
        key = _ledger_key(scope, wallet)
        ledger = self._ledgers.get(key)
        if ledger is None:
            if scope.per_wallet and (tiered := self._wallet_tiers.get(wallet or "")) is not None:
                scope = tiered[1].get(scope.name, scope)
            ledger = self._ledgers[key] = _ScopeLedger(scope, self.margin)
        return key, ledger

    def _admit(self, ticket: Ticket, now: float) -> None:
        for ledger, units in ticket._charges:
            for window in ledger.windows:
                window.in_flight += units
        ticket.state = TicketState.ADMITTED
        ticket.admitted_at = now


def _ledger_key(scope: Scope, wallet: str | None) -> str:
    return f"{scope.name}|wallet={wallet or ''}" if scope.per_wallet else scope.name


def _deadline_error(ticket: Ticket, now: float, fit_at: float | None) -> RateLimitedError:
    return RateLimitedError(
        "no rate-limit room before the request's deadline",
        request_sent=False,
        endpoint=ticket.route.endpoint,
        scope=ticket.route.bucket,
        waited_s=round(now - ticket.submitted_at, 6),
        retry_after_s=None if fit_at is None else round(max(0.0, fit_at - now), 6),
    )


# --- waiting for it ---------------------------------------------------------------------------------


class AsyncRateLimiter:
    """Waits for a :class:`RateLimiter` on the running event loop.

    One timer for all waiters, set to the next time a waiter fits; each admission resolves exactly
    the admitted request's future. Use it from one event loop.
    """

    def __init__(self, limiter: RateLimiter | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.core = limiter if limiter is not None else RateLimiter()
        self._clock = clock
        self._waiters: dict[Ticket, asyncio.Future[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    async def acquire(
        self, route: Route, *, items: int = 1, wallet: str | None = None, deadline_at: float | None = None
    ) -> Ticket:
        """Wait until the request fits, then return its admitted ticket; pass it to :meth:`complete`
        (or :meth:`cancel` if it is never sent).

        ``deadline_at`` is on this limiter's clock. Raises :class:`RateLimitedError` at once when the
        earliest possible admission is after it, or when it passes while waiting.
        """
        self._loop = asyncio.get_running_loop()
        now = self._clock()
        ticket = self.core.submit(route, items=items, wallet=wallet, now=now)
        self._pump(now)
        if ticket.state is not TicketState.ADMITTED:
            fit_at = self.core.earliest_fit(ticket, now)
            if deadline_at is not None and fit_at is not None and fit_at > deadline_at:
                self._cancel_waiting(ticket)
                raise _deadline_error(ticket, now, fit_at)
            future = self._loop.create_future()
            self._waiters[ticket] = future
            try:
                if deadline_at is None:
                    await future
                else:
                    async with asyncio.timeout(max(0.0, deadline_at - now)):
                        await future
            except TimeoutError:
                now = self._clock()
                fit_at = self.core.earliest_fit(ticket, now) if ticket.state is TicketState.WAITING else None
                self._cancel_waiting(ticket)
                raise _deadline_error(ticket, now, fit_at) from None
            except BaseException:
                self._cancel_waiting(ticket)
                raise
            finally:
                self._waiters.pop(ticket, None)
        RATE_LIMIT_WAIT.labels(route.bucket).observe(ticket.waited_s)
        return ticket

    def complete(self, ticket: Ticket, *, extra_items: int = 0) -> None:
        """The request was sent (or may have been): keep its units, and ``extra_items`` charged
        after the fact, for a period from now (see :meth:`RateLimiter.complete`)."""
        now = self._clock()
        self.core.complete(ticket, now, extra_items=extra_items)
        self._pump(now)

    def cancel(self, ticket: Ticket) -> None:
        """The request was never sent: give its units back."""
        self.core.cancel(ticket)
        self._pump(self._clock())

    def hold(self, route: Route, seconds: float, *, wallet: str | None = None, per_wallet_only: bool = False) -> None:
        """Pause ``route``'s own scopes for ``seconds`` (see :meth:`RateLimiter.hold`)."""
        now = self._clock()
        self.core.hold(route, now + seconds, wallet=wallet, per_wallet_only=per_wallet_only)
        self._pump(now)

    def set_wallet_tier(self, wallet: str | None, tier: str, scopes: Iterable[Scope]) -> None:
        """See :meth:`RateLimiter.set_wallet_tier`; waiters that now fit go."""
        self.core.set_wallet_tier(wallet, tier, scopes)
        self._pump(self._clock())

    def _cancel_waiting(self, ticket: Ticket) -> None:
        # Admitted in the same instant the wait was given up: it was never sent either.
        self.core.cancel(ticket)
        self._pump(self._clock())

    def _pump(self, now: float) -> None:
        result = self.core.pump(now)
        for ticket in result.admitted:
            future = self._waiters.get(ticket)
            if future is not None and not future.done():
                future.set_result(None)
        if result.wake_at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = result.wake_at
        if result.wake_at is not None and self._loop is not None:
            # Someone waits (wake_at is only set for waiters), so acquire() has set the loop.
            self._timer = self._loop.call_later(max(0.0, result.wake_at - now), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._pump(self._clock())


class SyncRateLimiter:
    """Waits for a :class:`RateLimiter` from any number of threads.

    Waiting threads sleep on one condition until the next time a waiter fits (or their deadline);
    every admission and release wakes them to let the admitted ones go. Meant for the sync facade's
    few threads; the async limiter scales to thousands of waiters.
    """

    def __init__(self, limiter: RateLimiter | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.core = limiter if limiter is not None else RateLimiter()
        self._clock = clock
        self._changed = threading.Condition(threading.Lock())
        self._wake_at: float | None = None

    def acquire(
        self, route: Route, *, items: int = 1, wallet: str | None = None, deadline_at: float | None = None
    ) -> Ticket:
        """Block until the request fits; as :meth:`AsyncRateLimiter.acquire`."""
        with self._changed:
            now = self._clock()
            ticket = self.core.submit(route, items=items, wallet=wallet, now=now)
            self._pump(now)
            if ticket.state is not TicketState.ADMITTED:
                fit_at = self.core.earliest_fit(ticket, now)
                if deadline_at is not None and fit_at is not None and fit_at > deadline_at:
                    self.core.cancel(ticket)
                    self._pump(now)
                    raise _deadline_error(ticket, now, fit_at)
            while ticket.state is not TicketState.ADMITTED:
                now = self._clock()
                if deadline_at is not None and now >= deadline_at:
                    fit_at = self.core.earliest_fit(ticket, now)
                    self.core.cancel(ticket)
                    self._pump(now)
                    raise _deadline_error(ticket, now, fit_at)
                timeouts = [at - now for at in (self._wake_at, deadline_at) if at is not None]
                self._changed.wait(min(timeouts) if timeouts else None)
                self._pump(self._clock())
        RATE_LIMIT_WAIT.labels(route.bucket).observe(ticket.waited_s)
        return ticket

    def complete(self, ticket: Ticket, *, extra_items: int = 0) -> None:
        """As :meth:`AsyncRateLimiter.complete`."""
        with self._changed:
            now = self._clock()
            self.core.complete(ticket, now, extra_items=extra_items)
            self._pump(now)

    def cancel(self, ticket: Ticket) -> None:
        """As :meth:`AsyncRateLimiter.cancel`."""
        with self._changed:
            self.core.cancel(ticket)
            self._pump(self._clock())

    def hold(self, route: Route, seconds: float, *, wallet: str | None = None, per_wallet_only: bool = False) -> None:
        """As :meth:`AsyncRateLimiter.hold`."""
        with self._changed:
            now = self._clock()
            self.core.hold(route, now + seconds, wallet=wallet, per_wallet_only=per_wallet_only)
            self._pump(now)

    def set_wallet_tier(self, wallet: str | None, tier: str, scopes: Iterable[Scope]) -> None:
        """As :meth:`AsyncRateLimiter.set_wallet_tier`."""
        with self._changed:
            self.core.set_wallet_tier(wallet, tier, scopes)
            self._pump(self._clock())

    def _pump(self, now: float) -> None:
        result = self.core.pump(now)
        if result.admitted or result.wake_at != self._wake_at:
            self._changed.notify_all()
        self._wake_at = result.wake_at
