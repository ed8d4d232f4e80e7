"""CLOB authentication headers (venue notes: Authentication): L1 (EIP-712 ClobAuth) and L2 (HMAC-SHA256), both ways.

Pure: timestamps are passed in, nothing reads a clock. The client side builds header dicts; the
server side (the emulator) recovers the L1 signer and verifies an L2 HMAC with the same code, so
the two can never disagree about the encoding.

The client's header dicts (:data:`AuthHeaders`) hold what proves the caller's identity — the
passphrase, the HMAC signature, the L1 signature — as :class:`~polyinfra.obs.redaction.Secret`:
whoever replays one within the venue's timestamp tolerance acts as the wallet (an L1 signature
derives the API key, secret included). So no dict, ``repr`` or traceback local between here and
the socket shows them; :func:`~polyinfra.obs.redaction.revealed` gives the text as sent, which
only the HTTP transport calls, at send time (:mod:`polyinfra.net.http`). Nor does any frame of an
error raised here hold the raw API secret or its decoded key: a malformed secret is detected in a
frame that returns, and the error is raised after it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Final, NoReturn, TypeAlias

from polyinfra.core.eip712 import (
    SigningKey,
    address_word,
    domain_separator,
    keccak256,
    recover_address,
    string_word,
    to_checksum_address,
    type_hash,
    typed_data_digest,
    uint256_word,
)
from polyinfra.errors import InvalidSignatureError, InvalidValueError, L1AuthError, L2AuthError
from polyinfra.obs.redaction import MASK, Secret

__all__ = [
    "CLOB_AUTH_MESSAGE",
    "POLY_ADDRESS",
    "POLY_API_KEY",
    "POLY_NONCE",
    "POLY_PASSPHRASE",
    "POLY_SIGNATURE",
    "POLY_TIMESTAMP",
    "ApiCredentials",
    "AuthHeaders",
    "clob_auth_digest",
    "hmac_signature",
    "l1_headers",
    "l2_headers",
    "recover_l1_signer",
    "verify_hmac",
]

POLY_ADDRESS: Final = "POLY_ADDRESS"
POLY_SIGNATURE: Final = "POLY_SIGNATURE"
POLY_TIMESTAMP: Final = "POLY_TIMESTAMP"
POLY_NONCE: Final = "POLY_NONCE"
POLY_API_KEY: Final = "POLY_API_KEY"
POLY_PASSPHRASE: Final = "POLY_PASSPHRASE"

CLOB_AUTH_MESSAGE: Final = "This message attests that I control the given wallet"
"""The constant ``message`` member of every ClobAuth struct (venue notes: Authentication)."""

AuthHeaders: TypeAlias = dict[str, str | Secret]
"""A request's auth headers as the client holds them: the values that prove identity wrapped."""

_CLOB_AUTH_TYPE_HASH: Final = type_hash("ClobAuth(address address,string timestamp,uint256 nonce,string message)")
_CLOB_AUTH_MESSAGE_WORD: Final = string_word(CLOB_AUTH_MESSAGE)


def clob_auth_digest(address: str, *, chain_id: int, timestamp: str, nonce: int) -> bytes:
    """The EIP-712 digest an L1 header signs: ClobAuth under ``{ClobAuthDomain, "1", chainId}``.

    ``timestamp`` is a string member of the struct (decimal seconds, venue notes: Authentication), so the server
    hashes the header text as received.
    """
    struct_hash = keccak256(
        _CLOB_AUTH_TYPE_HASH
        + address_word(address)
        + string_word(timestamp)
        + uint256_word(nonce)
        + _CLOB_AUTH_MESSAGE_WORD
    )
    return typed_data_digest(domain_separator("ClobAuthDomain", "1", chain_id), struct_hash)


def l1_headers(key: SigningKey, *, chain_id: int, timestamp_s: int, nonce: int = 0) -> AuthHeaders:
    """Headers for ``/auth/api-key`` and ``/auth/derive-api-key`` (venue notes: Authentication, API keys), the
    signature wrapped.

    ``nonce`` selects which of the address's API keys is created or derived; lose it and that key
    cannot be derived again.
    """
    timestamp = str(timestamp_s)
    digest = clob_auth_digest(key.address, chain_id=chain_id, timestamp=timestamp, nonce=nonce)
    return {
        POLY_ADDRESS: key.address,
        POLY_SIGNATURE: Secret("0x" + key.sign_digest(digest).hex(), register=False),
        POLY_TIMESTAMP: timestamp,
        POLY_NONCE: str(nonce),
    }


def recover_l1_signer(headers: Mapping[str, str], *, chain_id: int) -> str:
    """Server side of L1: the checksummed address proven by ``headers``, or :class:`L1AuthError`.

    ``POLY_NONCE`` may be absent (the clients' default is 0). Checking the timestamp against a
    clock is the caller's business: the venue's tolerance is undocumented (venue notes: Authentication).
    """
    try:
        address = headers[POLY_ADDRESS]
        signature_hex = headers[POLY_SIGNATURE]
        timestamp = headers[POLY_TIMESTAMP]
    except KeyError as missing:
        raise L1AuthError("L1 header missing", header=missing.args[0]) from None
    nonce_text = headers.get(POLY_NONCE, "0")
    if not (nonce_text.isascii() and nonce_text.isdigit()):
        raise L1AuthError("POLY_NONCE is not a decimal integer", nonce=nonce_text)
    try:
        digest = clob_auth_digest(address, chain_id=chain_id, timestamp=timestamp, nonce=int(nonce_text))
        signature = bytes.fromhex(signature_hex.removeprefix("0x"))
        recovered = recover_address(digest, signature)
    except (InvalidValueError, InvalidSignatureError) as error:
        raise L1AuthError(f"invalid L1 signature: {error.message}", address=address) from None
    except ValueError:
        raise L1AuthError("POLY_SIGNATURE is not hex", address=address) from None
    if address_word(recovered) != address_word(address):
        raise L1AuthError("L1 signature was made by another address", address=address, recovered=recovered)
    return recovered


