"""Many signing wallets trading at once, each in its own failure domain (venue notes: Authentication, Rate limits).

A :class:`WalletRegistry` holds one :class:`Wallet` per wallet id: its signing key, API
credentials, signature type and funder, a :class:`~polyinfra.clob.trading.TradingClient` and an
:class:`~polyinfra.net.http.HttpTransport` of its own. What is per wallet and what is shared
follows what the venue counts per what:

* **Rate limits.** All transports share one :class:`~polyinfra.net.rate_limit.AsyncRateLimiter`:
  the venue's endpoint and global windows count every request from this IP, whichever wallet sends
  it, so they must be one budget. The per-signer order and cancel buckets are keyed by wallet id
  inside that limiter (venue notes: Rate limits), so one wallet draining its bucket never delays another.
* **Failure domain.** Each wallet has its own breakers (and connection pool): a wallet whose
  calls keep failing opens only its own breaker. Bad credentials (401) or a refused order are the
  wallet's own errors and never touch the others.
* **Fan-out.** :meth:`WalletRegistry.each` runs one operation per wallet concurrently, each with
  its own deadline, and returns every wallet's result or typed error: a hung or failing wallet is
  reported, never waited on by the others.

Secrets stay in :class:`~polyinfra.core.eip712.SigningKey` and
:class:`~polyinfra.core.auth_headers.ApiCredentials`, whose ``repr`` masks them; no ``repr`` here
shows more than ids and addresses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, TypeVar

from polyinfra.clob.trading import TradingClient
from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.eip712 import SigningKey, to_checksum_address
from polyinfra.core.rate_limit_tables import RateLimitTable
from polyinfra.core.venue_rate_limits import CLOB_LIMITS
from polyinfra.core.wallet_addresses import check_maker
from polyinfra.errors import InvalidSignatureError, InvalidValueError, PolyinfraError, RequestTimeoutError
from polyinfra.model.orders import SignatureType
from polyinfra.net.breaker import BreakerConfig, CircuitBreakers
from polyinfra.net.http import HttpTransport
from polyinfra.net.rate_limit import AsyncRateLimiter

__all__ = ["Wallet", "WalletConfig", "WalletRegistry"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class WalletConfig:
    """One wallet's setup.

    ``funder`` is the address holding the funds: none (or the key's own address) for ``EOA``, the
    proxy / Safe / deposit wallet otherwise (venue notes: Wallets; the commonest "invalid signature" is a
    signature type that does not match the funder). A proxy or Safe funder must be the one derived
    from the key (:mod:`polyinfra.core.wallet_addresses`); a wrong one is refused here.
    ``credentials`` may be left out and obtained with :meth:`WalletRegistry.connect`;
    ``api_key_nonce`` picks which of the key's API keys.
    """

    wallet_id: str
    key: SigningKey
    signature_type: SignatureType = SignatureType.EOA
    funder: str | None = None
    credentials: ApiCredentials | None = field(default=None, repr=False)
    api_key_nonce: int = 0

    def __post_init__(self) -> None:
        if not self.wallet_id:
            raise InvalidValueError("a wallet needs a non-empty wallet_id")
        if self.signature_type is SignatureType.EOA:
            if self.funder is not None and to_checksum_address(self.funder) != self.key.address:
                raise InvalidValueError(
                    "an EOA wallet trades its own funds: leave funder out, or use the signature type of the "
                    "proxy / Safe / deposit wallet that holds them",
                    wallet_id=self.wallet_id,
                    funder=self.funder,
                    signer=self.key.address,
                )
        elif self.funder is None:
            raise InvalidValueError(
                f"a {self.signature_type.name} wallet needs funder: the address of the wallet holding the funds",
                wallet_id=self.wallet_id,
            )
        else:
            # The registry's clients trade on Polygon, where the venue takes a proxy / Safe order only
            # from the wallet derived from its signer: a wrong funder fails here, not at the first order.
            try:
                check_maker(self.signature_type, self.key.address, self.funder)
            except InvalidSignatureError as error:
                raise InvalidValueError(
                    error.message,
                    wallet_id=self.wallet_id,
                    funder=self.funder,
                    expected_funder=error.context.get("expected_maker"),
                ) from None

    @property
    def maker(self) -> str:
        """The order ``maker``: the funder, or the key's own address for an EOA."""
        return self.key.address if self.funder is None else to_checksum_address(self.funder)


@dataclass(frozen=True, slots=True)
class Wallet:
    """A registered wallet: its setup, its trading session and the transport it alone uses."""

    config: WalletConfig
    client: TradingClient
    transport: HttpTransport = field(repr=False)

    @property
    def wallet_id(self) -> str:
        return self.config.wallet_id

    @property
    def breakers(self) -> CircuitBreakers:
        """This wallet's breakers, one per endpoint group; no other wallet's calls count in them."""
        return self.transport.breakers


class WalletRegistry:
    """Trading sessions of many wallets against one venue at ``base_url`` (async).

    ``rate_limits`` is the venue's table (pass ``clob_limits(tier)`` for a volume tier);
    ``breaker_config`` configures every wallet's own breakers. Close with :meth:`aclose` or use
    ``async with``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        rate_limits: RateLimitTable = CLOB_LIMITS,
        breaker_config: BreakerConfig | None = None,
    ) -> None:
        self._base_url = base_url
        self._rate_limits = rate_limits
        self._breaker_config = breaker_config
        self.limiter = AsyncRateLimiter()
        """The one limiter every wallet's transport draws from (IP-wide and per-wallet scopes)."""
        self._wallets: dict[str, Wallet] = {}

    def __repr__(self) -> str:
        return f"WalletRegistry(base_url={self._base_url!r}, wallets={list(self._wallets)!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def add(self, config: WalletConfig) -> Wallet:
        """Register a wallet; its id must be new."""
        if config.wallet_id in self._wallets:
            raise InvalidValueError("a wallet with this id is already registered", wallet_id=config.wallet_id)
        transport = HttpTransport(
            self._base_url,
            rate_limits=self._rate_limits,
            limiter=self.limiter,
            breakers=CircuitBreakers(self._breaker_config),
        )
        client = TradingClient(
            transport,
            config.key,
            credentials=config.credentials,
            wallet_id=config.wallet_id,
            signature_type=config.signature_type,
        )
        wallet = Wallet(config, client, transport)
        self._wallets[config.wallet_id] = wallet
        return wallet

    async def remove(self, wallet_id: str) -> None:
        """Unregister a wallet and close its transport."""
        wallet = self._wallets.pop(wallet_id, None)
        if wallet is None:
            raise InvalidValueError("no wallet with this id", wallet_id=wallet_id)
        await wallet.transport.aclose()

    def __getitem__(self, wallet_id: str) -> Wallet:
        wallet = self._wallets.get(wallet_id)
        if wallet is None:
            raise InvalidValueError("no wallet with this id", wallet_id=wallet_id)
        return wallet

    def __iter__(self) -> Iterator[Wallet]:
        return iter(list(self._wallets.values()))

    def __len__(self) -> int:
        return len(self._wallets)

    async def connect(self, *, timeout_s: float = 30.0) -> dict[str, ApiCredentials | PolyinfraError]:
        """Create or derive the API key of every wallet that has none, concurrently.

        A wallet whose key cannot be had (refused, timed out) gets its error in the result and
        keeps no credentials; the others are connected all the same.
        """

        async def ensure(wallet: Wallet) -> ApiCredentials:
            if wallet.client.credentials is not None:
                return wallet.client.credentials
            return await wallet.client.create_or_derive_api_key(wallet.config.api_key_nonce)

        return await self.each(ensure, timeout_s=timeout_s)

    async def each(
        self, operation: Callable[[Wallet], Awaitable[_T]], *, timeout_s: float
    ) -> dict[str, _T | PolyinfraError]:
        """Run ``operation`` for every wallet at once; each wallet's result or typed error, by id.

        Each wallet gets its own ``timeout_s``: a wallet that hangs is reported as a
        :class:`~polyinfra.errors.RequestTimeoutError` when its time is up, while the others' results
        are kept. Errors other than :class:`~polyinfra.errors.PolyinfraError` are bugs and propagate.
        """
        if not timeout_s > 0:
            raise InvalidValueError("timeout_s must be positive", timeout_s=timeout_s)
        wallets = list(self._wallets.values())

        async def guarded(wallet: Wallet) -> _T | PolyinfraError:
            try:
                async with asyncio.timeout(timeout_s):
                    return await operation(wallet)
            except PolyinfraError as error:
                return error
            except TimeoutError:
                return RequestTimeoutError(
                    "the wallet's operation did not finish in time", wallet_id=wallet.wallet_id, timeout_s=timeout_s
                )

        results = await asyncio.gather(*(guarded(wallet) for wallet in wallets))
        return {wallet.wallet_id: result for wallet, result in zip(wallets, results, strict=True)}

    async def aclose(self) -> None:
        """Close every wallet's transport."""
        wallets, self._wallets = list(self._wallets.values()), {}
        for wallet in wallets:
            await wallet.transport.aclose()
