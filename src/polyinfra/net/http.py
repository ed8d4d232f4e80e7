"""HTTP to the venue: :class:`HttpTransport` (async) and :class:`SyncHttpTransport`, one pipeline.

Every request goes through the same steps, in one place (:meth:`_Pipeline._run`):

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

The pipeline is a generator that *yields* what it needs done — wait for the limiter, send, sleep,
ask the reconcile hook — and each transport performs those effects its own way (``await`` or
block). So the two transports differ only in how they wait and send.

Logs name the method, path, endpoint, status, attempt, waits and latency; never headers, query
strings or bodies, which carry credentials and signatures.

Secrets stay out of tracebacks too. Error trackers (Sentry, rich tracebacks, ``pytest -l``) record
the locals of every frame of an exception's traceback and of its ``__cause__`` / ``__context__``
chain, and a failed request's traceback passes through the caller, this pipeline and, for a
transport error, httpx, httpcore and h11, which all hold the request's headers. So:

* header values that prove identity (passphrase, signatures) arrive and travel through the
  pipeline as :class:`~polyinfra.obs.redaction.Secret` (:data:`HeaderValues`); every ``_Call``,
  effect and local up here shows them masked;
* they are revealed in one place, ``_send``, as the argument handed to httpx: only frames below it
  ever hold them;
* an httpx exception is translated there and the translation is raised *after* the ``except``
  clause, so it has neither ``__cause__`` nor ``__context__`` and the httpx exception, its frames
  and the ``Request`` it carries are dropped (its class name and text are kept as ``cause`` and
  ``detail``); anything else that escapes the send (a cancellation, ``KeyboardInterrupt``, a bug)
  has the locals of the frames below cleared before it goes on, along its whole chain down to the
  exception the caller was already handling.

An answer's body (it carries the API secret when the request created or derived a key) is left
out of the ``repr`` of :class:`Response`, for the same reason.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import random
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Protocol, Self, TypeAlias, TypeVar, cast

import httpx
import msgspec

from polyinfra import __version__
from polyinfra.core.config_checks import HTTP_SCHEMES, service_url
from polyinfra.core.rate_limit_tables import RateLimitTable, Route, Scope
from polyinfra.core.venue_errors import error_from_response
from polyinfra.core.venue_rate_limits import CLOB_LIMITS
from polyinfra.errors import (
    CircuitOpenError,
    InvalidValueError,
    MalformedMessageError,
    PolyinfraError,
    RequestTimeoutError,
    TransportError,
)
from polyinfra.net.breaker import CallOutcome, CircuitBreakers, counts_as_failure
from polyinfra.net.connect_failures import connect_failure
from polyinfra.net.rate_limit import AsyncRateLimiter, RateLimiter, SyncRateLimiter, Ticket
from polyinfra.net.retry import (
    ReconcileVerdict,
    RetryPolicy,
    annotate,
    decide_retry,
    flag_reconciliation,
)
from polyinfra.obs.logging import correlation_scope, get_logger, new_correlation_id
from polyinfra.obs.metrics import HTTP_LATENCY, HTTP_REQUESTS, RETRIES, SIGNER_RATE_LIMIT_WARNINGS
from polyinfra.obs.redaction import Secret, revealed
from polyinfra.wire.json_decoding import decode_json

__all__ = [
    "DEFAULT_USER_AGENT",
    "SIGNER_RATE_LIMIT_WARNINGS",
    "AnswerErrors",
    "AsyncReconcileHook",
    "HeaderValues",
    "HttpTransport",
    "ItemsAfter",
    "PoolLimits",
    "QueryParams",
    "Response",
    "SyncHttpTransport",
    "SyncReconcileHook",
    "Timeouts",
]

DEFAULT_USER_AGENT: Final = f"polyinfra/{__version__} (python-httpx/{httpx.__version__})"
"""Cloudflare blocks generic user agents in front of the venue (venue notes: Rate limits): say who we are."""

_T = TypeVar("_T")

QueryParams: TypeAlias = Mapping[str, str | int | Sequence[str]]
"""Query parameters; a sequence value repeats the key (``ids=a&ids=b``)."""

HeaderValues: TypeAlias = Mapping[str, str | Secret]
"""Request headers; a :class:`~polyinfra.obs.redaction.Secret` value is revealed only as the request
is handed to the socket."""

AsyncReconcileHook: TypeAlias = Callable[[PolyinfraError], Awaitable[ReconcileVerdict]]
"""Asked, for a state-changing request whose fate is unknown, whether the venue applied it."""

SyncReconcileHook: TypeAlias = Callable[[PolyinfraError], ReconcileVerdict]
"""The sync facade's :data:`AsyncReconcileHook`."""


