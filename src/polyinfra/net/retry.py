"""When to try a request again, and when a retry could do harm: pure decisions, no sleeping.

:func:`decide_retry` is a function of the error, the attempt number, the time spent and the policy
(plus one random draw for the jitter), so every rule is unit-tested without a clock:

* **What is retriable** comes from the error tree: :class:`TransportError` (connect failures,
  resets, :class:`RequestTimeoutError`), :class:`ServiceNotReadyError` (425 while the matching engine
  restarts, venue notes: Failure modes), :class:`RateLimitedError` from the venue (429, after its ``Retry-After``)
  and :class:`HttpServerError` (5xx). Everything else is raised at once.
* **Backoff** is exponential (``base_delay_s * multiplier**(attempt-1)``, capped at
  ``max_delay_s``) with jitter. The default is *equal* jitter, a delay drawn from
  ``[d/2, d]``: it keeps the exponential floor, so a restarting engine or a 5xx storm is never
  hit again immediately, while concurrent tasks still spread over half the interval. *Full*
  jitter (``[0, d]``) spreads more and suits many independent clients hammering one server; here
  the tasks of one process already queue FIFO in the rate limiter, so the floor matters more.
* **First contact**: until the host has answered anything, a connection failure is more likely a
  wrong URL or a stopped server than a blip; ``first_contact_attempts`` bounds the attempts then
  (a one-shot command sets 1 and fails at once with the cause; a long-running client keeps the
  default and rides out a venue that is still starting).
* **The deadline** bounds everything: no retry starts a wait that would end past it, and a
  ``Retry-After`` beyond it ends the request at once.
* **State-changing requests** (posting or cancelling orders) are retried only when the venue
  provably did not act on them (:func:`may_have_been_applied` is False): the connection failed
  before the request was sent, 425, 429, or a 503 that names a trading mode refusing it. Otherwise
  the error is flagged ``needs_reconciliation=True`` (see :func:`flag_reconciliation`) and the
  caller, or its reconcile hook, checks ``/data/orders`` before deciding (venue notes: Failure modes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType

from polyinfra.errors import (
    CircuitOpenError,
    HttpServerError,
    InvalidValueError,
    PolyinfraError,
    RateLimitedError,
    RequestTimeoutError,
    ServiceNotReadyError,
    TransportError,
)

__all__ = [
    "Jitter",
    "ReconcileVerdict",
    "RetryDecision",
    "RetryPolicy",
    "annotate",
    "backoff_delay_s",
    "decide_retry",
    "flag_reconciliation",
    "may_have_been_applied",
    "needs_reconciliation",
    "retry_reason",
]


class Jitter(Enum):
    """How a backoff delay ``d`` is randomised."""

    FULL = "full"
    """Uniform in ``[0, d]``."""
    EQUAL = "equal"
    """Uniform in ``[d/2, d]``."""


class ReconcileVerdict(Enum):
    """What a reconcile hook found out about a state-changing request whose fate was unknown."""

    NOT_APPLIED = "not_applied"
    """The venue has no trace of it: retrying is safe."""
    APPLIED = "applied"
    """The venue acted on it: never send it again."""
    UNKNOWN = "unknown"
    """Still undecided: raise, flagged for reconciliation."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. ``deadline_s`` applies to the whole request, waits and retries included,
    unless the request gives its own; ``max_attempts`` counts the first attempt."""

    base_delay_s: float = 0.5
    multiplier: float = 2.0
    max_delay_s: float = 30.0
    jitter: Jitter = Jitter.EQUAL
    max_attempts: int = 10
    deadline_s: float = 30.0
    not_ready_min_delay_s: float = 1.0
    """Floor of the delay after a 425: the engine restart lasts ~90 s and the venue suggests
    retrying from 1-2 s, doubling (venue notes: Failure modes); sooner only adds load."""
    first_contact_attempts: int | None = None
    """Attempts while the host has never answered (None: ``max_attempts``)."""

    def __post_init__(self) -> None:
        for name in ("base_delay_s", "max_delay_s", "deadline_s", "not_ready_min_delay_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise InvalidValueError("must be a non-negative number of seconds", field=name, value=value)
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1):
            raise InvalidValueError("the multiplier must be at least 1", multiplier=self.multiplier)
        if self.max_attempts < 1:
            raise InvalidValueError("at least one attempt", max_attempts=self.max_attempts)
        if self.first_contact_attempts is not None and self.first_contact_attempts < 1:
            raise InvalidValueError("at least one attempt", first_contact_attempts=self.first_contact_attempts)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """The outcome of :func:`decide_retry`.

    ``retry``: send again after ``delay_s``. ``reason`` names the failure for metrics and logs
    (``timeout``, ``transport``, ``425``, ``429``, ``5xx``; None when not retriable).
    ``needs_reconciliation``: a state-changing request may have been applied; it was not retried.
    """

    retry: bool
    delay_s: float
    reason: str | None
    needs_reconciliation: bool = False


def retry_reason(error: PolyinfraError) -> str | None:
    """The retriable failure class of ``error``, or None when it must not be retried."""
    if not error.retriable:
        return None
    if isinstance(error, RequestTimeoutError):
        return "timeout"
    if isinstance(error, TransportError):
        return "transport"
    if isinstance(error, ServiceNotReadyError):
        return "425"
    if isinstance(error, RateLimitedError) and "status" in error.context:
        # Only the venue's 429: a local limiter refusal already accounts for the deadline.
        return "429"
    if isinstance(error, HttpServerError):
        return "5xx"
    return None


def may_have_been_applied(error: PolyinfraError) -> bool:
    """Whether the venue may have acted on a request that failed with ``error``.

    False only with proof: the request never left (``request_sent=False`` in the context, or a
    breaker failing fast), or the venue refused it without processing it (any answer with a 4xx
    ``status``, including 425 and 429; a 5xx naming a trading ``mode`` that refuses new orders,
    venue notes: Failure modes). Anything else may have been applied: timeouts, resets after sending, plain 5xx
    such as ``could not run the execution``, an answer that could not be read.
    """
    if error.context.get("request_sent") is False:
        return False
    if isinstance(error, CircuitOpenError):
        return False
    status = error.context.get("status")
    if isinstance(status, int):
        return status >= 500 and "mode" not in error.context
    return True


def backoff_delay_s(attempt: int, policy: RetryPolicy, draw: float) -> float:
    """The jittered delay after failed attempt number ``attempt`` (1-based); ``draw`` in [0, 1)."""
    ceiling = min(policy.max_delay_s, policy.base_delay_s * policy.multiplier ** (attempt - 1))
    if policy.jitter is Jitter.FULL:
        return ceiling * draw
    return ceiling / 2 + ceiling / 2 * draw


def decide_retry(
    error: PolyinfraError,
    *,
    attempt: int,
    elapsed_s: float,
    policy: RetryPolicy,
    deadline_s: float | None = None,
    state_changing: bool = False,
    host_answered: bool = True,
    draw: float,
) -> RetryDecision:
    """Whether to send a request again after ``error`` ended attempt number ``attempt`` (1-based),
    ``elapsed_s`` after the request started; ``deadline_s`` overrides the policy's.
    ``host_answered`` is False while the host has never answered: ``first_contact_attempts`` applies.

    ``draw`` is a uniform random number in [0, 1) for the jitter (the caller's RNG keeps this pure).
    """
    reason = retry_reason(error)
    if state_changing and may_have_been_applied(error):
        # Also when not retriable: an unreadable answer to an order may hide an accepted one.
        return RetryDecision(retry=False, delay_s=0.0, reason=reason, needs_reconciliation=True)
    if reason is None:
        return RetryDecision(retry=False, delay_s=0.0, reason=None)
    max_attempts = policy.max_attempts
    if not host_answered and policy.first_contact_attempts is not None:
        max_attempts = min(max_attempts, policy.first_contact_attempts)
    if attempt >= max_attempts:
        return RetryDecision(retry=False, delay_s=0.0, reason=reason)
    delay_s = backoff_delay_s(attempt, policy, draw)
    if reason == "425":
        delay_s = max(delay_s, policy.not_ready_min_delay_s)
    retry_after_s = error.context.get("retry_after_s")
    if isinstance(retry_after_s, int | float) and retry_after_s > delay_s:
        delay_s = float(retry_after_s)
    remaining_s = (policy.deadline_s if deadline_s is None else deadline_s) - elapsed_s
    if delay_s >= remaining_s:
        return RetryDecision(retry=False, delay_s=0.0, reason=reason)
    return RetryDecision(retry=True, delay_s=delay_s, reason=reason)


def flag_reconciliation(error: PolyinfraError, **context: object) -> PolyinfraError:
    """Mark ``error`` as needing reconciliation (``needs_reconciliation=True`` in its context),
    adding ``context``; returns the same error."""
    annotate(error, needs_reconciliation=True, **context)
    return error


def needs_reconciliation(error: BaseException) -> bool:
    """Whether a failed state-changing request may have been applied by the venue: check the
    venue (``/data/orders``, ``/data/trades``) before sending it again."""
    return isinstance(error, PolyinfraError) and error.context.get("needs_reconciliation") is True


def annotate(error: PolyinfraError, **context: object) -> None:
    """Add ``context`` (None values skipped) to an error raised further down, e.g. the attempt count."""
    merged = dict(error.context)
    merged.update({key: value for key, value in context.items() if value is not None})
    error.context = MappingProxyType(merged)
