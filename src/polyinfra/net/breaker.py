"""Circuit breakers per endpoint group: stop calling a venue that is failing, probe, resume.

States: **closed** (calls go through), **open** (calls fail fast with :class:`CircuitOpenError`,
whose ``retry_after_s`` says when a probe is let through), **half-open** (up to
``half_open_probes`` calls go through; that many successes close the breaker, one failure opens
it again for another ``open_duration_s``). The breaker half-opens on the first call after its
open time has passed.

**What trips it:** ``failure_threshold`` *consecutive* failures. A failure-rate window needs a
minimum number of calls to mean anything, and a trading endpoint sees a few calls a minute; the
venue's real failure modes (engine restarts, outages, 5xx storms, venue notes: Failure modes) fail every call in
a row, which a consecutive count catches after exactly ``failure_threshold`` calls whatever the
traffic. Partial degradation is the retry layer's job.

**What counts as a failure:** only what says the server side is unwell — 5xx answers and retriable
transport failures (connect errors, resets, timeouts). 4xx answers, including 425 and 429, show a
venue that answers, and count as successes. So does a 5xx that names a trading mode (post-only,
cancel-only, trading disabled, venue notes: Failure modes): the venue refuses on purpose, and an open breaker
would also block the cancels those modes still accept.

The core is pure (time is an argument) and locked, so the sync facade's threads can share it.
Transitions are exported as ``BREAKER_STATE`` / ``BREAKER_TRANSITIONS`` and logged at WARNING.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from polyinfra.errors import CircuitOpenError, HttpServerError, InvalidValueError, TransportError
from polyinfra.obs.logging import get_logger
from polyinfra.obs.metrics import BREAKER_STATE, BREAKER_TRANSITIONS, BreakerStateValue

__all__ = [
    "BreakerConfig",
    "BreakerPermit",
    "BreakerState",
    "CallOutcome",
    "CircuitBreaker",
    "CircuitBreakers",
    "counts_as_failure",
]

_log = get_logger(__name__)


class BreakerState(Enum):
    """A breaker's state; ``value`` is the label of ``BREAKER_TRANSITIONS``."""

    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


_GAUGE_VALUES: Mapping[BreakerState, int] = {
    BreakerState.CLOSED: BreakerStateValue.CLOSED,
    BreakerState.HALF_OPEN: BreakerStateValue.HALF_OPEN,
    BreakerState.OPEN: BreakerStateValue.OPEN,
}


class CallOutcome(Enum):
    """How a call admitted by a breaker ended."""

    SUCCESS = "success"
    """The venue answered (any status that is not a server failure)."""
    FAILURE = "failure"
    """A server-side failure: see :func:`counts_as_failure`."""
    ABANDONED = "abandoned"
    """No verdict: the call was never sent or was cancelled."""


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """``failure_threshold`` consecutive failures open the breaker for ``open_duration_s``; then
    ``half_open_probes`` successful probes close it."""

    failure_threshold: int = 5
    open_duration_s: float = 10.0
    half_open_probes: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise InvalidValueError(
                "the failure threshold must be at least 1", failure_threshold=self.failure_threshold
            )
        if not (math.isfinite(self.open_duration_s) and self.open_duration_s > 0):
            raise InvalidValueError("the open duration must be positive", open_duration_s=self.open_duration_s)
        if self.half_open_probes < 1:
            raise InvalidValueError("at least one half-open probe", half_open_probes=self.half_open_probes)


@dataclass(frozen=True, slots=True)
class BreakerPermit:
    """A call let through by :meth:`CircuitBreaker.admit`; hand it back to :meth:`CircuitBreaker.record`."""

    generation: int
    probe: bool


def counts_as_failure(error: BaseException) -> bool:
    """Whether ``error`` says the server side is failing (see the module docstring)."""
    if isinstance(error, HttpServerError):
        return "mode" not in error.context
    return isinstance(error, TransportError) and error.retriable


