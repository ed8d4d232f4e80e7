"""Private-Key-JWT auth for the Polymarket US exchange, sans-I/O.

Everything the token manager (:mod:`polyinfra.us.token_manager`) decides, as pure functions of their
inputs: time and the assertion's ``jti`` are given, never read.

The life of one access token (venue notes: US exchange token endpoint)::

    client assertion (RS256, iss = sub = client id, aud = token URL, exp <= iat + 5 min, fresh jti)
        │  POST /oauth/token (JSON body as documented, or form-encoded as some tenants want)
        ▼
    {"access_token", "token_type": "Bearer", "expires_in": 180}  ──► AccessToken(expires_at_s)
        │  handed out while more than REFRESH_MARGIN_S remain
        ▼
    needs_refresh() at expires_at - 30 s  ──► a new assertion, a new token (the old one still works)

A token the venue refuses before its time (401 / ``UNAUTHENTICATED``) is replaced once, at once.

What is here:

* :func:`assertion_claims` and :func:`sign_assertion`: the client assertion, with the field's variants
  (:class:`AudienceForm`, :class:`BodyEncoding`, an optional ``kid`` header) in one
  :class:`TokenRequestStyle`;
* :func:`token_request_body`: the request body, as a :class:`~polyinfra.obs.redaction.Secret`;
* :func:`parse_token_answer`: the answer into an :class:`AccessToken`, its scopes and participant read
  from the token's claims for display (never trusted for anything else);
* :func:`needs_refresh`: the refresh decision;
* :data:`OAUTH_REFUSALS` and :func:`refusal_error`: the token endpoint's refusals, one table the
  emulator answers from and the client reads back into typed errors with their fix;
  :func:`missing_scope_error` for the API's "missing required scope" answers.

Secrets: the private key, the assertion and the access token only ever travel as
:class:`~polyinfra.obs.redaction.Secret` or as opaque key objects. A parse that fails raises a
fresh error outside its ``except`` clause, so no traceback keeps a frame that held the raw answer.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import jwt
import msgspec
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from polyinfra.errors import (
    AssertionAudienceError,
    AssertionExpiredError,
    AssertionKeyError,
    AssertionRefusedError,
    AssertionReplayedError,
    InvalidValueError,
    JwtAuthError,
    MalformedMessageError,
    MissingScopeError,
    PolyinfraError,
)
from polyinfra.obs.redaction import Secret
from polyinfra.wire.us_oauth import (
    ACCESS_TOKEN_CLAIMS,
    CLIENT_ASSERTION_TYPE,
    CLIENT_CREDENTIALS_GRANT,
    OAUTH_ERROR_ANSWER,
    TOKEN_ANSWER,
    AccessTokenClaims,
    OAuthErrorAnswer,
)

__all__ = [
    "MAX_ASSERTION_LIFETIME_S",
    "MISSING_SCOPE_MESSAGE",
    "OAUTH_REFUSALS",
    "REFRESH_MARGIN_S",
    "US_ENVIRONMENTS",
    "AccessToken",
    "AssertionFault",
    "AudienceForm",
    "BodyEncoding",
    "OAuthRefusal",
    "TokenRequestStyle",
    "UsEnvironment",
    "assertion_audience",
    "assertion_claims",
    "default_audience",
    "load_signing_key",
    "missing_scope_error",
    "needs_refresh",
    "parse_token_answer",
    "refusal_error",
    "sign_assertion",
    "token_claims",
    "token_request_body",
]

MAX_ASSERTION_LIFETIME_S: Final = 300
"""An assertion's ``exp`` lies at most 5 minutes after its ``iat``."""
REFRESH_MARGIN_S: Final = 30.0
"""A token is replaced once this little of its life is left, as the exchange's own samples do."""
_MAX_EXPIRES_IN_S: Final = 86_400
_WHOLE_SECOND_ALLOWANCE_S: Final = 1.0
"""An issuer counts ``expires_in`` from its clock cut to the second (``exp`` = whole ``iat`` +
``expires_in``): a token may end up to a second before ``now + expires_in``."""
_MAX_TOKEN_CHARS: Final = 16_384
_MAX_SCOPES: Final = 64


@dataclass(frozen=True, slots=True)
class UsEnvironment:
    """One environment of the exchange: where tokens come from and the API they are for."""

    name: str
    token_url: str
    audience: str


US_ENVIRONMENTS: Final[Mapping[str, UsEnvironment]] = {
    "preprod": UsEnvironment(
        "preprod", "https://pmx-preprod.us.auth0.com/oauth/token", "https://api.preprod.polymarketexchange.com"
    ),
    "prod": UsEnvironment(
        "prod", "https://pmx-prod.us.auth0.com/oauth/token", "https://api.prod.polymarketexchange.com"
    ),
}
"""The documented environments (venue notes: US exchange token endpoint); each has its own credentials."""