class AnswerErrors(Protocol):
    """Turns a host's non-2xx answer into the error a caller can act on: the host's table of error
    answers (:func:`~polyinfra.core.venue_errors.error_from_response` for the CLOB and its APIs)."""

    def __call__(
        self, status: int, body: bytes, *, method: str, endpoint: str, headers: Mapping[str, str] | None = None
    ) -> PolyinfraError: ...


ItemsAfter: TypeAlias = Callable[[bytes], int]
"""Reads from a 2xx answer's body how many items the venue charges after the fact (the orders a
``/cancel-all`` cancelled), on top of the request's ``items``."""

_SIGNER_WARNING_LOG_EVERY_S: Final = 60.0
"""A wallet over its signer bucket in warning mode is logged at most once a minute, counted always."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt timeouts, each capped by what is left of the request's deadline.

    ``pool_s`` is the wait for a free pooled connection; ``read_s`` the longest silence while
    reading the answer.
    """

    connect_s: float = 5.0
    read_s: float = 10.0
    write_s: float = 10.0
    pool_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("connect_s", "read_s", "write_s", "pool_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidValueError("a timeout must be a positive number of seconds", field=name, value=value)

    def capped(self, remaining_s: float) -> httpx.Timeout:
        """These timeouts, none longer than ``remaining_s``."""
        return httpx.Timeout(
            connect=min(self.connect_s, remaining_s),
            read=min(self.read_s, remaining_s),
            write=min(self.write_s, remaining_s),
            pool=min(self.pool_s, remaining_s),
        )


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """The connection pool to the host: at most ``max_connections`` open, ``max_keepalive`` of them
    kept idle for up to ``keepalive_expiry_s``.

    32 connections carry the CLOB's whole general budget (7,200 requests per 10 s with the margin)
    at 40 ms round trips; more only cost CPU, as httpcore checks every pooled connection on each
    request. Idle ones are kept as many as may be open, so a steady load does not reconnect.
    """

    max_connections: int = 32
    max_keepalive: int = 32
    keepalive_expiry_s: float = 30.0

    def httpx_limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive,
            keepalive_expiry=self.keepalive_expiry_s,
        )


@dataclass(frozen=True, slots=True)
class Response:
    """A 2xx answer. ``headers`` have lower-case names; ``attempts`` counts sends (1 without retries);
    ``rate_limit_wait_s`` and ``retry_wait_s`` are the time spent waiting for the rate limiter and
    sleeping between attempts."""

    status: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)
    method: str
    path: str
    endpoint: str
    attempts: int = 1
    rate_limit_wait_s: float = 0.0
    retry_wait_s: float = 0.0

    def decode(self, type_: type[_T]) -> _T:
        """The body as ``type_`` (a msgspec-compatible type); :class:`MalformedMessageError` if it
        does not match or is not bounded JSON (:mod:`polyinfra.wire.json_decoding`)."""
        return decode_json(
            self.content, type_, what=f"{self.method} {self.path} body", endpoint=self.path, status=self.status
        )


# --- the shared pipeline -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
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
class _Acquire:
    call: _Call
    deadline_at: float


@dataclass(frozen=True, slots=True)
class _Send:
    call: _Call
    timeout: httpx.Timeout


@dataclass(frozen=True, slots=True)
class _Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class _Reconcile:
    error: PolyinfraError


_Effect: TypeAlias = _Acquire | _Send | _Sleep | _Reconcile


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Attempt:
    answer: _Answer | None
    error: PolyinfraError | None
    waited_s: float


