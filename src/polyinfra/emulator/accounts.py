"""The emulated venue's accounts: API keys per (address, nonce), deposit-wallet owners and wallet balances.

API keys follow the venue's rules: one key per (address, nonce), created once with ``POST /auth/api-key``
and derived again with ``GET /auth/derive-api-key``. Secrets are generated here, kept as
:class:`~polyinfra.core.auth_headers.ApiCredentials` (redacted in every ``repr``) and registered
for log redaction the moment they exist.

Deposit wallets (signature type POLY_1271) are contract wallets the venue asks, through ERC-1271,
whether their owner signed an order. The emulator has no contracts: :class:`Accounts` keeps each
deposit wallet's owner as the chain would (the wallet admin route registers them), and an order of
a deposit wallet is accepted only from its owner's key (:mod:`polyinfra.emulator.trading_api`).

Balances are the emulator's stand-in for the chain: every wallet the emulator meets (an API key's
address when the key is created, a proxy or Safe maker when it first sends an order) starts with
:data:`SEED_COLLATERAL_MICROS` of pUSD and :data:`SEED_SHARES_MICROS` of every outcome token, so a
bot can buy and sell at once without a faucet. Each wallet also has a pUSD allowance per V2
spender (the exchanges orders are signed for, venue notes: Hosts and contracts), unlimited until changed with
:meth:`Balances.set_funds` (the emulator's wallet admin route). Fills move collateral and shares,
fees included (:meth:`Balances.settle`); allowances are caps here, not consumed by fills (emulator
choice: only an admin change moves them).

The venue reads balances through a cache that only ``GET /balance-allowance/update`` refreshes
(venue notes: REST routes, Failure modes). With the ``stale_balance_cache`` fault knob on, :class:`Balances` keeps that
cache: the venue's view of a (wallet, asset) freezes at its value before the first change the chain
sees, until :meth:`Balances.refresh`. All amounts are ints of micro-units (6 decimals, pUSD and
outcome tokens alike).
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.eip712 import to_checksum_address
from polyinfra.errors import InvalidValueError
from polyinfra.model.numbers import MICROS, Side
from polyinfra.obs.redaction import register_secret

__all__ = [
    "COLLATERAL",
    "SEED_COLLATERAL_MICROS",
    "SEED_SHARES_MICROS",
    "UNLIMITED_ALLOWANCE_MICROS",
    "Accounts",
    "ApiKey",
    "Balances",
    "Funds",
    "deposit_wallet_ownership",
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
    # The venue's shapes (venue notes: API keys): a UUID key, a url-safe base64 secret of 32 bytes, a passphrase.
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    passphrase = secrets.token_hex(32)
    register_secret(secret)
    register_secret(passphrase)
    return ApiCredentials(str(uuid.uuid4()), secret, passphrase)


class Accounts:
    """API keys by key and by (address, nonce); deposit wallets' owners."""

    def __init__(self) -> None:
        self._by_key: dict[str, ApiKey] = {}
        self._by_owner: dict[tuple[str, int], ApiKey] = {}
        self._deposit_wallet_owners: dict[str, str] = {}

    def create(self, address: str, nonce: int) -> ApiKey | None:
        """A new key for (address, nonce), or None when one exists (the venue's 400, venue notes: API keys)."""
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

    def set_deposit_wallet_owner(self, wallet: str, owner: str) -> None:
        """Record on the "chain" that the EOA ``owner`` owns the deposit wallet ``wallet`` (a new
        wallet, or an ownership transfer). Raises :class:`~polyinfra.errors.InvalidValueError`,
        naming the field, for a value that is not an address or a wallet said to own itself."""
        checksummed_wallet, checksummed_owner = deposit_wallet_ownership(wallet, owner)
        # Re-inserted, so that the owner's latest wallet is the last one listed.
        self._deposit_wallet_owners.pop(checksummed_wallet, None)
        self._deposit_wallet_owners[checksummed_wallet] = checksummed_owner

    def deposit_wallet_owner(self, wallet: str) -> str | None:
        """The EOA owning the deposit wallet ``wallet`` (checksummed), or None when it is none known."""
        return self._deposit_wallet_owners.get(to_checksum_address(wallet))

    def deposit_wallet_of(self, owner: str) -> str | None:
        """The deposit wallet ``owner`` was last given, or None when it owns none."""
        checksummed = to_checksum_address(owner)
        owned = [wallet for wallet, known in self._deposit_wallet_owners.items() if known == checksummed]
        return owned[-1] if owned else None