class AudienceForm(StrEnum):
    """The assertion's ``aud``: the token URL as documented, or the bare domain some tenants want."""

    TOKEN_URL = "token-url"
    DOMAIN = "domain"


class BodyEncoding(StrEnum):
    """The token request's body: JSON as documented, or form-encoded (RFC 6749) as seen in the field."""

    JSON = "json"
    FORM = "form"


@dataclass(frozen=True, slots=True)
class TokenRequestStyle:
    """How a token request is shaped. The defaults are the documented ones; the others are the
    variants a preprod integration needed (venue notes: US exchange token endpoint)."""

    encoding: BodyEncoding = BodyEncoding.JSON
    audience_form: AudienceForm = AudienceForm.TOKEN_URL
    lifetime_s: int = MAX_ASSERTION_LIFETIME_S
    """The assertion's ``exp`` - ``iat``; 1 to 300."""
    kid: str | None = None
    """The key id put in the assertion's header, when the tenant asks for one."""

    def __post_init__(self) -> None:
        if isinstance(self.lifetime_s, bool) or not isinstance(self.lifetime_s, int):
            raise InvalidValueError("lifetime_s must be a whole number of seconds", lifetime_s=self.lifetime_s)
        if not 1 <= self.lifetime_s <= MAX_ASSERTION_LIFETIME_S:
            raise InvalidValueError(
                f"an assertion lives 1 to {MAX_ASSERTION_LIFETIME_S} seconds", lifetime_s=self.lifetime_s
            )


def assertion_audience(token_url: str, form: AudienceForm) -> str:
    """The ``aud`` of an assertion for ``token_url``: the URL itself, or ``https://<domain>/``."""
    if form is AudienceForm.TOKEN_URL:
        return token_url
    parts = urllib.parse.urlsplit(token_url)
    return f"{parts.scheme}://{parts.netloc}/"


def default_audience(token_url: str) -> str:
    """The API a token from ``token_url`` is for: the documented environment's, else the token URL's
    own origin (where the emulator serves both)."""
    for environment in US_ENVIRONMENTS.values():
        if environment.token_url == token_url:
            return environment.audience
    parts = urllib.parse.urlsplit(token_url)
    return f"{parts.scheme}://{parts.netloc}"


def assertion_claims(
    client_id: str, token_url: str, *, now_s: int, jti: str, style: TokenRequestStyle
) -> dict[str, object]:
    """The claims of one client assertion issued at ``now_s`` (unix seconds) with id ``jti``."""
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": assertion_audience(token_url, style.audience_form),
        "iat": now_s,
        "exp": now_s + style.lifetime_s,
        "jti": jti,
    }


