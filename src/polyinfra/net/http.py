"""HTTP to the venue: :class:`HttpTransport` (async) and :class:`SyncHttpTransport`, one pipeline.

Both send every request through the pipeline of :mod:`polyinfra.net.http_pipeline` (breaker, rate
limiter, send, classify, the venue's signer buckets, retry, metrics and logs); the pipeline *yields*
what it needs done — wait for the limiter, send, sleep, ask the reconcile hook — and each transport
performs those effects its own way (``await`` or block). So the two transports differ only in how
they wait and send.

Secrets stay out of tracebacks too. Error trackers (Sentry, rich tracebacks, ``pytest -l``) record
the locals of every frame of an exception's traceback and of its ``__cause__`` / ``__context__``
chain, and a failed request's traceback passes through the caller, this pipeline and, for a
transport error, httpx, httpcore and h11, which all hold the request's headers. So:

* header values that prove identity (passphrase, signatures) arrive and travel through the
  pipeline as :class:`~polyinfra.obs.redaction.Secret`
  (:data:`~polyinfra.net.http_request.HeaderValues`); every ``Call``, effect and local up here
  shows them masked;
* they are revealed in one place, ``_send``, as the argument handed to httpx: only frames below it
  ever hold them;
* an httpx exception is translated there and the translation is raised *after* the ``except``
  clause, so it has neither ``__cause__`` nor ``__context__`` and the httpx exception, its frames
  and the ``Request`` it carries are dropped (its class name and text are kept as ``cause`` and
  ``detail``); anything else that escapes the send (a cancellation, ``KeyboardInterrupt``, a bug)
  has the locals of the frames below cleared before it goes on, along its whole chain down to the
  exception the caller was already handling.

An answer's body (it carries the API secret when the request created or derived a key) is left
out of the ``repr`` of :class:`~polyinfra.net.http_request.Response`, for the same reason.
"""

from __future__ import annotations

import asyncio
import importlib.util
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self, cast

import httpx

from polyinfra import __version__
from polyinfra.core.rate_limit_tables import RateLimitTable
from polyinfra.core.venue_errors import error_from_response
from polyinfra.core.venue_rate_limits import CLOB_LIMITS
from polyinfra.errors import InvalidValueError, PolyinfraError
from polyinfra.net.breaker import CircuitBreakers
from polyinfra.net.http_failures import forget_locals_below, translate_httpx_error
from polyinfra.net.http_pipeline import Acquire, Answer, Call, Effect, Pipeline, Reconcile, Send, Sleep
from polyinfra.net.http_request import (
    AnswerErrors,
    AsyncReconcileHook,
    HeaderValues,
    ItemsAfter,
    QueryParams,
    Response,
    SyncReconcileHook,
    Timeouts,
)
from polyinfra.net.rate_limit import AsyncRateLimiter, SyncRateLimiter
from polyinfra.net.retry import ReconcileVerdict, RetryPolicy
from polyinfra.obs.logging import correlation_scope, get_logger
from polyinfra.obs.redaction import Secret, revealed

__all__ = [
    "DEFAULT_USER_AGENT",
    "HttpTransport",
    "PoolLimits",
    "SyncHttpTransport",
]

DEFAULT_USER_AGENT: Final = f"polyinfra/{__version__} (python-httpx/{httpx.__version__})"
"""Cloudflare blocks generic user agents in front of the venue (venue notes: Rate limits): say who we are."""

_log = get_logger(__name__)


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


def _revealed_body(content: bytes | Secret | None) -> bytes | None:
    """The body as the socket gets it: a :class:`Secret` one (a client assertion) is revealed here only."""
    return content.reveal().encode() if isinstance(content, Secret) else content


def _answer(response: httpx.Response) -> Answer:
    return Answer(status=response.status_code, headers=dict(response.headers), content=response.content)


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


class HttpTransport(Pipeline):
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

    async def _perform(self, effect: Effect, reconcile: AsyncReconcileHook | None) -> object:
        match effect:
            case Acquire(call=call, deadline_at=deadline_at):
                return await self.limiter.acquire(
                    call.route, items=call.items, wallet=call.wallet, deadline_at=deadline_at
                )
            case Send(call=call, timeout=timeout):
                return await self._send(call, timeout)
            case Sleep(seconds=seconds):
                await asyncio.sleep(seconds)
                return None
            case Reconcile(error=error) if reconcile is not None:
                return await _ask_async(reconcile, error)
        raise AssertionError(f"no way to perform {effect!r}")

    async def _send(self, call: Call, timeout: httpx.Timeout) -> Answer:
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
            error = translate_httpx_error(exc, call.method, call.path, self.base_url)
        except BaseException as exc:
            forget_locals_below(exc, handled)
            raise
        else:
            return _answer(response)
        raise error  # after the except clause: no chain back to the httpx exception's frames


class SyncHttpTransport(Pipeline):
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

    def _perform(self, effect: Effect, reconcile: SyncReconcileHook | None) -> object:
        match effect:
            case Acquire(call=call, deadline_at=deadline_at):
                return self.limiter.acquire(call.route, items=call.items, wallet=call.wallet, deadline_at=deadline_at)
            case Send(call=call, timeout=timeout):
                return self._send(call, timeout)
            case Sleep(seconds=seconds):
                time.sleep(seconds)
                return None
            case Reconcile(error=error) if reconcile is not None:
                return _ask_sync(reconcile, error)
        raise AssertionError(f"no way to perform {effect!r}")

    def _send(self, call: Call, timeout: httpx.Timeout) -> Answer:
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
            error = translate_httpx_error(exc, call.method, call.path, self.base_url)
        except BaseException as exc:
            forget_locals_below(exc, handled)
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