@dataclass(frozen=True, slots=True)
class _SignerLimits:
    """The venue's ``Poly-RateLimit-*`` headers on one answer (venue notes: Rate limits); unreadable values are None."""

    tier: str | None
    remaining: int | None
    reset_at: int | None
    """Unix seconds when the signer's bucket holds enough for the request again."""
    retry_after_s: int | None
    warning: bool

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> _SignerLimits | None:
        """The headers of ``headers`` (lower-case names), or None when the answer has none."""
        if not any(name.startswith("poly-ratelimit-") for name in headers):
            return None
        return cls(
            tier=headers.get("poly-ratelimit-tier") or None,
            remaining=_integer(headers.get("poly-ratelimit-remaining")),
            reset_at=_integer(headers.get("poly-ratelimit-reset")),
            retry_after_s=_integer(headers.get("retry-after")),
            warning=headers.get("poly-ratelimit-warning", "").lower() == "true",
        )

    def hold_until(self, status: int, now_unix: float) -> float | None:
        """Until when (unix seconds) the bucket is empty at the venue, or None if it is not."""
        refused = status == 429
        if not refused and (self.remaining is None or self.remaining > 0):
            return None
        candidates = [float(self.reset_at)] if self.reset_at is not None else []
        if refused and self.retry_after_s is not None:
            candidates.append(now_unix + self.retry_after_s)
        return max(candidates, default=None)


def _integer(text: str | None) -> int | None:
    try:
        return None if text is None else int(text.strip())
    except ValueError:
        return None


class _Releases(Protocol):
    """The part of both rate limiters that does not wait."""

    core: RateLimiter

    def complete(self, ticket: Ticket, *, extra_items: int = 0) -> None: ...

    def cancel(self, ticket: Ticket) -> None: ...

    def hold(
        self, route: Route, seconds: float, *, wallet: str | None = None, per_wallet_only: bool = False
    ) -> None: ...

    def set_wallet_tier(self, wallet: str | None, tier: str, scopes: Iterable[Scope]) -> None: ...


_log = get_logger(__name__)