def load_signing_key(pem: Secret) -> RSAPrivateKey:
    """The RSA private key in ``pem`` (PKCS#1 or PKCS#8, unencrypted); a typed error that never quotes it."""
    failure: PolyinfraError
    try:
        key = load_pem_private_key(pem.reveal().encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        failure = InvalidValueError(
            "the US private key file must hold an unencrypted RSA private key in PEM "
            "(openssl genrsa -out key.pem 2048)",
            reason=type(exc).__name__,
        )
    else:
        if isinstance(key, RSAPrivateKey):
            return key
        failure = InvalidValueError(
            "the US private key must be an RSA key: the exchange verifies RS256 signatures", key_type=type(key).__name__
        )
    raise failure  # outside the except clause: no chain to a frame that held the PEM


def sign_assertion(key: RSAPrivateKey, claims: Mapping[str, object], *, kid: str | None = None) -> Secret:
    """The assertion: ``claims`` signed RS256 with ``key``, a ``kid`` header when given."""
    headers = {"kid": kid} if kid is not None else None
    # Not registered for redaction: one per request would grow the registry forever, and the JWT
    # pattern masks it in text anyway.
    return Secret(jwt.encode(dict(claims), key, algorithm="RS256", headers=headers), register=False)


def token_request_body(
    client_id: str, assertion: Secret, *, audience: str, encoding: BodyEncoding
) -> tuple[Secret, str]:
    """The token request's body and its content type; the body is a :class:`Secret` (it holds the assertion)."""
    fields = {
        "client_id": client_id,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion.reveal(),
        "audience": audience,
        "grant_type": CLIENT_CREDENTIALS_GRANT,
    }
    if encoding is BodyEncoding.FORM:
        return Secret(urllib.parse.urlencode(fields), register=False), "application/x-www-form-urlencoded"
    return Secret(msgspec.json.encode(fields).decode(), register=False), "application/json"


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A granted access token. ``value`` is a :class:`Secret`; ``expires_at_s`` is on the clock the
    token was parsed with; ``scopes`` and ``participant_id`` are read from the token for display."""

    value: Secret = field(repr=False)
    client_id: str
    expires_at_s: float
    issued_at_s: float
    scopes: tuple[str, ...]
    participant_id: str | None

    def remaining_s(self, now_s: float) -> float:
        """Seconds of life left at ``now_s`` (negative once expired)."""
        return self.expires_at_s - now_s

    def bearer(self) -> Secret:
        """The ``authorization`` value, ``Bearer <token>``, as a :class:`Secret`."""
        return Secret(f"Bearer {self.value.reveal()}", register=False)


def needs_refresh(token: AccessToken | None, now_s: float, *, margin_s: float = REFRESH_MARGIN_S) -> bool:
    """Whether a new token must be fetched before one is handed out at ``now_s``: none yet, or
    ``margin_s`` or less of its life left."""
    return token is None or token.expires_at_s - now_s <= margin_s


def parse_token_answer(body: Secret, *, client_id: str, now_s: float) -> AccessToken:
    """The token endpoint's 2xx answer (its text as a :class:`Secret`) as an :class:`AccessToken`
    asked for at ``now_s``, counted to expire a second early (the issuer's clock is cut to whole
    seconds); :class:`MalformedMessageError` when it is not one."""
    failure: PolyinfraError
    try:
        answer = TOKEN_ANSWER.decode(body.reveal())
    except MalformedMessageError as exc:
        failure = MalformedMessageError(exc.message, retriable=None, **exc.context)
    else:
        problem = _answer_problem(answer.token_type, answer.expires_in, len(answer.access_token))
        if problem is None:
            token = Secret(answer.access_token, register=False)
            claims = token_claims(token)
            scope_text = claims.scope or answer.scope or ""
            scopes = tuple(dict.fromkeys(scope_text.split()))[:_MAX_SCOPES]
            return AccessToken(
                value=token,
                client_id=client_id,
                expires_at_s=now_s + answer.expires_in - _WHOLE_SECOND_ALLOWANCE_S,
                issued_at_s=now_s,
                scopes=scopes,
                participant_id=claims.participant_id,
            )
        failure = MalformedMessageError(f"token answer: {problem}", expires_in=answer.expires_in)
    raise failure  # outside the except clause: the decoder's frames held the token


def _answer_problem(token_type: str, expires_in: int, token_chars: int) -> str | None:
    if token_type.lower() != "bearer":
        return "token_type is not Bearer"
    if not 0 < expires_in <= _MAX_EXPIRES_IN_S:
        return f"expires_in is not 1 to {_MAX_EXPIRES_IN_S} seconds"
    if not 0 < token_chars <= _MAX_TOKEN_CHARS:
        return f"access_token is empty or longer than {_MAX_TOKEN_CHARS} characters"
    return None


def token_claims(token: Secret) -> AccessTokenClaims:
    """The claims of a JWT access token, read without verifying it (for display only); empty claims
    for an opaque token or one whose payload does not decode."""
    parts = token.reveal().split(".")
    if len(parts) != 3:  # header.payload.signature
        return AccessTokenClaims()
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims: AccessTokenClaims = ACCESS_TOKEN_CLAIMS.decode(payload)
    except (binascii.Error, ValueError, MalformedMessageError):
        return AccessTokenClaims()
    return claims


# --- the token endpoint's refusals -----------------------------------------------------------------


class AssertionFault(StrEnum):
    """Why a token endpoint refuses an assertion."""

    UNKNOWN_CLIENT = "unknown_client"
    BAD_SIGNATURE = "bad_signature"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_ISSUER = "wrong_issuer"
    EXPIRED = "expired"
    TOO_LONG = "too_long"
    REUSED_JTI = "reused_jti"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class OAuthRefusal:
    """One refusal: what the endpoint answers (``status``, ``error``, ``description``) and what the
    client makes of it (``error_class`` with ``hint``, the fix)."""

    fault: AssertionFault
    status: int
    error: str
    description: str
    error_class: type[AssertionRefusedError]
    hint: str

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


_KEY_HINT: Final = (
    "sign with the private key whose public key was registered for this client id in this environment "
    "(POLYINFRA_US_PRIVATE_KEY_FILE); each environment has its own credentials"
)

OAUTH_REFUSALS: Final[tuple[OAuthRefusal, ...]] = (
    OAuthRefusal(
        AssertionFault.UNKNOWN_CLIENT,
        401,
        "invalid_client",
        "Unknown client",
        AssertionKeyError,
        "no such client id in this environment: check POLYINFRA_US_CLIENT_ID and the token URL",
    ),
    OAuthRefusal(
        AssertionFault.BAD_SIGNATURE,
        401,
        "invalid_client",
        "Client assertion signature is invalid",
        AssertionKeyError,
        _KEY_HINT,
    ),
    OAuthRefusal(
        AssertionFault.WRONG_AUDIENCE,
        401,
        "invalid_client",
        "Client assertion audience is invalid",
        AssertionAudienceError,
        "the assertion's aud is the token URL (https://<domain>/oauth/token), not the API URL; "
        "a tenant that wants the bare domain takes audience_form='domain' (us whoami --domain-audience)",
    ),
    OAuthRefusal(
        AssertionFault.WRONG_ISSUER,
        401,
        "invalid_client_assertion",
        "Client assertion iss and sub must both be the client id",
        AssertionRefusedError,
        "iss and sub are both the client id the request names",
    ),
    OAuthRefusal(
        AssertionFault.EXPIRED,
        401,
        "invalid_client_assertion",
        "Client assertion has expired",
        AssertionExpiredError,
        "the assertion's exp has passed: check this machine's clock (NTP)",
    ),
    OAuthRefusal(
        AssertionFault.TOO_LONG,
        401,
        "invalid_client_assertion",
        "Client assertion lifetime exceeds 5 minutes",
        AssertionExpiredError,
        "exp must be at most 5 minutes after iat; check this machine's clock (NTP)",
    ),
    OAuthRefusal(
        AssertionFault.REUSED_JTI,
        401,
        "invalid_client_assertion",
        "Client assertion jti has already been used",
        AssertionReplayedError,
        "every token request needs a new assertion with a fresh jti; never resend one",
    ),
    OAuthRefusal(
        AssertionFault.MALFORMED,
        400,
        "invalid_request",
        "Malformed token request",
        AssertionRefusedError,
        "the body carries client_id, client_assertion_type, client_assertion, audience and grant_type; "
        "a tenant that wants a form-encoded body takes encoding='form' (us whoami --form)",
    ),
)
"""The refusals the emulator answers with and the client recognises (venue notes: US exchange token endpoint)."""

_REFUSAL_BY_ANSWER: Final = {(row.error, row.description.lower()): row for row in OAUTH_REFUSALS}
_DESCRIPTION_CHARS: Final = 300


def refusal_error(status: int, body: bytes, **context: object) -> JwtAuthError:
    """The typed error for the token endpoint's non-2xx answer (never raises): a known refusal's
    class and fix, else :class:`AssertionRefusedError` for ``invalid_client*`` and
    :class:`JwtAuthError` for anything else."""
    try:
        answer = OAUTH_ERROR_ANSWER.decode(body)
    except MalformedMessageError:
        answer = OAuthErrorAnswer(error="", error_description=body[:_DESCRIPTION_CHARS].decode("utf-8", "replace"))
    description = answer.error_description[:_DESCRIPTION_CHARS]
    known = _REFUSAL_BY_ANSWER.get((answer.error, description.lower()))
    error_class: type[JwtAuthError] = JwtAuthError
    hint: str | None = None
    if known is not None:
        error_class, hint = known.error_class, known.hint
    elif answer.error.startswith("invalid_client"):
        error_class, hint = AssertionRefusedError, "the exchange refused the client assertion; " + _KEY_HINT
    summary = f"the US token endpoint answered {status}: {answer.error or 'an error'}"
    if description:
        summary += f" ({description})"
    return error_class(
        summary,
        retriable=None,
        status=status,
        oauth_error=answer.error[:_DESCRIPTION_CHARS] or None,
        venue_message=description or None,
        hint=hint,
        **context,
    )


MISSING_SCOPE_MESSAGE: Final = "permission denied: missing required scope {scope}"
"""The exchange's refusal of a call whose token lacks a scope (REST 403 body ``message``, gRPC
``PERMISSION_DENIED`` details)."""

_MISSING_SCOPE: Final = re.compile(r"missing required scope\s+([A-Za-z0-9:_.\-]{1,64})")


def missing_scope_error(message: str, *, granted: tuple[str, ...] = (), **context: object) -> MissingScopeError | None:
    """The typed error for the exchange's "permission denied: missing required scope <scope>"
    (REST 403 or gRPC ``PERMISSION_DENIED``), naming the scope; None for any other message."""
    match = _MISSING_SCOPE.search(message[:_DESCRIPTION_CHARS])
    if match is None:
        return None
    scope = match[1]
    return MissingScopeError(
        f"the access token lacks the scope {scope}",
        retriable=None,
        scope=scope,
        granted=" ".join(granted) or None,
        hint=f"ask the exchange to grant {scope} to this client id; `polyinfra us whoami` lists the granted scopes",
        **context,
    )
