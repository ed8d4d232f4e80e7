"""The US exchange's token endpoint on the wire (venue notes: US exchange token endpoint).

An OAuth 2 client-credentials exchange with a Private-Key-JWT client assertion: the request
(:class:`TokenRequest`, JSON or form-encoded), the answer (:class:`TokenAnswer`), the refusal
(:class:`OAuthErrorAnswer`), the claims polyinfra reads back out of an access token
(:class:`AccessTokenClaims`), and the emulator's client registration body
(:class:`ClientRegistration`). Strings are kept as sent; the decoders are bounded
(:mod:`polyinfra.wire.json_decoding`), small documents all: a token answer is well under 8 KB.
"""

from __future__ import annotations

from typing import Final

from msgspec import Struct, field

from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "ACCESS_TOKEN_CLAIMS",
    "CLIENT_ASSERTION_TYPE",
    "CLIENT_CREDENTIALS_GRANT",
    "CLIENT_REGISTRATION",
    "MAX_OAUTH_BYTES",
    "OAUTH_ERROR_ANSWER",
    "TOKEN_ANSWER",
    "TOKEN_REQUEST",
    "AccessTokenClaims",
    "ClientRegistration",
    "OAuthErrorAnswer",
    "TokenAnswer",
    "TokenRequest",
]

CLIENT_ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_CREDENTIALS_GRANT: Final = "client_credentials"

MAX_OAUTH_BYTES: Final = 64 * 1024
"""Any document of the exchange: a token answer, a refusal, a request or a registration (a 4096-bit
public key in PEM is under 1 KB)."""


class TokenRequest(Struct, frozen=True):
    """``POST /oauth/token``: the client assertion proves the client id; ``audience`` is the API."""

    client_id: str
    client_assertion: str = field(default="")
    client_assertion_type: str = CLIENT_ASSERTION_TYPE
    audience: str = ""
    grant_type: str = CLIENT_CREDENTIALS_GRANT

    def __repr__(self) -> str:
        # The assertion is a credential for as long as it is unused (up to 5 minutes).
        return f"TokenRequest(client_id={self.client_id!r}, audience={self.audience!r})"


class TokenAnswer(Struct, frozen=True):
    """A granted token: ``{"access_token", "token_type": "Bearer", "expires_in": 180}`` (``scope`` optional)."""

    access_token: str
    expires_in: int
    token_type: str = "Bearer"
    scope: str | None = None

    def __repr__(self) -> str:
        return f"TokenAnswer(token_type={self.token_type!r}, expires_in={self.expires_in!r}, scope={self.scope!r})"


class OAuthErrorAnswer(Struct, frozen=True):
    """A refusal: ``{"error": "invalid_client", "error_description": "..."}`` (RFC 6749 §5.2)."""

    error: str
    error_description: str = ""


class AccessTokenClaims(Struct, frozen=True):
    """What polyinfra reads out of an access token for display: every claim optional, since the
    token is the issuer's business and a client only shows it. ``scope`` is space-separated."""

    sub: str = ""
    scope: str = ""
    exp: int | None = None
    iat: int | None = None
    participant_id: str | None = None


class ClientRegistration(Struct, frozen=True, forbid_unknown_fields=True):
    """The emulator's ``POST /_emulator/us/clients`` body: a client and the public key it signs with."""

    client_id: str
    public_key_pem: str
    scopes: list[str] = field(default_factory=list)
    participant_id: str | None = None


TOKEN_REQUEST: Final[JsonDecoder[TokenRequest]] = JsonDecoder(
    TokenRequest, what="token request", max_bytes=MAX_OAUTH_BYTES
)
TOKEN_ANSWER: Final[JsonDecoder[TokenAnswer]] = JsonDecoder(TokenAnswer, what="token answer", max_bytes=MAX_OAUTH_BYTES)
OAUTH_ERROR_ANSWER: Final[JsonDecoder[OAuthErrorAnswer]] = JsonDecoder(
    OAuthErrorAnswer, what="OAuth error answer", max_bytes=MAX_OAUTH_BYTES
)
ACCESS_TOKEN_CLAIMS: Final[JsonDecoder[AccessTokenClaims]] = JsonDecoder(
    AccessTokenClaims, what="access token claims", max_bytes=MAX_OAUTH_BYTES
)
CLIENT_REGISTRATION: Final[JsonDecoder[ClientRegistration]] = JsonDecoder(
    ClientRegistration, what="US client registration", max_bytes=MAX_OAUTH_BYTES
)