def _hmac_key(secret: Secret) -> bytes:
    """The HMAC key an API secret encodes, or :class:`InvalidValueError`, which never quotes the
    value (a malformed secret is still mostly the secret) and whose traceback holds it nowhere."""
    key = _decoded_secret(secret)
    if key is None:
        raise InvalidValueError("an API secret must be url-safe base64", length=len(secret.reveal()))
    return key


def _decoded_secret(secret: Secret) -> bytes | None:
    try:
        # Strict url-safe alphabet: the venue's secrets use '-' and '_' with '=' padding (venue notes: Authentication).
        return base64.b64decode(secret.reveal().encode(), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        # The decoder's error and its frames (which hold the secret) end here.
        return None


class ApiCredentials:
    """L2 credentials (``POST /auth/api-key`` answer): the API key, its secret and its passphrase.

    ``secret`` and ``passphrase`` are kept as :class:`~polyinfra.obs.redaction.Secret`, so neither
    ``repr`` nor a log line shows them; the secret is decoded once, here, and a malformed one is
    refused at load time instead of on the first request.
    """

    __slots__ = ("_hmac_key", "api_key", "passphrase", "secret")

    def __init__(self, api_key: str, secret: Secret | str, passphrase: Secret | str) -> None:
        # Wrapped first: from here on, this frame holds them only as Secret.
        secret = secret if isinstance(secret, Secret) else Secret(secret)
        passphrase = passphrase if isinstance(passphrase, Secret) else Secret(passphrase)
        self.api_key = api_key
        self.secret = secret
        self.passphrase = passphrase
        self._hmac_key = _hmac_key(secret)

    def hmac_signature(self, *, timestamp: str, method: str, request_path: str, body: bytes | str | None) -> str:
        """:func:`hmac_signature` with this secret."""
        return _hmac_digest(self._hmac_key, _signed_message(timestamp, method, request_path, body))

    def __repr__(self) -> str:
        # getattr: a half-built instance (its __init__ raised) is among its traceback's locals.
        return f"ApiCredentials(api_key={getattr(self, 'api_key', None)!r}, secret={MASK}, passphrase={MASK})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiCredentials):
            return NotImplemented
        return (self.api_key, self.secret, self.passphrase) == (other.api_key, other.secret, other.passphrase)

    def __hash__(self) -> int:
        return hash((self.api_key, self.secret, self.passphrase))

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("ApiCredentials cannot be pickled: the secret would be written out in clear")


def _signed_message(timestamp: str, method: str, request_path: str, body: bytes | str | None) -> bytes:
    # Checked before the key is in any frame: an error raised here carries no key in its traceback.
    if "?" in request_path:
        # The venue signs the path only (venue notes: Authentication); a query string here would sign the wrong text.
        raise InvalidValueError("request_path must not carry a query string", request_path=request_path)
    message = (timestamp + method + request_path).encode()
    if body:
        body_bytes = body.encode() if isinstance(body, str) else body
        # Both official clients replace single quotes before signing, and the server is said to do
        # the same (venue notes: Authentication); copied so a body containing "'" still verifies.
        message += body_bytes.replace(b"'", b'"')
    return message


def _hmac_digest(key: bytes, message: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def hmac_signature(secret: str, *, timestamp: str, method: str, request_path: str, body: bytes | str | None) -> str:
    """L2 ``POLY_SIGNATURE``: url-safe base64 (padded) of HMAC-SHA256 over ``timestamp + method + path + body``.

    ``secret`` is the url-safe base64 API secret. ``body`` must be the exact bytes sent (see
    :func:`polyinfra.wire.clob_orders.encode_post_order`); an empty body adds nothing.
    """
    message = _signed_message(timestamp, method, request_path, body)
    return _hmac_digest(_hmac_key(Secret(secret, register=False)), message)


def l2_headers(
    credentials: ApiCredentials,
    *,
    address: str,
    timestamp_s: int,
    method: str,
    request_path: str,
    body: bytes | str | None = None,
) -> AuthHeaders:
    """Headers for an L2 (API-key) request (venue notes: Authentication), the signature and passphrase wrapped.

    ``address`` is the EOA the API key belongs to, even when trading for a proxy, Safe or deposit
    wallet; ``request_path`` is the path without query string; ``body`` the exact bytes sent.
    """
    timestamp = str(timestamp_s)
    return {
        POLY_ADDRESS: to_checksum_address(address),
        POLY_SIGNATURE: Secret(
            credentials.hmac_signature(timestamp=timestamp, method=method, request_path=request_path, body=body),
            register=False,
        ),
        POLY_TIMESTAMP: timestamp,
        POLY_API_KEY: credentials.api_key,
        POLY_PASSPHRASE: credentials.passphrase,
    }


def verify_hmac(
    credentials: ApiCredentials,
    signature: str,
    *,
    timestamp: str,
    method: str,
    request_path: str,
    body: bytes | str | None,
) -> None:
    """Server side of L2: raise :class:`L2AuthError` unless ``signature`` is the HMAC of this request.

    Compared in constant time, as received (url-safe base64 with padding, venue notes: Authentication).
    """
    expected = credentials.hmac_signature(timestamp=timestamp, method=method, request_path=request_path, body=body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise L2AuthError("HMAC signature does not match the request", api_key=credentials.api_key, path=request_path)
