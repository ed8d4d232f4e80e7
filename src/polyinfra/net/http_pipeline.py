"""The one request pipeline both HTTP transports (:mod:`polyinfra.net.http`) share.

Every request goes through the same steps, in one place (:meth:`Pipeline._run`):

1. the endpoint group's circuit breaker (fail fast with :class:`CircuitOpenError` while open);
2. the rate limiter (wait FIFO-fair for room in every scope, or :class:`RateLimitedError` if the
   room comes after the deadline);
3. send, with timeouts capped by what is left of the deadline;
4. classify: 2xx is a :class:`Response`; any other status becomes the error
   :func:`~polyinfra.core.venue_errors.error_from_response` names; an httpx exception becomes a
   :class:`TransportError` / :class:`RequestTimeoutError` saying whether the request was sent;
5. listen to the venue's per-signer buckets (venue notes: Rate limits): on a wallet's request whose answer carries
   ``Poly-RateLimit-*`` headers, follow the ``Tier`` it names (the venue re-tiers every 3 h by
   30-day volume), hold that wallet's signer bucket until ``Reset`` when ``Remaining`` is spent or
   the answer is a 429, and warn about ``Poly-RateLimit-Warning``. An item count the venue debits
   after the fact (``/cancel-all``) is charged once the answer has it (``items_after``);
6. retry or not (:func:`~polyinfra.net.retry.decide_retry`): state-changing requests are retried
   only when the venue provably did not act on them, else reconciled or raised flagged
   ``needs_reconciliation``;
7. metrics (``HTTP_REQUESTS``, ``HTTP_LATENCY``, ``RETRIES``) and logs, all under one correlation
   id (``request_id``) per request.

The pipeline is a generator that *yields* what it needs done — :class:`Acquire` room from the
limiter, :class:`Send`, :class:`Sleep`, ask the :class:`Reconcile` hook — and each transport performs
those effects its own way (``await`` or block) and sends the result back in: an :class:`Answer`
(the send translates an httpx exception with :mod:`polyinfra.net.http_failures`).

Logs name the method, path, endpoint, status, attempt, waits and latency; never headers, query
strings or bodies, which carry credentials and signatures.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol, TypeAlias, cast

import httpx
import msgspec

from polyinfra.core.config_checks import HTTP_SCHEMES, service_url
from polyinfra.core.rate_limit_tables import RateLimitTable, Route, Scope
from polyinfra.errors import CircuitOpenError, InvalidValueError, PolyinfraError, RequestTimeoutError
from polyinfra.net.breaker import CallOutcome, CircuitBreakers, counts_as_failure
from polyinfra.net.http_request import AnswerErrors, HeaderValues, ItemsAfter, QueryParams, Response, Timeouts
from polyinfra.net.rate_limit import RateLimiter, Ticket
from polyinfra.net.retry import (
    ReconcileVerdict,
    RetryDecision,
    RetryPolicy,
    annotate,
    decide_retry,
    flag_reconciliation,
)
from polyinfra.net.signer_limit_headers import SignerLimitHeaders
from polyinfra.obs.logging import get_logger, new_correlation_id
from polyinfra.obs.metrics import HTTP_LATENCY, HTTP_REQUESTS, RETRIES, SIGNER_RATE_LIMIT_WARNINGS
from polyinfra.obs.redaction import Secret

__all__ = [
    "Acquire",
    "Answer",
    "Call",
    "Effect",
    "Pipeline",
    "Reconcile",
    "Releases",
    "Send",
    "Sleep",
]

_SIGNER_WARNING_LOG_EVERY_S: Final = 60.0
"""A wallet over its signer bucket in warning mode is logged at most once a minute, counted always."""

# The transports' logger: what the pipeline logs is the HTTP layer's, filtered under one name.
_log = get_logger("polyinfra.net.http")


@dataclass(frozen=True, slots=True)
class Call:
    """One request as the pipeline sees it."""

    method: str
    path: str
    route: Route
    params: QueryParams | None
    # Hidden from the repr: a body may carry a credential (a token request's client assertion).
    content: bytes | Secret | None = field(repr=False)
    headers: HeaderValues
    state_changing: bool
    deadline_s: float
    wallet: str | None
    items: int
    items_after: ItemsAfter | None
    can_reconcile: bool
    request_id: str = field(default_factory=new_correlation_id)


@dataclass(frozen=True, slots=True)
class Acquire:
    """Effect: wait for the rate limiter's room for ``call`` (until ``deadline_at``); the result is its ticket."""

    call: Call
    deadline_at: float


