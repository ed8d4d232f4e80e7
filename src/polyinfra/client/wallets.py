"""The client's named wallets over :class:`~polyinfra.wallets.registry.WalletRegistry`.

:class:`ClientWallets` keeps each wallet's :class:`~polyinfra.wallets.registry.WalletConfig` from
the moment it is added (no I/O: adding works before the client has connected anywhere), and
registers it with the registry, whose transports and trading sessions it then owns, on first use.
API credentials are created or derived then too, once per wallet even when many calls need them
at once, unless the wallet came with them.

The first wallet added is the default; ``default=True`` makes a later one the default instead.
An unknown name is an :class:`~polyinfra.errors.UnknownWalletError` that lists the known ones.
"""

from __future__ import annotations

import asyncio

from polyinfra.clob.trading import TradingClient
from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.wallet_addresses import derived_maker
from polyinfra.errors import InvalidValueError, UnknownWalletError
from polyinfra.model.orders import SignatureType
from polyinfra.obs.redaction import Secret
from polyinfra.wallets.registry import Wallet, WalletConfig, WalletRegistry

__all__ = ["ClientWallets", "order_signer", "wallet_config"]


def wallet_config(
    name: str,
    key: Secret | SigningKey,
    *,
    signature_type: SignatureType,
    funder: str | None,
    chain_id: int,
    credentials: ApiCredentials | None = None,
) -> WalletConfig:
    """A wallet's setup; a proxy or Safe funder left out is the one derived from the key, the
    only one the venue accepts for it (a deposit wallet, POLY_1271, must be named)."""
    if not isinstance(name, str) or not name:
        raise InvalidValueError("a wallet's name is a non-empty str", wallet=name)
    signing_key = key if isinstance(key, SigningKey) else SigningKey(key)
    if funder is None and signature_type in (SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE):
        funder = derived_maker(signature_type, signing_key.address, chain_id=chain_id)
    return WalletConfig(name, signing_key, signature_type=signature_type, funder=funder, credentials=credentials)


def order_signer(config: WalletConfig) -> str | None:
    """The ``signer`` :func:`~polyinfra.core.order_builder.build_order` needs: the EOA for a proxy
    or Safe, which it signs for; none for EOA and POLY_1271, whose maker is the signer."""
    if config.signature_type in (SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE):
        return config.key.address
    return None


class ClientWallets:
    """Named wallets: configured at once, registered and given API credentials on first use."""

    def __init__(self, chain_id: int) -> None:
        self._chain_id = chain_id
        self._configs: dict[str, WalletConfig] = {}
        self._default: str | None = None
        self._registry: WalletRegistry | None = None
        self._credential_locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"ClientWallets(names={list(self._configs)!r}, default={self._default!r})"

    @property
    def names(self) -> list[str]:
        return list(self._configs)

    @property
    def default(self) -> str | None:
        return self._default

    def add(self, config: WalletConfig, *, default: bool = False) -> None:
        if config.wallet_id in self._configs:
            raise InvalidValueError("a wallet with this name is already added", wallet=config.wallet_id)
        self._configs[config.wallet_id] = config
        if default or self._default is None:
            self._default = config.wallet_id

    def config(self, name: str | None) -> WalletConfig:
        """The setup of wallet ``name`` (None: the default)."""
        chosen = name if name is not None else self._default
        if chosen is None:
            raise UnknownWalletError(
                "no wallet: set POLYINFRA_PRIVATE_KEY (or pass private_key_file=...), "
                "or call add_wallet(name, private_key=...)"
            )
        config = self._configs.get(chosen)
        if config is None:
            known = ", ".join(self._configs) or "none"
            raise UnknownWalletError(f"no wallet named {chosen!r}; known wallets: {known}", wallet=chosen)
        return config

    def attach(self, registry: WalletRegistry) -> None:
        """Register wallets with ``registry`` from now on (the client has connected)."""
        self._registry = registry

    async def session(self, name: str | None) -> TradingClient:
        """Wallet ``name``'s trading session, registered and with API credentials."""
        config = self.config(name)
        wallet = self._registered(config)
        client = wallet.client
        if client.credentials is None:
            lock = self._credential_locks.setdefault(config.wallet_id, asyncio.Lock())
            async with lock:
                if client.credentials is None:
                    await client.create_or_derive_api_key(config.api_key_nonce)
        return client

    def _registered(self, config: WalletConfig) -> Wallet:
        registry = self._registry
        if registry is None:
            raise InvalidValueError("the client has not connected yet")
        try:
            return registry[config.wallet_id]
        except InvalidValueError:
            wallet = registry.add(config)
            # The registry's sessions sign L1 headers for Polygon; a client set to another chain says so.
            wallet.client.chain_id = self._chain_id
            return wallet
