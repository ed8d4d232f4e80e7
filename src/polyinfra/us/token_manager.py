"""The US exchange's access tokens, kept fresh: :class:`TokenManager`.

Tokens live 3 minutes (venue notes: US exchange token endpoint). The manager hands out the
current token while more than :data:`~polyinfra.core.us_auth.REFRESH_MARGIN_S` of it is left, and
fetches the next one when a caller finds less; every decision is
:func:`~polyinfra.core.us_auth.needs_refresh` of the injected clock::

    token() ──► fresh enough? ──yes──► the current token (no await on the network)
                    │ no
                    ▼
              the refresh lock ──► still stale? ──yes──► one POST /oauth/token ──► the new token
                    (the callers that queued behind it find it fresh and take it)

* **One refresh at a time.** However many tasks ask at once, one token request goes out and they
  all get its answer.
* **Never a lapsed token.** A refresh that fails while the current token still has
  :data:`LAST_RESORT_S` left hands out the current one (logged, retried on the next call after
  :data:`RETRY_REFRESH_AFTER_S`); past that, the failure is raised. A token the clock says has
  lapsed is never returned.
* **Replaced once when refused.** :meth:`TokenManager.replace` is what a 401 or gRPC
  ``UNAUTHENTICATED`` calls, with the token that was refused: the first caller gets a new token
  minted at once, the others (refused with the same token) get that one, never a second mint.

The requests go through :class:`~polyinfra.net.http.HttpTransport` (rate limit, breaker, the
pipeline's retry rules), as a state-changing request: an assertion's ``jti`` is spent once the
endpoint has seen it, so a request that may have arrived is never resent; the next call mints a
new assertion instead. The endpoint's refusals become the typed errors of
:func:`~polyinfra.core.us_auth.refusal_error`, each with its fix.

Secrets: the private key is an opaque key object, the assertion, the request body and the tokens
are :class:`~polyinfra.obs.redaction.Secret`; the manager's ``repr`` and logs name the client id,
the token URL, scopes and expiry only.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from polyinfra.core.config_checks import HTTP_SCHEMES, service_url
from polyinfra.core.us_auth import (
    REFRESH_MARGIN_S,
    AccessToken,
    TokenRequestStyle,
    assertion_claims,
    default_audience,
    load_signing_key,
    needs_refresh,
    parse_token_answer,
    refusal_error,
    sign_assertion,
    token_request_body,
)
from polyinfra.core.venue_errors import error_from_response
from polyinfra.core.venue_rate_limits import US_TOKEN_LIMITS
from polyinfra.errors import JwtAuthError, PolyinfraError
from polyinfra.net.http import HttpTransport
from polyinfra.net.retry import RetryPolicy
from polyinfra.net.transport_client import TransportClient
from polyinfra.obs.logging import get_logger
from polyinfra.obs.redaction import Secret

__all__ = [
    "AUTHORIZATION",
    "LAST_RESORT_S",
    "PARTICIPANT_ID",
    "RETRY_REFRESH_AFTER_S",
    "TokenManager",
    "TokenStats",
    "call_metadata",
    "refused_token_error",
    "token_endpoint_transport",
]

AUTHORIZATION: Final = "authorization"
"""The gRPC metadata key (lower case) and REST header of the bearer token."""
PARTICIPANT_ID: Final = "x-participant-id"
"""The account-scoped calls' participant (``firms/<firm>/users/<user>``, given at onboarding)."""

LAST_RESORT_S: Final = 5.0
"""While a refresh fails, the current token is still handed out until this little of it is left."""
RETRY_REFRESH_AFTER_S: Final = 1.0
"""After a failed refresh, calls take the current token without asking again for this long."""
_TOKEN_DEADLINE_S: Final = 15.0
_TOO_MANY_OR_DOWN: Final = 429

_log = get_logger(__name__)


@dataclass(slots=True)
class TokenStats:
    """What the manager did: ``requests`` to the token endpoint (``refreshes`` on schedule,
    ``replacements`` after a refusal), ``failed_refreshes`` that left the current token in use."""

    requests: int = 0
    refreshes: int = 0
    replacements: int = 0
    failed_refreshes: int = 0


def _token_endpoint_errors(
    status: int, body: bytes, *, method: str, endpoint: str, headers: Mapping[str, str] | None = None
) -> PolyinfraError:
    """A refusal of the assertion is the token endpoint's own (typed, with its fix); a 429 or 5xx is
    the generic answer the retry and breaker rules know."""
    if status >= _TOO_MANY_OR_DOWN:
        return error_from_response(status, body, method=method, endpoint=endpoint, headers=headers)
    return refusal_error(status, body, endpoint=endpoint)


def token_endpoint_transport(
    token_url: str, *, retry: RetryPolicy | None = None, clock: Callable[[], float] = time.monotonic
) -> HttpTransport:
    """The transport to ``token_url``'s host: its rate limit and its table of error answers.
    ``retry`` defaults to the pipeline's policy; ``clock`` (monotonic seconds) is the limiter's and
    the deadlines', for tests."""
    parts = urllib.parse.urlsplit(service_url("token_url", token_url, HTTP_SCHEMES))
    return HttpTransport(
        f"{parts.scheme}://{parts.netloc}",
        rate_limits=US_TOKEN_LIMITS,
        answer_errors=_token_endpoint_errors,
        retry=retry,
        clock=clock,
    )


