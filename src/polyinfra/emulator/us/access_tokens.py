"""The emulated US token issuer's rules, pure: which client assertions it takes, the access tokens
it signs, and the check every emulated US API runs on a token.

Time is given (``now_s``, unix seconds on the emulator's US clock), never read. What the emulator
copies (venue notes: US exchange token endpoint):

* an assertion is RS256, signed by the key registered for its ``client_id``; ``iss`` and ``sub``
  are the client id; ``aud`` is the token URL (or the bare domain, for a tenant configured so);
  ``exp`` lies ahead and at most 5 minutes after ``iat``; its ``jti`` is never seen twice;
* an access token is a JWT the emulator signs (HS256 with a secret of its own: nobody outside the
  emulator verifies it), carrying ``scope`` (space-separated) and ``participant_id`` claims.

:func:`check_assertion` answers an :class:`~polyinfra.core.us_auth.AssertionFault` or None;
:func:`verify_access_token` gives the :class:`AccessGrant` of a token or raises
:class:`~polyinfra.errors.JwtAuthError`; :meth:`AccessGrant.require` raises
:class:`~polyinfra.errors.MissingScopeError` with the venue's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.types import Options

from polyinfra.core.us_auth import MAX_ASSERTION_LIFETIME_S, MISSING_SCOPE_MESSAGE, AssertionFault
from polyinfra.errors import JwtAuthError, MissingScopeError
from polyinfra.obs.redaction import Secret

__all__ = [
    "ACCESS_TOKEN_ALGORITHM",
    "AcceptedAudience",
    "AccessGrant",
    "UsClient",
    "check_assertion",
    "issue_access_token",
    "verify_access_token",
]

ACCESS_TOKEN_ALGORITHM: Final = "HS256"
_ASSERTION_ALGORITHM: Final = "RS256"
# Checked here instead, so each failure has its own answer.
_NOT_CHECKED_BY_PYJWT: Final[Options] = {
    "verify_exp": False,
    "verify_aud": False,
    "verify_iat": False,
    "verify_nbf": False,
}


class AcceptedAudience(StrEnum):
    """Which ``aud`` forms the emulated tenant takes: the documented token URL, the bare domain
    (``https://<domain>/``) a preprod tenant wanted, or both."""

    TOKEN_URL = "token-url"
    DOMAIN = "domain"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class UsClient:
    """A registered client: its id, the public key its assertions verify with, what it may do."""

    client_id: str
    public_key: RSAPublicKey
    scopes: tuple[str, ...]
    participant_id: str | None


@dataclass(frozen=True, slots=True)
class AccessGrant:
    """What a valid access token grants."""

    client_id: str
    scopes: tuple[str, ...]
    participant_id: str | None
    expires_at_s: int

    def require(self, scope: str) -> None:
        """:class:`MissingScopeError` with the venue's message unless the token has ``scope``."""
        if scope not in self.scopes:
            raise MissingScopeError(MISSING_SCOPE_MESSAGE.format(scope=scope), scope=scope)


def check_assertion(
    assertion: str,
    client: UsClient | None,
    *,
    token_url: str,
    accepted: AcceptedAudience,
    now_s: float,
    seen_jti: Mapping[str, float],
) -> tuple[AssertionFault | None, str | None, int]:
    """Why the token endpoint refuses ``assertion`` for ``client`` (None: it takes it), the
    assertion's ``jti`` and ``exp`` (to remember it until then). ``seen_jti`` holds the client's
    spent ids."""
    if client is None:
        return AssertionFault.UNKNOWN_CLIENT, None, 0
    try:
        if jwt.get_unverified_header(assertion).get("alg") != _ASSERTION_ALGORITHM:
            return AssertionFault.MALFORMED, None, 0
        claims = jwt.decode(
            assertion, client.public_key, algorithms=[_ASSERTION_ALGORITHM], options=_NOT_CHECKED_BY_PYJWT
        )
    except jwt.InvalidSignatureError:
        return AssertionFault.BAD_SIGNATURE, None, 0
    except jwt.PyJWTError:
        return AssertionFault.MALFORMED, None, 0
    jti, iat, exp = claims.get("jti"), _time(claims.get("iat")), _time(claims.get("exp"))
    if not (isinstance(jti, str) and jti) or iat is None or exp is None:
        return AssertionFault.MALFORMED, None, 0
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        return AssertionFault.WRONG_ISSUER, jti, exp
    if claims.get("aud") not in _audiences(token_url, accepted):
        return AssertionFault.WRONG_AUDIENCE, jti, exp
    if exp <= now_s:
        return AssertionFault.EXPIRED, jti, exp
    if exp - iat > MAX_ASSERTION_LIFETIME_S:
        return AssertionFault.TOO_LONG, jti, exp
    if jti in seen_jti:
        return AssertionFault.REUSED_JTI, jti, exp
    return None, jti, exp


def _time(value: object) -> int | None:
    """A claim's unix time, if it is one (a whole number within reason)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 40:
        return value
    return None


def _audiences(token_url: str, accepted: AcceptedAudience) -> tuple[str, ...]:
    domain = token_url.removesuffix("/oauth/token") + "/"
    if accepted is AcceptedAudience.TOKEN_URL:
        return (token_url,)
    if accepted is AcceptedAudience.DOMAIN:
        return (domain,)
    return (token_url, domain)


def issue_access_token(
    client: UsClient, *, issuer: str, audience: str, now_s: float, lifetime_s: int, jti: str, key: Secret
) -> str:
    """A signed access token for ``client``, valid ``lifetime_s`` from ``now_s``."""
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": client.client_id,
        "aud": audience,
        "iat": int(now_s),
        "exp": int(now_s) + lifetime_s,
        "jti": jti,
        "scope": " ".join(client.scopes),
    }
    if client.participant_id is not None:
        claims["participant_id"] = client.participant_id
    return jwt.encode(claims, key.reveal(), algorithm=ACCESS_TOKEN_ALGORITHM)


def verify_access_token(token: str, *, key: Secret, now_s: float, early_expiry_s: float = 0.0) -> AccessGrant:
    """The grant of ``token`` if the emulator signed it and it has not expired at ``now_s``; a token
    counts as expired ``early_expiry_s`` before its ``exp`` (the early-expiry fault knob).
    :class:`JwtAuthError` (the API answers 401 / ``UNAUTHENTICATED``) otherwise."""
    try:
        claims = jwt.decode(token, key.reveal(), algorithms=[ACCESS_TOKEN_ALGORITHM], options=_NOT_CHECKED_BY_PYJWT)
    except jwt.PyJWTError:
        claims = None
    if claims is None:
        raise JwtAuthError("the access token is not valid")
    exp, scope, participant = _time(claims.get("exp")), claims.get("scope", ""), claims.get("participant_id")
    if exp is None or not isinstance(scope, str) or not isinstance(claims.get("sub"), str):
        raise JwtAuthError("the access token is not valid")
    if exp - early_expiry_s <= now_s:
        raise JwtAuthError("the access token has expired", expired_at_s=exp)
    return AccessGrant(
        client_id=claims["sub"],
        scopes=tuple(scope.split()),
        participant_id=participant if isinstance(participant, str) else None,
        expires_at_s=exp,
    )
