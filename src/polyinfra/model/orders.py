"""Orders as the venue signs them (CLOB V2, venue notes: Orders, Order signing): the contract between order
building (exact amounts) and signing (EIP-712).

Amounts are ints of 10**-6 units (collateral and outcome tokens both have 6 decimals): for a BUY
``maker_amount`` is the collateral offered and ``taker_amount`` the shares wanted; for a SELL the
other way round. ``token_id`` is always the outcome token bought or sold.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Final

from polyinfra.model.numbers import Side

__all__ = ["BYTES32_ZERO", "SignatureType", "TimeInForce", "UnsignedOrder"]

BYTES32_ZERO: Final = "0x" + "00" * 32


class SignatureType(IntEnum):
    """Who signs for whom (venue notes: Wallets). The wrong one is the usual cause of "invalid signature"."""

    EOA = 0
    """The key's own address trades: maker = signer = the EOA."""
    POLY_PROXY = 1
    """A Polymarket proxy wallet (Magic / email accounts): maker = proxy (the funder), signer = EOA."""
    POLY_GNOSIS_SAFE = 2
    """A Gnosis Safe owned by the EOA (browser wallets): maker = safe (the funder), signer = EOA."""
    POLY_1271 = 3
    """An EIP-1271 contract ("deposit") wallet, V2 only: maker = signer = the contract wallet; the
    EOA signs the ERC-7739 nested typed data."""


class TimeInForce(StrEnum):
    """The venue's order types (venue notes: Orders), spelled as its ``orderType`` field."""

    GTC = "GTC"
    """Good till cancelled: the remainder rests."""
    GTD = "GTD"
    """Good till date: rests until ``expiration_s``."""
    FOK = "FOK"
    """Fill or kill: fills entirely at once, or nothing happens."""
    FAK = "FAK"
    """Fill and kill: fills what it can at once; the remainder is cancelled."""

    @property
    def rests(self) -> bool:
        """True for the types whose unfilled remainder rests on the book."""
        return self is TimeInForce.GTC or self is TimeInForce.GTD


@dataclass(frozen=True, slots=True)
class UnsignedOrder:
    """The 11 signed fields of a V2 order, plus where it is sent.

    ``timestamp_ms`` (creation time, ms) replaced V1's nonce for per-address uniqueness;
    ``metadata`` and ``builder`` are bytes32 hex strings (zero unless used). ``expiration_s`` is
    sent on the wire for GTD orders but is NOT signed in V2. ``neg_risk`` selects the exchange
    contract that is the EIP-712 verifying contract.
    """

    salt: int
    maker: str
    signer: str
    token_id: int
    maker_amount: int
    taker_amount: int
    side: Side
    signature_type: SignatureType
    timestamp_ms: int
    metadata: str = BYTES32_ZERO
    builder: str = BYTES32_ZERO
    expiration_s: int = 0
    neg_risk: bool = False