class CircuitBreaker:
    """The breaker of one endpoint group. Thread-safe; every method takes the current time."""

    def __init__(self, group: str, config: BreakerConfig | None = None) -> None:
        self.group = group
        self.config = config if config is not None else BreakerConfig()
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        # Bumped on every transition, so late outcomes of calls admitted in an earlier state are ignored.
        self._generation = 0
        self._consecutive_failures = 0
        self._opened_at = -math.inf
        self._probes_out = 0
        self._probe_successes = 0
        self._last_failure: str | None = None
        BREAKER_STATE.labels(group).set(_GAUGE_VALUES[BreakerState.CLOSED])

    def state(self, now: float) -> BreakerState:
        """The state at ``now`` (an open breaker whose time is up reports half-open)."""
        with self._lock:
            self._half_open_if_due(now)
            return self._state

    def admit(self, now: float) -> BreakerPermit:
        """Let a call through, or raise :class:`CircuitOpenError` (with ``retry_after_s``)."""
        with self._lock:
            self._half_open_if_due(now)
            if self._state is BreakerState.CLOSED:
                return BreakerPermit(self._generation, probe=False)
            if self._state is BreakerState.OPEN:
                retry_after_s = self._opened_at + self.config.open_duration_s - now
            elif self._probes_out + self._probe_successes < self.config.half_open_probes:
                self._probes_out += 1
                return BreakerPermit(self._generation, probe=True)
            else:
                # Every probe slot is taken: the probes decide within one call, and if they fail
                # the breaker stays open for a full period, so that is when to come back.
                retry_after_s = self.config.open_duration_s
            # The breaker's own state says nothing about the fix: the failure that opened it does.
            cause = f": last failure: {self._last_failure}" if self._last_failure else ""
            raise CircuitOpenError(
                f"circuit breaker {self.group!r} is {self._state.value}; failing fast{cause}",
                group=self.group,
                state=self._state.value,
                request_sent=False,
                retry_after_s=round(retry_after_s, 6),
            )

    def record(self, permit: BreakerPermit, outcome: CallOutcome, now: float, *, cause: str | None = None) -> None:
        """Report how an admitted call ended; ``cause`` says why a failure failed (shown while open)."""
        with self._lock:
            if outcome is CallOutcome.FAILURE and cause is not None:
                self._last_failure = cause
            if permit.generation != self._generation:
                return
            if permit.probe:
                self._probes_out -= 1
                if outcome is CallOutcome.FAILURE:
                    self._open(now)
                elif outcome is CallOutcome.SUCCESS:
                    self._probe_successes += 1
                    if self._probe_successes >= self.config.half_open_probes:
                        self._transition(BreakerState.CLOSED)
            elif outcome is CallOutcome.SUCCESS:
                self._consecutive_failures = 0
            elif outcome is CallOutcome.FAILURE:
                self._consecutive_failures += 1
                if self._consecutive_failures >= self.config.failure_threshold:
                    self._open(now)

    def _half_open_if_due(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now >= self._opened_at + self.config.open_duration_s:
            self._transition(BreakerState.HALF_OPEN)

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._transition(BreakerState.OPEN)

    def _transition(self, state: BreakerState) -> None:
        previous = self._state
        self._state = state
        self._generation += 1
        self._consecutive_failures = 0
        self._probes_out = 0
        self._probe_successes = 0
        BREAKER_STATE.labels(self.group).set(_GAUGE_VALUES[state])
        BREAKER_TRANSITIONS.labels(self.group, state.value).inc()
        _log.warning("circuit breaker changed state", group=self.group, previous=previous.value, state=state.value)


class CircuitBreakers:
    """One :class:`CircuitBreaker` per endpoint group, created on first use. Thread-safe.

    ``overrides`` gives some groups their own config (e.g. a longer open time for trading).
    """

    def __init__(
        self, config: BreakerConfig | None = None, *, overrides: Mapping[str, BreakerConfig] | None = None
    ) -> None:
        self.config = config if config is not None else BreakerConfig()
        self._overrides = dict(overrides or {})
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def __getitem__(self, group: str) -> CircuitBreaker:
        breaker = self._breakers.get(group)
        if breaker is None:
            with self._lock:
                breaker = self._breakers.get(group)
                if breaker is None:
                    breaker = CircuitBreaker(group, self._overrides.get(group, self.config))
                    self._breakers[group] = breaker
        return breaker