def deposit_wallet_ownership(wallet: str, owner: str) -> tuple[str, str]:
    """``(wallet, owner)`` checksummed, checked as :meth:`Accounts.set_deposit_wallet_owner` checks
    them before changing anything."""
    checksummed_wallet = _address("address", wallet)
    checksummed_owner = _address("owner", owner)
    if checksummed_owner == checksummed_wallet:
        raise InvalidValueError("a deposit wallet is owned by an EOA, not by itself", field="owner", value=owner)
    return checksummed_wallet, checksummed_owner


def _address(field: str, value: str) -> str:
    try:
        return to_checksum_address(value)
    except InvalidValueError:
        raise InvalidValueError("not an address: 0x followed by 40 hex digits", field=field, value=value) from None


UNLIMITED_ALLOWANCE_MICROS: Final = (1 << 256) - 1
"""The ERC-20 "infinite approval", ``type(uint256).max``: what wallets start with for every spender."""

COLLATERAL: Final = ""
"""The asset key of pUSD in :meth:`Balances.venue_view` and :meth:`Balances.refresh` (a token id otherwise)."""


@dataclass(frozen=True, slots=True)
class Funds:
    """One asset of one wallet: its balance and, for pUSD, the allowance per spender (micro-units)."""

    balance_micros: int
    allowances: Mapping[str, int]


@dataclass(slots=True)
class _Wallet:
    allowances: dict[str, int]
    collateral_micros: int = SEED_COLLATERAL_MICROS
    shares_micros: defaultdict[str, int] = field(default_factory=lambda: defaultdict(lambda: SEED_SHARES_MICROS))

    def funds(self, asset: str) -> Funds:
        if asset == COLLATERAL:
            return Funds(self.collateral_micros, dict(self.allowances))
        return Funds(self.shares_micros[asset], {})


