"""The emulated venue's request authentication: L1 signatures and L2 API-key HMACs (venue notes: Authentication).

Authentication is the venue's (venue notes: Authentication): L1 requests must carry a ClobAuth signature recovered to
``POLY_ADDRESS``, L2 requests an HMAC over ``timestamp + method + path + body`` made with the API
key's secret, its passphrase and the key's own address. Both timestamps must be within
:data:`TIMESTAMP_TOLERANCE_S` of the emulator's clock: the venue's tolerance is undocumented
(venue notes: Authentication) and "expired timestamp" is one of its 401 causes. Failures answer 401 with the venue's
bodies, ``{"error": "Invalid L1 Request headers"}`` and ``{"error": "Unauthorized/Invalid api key"}``.
A read-only key (:mod:`polyinfra.emulator.account_keys`) authenticates a GET as the key it was
created under, and nothing else.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from http import HTTPStatus
from typing import Final

from aiohttp import web

from polyinfra.core.auth_headers import (
    POLY_ADDRESS,
    POLY_API_KEY,
    POLY_NONCE,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
    recover_l1_signer,
    verify_hmac,
)
from polyinfra.emulator.account_keys import AccountKeys
from polyinfra.emulator.accounts import Accounts, ApiKey
from polyinfra.emulator.client_input import TIMESTAMP_DIGITS, same_address, whole_number
from polyinfra.errors import ApiError, L1AuthError, L2AuthError

__all__ = ["TIMESTAMP_TOLERANCE_S", "TradingAuth"]

TIMESTAMP_TOLERANCE_S: Final = 300
"""How far an L1/L2 ``POLY_TIMESTAMP`` may be from the emulator's clock, either way (undocumented)."""

_NONCE_DIGITS: Final = 78
"""Digits of the largest uint256, the type of an L1 nonce."""

# The venue's words (venue notes: Venue errors); venue_errors.py maps each to its error class.
_INVALID_L1: Final = "Invalid L1 Request headers"
_INVALID_API_KEY: Final = "Unauthorized/Invalid api key"


class TradingAuth:
    """Who a trading request proves to be: the L1 address or the L2 API key, checked as the venue does."""

    def __init__(
        self, accounts: Accounts, account_keys: AccountKeys, *, clock_ms: Callable[[], int], chain_id: int
    ) -> None:
        self._accounts = accounts
        self._account_keys = account_keys
        self._clock_ms = clock_ms
        self._chain_id = chain_id

    def _check_timestamp(self, text: str | None, message: str) -> None:
        timestamp_s = whole_number(text, max_digits=TIMESTAMP_DIGITS)
        if timestamp_s is None:
            raise ApiError(message, status=HTTPStatus.UNAUTHORIZED)
        if abs(timestamp_s - self._clock_ms() // 1000) > TIMESTAMP_TOLERANCE_S:
            raise ApiError(message, status=HTTPStatus.UNAUTHORIZED, reason="timestamp outside the window")

    def l1_address(self, request: web.Request) -> tuple[str, int]:
        """The address an L1 request proves it controls by a ClobAuth signature, and its nonce."""
        headers = request.headers
        self._check_timestamp(headers.get(POLY_TIMESTAMP), _INVALID_L1)
        nonce = whole_number(headers.get(POLY_NONCE, "0"), max_digits=_NONCE_DIGITS)
        if nonce is None:
            raise ApiError(_INVALID_L1, status=HTTPStatus.UNAUTHORIZED, reason="POLY_NONCE is not a uint256")
        names = (POLY_ADDRESS, POLY_SIGNATURE, POLY_TIMESTAMP, POLY_NONCE)
        try:
            address = recover_l1_signer(
                {name: headers[name] for name in names if name in headers}, chain_id=self._chain_id
            )
        except L1AuthError as error:
            raise ApiError(_INVALID_L1, status=HTTPStatus.UNAUTHORIZED, reason=error.message) from None
        return address, nonce

    async def l2_key(self, request: web.Request) -> ApiKey:
        """The API key an L2 request proves it holds by its HMAC, or :class:`ApiError` with the venue's 401."""
        headers = request.headers
        api_key = headers.get(POLY_API_KEY, "")
        key = self._accounts.get(api_key)
        if key is None:
            # A read-only key is signed for with the key it was created under, and only reads (account_keys.py).
            signing_key = self._account_keys.signing_key_of(api_key)
            if signing_key is not None and request.method == "GET":
                key = self._accounts.get(signing_key)
        if key is None:
            raise ApiError(_INVALID_API_KEY, status=HTTPStatus.UNAUTHORIZED)
        timestamp = headers.get(POLY_TIMESTAMP)
        self._check_timestamp(timestamp, _INVALID_API_KEY)
        passphrase = headers.get(POLY_PASSPHRASE, "").encode()
        address = headers.get(POLY_ADDRESS, "")
        # The key is bound to its EOA (venue notes: Authentication): another address with a valid HMAC is still refused.
        if not hmac.compare_digest(passphrase, key.credentials.passphrase.reveal().encode()) or not same_address(
            address, key.address
        ):
            raise ApiError(_INVALID_API_KEY, status=HTTPStatus.UNAUTHORIZED)
        try:
            verify_hmac(
                key.credentials,
                headers.get(POLY_SIGNATURE, ""),
                timestamp=timestamp or "",
                method=request.method,
                request_path=request.path,
                body=await request.read(),
            )
        except L2AuthError:
            raise ApiError(_INVALID_API_KEY, status=HTTPStatus.UNAUTHORIZED) from None
        return key
