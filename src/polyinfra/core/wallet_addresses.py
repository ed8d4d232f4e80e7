"""The proxy and Safe wallet addresses a signer owns, derived as the venue derives them. Pure.

An order of signature type POLY_PROXY (Magic / e-mail accounts) or POLY_GNOSIS_SAFE (browser
wallets) is signed by an EOA and spends the funds of a contract wallet, its ``maker``. The venue
accepts it only when that maker is *the* wallet of the signer: the address Polymarket's wallet
factory deploys for that EOA with CREATE2, which is computable without the chain::

    address = keccak256(0xff ++ factory ++ salt ++ keccak256(init_code))[12:]

    proxy:  salt = keccak256(signer's 20 bytes)             (Solidity abi.encodePacked)
    Safe:   salt = keccak256(signer left-padded to 32 bytes) (Solidity abi.encode)

Each wallet kind has its own factory and init-code hash (the table below, per chain). Any other
maker is answered "invalid signature", which is how one wallet is kept from trading another's
funds. A Safe deployed through another factory holds funds at an address that does not derive this
way; the venue does not accept it as the maker of a POLY_GNOSIS_SAFE order.

Both derivations are cached: the client checks every order it sends, and the emulator every order
it takes, against a handful of signers.

POLY_1271 deposit wallets are not derived here: whether a contract wallet belongs to a key is the
wallet's own answer (ERC-1271), which only the chain (or the emulator's model of it) can give.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from polyinfra.core.eip712 import address_word, keccak256, to_checksum_address
from polyinfra.core.order_signing import AMOY_CHAIN_ID, POLYGON_CHAIN_ID
from polyinfra.errors import InvalidSignatureError, InvalidValueError
from polyinfra.model.orders import SignatureType

__all__ = [
    "WALLET_FACTORIES",
    "WalletFactories",
    "WalletFactory",
    "check_maker",
    "derived_maker",
    "proxy_wallet",
    "safe_wallet",
]

_CREATE2_PREFIX: Final = b"\xff"


@dataclass(frozen=True, slots=True)
class WalletFactory:
    """A factory deploying one kind of wallet by CREATE2, and the hash of that wallet's init code."""

    address: str
    init_code_hash: bytes


@dataclass(frozen=True, slots=True)
class WalletFactories:
    """The wallet factories of one chain; ``proxy`` is None where none is deployed."""

    proxy: WalletFactory | None
    safe: WalletFactory


_PROXY_FACTORY: Final = WalletFactory(
    "0xaB45c5A4B0c941a2F231C04C3f49182e1A254052",
    bytes.fromhex("d21df8dc65880a8606f09fe0ce3df9b8869287ab0b058be05aa9e8af6330a00b"),
)
_SAFE_FACTORY: Final = WalletFactory(
    "0xaacFeEa03eb1561C4e67d661e40682Bd20E3541b",
    bytes.fromhex("2bce2127ff07fb632d16c8347c4ebf501f4841168bed00d9e6ef715ddb6fcecf"),
)

WALLET_FACTORIES: Final[Mapping[int, WalletFactories]] = MappingProxyType(
    {
        POLYGON_CHAIN_ID: WalletFactories(proxy=_PROXY_FACTORY, safe=_SAFE_FACTORY),
        # The test network has the same Safe factory and no proxy wallets at all.
        AMOY_CHAIN_ID: WalletFactories(proxy=None, safe=_SAFE_FACTORY),
    }
)


def _factories(chain_id: int) -> WalletFactories:
    factories = WALLET_FACTORIES.get(chain_id)
    if factories is None:
        raise InvalidValueError(
            "no Polymarket wallet factory is known on this chain",
            chain_id=chain_id,
            known_chains=sorted(WALLET_FACTORIES),
        )
    return factories


def _create2(factory: WalletFactory, salt: bytes) -> str:
    digest = keccak256(_CREATE2_PREFIX + address_word(factory.address)[12:] + salt + factory.init_code_hash)
    return to_checksum_address("0x" + digest[12:].hex())


@lru_cache(maxsize=1024)
def proxy_wallet(signer: str, *, chain_id: int = POLYGON_CHAIN_ID) -> str:
    """The POLY_PROXY wallet of ``signer`` (checksummed); :class:`InvalidValueError` on a chain
    without proxy wallets or for a ``signer`` that is not an address."""
    factory = _factories(chain_id).proxy
    if factory is None:
        raise InvalidValueError(
            "there are no proxy wallets on this chain: use a Safe or a deposit wallet", chain_id=chain_id
        )
    return _create2(factory, keccak256(address_word(signer)[12:]))


@lru_cache(maxsize=1024)
def safe_wallet(signer: str, *, chain_id: int = POLYGON_CHAIN_ID) -> str:
    """The POLY_GNOSIS_SAFE wallet of ``signer`` (checksummed); :class:`InvalidValueError` on an
    unknown chain or for a ``signer`` that is not an address."""
    return _create2(_factories(chain_id).safe, keccak256(address_word(signer)))


def derived_maker(signature_type: SignatureType, signer: str, *, chain_id: int = POLYGON_CHAIN_ID) -> str | None:
    """The only maker the venue accepts from ``signer`` under ``signature_type``: the signer itself
    for EOA, its proxy or Safe; None for POLY_1271, whose wallet is not derived here (module notes)."""
    if signature_type is SignatureType.EOA:
        return to_checksum_address(signer)
    if signature_type is SignatureType.POLY_PROXY:
        return proxy_wallet(signer, chain_id=chain_id)
    if signature_type is SignatureType.POLY_GNOSIS_SAFE:
        return safe_wallet(signer, chain_id=chain_id)
    return None


def check_maker(signature_type: SignatureType, signer: str, maker: str, *, chain_id: int = POLYGON_CHAIN_ID) -> None:
    """Raise :class:`InvalidSignatureError`, naming the right funder, when the venue would refuse
    ``maker`` for an order ``signer`` signs under ``signature_type`` (POLY_1271 is not checked)."""
    try:
        expected = derived_maker(signature_type, signer, chain_id=chain_id)
    except InvalidValueError as error:
        raise InvalidSignatureError(
            f"{signature_type.name} orders cannot be placed on chain {chain_id}: {error.message}",
            signature_type=signature_type.name,
            chain_id=chain_id,
        ) from None
    if expected is None or address_word(maker) == address_word(expected):
        return
    raise InvalidSignatureError(
        f'the venue refuses maker {maker} for a {signature_type.name} order signed by {signer} ("invalid '
        f'signature"): {_FIXES[signature_type].format(expected=expected)}',
        signature_type=signature_type.name,
        maker=maker,
        signer=signer,
        expected_maker=expected,
    )


_FIXES: Final = {
    SignatureType.EOA: "an EOA order spends the signer's own funds, so its maker is {expected}; for funds in a "
    "proxy or Safe use signature type 1 or 2",
    SignatureType.POLY_PROXY: "the signer's proxy wallet is {expected}: use it as the funder (maker)",
    SignatureType.POLY_GNOSIS_SAFE: "the signer's Safe is {expected}: use it as the funder (maker)",
}