class Balances:
    """pUSD, outcome-token balances and pUSD allowances per wallet address (checksummed), seeded on
    first sight; ``spenders`` are the contracts allowances are kept for, and ``stale_cache`` says
    whether the venue's balance cache lags the chain now (the fault knob, see the module notes)."""

    def __init__(self, spenders: Sequence[str], *, stale_cache: Callable[[], bool] = lambda: False) -> None:
        self._spenders = tuple(to_checksum_address(spender) for spender in spenders)
        self._stale_cache = stale_cache
        self._wallets: dict[str, _Wallet] = {}
        self._venue_cache: dict[tuple[str, str], Funds] = {}

    def _wallet(self, address: str) -> _Wallet:
        checksummed = to_checksum_address(address)
        wallet = self._wallets.get(checksummed)
        if wallet is None:
            allowances = dict.fromkeys(self._spenders, UNLIMITED_ALLOWANCE_MICROS)
            wallet = self._wallets[checksummed] = _Wallet(allowances)
        return wallet

    def collateral(self, address: str) -> int:
        """The wallet's pUSD on the chain."""
        return self._wallet(address).collateral_micros

    def shares(self, address: str, token_id: str) -> int:
        """The wallet's shares of ``token_id`` on the chain."""
        return self._wallet(address).shares_micros[token_id]

    def on_chain(self, address: str, asset: str) -> Funds:
        """What the wallet holds of ``asset`` (:data:`COLLATERAL` or a token id) on the chain."""
        return self._wallet(address).funds(asset)

    def venue_view(self, address: str, asset: str) -> Funds:
        """What the venue believes the wallet holds of ``asset`` (:data:`COLLATERAL` or a token id):
        the chain itself, or with the cache knob on the snapshot taken before the chain last moved."""
        cached = self._cached(address, asset)
        return self._wallet(address).funds(asset) if cached is None else cached

    def refresh(self, address: str, asset: str) -> None:
        """``GET /balance-allowance/update``: the venue re-reads ``asset`` of the wallet from the chain."""
        self._venue_cache.pop((to_checksum_address(address), asset), None)

    def can_fund(self, address: str, asset: str, needed_micros: int, *, held_micros: int, spender: str | None) -> bool:
        """Whether the wallet covers ``needed_micros`` of ``asset`` on top of ``held_micros`` its open
        orders hold, and, for pUSD, whether its allowance to ``spender`` does too (venue notes: Matching).

        The venue judges by its view; the chain must agree as well, because an order the chain
        cannot pay for would only fail at settlement, and the emulator refuses it up front instead
        (emulator choice: no wallet ever goes negative)."""
        wanted = needed_micros + held_micros
        chain = self._wallet(address).funds(asset)
        cached = self._cached(address, asset)
        for funds in (chain,) if cached is None else (cached, chain):
            if funds.balance_micros < wanted:
                return False
            if spender is not None and funds.allowances[self._spender(spender)] < wanted:
                return False
        return True

    def set_funds(
        self, address: str, *, collateral_micros: int | None = None, allowances: Mapping[str, int] | None = None
    ) -> None:
        """Set the wallet's pUSD and allowances on the chain (a deposit, a withdrawal, an approval).

        Raises :class:`~polyinfra.errors.InvalidValueError` for a negative amount or an unknown
        spender, changing nothing.
        """
        changes = {self._spender(spender): amount for spender, amount in (allowances or {}).items()}
        for name, amount in [("collateral", collateral_micros), *changes.items()]:
            if amount is not None and not 0 <= amount <= UNLIMITED_ALLOWANCE_MICROS:
                raise InvalidValueError("an amount must be between 0 and 2**256 - 1 micro-units", field=name)
        wallet = self._before_change(address, COLLATERAL)
        if collateral_micros is not None:
            wallet.collateral_micros = collateral_micros
        wallet.allowances.update(changes)

    def tracks_spender(self, spender: str) -> bool:
        """Whether ``spender`` is one of the contracts whose pUSD allowance the venue checks (kept here)."""
        return to_checksum_address(spender) in self._spenders

    def set_shares(self, address: str, token_id: str, shares_micros: int) -> None:
        """Set the wallet's shares of ``token_id`` on the chain (the emulated chain's CTF moving them)."""
        if not 0 <= shares_micros <= UNLIMITED_ALLOWANCE_MICROS:
            raise InvalidValueError("a balance is between 0 and 2**256 - 1 micro-units", field="shares")
        self._before_change(address, token_id).shares_micros[token_id] = shares_micros

    def settle(
        self, address: str, token_id: str, side: Side, size_micros: int, price_micros: int, *, fee_micros: int = 0
    ) -> None:
        """Move one side of a fill: a BUY pays ``size x price`` plus its fee and receives the shares,
        a SELL delivers the shares and receives ``size x price`` minus its fee (fees in pUSD on both
        sides, the V2 SDK's rule, :mod:`polyinfra.core.fees`).

        The same rule covers all three settlements (venue notes: Matching): a normal match moves shares between
        the two wallets, a mint (two BUYs of complementary tokens at prices summing to 1) creates a
        share for each buyer out of their collateral, a merge (two SELLs) burns one of each for it.
        """
        collateral, shares = _fill_movement(side, size_micros, price_micros, fee_micros)
        self._move(address, token_id, collateral, shares)

    def unsettle(
        self, address: str, token_id: str, side: Side, size_micros: int, price_micros: int, *, fee_micros: int = 0
    ) -> None:
        """Undo exactly what :meth:`settle` with the same arguments moved (a FAILED trade), fee refunded."""
        collateral, shares = _fill_movement(side, size_micros, price_micros, fee_micros)
        self._move(address, token_id, -collateral, -shares)

    def _move(self, address: str, token_id: str, collateral_micros: int, shares_micros: int) -> None:
        self._before_change(address, token_id)
        wallet = self._before_change(address, COLLATERAL)
        wallet.collateral_micros += collateral_micros
        wallet.shares_micros[token_id] += shares_micros

    def _before_change(self, address: str, asset: str) -> _Wallet:
        """The wallet, after freezing the venue's view of ``asset`` if the cache lags and has none."""
        wallet = self._wallet(address)
        if self._cache_lags():
            self._venue_cache.setdefault((to_checksum_address(address), asset), wallet.funds(asset))
        return wallet

    def _cached(self, address: str, asset: str) -> Funds | None:
        return self._venue_cache.get((to_checksum_address(address), asset)) if self._cache_lags() else None

    def _cache_lags(self) -> bool:
        if self._stale_cache():
            return True
        # The knob is off: the venue sees the chain, and no snapshot survives to a later switch-on.
        self._venue_cache.clear()
        return False

    def _spender(self, spender: str) -> str:
        if spender in self._spenders:
            return spender
        checksummed = to_checksum_address(spender)
        if checksummed not in self._spenders:
            raise InvalidValueError("not a spender the venue checks allowances for", spender=spender)
        return checksummed


def _fill_movement(side: Side, size_micros: int, price_micros: int, fee_micros: int) -> tuple[int, int]:
    """(collateral, shares) one side of a fill adds to its wallet; negative amounts leave it."""
    if size_micros <= 0:
        raise InvalidValueError("a fill moves a positive size", size_micros=size_micros)
    if fee_micros < 0:
        raise InvalidValueError("a fee is never negative", fee_micros=fee_micros)
    # Exact: sizes have at most 2 decimals and prices 4, so the product has at most 6 (venue notes: Amounts).
    notional = size_micros * price_micros // MICROS
    if side is Side.BUY:
        return -notional - fee_micros, size_micros
    return notional - fee_micros, -size_micros
