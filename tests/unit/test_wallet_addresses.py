"""The proxy and Safe addresses of a signer (CREATE2), against the published vectors, and the
maker check built on them."""

from __future__ import annotations

import pytest

from polyinfra.core.eip712 import to_checksum_address
from polyinfra.core.order_signing import AMOY_CHAIN_ID, POLYGON_CHAIN_ID
from polyinfra.core.wallet_addresses import check_maker, derived_maker, proxy_wallet, safe_wallet
from polyinfra.errors import InvalidSignatureError, InvalidValueError
from polyinfra.model.orders import SignatureType

# (signer, wallet) as published (the official Rust and Python clients' tests); the published
# spelling is not always EIP-55, so the expected value is checksummed here.
SAFE_VECTORS = [
    ("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0xd93b25Cb943D14d0d34FBAf01fc93a0F8b5f6e47"),
    ("0xBBc264c10F54A61607A31B53358a5A87d4B045be", "0xEFae63145ffb73Ab047e578324bcA9BaABE5E1Ad"),
    ("0x6e0c80c90ea6c15917308F820Eac91Ce2724B5b5", "0x6d8c4e9aDF5748Af82Dabe2C6225207770d6B4fa"),
]
PROXY_VECTORS = [
    ("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0x365f0cA36ae1F641E02Fe3b7743673DA42A13a70"),
]
SIGNER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.parametrize(("signer", "safe"), SAFE_VECTORS)
def test_safe_vectors(signer: str, safe: str) -> None:
    expected = to_checksum_address(safe.lower())
    assert safe_wallet(signer) == expected
    # The Safe factory is the same on the test network; any spelling of the signer derives the same.
    assert safe_wallet(signer.lower(), chain_id=AMOY_CHAIN_ID) == expected


@pytest.mark.parametrize(("signer", "proxy"), PROXY_VECTORS)
def test_proxy_vectors(signer: str, proxy: str) -> None:
    assert proxy_wallet(signer) == to_checksum_address(proxy.lower())
    assert proxy_wallet(signer.upper().replace("0X", "0x")) == to_checksum_address(proxy.lower())


def test_no_proxy_wallets_on_amoy_and_no_factories_elsewhere() -> None:
    with pytest.raises(InvalidValueError, match="no proxy wallets on this chain"):
        proxy_wallet(SIGNER, chain_id=AMOY_CHAIN_ID)
    with pytest.raises(InvalidValueError, match="no Polymarket wallet factory"):
        safe_wallet(SIGNER, chain_id=1)
    with pytest.raises(InvalidValueError, match="not an address"):
        safe_wallet("0x1234")


def test_derived_maker_per_signature_type() -> None:
    assert derived_maker(SignatureType.EOA, SIGNER.lower()) == SIGNER
    assert derived_maker(SignatureType.POLY_PROXY, SIGNER) == proxy_wallet(SIGNER)
    assert derived_maker(SignatureType.POLY_GNOSIS_SAFE, SIGNER) == safe_wallet(SIGNER)
    assert derived_maker(SignatureType.POLY_1271, SIGNER) is None


def test_check_maker_names_the_right_funder() -> None:
    safe = safe_wallet(SIGNER)
    check_maker(SignatureType.POLY_GNOSIS_SAFE, SIGNER, safe.lower())
    check_maker(SignatureType.POLY_1271, SIGNER, "0x" + "11" * 20)  # not derivable: the venue asks the wallet

    with pytest.raises(InvalidSignatureError, match=f"the signer's Safe is {safe}") as raised:
        check_maker(SignatureType.POLY_GNOSIS_SAFE, SIGNER, proxy_wallet(SIGNER))
    assert raised.value.context["expected_maker"] == safe
    with pytest.raises(InvalidSignatureError, match=f"proxy wallet is {proxy_wallet(SIGNER)}"):
        check_maker(SignatureType.POLY_PROXY, SIGNER, SIGNER)
    with pytest.raises(InvalidSignatureError, match="EOA order spends the signer's own funds"):
        check_maker(SignatureType.EOA, SIGNER, safe)
    with pytest.raises(InvalidSignatureError, match="cannot be placed on chain 80002"):
        check_maker(SignatureType.POLY_PROXY, SIGNER, proxy_wallet(SIGNER), chain_id=AMOY_CHAIN_ID)


def test_checksums_and_chain_default() -> None:
    assert proxy_wallet(SIGNER) == proxy_wallet(SIGNER, chain_id=POLYGON_CHAIN_ID)
    assert proxy_wallet(SIGNER) != safe_wallet(SIGNER)