class TokenManager(TransportClient):
    """Access tokens for one client id of the US exchange.

    ``private_key`` is the RSA private key (PEM text as a :class:`Secret`, or a loaded key);
    ``token_url`` the environment's token endpoint (:data:`~polyinfra.core.us_auth.US_ENVIRONMENTS`
    or the emulator's ``us_token`` URL); ``audience`` the API the tokens are for (default: the
    environment's, or the token URL's origin). ``participant_id`` is sent as ``x-participant-id``
    by the gRPC credentials when set. ``style`` shapes the request (encoding, aud form, ``kid``).
    ``clock_s`` is unix seconds (the assertion's ``iat``), ``new_jti`` makes each assertion's id:
    both are for tests. ``transport`` defaults to one for the token URL's host, closed with the
    manager.
    """

    def __init__(
        self,
        *,
        client_id: str,
        private_key: Secret | RSAPrivateKey,
        token_url: str,
        audience: str | None = None,
        participant_id: str | None = None,
        style: TokenRequestStyle | None = None,
        transport: HttpTransport | None = None,
        clock_s: Callable[[], float] = time.time,
        new_jti: Callable[[], str] = lambda: str(uuid.uuid4()),
        margin_s: float = REFRESH_MARGIN_S,
    ) -> None:
        self.client_id = client_id
        self.token_url = service_url("token_url", token_url, HTTP_SCHEMES)
        self.audience = audience if audience is not None else default_audience(self.token_url)
        self.participant_id = participant_id
        self.style = style if style is not None else TokenRequestStyle()
        self._key = private_key if isinstance(private_key, RSAPrivateKey) else load_signing_key(private_key)
        parts = urllib.parse.urlsplit(self.token_url)
        self._path = parts.path or "/"
        super().__init__(transport, lambda: token_endpoint_transport(self.token_url))
        self._clock_s = clock_s
        self._new_jti = new_jti
        self._margin_s = margin_s
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()
        self._quiet_until_s = float("-inf")
        self.stats = TokenStats()

    def __repr__(self) -> str:
        return (
            f"TokenManager(client_id={self.client_id!r}, token_url={self.token_url!r}, "
            f"participant_id={self.participant_id!r}, style={self.style!r})"
        )

    @property
    def current(self) -> AccessToken | None:
        """The token handed out last, without refreshing (None before the first)."""
        return self._token

    async def token(self) -> AccessToken:
        """A token with more than the refresh margin left, fetched if needed (one fetch at a time)."""
        token = self._token
        if not needs_refresh(token, self._clock_s(), margin_s=self._margin_s):
            assert token is not None  # needs_refresh is True for None
            return token
        async with self._lock:
            token = self._token
            now_s = self._clock_s()
            if not needs_refresh(token, now_s, margin_s=self._margin_s):
                assert token is not None
                return token
            if token is not None and now_s < self._quiet_until_s and token.remaining_s(now_s) > LAST_RESORT_S:
                return token
            try:
                fresh = await self._mint()
            except PolyinfraError as failure:
                return self._keep_after_failure(token, failure)
            self.stats.refreshes += 1
            return fresh

    async def replace(self, refused: AccessToken) -> AccessToken:
        """A new token in place of ``refused``, which the venue answered 401 / ``UNAUTHENTICATED``
        to before its time: minted at once, unless another caller has replaced it already."""
        async with self._lock:
            current = self._token
            replaced_already = current is not None and current.value != refused.value
            if replaced_already and current is not None and current.remaining_s(self._clock_s()) > 0:
                return current
            fresh = await self._mint()
            self.stats.replacements += 1
            _log.warning(
                "the US exchange refused a token before its expiry; replaced it",
                client_id=self.client_id,
                refused_with_s_left=round(refused.remaining_s(self._clock_s()), 3),
            )
            return fresh

    async def _mint(self) -> AccessToken:
        now_s = self._clock_s()
        claims = assertion_claims(
            self.client_id, self.token_url, now_s=int(now_s), jti=self._new_jti(), style=self.style
        )
        body, content_type = token_request_body(
            self.client_id,
            sign_assertion(self._key, claims, kid=self.style.kid),
            audience=self.audience,
            encoding=self.style.encoding,
        )
        self.stats.requests += 1
        response = await self.transport.request(
            "POST",
            self._path,
            endpoint="POST /oauth/token",
            content=body,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            state_changing=True,
            deadline_s=_TOKEN_DEADLINE_S,
        )
        token = parse_token_answer(
            Secret(response.content.decode("utf-8", "surrogateescape"), register=False),
            client_id=self.client_id,
            now_s=now_s,
        )
        self._token = token
        self._quiet_until_s = float("-inf")
        _log.info(
            "US access token issued",
            client_id=self.client_id,
            expires_in_s=round(token.remaining_s(now_s), 3),
            scopes=" ".join(token.scopes),
        )
        return token

    def _keep_after_failure(self, token: AccessToken | None, failure: PolyinfraError) -> AccessToken:
        now_s = self._clock_s()
        self.stats.failed_refreshes += 1
        if token is None or token.remaining_s(now_s) <= LAST_RESORT_S:
            raise failure
        self._quiet_until_s = now_s + RETRY_REFRESH_AFTER_S
        _log.warning(
            "US token refresh failed; the current token is still used",
            client_id=self.client_id,
            seconds_left=round(token.remaining_s(now_s), 3),
            error=str(failure),
        )
        return token


def call_metadata(token: AccessToken, participant_id: str | None) -> tuple[tuple[str, str], ...]:
    """The gRPC metadata for ``token`` (revealed, for the channel only)."""
    bearer = (AUTHORIZATION, token.bearer().reveal())
    return (bearer, (PARTICIPANT_ID, participant_id)) if participant_id else (bearer,)


def refused_token_error(token: AccessToken) -> JwtAuthError:
    """The error when the venue refuses even a freshly replaced token: the credentials themselves
    are not accepted for this API."""
    return JwtAuthError(
        "the US exchange refused a freshly issued token",
        client_id=token.client_id,
        hint="the token's audience must be this API's URL; check the environment (preprod and prod have their own)",
    )
