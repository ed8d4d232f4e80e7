"""Many trading wallets at once: :class:`~polyinfra.wallets.registry.WalletRegistry`."""

from polyinfra.wallets.registry import Wallet, WalletConfig, WalletRegistry

__all__ = ["Wallet", "WalletConfig", "WalletRegistry"]