class _Pipeline:
    """What both transports share: configuration, the breakers and the request pipeline."""

    def __init__(
        self,
        *,
        base_url: str,
        rate_limits: RateLimitTable,
        releases: _Releases,
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
    ) -> _Call:
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
        return _Call(
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

    def _run(self, call: _Call) -> Generator[_Effect, object, Response]:
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
            decision = decide_retry(
                error,
                attempt=attempt,
                elapsed_s=self._clock() - started,
                policy=self.retry,
                deadline_s=call.deadline_s,
                state_changing=call.state_changing,
                host_answered=self._host_answered,
                draw=self._rng.random(),
            )
            if decision.needs_reconciliation and call.can_reconcile:
                verdict = cast(ReconcileVerdict, (yield _Reconcile(error)))
                _log.info("reconciled", **_where(call), attempt=attempt, verdict=verdict.value)
                annotate(error, reconciliation=verdict.value)
                if verdict is ReconcileVerdict.APPLIED:
                    annotate(error, attempts=attempt, request_id=call.request_id)
                    raise error
                if verdict is ReconcileVerdict.NOT_APPLIED:
                    decision = decide_retry(
                        error,
                        attempt=attempt,
                        elapsed_s=self._clock() - started,
                        policy=self.retry,
                        deadline_s=call.deadline_s,
                        host_answered=self._host_answered,
                        draw=self._rng.random(),
                    )
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
            yield _Sleep(decision.delay_s)
            retry_wait_s += decision.delay_s
            previous = error

    def _attempt(self, call: _Call, attempt: int, deadline_at: float) -> Generator[_Effect, object, _Attempt]:
        breaker = self.breakers[call.route.group]
        permit = breaker.admit(self._clock())
        try:
            ticket = cast(Ticket, (yield _Acquire(call, deadline_at)))
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
        answer: _Answer | None = None
        error: PolyinfraError | None = None
        try:
            answer = cast(_Answer, (yield _Send(call, self.timeouts.capped(remaining_s))))
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
        signer_limits = None if answer is None else _SignerLimits.from_headers(answer.headers)
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

    def _heed_signer_limits(self, call: _Call, status: int, limits: _SignerLimits) -> None:
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


def _where(call: _Call) -> dict[str, object]:
    return {"method": call.method, "path": call.path, "endpoint": call.route.endpoint}


def _translate(exc: Exception, call: _Call, base_url: str) -> PolyinfraError:
    """The polyinfra error for an httpx exception, saying whether the request can have been sent.

    A failed connection names the URL and its likely cause: httpx says only "All connection
    attempts failed" or an OpenSSL code, and the usual causes (a stopped server, https:// to a
    plain HTTP port) are mistakes of setup a user fixes in seconds when told which."""
    failed = f"{call.method} {call.path}"
    cause = type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        phase = "connect" if isinstance(exc, httpx.ConnectTimeout) else "pool"
        return RequestTimeoutError(
            f"{failed}: {phase} timed out",
            request_sent=False,
            phase=phase,
            endpoint=call.path,
            method=call.method,
            cause=cause,
        )
    if isinstance(exc, httpx.TimeoutException):
        phase = "write" if isinstance(exc, httpx.WriteTimeout) else "read"
        return RequestTimeoutError(
            f"{failed}: {phase} timed out", phase=phase, endpoint=call.path, method=call.method, cause=cause
        )
    if isinstance(exc, httpx.ConnectError):
        reason, retriable = connect_failure(exc, base_url) or ("could not connect", True)
        return TransportError(
            f"{failed}: cannot connect to {base_url}: {reason}",
            retriable=retriable,
            request_sent=False,
            endpoint=call.path,
            method=call.method,
            url=base_url,
            cause=cause,
            detail=str(exc)[:200],
        )
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return TransportError(
            f"{failed}: the request is not valid HTTP",
            retriable=False,
            request_sent=False,
            endpoint=call.path,
            method=call.method,
            cause=cause,
        )
    if isinstance(exc, httpx.DecodingError):
        return MalformedMessageError(
            f"{failed}: the answer's content encoding is broken", endpoint=call.path, method=call.method, cause=cause
        )
    return TransportError(
        f"{failed}: the connection failed", endpoint=call.path, method=call.method, cause=cause, detail=str(exc)[:200]
    )


def _forget_locals_below(failure: BaseException, handled: BaseException | None) -> None:
    """Clear the locals of the finished frames ``failure`` passed through, and of every exception it
    chains down to ``handled`` (the caller's own, which is not ours to touch): below the send they
    hold the revealed headers. The frame still running (``_send``'s) is left as it is."""
    pending = [failure]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is handled or id(current) in seen:
            continue
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        pending += [chained for chained in (current.__cause__, current.__context__) if chained is not None]


def _revealed_body(content: bytes | Secret | None) -> bytes | None:
    """The body as the socket gets it: a :class:`Secret` one (a client assertion) is revealed here only."""
    return content.reveal().encode() if isinstance(content, Secret) else content


def _answer(response: httpx.Response) -> _Answer:
    return _Answer(status=response.status_code, headers=dict(response.headers), content=response.content)


def _client_options(
    base_url: str, timeouts: Timeouts, pool: PoolLimits | None, http2: bool, user_agent: str
) -> dict[str, Any]:
    """The httpx client settings both transports share: per-request timeouts come from the
    pipeline (capped by each request's deadline), so the client's own are only a backstop."""
    _check_http2(http2)
    return {
        "base_url": base_url,
        "timeout": timeouts.capped(math.inf),
        "limits": (pool or PoolLimits()).httpx_limits(),
        "http2": http2,
        "headers": _default_headers(user_agent),
        "follow_redirects": False,
    }


def _default_headers(user_agent: str) -> dict[str, str]:
    return {"User-Agent": user_agent, "Accept": "application/json"}


def _check_http2(http2: bool) -> None:
    if http2 and importlib.util.find_spec("h2") is None:
        raise InvalidValueError("HTTP/2 needs the 'h2' package (pip install 'httpx[http2]')")


# --- the transports --------------------------------------------------------------------------------


class HttpTransport(_Pipeline):
    """Async HTTP to one host (``base_url``, e.g. the CLOB's or the emulator's) through the pipeline.

    ``rate_limits`` is the host's table (:data:`~polyinfra.core.venue_rate_limits.CLOB_LIMITS` by
    default); ``limiter`` may be shared with the transports of other hosts so the global budget is
    shared too (it must use the same clock). ``retry``, ``breakers``, ``timeouts`` and ``pool``
    default to their classes' defaults. HTTP/2 is off by default: the venue speaks both, and
    HTTP/1.1 over a pool is simpler to reason about under load. ``clock`` and ``rng`` are for tests.
    ``answer_errors`` is the host's table of error answers (the CLOB's by default). ``content`` may
    be a :class:`~polyinfra.obs.redaction.Secret`, revealed only as the request is handed to httpx.
    """

    def __init__(
        self,
        base_url: str,
        *,
        rate_limits: RateLimitTable = CLOB_LIMITS,
        limiter: AsyncRateLimiter | None = None,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        timeouts: Timeouts | None = None,
        pool: PoolLimits | None = None,
        http2: bool = False,
        user_agent: str = DEFAULT_USER_AGENT,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        answer_errors: AnswerErrors = error_from_response,
    ) -> None:
        self.limiter = limiter if limiter is not None else AsyncRateLimiter(clock=clock)
        super().__init__(
            base_url=base_url,
            rate_limits=rate_limits,
            releases=self.limiter,
            retry=retry,
            breakers=breakers,
            timeouts=timeouts,
            clock=clock,
            rng=rng,
            answer_errors=answer_errors,
        )
        self._client = httpx.AsyncClient(**_client_options(self.base_url, self.timeouts, pool, http2, user_agent))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None = None,
        params: QueryParams | None = None,
        content: bytes | Secret | None = None,
        json: object = None,
        headers: HeaderValues | None = None,
        state_changing: bool = False,
        deadline_s: float | None = None,
        wallet: str | None = None,
        items: int = 1,
        items_after: ItemsAfter | None = None,
        reconcile: AsyncReconcileHook | None = None,
    ) -> Response:
        """Send a request and return its 2xx :class:`Response`, or raise a :class:`PolyinfraError`.

        ``endpoint`` (``"GET /markets/*"``) keys the rate limits, breaker and metrics when the path
        holds ids no table rule names; by default it is derived from ``method`` and ``path``.
        ``content`` is a raw body, ``json`` an object to encode (either sets
        ``Content-Type: application/json``). ``state_changing`` requests (orders, cancels) are never
        retried unless the venue provably did not act on them; ``reconcile`` is then asked when
        their fate is unknown. ``deadline_s`` bounds the whole request, waits and retries included
        (default: the retry policy's). ``wallet`` and ``items`` charge per-signer budgets;
        ``items_after`` reads from the answer the items the venue charges after the fact.
        """
        call = self._call(
            method,
            path,
            endpoint=endpoint,
            params=params,
            content=content,
            json=json,
            headers=headers,
            state_changing=state_changing,
            deadline_s=deadline_s,
            wallet=wallet,
            items=items,
            items_after=items_after,
            can_reconcile=reconcile is not None,
        )
        with correlation_scope(request_id=call.request_id):
            pipeline = self._run(call)
            reply: object = None
            failure: BaseException | None = None
            while True:
                try:
                    effect = pipeline.send(reply) if failure is None else pipeline.throw(failure)
                except StopIteration as finished:
                    return cast(Response, finished.value)
                reply, failure = None, None
                try:
                    reply = await self._perform(effect, reconcile)
                except BaseException as exc:  # into the pipeline, which releases what it holds
                    failure = exc

    async def _perform(self, effect: _Effect, reconcile: AsyncReconcileHook | None) -> object:
        match effect:
            case _Acquire(call=call, deadline_at=deadline_at):
                return await self.limiter.acquire(
                    call.route, items=call.items, wallet=call.wallet, deadline_at=deadline_at
                )
            case _Send(call=call, timeout=timeout):
                return await self._send(call, timeout)
            case _Sleep(seconds=seconds):
                await asyncio.sleep(seconds)
                return None
            case _Reconcile(error=error) if reconcile is not None:
                return await _ask_async(reconcile, error)
        raise AssertionError(f"no way to perform {effect!r}")

    async def _send(self, call: _Call, timeout: httpx.Timeout) -> _Answer:
        """The one place the headers are revealed (see the module docstring)."""
        handled = sys.exception()
        try:
            response = await self._client.request(
                call.method,
                call.path,
                params=call.params,
                content=_revealed_body(call.content),
                headers=revealed(call.headers),
                timeout=timeout,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = _translate(exc, call, self.base_url)
        except BaseException as exc:
            _forget_locals_below(exc, handled)
            raise
        else:
            return _answer(response)
        raise error  # after the except clause: no chain back to the httpx exception's frames


class SyncHttpTransport(_Pipeline):
    """The blocking twin of :class:`HttpTransport` (httpx.Client), for scripts; same arguments,
    same pipeline. Safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        *,
        rate_limits: RateLimitTable = CLOB_LIMITS,
        limiter: SyncRateLimiter | None = None,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        timeouts: Timeouts | None = None,
        pool: PoolLimits | None = None,
        http2: bool = False,
        user_agent: str = DEFAULT_USER_AGENT,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        answer_errors: AnswerErrors = error_from_response,
    ) -> None:
        self.limiter = limiter if limiter is not None else SyncRateLimiter(clock=clock)
        super().__init__(
            base_url=base_url,
            rate_limits=rate_limits,
            releases=self.limiter,
            retry=retry,
            breakers=breakers,
            timeouts=timeouts,
            clock=clock,
            rng=rng,
            answer_errors=answer_errors,
        )
        self._client = httpx.Client(**_client_options(self.base_url, self.timeouts, pool, http2, user_agent))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None = None,
        params: QueryParams | None = None,
        content: bytes | Secret | None = None,
        json: object = None,
        headers: HeaderValues | None = None,
        state_changing: bool = False,
        deadline_s: float | None = None,
        wallet: str | None = None,
        items: int = 1,
        items_after: ItemsAfter | None = None,
        reconcile: SyncReconcileHook | None = None,
    ) -> Response:
        """As :meth:`HttpTransport.request`, blocking."""
        call = self._call(
            method,
            path,
            endpoint=endpoint,
            params=params,
            content=content,
            json=json,
            headers=headers,
            state_changing=state_changing,
            deadline_s=deadline_s,
            wallet=wallet,
            items=items,
            items_after=items_after,
            can_reconcile=reconcile is not None,
        )
        with correlation_scope(request_id=call.request_id):
            pipeline = self._run(call)
            reply: object = None
            failure: BaseException | None = None
            while True:
                try:
                    effect = pipeline.send(reply) if failure is None else pipeline.throw(failure)
                except StopIteration as finished:
                    return cast(Response, finished.value)
                reply, failure = None, None
                try:
                    reply = self._perform(effect, reconcile)
                except BaseException as exc:  # into the pipeline, which releases what it holds
                    failure = exc

    def _perform(self, effect: _Effect, reconcile: SyncReconcileHook | None) -> object:
        match effect:
            case _Acquire(call=call, deadline_at=deadline_at):
                return self.limiter.acquire(call.route, items=call.items, wallet=call.wallet, deadline_at=deadline_at)
            case _Send(call=call, timeout=timeout):
                return self._send(call, timeout)
            case _Sleep(seconds=seconds):
                time.sleep(seconds)
                return None
            case _Reconcile(error=error) if reconcile is not None:
                return _ask_sync(reconcile, error)
        raise AssertionError(f"no way to perform {effect!r}")

    def _send(self, call: _Call, timeout: httpx.Timeout) -> _Answer:
        """The one place the headers are revealed (see the module docstring)."""
        handled = sys.exception()
        try:
            response = self._client.request(
                call.method,
                call.path,
                params=call.params,
                content=_revealed_body(call.content),
                headers=revealed(call.headers),
                timeout=timeout,
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = _translate(exc, call, self.base_url)
        except BaseException as exc:
            _forget_locals_below(exc, handled)
            raise
        else:
            return _answer(response)
        raise error  # after the except clause: no chain back to the httpx exception's frames


async def _ask_async(reconcile: AsyncReconcileHook, error: PolyinfraError) -> ReconcileVerdict:
    try:
        return await reconcile(error)
    except PolyinfraError as failure:
        # The check itself failed (the venue is still unwell): the fate stays unknown.
        _log.warning("reconcile hook failed", error=str(failure))
        return ReconcileVerdict.UNKNOWN


def _ask_sync(reconcile: SyncReconcileHook, error: PolyinfraError) -> ReconcileVerdict:
    try:
        return reconcile(error)
    except PolyinfraError as failure:
        _log.warning("reconcile hook failed", error=str(failure))
        return ReconcileVerdict.UNKNOWN