@dataclass(frozen=True, slots=True)
class Send:
    """Effect: send ``call`` with ``timeout``; the result is its :class:`Answer`."""

    call: Call
    timeout: httpx.Timeout


@dataclass(frozen=True, slots=True)
class Sleep:
    """Effect: wait ``seconds`` before the next attempt."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Reconcile:
    """Effect: ask the reconcile hook whether the venue applied the request that failed with ``error``."""

    error: PolyinfraError


Effect: TypeAlias = Acquire | Send | Sleep | Reconcile


@dataclass(frozen=True, slots=True)
class Answer:
    """The host's answer to one send, whatever its status."""

    status: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Attempt:
    answer: Answer | None
    error: PolyinfraError | None
    waited_s: float


class Releases(Protocol):
    """The part of both rate limiters that does not wait."""

    core: RateLimiter

    def complete(self, ticket: Ticket, *, extra_items: int = 0) -> None: ...

    def cancel(self, ticket: Ticket) -> None: ...

    def hold(
        self, route: Route, seconds: float, *, wallet: str | None = None, per_wallet_only: bool = False
    ) -> None: ...

    def set_wallet_tier(self, wallet: str | None, tier: str, scopes: Iterable[Scope]) -> None: ...


class Pipeline:
    """What both transports share: configuration, the breakers and the request pipeline."""

    def __init__(
        self,
        *,
        base_url: str,
        rate_limits: RateLimitTable,
        releases: Releases,
        retry: RetryPolicy | None,
        breakers: CircuitBreakers | None,
        timeouts: Timeouts | None,
        clock: Callable[[], float],
        rng: random.Random | None,
        answer_errors: AnswerErrors,
    ) -> None:
        self.base_url = service_url("base_url", base_url, HTTP_SCHEMES).rstrip("/")
        self.rate_limits = rate_limits
        self._answer_errors = answer_errors
        self._releases = releases
        self.retry = retry if retry is not None else RetryPolicy()
        self.breakers = breakers if breakers is not None else CircuitBreakers()
        self.timeouts = timeouts if timeouts is not None else Timeouts()
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._signer_warned_at: dict[str | None, float] = {}
        self._host_answered = False
        """Whether the host has answered anything yet: until it has, a connection failure more likely
        means a wrong URL or a stopped server than a blip (see ``RetryPolicy.first_contact_attempts``)."""

    def _call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None,
        params: QueryParams | None,
        content: bytes | Secret | None,
        json: object,
        headers: HeaderValues | None,
        state_changing: bool,
        deadline_s: float | None,
        wallet: str | None,
        items: int,
        items_after: ItemsAfter | None,
        can_reconcile: bool,
    ) -> Call:
        method = method.upper()
        if not path.startswith("/") or "?" in path:
            # Query strings go in params: they are never logged, the path is.
            raise InvalidValueError(
                "the path must start with '/' and carry no query string", path=path.partition("?")[0]
            )
        if deadline_s is not None and not (math.isfinite(deadline_s) and deadline_s > 0):
            raise InvalidValueError("the deadline must be a positive number of seconds", deadline_s=deadline_s)
        request_headers: dict[str, str | Secret] = dict(headers or {})
        if json is not None:
            if content is not None:
                raise InvalidValueError("give content or json, not both", path=path)
            try:
                content = msgspec.json.encode(json)
            except (TypeError, msgspec.EncodeError) as exc:
                raise InvalidValueError("the json body cannot be encoded", path=path, detail=str(exc)) from exc
        if content is not None and not any(name.lower() == "content-type" for name in request_headers):
            request_headers["Content-Type"] = "application/json"
        if endpoint is None:
            route = self.rate_limits.route(method, path)
        else:
            endpoint_method, _, endpoint_path = endpoint.rpartition(" ")
            route = self.rate_limits.route(endpoint_method or method, endpoint_path)
        return Call(
            method=method,
            path=path,
            route=route,
            params=params,
            content=content,
            headers=request_headers,
            state_changing=state_changing,
            deadline_s=self.retry.deadline_s if deadline_s is None else deadline_s,
            wallet=wallet,
            items=items,
            items_after=items_after,
            can_reconcile=can_reconcile,
        )

    def _run(self, call: Call) -> Generator[Effect, object, Response]:
        started = self._clock()
        deadline_at = started + call.deadline_s
        rate_limit_wait_s = 0.0
        retry_wait_s = 0.0
        attempt = 0
        previous: PolyinfraError | None = None
        while True:
            attempt += 1
            try:
                result = yield from self._attempt(call, attempt, deadline_at)
            except PolyinfraError as refusal:
                # The breaker or the limiter refused before anything was sent.
                annotate(refusal, attempts=attempt, request_id=call.request_id)
                # Failing fast is the breaker's point and its transitions are logged already;
                # a request the limiter cannot fit before its deadline is worth a warning.
                if isinstance(refusal, CircuitOpenError):
                    _log.debug("http request failed fast", **_where(call), attempt=attempt, error=str(refusal))
                else:
                    _log.warning("http request refused locally", **_where(call), attempt=attempt, error=str(refusal))
                if previous is None:
                    raise
                raise refusal from previous  # what the earlier attempts ran into
            rate_limit_wait_s += result.waited_s
            if result.answer is not None:
                return Response(
                    status=result.answer.status,
                    headers=result.answer.headers,
                    content=result.answer.content,
                    method=call.method,
                    path=call.path,
                    endpoint=call.route.endpoint,
                    attempts=attempt,
                    rate_limit_wait_s=rate_limit_wait_s,
                    retry_wait_s=retry_wait_s,
                )
            error = cast(PolyinfraError, result.error)
            decision = self._decide(call, error, attempt, started, state_changing=call.state_changing)
            if decision.needs_reconciliation and call.can_reconcile:
                verdict = cast(ReconcileVerdict, (yield Reconcile(error)))
                _log.info("reconciled", **_where(call), attempt=attempt, verdict=verdict.value)
                annotate(error, reconciliation=verdict.value)
                if verdict is ReconcileVerdict.APPLIED:
                    annotate(error, attempts=attempt, request_id=call.request_id)
                    raise error
                if verdict is ReconcileVerdict.NOT_APPLIED:
                    # The venue did not act on it: as safe to send again as a read.
                    decision = self._decide(call, error, attempt, started, state_changing=False)
            if decision.needs_reconciliation:
                flag_reconciliation(error, attempts=attempt, request_id=call.request_id)
                _log.error(
                    "state-changing request may have been applied; reconcile before sending it again",
                    **_where(call),
                    attempt=attempt,
                    error=str(error),
                )
                raise error
            if not decision.retry:
                annotate(error, attempts=attempt, request_id=call.request_id)
                if decision.reason is not None:
                    # Retriable, but out of attempts or deadline. A warning: the caller gets the error
                    # and decides whether it needs a human.
                    _log.warning("http request failed, giving up", **_where(call), attempt=attempt, error=str(error))
                raise error
            RETRIES.labels(call.route.path_template, decision.reason).inc()
            retry_after_s = error.context.get("retry_after_s")
            if (
                decision.reason == "429"
                and isinstance(retry_after_s, int | float)
                and "signer_tier" not in error.context
            ):
                # The venue's count and ours disagree (another process on this IP?): pause the
                # endpoint for everyone, not only for this request. (A 429 of the signer's bucket
                # paused only that wallet's bucket, in _attempt.)
                self._releases.hold(call.route, float(retry_after_s), wallet=call.wallet)
            _log.warning(
                "retrying http request",
                **_where(call),
                attempt=attempt,
                reason=decision.reason,
                delay_s=round(decision.delay_s, 3),
                status=error.context.get("status"),
            )
            yield Sleep(decision.delay_s)
            retry_wait_s += decision.delay_s
            previous = error

    def _decide(
        self, call: Call, error: PolyinfraError, attempt: int, started: float, *, state_changing: bool
    ) -> RetryDecision:
        return decide_retry(
            error,
            attempt=attempt,
            elapsed_s=self._clock() - started,
            policy=self.retry,
            deadline_s=call.deadline_s,
            state_changing=state_changing,
            host_answered=self._host_answered,
            draw=self._rng.random(),
        )

    def _attempt(self, call: Call, attempt: int, deadline_at: float) -> Generator[Effect, object, _Attempt]:
        breaker = self.breakers[call.route.group]
        permit = breaker.admit(self._clock())
        try:
            ticket = cast(Ticket, (yield Acquire(call, deadline_at)))
        except BaseException:
            breaker.record(permit, CallOutcome.ABANDONED, self._clock())
            raise
        sent_at = self._clock()
        remaining_s = deadline_at - sent_at
        if remaining_s <= 0:
            self._releases.cancel(ticket)
            breaker.record(permit, CallOutcome.ABANDONED, sent_at)
            raise RequestTimeoutError(
                "the deadline passed before the request could be sent",
                retriable=False,
                request_sent=False,
                endpoint=call.path,
                method=call.method,
            )
        answer: Answer | None = None
        error: PolyinfraError | None = None
        try:
            answer = cast(Answer, (yield Send(call, self.timeouts.capped(remaining_s))))
        except PolyinfraError as failure:
            error = failure
        except BaseException:
            # Cancelled mid-flight: the venue may have it, so its units stay counted.
            self._releases.complete(ticket)
            breaker.record(permit, CallOutcome.ABANDONED, self._clock())
            raise
        finished_at = self._clock()
        latency_s = finished_at - sent_at
        if answer is not None:
            self._host_answered = True
        signer_limits = None if answer is None else SignerLimitHeaders.from_headers(answer.headers)
        if answer is not None and signer_limits is not None:
            self._heed_signer_limits(call, answer.status, signer_limits)
        if answer is not None and not 200 <= answer.status < 300:
            error = self._answer_errors(
                answer.status, answer.content, method=call.method, endpoint=call.path, headers=answer.headers
            )
            if signer_limits is not None and answer.status == 429:
                annotate(error, signer_tier=signer_limits.tier, signer_reset_at=signer_limits.reset_at)
                if signer_limits.reset_at is None and signer_limits.retry_after_s is None:
                    # No time when it fits: the request costs more than the bucket's burst (venue notes: Rate limits).
                    error.retriable = False
        if error is not None and error.context.get("request_sent") is False:
            self._releases.cancel(ticket)
        elif answer is not None and error is None and call.items_after is not None:
            self._releases.complete(ticket, extra_items=call.items_after(answer.content))
        else:
            self._releases.complete(ticket)
        failed = error is not None and counts_as_failure(error)
        if failed:
            breaker.record(permit, CallOutcome.FAILURE, finished_at, cause=cast(PolyinfraError, error).message)
        else:
            breaker.record(permit, CallOutcome.SUCCESS, finished_at)
        status = str(answer.status) if answer is not None else "error"
        HTTP_REQUESTS.labels(call.route.path_template, call.method, status).inc()
        HTTP_LATENCY.labels(call.route.path_template).observe(latency_s)
        _log.debug(
            "http attempt",
            **_where(call),
            attempt=attempt,
            status=status,
            wait_s=round(ticket.waited_s, 6),
            latency_s=round(latency_s, 6),
        )
        if error is not None:
            return _Attempt(None, error, ticket.waited_s)
        return _Attempt(answer, None, ticket.waited_s)

    def _heed_signer_limits(self, call: Call, status: int, limits: SignerLimitHeaders) -> None:
        """Follow what the venue says about ``call.wallet``'s signer bucket (venue notes: Rate limits)."""
        if not any(scope.per_wallet for scope in call.route.scopes):
            return
        if limits.tier is not None:
            self._follow_tier(call.wallet, limits.tier)
        hold_until = limits.hold_until(status, time.time())
        if hold_until is not None:
            # The bucket is empty at the venue (another process of this signer, or a tier we did not
            # know yet): this wallet waits, the endpoint and the other wallets do not.
            hold_s = hold_until - time.time()
            if hold_s > 0:
                self._releases.hold(call.route, hold_s, wallet=call.wallet, per_wallet_only=True)
        if limits.warning:
            SIGNER_RATE_LIMIT_WARNINGS.labels(call.route.path_template).inc()
            now = self._clock()
            if now - self._signer_warned_at.get(call.wallet, -math.inf) >= _SIGNER_WARNING_LOG_EVERY_S:
                self._signer_warned_at[call.wallet] = now
                _log.warning(
                    "venue warns the wallet is over its signer rate limit; enforced, this would be a 429",
                    **_where(call),
                    wallet=call.wallet,
                    tier=limits.tier,
                    remaining=limits.remaining,
                )

    def _follow_tier(self, wallet: str | None, tier: str) -> None:
        configured = self._releases.core.wallet_tier(wallet) or self.rate_limits.signer_tier
        if tier == configured:
            return
        try:
            scopes = self.rate_limits.signer_scopes(tier)
        except InvalidValueError:
            # A tier newer than the venue notes know: keep the buckets we have rather than guess.
            _log.debug("venue named an unknown signer tier", wallet=wallet, tier=tier)
            return
        self._releases.set_wallet_tier(wallet, tier, scopes)
        _log.info("venue re-tiered the wallet's signer rate limits", wallet=wallet, tier=tier, previous=configured)


def _where(call: Call) -> dict[str, object]:
    return {"method": call.method, "path": call.path, "endpoint": call.route.endpoint}
