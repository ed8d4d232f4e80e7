"""The emulated venue's accounts: API keys per (address, nonce) and wallet balances.

API keys follow clob.md §2.3: one key per (address, nonce), created once with ``POST /auth/api-key``
and derived again with ``GET /auth/derive-api-key``. Secrets are generated here, kept as
:class:`~polyinfra.core.auth_headers.ApiCredentials` (redacted in every ``repr``) and registered
for log redaction the moment they exist.

Balances are the emulator's stand-in for the chain: every wallet the emulator meets (an API key's
address when the key is created, a proxy or Safe maker when it first sends an order) starts with
:data:`SEED_COLLATERAL_MICROS` of pUSD and :data:`SEED_SHARES_MICROS` of every outcome token, so a
bot can buy and sell at once without a faucet. Allowances are unlimited for the exchange contracts
(the venue's ``not enough balance / allowance`` then only ever means balance, clob.md §1.1).
All amounts are ints of micro-units (6 decimals, pUSD and outcome tokens alike).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final

from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.eip712 import to_checksum_address
from polyinfra.errors import InvalidValueError
from polyinfra.model.numbers import MICROS, Side
from polyinfra.obs.redaction import register_secret

__all__ = [
    "SEED_COLLATERAL_MICROS",
    "SEED_SHARES_MICROS",
    "Accounts",
    "ApiKey",
    "Balances",
]

SEED_COLLATERAL_MICROS: Final = 10_000 * MICROS
"""pUSD every new wallet starts with: 10,000."""
SEED_SHARES_MICROS: Final = 1_000 * MICROS
"""Shares of every outcome token every new wallet starts with: 1,000."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key: its credentials and the EOA (checksummed) and nonce it was created for."""

    credentials: ApiCredentials
    address: str
    nonce: int

    @property
    def api_key(self) -> str:
        return self.credentials.api_key


def _new_credentials() -> ApiCredentials:
    # The venue's shapes (clob.md §2.3): a UUID key, a url-safe base64 secret of 32 bytes, a passphrase.
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    passphrase = secrets.token_hex(32)
    register_secret(secret)
    register_secret(passphrase)
    return ApiCredentials(str(uuid.uuid4()), secret, passphrase)


class Accounts:
    """API keys by key and by (address, nonce)."""

    def __init__(self) -> None:
        self._by_key: dict[str, ApiKey] = {}
        self._by_owner: dict[tuple[str, int], ApiKey] = {}

    def create(self, address: str, nonce: int) -> ApiKey | None:
        """A new key for (address, nonce), or None when one exists (the venue's 400, clob.md §2.3)."""
        owner = (to_checksum_address(address), nonce)
        if owner in self._by_owner:
            return None
        key = ApiKey(_new_credentials(), owner[0], nonce)
        self._by_owner[owner] = key
        self._by_key[key.api_key] = key
        return key

    def derive(self, address: str, nonce: int) -> ApiKey | None:
        """The key of (address, nonce), or None when none was created."""
        return self._by_owner.get((to_checksum_address(address), nonce))

    def get(self, api_key: str) -> ApiKey | None:
        return self._by_key.get(api_key)

    def keys_of(self, address: str) -> list[ApiKey]:
        """Every live key of an address, oldest first."""
        checksummed = to_checksum_address(address)
        return [key for key in self._by_key.values() if key.address == checksummed]

    def delete(self, api_key: str) -> None:
        key = self._by_key.pop(api_key, None)
        if key is not None:
            del self._by_owner[key.address, key.nonce]


@dataclass(slots=True)
class _Wallet:
    collateral_micros: int = SEED_COLLATERAL_MICROS
    shares_micros: defaultdict[str, int] = field(default_factory=lambda: defaultdict(lambda: SEED_SHARES_MICROS))


class Balances:
    """pUSD and outcome-token balances per wallet address (checksummed), seeded on first sight."""

    def __init__(self) -> None:
        self._wallets: dict[str, _Wallet] = {}

    def _wallet(self, address: str) -> _Wallet:
        checksummed = to_checksum_address(address)
        wallet = self._wallets.get(checksummed)
        if wallet is None:
            wallet = self._wallets[checksummed] = _Wallet()
        return wallet

    def collateral(self, address: str) -> int:
        return self._wallet(address).collateral_micros

    def shares(self, address: str, token_id: str) -> int:
        return self._wallet(address).shares_micros[token_id]

    def settle(self, address: str, token_id: str, side: Side, size_micros: int, price_micros: int) -> None:
        """Move one side of a fill: a BUY pays ``size x price`` and receives the shares, a SELL the reverse.

        The same rule covers all three settlements (clob.md §10): a normal match moves shares between
        the two wallets, a mint (two BUYs of complementary tokens at prices summing to 1) creates a
        share for each buyer out of their collateral, a merge (two SELLs) burns one of each for it.
        """
        if size_micros <= 0:
            raise InvalidValueError("a fill moves a positive size", size_micros=size_micros)
        wallet = self._wallet(address)
        # Exact: sizes have at most 2 decimals and prices 4, so the product has at most 6 (clob.md §5.5).
        collateral = size_micros * price_micros // MICROS
        if side is Side.BUY:
            wallet.collateral_micros -= collateral
            wallet.shares_micros[token_id] += size_micros
        else:
            wallet.collateral_micros += collateral
            wallet.shares_micros[token_id] -= size_micros
